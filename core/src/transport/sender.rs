//! The sending half of SSP (reference §6.3): numbered states, the assumed receiver state, the
//! frame and ack timers, prospective resends and the shutdown handshake's sending side.

use std::collections::VecDeque;

use super::{
    ACK_DELAY_MS, ACK_INTERVAL_MS, ACTIVE_RETRY_TIMEOUT_MS, CHAFF_MODULUS, NEVER, PROBE_INTERVAL_MS,
    PROBE_NUM, PROSPECTIVE_RESEND_LIMIT, RESYNC_SETTLE_MS, PROSPECTIVE_RESEND_SLACK, RESUME_STATE_GAP, RandomSource,
    SENT_STATES_MAX, SENT_STATES_THIN_FROM_BACK, SHUTDOWN_NUM, SHUTDOWN_RETRIES, Timing,
};
use crate::state::SyncState;
use crate::wire::TransportInstruction;

/// A state that was sent: when, under which number, and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentState<S> {
    /// Time of the last transmission of this state (ms).
    pub timestamp: u64,
    /// State number.
    pub num: u64,
    /// The state.
    pub state: S,
}

/// A restored sender waiting to learn which of its states the peer holds.
#[derive(Debug, Clone)]
struct Resync<S> {
    /// The current state at the restore (relative to the front).
    restored: S,
    /// No data before this time (ms).
    settle_until: u64,
    /// The peer's newest acknowledgement of our states seen since the restore.
    peer_ack: Option<u64>,
}

/// The sender of one side's state.
#[derive(Debug, Clone)]
pub struct Sender<S> {
    current: S,
    /// Front: newest state known to be held by the peer; back: last state sent. Never empty.
    sent: VecDeque<SentState<S>>,
    /// Index into `sent` of the state the receiver is assumed to hold.
    assumed: usize,
    next_ack_time: u64,
    next_send_time: u64,
    send_mindelay: u64,
    mindelay_clock: Option<u64>,
    /// Newest peer state received.
    pub(crate) ack_num: u64,
    /// A peer state with a non-empty diff was received and not yet acknowledged.
    pub(crate) pending_data_ack: bool,
    /// When the newest peer state was received.
    pub(crate) last_heard: u64,
    /// States sent at or before this time are not assumed received (set on a network change).
    stale_before: Option<u64>,
    shutdown_start: Option<u64>,
    shutdown_tries: u32,
    /// A restored sender that has not heard the peer yet: the current state at the restore
    /// (relative to the front). Until the peer's first instruction says which of our states it
    /// holds, only probes are sent: a real diff could be based on a state the peer no longer
    /// has, or build a state that does not extend the peer's newest one.
    resync: Option<Resync<S>>,
    /// New state numbers start here (set when a restored sender resolves its resync).
    num_floor: u64,
    /// Set when a resync resolved: whether the peer held a newer state of ours than the saved
    /// ones (taken once by [`Sender::take_resync_outcome`]).
    resync_outcome: Option<bool>,
}

impl<S: SyncState> Sender<S> {
    /// A sender whose state 0 is `initial`, created at `now`.
    pub fn new(initial: S, now: u64, send_mindelay: u64) -> Self {
        Sender {
            current: initial.clone(),
            sent: VecDeque::from([SentState {
                timestamp: now,
                num: 0,
                state: initial,
            }]),
            assumed: 0,
            next_ack_time: now,
            next_send_time: now,
            send_mindelay,
            mindelay_clock: None,
            ack_num: 0,
            pending_data_ack: false,
            last_heard: 0,
            stale_before: None,
            shutdown_start: None,
            shutdown_tries: 0,
            resync: None,
            num_floor: 0,
            resync_outcome: None,
        }
    }

    /// A sender resuming a saved session: `sent` (number, state), oldest (acknowledged) first,
    /// and the current state. Nothing sent before is assumed to have arrived. `None` if `sent`
    /// is empty.
    pub fn restore(
        sent: Vec<(u64, S)>,
        current: S,
        now: u64,
        send_mindelay: u64,
        ack_num: u64,
    ) -> Option<Self> {
        if sent.is_empty() {
            return None;
        }
        let mut s = Sender::new(current, now, send_mindelay);
        s.sent = sent
            .into_iter()
            .map(|(num, state)| SentState {
                timestamp: now,
                num,
                state,
            })
            .collect();
        s.stale_before = Some(now);
        s.ack_num = ack_num;
        s.rationalize_states();
        s.resync = Some(Resync {
            restored: s.current.clone(),
            settle_until: now.saturating_add(RESYNC_SETTLE_MS),
            peer_ack: None,
        });
        Some(s)
    }

