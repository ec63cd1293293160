//! Snapshots of a client connection for resuming it in a new process: what is saved, how it is
//! encoded, and how a connection is rebuilt from it without reusing a nonce (see docs/ssp.md).

use std::net::SocketAddr;
use std::time::Instant;

use super::{Config, Connection, Side};
use crate::crypto::Key;
use crate::state::SyncState;
use crate::transport::RandomSource;
use crate::transport::receiver::Receiver;
use crate::transport::sender::Sender;

/// A restored connection skips this many sequence numbers past the snapshot's, so that packets
/// sent after the snapshot was taken (but before the process died) never share a nonce with new
/// ones: take a snapshot at least every 2^32 packets (in practice: whenever the app is
/// backgrounded).
pub const RESUME_SEQ_GAP: u64 = 1 << 32;

/// Why a saved snapshot could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes are not an encoded snapshot.
    #[error("malformed snapshot: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A saved state could not be rebuilt.
    #[error("snapshot state does not apply: {0}")]
    State(#[from] crate::state::StateError),
    /// The snapshot holds no sent state.
    #[error("snapshot has no sent states")]
    Empty,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SnapshotMessage {
    #[prost(uint64, tag = "1")]
    next_seq: u64,
    #[prost(message, repeated, tag = "2")]
    sent: Vec<SavedState>,
    #[prost(bytes = "vec", tag = "3")]
    current: Vec<u8>,
    #[prost(uint64, tag = "4")]
    remote_num: u64,
    #[prost(bytes = "vec", tag = "5")]
    remote: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SavedState {
    #[prost(uint64, tag = "1")]
    num: u64,
    #[prost(bytes = "vec", tag = "2")]
    diff: Vec<u8>,
}

/// Everything needed to resume a client session after the process was killed (see
/// [`Connection::snapshot`], [`Snapshot::encode`] and [`Connection::restore`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot<L, R> {
    /// The next packet sequence number to use; never reuse a lower one under the same key.
    pub next_seq: u64,
    /// Sent states (number, state), oldest (acknowledged) first.
    pub sent_states: Vec<(u64, L)>,
    /// The current local state.
    pub current: L,
    /// Newest remote state received (number, state).
    pub remote: (u64, R),
}

impl<L: SyncState, R: SyncState> Snapshot<L, R> {
    /// Serialize: every state as its diff from the session's state 0 (`local_initial`,
    /// `remote_initial`), which the restoring side builds again the same way.
    pub fn encode(&self, local_initial: &L, remote_initial: &R) -> Vec<u8> {
        use prost::Message as _;
        SnapshotMessage {
            next_seq: self.next_seq,
            sent: self
                .sent_states
                .iter()
                .map(|(num, state)| SavedState {
                    num: *num,
                    diff: state.diff_from(local_initial),
                })
                .collect(),
            current: self.current.diff_from(local_initial),
            remote_num: self.remote.0,
            remote: self.remote.1.diff_from(remote_initial),
        }
        .encode_to_vec()
    }

    /// Parse what [`Snapshot::encode`] produced, given the same states 0.
    pub fn decode(
        bytes: &[u8],
        local_initial: &L,
        remote_initial: &R,
    ) -> Result<Self, SnapshotError> {
        use prost::Message as _;
        let m = SnapshotMessage::decode(bytes)?;
        let rebuild_local = |diff: &[u8]| -> Result<L, SnapshotError> {
            let mut s = local_initial.clone();
            s.apply_diff(diff)?;
            Ok(s)
        };
        let sent = m
            .sent
            .iter()
            .map(|saved| Ok((saved.num, rebuild_local(&saved.diff)?)))
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        if sent.is_empty() {
            return Err(SnapshotError::Empty);
        }
        let mut remote = remote_initial.clone();
        remote.apply_diff(&m.remote)?;
        Ok(Snapshot {
            next_seq: m.next_seq,
            sent_states: sent,
            current: rebuild_local(&m.current)?,
            remote: (m.remote_num, remote),
        })
    }
}

impl<L: SyncState, R: SyncState> Connection<L, R> {
    /// Resume a client session from a [`Snapshot`] taken by an earlier process. The packet
    /// sequence continues [`RESUME_SEQ_GAP`] above the snapshot's, so no nonce is reused;
    /// nothing sent before is assumed to have arrived, so the first transmissions resend from
    /// the acknowledged state.
    pub fn restore(
        config: Config,
        key: &Key,
        server: SocketAddr,
        snapshot: Snapshot<L, R>,
        now: Instant,
        rng: Box<dyn RandomSource>,
    ) -> Result<Self, SnapshotError> {
        Self::restore_above(config, key, server, snapshot, 0, now, rng)
    }

    /// [`Connection::restore`], with the packet sequence continuing at `seq_floor` when that is
    /// above the snapshot's next number (the wall-clock floor of `ClientSession::restore`),
    /// else [`RESUME_SEQ_GAP`] above it.
    pub fn restore_above(
        config: Config,
        key: &Key,
        server: SocketAddr,
        snapshot: Snapshot<L, R>,
        seq_floor: u64,
        now: Instant,
        rng: Box<dyn RandomSource>,
    ) -> Result<Self, SnapshotError> {
        let Snapshot {
            next_seq,
            sent_states,
            current,
            remote,
        } = snapshot;
        let (remote_num, remote_state) = remote;
        let mut conn = Self::new(
            Side::Client,
            config,
            key,
            Some(server),
            current.clone(),
            remote_state.clone(),
            now,
            rng,
        );
        let mindelay = conn
            .config
            .send_mindelay
            .as_millis()
            .min(u128::from(u32::MAX)) as u64;
        conn.sender = Sender::restore(sent_states, current, 0, mindelay, remote_num)
            .ok_or(SnapshotError::Empty)?;
        conn.receiver = Receiver::restore(remote_num, remote_state, 0);
        // The floor (from the wall clock) is above every number an earlier process of this
        // session used, also after the save; without a usable floor, skip a gap past what the
        // saving process may have sent after saving.
        let resumed = if seq_floor > next_seq {
            seq_floor
        } else {
            next_seq.saturating_add(RESUME_SEQ_GAP)
        };
        conn.codec.set_next_seq(resumed);
        Ok(conn)
    }

    /// Capture what a later process needs to resume this session.
    pub fn snapshot(&self) -> Snapshot<L, R> {
        let latest = self.receiver.latest();
        Snapshot {
            next_seq: self.codec.next_seq(),
            sent_states: self
                .sender
                .sent_states()
                .iter()
                .map(|s| (s.num, s.state.clone()))
                .collect(),
            current: self.sender.current().clone(),
            remote: (latest.num, latest.state.clone()),
        }
    }
}
