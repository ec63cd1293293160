//! The host's synchronised state: the terminal plus the echo acknowledgement (upstream's
//! `Terminal::Complete`, reference §7.2–§7.3).

use std::sync::Arc;

use prost::Message as _;

use crate::display::new_frame;
use crate::scrollback::{Scrollback, StoredLine};
use crate::state::{StateError, SyncState};
use crate::terminal::{Framebuffer, Terminal, TerminalError};
use crate::wire::{HostInstruction, HostMessage, ScrollbackUpdate};

/// Most lines a diff pushes without a request: when more scrolled off since the state the
/// client holds, none are pushed (the client asks for what it wants), so fast output costs no
/// extra bandwidth.
pub(crate) const PUSH_MAX_LINES: usize = 256;
/// Most lines one reply carries.
pub(crate) const REPLY_MAX_LINES: usize = 2048;
/// Most bytes of line data one reply carries (about four datagrams once compressed).
pub(crate) const REPLY_MAX_BYTES: usize = 12 * 1024;

/// The answer to one scrollback request: lines `[from, from + lines.len())`; the request's
/// lines before `from` are gone from the server; `to` is one past the last line answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Reply {
    pub(crate) id: u64,
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) lines: Vec<StoredLine>,
}

/// The scrollback part of the host state (MoshKit peers only; see `docs/scrollback.md`).
///
/// It says which lines exist (`first..end`, and the erase count `epoch`), carries the newest
/// few lines so that a diff can push them, and the reply to the client's latest request.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScrollbackSync {
    /// The client asked for scrollback (server), or the server sends it (client).
    pub(crate) enabled: bool,
    pub(crate) first: u64,
    pub(crate) end: u64,
    pub(crate) epoch: u64,
    /// Server: the newest lines, ending at `end`.
    pub(crate) tail: Arc<[StoredLine]>,
    pub(crate) reply: Option<Arc<Reply>>,
    /// Client: the lines pushed by the diff applied last, with their numbers.
    pub(crate) incoming: Arc<[(u64, StoredLine)]>,
}

impl PartialEq for ScrollbackSync {
    fn eq(&self, other: &Self) -> bool {
        // Without a client that asked for it, nothing of this is sent: it must not make the
        // sender think there is something to send.
        if !self.enabled && !other.enabled {
            return true;
        }
        self.enabled == other.enabled
            && self.first == other.first
            && self.end == other.end
            && self.epoch == other.epoch
            && self.reply.as_ref().map(|r| r.id) == other.reply.as_ref().map(|r| r.id)
    }
}

impl ScrollbackSync {
    /// The update that turns `existing` into `self`, if they differ.
    fn update_from(&self, existing: &Self) -> Option<ScrollbackUpdate> {
        if !self.enabled || self == existing {
            return None;
        }
        let mut update = ScrollbackUpdate {
            first: Some(self.first),
            end: Some(self.end),
            epoch: Some(self.epoch),
            ..Default::default()
        };
        let known_end = if existing.enabled && existing.epoch == self.epoch {
            existing.end
        } else {
            self.first
        };
        let new_lines = self.end.saturating_sub(known_end);
        if new_lines > 0
            && new_lines <= PUSH_MAX_LINES as u64
            && new_lines <= self.tail.len() as u64
        {
            let skip = self.tail.len() - new_lines as usize;
            update.pushed_from = Some(known_end);
            update.pushed = self.tail[skip..].iter().map(StoredLine::to_wire).collect();
        }
        let old_reply = existing.reply.as_ref().map(|r| r.id);
        if let Some(reply) = self.reply.as_ref().filter(|r| Some(r.id) != old_reply) {
            update.reply_id = Some(reply.id);
            update.reply_from = Some(reply.from);
            update.reply_to = Some(reply.to);
            update.reply = reply.lines.iter().map(StoredLine::to_wire).collect();
        }
        Some(update)
    }

