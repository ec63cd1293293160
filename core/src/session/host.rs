//! The host (server) side of a session: the application's terminal, served over SSP
//! (reference §7.1–§7.3, §10).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::connection::{CloseReason, Config, Connection, Event, Side, Stats, Transmit};
use crate::crypto::Key;
use crate::scrollback::{DEFAULT_SCROLLBACK_LINES, Scrollback};
use crate::state::{SyncState as _, UserEvent, UserStream};
use crate::terminal::TerminalError;
use crate::transport::RandomSource;

use super::HostState;
use super::host_state::{PUSH_MAX_LINES, REPLY_MAX_BYTES, REPLY_MAX_LINES, Reply};

/// Keystrokes count as echoed this long after they reached the host (`ECHO_TIMEOUT`, §7.3).
pub const ECHO_TIMEOUT: Duration = Duration::from_millis(50);
/// Largest pty read upstream processes at once.
pub const PTY_READ_SIZE: usize = 16384;

/// Something the program running the host session must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// The first client state arrived: start the application (upstream writes `\n` into the
    /// pty to release the child, §2.6).
    FirstContact,
    /// The client is now reached at this address (first contact or roaming).
    ClientAddress(SocketAddr),
    /// The client has been silent for 40 s; nothing is sent until it is heard again.
    ClientDetached,
    /// Set the pty's window size (columns, rows).
    Resize(u16, u16),
    /// Bytes for the application are waiting: write [`HostSession::take_pty_input`] into
    /// the pty. (Once per batch: it comes again only after the bytes were taken.)
    PtyInput,
    /// The session is over; drain [`HostSession::poll_transmit`] once more and exit.
    Closed(CloseReason),
}

/// The host side of a mosh session, sans-IO: feed it datagrams and the application's output;
/// take datagrams, bytes for the application, pty resizes and events out.
///
/// Polling follows [`Connection`]'s rules: after each input call, drain
/// [`HostSession::poll_event`], [`HostSession::take_pty_input`] and
/// [`HostSession::poll_transmit`], then sleep until [`HostSession::poll_timeout`].
#[derive(Debug)]
pub struct HostSession {
    conn: Connection<HostState, UserStream>,
    /// (client state number, arrival time) of keystroke-carrying states (§7.3).
    input_history: VecDeque<(u64, Instant)>,
    pty_input: Vec<u8>,
    events: VecDeque<HostEvent>,
    /// A [`HostEvent::PtyInput`] is queued or was delivered and the bytes not yet taken.
    input_announced: bool,
    contacted: bool,
    last_client_state: Instant,
    /// The lines that scrolled off the application's terminal (served to MoshKit clients).
    scrollback: Scrollback,
    /// How many times the application erased its scrollback (ED 3).
    scrollback_epoch: u64,
    /// When the state's scrollback header last caught up with the ring.
    header_synced: Instant,
}

/// During fast output the client learns how many lines exist at most this often (each update
/// costs bytes, and no line is pushed then anyway).
pub(crate) const SCROLLBACK_HEADER_INTERVAL: Duration = Duration::from_millis(250);

impl HostSession {
    /// A host session whose terminal is `cols` × `rows` (the application's initial pty size).
    pub fn new(
        key: &Key,
        cols: u16,
        rows: u16,
        config: Config,
        now: Instant,
        rng: Box<dyn RandomSource>,
    ) -> Result<Self, TerminalError> {
        let mut local = HostState::new(usize::from(cols), usize::from(rows))?;
        local.terminal_mut().set_scrollback_capture(true);
        // The client's view starts from the same blank terminal; a size difference is healed
        // by the resize it sends first.
        let conn = Connection::new(
            Side::Server,
            config,
            key,
            None,
            local,
            UserStream::new(),
            now,
            rng,
        );
        Ok(HostSession {
            conn,
            input_history: VecDeque::new(),
            pty_input: Vec::new(),
            events: VecDeque::new(),
            input_announced: false,
            contacted: false,
            last_client_state: now,
            scrollback: Scrollback::new(DEFAULT_SCROLLBACK_LINES),
            scrollback_epoch: 0,
            header_synced: now,
        })
    }

    /// Keep at most `lines` lines of scrollback (default
    /// [`DEFAULT_SCROLLBACK_LINES`]); 0 keeps none.
    pub fn set_scrollback_lines(&mut self, now: Instant, lines: usize) {
        let mut ring = Scrollback::new(lines);
        ring.clear_to(self.scrollback.end());
        for i in self.scrollback.range() {
            if let Some(line) = self.scrollback.stored(i) {
                ring.push(line.clone());
            }
        }
        self.scrollback = ring;
        let (ring, epoch) = (&self.scrollback, self.scrollback_epoch);
        self.conn.modify_local(now, |s| {
            // With no lines kept, nothing is captured at all.
            s.terminal_mut().set_scrollback_capture(lines > 0);
            s.scrollback.follow(ring, epoch);
        });
    }

