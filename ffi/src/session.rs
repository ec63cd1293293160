//! The client session for apps: [`MoshSession`] (a uniffi object; the C API wraps the same type)
//! and the one runtime thread that drives every session.
//!
//! Design: the sans-IO [`ClientSession`] lives behind a mutex shared by the API object and a task
//! on the runtime thread. The task runs moshkit-core's [`Driver`] over a small [`Endpoint`]
//! wrapper that locks the mutex per call (never across an await). API calls lock the mutex,
//! change the session, then wake the task through a [`Notify`]; the task `select!`s between that
//! wake-up and [`Driver::next_event`] and hands events to the [`SessionListener`].
//!
//! Cancelling `next_event` (when a wake-up wins the `select!`) is harmless: events already
//! taken from the session are kept in the driver's queue, a datagram that was received is
//! handled before the future yields, and the only awaits that could be interrupted are a UDP
//! `send_to` (which completes at once on a non-full socket; a lost datagram is retransmitted by
//! SSP anyway) and a rebind (retried at the next rebind).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use moshkit_core::connection::{self, Side, Transmit};
use moshkit_core::crypto::Key;
use moshkit_core::driver::{Driver, Endpoint, os_random};
use moshkit_core::session::{self as core_session, ClientConfig, ClientEvent, ClientSession};
use tokio::sync::Notify;

use crate::api::{MoshKitError, PredictionMode};
use crate::screen::ScreenUpdate;
use crate::scrollback::{self, ScrollbackLine, ScrollbackMode, ScrollbackRange};

/// How long `connect` waits for a host name to resolve.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Types seen by Kotlin / Swift (and converted for C)

/// Why a session ended (mirror of moshkit-core's `CloseReason`, plus local failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum CloseReason {
    /// We closed the session and the server acknowledged it.
    ShutdownAcknowledged,
    /// We closed the session; the server did not acknowledge in time (it may be gone).
    ShutdownUnacknowledged,
    /// The server ended the session (e.g. the remote shell exited).
    PeerShutdown,
    /// The server was silent for too long.
    TimedOut,
    /// The session key's safe volume is used up (start a new session).
    KeyExhausted,
    /// No UDP socket could be opened on this device.
    SocketError,
}

impl From<connection::CloseReason> for CloseReason {
    fn from(r: connection::CloseReason) -> Self {
        match r {
            connection::CloseReason::ShutdownAcknowledged => CloseReason::ShutdownAcknowledged,
            connection::CloseReason::ShutdownUnacknowledged => CloseReason::ShutdownUnacknowledged,
            connection::CloseReason::PeerShutdown => CloseReason::PeerShutdown,
            connection::CloseReason::TimedOut => CloseReason::TimedOut,
            connection::CloseReason::KeyExhausted => CloseReason::KeyExhausted,
        }
    }
}

/// The link as a UI should present it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ConnectionState {
    /// Nothing heard from the server yet.
    Connecting,
    /// The server answers.
    Connected,
    /// The server has been silent long enough to tell the user.
    Silent {
        /// Milliseconds since the server was last heard (at the time of the call or event).
        silent_ms: u64,
    },
    /// Our shutdown is in progress.
    Closing,
    /// The session is over.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

