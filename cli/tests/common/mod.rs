//! Shared test helpers: a plaintext host session and a `/bin/sh` child spec.
#![allow(dead_code)]

pub mod server;
pub mod tmux;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moshkit_cli::pty::{ChildSpec, ReleaseMode};
use moshkit_cli::server::serve::ServedSession;
use moshkit_core::connection::{CloseReason, Side, Transmit};
use moshkit_core::driver::Endpoint;
use moshkit_core::session::HostEvent;

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
/// whose bytes are keystrokes (`!RESIZE c r` resizes, `!BYE` is the client quitting);
/// pty output is sent back verbatim to the last sender. It speaks the driver's [`Endpoint`]
/// with the core's [`HostEvent`]s, as the real session does.
pub struct PlainHost {
    created: Instant,
    remote: Option<SocketAddr>,
    last_state: Option<Instant>,
    to_pty: Vec<u8>,
    outbox: Vec<Vec<u8>>,
    events: VecDeque<HostEvent>,
    shutting_down: bool,
    closed: bool,
}

impl Default for PlainHost {
    fn default() -> Self {
        PlainHost {
            created: Instant::now(),
            remote: None,
            last_state: None,
            to_pty: Vec::new(),
            outbox: Vec::new(),
            events: VecDeque::new(),
            shutting_down: false,
            closed: false,
        }
    }
}

impl PlainHost {
    fn close_with(&mut self, reason: CloseReason) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(HostEvent::Closed(reason));
        }
    }
}

impl Endpoint for PlainHost {
    type Event = HostEvent;
    fn side(&self) -> Side {
        Side::Server
    }
    fn remote_address(&self) -> Option<SocketAddr> {
        self.remote
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.remote = Some(from);
        if self.last_state.is_none() {
            self.events.push_back(HostEvent::FirstContact);
        }
        self.last_state = Some(now);
        let text = String::from_utf8_lossy(datagram);
        if let Some(rest) = text.strip_prefix("!RESIZE ") {
            let mut it = rest
                .split_whitespace()
                .filter_map(|w| w.parse::<u16>().ok());
            if let (Some(cols), Some(rows)) = (it.next(), it.next()) {
                self.events.push_back(HostEvent::Resize(cols, rows));
            }
        } else if text == "!BYE" {
            self.close_with(CloseReason::PeerShutdown);
        } else if text == "!ACK" {
            if self.shutting_down {
                self.close_with(CloseReason::ShutdownAcknowledged);
            }
        } else {
            self.to_pty.extend_from_slice(datagram);
            self.events.push_back(HostEvent::PtyInput);
        }
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        let destination = self.remote?;
        if self.outbox.is_empty() {
            return None;
        }
        Some(Transmit {
            destination,
            contents: self.outbox.remove(0),
        })
    }
    fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        Some(now + Duration::from_millis(50))
    }
    fn send_failed(&mut self, _now: Instant) {}
    fn mtu_too_big(&mut self) {}
    fn is_rebind(_: &HostEvent) -> bool {
        false
    }
    fn is_closed(event: &HostEvent) -> bool {
        matches!(event, HostEvent::Closed(_))
    }
}

impl ServedSession for PlainHost {
    fn host_output(&mut self, _now: Instant, bytes: &[u8]) {
        self.outbox.push(bytes.to_vec());
    }
    fn take_pty_input(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_pty)
    }
    fn last_client_state(&self) -> Instant {
        self.last_state.unwrap_or(self.created)
    }
    fn close(&mut self, _now: Instant) {
        self.shutting_down = true;
        self.outbox.push(b"!SHUTDOWN".to_vec());
    }
    fn shutdown_in_progress(&self) -> bool {
        self.shutting_down
    }
}
