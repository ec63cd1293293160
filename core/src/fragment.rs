//! Compression and fragmentation of transport instructions (reference §5).
//!
//! An instruction is serialized, zlib-compressed and cut into fragments that each fit one
//! datagram. A fragment's header is the 64-bit instruction id and a 16-bit word holding the
//! final flag (bit 15) and the fragment number.
//!
//! Reassembly keeps at most [`MAX_ASSEMBLIES`] instructions in progress and at most
//! [`MAX_BUFFERED_BYTES`] of fragment data in all, so a flood of fragments (even authentic ones
//! with fresh ids) cannot grow memory without bound. Upstream keeps a single assembly; keeping a
//! few more lets two instructions interleaved by the network both complete.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use prost::Message as _;

use crate::crypto::TAG_LEN;
use crate::packet::PACKET_OVERHEAD;
use crate::wire::{TransportInstruction, WireError};

/// Size of the fragment header: id (8) + final flag and number (2) (§5.1).
pub const FRAGMENT_HEADER_LEN: usize = 10;
/// Highest fragment number: the number is 15 bits (§5.2).
pub const MAX_FRAGMENT_NUM: u16 = 0x7FFF;
/// Decompressed instructions larger than this are rejected (upstream's 2048 x 2048, §5.3).
pub const MAX_DECOMPRESSED_LEN: usize = 2048 * 2048;
/// Instructions assembled at once.
pub const MAX_ASSEMBLIES: usize = 4;
/// Fragment bytes buffered across all assemblies. A zlib stream of an instruction within
/// [`MAX_DECOMPRESSED_LEN`] is never much larger than it, so this bound loses nothing real.
pub const MAX_BUFFERED_BYTES: usize = MAX_DECOMPRESSED_LEN + 64 * 1024;
/// Fallback MTU used before the address family is known (`DEFAULT_SEND_MTU`, §4.4).
pub const DEFAULT_MTU: usize = 500;
/// MTU for IPv4 peers: 1280 − 20 (IP) − 8 (UDP) (§4.4).
pub const IPV4_MTU: usize = 1252;
/// MTU for IPv6 peers: 1280 − 40 (IP) − 16 (extension headers) − 8 (UDP) (§4.4).
pub const IPV6_MTU: usize = 1216;

const FINAL_BIT: u16 = 0x8000;

/// Why a fragment or a reassembled instruction was dropped. Never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// The payload cannot hold a fragment header.
    #[error("fragment of {0} bytes is shorter than its 10-byte header")]
    TooShort(usize),
    /// A fragment disagrees with one already held for the same instruction.
    #[error("fragment {num} of instruction {id} conflicts with an earlier copy")]
    Conflict {
        /// Instruction id.
        id: u64,
        /// Fragment number.
        num: u16,
    },
    /// The instruction's fragments exceed the buffering bound.
    #[error("instruction {0} exceeds the reassembly size limit")]
    TooLarge(u64),
    /// The reassembled bytes are not a zlib stream within the size limit.
    #[error("instruction does not decompress: {0}")]
    Decompress(String),
    /// The decompressed bytes are not a transport instruction.
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// One fragment of a compressed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Instruction id.
    pub id: u64,
    /// Position of this fragment in the instruction, from 0.
    pub num: u16,
    /// Whether this is the last fragment.
    pub is_final: bool,
    /// A slice of the compressed instruction.
    pub contents: Vec<u8>,
}

impl Fragment {
    /// Serialize as a packet payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FRAGMENT_HEADER_LEN + self.contents.len());
        out.extend_from_slice(&self.id.to_be_bytes());
        let word = (self.num & MAX_FRAGMENT_NUM) | if self.is_final { FINAL_BIT } else { 0 };
        out.extend_from_slice(&word.to_be_bytes());
        out.extend_from_slice(&self.contents);
        out
    }

    /// Parse a packet payload.
    pub fn decode(payload: &[u8]) -> Result<Fragment, FragmentError> {
        let (header, contents) = payload
            .split_first_chunk::<FRAGMENT_HEADER_LEN>()
            .ok_or(FragmentError::TooShort(payload.len()))?;
        let (id, word) = header.split_at(8);
        let mut id_bytes = [0u8; 8];
        id_bytes.copy_from_slice(id);
        let word = u16::from_be_bytes([word[0], word[1]]);
        Ok(Fragment {
            id: u64::from_be_bytes(id_bytes),
            num: word & MAX_FRAGMENT_NUM,
            is_final: word & FINAL_BIT != 0,
            contents: contents.to_vec(),
        })
    }
}