impl ConnectionState {
    fn from_core(s: core_session::ConnectionState, now: Instant) -> Self {
        match s {
            core_session::ConnectionState::Connecting => ConnectionState::Connecting,
            core_session::ConnectionState::Connected => ConnectionState::Connected,
            core_session::ConnectionState::Silent { since } => ConnectionState::Silent {
                silent_ms: millis(now.saturating_duration_since(since)),
            },
            core_session::ConnectionState::Closing => ConnectionState::Closing,
            core_session::ConnectionState::Closed(r) => {
                ConnectionState::Closed { reason: r.into() }
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Traffic and link figures.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct SessionStats {
    /// Smoothed round-trip time in milliseconds.
    pub srtt_ms: f64,
    /// Milliseconds since the server was last heard; `None` before it ever was.
    pub last_contact_ms: Option<u64>,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received.
    pub bytes_received: u64,
    /// Datagrams dropped as unauthentic or malformed.
    pub datagrams_dropped: u64,
}

/// Told about a session's events, on MoshKit's runtime thread (one thread for all sessions):
/// return quickly, and hop to the UI thread to draw. Calling back into the session (e.g.
/// `pull_changes` from `on_screen_changed`) is allowed.
#[uniffi::export(with_foreign)]
pub trait SessionListener: Send + Sync {
    /// The screen changed: call `pull_changes`. Coalesced: at most one such call is pending
    /// until the app pulls (`pull_changes` or `snapshot`).
    fn on_screen_changed(&self);
    /// The connection state changed.
    fn on_connection_state(&self, state: ConnectionState);
    /// The remote application rang the bell.
    fn on_bell(&self);
    /// The window title changed.
    fn on_title(&self, title: String);
    /// The remote application wrote to the clipboard (OSC 52).
    fn on_clipboard(&self, text: String);
    /// The session is over; no more calls follow.
    fn on_closed(&self, reason: CloseReason);
    /// A restored session is in step with the server again: typed input is sent from now on
    /// (about a second after `MoshSession.restore`). `server_had_newer_input`: the killed
    /// process had sent input after the state was saved; keys typed after the save that are
    /// not on the screen were lost with it, none is sent twice.
    fn on_resumed(&self, server_had_newer_input: bool);
    /// Scrollback lines arrived or were dropped: the scrollback now holds `first..end` (read
    /// them with `scrollback_lines`). Comes with the screen changes that scrolled lines off.
    fn on_scrollback_changed(&self, first: u64, end: u64);
    /// A `request_scrollback(from, to)` completed: every line of `from..to` that the server
    /// still had is here now (lines it no longer had are out of `scrollback_range`).
    fn on_scrollback_fetched(&self, from: u64, to: u64);
}

// ---------------------------------------------------------------------------------------------
// The runtime thread

static RUNTIME: OnceLock<Result<tokio::runtime::Handle, String>> = OnceLock::new();
static RUNTIME_THREAD: OnceLock<std::thread::ThreadId> = OnceLock::new();

fn on_runtime_thread() -> bool {
    RUNTIME_THREAD.get() == Some(&std::thread::current().id())
}

/// The runtime thread's handle, starting it on first use.
fn runtime() -> Result<tokio::runtime::Handle, MoshKitError> {
    RUNTIME
        .get_or_init(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot build the tokio runtime: {e}"))?;
            let handle = rt.handle().clone();
            let thread = std::thread::Builder::new()
                .name("moshkit-runtime".into())
                .spawn(move || rt.block_on(std::future::pending::<()>()))
                .map_err(|e| format!("cannot start the runtime thread: {e}"))?;
            let _ = RUNTIME_THREAD.set(thread.thread().id());
            log::debug!(target: "moshkit::ffi", "runtime thread started");
            Ok(handle)
        })
        .clone()
        .map_err(|reason| MoshKitError::Runtime { reason })
}

// ---------------------------------------------------------------------------------------------
// The session

struct Shared {
    session: Mutex<ClientSession>,
    listener: Arc<dyn SessionListener>,
    /// Held while the listener is called; `false` once the API object is gone, so that no
    /// callback starts after its release returned (C apps free the callbacks' context then).
    listener_gate: Mutex<bool>,
    /// Wakes the task: input to send, pause/resume, close, drop.
    wake: Notify,
    /// A `on_screen_changed` call is pending (not yet answered by a pull).
    screen_pending: AtomicBool,
    paused: AtomicBool,
    /// `disconnect` was called or the session ended: input calls fail with `Closed`.
    closed: AtomicBool,
    /// The API object is gone: the task ends.
    dropped: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ClientSession> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls the listener, containing a panic (e.g. an exception thrown by a foreign listener).
    fn tell(&self, what: &str, f: impl FnOnce(&dyn SessionListener)) {
        let alive = self
            .listener_gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !*alive || self.dropped.load(Ordering::Acquire) {
            return;
        }
        if catch_unwind(AssertUnwindSafe(|| f(&*self.listener))).is_err() {
            log::error!(target: "moshkit::ffi", "session listener failed in {what}");
        }
    }

    /// Hands one event to the listener; true when the session is over.
    fn dispatch(&self, event: ClientEvent) -> bool {
        log::trace!(target: "moshkit::ffi", "session event {event:?}");
        match event {
            ClientEvent::ScreenChanged => {
                if !self.screen_pending.swap(true, Ordering::AcqRel) {
                    self.tell("on_screen_changed", |l| l.on_screen_changed());
                }
            }
            ClientEvent::ConnectionState(s) => {
                let s = ConnectionState::from_core(s, Instant::now());
                self.tell("on_connection_state", |l| l.on_connection_state(s));
            }
            ClientEvent::Bell => self.tell("on_bell", |l| l.on_bell()),
            ClientEvent::Title(t) => self.tell("on_title", |l| l.on_title(t)),
            ClientEvent::Clipboard(c) => self.tell("on_clipboard", |l| l.on_clipboard(c)),
            ClientEvent::Rebind => {}
            ClientEvent::Resumed {
                server_had_newer_input,
            } => self.tell("on_resumed", |l| l.on_resumed(server_had_newer_input)),
            ClientEvent::ScrollbackChanged { first, end } => {
                self.tell("on_scrollback_changed", |l| {
                    l.on_scrollback_changed(first, end);
                })
            }
            ClientEvent::ScrollbackFetched { from, to } => {
                self.tell("on_scrollback_fetched", |l| {
                    l.on_scrollback_fetched(from, to)
                });
            }
            ClientEvent::Closed(r) => {
                self.finish(r.into());
                return true;
            }
        }
        false
    }

    fn finish(&self, reason: CloseReason) {
        self.closed.store(true, Ordering::Release);
        log::info!(target: "moshkit::ffi", "session closed: {reason:?}");
        self.tell("on_closed", |l| l.on_closed(reason));
    }
}

/// The driver's view of the shared session: every call locks for its own duration only.
struct SharedEndpoint(Arc<Shared>);

impl Endpoint for SharedEndpoint {
    type Event = ClientEvent;
    fn side(&self) -> Side {
        Side::Client
    }
    fn remote_address(&self) -> Option<SocketAddr> {
        Endpoint::remote_address(&*self.0.lock())
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        Endpoint::handle_datagram(&mut *self.0.lock(), now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Endpoint::handle_timeout(&mut *self.0.lock(), now);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        Endpoint::poll_transmit(&mut *self.0.lock(), now)
    }
    fn poll_event(&mut self) -> Option<ClientEvent> {
        Endpoint::poll_event(&mut *self.0.lock())
    }
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        Endpoint::poll_timeout(&mut *self.0.lock(), now)
    }
    fn send_failed(&mut self, now: Instant) {
        Endpoint::send_failed(&mut *self.0.lock(), now);
    }
    fn mtu_too_big(&mut self) {
        Endpoint::mtu_too_big(&mut *self.0.lock());
    }
    fn is_rebind(event: &ClientEvent) -> bool {
        <ClientSession as Endpoint>::is_rebind(event)
    }
    fn is_closed(event: &ClientEvent) -> bool {
        <ClientSession as Endpoint>::is_closed(event)
    }
}

/// The task of one session on the runtime thread.
async fn run(shared: Arc<Shared>) {
    let mut driver = match Driver::client(SharedEndpoint(Arc::clone(&shared))).await {
        Ok(d) => d,
        Err(e) => {
            log::error!(target: "moshkit::ffi", "session cannot start: {e}");
            shared.finish(CloseReason::SocketError);
            return;
        }
    };
    loop {
        if shared.dropped.load(Ordering::Acquire) {
            log::debug!(target: "moshkit::ffi", "session dropped: task ends");
            return;
        }
        if shared.paused.load(Ordering::Acquire) {
            // Backgrounded: no timers, no sending, no receiving until resume/close/drop.
            shared.wake.notified().await;
            continue;
        }
        tokio::select! {
            biased;
            () = shared.wake.notified() => {}
            event = driver.next_event() => match event {
                Ok(event) => {
                    if shared.dispatch(event) {
                        return;
                    }
                }
                Err(e) => {
                    log::debug!(target: "moshkit::ffi", "session task ends: {e}");
                    return;
                }
            },
        }
    }
}

/// `host` as an IP address (brackets allowed), `Ok(None)` for a syntactically valid host name,
/// or an error.
fn parse_host(host: &str) -> Result<Option<IpAddr>, MoshKitError> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(Some(ip));
    }
    let valid_name = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if valid_name {
        Ok(None)
    } else {
        Err(MoshKitError::InvalidAddress {
            reason: format!("{host:?} is neither an IP address nor a host name"),
        })
    }
}

/// The address to use among a name's addresses: IPv4 first (mosh-server's default binding).
fn pick(host: &str, addrs: &[SocketAddr]) -> Result<SocketAddr, MoshKitError> {
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| MoshKitError::ResolveFailed {
            reason: format!("{host} has no address"),
        })
}

