//! The server's main loop (reference §10.1) around a pluggable host session.
//!
//! The loop is written against the [`HostSession`] trait; [`CoreHost`] adapts the core's
//! sans-IO host session (SSP transport + terminal emulator) to it, and tests use a plaintext
//! fake. Around it: polling the UDP socket, the pty and the signal pipe; releasing the child on
//! the first client state; pty reads/writes; window size changes; child exit (pty EOF/EIO);
//! SIGTERM/SIGINT/SIGUSR1 semantics; `MOSH_SERVER_NETWORK_TMOUT`; the 60 s no-client rule; and
//! the shutdown handshake timing, which the session owns.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use thiserror::Error;

use super::ServerConfig;
use crate::pty::{PtyChild, PtyError, PtyMaster, PtyRead, WindowSize};
use crate::signals::{SIGCHLD, SIGINT, SIGTERM, SIGUSR1, SignalPipe};

/// How long the server waits for a first client state before giving up (§10.1 step 13).
pub const NO_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Upper bound of one poll while no client state arrived yet or shutting down.
const IDLE_POLL: Duration = Duration::from_millis(5000);

/// The sans-IO host session the loop drives: [`CoreHost`] in the server, a plaintext fake in
/// tests.
pub trait HostSession {
    /// An incoming datagram. Returns `true` if it carried a new client state (the loop then
    /// releases the child the first time).
    fn receive(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool;
    /// Output from the application in the pty, for the terminal emulator.
    fn host_output(&mut self, now: Instant, bytes: &[u8]);
    /// Bytes to write into the pty: translated user keystrokes and emulator replies.
    fn take_pty_input(&mut self) -> Vec<u8>;
    /// A new window size requested by the client, if any since the last call.
    fn take_resize(&mut self) -> Option<WindowSize>;
    /// The next datagram to send, if one is due.
    fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)>;
    /// When the session next wants to run (`poll_transmit`, timers); `None` = no deadline.
    fn next_deadline(&self, now: Instant) -> Option<Instant>;
    /// Receive time of the newest client state (`None`: none yet).
    fn last_client_state(&self) -> Option<Instant>;
    /// Whether a client address is known (a shutdown handshake is possible).
    fn has_remote(&self) -> bool;
    /// Starts the shutdown handshake.
    fn start_shutdown(&mut self, now: Instant);
    /// Whether a shutdown handshake is in progress.
    fn shutdown_in_progress(&self) -> bool;
    /// Whether the loop should end: our shutdown was acknowledged or timed out, or we
    /// acknowledged the client's.
    fn finished(&self, now: Instant) -> bool;
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
/// `initial_size`: the core [`moshkit_core::session::HostSession`] adapted to the loop's
/// [`HostSession`] trait by [`CoreHost`], driven by [`serve`].
pub fn run_host_session(
    parts: ServeParts,
    key: &moshkit_core::crypto::Key,
    initial_size: WindowSize,
) -> Result<(ServeEnd, ServeParts), ServeError> {
    let mut host = CoreHost::new(key, initial_size, Instant::now())?;
    serve(&mut host, parts)
}

/// The core host session behind the loop's [`HostSession`] trait.
#[derive(Debug)]
pub struct CoreHost {
    session: moshkit_core::session::HostSession,
    first_state: Option<Instant>,
    contacted_now: bool,
    resize: Option<WindowSize>,
    closed: Option<moshkit_core::connection::CloseReason>,
    deadline: Option<Instant>,
}

impl CoreHost {
    /// A host session with a blank terminal of `size`.
    pub fn new(
        key: &moshkit_core::crypto::Key,
        size: WindowSize,
        now: Instant,
    ) -> Result<Self, ServeError> {
        let mut config = moshkit_core::connection::Config::server();
        // The loop owns the 60 s no-client rule and MOSH_SERVER_NETWORK_TMOUT.
        config.connect_timeout = None;
        config.network_timeout = None;
        let session = moshkit_core::session::HostSession::new(
            key,
            size.cols.max(1),
            size.rows.max(1),
            config,
            now,
            crate::session_random(),
        )
        .map_err(|e| ServeError::Session(e.to_string()))?;
        Ok(CoreHost {
            session,
            first_state: None,
            contacted_now: false,
            resize: None,
            closed: None,
            deadline: None,
        })
    }

    /// The core session (tests, diagnostics).
    pub fn session(&self) -> &moshkit_core::session::HostSession {
        &self.session
    }

    fn pump(&mut self, now: Instant) {
        use moshkit_core::session::HostEvent;
        // Bounded: each event is consumed once.
        while let Some(event) = self.session.poll_event() {
            match event {
                HostEvent::FirstContact => {
                    self.first_state = Some(now);
                    self.contacted_now = true;
                }
                HostEvent::ClientAddress(addr) => log::info!("client at {addr}"),
                HostEvent::ClientDetached => log::info!("client silent, detached"),
                HostEvent::Resize(cols, rows) => self.resize = Some(WindowSize { cols, rows }),
                HostEvent::Closed(reason) => {
                    log::info!("session closed: {reason:?}");
                    self.closed = Some(reason);
                }
            }
        }
        self.deadline = self.session.poll_timeout();
    }

    fn run_timers(&mut self, now: Instant) {
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
            self.pump(now);
        }
    }
}

