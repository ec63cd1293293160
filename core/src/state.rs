//! Synchronised state objects (reference §7): the trait the transport keeps in sync, the
//! client's [`UserStream`] and a byte-collecting host state, [`ByteHostState`].
//!
//! The transport never looks inside a state: it only compares states, asks for a diff between
//! two of them, applies a received diff and subtracts an acknowledged prefix. Both ends build
//! state number 0 independently; the caller passes it to the connection.

use std::fmt;

use prost::Message;

use crate::wire::{HostInstruction, HostMessage, UserInstruction, UserMessage, WireError};

/// Why a received diff could not be applied. The instruction carrying it is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The diff is not a valid encoding of the state's message type.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// Applying the diff would grow the state beyond its bound.
    #[error("diff would grow the state beyond {0} bytes")]
    TooLarge(usize),
    /// The diff resizes the terminal to an unusable size.
    #[error("diff resizes the terminal to {cols}x{rows}")]
    InvalidSize {
        /// Requested columns.
        cols: usize,
        /// Requested rows.
        rows: usize,
    },
}

impl From<prost::DecodeError> for StateError {
    fn from(e: prost::DecodeError) -> Self {
        StateError::Wire(WireError::Decode(e))
    }
}

/// A state kept in sync by SSP (upstream's `MyState` template parameter, §6.3, §7).
///
/// Equality must mean "the peer would see no difference": the sender uses it to decide whether
/// anything is left to send.
pub trait SyncState: Clone + PartialEq + fmt::Debug {
    /// The diff that turns `existing` (an older version of this state) into `self`. Empty when
    /// they are equal.
    fn diff_from(&self, existing: &Self) -> Vec<u8>;

    /// Apply a diff produced by [`SyncState::diff_from`] on the peer.
    fn apply_diff(&mut self, diff: &[u8]) -> Result<(), StateError>;

    /// Drop the part of the state that `acknowledged` (the oldest state the peer is known to hold)
    /// already contains. A no-op for snapshot-like states (upstream's terminal).
    fn subtract(&mut self, acknowledged: &Self);

    /// Whether `diff` rebuilds the whole state whatever it is applied to (a restored receiver
    /// may then take it although its base is unknown). The terminal's is: a diff with a size
    /// change clears and redraws the whole screen (§7.4 step 5).
    fn diff_is_self_contained(diff: &[u8]) -> bool {
        let _ = diff;
        false
    }
}

/// One event of the user's input (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserEvent {
    /// One raw byte typed by the user.
    Byte(u8),
    /// A window size change.
    Resize {
        /// Columns.
        width: i32,
        /// Rows.
        height: i32,
    },
    /// MoshKit extension: the client's capabilities (`wire::CAPABILITY_*`); upstream servers
    /// skip it.
    Hello {
        /// Capability bits.
        capabilities: u32,
    },
    /// MoshKit extension: a request for scrollback lines `[from, to)`.
    ScrollbackRequest {
        /// Request id (the reply carries it).
        id: u64,
        /// First line.
        from: u64,
        /// One past the last line.
        to: u64,
    },
}

/// The client's state: the not-yet-acknowledged keystrokes and resizes, in order (§7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserStream {
    events: Vec<UserEvent>,
}

impl UserStream {
    /// Upper bound on events held; further input is refused (see [`UserStream::push_bytes`]).
    pub const MAX_EVENTS: usize = 1 << 20;

    /// An empty stream (state 0 of every session).
    pub fn new() -> Self {
        Self::default()
    }

    /// Append typed bytes; returns how many were taken (fewer only when the bound is reached,
    /// i.e. the server has acknowledged nothing for a megabyte of input).
    pub fn push_bytes(&mut self, bytes: &[u8]) -> usize {
        let room = Self::MAX_EVENTS.saturating_sub(self.events.len());
        let n = bytes.len().min(room);
        self.events
            .extend(bytes[..n].iter().map(|&b| UserEvent::Byte(b)));
        n
    }

    /// Append a MoshKit extension event (a hello or a scrollback request).
    pub fn push_event(&mut self, event: UserEvent) {
        if self.events.len() < Self::MAX_EVENTS {
            self.events.push(event);
        }
    }

    /// Append a resize.
    pub fn push_resize(&mut self, width: i32, height: i32) {
        if self.events.len() < Self::MAX_EVENTS {
            self.events.push(UserEvent::Resize { width, height });
        }
    }