/// Resolves `host` (an IP literal, or a name resolved with the system resolver on the calling
/// thread, bounded by [`RESOLVE_TIMEOUT`]).
fn resolve(host: &str, port: u16) -> Result<SocketAddr, MoshKitError> {
    if let Some(ip) = parse_host(host)? {
        return Ok(SocketAddr::new(ip, port));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("moshkit-resolve".into())
        .spawn(move || {
            let _ = tx.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>()),
            );
        })
        .map_err(|e| MoshKitError::ResolveFailed {
            reason: format!("cannot start the resolver thread: {e}"),
        })?;
    match rx.recv_timeout(RESOLVE_TIMEOUT) {
        Ok(Ok(addrs)) => pick(host, &addrs),
        Ok(Err(e)) => Err(MoshKitError::ResolveFailed {
            reason: format!("{host}: {e}"),
        }),
        Err(_) => Err(MoshKitError::ResolveFailed {
            reason: format!("{host}: no answer within {RESOLVE_TIMEOUT:?}"),
        }),
    }
}

/// Resolves a host name without blocking the caller (on MoshKit's runtime, bounded to 5 s) and
/// returns its address as text (IPv4 preferred), to pass to `MoshSession.connect`, which then
/// never blocks. An IP address is returned as is (normalised). Kotlin: a `suspend` function;
/// Swift: `async`.
#[uniffi::export]
pub async fn resolve_host(host: String) -> Result<String, MoshKitError> {
    if let Some(ip) = parse_host(&host)? {
        return Ok(ip.to_string());
    }
    let name = host.clone();
    let lookup = runtime()?.spawn(async move {
        tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name.as_str(), 0)))
            .await
            .map(|r| r.map(Iterator::collect::<Vec<_>>))
    });
    match lookup.await {
        Ok(Ok(Ok(addrs))) => Ok(pick(&host, &addrs)?.ip().to_string()),
        Ok(Ok(Err(e))) => Err(MoshKitError::ResolveFailed {
            reason: format!("{host}: {e}"),
        }),
        Ok(Err(_)) => Err(MoshKitError::ResolveFailed {
            reason: format!("{host}: no answer within {RESOLVE_TIMEOUT:?}"),
        }),
        Err(e) => Err(MoshKitError::ResolveFailed {
            reason: format!("{host}: resolver task failed: {e}"),
        }),
    }
}

