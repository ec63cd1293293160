//! Mosh's datagram cryptography: the printable session key, AES-128-OCB3 sealing and opening,
//! and the nonce built from a direction bit and a 63-bit sequence number (reference §3).
//!
//! The AEAD is RustCrypto's [`ocb3`] over [`aes::Aes128`] with a 12-byte nonce and a 16-byte tag,
//! no associated data. On the wire a datagram is the last 8 bytes of the nonce, then the
//! ciphertext, then the tag.

use std::fmt;
use std::str::FromStr;

use aes::Aes128;
use base64::Engine as _;
use ocb3::aead::array::Array;
use ocb3::{AeadInOut, KeyInit, Ocb3};

/// Length of a session key in bytes (AES-128).
pub const KEY_LEN: usize = 16;
/// Length of the printable key: base64 of 16 bytes without the two `=` (§3.1).
pub const PRINTABLE_KEY_LEN: usize = 22;
/// Length of the OCB nonce (§3.2).
pub const NONCE_LEN: usize = 12;
/// Bytes of the nonce carried on the wire: the big-endian direction+sequence word (§3.4).
pub const WIRE_NONCE_LEN: usize = 8;
/// Length of the OCB authentication tag (§3.2).
pub const TAG_LEN: usize = 16;
/// Smallest possible datagram: transmitted nonce + tag (§3.4).
pub const MIN_DATAGRAM_LEN: usize = WIRE_NONCE_LEN + TAG_LEN;
/// Receive buffer size upstream uses; longer datagrams are rejected (`RECEIVE_MTU`, §3.4).
pub const RECEIVE_MTU: usize = 2048;
/// The 16-byte plaintext blocks one side may encrypt under one key before the session must end
/// (§3.5: 2^47 per side, 2^48 for both directions sharing the key).
pub const MAX_BLOCKS_PER_DIRECTION: u64 = 1 << 47;

const SEQ_MASK: u64 = (1 << 63) - 1;
const DIRECTION_BIT: u64 = 1 << 63;

/// AES-128-OCB3 with mosh's parameters: 96-bit nonce, 128-bit tag.
type Aead = Ocb3<Aes128, ocb3::consts::U12, ocb3::consts::U16>;

/// Why a printable key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key contains `=`: mosh prints keys without base64 padding.
    #[error("session key must not contain base64 padding ('=')")]
    Padding,
    /// The key is not 22 characters long.
    #[error("session key must be {PRINTABLE_KEY_LEN} characters, got {0}")]
    Length(usize),
    /// A character outside the standard base64 alphabet.
    #[error("session key has a character outside the base64 alphabet at position {position}")]
    Alphabet {
        /// Zero-based character position of the first offending character.
        position: usize,
    },
    /// The last character carries non-zero bits beyond the 128 key bits.
    #[error("session key is not an encoded 128-bit key (non-zero trailing bits)")]
    TrailingBits,
}

/// Errors from sealing or opening a datagram. None of them is fatal to a session except
/// [`CryptoError::SequenceExhausted`] and [`CryptoError::VolumeExhausted`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Shorter than nonce + tag.
    #[error("datagram of {0} bytes is shorter than the minimum of {MIN_DATAGRAM_LEN}")]
    TooShort(usize),
    /// Longer than upstream's receive buffer.
    #[error("datagram of {0} bytes exceeds the receive limit of {RECEIVE_MTU}")]
    TooLong(usize),
    /// The tag did not verify: forged, corrupted, or sealed with another key.
    #[error("packet failed integrity check")]
    Authentication,
    /// The nonce counter would repeat.
    #[error("nonce sequence space exhausted")]
    SequenceExhausted,
    /// The OCB security bound for one key has been reached.
    #[error("encryption volume limit for this key reached")]
    VolumeExhausted,
}

/// Which way a datagram travels. The direction is bit 63 of the nonce so the two sides, which
/// share one key, never use the same nonce (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server (`TO_SERVER = 0`).
    ToServer,
    /// Server to client (`TO_CLIENT = 1`).
    ToClient,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// A datagram nonce: direction and 63-bit sequence number (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce {
    /// Which way the datagram travels.
    pub direction: Direction,
    /// Per-sender sequence number; only the low 63 bits are transmitted.
    pub seq: u64,
}

impl Nonce {
    /// The 64-bit word carried on the wire: `(direction << 63) | (seq & (2^63 - 1))`.
    pub fn to_word(self) -> u64 {
        let dir = match self.direction {
            Direction::ToServer => 0,
            Direction::ToClient => DIRECTION_BIT,
        };
        dir | (self.seq & SEQ_MASK)
    }