    fn apply(&mut self, u: &ScrollbackUpdate) {
        self.enabled = true;
        self.first = u.first.unwrap_or(0);
        self.end = u.end.unwrap_or(0).max(self.first);
        self.epoch = u.epoch.unwrap_or(0);
        let decode = |w| match StoredLine::from_wire(w) {
            Ok(l) => Some(l),
            Err(e) => {
                log::debug!("dropping a scrollback line: {e}");
                None
            }
        };
        if let Some(from) = u.pushed_from {
            self.incoming = u
                .pushed
                .iter()
                .take(PUSH_MAX_LINES)
                .zip(from..)
                .filter_map(|(w, i)| decode(w).map(|l| (i, l)))
                .collect();
        }
        if let Some(id) = u.reply_id {
            let from = u.reply_from.unwrap_or(0);
            let lines: Vec<StoredLine> = u
                .reply
                .iter()
                .take(REPLY_MAX_LINES)
                .map(|w| decode(w).unwrap_or_else(StoredLine::blank))
                .collect();
            let to = u.reply_to.unwrap_or(0).max(from + lines.len() as u64);
            self.reply = Some(Arc::new(Reply {
                id,
                from,
                to,
                lines,
            }));
        }
    }

    /// Server: the header and tail after `ring` changed.
    pub(crate) fn follow(&mut self, ring: &Scrollback, epoch: u64) {
        let range = ring.range();
        self.first = range.start;
        self.end = range.end;
        self.epoch = epoch;
        let from = range
            .end
            .saturating_sub(PUSH_MAX_LINES as u64)
            .max(range.start);
        self.tail = (from..range.end)
            .filter_map(|i| ring.stored(i).cloned())
            .collect();
    }
}

/// Server → client state: a full terminal snapshot and the newest client state whose keystrokes
/// have had time to echo.
///
/// Equality compares the framebuffers and the echo ack (never the parser state); a diff is a
/// `HostMessage` with, in upstream's order, the echo ack, a resize and the frame differ's bytes.
#[derive(Debug, Clone)]
pub struct HostState {
    terminal: Terminal,
    echo_ack: u64,
    pub(crate) scrollback: ScrollbackSync,
}

impl PartialEq for HostState {
    fn eq(&self, other: &Self) -> bool {
        self.echo_ack == other.echo_ack
            && self.scrollback == other.scrollback
            && self.terminal.framebuffer() == other.terminal.framebuffer()
    }
}

impl HostState {
    /// A blank terminal of `cols` × `rows` (state 0 of a session).
    pub fn new(cols: usize, rows: usize) -> Result<Self, TerminalError> {
        Ok(HostState {
            terminal: Terminal::new(cols, rows)?,
            echo_ack: 0,
            scrollback: ScrollbackSync::default(),
        })
    }

    /// The screen.
    pub fn framebuffer(&self) -> &Framebuffer {
        self.terminal.framebuffer()
    }

    /// The emulator (server side: the application's terminal).
    pub fn terminal(&self) -> &Terminal {
        &self.terminal
    }

    /// Mutable access to the emulator.
    pub fn terminal_mut(&mut self) -> &mut Terminal {
        &mut self.terminal
    }

    /// The echo acknowledgement.
    pub fn echo_ack(&self) -> u64 {
        self.echo_ack
    }

