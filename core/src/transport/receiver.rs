//! The receiving half of SSP (reference §6.4): rebuilds the peer's numbered states from
//! instructions, idempotently (§6.5).

use std::collections::VecDeque;

use super::sender::Sender;
use super::{RECEIVED_STATES_MAX, RECEIVER_QUENCH_MS};
use crate::state::{StateError, SyncState};
use crate::wire::{PROTOCOL_VERSION, TransportInstruction};

/// A received peer state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedState<S> {
    /// When it was received (ms).
    pub timestamp: u64,
    /// The peer's number for it.
    pub num: u64,
    /// The state.
    pub state: S,
}

/// Why an authentic instruction was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructionError {
    /// `protocol_version` is missing or not 2 (§6.1).
    #[error("mosh protocol version mismatch (got {0:?})")]
    VersionMismatch(Option<u32>),
    /// The diff could not be applied to its base state.
    #[error("diff does not apply: {0}")]
    BadDiff(#[from] StateError),
}

/// What happened to an instruction that was not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new newest peer state.
    NewLatest(u64),
    /// A new state older than the newest held (inserted; no ack or last-heard update).
    OutOfOrder(u64),
    /// `new_num` is already held.
    Duplicate,
    /// `old_num` is not held (not yet received, or thrown away).
    UnknownBase,
    /// The receive queue is full and quenched.
    Quenched,
}

/// The receiver of the peer's state.
#[derive(Debug, Clone)]
pub struct Receiver<S> {
    /// Sorted by number; never empty.
    states: VecDeque<ReceivedState<S>>,
    last_consumed: S,
    quench_until: u64,
    /// Restored and not yet in step: the peer may diff from states we never had (the killed
    /// process acknowledged newer ones). A newer self-contained diff is then taken whatever
    /// its base ([`SyncState::diff_is_self_contained`]).
    resync: bool,
}

impl<S: SyncState> Receiver<S> {
    /// A receiver whose state 0 is `initial`.
    pub fn new(initial: S, now: u64) -> Self {
        Receiver {
            last_consumed: initial.clone(),
            states: VecDeque::from([ReceivedState {
                timestamp: now,
                num: 0,
                state: initial,
            }]),
            quench_until: 0,
            resync: false,
        }
    }

    /// A receiver resuming a saved session whose newest peer state is `state`, number `num`.
    pub fn restore(num: u64, state: S, now: u64) -> Self {
        let mut r = Receiver::new(state, now);
        r.states[0].num = num;
        r.resync = true;
        r
    }

    /// Whether this restored receiver has not yet received a state it could apply.
    pub fn resyncing(&self) -> bool {
        self.resync
    }

    /// The newest peer state.
    pub fn latest(&self) -> &ReceivedState<S> {
        &self.states[self.states.len() - 1]
    }

    /// The states held (oldest first).
    pub fn states(&self) -> &VecDeque<ReceivedState<S>> {
        &self.states
    }

    /// Upstream's `get_remote_diff`: the diff from the state last consumed to the newest one,
    /// after which the oldest held state is subtracted from all (used by a server to extract
    /// just the new user input).
    pub fn take_remote_diff(&mut self) -> Vec<u8> {
        let latest = self.latest().state.clone();
        let diff = latest.diff_from(&self.last_consumed);
        let oldest = self.states[0].state.clone();
        for s in self.states.iter_mut() {
            s.state.subtract(&oldest);
        }
        // The loop above already subtracted `oldest` from the latest state; subtracting it
        // again would strip a repeated prefix twice (e.g. a run of DEL keystrokes) and make the
        // next diff replay input.
        self.last_consumed = self.latest().state.clone();
        diff
    }