    /// `Some(newer)` once after a restored sender resynchronised: `newer` when the peer held a
    /// state of ours newer than every saved one (the killed process sent it after the save).
    pub fn take_resync_outcome(&mut self) -> Option<bool> {
        self.resync_outcome.take()
    }

    /// Whether this restored sender still waits for the peer's first instruction.
    pub fn resyncing(&self) -> bool {
        self.resync.is_some()
    }

    /// The peer's first instruction after a restore says that its newest state of ours is
    /// `ack`. If we hold that state, the session simply continues from it. If not, the killed
    /// process sent it after the save: it already holds everything the saved state had, so it
    /// becomes our front with that content, and only what was typed since the restore is sent
    /// on top. Either way new state numbers jump [`RESUME_STATE_GAP`] above everything either
    /// side numbered, past any state the killed process may still have in flight.
    fn resolve_resync(&mut self, ack: u64) {
        let Some(Resync { restored, .. }) = self.resync.take() else {
            return;
        };
        let known = self.sent.iter().any(|s| s.num == ack);
        self.resync_outcome = Some(!known);
        if !known && ack != PROBE_NUM && ack != SHUTDOWN_NUM {
            self.sent = VecDeque::from([SentState {
                timestamp: self.back().timestamp,
                num: ack,
                state: restored,
            }]);
            self.assumed = 0;
        }
        let top = self.back().num.max(if ack == SHUTDOWN_NUM { 0 } else { ack });
        self.num_floor = top.saturating_add(RESUME_STATE_GAP);
        self.next_ack_time = 0;
    }

    /// The number for a new state after `back_num`.
    fn next_num(&self, back_num: u64) -> u64 {
        back_num.saturating_add(1).max(self.num_floor)
    }

    /// The current local state.
    pub fn current(&self) -> &S {
        &self.current
    }

    /// Replace the current state. Refused (returns `false`) once shutdown has started.
    pub fn set_current(&mut self, state: S) -> bool {
        if self.shutdown_start.is_some() {
            return false;
        }
        self.current = state;
        true
    }

    /// Mutate the current state in place. Refused once shutdown has started.
    pub fn modify_current(&mut self, f: impl FnOnce(&mut S)) -> bool {
        if self.shutdown_start.is_some() {
            return false;
        }
        f(&mut self.current);
        true
    }

    /// The sent-state queue (front first).
    pub fn sent_states(&self) -> &VecDeque<SentState<S>> {
        &self.sent
    }

    fn front(&self) -> &SentState<S> {
        &self.sent[0]
    }

    fn back(&self) -> &SentState<S> {
        &self.sent[self.sent.len() - 1]
    }

    /// Send time of the newest state the peer acknowledged (`last_roundtrip_success`, §4.7).
    pub fn front_timestamp(&self) -> u64 {
        self.front().timestamp
    }

    /// Number of the newest peer state received.
    pub fn ack_num(&self) -> u64 {
        self.ack_num
    }

    /// Whether [`Sender::start_shutdown`] was called.
    pub fn shutdown_in_progress(&self) -> bool {
        self.shutdown_start.is_some()
    }

    /// The peer acknowledged our shutdown state (§6.6).
    pub fn shutdown_acknowledged(&self) -> bool {
        self.front().num == SHUTDOWN_NUM
    }

    /// We gave up waiting for the peer to acknowledge our shutdown (§6.6).
    pub fn shutdown_ack_timed_out(&self, now: u64) -> bool {
        match self.shutdown_start {
            Some(start) => {
                self.shutdown_tries >= SHUTDOWN_RETRIES
                    || now.saturating_sub(start) >= ACTIVE_RETRY_TIMEOUT_MS
            }
            None => false,
        }
    }

    /// When the shutdown give-up time is reached, if shutting down.
    pub fn shutdown_deadline(&self) -> Option<u64> {
        self.shutdown_start
            .map(|s| s.saturating_add(ACTIVE_RETRY_TIMEOUT_MS))
    }

    /// Begin the shutdown handshake (idempotent).
    pub fn start_shutdown(&mut self, now: u64) {
        if self.shutdown_start.is_none() {
            self.shutdown_start = Some(now);
        }
    }

