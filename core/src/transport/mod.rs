//! The state synchronisation protocol's transport (reference §6): a [`sender`] that numbers and
//! transmits diffs of the local state, a [`receiver`] that rebuilds the peer's states, and the
//! timing constants, named as upstream names them.
//!
//! All times here are milliseconds on the connection's clock (see
//! [`crate::connection::Connection`]), and nothing reads a clock.

pub mod receiver;
pub mod sender;

use crate::packet::RttEstimator;

/// Lower bound of the frame interval (`SEND_INTERVAL_MIN`, §6.3).
pub const SEND_INTERVAL_MIN_MS: u64 = 20;
/// Upper bound of the frame interval (`SEND_INTERVAL_MAX`, §6.3).
pub const SEND_INTERVAL_MAX_MS: u64 = 250;
/// Idle keep-alive / empty-ack period (`ACK_INTERVAL`, §6.3).
pub const ACK_INTERVAL_MS: u64 = 3000;
/// Delayed ack after receiving data; also added to the RTO when judging whether a sent state
/// can be assumed received (`ACK_DELAY`, §6.3).
pub const ACK_DELAY_MS: u64 = 100;
/// Shutdown packets sent before giving up (`SHUTDOWN_RETRIES`, §6.6).
pub const SHUTDOWN_RETRIES: u32 = 16;
/// How long after last hearing from the peer we keep retransmitting at the frame rate; also the
/// shutdown give-up time (`ACTIVE_RETRY_TIMEOUT`, §6.3, §6.6).
pub const ACTIVE_RETRY_TIMEOUT_MS: u64 = 10_000;
/// Collection delay before a changed state is sent, server side (`SEND_MINDELAY`, §6.3).
pub const SERVER_SEND_MINDELAY_MS: u64 = 8;
/// Collection delay the client sets (`set_send_delay(1)` in stmclient.cc, §6.3).
pub const CLIENT_SEND_MINDELAY_MS: u64 = 1;
/// The sent-state queue is thinned when it grows beyond this many entries (§6.3).
pub const SENT_STATES_MAX: usize = 32;
/// When thinning, the entry this far from the back is removed (§6.3).
pub const SENT_STATES_THIN_FROM_BACK: usize = 16;
/// The receiver refuses new states while it holds more than this many (§6.4).
pub const RECEIVED_STATES_MAX: usize = 1024;
/// How long the receiver refuses new states once over [`RECEIVED_STATES_MAX`] (§6.4).
pub const RECEIVER_QUENCH_MS: u64 = 15_000;
/// A resend relative to the acknowledged state is preferred if it is no longer than the
/// proposed diff, or shorter than this and at most [`PROSPECTIVE_RESEND_SLACK`] longer (§6.3).
pub const PROSPECTIVE_RESEND_LIMIT: usize = 1000;
/// See [`PROSPECTIVE_RESEND_LIMIT`].
pub const PROSPECTIVE_RESEND_SLACK: usize = 100;
/// Chaff length is `random byte mod CHAFF_MODULUS`, i.e. 0..=16 bytes (§6.3).
pub const CHAFF_MODULUS: u8 = 17;
/// The state number that marks shutdown (§6.2, §6.6).
pub const SHUTDOWN_NUM: u64 = u64::MAX;
/// State number of a restored sender's probe (old and new number alike): no sender ever uses
/// it, so every receiver drops the instruction after its packet was authenticated (the server
/// roams to the new address and answers, revealing its newest state of ours).
pub const PROBE_NUM: u64 = u64::MAX - 1;
/// How often a restored sender probes until the peer answers.
pub const PROBE_INTERVAL_MS: u64 = 250;
/// A restored sender sends no data for this long after the restore: datagrams the killed
/// process sent just before dying may still be in flight, and a state built on the peer's
/// newest state must not be overtaken by one of them.
pub const RESYNC_SETTLE_MS: u64 = 1000;
/// After a restore, new state numbers continue this far above every number the peer has
/// acknowledged or we had sent, so they never meet a state the killed process sent.
pub const RESUME_STATE_GAP: u64 = 1 << 32;

/// "Never" on the millisecond clock.
pub(crate) const NEVER: u64 = u64::MAX;

/// A source of random bytes (for chaff). Injected so that simulations are deterministic; the
/// driver seeds one from the operating system.
pub trait RandomSource: Send {
    /// Fill `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8]) + Send> RandomSource for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf)
    }
}

/// A small seeded generator (SplitMix64): deterministic, good enough for chaff, not for keys.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl RandomSource for SplitMix64 {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// The two RTT-derived durations the sender's timers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Frame interval: `ceil(SRTT / 2)` clamped to
    /// [[`SEND_INTERVAL_MIN_MS`], [`SEND_INTERVAL_MAX_MS`]].
    pub send_interval_ms: u64,
    /// Retransmission timeout (upstream's `timeout()`).
    pub rto_ms: u64,
}

impl Timing {
    /// Timing from an RTT estimate.
    pub fn from_rtt(rtt: &RttEstimator) -> Self {
        let half = (rtt.srtt_ms() / 2.0).ceil();
        let send_interval_ms = if half.is_finite() && half > 0.0 {
            (half as u64).clamp(SEND_INTERVAL_MIN_MS, SEND_INTERVAL_MAX_MS)
        } else {
            SEND_INTERVAL_MIN_MS
        };
        Timing {
            send_interval_ms,
            rto_ms: rtt.rto_ms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_interval_is_half_srtt_clamped() {
        let mut rtt = RttEstimator::default();
        // Initial SRTT 1000 ms -> 500 clamped to 250.
        assert_eq!(Timing::from_rtt(&rtt).send_interval_ms, 250);
        rtt.sample(1);
        assert_eq!(Timing::from_rtt(&rtt).send_interval_ms, 20);
        let mut rtt = RttEstimator::default();
        rtt.sample(101);
        assert_eq!(Timing::from_rtt(&rtt).send_interval_ms, 51);
    }
}