    /// Parse the word carried on the wire.
    pub fn from_word(word: u64) -> Self {
        let direction = if word & DIRECTION_BIT == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        Nonce {
            direction,
            seq: word & SEQ_MASK,
        }
    }

    /// The full 12-byte OCB nonce: four zero bytes and the big-endian word.
    pub fn to_bytes(self) -> [u8; NONCE_LEN] {
        let mut out = [0u8; NONCE_LEN];
        out[NONCE_LEN - WIRE_NONCE_LEN..].copy_from_slice(&self.to_word().to_be_bytes());
        out
    }
}

/// A 128-bit session key. `Debug` does not reveal it; [`fmt::Display`] prints mosh's 22-character
/// form, as in `MOSH CONNECT <port> <key>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// A key from raw bytes (e.g. 16 bytes from the OS random source).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Key(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Parse mosh's printable form: exactly 22 characters of standard base64 without padding
    /// whose trailing bits are zero (§3.1).
    pub fn parse(printable: &str) -> Result<Self, KeyError> {
        if printable.contains('=') {
            return Err(KeyError::Padding);
        }
        let len = printable.chars().count();
        if len != PRINTABLE_KEY_LEN {
            return Err(KeyError::Length(len));
        }
        if let Some(position) = printable
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/'))
        {
            return Err(KeyError::Alphabet { position });
        }
        let mut bytes = [0u8; KEY_LEN];
        match base64::engine::general_purpose::STANDARD_NO_PAD.decode_slice(printable, &mut bytes) {
            Ok(KEY_LEN) => Ok(Key(bytes)),
            Ok(n) => Err(KeyError::Length(n)),
            Err(base64::DecodeSliceError::DecodeError(base64::DecodeError::InvalidLastSymbol(
                ..,
            ))) => Err(KeyError::TrailingBits),
            Err(_) => Err(KeyError::Alphabet { position: 0 }),
        }
    }
}

impl FromStr for Key {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Key::parse(s)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Seals and opens datagrams under one key, and counts the volume encrypted so the OCB bound is
/// never exceeded.
pub struct Session {
    aead: Aead,
    blocks_sealed: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("blocks_sealed", &self.blocks_sealed)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for `key`.
    pub fn new(key: &Key) -> Self {
        Session {
            aead: Aead::new(&Array::from(key.0)),
            blocks_sealed: 0,
        }
    }