    /// Set the echo acknowledgement.
    pub fn set_echo_ack(&mut self, num: u64) {
        self.echo_ack = num;
    }
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl SyncState for HostState {
    fn diff_from(&self, existing: &Self) -> Vec<u8> {
        let mut instruction = Vec::new();
        if self.echo_ack != existing.echo_ack {
            instruction.push(HostInstruction::echo_ack(self.echo_ack));
        }
        let (old, new) = (existing.framebuffer(), self.framebuffer());
        if old != new {
            let resized = old.width() != new.width() || old.height() != new.height();
            if resized {
                instruction.push(HostInstruction::resize(
                    to_i32(new.width()),
                    to_i32(new.height()),
                ));
            }
            let bytes = new_frame(!resized, old, new);
            if !bytes.is_empty() {
                instruction.push(HostInstruction::bytes(bytes));
            }
        }
        if let Some(update) = self.scrollback.update_from(&existing.scrollback) {
            instruction.push(HostInstruction {
                scrollback: Some(update),
                ..Default::default()
            });
        }
        if instruction.is_empty() {
            return Vec::new();
        }
        HostMessage { instruction }.encode_to_vec()
    }

    fn diff_is_self_contained(diff: &[u8]) -> bool {
        HostMessage::decode(diff).is_ok_and(|m| m.instruction.iter().any(|i| i.resize.is_some()))
    }

    fn apply_diff(&mut self, diff: &[u8]) -> Result<(), StateError> {
        if diff.is_empty() {
            return Ok(());
        }
        let msg = HostMessage::decode(diff)?;
        self.scrollback.incoming = Arc::new([]);
        for inst in msg.instruction {
            if let Some(u) = &inst.scrollback {
                self.scrollback.apply(u);
            }
            if let Some(bytes) = inst.hostbytes.and_then(|h| h.hoststring) {
                self.terminal.feed(&bytes);
                // A replica never answers queries: the host's own emulator already did.
                self.terminal.take_replies();
            }
            if let Some(r) = inst.resize {
                let cols = usize::try_from(r.width.unwrap_or(0)).unwrap_or(0);
                let rows = usize::try_from(r.height.unwrap_or(0)).unwrap_or(0);
                self.terminal
                    .resize(cols, rows)
                    .map_err(|_| StateError::InvalidSize { cols, rows })?;
            }
            if let Some(n) = inst.echoack.and_then(|e| e.echo_ack_num) {
                self.echo_ack = self.echo_ack.max(n);
            }
        }
        // States compare equal regardless of a partially received sequence.
        self.terminal.reset_input();
        Ok(())
    }

    fn subtract(&mut self, _acknowledged: &Self) {}
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn diff_reproduces_the_host_screen_and_echo_ack() {
        let base = HostState::new(20, 5).unwrap();
        let mut host = base.clone();
        host.terminal_mut().feed(b"\x1b[1;32mhello\x1b[0m\r\nworld");
        host.set_echo_ack(7);
        let diff = host.diff_from(&base);
        let mut client = base.clone();
        client.apply_diff(&diff).unwrap();
        assert_eq!(client, host);
        assert_eq!(client.framebuffer().row_text(0), "hello");
        assert_eq!(client.echo_ack(), 7);
        assert!(host.diff_from(&host.clone()).is_empty());
    }

    #[test]
    fn resize_travels_first() {
        let base = HostState::new(20, 5).unwrap();
        let mut host = base.clone();
        host.terminal_mut().resize(30, 8).unwrap();
        host.terminal_mut().feed(b"wide");
        let diff = host.diff_from(&base);
        let msg = HostMessage::decode(&*diff).unwrap();
        assert!(msg.instruction[0].resize.is_some());
        let mut client = base.clone();
        client.apply_diff(&diff).unwrap();
        assert_eq!(client, host);
        assert_eq!(client.framebuffer().width(), 30);
    }

    #[test]
    fn echo_ack_never_decreases_and_bad_diffs_are_errors() {
        let mut s = HostState::new(10, 3).unwrap();
        s.apply_diff(
            &HostMessage {
                instruction: vec![HostInstruction::echo_ack(5)],
            }
            .encode_to_vec(),
        )
        .unwrap();
        s.apply_diff(
            &HostMessage {
                instruction: vec![HostInstruction::echo_ack(2)],
            }
            .encode_to_vec(),
        )
        .unwrap();
        assert_eq!(s.echo_ack(), 5);
        assert!(s.apply_diff(&[0x0a, 0xff]).is_err());
        let zero = HostMessage {
            instruction: vec![HostInstruction::resize(0, 24)],
        }
        .encode_to_vec();
        assert!(s.apply_diff(&zero).is_err());
    }
}