/// A mosh client session. Create it with [`MoshSession::connect`]; it runs on MoshKit's runtime
/// thread, and every method returns at once (none waits for the network). Thread-safe.
#[derive(uniffi::Object)]
pub struct MoshSession {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MoshSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoshSession")
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .field("paused", &self.shared.paused.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for MoshSession {
    fn drop(&mut self) {
        self.shared.dropped.store(true, Ordering::Release);
        if !on_runtime_thread() {
            // Wait for a callback in progress; none starts afterwards. (On the runtime thread,
            // i.e. released from within a callback, the flag above is enough: callbacks only run
            // on that thread.)
            *self
                .shared
                .listener_gate
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = false;
        }
        self.shared.wake.notify_one();
    }
}

impl MoshSession {
    /// [`MoshSession::connect`] without the `Arc` (the C API stores the value itself).
    #[allow(clippy::too_many_arguments)] // the arguments of `connect`, one to one
    pub fn open(
        host: &str,
        port: u16,
        key: &str,
        cols: u16,
        rows: u16,
        prediction: PredictionMode,
        listener: Arc<dyn SessionListener>,
        scrollback_lines: u32,
    ) -> Result<MoshSession, MoshKitError> {
        let key = Key::parse(key)?;
        if port == 0 {
            return Err(MoshKitError::InvalidAddress {
                reason: "port 0".into(),
            });
        }
        if cols == 0 || rows == 0 {
            return Err(MoshKitError::InvalidSize {
                reason: format!("{cols}x{rows}: both must be at least 1"),
            });
        }
        let server = resolve(host, port)?;
        let config = ClientConfig {
            prediction: prediction.into(),
            scrollback_lines: usize::try_from(scrollback_lines).unwrap_or(usize::MAX),
            ..ClientConfig::default()
        };
        let session = ClientSession::new(
            &key,
            server,
            cols,
            rows,
            config,
            Instant::now(),
            os_random(),
        )
        .map_err(|e| MoshKitError::InvalidSize {
            reason: e.to_string(),
        })?;
        log::info!(target: "moshkit::ffi", "session to {server} ({cols}x{rows})");
        Self::start(session, listener)
    }

    /// [`MoshSession::restore`] without the `Arc` (the C API stores the value itself).
    pub fn open_saved(
        saved_state: &[u8],
        listener: Arc<dyn SessionListener>,
    ) -> Result<MoshSession, MoshKitError> {
        let wall_clock_micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let session =
            ClientSession::restore(saved_state, Instant::now(), wall_clock_micros, os_random())?;
        log::info!(target: "moshkit::ffi", "session restored ({} bytes)", saved_state.len());
        Self::start(session, listener)
    }

    fn start(
        session: ClientSession,
        listener: Arc<dyn SessionListener>,
    ) -> Result<MoshSession, MoshKitError> {
        let handle = runtime()?;
        let shared = Arc::new(Shared {
            session: Mutex::new(session),
            listener,
            listener_gate: Mutex::new(true),
            wake: Notify::new(),
            screen_pending: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
        });
        handle.spawn(run(Arc::clone(&shared)));
        Ok(MoshSession { shared })
    }

    fn input(&self, f: impl FnOnce(&mut ClientSession, Instant)) -> Result<(), MoshKitError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(MoshKitError::Closed);
        }
        f(&mut self.shared.lock(), Instant::now());
        self.shared.wake.notify_one();
        Ok(())
    }
}