    /// Encrypt `plaintext` under `nonce` and return the datagram: the 8 transmitted nonce bytes,
    /// the ciphertext and the tag.
    pub fn seal(&mut self, nonce: Nonce, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let blocks = plaintext.len().div_ceil(16) as u64;
        let total = self.blocks_sealed.saturating_add(blocks);
        if total >= MAX_BLOCKS_PER_DIRECTION {
            return Err(CryptoError::VolumeExhausted);
        }
        self.blocks_sealed = total;
        let mut out = Vec::with_capacity(WIRE_NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce.to_word().to_be_bytes());
        out.extend_from_slice(plaintext);
        let tag = self
            .aead
            .encrypt_inout_detached(
                &Array::from(nonce.to_bytes()),
                &[],
                (&mut out[WIRE_NONCE_LEN..]).into(),
            )
            // OCB only refuses messages far larger than any datagram.
            .map_err(|_| CryptoError::VolumeExhausted)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Authenticate and decrypt a datagram, returning its nonce and plaintext.
    pub fn open(&self, datagram: &[u8]) -> Result<(Nonce, Vec<u8>), CryptoError> {
        if datagram.len() < MIN_DATAGRAM_LEN {
            return Err(CryptoError::TooShort(datagram.len()));
        }
        if datagram.len() > RECEIVE_MTU {
            return Err(CryptoError::TooLong(datagram.len()));
        }
        let (word, rest) = datagram.split_at(WIRE_NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut word_bytes = [0u8; WIRE_NONCE_LEN];
        word_bytes.copy_from_slice(word);
        let nonce = Nonce::from_word(u64::from_be_bytes(word_bytes));
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        let mut plaintext = ciphertext.to_vec();
        self.aead
            .decrypt_inout_detached(
                &Array::from(nonce.to_bytes()),
                &[],
                plaintext.as_mut_slice().into(),
                &Array::from(tag_bytes),
            )
            .map_err(|_| CryptoError::Authentication)?;
        Ok((nonce, plaintext))
    }
}

/// Raw AES-128-OCB3 with mosh's parameters and associated data, for known-answer tests.
#[cfg(test)]
pub(crate) fn ocb_encrypt(key: &[u8; 16], nonce: &[u8; 12], ad: &[u8], pt: &[u8]) -> Vec<u8> {
    let aead = Aead::new(&Array::from(*key));
    let mut out = pt.to_vec();
    let tag = aead
        .encrypt_inout_detached(&Array::from(*nonce), ad, out.as_mut_slice().into())
        .expect("small message");
    out.extend_from_slice(&tag);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    const K: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    #[test]
    fn key_printable_round_trip() {
        let key = Key::from_bytes(K);
        assert_eq!(key.to_string(), "AAECAwQFBgcICQoLDA0ODw");
        assert_eq!(Key::parse("AAECAwQFBgcICQoLDA0ODw").unwrap(), key);
        assert_eq!(format!("{key:?}"), "Key(<redacted>)");
    }

    #[test]
    fn key_errors_are_typed() {
        assert_eq!(
            Key::parse("AAECAwQFBgcICQoLDA0ODw=="),
            Err(KeyError::Padding)
        );
        assert_eq!(
            Key::parse("AAECAwQFBgcICQoLDA0OD"),
            Err(KeyError::Length(21))
        );
        assert_eq!(Key::parse(""), Err(KeyError::Length(0)));
        assert_eq!(
            Key::parse("AAECAwQFBgcICQoLDA0ODwA"),
            Err(KeyError::Length(23))
        );
        assert_eq!(
            Key::parse("AAECAwQFBgcICQoLDA0OD-"),
            Err(KeyError::Alphabet { position: 21 })
        );
        assert_eq!(
            Key::parse("AAEC wQFBgcICQoLDA0ODw"),
            Err(KeyError::Alphabet { position: 4 })
        );
        // Multi-byte characters count as characters, not bytes.
        assert_eq!(
            Key::parse("AAECAwQFBgcICQoLDA0ODé"),
            Err(KeyError::Alphabet { position: 21 })
        );
        // 'x' = 0b110001: non-zero bits past the 128th.
        assert_eq!(
            Key::parse("AAECAwQFBgcICQoLDA0ODx"),
            Err(KeyError::TrailingBits)
        );
        for last in ['A', 'Q', 'g', 'w'] {
            let s = format!("AAECAwQFBgcICQoLDA0OD{last}");
            assert!(Key::parse(&s).is_ok(), "{s}");
        }
    }

    #[test]
    fn nonce_layout() {
        let n = Nonce {
            direction: Direction::ToClient,
            seq: 5,
        };
        assert_eq!(hex::encode(n.to_bytes()), "000000008000000000000005");
        let n = Nonce {
            direction: Direction::ToServer,
            seq: u64::MAX,
        };
        // Only 63 bits of the sequence are carried; the top bit is the direction.
        assert_eq!(n.to_word(), 0x7fff_ffff_ffff_ffff);
        assert_eq!(Nonce::from_word(0x8000_0000_0000_0007).seq, 7);
        assert_eq!(
            Nonce::from_word(0x8000_0000_0000_0007).direction,
            Direction::ToClient
        );
    }

    /// RFC 7253 appendix A vectors (key 000102..0f, nonce BBAA99887766554433221100 ..).
    #[test]
    fn rfc7253_vectors() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "BBAA99887766554433221100",
                "",
                "",
                "785407BFFFC8AD9EDCC5520AC9111EE6",
            ),
            (
                "BBAA99887766554433221101",
                "0001020304050607",
                "0001020304050607",
                "6820B3657B6F615A5725BDA0D3B4EB3A257C9AF1F8F03009",
            ),
            (
                "BBAA99887766554433221102",
                "0001020304050607",
                "",
                "81017F8203F081277152FADE694A0A00",
            ),
            (
                "BBAA99887766554433221103",
                "",
                "0001020304050607",
                "45DD69F8F5AAE72414054CD1F35D82760B2CD00D2F99BFA9",
            ),
        ];
        for (i, (nonce, ad, pt, ct)) in cases.iter().enumerate() {
            let nonce: [u8; 12] = h(nonce).try_into().unwrap();
            let got = ocb_encrypt(&K, &nonce, &h(ad), &h(pt));
            assert_eq!(hex::encode_upper(got), *ct, "vector {i}");
        }
    }

