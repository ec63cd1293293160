//! Shared test helpers: a plaintext host session and a `/bin/sh` child spec.
#![allow(dead_code)]

pub mod tmux;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moshkit_cli::pty::{ChildSpec, ReleaseMode, WindowSize};
use moshkit_cli::server::serve::HostSession;

pub fn sh_spec(release: ReleaseMode) -> ChildSpec {
    ChildSpec {
        program: "/bin/sh".into(),
        argv: vec!["sh".into()],
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("TERM".into(), "xterm".into()),
            ("PS1".into(), "$ ".into()),
        ],
        cwd: Some("/".into()),
        banner: Vec::new(),
        release,
    }
}

/// A plaintext stand-in for the protocol host session: each datagram is a "client state"
/// whose bytes are keystrokes (`!RESIZE c r` resizes, `!BYE` starts the client's shutdown);
/// pty output is sent back verbatim to the last sender.
#[derive(Default)]
pub struct PlainHost {
    remote: Option<SocketAddr>,
    last_state: Option<Instant>,
    to_pty: Vec<u8>,
    outbox: Vec<Vec<u8>>,
    resize: Option<WindowSize>,
    shutting_down: bool,
    finished: bool,
}

impl HostSession for PlainHost {
    fn receive(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        self.remote = Some(from);
        self.last_state = Some(now);
        let text = String::from_utf8_lossy(datagram);
        if let Some(rest) = text.strip_prefix("!RESIZE ") {
            let mut it = rest
                .split_whitespace()
                .filter_map(|w| w.parse::<u16>().ok());
            if let (Some(cols), Some(rows)) = (it.next(), it.next()) {
                self.resize = Some(WindowSize { cols, rows });
            }
        } else if text == "!BYE" {
            self.finished = true;
        } else if text == "!ACK" {
            if self.shutting_down {
                self.finished = true;
            }
        } else {
            self.to_pty.extend_from_slice(datagram);
        }
        true
    }
    fn host_output(&mut self, _now: Instant, bytes: &[u8]) {
        self.outbox.push(bytes.to_vec());
    }
    fn take_pty_input(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_pty)
    }
    fn take_resize(&mut self) -> Option<WindowSize> {
        self.resize.take()
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        let to = self.remote?;
        if self.outbox.is_empty() {
            return None;
        }
        Some((to, self.outbox.remove(0)))
    }
    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        Some(now + Duration::from_millis(50))
    }
    fn last_client_state(&self) -> Option<Instant> {
        self.last_state
    }
    fn has_remote(&self) -> bool {
        self.remote.is_some()
    }
    fn start_shutdown(&mut self, _now: Instant) {
        self.shutting_down = true;
        self.outbox.push(b"!SHUTDOWN".to_vec());
    }
    fn shutdown_in_progress(&self) -> bool {
        self.shutting_down
    }
    fn finished(&self, _now: Instant) -> bool {
        self.finished
    }
}