#[uniffi::export]
impl MoshSession {
    /// Starts a session with the `mosh-server` that printed `MOSH CONNECT <port> <key>`.
    ///
    /// `host`: the server's IPv4/IPv6 address (e.g. the SSH connection's peer address; `[..]`
    /// brackets allowed) or a host name, resolved once here with the system resolver (this
    /// blocks for up to 5 s: pass an IP address, e.g. from `resolve_host`, to never block).
    /// `cols` × `rows`: the window
    /// size in cells. `scrollback_lines`: how many lines that scrolled off the top are kept
    /// (default 10 000; 0 turns scrollback off; at most 1 000 000). Returns at once; the
    /// listener hears about the connection.
    #[uniffi::constructor(default(scrollback_lines = 10000))]
    #[allow(clippy::too_many_arguments)] // uniffi constructors take no options struct here
    pub fn connect(
        host: String,
        port: u16,
        key: String,
        cols: u16,
        rows: u16,
        prediction: PredictionMode,
        listener: Arc<dyn SessionListener>,
        scrollback_lines: u32,
    ) -> Result<Arc<MoshSession>, MoshKitError> {
        Self::open(
            &host,
            port,
            &key,
            cols,
            rows,
            prediction,
            listener,
            scrollback_lines,
        )
        .map(Arc::new)
    }

