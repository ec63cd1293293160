//! The sans-IO SSP endpoint: one side of a mosh session, from datagrams to synchronised states.
//!
//! A [`Connection`] owns the packet codec, the fragment layer and the transport's sender and
//! receiver. It never touches a socket or a clock: the caller feeds it datagrams and the current
//! [`Instant`] and takes datagrams, a deadline and [`Event`]s out, as quinn-proto does for QUIC.
//!
//! # Polling rules
//!
//! After anything that may change the connection (a received datagram via
//! [`Connection::handle_datagram`], a deadline reached via [`Connection::handle_timeout`], a local
//! state change via [`Connection::modify_local`], [`Connection::network_changed`] or
//! [`Connection::close`]):
//!
//! 1. call [`Connection::poll_event`] until it returns `None` and act on each event (an
//!    [`Event::Rebind`] must take effect before the next datagram is sent);
//! 2. call [`Connection::poll_transmit`] with the current time until it returns `None`, and send
//!    each datagram to its [`Transmit::destination`] (the client from its newest socket); since
//!    sending may raise new events, repeat 1–2 until both are empty;
//! 3. call [`Connection::poll_timeout`] and wait until that instant or the next datagram,
//!    whichever comes first; at the deadline call [`Connection::handle_timeout`] and go to 1.
//!    `poll_timeout` may return an instant that has already passed: handle it at once.
//!
//! Times passed in must not go backwards (an earlier `now` is treated as the latest seen).
//! After [`Event::Closed`], drain `poll_transmit` once more (the final acknowledgement may be
//! queued) and drop the connection.

mod snapshot;

pub use snapshot::{RESUME_SEQ_GAP, Snapshot, SnapshotError};

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::crypto::{Direction, Key};
use crate::fragment::{DEFAULT_MTU, Fragment, FragmentAssembly, Fragmenter, IPV4_MTU, IPV6_MTU};
use crate::packet::PacketCodec;
use crate::state::SyncState;
use crate::transport::receiver::{Outcome, Receiver};
use crate::transport::sender::Sender;
use crate::transport::{
    CLIENT_SEND_MINDELAY_MS, NEVER, RandomSource, SERVER_SEND_MINDELAY_MS, SHUTDOWN_NUM, Timing,
};

/// The server forgets a client it has not heard from for this long (`SERVER_ASSOCIATION_TIMEOUT`,
/// §4.6).
pub const SERVER_ASSOCIATION_TIMEOUT_MS: u64 = 40_000;
/// The client moves to a new source port after this long without a round trip
/// (`PORT_HOP_INTERVAL`, §4.7).
pub const PORT_HOP_INTERVAL_MS: u64 = 10_000;
/// Upper bound on client sockets kept open for receiving (`MAX_PORTS_OPEN`, §4.7).
pub const MAX_PORTS_OPEN: usize = 10;
/// Once the newest client socket is this old, older ones are closed (`MAX_OLD_SOCKET_AGE`, §4.7).
pub const MAX_OLD_SOCKET_AGE_MS: u64 = 60_000;
/// The client gives up if nothing authentic arrives this long after start (stmclient.cc, §11).
pub const CLIENT_CONNECT_TIMEOUT_MS: u64 = 15_000;
/// The server exits if no client contacts it this long after start (mosh-server.cc, §11).
pub const SERVER_CONNECT_TIMEOUT_MS: u64 = 60_000;

/// Which end of the session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Sends user input, receives the host state; has a fixed server address.
    Client,
    /// Sends the host state; follows the client's address (roaming).
    Server,
}

/// Tunables; the defaults are upstream's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Collection delay before a changed state is sent (`SEND_MINDELAY`).
    pub send_mindelay: Duration,
    /// Close with [`CloseReason::TimedOut`] if nothing authentic arrives this long after start.
    pub connect_timeout: Option<Duration>,
    /// Close with [`CloseReason::TimedOut`] after this long without hearing from the peer once
    /// connected (upstream server: `MOSH_SERVER_NETWORK_TMOUT`, unset by default).
    pub network_timeout: Option<Duration>,
}

impl Config {
    /// Upstream client defaults: 1 ms collection delay, 15 s connect timeout.
    pub fn client() -> Self {
        Config {
            send_mindelay: Duration::from_millis(CLIENT_SEND_MINDELAY_MS),
            connect_timeout: Some(Duration::from_millis(CLIENT_CONNECT_TIMEOUT_MS)),
            network_timeout: None,
        }
    }