impl HostSession for CoreHost {
    fn receive(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        self.session.handle_datagram(now, from, datagram);
        self.pump(now);
        std::mem::take(&mut self.contacted_now)
    }

    fn host_output(&mut self, now: Instant, bytes: &[u8]) {
        self.session.host_output(now, bytes);
        self.pump(now);
    }

    fn take_pty_input(&mut self) -> Vec<u8> {
        self.session.take_pty_input()
    }

    fn take_resize(&mut self) -> Option<WindowSize> {
        self.resize.take()
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        self.run_timers(now);
        let t = self.session.poll_transmit(now);
        self.pump(now);
        t.map(|t| (t.destination, t.contents))
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        // Refreshed after every call that changes the session (`pump`).
        let _ = now;
        self.deadline
    }

    fn last_client_state(&self) -> Option<Instant> {
        self.first_state.map(|_| self.session.last_client_state())
    }

    fn has_remote(&self) -> bool {
        self.session.connection().remote_address().is_some()
    }

    fn start_shutdown(&mut self, now: Instant) {
        self.session.close(now);
        self.pump(now);
    }

    fn shutdown_in_progress(&self) -> bool {
        self.session.connection().shutdown_in_progress()
    }

    fn finished(&self, _now: Instant) -> bool {
        self.closed.is_some()
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

/// Runs the server loop until the session ends. Returns the parts (the caller closes the pty,
/// which hangs up the application) and why it ended.
pub fn serve<S: HostSession>(
    session: &mut S,
    parts: ServeParts,
) -> Result<(ServeEnd, ServeParts), ServeError> {
    let ServeParts {
        socket,
        pty,
        mut child,
        signals,
        config,
    } = parts;
    socket.set_nonblocking(true)?;
    pty.set_nonblocking()?;
    let start = Instant::now();
    let mut buf = vec![0u8; 65536];
    let mut network_errors = 0u32;

    let end = loop {
        let now = Instant::now();
        let since_state =
            now.saturating_duration_since(session.last_client_state().unwrap_or(start));
        let shutting_down = session.shutdown_in_progress();

        // 1. Timeout.
        let mut wait = session
            .next_deadline(now)
            .map(|d| d.saturating_duration_since(now))
            .unwrap_or(IDLE_POLL);
        if session.last_client_state().is_none() || shutting_down {
            wait = wait.min(IDLE_POLL);
        }
        if let Some(t) = config.network_timeout {
            wait = wait.min(t.saturating_sub(since_state));
        }
        if session.last_client_state().is_none() {
            wait = wait.min(NO_CLIENT_TIMEOUT.saturating_sub(since_state));
        }

        // 2. Poll.
        let (sock_ready, pty_ready, sig_ready) = {
            let mut fds = vec![
                PollFd::new(socket.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            if !shutting_down {
                fds.push(PollFd::new(pty.as_fd(), PollFlags::POLLIN));
            }
            let t = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, t) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(ServeError::Io(e.into())),
            }
            let ready = |f: &PollFd<'_>| {
                f.revents().is_some_and(|r| {
                    r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                })
            };
            (
                ready(&fds[0]),
                fds.get(2).is_some_and(ready),
                ready(&fds[1]),
            )
        };
        let now = Instant::now();
        let mut shutdown: Option<ShutdownReason> = None;

        // 4. Datagram.
        if sock_ready {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if session.receive(now, from, &buf[..n]) && !child.is_released() {
                        child.release(&pty)?;
                    }
                    if let Some(size) = session.take_resize() {
                        pty.set_window_size(size)?;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    network_errors += 1;
                    log::warn!("network error: {e}");
                    if network_errors > 10 {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }

        // 5. Pty output.
        if pty_ready && !session.shutdown_in_progress() {
            match pty.read(&mut buf)? {
                PtyRead::Data(n) => session.host_output(now, &buf[..n]),
                PtyRead::WouldBlock => {}
                PtyRead::Closed => shutdown = Some(ShutdownReason::ApplicationExited),
            }
        }

        // 6. Input for the application.
        let input = session.take_pty_input();
        if !input.is_empty() && pty.write_all(&input).is_err() {
            shutdown = Some(ShutdownReason::ApplicationExited);
        }

        let since_state =
            now.saturating_duration_since(session.last_client_state().unwrap_or(start));
        // 7. Network timeout.
        if config.network_timed_out(since_state) {
            log::info!(
                "No client state for {} seconds (MOSH_SERVER_NETWORK_TMOUT), shutting down",
                since_state.as_secs()
            );
            shutdown = shutdown.or(Some(ShutdownReason::Idle));
        }
        // 8/9. Signals.
        if sig_ready {
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
        if let Some(reason) = shutdown {
            if session.has_remote() && !session.shutdown_in_progress() {
                session.start_shutdown(now);
            } else {
                break ServeEnd::Immediate(reason);
            }
        }

        // 10. Finished?
        if session.finished(now) {
            break ServeEnd::SessionFinished;
        }

        // 13. Nobody ever connected.
        if session.last_client_state().is_none() && since_state >= NO_CLIENT_TIMEOUT {
            log::info!("No connection within 60 seconds.");
            break ServeEnd::NoClient;
        }

        // 14. Send what is due.
        while let Some((to, datagram)) = session.poll_transmit(now) {
            if let Err(e) = socket.send_to(&datagram, to) {
                log::warn!("send to {to}: {e}");
                break;
            }
        }
    };
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