    /// Rebuilds a session from [`MoshSession::save_state`]'s bytes after the app was killed: the
    /// same server, screen, window size and settings, as the same mosh session (the server
    /// still holds it). It shows the saved screen at once and contacts the server at once; the
    /// server follows the new address within a round trip, and input typed now is sent once
    /// the session has resynchronised (about a second). Keys typed after the last save that
    /// had not reached the server are lost, never sent twice.
    #[uniffi::constructor]
    pub fn restore(
        saved_state: Vec<u8>,
        listener: Arc<dyn SessionListener>,
    ) -> Result<Arc<MoshSession>, MoshKitError> {
        Self::open_saved(&saved_state, listener).map(Arc::new)
    }

    /// Everything needed to bring this session back after the app is killed, as opaque bytes
    /// for [`MoshSession::restore`]. They hold the session key: keep them in the Keychain /
    /// Android Keystore-encrypted storage, never in plain files or logs. Call it at least in
    /// `pause()`'s place (when the app goes to the background); it is cheap enough (tens of
    /// microseconds for 80×24) to call after every screen change.
    pub fn save_state(&self) -> Vec<u8> {
        self.shared.lock().save_state()
    }

    /// Sends keystrokes (raw terminal input, e.g. from `encode_key`, or UTF-8 text typed).
    pub fn send_input(&self, bytes: Vec<u8>) -> Result<(), MoshKitError> {
        self.input(|s, now| s.send_input(now, &bytes))
    }

    /// Pastes text (bracketed when the remote application asked for it; shown at once only at
    /// a confirmed prompt, as one line that fits, else not predicted).
    pub fn paste(&self, text: String) -> Result<(), MoshKitError> {
        self.input(|s, now| s.paste(now, &text))
    }