    /// The network path changed: nothing sent so far is assumed to be in flight any more, and
    /// an instruction goes out at once (MoshKit's addition for roaming phones).
    pub fn network_changed(&mut self, now: u64) {
        self.stale_before = Some(now);
        self.next_ack_time = now;
    }

    /// Forget states older than the peer's acknowledgement (`process_acknowledgment_through`).
    /// An ack for a state no longer held is ignored entirely.
    pub fn process_acknowledgment_through(&mut self, ack: u64) {
        if let Some(r) = self.resync.as_mut() {
            // Remember the peer's view; resolved once settled (`settle_resync`).
            if ack != PROBE_NUM {
                r.peer_ack = Some(ack);
            }
            return;
        }
        if let Some(pos) = self.sent.iter().position(|s| s.num == ack) {
            // States are appended in increasing number order, so everything before `pos` has a
            // smaller number.
            self.sent.drain(..pos);
            self.assumed = self.assumed.saturating_sub(pos);
        }
    }

    fn update_assumed_receiver_state(&mut self, now: u64, timing: Timing) {
        self.assumed = 0;
        let window = timing.rto_ms + ACK_DELAY_MS;
        for i in 1..self.sent.len() {
            let ts = self.sent[i].timestamp;
            let stale = self.stale_before.is_some_and(|t| ts <= t);
            // Upstream stops at the first stale entry (§6.3, §13).
            if now.saturating_sub(ts) < window && !stale {
                self.assumed = i;
            } else {
                break;
            }
        }
    }

    fn rationalize_states(&mut self) {
        let known = self.front().state.clone();
        self.current.subtract(&known);
        for s in self.sent.iter_mut() {
            s.state.subtract(&known);
        }
    }

    /// Resolves a restored sender's resync once the settle time has passed and the peer has
    /// answered (see [`Sender::resolve_resync`]).
    fn settle_resync(&mut self, now: u64) {
        let ready = self
            .resync
            .as_ref()
            .and_then(|r| (now >= r.settle_until).then_some(r.peer_ack).flatten());
        if let Some(ack) = ready {
            self.resolve_resync(ack);
            self.process_acknowledgment_through(ack);
        }
    }

    /// `calculate_timers` (§6.3).
    fn calculate_timers(&mut self, now: u64, timing: Timing) {
        self.settle_resync(now);
        if let Some(r) = &self.resync {
            // Probes only (see `resync`): at once, then every PROBE_INTERVAL_MS; data once
            // settled, if the peer has answered by then.
            self.next_send_time = if r.peer_ack.is_some() {
                r.settle_until
            } else {
                NEVER
            };
            return;
        }
        self.update_assumed_receiver_state(now, timing);
        self.rationalize_states();
        if self.pending_data_ack && self.next_ack_time > now.saturating_add(ACK_DELAY_MS) {
            self.next_ack_time = now + ACK_DELAY_MS;
        }
        let back_ts = self.back().timestamp;
        let retrying = self.last_heard.saturating_add(ACTIVE_RETRY_TIMEOUT_MS) > now;
        if self.current != self.back().state {
            let clock = *self.mindelay_clock.get_or_insert(now);
            self.next_send_time =
                (clock + self.send_mindelay).max(back_ts + timing.send_interval_ms);
        } else if self.current != self.sent[self.assumed].state && retrying {
            self.next_send_time = back_ts + timing.send_interval_ms;
            if let Some(clock) = self.mindelay_clock {
                self.next_send_time = self.next_send_time.max(clock + self.send_mindelay);
            }
        } else if self.current != self.front().state && retrying {
            self.next_send_time = back_ts + timing.rto_ms + ACK_DELAY_MS;
        } else {
            self.next_send_time = NEVER;
        }
        if self.shutdown_start.is_some() || self.ack_num == SHUTDOWN_NUM {
            self.next_ack_time = back_ts + timing.send_interval_ms;
        }
    }

    /// The next time [`Sender::tick`] has something to do, computed as of `now`.
    pub fn next_wakeup(&mut self, now: u64, timing: Timing) -> u64 {
        self.calculate_timers(now, timing);
        self.next_ack_time.min(self.next_send_time)
    }