    /// The events held.
    pub fn events(&self) -> &[UserEvent] {
        &self.events
    }

    /// Number of events held.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no events are held.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn common_prefix(&self, other: &Self) -> usize {
        self.events
            .iter()
            .zip(&other.events)
            .take_while(|(a, b)| a == b)
            .count()
    }

    fn encode_events(events: &[UserEvent]) -> Vec<u8> {
        if events.is_empty() {
            return Vec::new();
        }
        let mut instruction = Vec::new();
        let mut run: Vec<u8> = Vec::new();
        for e in events {
            match *e {
                UserEvent::Byte(b) => run.push(b),
                other => {
                    if !run.is_empty() {
                        instruction.push(UserInstruction::keys(std::mem::take(&mut run)));
                    }
                    instruction.push(match other {
                        UserEvent::Resize { width, height } => {
                            UserInstruction::resize(width, height)
                        }
                        UserEvent::Hello { capabilities } => UserInstruction {
                            moshkit_hello: Some(crate::wire::MoshkitHello {
                                capabilities: Some(capabilities),
                            }),
                            ..Default::default()
                        },
                        UserEvent::ScrollbackRequest { id, from, to } => UserInstruction {
                            scrollback_request: Some(crate::wire::ScrollbackRequest {
                                id: Some(id),
                                from: Some(from),
                                to: Some(to),
                            }),
                            ..Default::default()
                        },
                        UserEvent::Byte(_) => continue,
                    });
                }
            }
        }
        if !run.is_empty() {
            instruction.push(UserInstruction::keys(run));
        }
        UserMessage { instruction }.encode_to_vec()
    }
}

impl SyncState for UserStream {
    fn diff_from(&self, existing: &Self) -> Vec<u8> {
        // `existing` is a prefix by construction (both were subtracted by the same
        // acknowledged state); if not, send everything after the common part.
        let start = self.common_prefix(existing);
        Self::encode_events(&self.events[start..])
    }

    fn apply_diff(&mut self, diff: &[u8]) -> Result<(), StateError> {
        if diff.is_empty() {
            return Ok(());
        }
        let msg = UserMessage::decode(diff)?;
        let mut added = Vec::new();
        for inst in msg.instruction {
            if let Some(keys) = inst.keystroke.and_then(|k| k.keys) {
                added.extend(keys.into_iter().map(UserEvent::Byte));
            }
            if let Some(r) = inst.resize {
                added.push(UserEvent::Resize {
                    width: r.width.unwrap_or(0),
                    height: r.height.unwrap_or(0),
                });
            }
            if let Some(h) = inst.moshkit_hello {
                added.push(UserEvent::Hello {
                    capabilities: h.capabilities.unwrap_or(0),
                });
            }
            if let Some(r) = inst.scrollback_request {
                added.push(UserEvent::ScrollbackRequest {
                    id: r.id.unwrap_or(0),
                    from: r.from.unwrap_or(0),
                    to: r.to.unwrap_or(0),
                });
            }
        }
        if self.events.len() + added.len() > Self::MAX_EVENTS {
            return Err(StateError::TooLarge(Self::MAX_EVENTS));
        }
        self.events.extend(added);
        Ok(())
    }

    fn subtract(&mut self, acknowledged: &Self) {
        let n = self.common_prefix(acknowledged);
        self.events.drain(..n);
    }
}

/// A minimal host (server → client) state: everything the host printed, its size and the echo
/// acknowledgement (§7.2, §7.3), without a terminal emulator.
///
/// It stands in for the terminal state so the transport can be built and tested on its own, and
/// lets a client collect the raw host bytes an upstream server sends. `diff_from` sends the
/// bytes printed since `existing` (a prefix of this one by construction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteHostState {
    output: Vec<u8>,
    width: i32,
    height: i32,
    echo_ack: u64,
}

impl ByteHostState {
    /// Upper bound on collected output bytes; a diff that would exceed it is refused.
    pub const MAX_OUTPUT: usize = 16 << 20;

    /// An empty host state of the given size.
    pub fn new(width: i32, height: i32) -> Self {
        ByteHostState {
            output: Vec::new(),
            width,
            height,
            echo_ack: 0,
        }
    }

