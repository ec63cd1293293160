//! The server's main loop (reference §10.1) around a host session on the core's [`Driver`].
//!
//! The driver owns the UDP socket and the protocol timers (the 60 s wait for a first client is
//! the core's [`moshkit_core::connection::SERVER_CONNECT_TIMEOUT_MS`]); this loop, on a
//! one-thread tokio runtime, adds only what is the server's own: the pty (releasing the child
//! on the first client state, reads and writes, window size changes, child exit on EOF/EIO),
//! SIGTERM/SIGINT/SIGUSR1 semantics and `MOSH_SERVER_NETWORK_TMOUT`. The session is anything
//! that is a driver [`Endpoint`] with [`HostEvent`]s and the few host calls of
//! [`ServedSession`]: the core's [`moshkit_core::session::HostSession`] in the server, a
//! plaintext fake in tests.

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use moshkit_core::connection::CloseReason;
use moshkit_core::driver::{Driver, DriverError, Endpoint};
use moshkit_core::session::{HostEvent, HostSession};
use thiserror::Error;

use super::ServerConfig;
use crate::pty::{PtyChild, PtyError, PtyMaster, PtyRead, WindowSize};
use crate::readiness::Readable;
use crate::signals::{SIGCHLD, SIGINT, SIGTERM, SIGUSR1, SignalPipe};

/// How long the server waits for a first client state before giving up (§10.1 step 13): the
/// core's connect timeout of [`moshkit_core::connection::Config::server`].
pub const NO_CLIENT_TIMEOUT: Duration =
    Duration::from_millis(moshkit_core::connection::SERVER_CONNECT_TIMEOUT_MS);

/// Upper bound of one wait of the loop.
const IDLE_POLL: Duration = Duration::from_millis(5000);

/// What the server loop needs of a host session besides the driver's [`Endpoint`] calls.
pub trait ServedSession: Endpoint<Event = HostEvent> {
    /// Output from the application in the pty, for the terminal emulator.
    fn host_output(&mut self, now: Instant, bytes: &[u8]);
    /// Bytes to write into the pty: translated user keystrokes and emulator replies.
    fn take_pty_input(&mut self) -> Vec<u8>;
    /// Receive time of the newest client state (meaningful after [`HostEvent::FirstContact`]).
    fn last_client_state(&self) -> Instant;
    /// Starts the shutdown handshake ([`HostEvent::Closed`] reports its end).
    fn close(&mut self, now: Instant);
    /// Whether a shutdown handshake is in progress.
    fn shutdown_in_progress(&self) -> bool;
}

impl ServedSession for HostSession {
    fn host_output(&mut self, now: Instant, bytes: &[u8]) {
        HostSession::host_output(self, now, bytes);
    }
    fn take_pty_input(&mut self) -> Vec<u8> {
        HostSession::take_pty_input(self)
    }
    fn last_client_state(&self) -> Instant {
        HostSession::last_client_state(self)
    }
    fn close(&mut self, now: Instant) {
        HostSession::close(self, now);
    }
    fn shutdown_in_progress(&self) -> bool {
        HostSession::shutdown_in_progress(self)
    }
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeEnd {
    /// The session finished (shutdown handshake done or timed out, or client quit).
    SessionFinished,
    /// Ended without a handshake (no client address), after the reason below.
    Immediate(ShutdownReason),
    /// No client state within [`NO_CLIENT_TIMEOUT`].
    NoClient,
}

/// What started the shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// Pty EOF/EIO or write error: the application exited.
    ApplicationExited,
    /// SIGTERM or SIGINT.
    Signal,
    /// `MOSH_SERVER_NETWORK_TMOUT` or an honoured SIGUSR1.
    Idle,
}

/// Loop failures (I/O on the socket or pty other than the session ending).
#[derive(Debug, Error)]
pub enum ServeError {
    /// Pty failure.
    #[error(transparent)]
    Pty(#[from] PtyError),
    /// Socket or poll failure.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The host session could not be created (e.g. an impossible terminal size).
    #[error("session: {0}")]
    Session(String),
}

/// Runs the mosh host session for `parts` with `key`, the terminal starting at
/// `initial_size`: the core [`HostSession`] on the driver, driven by [`serve`].
pub fn run_host_session(
    parts: ServeParts,
    key: &moshkit_core::crypto::Key,
    initial_size: WindowSize,
) -> Result<(ServeEnd, ServeParts), ServeError> {
    let now = Instant::now();
    let mut session = HostSession::new(
        key,
        initial_size.cols.max(1),
        initial_size.rows.max(1),
        moshkit_core::connection::Config::server(),
        now,
        moshkit_core::driver::os_random(),
    )
    .map_err(|e| ServeError::Session(e.to_string()))?;
    if let Some(lines) = scrollback_lines_from_env() {
        session.set_scrollback_lines(now, lines);
    }
    serve(session, parts)
}

/// `MOSHKIT_SCROLLBACK_LINES`: the lines of scrollback kept for MoshKit clients (default
/// 10 000; 0 keeps none). A value that is not a number is ignored with a warning.
fn scrollback_lines_from_env() -> Option<usize> {
    let value = std::env::var("MOSHKIT_SCROLLBACK_LINES").ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            log::warn!("MOSHKIT_SCROLLBACK_LINES={value:?} is not a number; keeping the default");
            None
        }
    }
}

/// Everything the loop owns besides the session.
#[derive(Debug)]
pub struct ServeParts {
    /// The bound UDP socket.
    pub socket: UdpSocket,
    /// The pty master.
    pub pty: PtyMaster,
    /// The application.
    pub child: PtyChild,
    /// SIGTERM, SIGINT, SIGUSR1 (and SIGCHLD) handlers.
    pub signals: SignalPipe,
    /// Timeouts.
    pub config: ServerConfig,
}