    /// Upstream's `tick`: if a timer is due, the instruction to send now.
    pub fn tick(
        &mut self,
        now: u64,
        timing: Timing,
        rng: &mut dyn RandomSource,
    ) -> Option<TransportInstruction> {
        self.calculate_timers(now, timing);
        if now < self.next_ack_time && now < self.next_send_time {
            return None;
        }
        if self.resync.is_some() {
            self.next_ack_time = now + PROBE_INTERVAL_MS;
            self.pending_data_ack = false;
            return Some(TransportInstruction::new(
                PROBE_NUM,
                PROBE_NUM,
                self.ack_num,
                self.front().num,
                Vec::new(),
                make_chaff(rng),
            ));
        }
        let mut diff = self.current.diff_from(&self.sent[self.assumed].state);
        self.attempt_prospective_resend_optimization(&mut diff);
        if diff.is_empty() {
            let mut out = None;
            if now >= self.next_ack_time {
                out = Some(self.send_empty_ack(now, rng));
                self.mindelay_clock = None;
            }
            if now >= self.next_send_time {
                self.next_send_time = NEVER;
                self.mindelay_clock = None;
            }
            out
        } else {
            self.mindelay_clock = None;
            Some(self.send_to_receiver(now, diff, rng))
        }
    }

    fn attempt_prospective_resend_optimization(&mut self, diff: &mut Vec<u8>) {
        if self.assumed == 0 {
            return;
        }
        let resend = self.current.diff_from(&self.front().state);
        if resend.len() <= diff.len()
            || (resend.len() < PROSPECTIVE_RESEND_LIMIT
                && resend.len() - diff.len() < PROSPECTIVE_RESEND_SLACK)
        {
            self.assumed = 0;
            *diff = resend;
        }
    }

    fn add_sent_state(&mut self, now: u64, num: u64, state: S) {
        self.sent.push_back(SentState {
            timestamp: now,
            num,
            state,
        });
        if self.sent.len() > SENT_STATES_MAX {
            // Thin the middle: front (acknowledged) and recent states survive (§6.3).
            let idx = self.sent.len() - SENT_STATES_THIN_FROM_BACK;
            self.sent.remove(idx);
        }
    }

    fn send_to_receiver(
        &mut self,
        now: u64,
        diff: Vec<u8>,
        rng: &mut dyn RandomSource,
    ) -> TransportInstruction {
        let back_num = self.back().num;
        let mut new_num = if self.current == self.back().state {
            back_num
        } else {
            self.next_num(back_num)
        };
        if self.shutdown_start.is_some() {
            new_num = SHUTDOWN_NUM;
        }
        if new_num == back_num {
            let last = self.sent.len() - 1;
            self.sent[last].timestamp = now;
        } else {
            self.add_sent_state(now, new_num, self.current.clone());
        }
        let inst = self.make_instruction(diff, new_num, rng);
        self.assumed = self.sent.len() - 1;
        self.next_ack_time = now + ACK_INTERVAL_MS;
        self.next_send_time = NEVER;
        inst
    }

    fn send_empty_ack(&mut self, now: u64, rng: &mut dyn RandomSource) -> TransportInstruction {
        let back_num = self.back().num;
        let new_num = if self.shutdown_start.is_some() {
            SHUTDOWN_NUM
        } else {
            self.next_num(back_num)
        };
        if new_num == back_num {
            // Repeated shutdown state: refresh rather than queue a duplicate (same wire bytes).
            let last = self.sent.len() - 1;
            self.sent[last].timestamp = now;
        } else {
            self.add_sent_state(now, new_num, self.current.clone());
        }
        let inst = self.make_instruction(Vec::new(), new_num, rng);
        self.next_ack_time = now + ACK_INTERVAL_MS;
        self.next_send_time = NEVER;
        inst
    }

    /// `send_in_fragments` minus the fragmenting, which the connection does.
    fn make_instruction(
        &mut self,
        diff: Vec<u8>,
        new_num: u64,
        rng: &mut dyn RandomSource,
    ) -> TransportInstruction {
        if new_num == SHUTDOWN_NUM {
            self.shutdown_tries = self.shutdown_tries.saturating_add(1);
        }
        self.pending_data_ack = false;
        TransportInstruction::new(
            self.sent[self.assumed].num,
            new_num,
            self.ack_num,
            self.front().num,
            diff,
            make_chaff(rng),
        )
    }
}