    /// Process one complete instruction received at `now`, updating `sender`'s ack bookkeeping.
    pub fn process<L: SyncState>(
        &mut self,
        now: u64,
        inst: &TransportInstruction,
        sender: &mut Sender<L>,
    ) -> Result<Outcome, InstructionError> {
        if inst.protocol_version != Some(PROTOCOL_VERSION) {
            return Err(InstructionError::VersionMismatch(inst.protocol_version));
        }
        let old_num = inst.old_num.unwrap_or(0);
        let new_num = inst.new_num.unwrap_or(0);
        let ack_num = inst.ack_num.unwrap_or(0);
        let throwaway_num = inst.throwaway_num.unwrap_or(0);
        sender.process_acknowledgment_through(ack_num);
        if self.states.iter().any(|s| s.num == new_num) {
            return Ok(Outcome::Duplicate);
        }
        let diff_bytes = inst.diff.as_deref().unwrap_or(&[]);
        let base = match self.states.iter().find(|s| s.num == old_num) {
            Some(base) => base,
            None if self.resync
                && new_num > self.latest().num
                && S::diff_is_self_contained(diff_bytes) =>
            {
                self.latest()
            }
            None => return Ok(Outcome::UnknownBase),
        };
        // Copy the base before throwing states away (§6.4 note).
        let mut state = base.state.clone();
        let diff = inst.diff.as_deref().unwrap_or(&[]);
        if !diff.is_empty() {
            state.apply_diff(diff)?;
        }
        // Throw away states older than the peer still needs, but never the last one.
        while self.states.len() > 1 && self.states[0].num < throwaway_num {
            self.states.pop_front();
        }
        if self.states.len() > RECEIVED_STATES_MAX {
            if now < self.quench_until {
                return Ok(Outcome::Quenched);
            }
            self.quench_until = now + RECEIVER_QUENCH_MS;
        }
        let new = ReceivedState {
            timestamp: now,
            num: new_num,
            state,
        };
        if let Some(pos) = self.states.iter().position(|s| s.num > new_num) {
            self.states.insert(pos, new);
            return Ok(Outcome::OutOfOrder(new_num));
        }
        self.states.push_back(new);
        self.resync = false;
        sender.ack_num = new_num;
        sender.last_heard = now;
        if !diff.is_empty() {
            sender.pending_data_ack = true;
        }
        Ok(Outcome::NewLatest(new_num))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::state::UserStream;

    fn diff(bytes: &[u8]) -> Vec<u8> {
        let mut u = UserStream::new();
        u.push_bytes(bytes);
        u.diff_from(&UserStream::new())
    }

    #[test]
    fn duplicates_unknown_bases_and_out_of_order() {
        let mut r = Receiver::new(UserStream::new(), 0);
        let mut s: Sender<UserStream> = Sender::new(UserStream::new(), 0, 1);
        let i1 = TransportInstruction::new(0, 1, 0, 0, diff(b"a"), vec![]);
        assert_eq!(r.process(5, &i1, &mut s).unwrap(), Outcome::NewLatest(1));
        assert_eq!((s.ack_num, s.last_heard, s.pending_data_ack), (1, 5, true));
        assert_eq!(r.process(6, &i1, &mut s).unwrap(), Outcome::Duplicate);
        let i9 = TransportInstruction::new(8, 9, 0, 0, diff(b"b"), vec![]);
        assert_eq!(r.process(7, &i9, &mut s).unwrap(), Outcome::UnknownBase);
        let i3 = TransportInstruction::new(0, 3, 0, 0, diff(b"abc"), vec![]);
        assert_eq!(r.process(8, &i3, &mut s).unwrap(), Outcome::NewLatest(3));
        let i2 = TransportInstruction::new(0, 2, 0, 0, diff(b"ab"), vec![]);
        assert_eq!(r.process(9, &i2, &mut s).unwrap(), Outcome::OutOfOrder(2));
        assert_eq!(s.ack_num, 3);
        assert_eq!(r.latest().num, 3);
        let mut v = TransportInstruction::new(3, 4, 0, 0, vec![], vec![]);
        v.protocol_version = None;
        assert!(r.process(10, &v, &mut s).is_err());
        // Throwaway drops older states.
        let i4 = TransportInstruction::new(3, 4, 0, 3, vec![], vec![]);
        r.process(11, &i4, &mut s).unwrap();
        assert_eq!(r.states().iter().map(|x| x.num).collect::<Vec<_>>(), [3, 4]);
        let mut expect = UserStream::new();
        expect.push_bytes(b"abc");
        assert_eq!(r.take_remote_diff(), expect.diff_from(&UserStream::new()));
        assert!(r.take_remote_diff().is_empty());
    }

    /// Input is extracted exactly once even when the acknowledged prefix repeats itself, as a
    /// run of identical keystrokes (backspaces) does.
    #[test]
    fn remote_diff_never_replays_repeated_keystrokes() {
        let mut r = Receiver::new(UserStream::new(), 0);
        let mut s: Sender<UserStream> = Sender::new(UserStream::new(), 0, 1);
        let typed = [
            b"\x7f".as_slice(),
            b"\x7f",
            b"\x7f\x7f",
            b"o",
            b"\x7f",
            b"ab",
        ];
        let mut all = Vec::new();
        let mut got = Vec::new();
        for (i, chunk) in typed.iter().enumerate() {
            let (old, new) = (i as u64, i as u64 + 1);
            // Each state is diffed from the previous one; the peer throws away all but it.
            let inst = TransportInstruction::new(old, new, 0, old, diff(chunk), vec![]);
            assert_eq!(
                r.process(new, &inst, &mut s).unwrap(),
                Outcome::NewLatest(new)
            );
            all.extend_from_slice(chunk);
            let mut fresh = UserStream::new();
            fresh.apply_diff(&r.take_remote_diff()).unwrap();
            got.extend(fresh.events().iter().map(|e| match e {
                crate::state::UserEvent::Byte(b) => *b,
                _ => 0,
            }));
        }
        assert_eq!(got, all);
    }
}