/// zlib-compress (RFC 1950 stream, level 6 as upstream's `compress()`).
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::with_capacity(data.len() / 2 + 16), Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// zlib-decompress with the [`MAX_DECOMPRESSED_LEN`] output limit.
pub fn decompress(data: &[u8]) -> Result<Vec<u8>, FragmentError> {
    let mut out = Vec::new();
    ZlibDecoder::new(data)
        .take(MAX_DECOMPRESSED_LEN as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| FragmentError::Decompress(e.to_string()))?;
    if out.len() > MAX_DECOMPRESSED_LEN {
        return Err(FragmentError::Decompress(format!(
            "more than {MAX_DECOMPRESSED_LEN} bytes"
        )));
    }
    Ok(out)
}

/// Fragment contents per datagram for an MTU (the largest UDP payload): `MTU − 12 − 16 − 10`
/// (§4.4), at least one byte.
pub fn fragment_capacity(mtu: usize) -> usize {
    mtu.saturating_sub(PACKET_OVERHEAD + TAG_LEN + FRAGMENT_HEADER_LEN)
        .max(1)
}

/// The fields that decide whether a new instruction id is due (§5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
struct IdKey {
    protocol_version: Option<u32>,
    old_num: Option<u64>,
    new_num: Option<u64>,
    ack_num: Option<u64>,
    throwaway_num: Option<u64>,
    chaff: Option<Vec<u8>>,
    mtu: usize,
}

/// Splits instructions into fragments, numbering instructions as upstream does.
#[derive(Debug, Default)]
pub struct Fragmenter {
    next_id: u64,
    last: Option<IdKey>,
}

impl Fragmenter {
    /// A fragmenter whose first instruction id will be 1, as upstream's.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compress `inst` and cut it into fragments that fit datagrams of `mtu` bytes.
    ///
    /// The id is incremented whenever any field but the diff differs from the previous
    /// instruction (or the MTU changed), so an identical retransmission keeps its id.
    pub fn make_fragments(&mut self, inst: &TransportInstruction, mtu: usize) -> Vec<Fragment> {
        let key = IdKey {
            protocol_version: inst.protocol_version,
            old_num: inst.old_num,
            new_num: inst.new_num,
            ack_num: inst.ack_num,
            throwaway_num: inst.throwaway_num,
            chaff: inst.chaff.clone(),
            mtu,
        };
        if self.last.as_ref() != Some(&key) {
            self.next_id = self.next_id.wrapping_add(1);
            self.last = Some(key);
        }
        let compressed = compress(&inst.encode_to_vec());
        let capacity = fragment_capacity(mtu);
        let count = compressed.len().div_ceil(capacity).max(1);
        compressed
            .chunks(capacity)
            .enumerate()
            .map(|(i, chunk)| Fragment {
                id: self.next_id,
                // At most 4 MiB / 1 byte chunks could exceed 15 bits only for absurd MTUs;
                // saturating keeps the header well-formed.
                num: u16::try_from(i)
                    .unwrap_or(MAX_FRAGMENT_NUM)
                    .min(MAX_FRAGMENT_NUM),
                is_final: i + 1 == count,
                contents: chunk.to_vec(),
            })
            .collect()
    }
}

#[derive(Debug)]
struct Partial {
    id: u64,
    parts: BTreeMap<u16, Vec<u8>>,
    total: Option<u16>,
    bytes: usize,
}

/// Reassembles fragments into instructions; bounded in memory (see the module docs).
#[derive(Debug, Default)]
pub struct FragmentAssembly {
    /// Oldest first.
    partials: Vec<Partial>,
}

impl FragmentAssembly {
    /// An empty assembly.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fragment bytes currently buffered.
    pub fn buffered_bytes(&self) -> usize {
        self.partials.iter().map(|p| p.bytes).sum()
    }

    /// Instructions currently in progress.
    pub fn in_progress(&self) -> usize {
        self.partials.len()
    }