    /// Upstream server defaults: 8 ms collection delay, 60 s wait for a first client.
    pub fn server() -> Self {
        Config {
            send_mindelay: Duration::from_millis(SERVER_SEND_MINDELAY_MS),
            connect_timeout: Some(Duration::from_millis(SERVER_CONNECT_TIMEOUT_MS)),
            network_timeout: None,
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The UDP payload.
    pub contents: Vec<u8>,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// We started the shutdown and the peer acknowledged it.
    ShutdownAcknowledged,
    /// We started the shutdown and gave up after 16 tries or 10 s (§6.6).
    ShutdownUnacknowledged,
    /// The peer shut down and we sent the acknowledgement.
    PeerShutdown,
    /// The connect or network timeout of [`Config`] expired.
    TimedOut,
    /// The nonce sequence space or the key's volume bound is exhausted.
    KeyExhausted,
}

/// Something the application should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A newer remote state arrived; read it with [`Connection::remote_state`].
    RemoteStateChanged {
        /// Its number.
        num: u64,
    },
    /// Server: the client is now reached at this address (first contact or roaming).
    PeerAddressChanged {
        /// The new address.
        addr: SocketAddr,
    },
    /// Server: the client has been silent for 40 s; the server stops sending until it hears
    /// from it again.
    PeerDetached,
    /// Client: open a fresh socket (new source port) and send from it from now on; keep the
    /// older ones receiving (see [`MAX_PORTS_OPEN`], [`MAX_OLD_SOCKET_AGE_MS`]).
    Rebind,
    /// A restored client: the peer diffs from a state we never had (the killed process
    /// acknowledged it after the save). Ask for a self-contained update (a client session
    /// resizes, which makes the host redraw everything).
    RemoteStateUnknown,
    /// A restored client is in step with the peer again and sends input from now on.
    /// `peer_had_newer_input`: the peer held input of ours newer than the saved state (the
    /// killed process sent it after the save).
    Resynchronised {
        /// See above.
        peer_had_newer_input: bool,
    },
    /// The peer asked to shut down; an acknowledgement is being sent.
    PeerShutdownRequested,
    /// The session is over.
    Closed(CloseReason),
}

/// Counters of what was received and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to [`Connection::handle_datagram`].
    pub datagrams_received: u64,
    /// Datagrams that failed authentication, direction or length checks.
    pub dropped_unauthentic: u64,
    /// Authentic datagrams whose fragment or instruction was malformed.
    pub dropped_malformed: u64,
    /// Authentic datagrams older than the newest seen (processed, but they cannot roam).
    pub out_of_order: u64,
    /// Instructions ignored as duplicates or with an unknown base state.
    pub instructions_ignored: u64,
    /// Datagrams produced.
    pub datagrams_sent: u64,
    /// Client: rebinds requested (silence or [`Connection::network_changed`]).
    pub rebinds: u64,
}

/// Progress of the local states (see [`Connection::progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Number of the newest local state sent.
    pub newest_sent: u64,
    /// Number of the newest local state the peer acknowledged.
    pub newest_acked: u64,
    /// When that acknowledged state was (last) sent.
    pub acked_state_sent_at: Instant,
    /// When the newest remote state was received.
    pub remote_received_at: Instant,
    /// The frame interval: `ceil(SRTT/2)` clamped to 20..250 ms.
    pub send_interval: Duration,
}

/// One end of a mosh session (see the module docs for the polling rules).
pub struct Connection<L, R> {
    side: Side,
    config: Config,
    epoch: Instant,
    now: u64,
    codec: PacketCodec,
    fragmenter: Fragmenter,
    assembly: FragmentAssembly,
    sender: Sender<L>,
    receiver: Receiver<R>,
    remote: Option<SocketAddr>,
    mtu: usize,
    /// Packet level: last in-order authentic datagram (ms).
    last_heard: Option<u64>,
    last_port_choice: u64,
    last_roundtrip_success: u64,
    peer_shutdown_seen: bool,
    stale_reported: bool,
    closed: Option<CloseReason>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    rng: Box<dyn RandomSource>,
    stats: Stats,
}

impl<L, R> std::fmt::Debug for Connection<L, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("side", &self.side)
            .field("remote", &self.remote)
            .field("closed", &self.closed)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn mtu_for(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => IPV4_MTU,
        SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some() => IPV4_MTU,
        SocketAddr::V6(_) => IPV6_MTU,
    }
}

impl<L: SyncState, R: SyncState> Connection<L, R> {
    /// A client talking to `server`. `local` and `remote` are both sides' state 0.
    pub fn client(
        key: &Key,
        server: SocketAddr,
        local: L,
        remote: R,
        now: Instant,
        rng: Box<dyn RandomSource>,
    ) -> Self {
        Self::new(
            Side::Client,
            Config::client(),
            key,
            Some(server),
            local,
            remote,
            now,
            rng,
        )
    }