    /// The two known answers upstream's ocb-aes test uses with a 12-byte nonce 000102..0b (§3.2).
    #[test]
    fn upstream_known_answers() {
        let nonce: [u8; 12] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            hex::encode(ocb_encrypt(&K, &nonce, &[], &[])),
            "197b9c3c441d3c83eafb2bef633b9182"
        );
        let eight = h("0001020304050607");
        assert_eq!(
            hex::encode(ocb_encrypt(&K, &nonce, &eight, &eight)),
            "92b657130a74b85a16dc76a46d47e1ead537209e8a96d14e"
        );
    }

    /// RFC 7253's iterative test for TAGLEN = 128.
    #[test]
    fn rfc7253_iterative_tag() {
        // K = zeros(120) || num2str(TAGLEN, 8).
        let mut key = [0u8; 16];
        key[15] = 128;
        let nonce_n = |n: u32| {
            let mut nonce = [0u8; 12];
            nonce[8..].copy_from_slice(&n.to_be_bytes());
            nonce
        };
        let mut acc = Vec::new();
        for i in 0..128u32 {
            let s = vec![0u8; i as usize];
            acc.extend(ocb_encrypt(&key, &nonce_n(3 * i + 1), &s, &s));
            acc.extend(ocb_encrypt(&key, &nonce_n(3 * i + 2), &[], &s));
            acc.extend(ocb_encrypt(&key, &nonce_n(3 * i + 3), &s, &[]));
        }
        assert_eq!(
            hex::encode_upper(ocb_encrypt(&key, &nonce_n(385), &acc, &[])),
            "67E944D23256C5E0B6C61FA22FDF1EA2"
        );
    }

    /// Upstream's variant of the iterative test (§14.1): nonce = 11 zero bytes then `i`.
    #[test]
    fn upstream_iterative_tag() {
        let key = [0u8; 16];
        let mut acc = Vec::new();
        for i in 0..128u8 {
            let s = vec![0u8; usize::from(i)];
            let mut nonce = [0u8; 12];
            nonce[11] = i;
            acc.extend(ocb_encrypt(&key, &nonce, &s, &s));
            acc.extend(ocb_encrypt(&key, &nonce, &[], &s));
            acc.extend(ocb_encrypt(&key, &nonce, &s, &[]));
        }
        assert_eq!(acc.len(), 22400);
        assert_eq!(
            hex::encode(ocb_encrypt(&key, &[0; 12], &acc, &[])),
            "b2b41cbf9b05037da7f16c24a35c1c94"
        );
    }

    /// The packet-level vector of reference §3.7.
    #[test]
    fn reference_packet_vector() {
        let key = Key::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let mut s = Session::new(&key);
        let pt = h("1234ffff68656c6c6f");
        let d0 = s
            .seal(
                Nonce {
                    direction: Direction::ToServer,
                    seq: 0,
                },
                &pt,
            )
            .unwrap();
        assert_eq!(
            hex::encode(&d0),
            "000000000000000069e6ffe30eaf0b31cf17687cb09701158120b0d03c5dd9412f"
        );
        let d5 = s
            .seal(
                Nonce {
                    direction: Direction::ToClient,
                    seq: 5,
                },
                &pt,
            )
            .unwrap();
        assert_eq!(
            hex::encode(&d5),
            "800000000000000516f847e5935cd22f0145f0a4099efe59ac0d5d0f6fef126066"
        );
        let (n, opened) = s.open(&d5).unwrap();
        assert_eq!(n.seq, 5);
        assert_eq!(n.direction, Direction::ToClient);
        assert_eq!(opened, pt);
    }

    #[test]
    fn every_tampered_byte_is_rejected() {
        let mut s = Session::new(&Key::from_bytes(K));
        let d = s
            .seal(
                Nonce {
                    direction: Direction::ToClient,
                    seq: 42,
                },
                b"some plaintext longer than one block",
            )
            .unwrap();
        for i in 0..d.len() {
            for bit in 0..8 {
                let mut t = d.clone();
                t[i] ^= 1 << bit;
                assert_eq!(
                    s.open(&t).unwrap_err(),
                    CryptoError::Authentication,
                    "byte {i} bit {bit}"
                );
            }
        }
        // Truncations never authenticate either.
        for len in 0..d.len() {
            assert!(s.open(&d[..len]).is_err());
        }
        assert_eq!(s.open(&d[..10]), Err(CryptoError::TooShort(10)));
        assert_eq!(
            s.open(&vec![0u8; RECEIVE_MTU + 1]),
            Err(CryptoError::TooLong(RECEIVE_MTU + 1))
        );
    }

    #[test]
    fn wrong_key_fails_authentication() {
        let mut a = Session::new(&Key::from_bytes(K));
        let b = Session::new(&Key::from_bytes([7; 16]));
        let d = a
            .seal(
                Nonce {
                    direction: Direction::ToServer,
                    seq: 1,
                },
                b"x",
            )
            .unwrap();
        assert_eq!(b.open(&d), Err(CryptoError::Authentication));
    }
}