/// Random padding of 0..=16 bytes (§6.3).
fn make_chaff(rng: &mut dyn RandomSource) -> Vec<u8> {
    let mut len = [0u8];
    rng.fill(&mut len);
    let mut chaff = vec![0u8; usize::from(len[0] % CHAFF_MODULUS)];
    rng.fill(&mut chaff);
    chaff
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::state::UserStream;
    use crate::transport::SplitMix64;

    const T: Timing = Timing {
        send_interval_ms: 20,
        rto_ms: 50,
    };

    fn nums(s: &Sender<UserStream>) -> Vec<u64> {
        s.sent_states().iter().map(|x| x.num).collect()
    }

    #[test]
    fn first_change_waits_for_mindelay_then_sends_state_1() {
        let mut rng = SplitMix64::new(1);
        let mut s = Sender::new(UserStream::new(), 0, 8);
        // Nothing changed yet, but the ack timer starts due: an empty ack (state 1).
        let i = s.tick(0, T, &mut rng).unwrap();
        assert_eq!((i.old_num, i.new_num), (Some(0), Some(1)));
        assert_eq!(i.diff.as_deref(), Some(&[][..]));
        s.modify_current(|u| {
            u.push_bytes(b"a");
        });
        // Collection delay from the first unsent change; the frame interval from the last send.
        assert_eq!(s.next_wakeup(100, T), 108);
        assert!(s.tick(107, T, &mut rng).is_none());
        let i = s.tick(108, T, &mut rng).unwrap();
        // Diffing from the acknowledged state 0 costs no more, so the prospective resend
        // optimisation picks it (old_num 0, not the assumed 1).
        assert_eq!(
            (i.old_num, i.new_num, i.throwaway_num),
            (Some(0), Some(2), Some(0))
        );
        assert!(!i.diff.unwrap().is_empty());
        assert!(i.chaff.unwrap().len() <= 16);
    }

    #[test]
    fn unacked_state_is_retransmitted_from_acked_state_after_rto() {
        let mut rng = SplitMix64::new(2);
        let mut s = Sender::new(UserStream::new(), 0, 1);
        s.last_heard = 0;
        s.modify_current(|u| {
            u.push_bytes(b"x");
        });
        let i = s.tick(1, T, &mut rng).unwrap();
        assert_eq!(i.new_num, Some(1));
        // Assumed received until RTO + ACK_DELAY = 150 ms later.
        assert_eq!(s.next_wakeup(2, T), 1 + 150);
        // Then the assumed state falls back to 0 and the frame-rate retransmission is due.
        let i = s.tick(151, T, &mut rng).unwrap();
        assert_eq!((i.old_num, i.new_num), (Some(0), Some(1)));
        assert_eq!(nums(&s), vec![0, 1]);
        // Acknowledgement frees the old state and stops retransmission.
        s.process_acknowledgment_through(1);
        assert_eq!(nums(&s), vec![1]);
        assert_eq!(s.next_wakeup(152, T), 151 + ACK_INTERVAL_MS);
        // An ack for an unknown state is ignored.
        s.process_acknowledgment_through(7);
        assert_eq!(nums(&s), vec![1]);
    }

    #[test]
    fn sent_queue_is_thinned_in_the_middle() {
        let mut rng = SplitMix64::new(3);
        let mut s = Sender::new(UserStream::new(), 0, 1);
        for t in 0..40u64 {
            s.modify_current(|u| {
                u.push_bytes(b"k");
            });
            // Changed at `now`; sent after the 1 ms collection delay.
            let now = t * 30;
            assert!(s.tick(now, T, &mut rng).is_none() || t == 0);
            if t > 0 {
                s.tick(now + 1, T, &mut rng).unwrap();
            }
        }
        let n = nums(&s);
        assert_eq!(n.len(), SENT_STATES_MAX);
        assert_eq!(n[0], 0);
        assert_eq!(*n.last().unwrap(), 40);
        // The newest 15 survive contiguous.
        assert_eq!(n[n.len() - 15..], (26..=40).collect::<Vec<_>>()[..]);
    }

    #[test]
    fn shutdown_uses_max_num_and_counts_tries() {
        let mut rng = SplitMix64::new(4);
        let mut s = Sender::new(UserStream::new(), 0, 1);
        s.start_shutdown(0);
        assert!(!s.set_current(UserStream::new()));
        let mut sent = 0;
        let mut now = 0;
        while !s.shutdown_ack_timed_out(now) {
            if let Some(i) = s.tick(now, T, &mut rng) {
                assert_eq!(i.new_num, Some(SHUTDOWN_NUM));
                sent += 1;
            }
            now += 1;
        }
        assert_eq!(sent, SHUTDOWN_RETRIES);
        // About one send interval apart.
        assert!((300..=340).contains(&now), "{now}");
        s.process_acknowledgment_through(SHUTDOWN_NUM);
        assert!(s.shutdown_acknowledged());
    }
}
