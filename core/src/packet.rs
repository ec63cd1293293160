//! The packet layer: sequence numbers, the two 16-bit millisecond timestamps carried in every
//! datagram, and the RTT estimate derived from them (reference §4.1–§4.3).
//!
//! Time enters as milliseconds on the caller's monotonic clock (`now_ms`); nothing here reads a
//! clock.

use crate::crypto::{CryptoError, Direction, Key, Nonce, Session};

/// Timestamp value meaning "no timestamp" (§4.1).
pub const TIMESTAMP_NONE: u16 = 0xFFFF;
/// Bytes the packet layer adds before encryption: 8 nonce bytes + two timestamps
/// (`ADDED_BYTES`, §4.1).
pub const PACKET_OVERHEAD: usize = 12;
/// Plaintext header: the two timestamps.
pub const PLAINTEXT_HEADER_LEN: usize = 4;
/// A received timestamp is echoed only if it was received less than this long ago (§4.2).
pub const TIMESTAMP_ECHO_HOLD_MS: u64 = 1000;
/// Subtracted from a saved timestamp that arrived with ECN Congestion Experienced (§4.2).
pub const CONGESTION_TIMESTAMP_PENALTY_MS: u16 = 500;
/// RTT samples of this many ms or more are ignored (the peer was probably suspended, §4.3).
pub const RTT_SAMPLE_LIMIT_MS: u16 = 5000;
/// SRTT before the first sample (§4.3).
pub const INITIAL_SRTT_MS: f64 = 1000.0;
/// RTTVAR before the first sample (§4.3).
pub const INITIAL_RTTVAR_MS: f64 = 500.0;
/// Lower clamp of the retransmission timeout (`MIN_RTO`, §4.3).
pub const MIN_RTO_MS: u64 = 50;
/// Upper clamp of the retransmission timeout (`MAX_RTO`, §4.3).
pub const MAX_RTO_MS: u64 = 1000;

/// Errors from opening a datagram at the packet layer. All are non-fatal: drop the datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The datagram did not decrypt or authenticate.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// An authentic datagram travelling the wrong way (a reflection of our own packets).
    #[error("datagram has the wrong direction bit (expected {expected:?})")]
    WrongDirection {
        /// The direction this side accepts.
        expected: Direction,
    },
    /// The plaintext is too short to hold the timestamps.
    #[error("decrypted packet of {0} bytes is shorter than its 4-byte header")]
    TooShort(usize),
}

/// The 16-bit timestamp for a millisecond clock value: `ms mod 65536`, with `0xFFFF` (which means
/// "none") replaced by 0 (§4.2).
pub fn timestamp16(now_ms: u64) -> u16 {
    match (now_ms & 0xFFFF) as u16 {
        TIMESTAMP_NONE => 0,
        t => t,
    }
}

/// One decrypted datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Which way the packet travels.
    pub direction: Direction,
    /// The sender's sequence number.
    pub seq: u64,
    /// The sender's clock, ms mod 65536.
    pub timestamp: u16,
    /// Our own timestamp echoed back, corrected for the time the peer held it.
    pub timestamp_reply: Option<u16>,
    /// One transport fragment.
    pub payload: Vec<u8>,
}

impl Packet {
    /// Encrypt into a datagram.
    pub fn seal(&self, session: &mut Session) -> Result<Vec<u8>, CryptoError> {
        let mut plaintext = Vec::with_capacity(PLAINTEXT_HEADER_LEN + self.payload.len());
        plaintext.extend_from_slice(&self.timestamp.to_be_bytes());
        plaintext.extend_from_slice(&self.timestamp_reply.unwrap_or(TIMESTAMP_NONE).to_be_bytes());
        plaintext.extend_from_slice(&self.payload);
        session.seal(
            Nonce {
                direction: self.direction,
                seq: self.seq,
            },
            &plaintext,
        )
    }