/// Installs the signal set the server loop expects.
pub fn server_signals() -> std::io::Result<SignalPipe> {
    SignalPipe::new(&[SIGTERM, SIGINT, SIGUSR1, SIGCHLD])
}

/// What woke the loop.
enum Wake {
    Signals,
    Pty,
    Event(Result<HostEvent, DriverError>),
    Tick,
}

/// Runs the server loop until the session ends, on a one-thread tokio runtime. Returns the
/// parts (the caller closes the pty, which hangs up the application) and why it ended.
pub fn serve<S: ServedSession>(
    session: S,
    parts: ServeParts,
) -> Result<(ServeEnd, ServeParts), ServeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(serve_on_driver(session, parts))
}

async fn serve_on_driver<S: ServedSession>(
    session: S,
    parts: ServeParts,
) -> Result<(ServeEnd, ServeParts), ServeError> {
    let ServeParts {
        socket,
        pty,
        mut child,
        signals,
        config,
    } = parts;
    pty.set_nonblocking()?;
    // The driver owns a handle of the socket; `socket` is handed back with the parts.
    let mut driver = Driver::server_std(session, socket.try_clone()?).map_err(|e| match e {
        DriverError::Bind(e) => ServeError::Io(e),
        e => ServeError::Session(e.to_string()),
    })?;
    let pty_readable = Readable::new(pty.as_fd());
    let signals_readable = Readable::new(signals.as_fd());
    let start = Instant::now();
    let mut contacted = false;
    let mut buf = vec![0u8; 65536];

    let end = loop {
        let now = Instant::now();
        let last_state = if contacted {
            driver.endpoint().last_client_state()
        } else {
            start
        };
        let since_state = now.saturating_duration_since(last_state);
        let shutting_down = driver.endpoint().shutdown_in_progress();
        let mut wait = IDLE_POLL;
        if let Some(t) = config.network_timeout {
            wait = wait.min(t.saturating_sub(since_state));
        }

        // Unbiased: a pty or terminal that is always readable must not starve the driver.
        let wake = tokio::select! {
            r = signals_readable.wait() => { r?; Wake::Signals }
            r = pty_readable.wait(), if !shutting_down => { r?; Wake::Pty }
            event = driver.next_event() => Wake::Event(event),
            () = tokio::time::sleep(wait) => Wake::Tick,
        };
        let now = Instant::now();
        let mut shutdown: Option<ShutdownReason> = None;

        match wake {
            Wake::Event(Ok(event)) => match event {
                HostEvent::FirstContact => {
                    contacted = true;
                    if !child.is_released() {
                        child.release(&pty)?;
                    }
                }
                HostEvent::Resize(cols, rows) => pty.set_window_size(WindowSize { cols, rows })?,
                HostEvent::PtyInput => {}
                HostEvent::ClientAddress(addr) => log::info!("client at {addr}"),
                HostEvent::ClientDetached => log::info!("client silent, detached"),
                HostEvent::Closed(reason) => {
                    log::info!("session closed: {reason:?}");
                    if reason == CloseReason::TimedOut && !contacted {
                        log::info!("No connection within 60 seconds.");
                        break ServeEnd::NoClient;
                    }
                    break ServeEnd::SessionFinished;
                }
            },
            Wake::Event(Err(e)) => {
                log::debug!("driver: {e}");
                break ServeEnd::SessionFinished;
            }
            Wake::Pty => match pty.read(&mut buf)? {
                PtyRead::Data(n) => driver.endpoint_mut().host_output(now, &buf[..n]),
                PtyRead::WouldBlock => {}
                PtyRead::Closed => shutdown = Some(ShutdownReason::ApplicationExited),
            },
            Wake::Signals => {
                for sig in signals.take() {
                    match sig {
                        SIGUSR1 if config.sigusr1_ends_session(since_state) => {
                            log::info!(
                                "SIGUSR1 after {} idle seconds, shutting down",
                                since_state.as_secs()
                            );
                            shutdown = shutdown.or(Some(ShutdownReason::Idle));
                        }
                        SIGTERM | SIGINT => shutdown = Some(ShutdownReason::Signal),
                        // SIGCHLD: the pty reports EOF/EIO once the slave side is closed; reap
                        // here so no zombie lingers if something else holds the slave open.
                        SIGCHLD => {
                            let _ = child.try_wait();
                        }
                        _ => {}
                    }
                }
            }
            Wake::Tick => {}
        }

        // Input for the application (keystrokes, emulator replies).
        let input = driver.endpoint_mut().take_pty_input();
        if !input.is_empty() && pty.write_all(&input).is_err() {
            shutdown = Some(ShutdownReason::ApplicationExited);
        }

        // MOSH_SERVER_NETWORK_TMOUT.
        let last_state = if contacted {
            driver.endpoint().last_client_state()
        } else {
            start
        };
        let since_state = now.saturating_duration_since(last_state);
        if config.network_timed_out(since_state) {
            log::info!(
                "No client state for {} seconds (MOSH_SERVER_NETWORK_TMOUT), shutting down",
                since_state.as_secs()
            );
            shutdown = shutdown.or(Some(ShutdownReason::Idle));
        }
        if let Some(reason) = shutdown {
            let session = driver.endpoint_mut();
            if session.remote_address().is_some() && !session.shutdown_in_progress() {
                session.close(now);
            } else {
                break ServeEnd::Immediate(reason);
            }
        }
    };
    drop(driver);
    Ok((
        end,
        ServeParts {
            socket,
            pty,
            child,
            signals,
            config,
        },
    ))
}