    /// The lines that scrolled off the application's terminal.
    pub fn scrollback(&self) -> &Scrollback {
        &self.scrollback
    }

    /// The application's screen.
    pub fn state(&self) -> &HostState {
        self.conn.local_state()
    }

    /// The underlying connection (statistics, addresses).
    pub fn connection(&self) -> &Connection<HostState, UserStream> {
        &self.conn
    }

    /// A send failed with `EMSGSIZE` (the driver's call): use the conservative MTU.
    pub fn mtu_too_big(&mut self) {
        self.conn.mtu_too_big();
    }

    /// Whether the shutdown handshake is under way.
    pub fn shutdown_in_progress(&self) -> bool {
        self.conn.shutdown_in_progress()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.conn.stats()
    }

    /// When the newest client state arrived (for idle timeouts).
    pub fn last_client_state(&self) -> Instant {
        self.last_client_state
    }

    /// A datagram arrived.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.conn.handle_datagram(now, from, datagram);
        self.pump_events(now);
        self.update_echo_ack(now);
    }

    /// The application wrote `bytes` to its terminal.
    pub fn host_output(&mut self, now: Instant, bytes: &[u8]) {
        let mut replies = Vec::new();
        let mut captured = Default::default();
        self.conn.modify_local(now, |s| {
            let t = s.terminal_mut();
            t.feed(bytes);
            replies = t.take_replies();
            captured = t.take_scrolled_off();
        });
        let captured: crate::terminal::ScrollCapture = captured;
        if captured.cleared {
            self.scrollback.clear();
            self.scrollback_epoch += 1;
        }
        let end = self.scrollback.end() + captured.dropped;
        self.scrollback.extend_missing(end);
        for line in captured.lines {
            self.scrollback.push(line);
        }
        self.sync_scrollback(now, captured.cleared);
        self.queue_pty_input(&replies);
        self.update_echo_ack(now);
    }

    /// Brings the state's scrollback header up to the ring: at once when few lines are new
    /// (they are pushed with the next diff) or the scrollback was erased (`urgent`), else at
    /// most every [`SCROLLBACK_HEADER_INTERVAL`], so fast output costs no extra bytes.
    fn sync_scrollback(&mut self, now: Instant, urgent: bool) {
        let state = &self.conn.local_state().scrollback;
        if !state.enabled {
            return;
        }
        let behind = self.scrollback.end().saturating_sub(state.end);
        let changed = behind > 0
            || state.epoch != self.scrollback_epoch
            || state.first != self.scrollback.range().start;
        if !changed {
            return;
        }
        if urgent
            || behind <= PUSH_MAX_LINES as u64
            || now >= self.header_synced + SCROLLBACK_HEADER_INTERVAL
        {
            let (ring, epoch) = (&self.scrollback, self.scrollback_epoch);
            self.conn
                .modify_local(now, |s| s.scrollback.follow(ring, epoch));
            self.header_synced = now;
        }
    }

    /// When a lagging scrollback header must catch up.
    fn scrollback_deadline(&self) -> Option<Instant> {
        let state = &self.conn.local_state().scrollback;
        (state.enabled && state.end != self.scrollback.end())
            .then_some(self.header_synced + SCROLLBACK_HEADER_INTERVAL)
    }

    fn queue_pty_input(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.pty_input.extend_from_slice(bytes);
        if !self.input_announced {
            self.input_announced = true;
            self.events.push_back(HostEvent::PtyInput);
        }
    }

    /// A deadline from [`HostSession::poll_timeout`] was reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sync_scrollback(now, false);
        self.update_echo_ack(now);
        self.conn.handle_timeout(now);
        self.pump_events(now);
    }

    /// Start the shutdown handshake (the application exited, or a signal asked to stop).
    /// Without a client address there is no one to tell: closes at once.
    pub fn close(&mut self, now: Instant) {
        if self.conn.remote_address().is_none() {
            self.events
                .push_back(HostEvent::Closed(CloseReason::ShutdownUnacknowledged));
            return;
        }
        self.conn.close(now);
        self.pump_events(now);
    }

    /// Bytes to write to the application (translated keystrokes and query answers).
    pub fn take_pty_input(&mut self) -> Vec<u8> {
        self.input_announced = false;
        std::mem::take(&mut self.pty_input)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let t = self.conn.poll_transmit(now);
        self.pump_events(now);
        t
    }

    /// When [`HostSession::handle_timeout`] must next be called (`now`: see
    /// [`Connection::poll_timeout`]).
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        let conn = self.conn.poll_timeout(now);
        // The second entry's echo window closes next (the first is the current echo ack).
        let echo = self.input_history.get(1).map(|&(_, t)| t + ECHO_TIMEOUT);
        [conn, echo, self.scrollback_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn pump_events(&mut self, now: Instant) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::RemoteStateChanged { num } => self.client_state(now, num),
                Event::PeerAddressChanged { addr } => {
                    self.events.push_back(HostEvent::ClientAddress(addr));
                }
                Event::PeerDetached => self.events.push_back(HostEvent::ClientDetached),
                Event::Closed(reason) => self.events.push_back(HostEvent::Closed(reason)),
                Event::Rebind
                | Event::PeerShutdownRequested
                | Event::RemoteStateUnknown
                | Event::Resynchronised { .. } => {}
            }
        }
    }

    /// A new client state: apply its new events to the application (§7.1).
    fn client_state(&mut self, now: Instant, num: u64) {
        self.last_client_state = now;
        if !self.contacted {
            self.contacted = true;
            self.events.push_back(HostEvent::FirstContact);
        }
        let diff = self.conn.take_remote_diff();
        let mut events = UserStream::new();
        if events.apply_diff(&diff).is_err() {
            return;
        }
        if events.is_empty() {
            return;
        }
        let list = events.events();
        let mut keys = Vec::new();
        for (i, e) in list.iter().enumerate() {
            match *e {
                UserEvent::Byte(b) => keys.push(b),
                UserEvent::Hello { capabilities } => {
                    let on = capabilities & crate::wire::CAPABILITY_SCROLLBACK != 0;
                    let (ring, epoch) = (&self.scrollback, self.scrollback_epoch);
                    self.conn.modify_local(now, |s| {
                        s.scrollback.enabled = on;
                        s.scrollback.follow(ring, epoch);
                    });
                }
                UserEvent::ScrollbackRequest { id, from, to } => {
                    let reply = self.reply(id, from, to);
                    self.conn
                        .modify_local(now, |s| s.scrollback.reply = Some(reply.into()));
                }
                UserEvent::Resize { width, height } => {
                    // Only the last of a run of resizes counts.
                    if matches!(list.get(i + 1), Some(UserEvent::Resize { .. })) {
                        continue;
                    }
                    self.flush_keys(now, &mut keys);
                    self.resize(now, width, height);
                }
            }
        }
        self.flush_keys(now, &mut keys);
        self.input_history.push_back((num, now));
    }

    /// The reply to a scrollback request: as many of the lines `[from, to)` as fit in one
    /// reply, from the first the server still has.
    fn reply(&self, id: u64, from: u64, to: u64) -> Reply {
        let ring = &self.scrollback;
        let start = from.max(ring.range().start).min(ring.end());
        let stop = to.min(ring.end()).max(start);
        let mut lines = Vec::new();
        let mut bytes = 0;
        for i in start..stop {
            let Some(line) = ring.stored(i) else { break };
            bytes += line.heap_bytes() + 8;
            if lines.len() >= REPLY_MAX_LINES || (bytes > REPLY_MAX_BYTES && !lines.is_empty()) {
                break;
            }
            lines.push(line.clone());
        }
        Reply {
            id,
            from: start,
            to: start + lines.len() as u64,
            lines,
        }
    }

    fn flush_keys(&mut self, now: Instant, keys: &mut Vec<u8>) {
        if keys.is_empty() {
            return;
        }
        let mut out = Vec::new();
        self.conn.modify_local(now, |s| {
            out = s.terminal_mut().translate_user_input(keys);
        });
        self.queue_pty_input(&out);
        keys.clear();
    }

    fn resize(&mut self, now: Instant, width: i32, height: i32) {
        let (Ok(cols), Ok(rows)) = (u16::try_from(width), u16::try_from(height)) else {
            return;
        };
        let mut ok = false;
        self.conn.modify_local(now, |s| {
            ok = s
                .terminal_mut()
                .resize(usize::from(cols), usize::from(rows))
                .is_ok();
        });
        if ok {
            self.events.push_back(HostEvent::Resize(cols, rows));
        }
    }

    /// §7.3: the newest client state whose keystrokes have had [`ECHO_TIMEOUT`] to echo.
    fn update_echo_ack(&mut self, now: Instant) {
        let mut newest = None;
        for &(num, t) in &self.input_history {
            if t + ECHO_TIMEOUT <= now {
                newest = Some(num);
            }
        }
        let Some(newest) = newest else {
            return;
        };
        while self.input_history.front().is_some_and(|&(n, _)| n < newest) {
            self.input_history.pop_front();
        }
        if self.conn.local_state().echo_ack() != newest {
            self.conn.modify_local(now, |s| s.set_echo_ack(newest));
        }
    }
}