    /// The window changed size (in cells; both at least 1).
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), MoshKitError> {
        if cols == 0 || rows == 0 {
            return Err(MoshKitError::InvalidSize {
                reason: format!("{cols}x{rows}: both must be at least 1"),
            });
        }
        self.input(|s, now| s.resize(now, cols, rows))
    }

    /// The device's network changed (Wi-Fi ↔ cellular, new address): send from a fresh socket
    /// at once instead of waiting for the server's silence to be noticed.
    pub fn network_changed(&self) -> Result<(), MoshKitError> {
        self.input(|s, now| s.network_changed(now))
    }

    /// The app goes to the background: stop timers, sending and receiving (state is kept).
    pub fn pause(&self) -> Result<(), MoshKitError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(MoshKitError::Closed);
        }
        self.shared.lock().pause();
        self.shared.paused.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// The app is back: rebind at once (as `network_changed`) and resend.
    pub fn resume(&self) -> Result<(), MoshKitError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(MoshKitError::Closed);
        }
        if self.shared.paused.swap(false, Ordering::AcqRel) {
            self.shared.lock().resume(Instant::now());
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Starts the shutdown handshake; the listener's `on_closed` follows (within about 10 s even
    /// if the server is gone). Input calls fail with `Closed` from now on; the screen, state and
    /// stats can still be read. (In Kotlin, `close()` is the object's `AutoCloseable` release.)
    pub fn disconnect(&self) -> Result<(), MoshKitError> {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return Err(MoshKitError::Closed);
        }
        self.shared.paused.store(false, Ordering::Release);
        self.shared.lock().close(Instant::now());
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Whether `disconnect` was called or the session ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// The rows that changed since the previous pull (all of them the first time, `full`).
    pub fn pull_changes(&self) -> ScreenUpdate {
        self.shared.screen_pending.store(false, Ordering::Release);
        self.shared.lock().pull_changes(Instant::now()).into()
    }

    /// The whole screen now (does not affect what `pull_changes` reports).
    pub fn snapshot(&self) -> ScreenUpdate {
        self.shared.screen_pending.store(false, Ordering::Release);
        self.shared.lock().snapshot(Instant::now()).into()
    }

    /// Traffic and link figures.
    pub fn stats(&self) -> SessionStats {
        let s = self.shared.lock().stats();
        SessionStats {
            srtt_ms: s.srtt_ms,
            last_contact_ms: s.last_contact.map(|t| millis(t.elapsed())),
            datagrams_sent: s.datagrams_sent,
            datagrams_received: s.datagrams_received,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            datagrams_dropped: s.datagrams_dropped,
        }
    }

    /// The state of the link now.
    pub fn connection_state(&self) -> ConnectionState {
        let now = Instant::now();
        ConnectionState::from_core(self.shared.lock().connection_state(now), now)
    }

    /// The absolute numbers of the scrollback lines held, `first..end` (oldest first).
    pub fn scrollback_range(&self) -> ScrollbackRange {
        let r = self.shared.lock().scrollback().range();
        ScrollbackRange {
            first: r.start,
            end: r.end,
        }
    }

    /// Up to `count` scrollback lines from line `from` on (absolute numbers; only those held,
    /// so the result may be shorter or empty). `count` is capped at 10 000 per call.
    pub fn scrollback_lines(&self, from: u64, count: u32) -> Vec<ScrollbackLine> {
        scrollback::lines(self.shared.lock().scrollback(), from, count)
    }

    /// Where the scrollback comes from: `Captured` (any server, best effort), `Exact` (a
    /// MoshKit server's own, lines may be `missing` until requested) or `Off`.
    pub fn scrollback_mode(&self) -> ScrollbackMode {
        self.shared.lock().scrollback_mode().into()
    }

    /// Asks a MoshKit server for the `missing` lines of `from..to` (asynchronous: the
    /// listener's `on_scrollback_fetched(from, to)` follows, at once when none is missing).
    /// Fails with `ScrollbackNotServed` when the server keeps no scrollback (`Captured` or
    /// `Off` mode, e.g. upstream `mosh-server`), `InvalidRange` when `from >= to`, `Closed`
    /// after `disconnect`.
    pub fn request_scrollback(&self, from: u64, to: u64) -> Result<(), MoshKitError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(MoshKitError::Closed);
        }
        self.shared
            .lock()
            .request_scrollback(Instant::now(), from, to)?;
        self.shared.wake.notify_one();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            resolve("127.0.0.1", 60001),
            Ok(SocketAddr::from(([127, 0, 0, 1], 60001)))
        );
        assert_eq!(resolve("[::1]", 7).map(|a| a.is_ipv6()), Ok(true));
        assert_eq!(resolve("::1", 7).map(|a| a.port()), Ok(7));
        assert!(matches!(
            resolve("", 1),
            Err(MoshKitError::InvalidAddress { .. })
        ));
        assert!(matches!(
            resolve("bad host!", 1),
            Err(MoshKitError::InvalidAddress { .. })
        ));
        assert_eq!(resolve("localhost", 5).map(|a| a.port()), Ok(5));
        assert!(matches!(
            resolve("no-such-host.invalid", 1),
            Err(MoshKitError::ResolveFailed { .. })
        ));
    }

    #[test]
    fn resolve_host_off_the_caller_thread() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        rt.block_on(async {
            assert_eq!(
                resolve_host("localhost".into()).await,
                Ok("127.0.0.1".into())
            );
            assert_eq!(resolve_host("[::1]".into()).await, Ok("::1".into()));
            assert!(matches!(
                resolve_host("bad host!".into()).await,
                Err(MoshKitError::InvalidAddress { .. })
            ));
            assert!(matches!(
                resolve_host("no-such-host.invalid".into()).await,
                Err(MoshKitError::ResolveFailed { .. })
            ));
        });
    }

    #[test]
    fn attrs() {
        use crate::attrs::*;
        use moshkit_core::terminal::Attrs;
        assert_eq!(attr_bits(Attrs::empty()), 0);
        assert_eq!(attr_bits(Attrs::BOLD), MOSHKIT_ATTR_BOLD);
        assert_eq!(attr_bits(Attrs::STRIKEOUT), MOSHKIT_ATTR_STRIKEOUT);
        assert_eq!(attr_bits(Attrs::FAINT), MOSHKIT_ATTR_FAINT);
    }
}