    /// Decrypt and parse a datagram, accepting only packets travelling in `expected` direction.
    pub fn open(
        session: &Session,
        datagram: &[u8],
        expected: Direction,
    ) -> Result<Packet, PacketError> {
        let (nonce, plaintext) = session.open(datagram)?;
        if nonce.direction != expected {
            return Err(PacketError::WrongDirection { expected });
        }
        let (header, payload) = plaintext
            .split_first_chunk::<PLAINTEXT_HEADER_LEN>()
            .ok_or(PacketError::TooShort(plaintext.len()))?;
        let reply = u16::from_be_bytes([header[2], header[3]]);
        Ok(Packet {
            direction: nonce.direction,
            seq: nonce.seq,
            timestamp: u16::from_be_bytes([header[0], header[1]]),
            timestamp_reply: (reply != TIMESTAMP_NONE).then_some(reply),
            payload: payload.to_vec(),
        })
    }
}

/// RFC 6298-style smoothed RTT as upstream computes it (§4.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RttEstimator {
    srtt: f64,
    rttvar: f64,
    has_sample: bool,
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator {
            srtt: INITIAL_SRTT_MS,
            rttvar: INITIAL_RTTVAR_MS,
            has_sample: false,
        }
    }
}

impl RttEstimator {
    /// Fold in one RTT sample in ms.
    pub fn sample(&mut self, r_ms: u16) {
        let r = f64::from(r_ms);
        if self.has_sample {
            self.rttvar = 0.75 * self.rttvar + 0.25 * (self.srtt - r).abs();
            self.srtt = 0.875 * self.srtt + 0.125 * r;
        } else {
            self.srtt = r;
            self.rttvar = r / 2.0;
            self.has_sample = true;
        }
    }

    /// Smoothed RTT in ms.
    pub fn srtt_ms(&self) -> f64 {
        self.srtt
    }

    /// Whether any sample has been taken.
    pub fn has_sample(&self) -> bool {
        self.has_sample
    }

    /// Retransmission timeout in ms: `ceil(SRTT + 4 RTTVAR)` clamped to [50, 1000]
    /// (upstream's `timeout()`).
    pub fn rto_ms(&self) -> u64 {
        let rto = (self.srtt + 4.0 * self.rttvar).ceil();
        // Clamp in floating point first: the cast saturates and NaN cannot arise from samples.
        (rto.clamp(MIN_RTO_MS as f64, MAX_RTO_MS as f64)) as u64
    }
}

/// What [`PacketCodec::open`] hands up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The fragment carried by the packet.
    pub payload: Vec<u8>,
    /// The sender's sequence number.
    pub seq: u64,
    /// Whether the packet was new (sequence at or past the expected one). Only in-order packets
    /// may update timestamps, RTT, "last heard" and the peer's address (§3.6).
    pub in_order: bool,
    /// An RTT sample taken from this packet, in ms.
    pub rtt_sample: Option<u16>,
}

/// One side's packet layer: seals outgoing payloads with fresh sequence numbers and the timestamp
/// fields, opens incoming ones, and keeps the timestamp echo and RTT estimate (§4.1–§4.3).
#[derive(Debug)]
pub struct PacketCodec {
    session: Session,
    send_direction: Direction,
    next_seq: u64,
    expected_receiver_seq: u64,
    saved_timestamp: Option<(u16, u64)>,
    rtt: RttEstimator,
}

impl PacketCodec {
    /// A codec for the side that sends in `send_direction` (the client sends
    /// [`Direction::ToServer`]).
    pub fn new(key: &Key, send_direction: Direction) -> Self {
        PacketCodec {
            session: Session::new(key),
            send_direction,
            next_seq: 0,
            expected_receiver_seq: 0,
            saved_timestamp: None,
            rtt: RttEstimator::default(),
        }
    }

    /// The sequence number the next sealed packet will carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Continue a restored session: the next packet uses `seq`, which must be above every
    /// sequence number ever sent under this key so a nonce is never reused.
    pub fn set_next_seq(&mut self, seq: u64) {
        self.next_seq = seq;
    }