    /// Add a fragment; returns the instruction it completes, if any.
    pub fn add(
        &mut self,
        fragment: Fragment,
    ) -> Result<Option<TransportInstruction>, FragmentError> {
        let Fragment {
            id,
            num,
            is_final,
            contents,
        } = fragment;
        let index = match self.partials.iter().position(|p| p.id == id) {
            Some(i) => i,
            None => {
                if self.partials.len() >= MAX_ASSEMBLIES {
                    self.partials.remove(0);
                }
                self.partials.push(Partial {
                    id,
                    parts: BTreeMap::new(),
                    total: None,
                    bytes: 0,
                });
                self.partials.len() - 1
            }
        };
        let partial = &mut self.partials[index];
        if let Some(existing) = partial.parts.get(&num) {
            return if *existing == contents {
                Ok(None)
            } else {
                Err(FragmentError::Conflict { id, num })
            };
        }
        let claimed_total = if is_final { Some(num + 1) } else { None };
        let consistent = match (partial.total, claimed_total) {
            (Some(t), Some(c)) => t == c,
            (Some(t), None) => num < t,
            (None, Some(c)) => partial.parts.keys().all(|&k| k < c),
            (None, None) => true,
        };
        if !consistent {
            return Err(FragmentError::Conflict { id, num });
        }
        partial.total = partial.total.or(claimed_total);
        partial.bytes += contents.len();
        partial.parts.insert(num, contents);

        if partial.bytes > MAX_BUFFERED_BYTES {
            self.partials.remove(index);
            return Err(FragmentError::TooLarge(id));
        }
        let complete = partial.total.map(usize::from) == Some(partial.parts.len());
        if complete {
            let partial = self.partials.remove(index);
            let mut compressed = Vec::with_capacity(partial.bytes);
            for part in partial.parts.into_values() {
                compressed.extend_from_slice(&part);
            }
            let bytes = decompress(&compressed)?;
            return Ok(Some(TransportInstruction::decode_bytes(&bytes)?));
        }
        // Keep the total within bounds by evicting the oldest other assemblies.
        while self.buffered_bytes() > MAX_BUFFERED_BYTES && self.partials.len() > 1 {
            self.partials.remove(0);
        }
        Ok(None)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn inst(diff_len: usize, chaff: u8) -> TransportInstruction {
        // Incompressible-ish diff so several fragments are needed.
        let mut x: u32 = 12345;
        let diff = (0..diff_len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        TransportInstruction::new(3, 4, 2, 1, diff, vec![chaff])
    }

    #[test]
    fn header_layout() {
        let f = Fragment {
            id: 0x0102030405060708,
            num: 3,
            is_final: true,
            contents: b"xy".to_vec(),
        };
        let e = f.encode();
        assert_eq!(hex::encode(&e), "010203040506070880037879");
        assert_eq!(Fragment::decode(&e).unwrap(), f);
        assert_eq!(Fragment::decode(&e[..9]), Err(FragmentError::TooShort(9)));
    }

    #[test]
    fn capacity_matches_reference() {
        assert_eq!(fragment_capacity(IPV4_MTU), 1214);
        assert_eq!(fragment_capacity(IPV6_MTU), 1178);
        assert_eq!(fragment_capacity(DEFAULT_MTU), 462);
    }

    #[test]
    fn split_and_reassemble_out_of_order_with_duplicates() {
        let mut f = Fragmenter::new();
        let i = inst(5000, 1);
        let frags = f.make_fragments(&i, DEFAULT_MTU);
        assert!(frags.len() > 5);
        assert_eq!(frags[0].id, 1);
        assert!(frags.iter().all(|x| x.contents.len() <= 462));
        assert!(frags.last().unwrap().is_final);
        assert_eq!(frags.iter().filter(|x| x.is_final).count(), 1);

        let mut a = FragmentAssembly::new();
        let mut order: Vec<_> = frags.iter().rev().cloned().collect();
        order.insert(2, frags[1].clone());
        let mut done = None;
        for fr in order {
            if let Some(x) = a.add(fr).unwrap() {
                assert!(done.is_none());
                done = Some(x);
            }
        }
        assert_eq!(done.unwrap(), i);
        assert_eq!(a.buffered_bytes(), 0);
    }

    #[test]
    fn ids_follow_upstream_rule() {
        let mut f = Fragmenter::new();
        let a = inst(10, 1);
        assert_eq!(f.make_fragments(&a, 1252)[0].id, 1);
        // Identical header: same id.
        assert_eq!(f.make_fragments(&a, 1252)[0].id, 1);
        // New chaff: new id.
        assert_eq!(f.make_fragments(&inst(10, 2), 1252)[0].id, 2);
        // New MTU: new id.
        assert_eq!(f.make_fragments(&inst(10, 2), 500)[0].id, 3);
    }

    #[test]
    fn interleaved_instructions_both_complete_and_lost_ones_are_evicted() {
        let mut f = Fragmenter::new();
        let x = inst(3000, 1);
        let y = inst(3000, 2);
        let fx = f.make_fragments(&x, DEFAULT_MTU);
        let fy = f.make_fragments(&y, DEFAULT_MTU);
        let mut a = FragmentAssembly::new();
        let mut got = vec![];
        for (p, q) in fx.iter().zip(fy.iter()) {
            got.extend(a.add(p.clone()).unwrap());
            got.extend(a.add(q.clone()).unwrap());
        }
        assert_eq!(got, vec![x, y]);
        // Lost fragments: partial assemblies are evicted once newer ones arrive.
        for k in 0..20u8 {
            let fz = f.make_fragments(&inst(3000, 10 + k), DEFAULT_MTU);
            a.add(fz[0].clone()).unwrap();
            assert!(a.in_progress() <= MAX_ASSEMBLIES);
        }
    }

    #[test]
    fn conflicting_duplicate_is_rejected() {
        let mut a = FragmentAssembly::new();
        let f0 = Fragment {
            id: 9,
            num: 0,
            is_final: false,
            contents: vec![1],
        };
        a.add(f0.clone()).unwrap();
        let mut bad = f0.clone();
        bad.contents = vec![2];
        assert_eq!(a.add(bad), Err(FragmentError::Conflict { id: 9, num: 0 }));
        // A final flag that contradicts a fragment already held.
        let f3 = Fragment {
            id: 9,
            num: 3,
            is_final: false,
            contents: vec![1],
        };
        a.add(f3).unwrap();
        let fin = Fragment {
            id: 9,
            num: 1,
            is_final: true,
            contents: vec![1],
        };
        assert_eq!(a.add(fin), Err(FragmentError::Conflict { id: 9, num: 1 }));
    }

    #[test]
    fn flood_of_fresh_ids_stays_bounded() {
        let mut a = FragmentAssembly::new();
        for id in 0..10_000u64 {
            let r = a.add(Fragment {
                id,
                num: (id % 300) as u16 + 1,
                is_final: false,
                contents: vec![0xAB; 1200],
            });
            assert!(r.unwrap().is_none());
        }
        assert!(a.in_progress() <= MAX_ASSEMBLIES);
        assert!(a.buffered_bytes() <= MAX_ASSEMBLIES * 1200);
    }

    #[test]
    fn one_huge_instruction_is_capped() {
        let mut a = FragmentAssembly::new();
        let mut err = None;
        for num in 0..MAX_FRAGMENT_NUM {
            match a.add(Fragment {
                id: 1,
                num,
                is_final: false,
                contents: vec![0; 2000],
            }) {
                Ok(_) => assert!(a.buffered_bytes() <= MAX_BUFFERED_BYTES),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert_eq!(err, Some(FragmentError::TooLarge(1)));
        assert_eq!(a.buffered_bytes(), 0);
    }

    #[test]
    fn decompression_bomb_and_garbage_are_rejected() {
        let bomb = compress(&vec![0u8; MAX_DECOMPRESSED_LEN + 1]);
        assert!(matches!(
            decompress(&bomb),
            Err(FragmentError::Decompress(_))
        ));
        assert!(decompress(&vec![0u8; MAX_DECOMPRESSED_LEN]).is_err());
        let ok = compress(&vec![7u8; MAX_DECOMPRESSED_LEN]);
        assert_eq!(decompress(&ok).unwrap().len(), MAX_DECOMPRESSED_LEN);
        let mut a = FragmentAssembly::new();
        assert!(matches!(
            a.add(Fragment {
                id: 1,
                num: 0,
                is_final: true,
                contents: b"not zlib".to_vec()
            }),
            Err(FragmentError::Decompress(_))
        ));
        // Valid zlib but not a protobuf instruction.
        assert!(matches!(
            a.add(Fragment {
                id: 2,
                num: 0,
                is_final: true,
                contents: compress(&[0x32, 0x7f])
            }),
            Err(FragmentError::Wire(_))
        ));
    }
}