    /// Append host output (silently truncated at [`ByteHostState::MAX_OUTPUT`]).
    pub fn push_output(&mut self, bytes: &[u8]) {
        let room = Self::MAX_OUTPUT.saturating_sub(self.output.len());
        self.output
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Everything printed so far.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// The terminal size (width, height).
    pub fn size(&self) -> (i32, i32) {
        (self.width, self.height)
    }

    /// Change the size.
    pub fn resize(&mut self, width: i32, height: i32) {
        self.width = width;
        self.height = height;
    }

    /// The newest client state number whose keystrokes have had time to echo.
    pub fn echo_ack(&self) -> u64 {
        self.echo_ack
    }

    /// Set the echo acknowledgement.
    pub fn set_echo_ack(&mut self, num: u64) {
        self.echo_ack = num;
    }
}

impl SyncState for ByteHostState {
    fn diff_from(&self, existing: &Self) -> Vec<u8> {
        let mut instruction = Vec::new();
        // Upstream's order: echo ack, resize, host bytes (§7.2).
        if self.echo_ack != existing.echo_ack {
            instruction.push(HostInstruction::echo_ack(self.echo_ack));
        }
        if (self.width, self.height) != (existing.width, existing.height) {
            instruction.push(HostInstruction::resize(self.width, self.height));
        }
        if self.output != existing.output {
            let suffix = if self.output.starts_with(&existing.output) {
                &self.output[existing.output.len()..]
            } else {
                &self.output[..]
            };
            instruction.push(HostInstruction::bytes(suffix.to_vec()));
        }
        if instruction.is_empty() {
            return Vec::new();
        }
        HostMessage { instruction }.encode_to_vec()
    }

    fn apply_diff(&mut self, diff: &[u8]) -> Result<(), StateError> {
        if diff.is_empty() {
            return Ok(());
        }
        let msg = HostMessage::decode(diff)?;
        let mut next = self.clone();
        for inst in msg.instruction {
            if let Some(bytes) = inst.hostbytes.and_then(|h| h.hoststring) {
                if next.output.len() + bytes.len() > Self::MAX_OUTPUT {
                    return Err(StateError::TooLarge(Self::MAX_OUTPUT));
                }
                next.output.extend_from_slice(&bytes);
            }
            if let Some(r) = inst.resize {
                next.width = r.width.unwrap_or(0);
                next.height = r.height.unwrap_or(0);
            }
            if let Some(n) = inst.echoack.and_then(|e| e.echo_ack_num) {
                // The echo ack never decreases (§7.2).
                next.echo_ack = next.echo_ack.max(n);
            }
        }
        *self = next;
        Ok(())
    }

    fn subtract(&mut self, _acknowledged: &Self) {}
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn user_stream_diff_matches_reference_encoding() {
        let mut s = UserStream::new();
        s.push_bytes(b"ls\r");
        s.push_resize(100, 40);
        assert_eq!(
            hex::encode(s.diff_from(&UserStream::new())),
            "0a07120522036c730d0a061a0428643028"
        );
        assert!(s.diff_from(&s).is_empty());
    }

    #[test]
    fn user_stream_apply_and_subtract() {
        let mut a = UserStream::new();
        a.push_resize(80, 24);
        let one = a.clone();
        a.push_bytes(b"echo hi\r");
        let mut b = one.clone();
        b.apply_diff(&a.diff_from(&one)).unwrap();
        assert_eq!(a, b);
        a.subtract(&one);
        assert_eq!(a.len(), 8);
        assert_eq!(a.events()[0], UserEvent::Byte(b'e'));
        let mut c = a.clone();
        c.subtract(&a);
        assert!(c.is_empty());
        assert!(b.apply_diff(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn host_state_diff_order_and_apply() {
        let base = ByteHostState::new(80, 24);
        let mut s = base.clone();
        s.set_echo_ack(1);
        s.push_output(b"\x1b[?25l\n# \x1b[?25h");
        assert_eq!(
            hex::encode(s.diff_from(&base)),
            "0a043a0240010a131211220f1b5b3f32356c0a23201b5b3f323568"
        );
        let mut c = base.clone();
        c.apply_diff(&s.diff_from(&base)).unwrap();
        assert_eq!(c, s);
        s.resize(100, 30);
        s.push_output(b"x");
        let mut d = c.clone();
        d.apply_diff(&s.diff_from(&c)).unwrap();
        assert_eq!(d, s);
        assert_eq!(d.output(), b"\x1b[?25l\n# \x1b[?25hx");
    }
}