    /// The RTT estimate.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Seal `payload` into a datagram at time `now_ms`.
    pub fn seal(&mut self, now_ms: u64, payload: Vec<u8>) -> Result<Vec<u8>, CryptoError> {
        let seq = self.next_seq;
        // Only 63 bits travel; beyond that a nonce would repeat.
        if seq >= 1 << 63 {
            return Err(CryptoError::SequenceExhausted);
        }
        let timestamp_reply = match self.saved_timestamp.take() {
            Some((ts, at)) if now_ms.saturating_sub(at) < TIMESTAMP_ECHO_HOLD_MS => {
                Some(ts.wrapping_add(now_ms.saturating_sub(at) as u16))
            }
            _ => None,
        };
        let datagram = Packet {
            direction: self.send_direction,
            seq,
            timestamp: timestamp16(now_ms),
            timestamp_reply,
            payload,
        }
        .seal(&mut self.session)?;
        self.next_seq = seq + 1;
        Ok(datagram)
    }

    /// Open a datagram received at `now_ms`; `congestion` says whether it carried an ECN
    /// Congestion Experienced mark.
    pub fn open(
        &mut self,
        now_ms: u64,
        datagram: &[u8],
        congestion: bool,
    ) -> Result<Received, PacketError> {
        let packet = Packet::open(&self.session, datagram, self.send_direction.reverse())?;
        let in_order = packet.seq >= self.expected_receiver_seq;
        let mut rtt_sample = None;
        if in_order {
            self.expected_receiver_seq = packet.seq + 1;
            if packet.timestamp != TIMESTAMP_NONE {
                let mut ts = packet.timestamp;
                if congestion {
                    ts = ts.wrapping_sub(CONGESTION_TIMESTAMP_PENALTY_MS);
                }
                self.saved_timestamp = Some((ts, now_ms));
            }
            if let Some(reply) = packet.timestamp_reply {
                let r = timestamp16(now_ms).wrapping_sub(reply);
                if r < RTT_SAMPLE_LIMIT_MS {
                    self.rtt.sample(r);
                    rtt_sample = Some(r);
                }
            }
        }
        Ok(Received {
            payload: packet.payload,
            seq: packet.seq,
            in_order,
            rtt_sample,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pair() -> (PacketCodec, PacketCodec) {
        let key = Key::from_bytes([9; 16]);
        (
            PacketCodec::new(&key, Direction::ToServer),
            PacketCodec::new(&key, Direction::ToClient),
        )
    }

    #[test]
    fn timestamp16_never_sends_none() {
        assert_eq!(timestamp16(0xFFFF), 0);
        assert_eq!(timestamp16(0x1_0000 + 5), 5);
        assert_eq!(timestamp16(0xFFFE), 0xFFFE);
    }

    #[test]
    fn packet_round_trip_and_layout() {
        let key = Key::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let mut s = Session::new(&key);
        let p = Packet {
            direction: Direction::ToServer,
            seq: 0,
            timestamp: 0x1234,
            timestamp_reply: None,
            payload: b"hello".to_vec(),
        };
        let d = p.seal(&mut s).unwrap();
        // The reference vector (§3.7) pins the plaintext layout end to end.
        assert_eq!(
            hex::encode(&d),
            "000000000000000069e6ffe30eaf0b31cf17687cb09701158120b0d03c5dd9412f"
        );
        assert_eq!(Packet::open(&s, &d, Direction::ToServer).unwrap(), p);
        assert_eq!(
            Packet::open(&s, &d, Direction::ToClient),
            Err(PacketError::WrongDirection {
                expected: Direction::ToClient
            })
        );
    }

    #[test]
    fn short_plaintext_is_rejected() {
        let mut s = Session::new(&Key::from_bytes([1; 16]));
        let d = s
            .seal(
                Nonce {
                    direction: Direction::ToClient,
                    seq: 3,
                },
                &[1, 2, 3],
            )
            .unwrap();
        assert_eq!(
            Packet::open(&s, &d, Direction::ToClient),
            Err(PacketError::TooShort(3))
        );
    }

    #[test]
    fn timestamps_echo_once_with_hold_correction_and_give_rtt() {
        let (mut client, mut server) = pair();
        let d = client.seal(10_000, b"a".to_vec()).unwrap();
        // Delivered 30 ms later; server holds it 20 ms before replying.
        let r = server.open(10_030, &d, false).unwrap();
        assert!(r.in_order);
        assert_eq!(r.rtt_sample, None);
        let reply = server.seal(10_050, b"b".to_vec()).unwrap();
        let opened = Packet::open(&client.session, &reply, Direction::ToClient).unwrap();
        assert_eq!(opened.timestamp_reply, Some(timestamp16(10_000 + 20)));
        // Only the first packet after a receive carries the echo.
        let second = server.seal(10_060, b"c".to_vec()).unwrap();
        let opened2 = Packet::open(&client.session, &second, Direction::ToClient).unwrap();
        assert_eq!(opened2.timestamp_reply, None);
        // Client receives the reply 30 ms later: RTT = 80 - 20 = 60.
        let r = client.open(10_080, &reply, false).unwrap();
        assert_eq!(r.rtt_sample, Some(60));
        assert_eq!(client.rtt().srtt_ms(), 60.0);
        assert_eq!(client.rtt().rto_ms(), 180);
    }

    #[test]
    fn stale_timestamp_is_not_echoed() {
        let (mut client, mut server) = pair();
        let d = client.seal(0, vec![]).unwrap();
        server.open(0, &d, false).unwrap();
        let reply = server.seal(TIMESTAMP_ECHO_HOLD_MS, vec![]).unwrap();
        let p = Packet::open(&client.session, &reply, Direction::ToClient).unwrap();
        assert_eq!(p.timestamp_reply, None);
    }

    #[test]
    fn congestion_mark_inflates_echo() {
        let (mut client, mut server) = pair();
        let d = client.seal(2000, vec![]).unwrap();
        server.open(2000, &d, true).unwrap();
        let reply = server.seal(2000, vec![]).unwrap();
        let p = Packet::open(&client.session, &reply, Direction::ToClient).unwrap();
        assert_eq!(p.timestamp_reply, Some(1500));
    }

    #[test]
    fn reordered_packets_are_delivered_but_not_in_order() {
        let (mut client, mut server) = pair();
        let d0 = client.seal(0, b"0".to_vec()).unwrap();
        let d1 = client.seal(5, b"1".to_vec()).unwrap();
        assert!(server.open(10, &d1, false).unwrap().in_order);
        let late = server.open(11, &d0, false).unwrap();
        assert!(!late.in_order);
        assert_eq!(late.payload, b"0");
        assert_eq!(late.seq, 0);
    }

    #[test]
    fn huge_rtt_samples_are_ignored() {
        let (mut client, mut server) = pair();
        let d = client.seal(0, vec![]).unwrap();
        server.open(0, &d, false).unwrap();
        let reply = server.seal(0, vec![]).unwrap();
        let r = client.open(6000, &reply, false).unwrap();
        assert_eq!(r.rtt_sample, None);
        assert!(!client.rtt().has_sample());
        assert_eq!(client.rtt().rto_ms(), MAX_RTO_MS);
    }

    #[test]
    fn rto_is_clamped() {
        let mut e = RttEstimator::default();
        for _ in 0..50 {
            e.sample(1);
        }
        assert_eq!(e.rto_ms(), MIN_RTO_MS);
        let mut e = RttEstimator::default();
        e.sample(4000);
        assert_eq!(e.rto_ms(), MAX_RTO_MS);
    }

    #[test]
    fn sequence_numbers_increase_and_never_wrap() {
        let (mut client, _) = pair();
        client.seal(0, vec![]).unwrap();
        assert_eq!(client.next_seq(), 1);
        client.set_next_seq((1 << 63) - 1);
        client.seal(0, vec![]).unwrap();
        assert_eq!(client.seal(0, vec![]), Err(CryptoError::SequenceExhausted));
    }
}
