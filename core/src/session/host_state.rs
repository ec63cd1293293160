//! The host's synchronised state: the terminal plus the echo acknowledgement (upstream's
//! `Terminal::Complete`, reference §7.2–§7.3).

use prost::Message as _;

use crate::display::new_frame;
use crate::state::{StateError, SyncState};
use crate::terminal::{Framebuffer, Terminal, TerminalError};
use crate::wire::{HostInstruction, HostMessage};

/// Server → client state: a full terminal snapshot and the newest client state whose keystrokes
/// have had time to echo.
///
/// Equality compares the framebuffers and the echo ack (never the parser state); a diff is a
/// `HostMessage` with, in upstream's order, the echo ack, a resize and the frame differ's bytes.
#[derive(Debug, Clone)]
pub struct HostState {
    terminal: Terminal,
    echo_ack: u64,
}

impl PartialEq for HostState {
    fn eq(&self, other: &Self) -> bool {
        self.echo_ack == other.echo_ack
            && self.terminal.framebuffer() == other.terminal.framebuffer()
    }
}

impl HostState {
    /// A blank terminal of `cols` × `rows` (state 0 of a session).
    pub fn new(cols: usize, rows: usize) -> Result<Self, TerminalError> {
        Ok(HostState {
            terminal: Terminal::new(cols, rows)?,
            echo_ack: 0,
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
        for inst in msg.instruction {
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