    /// A server waiting for its client's first datagram.
    pub fn server(
        key: &Key,
        local: L,
        remote: R,
        now: Instant,
        rng: Box<dyn RandomSource>,
    ) -> Self {
        Self::new(
            Side::Server,
            Config::server(),
            key,
            None,
            local,
            remote,
            now,
            rng,
        )
    }

    /// A connection with explicit configuration.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        side: Side,
        config: Config,
        key: &Key,
        remote_addr: Option<SocketAddr>,
        local: L,
        remote: R,
        now: Instant,
        rng: Box<dyn RandomSource>,
    ) -> Self {
        let direction = match side {
            Side::Client => Direction::ToServer,
            Side::Server => Direction::ToClient,
        };
        let mindelay = config.send_mindelay.as_millis().min(u128::from(u32::MAX)) as u64;
        Connection {
            side,
            config,
            epoch: now,
            now: 0,
            codec: PacketCodec::new(key, direction),
            fragmenter: Fragmenter::new(),
            assembly: FragmentAssembly::new(),
            sender: Sender::new(local, 0, mindelay),
            receiver: Receiver::new(remote, 0),
            mtu: remote_addr.as_ref().map_or(DEFAULT_MTU, mtu_for),
            remote: remote_addr,
            last_heard: None,
            last_port_choice: 0,
            last_roundtrip_success: 0,
            peer_shutdown_seen: false,
            stale_reported: false,
            closed: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rng,
            stats: Stats::default(),
        }
    }

    fn update_now(&mut self, now: Instant) -> u64 {
        let ms = now.saturating_duration_since(self.epoch).as_millis();
        self.now = self.now.max(u64::try_from(ms).unwrap_or(u64::MAX));
        self.now
    }

    fn instant(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    fn timing(&self) -> Timing {
        Timing::from_rtt(self.codec.rtt())
    }

    /// Which end this is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Where datagrams go: the server's address (client) or the client's latest address
    /// (server; `None` before first contact and while detached).
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// The current local state.
    pub fn local_state(&self) -> &L {
        self.sender.current()
    }

    /// Change the local state in place (e.g. push keystrokes). Returns `false`, changing
    /// nothing, once shutdown has started or the connection is closed.
    pub fn modify_local(&mut self, now: Instant, f: impl FnOnce(&mut L)) -> bool {
        self.update_now(now);
        self.closed.is_none() && self.sender.modify_current(f)
    }

    /// Replace the local state; see [`Connection::modify_local`].
    pub fn set_local(&mut self, now: Instant, state: L) -> bool {
        self.modify_local(now, |s| *s = state)
    }

    /// The newest remote state and its number.
    pub fn remote_state(&self) -> (u64, &R) {
        let r = self.receiver.latest();
        (r.num, &r.state)
    }

    /// Upstream's `get_remote_diff`: the remote changes since the previous call, as a diff
    /// (a server uses it to extract only new user input).
    pub fn take_remote_diff(&mut self) -> Vec<u8> {
        self.receiver.take_remote_diff()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Smoothed RTT in ms.
    pub fn srtt_ms(&self) -> f64 {
        self.codec.rtt().srtt_ms()
    }

    /// Lengths of the sent-state and received-state queues (both bounded).
    pub fn queue_lengths(&self) -> (usize, usize) {
        (
            self.sender.sent_states().len(),
            self.receiver.states().len(),
        )
    }

    /// Bytes held in partly reassembled instructions (bounded by
    /// `fragment::MAX_BUFFERED_BYTES`).
    pub fn buffered_fragment_bytes(&self) -> usize {
        self.assembly.buffered_bytes()
    }

    /// When the peer was last heard from (authentic, in-order datagram).
    pub fn last_heard(&self) -> Option<Instant> {
        self.last_heard.map(|t| self.instant(t))
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Start the shutdown handshake (§6.6). Progress is reported by [`Event::Closed`].
    pub fn close(&mut self, now: Instant) {
        let now = self.update_now(now);
        if self.closed.is_none() {
            self.sender.start_shutdown(now);
        }
    }

    /// The device's network changed (the app got a connectivity callback). Client: ask the
    /// driver to rebind at once ([`Event::Rebind`]) and send immediately from the new socket,
    /// without assuming anything sent before arrived. Server: a no-op.
    pub fn network_changed(&mut self, now: Instant) {
        let now = self.update_now(now);
        if self.side != Side::Client || self.closed.is_some() {
            return;
        }
        self.request_rebind(now);
        self.sender.network_changed(now);
    }

    /// The driver could not send on its socket (e.g. the address vanished): same as
    /// [`Connection::network_changed`].
    pub fn send_failed(&mut self, now: Instant) {
        self.network_changed(now);
    }

    /// A send failed with EMSGSIZE: fall back to the conservative MTU (§4.4).
    pub fn mtu_too_big(&mut self) {
        self.mtu = DEFAULT_MTU;
    }

    fn request_rebind(&mut self, now: u64) {
        self.last_port_choice = now;
        self.stats.rebinds += 1;
        self.events.push_back(Event::Rebind);
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.closed.is_none() {
            self.closed = Some(reason);
            self.events.push_back(Event::Closed(reason));
        }
    }

    /// Process one datagram received at `now` from `from`. Bad datagrams are dropped and
    /// counted in [`Stats`]; nothing here fails.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let now = self.update_now(now);
        self.stats.datagrams_received += 1;
        if self.closed.is_some() {
            return;
        }
        let received = match self.codec.open(now, datagram, false) {
            Ok(r) => r,
            Err(e) => {
                log::debug!("dropping datagram from {from}: {e}");
                self.stats.dropped_unauthentic += 1;
                return;
            }
        };
        if received.in_order {
            self.last_heard = Some(now);
            // Only the server roams, and only on an authentic datagram newer than any seen
            // (§4.6): replays and reordered packets cannot move the association.
            if self.side == Side::Server && self.remote != Some(from) {
                log::info!("server now attached to client at {from}");
                self.remote = Some(from);
                self.mtu = mtu_for(&from);
                self.events
                    .push_back(Event::PeerAddressChanged { addr: from });
            }
        } else {
            self.stats.out_of_order += 1;
        }
        let fragment = match Fragment::decode(&received.payload) {
            Ok(f) => f,
            Err(e) => {
                log::debug!("dropping fragment: {e}");
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        let inst = match self.assembly.add(fragment) {
            Ok(Some(inst)) => inst,
            Ok(None) => return,
            Err(e) => {
                log::debug!("dropping fragment: {e}");
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        let outcome = self.receiver.process(now, &inst, &mut self.sender);
        // Every received instruction proves the path up to the newest acknowledged state.
        self.last_roundtrip_success = self.sender.front_timestamp();
        match outcome {
            Ok(Outcome::NewLatest(num)) => {
                self.events.push_back(Event::RemoteStateChanged { num });
                if num == SHUTDOWN_NUM && !self.peer_shutdown_seen {
                    self.peer_shutdown_seen = true;
                    self.events.push_back(Event::PeerShutdownRequested);
                }
            }
            Ok(Outcome::OutOfOrder(_)) => {}
            Ok(Outcome::UnknownBase)
                if self.side == Side::Server
                    && inst.new_num == Some(crate::transport::PROBE_NUM) =>
            {
                // A restored client's probe: answer soon (within ACK_DELAY), so that it learns
                // our newest state of its own without waiting for a heartbeat (MoshKit's
                // server; upstream's answers at its next send or heartbeat, within 3 s).
                self.sender.pending_data_ack = true;
            }
            Ok(Outcome::UnknownBase) if self.receiver.resyncing() => {
                self.stats.instructions_ignored += 1;
                if !self.stale_reported {
                    self.stale_reported = true;
                    self.events.push_back(Event::RemoteStateUnknown);
                }
            }
            Ok(_) => self.stats.instructions_ignored += 1,
            Err(e) => {
                log::debug!("dropping instruction: {e}");
                self.stats.dropped_malformed += 1;
            }
        }
        if self.sender.shutdown_in_progress() && self.sender.shutdown_acknowledged() {
            self.close_with(CloseReason::ShutdownAcknowledged);
        }
    }

    /// Let timers fire at `now` (the deadline from [`Connection::poll_timeout`] was reached).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.update_now(now);
        self.tick(now);
    }

    fn check_timeouts(&mut self, now: u64) {
        match self.last_heard {
            None => {
                if self
                    .config
                    .connect_timeout
                    .is_some_and(|t| now >= t.as_millis() as u64)
                {
                    self.close_with(CloseReason::TimedOut);
                }
            }
            Some(heard) => {
                if self
                    .config
                    .network_timeout
                    .is_some_and(|t| now.saturating_sub(heard) >= t.as_millis() as u64)
                {
                    self.close_with(CloseReason::TimedOut);
                }
            }
        }
        if self.sender.shutdown_in_progress() && self.sender.shutdown_ack_timed_out(now) {
            self.close_with(CloseReason::ShutdownUnacknowledged);
        }
    }

    /// A restored sender that resolved its resync reports it once.
    fn note_resync(&mut self) {
        if let Some(newer) = self.sender.take_resync_outcome() {
            self.events.push_back(Event::Resynchronised {
                peer_had_newer_input: newer,
            });
        }
    }

    fn tick(&mut self, now: u64) {
        if self.closed.is_some() {
            return;
        }
        self.check_timeouts(now);
        if self.closed.is_some() {
            return;
        }
        let Some(dest) = self.remote else {
            return;
        };
        let timing = self.timing();
        let inst = self.sender.tick(now, timing, &mut *self.rng);
        self.note_resync();
        let Some(inst) = inst else {
            return;
        };
        for fragment in self.fragmenter.make_fragments(&inst, self.mtu) {
            match self.codec.seal(now, fragment.encode()) {
                Ok(contents) => {
                    self.stats.datagrams_sent += 1;
                    self.transmits.push_back(Transmit {
                        destination: dest,
                        contents,
                    });
                }
                Err(e) => {
                    log::warn!("cannot seal: {e}");
                    self.close_with(CloseReason::KeyExhausted);
                    return;
                }
            }
        }
        // "After each send" checks (§4.6, §4.7, §6.6).
        if inst.ack_num == Some(SHUTDOWN_NUM) {
            self.close_with(CloseReason::PeerShutdown);
            return;
        }
        if self.sender.shutdown_ack_timed_out(now) {
            self.close_with(CloseReason::ShutdownUnacknowledged);
            return;
        }
        match self.side {
            Side::Server => {
                if self
                    .last_heard
                    .is_some_and(|heard| now.saturating_sub(heard) > SERVER_ASSOCIATION_TIMEOUT_MS)
                {
                    log::info!("server now detached from client");
                    self.remote = None;
                    self.events.push_back(Event::PeerDetached);
                }
            }
            Side::Client => {
                if now.saturating_sub(self.last_port_choice) > PORT_HOP_INTERVAL_MS
                    && now.saturating_sub(self.last_roundtrip_success) > PORT_HOP_INTERVAL_MS
                {
                    self.request_rebind(now);
                }
            }
        }
    }

    /// The next datagram to send, if any (runs due timers first).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.transmits.is_empty() {
            let now = self.update_now(now);
            self.tick(now);
        }
        self.transmits.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] must next be called; `None` once closed, or when
    /// only a datagram can wake the connection.
    ///
    /// `now` is the caller's current time. Every endpoint takes it (the same `poll_*` shape for
    /// [`Connection`], the client and the host session): the client's prediction and
    /// notification timers are relative to it. The connection's own deadlines are absolute.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        let _ = now;
        if self.closed.is_some() {
            return None;
        }
        let now = self.now;
        let mut next = NEVER;
        if self.remote.is_some() {
            let timing = self.timing();
            next = next.min(self.sender.next_wakeup(now, timing));
            self.note_resync();
        }
        match self.last_heard {
            None => {
                if let Some(t) = self.config.connect_timeout {
                    next = next.min(t.as_millis() as u64);
                }
            }
            Some(heard) => {
                if let Some(t) = self.config.network_timeout {
                    next = next.min(heard.saturating_add(t.as_millis() as u64));
                }
            }
        }
        if let Some(d) = self.sender.shutdown_deadline() {
            next = next.min(d);
        }
        (next != NEVER).then(|| self.instant(next.max(now)))
    }

    /// Whether our shutdown handshake has started.
    pub fn shutdown_in_progress(&self) -> bool {
        self.sender.shutdown_in_progress()
    }

    /// How far our own states have got, and the RTT-derived send interval: what a client's
    /// overlays (prediction, notification bar) need each frame.
    pub fn progress(&self) -> Progress {
        let sent = self.sender.sent_states();
        let (front, back) = (sent.front(), sent.back());
        Progress {
            newest_sent: back.map_or(0, |s| s.num),
            newest_acked: front.map_or(0, |s| s.num),
            acked_state_sent_at: self.instant(front.map_or(0, |s| s.timestamp)),
            remote_received_at: self.instant(self.receiver.latest().timestamp),
            send_interval: Duration::from_millis(self.timing().send_interval_ms),
        }
    }

    /// The next packet sequence number (persist it, and resume above it: a nonce must never be
    /// reused).
    pub fn next_seq(&self) -> u64 {
        self.codec.next_seq()
    }
}
