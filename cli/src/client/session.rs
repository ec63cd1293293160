//! The client's main loop (reference §9.1) around the core [`ClientSession`].
//!
//! One thread, `poll(2)` over the UDP sockets (several after a rebind: older ones keep
//! receiving for a while, §4.7), stdin and the signal pipe. Every iteration handles what is
//! ready, runs due timers, sends what is due and repaints the user's terminal through a
//! [`FrameDiffer`] when anything happened.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use moshkit_core::connection::{CloseReason, Config, MAX_OLD_SOCKET_AGE_MS, MAX_PORTS_OPEN};
use moshkit_core::display::FrameDiffer;
use moshkit_core::session::{
    ClientConfig, ClientEvent, ClientSession, ConnectionState, PASTE_END, PASTE_START,
};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::escape::{EscapeAction, EscapeState};
use super::terminal::{self, SUSPENDED_MESSAGE, close_string, init_string};
use super::{ClientContext, ClientError, SessionOutcome};

/// Reads longer than this are pastes: sent without prediction (upstream's rule).
pub const PASTE_THRESHOLD: usize = 100;
/// Longest single wait of the loop (keeps every iteration bounded in time).
const MAX_WAIT: Duration = Duration::from_millis(1000);
/// Most datagrams read from one socket per iteration.
const MAX_DATAGRAMS_PER_ITERATION: usize = 64;
/// Most datagrams sent per iteration.
const MAX_SENDS_PER_ITERATION: usize = 256;

struct Sock {
    socket: UdpSocket,
    created: Instant,
}

fn bind_socket(server: SocketAddr) -> std::io::Result<UdpSocket> {
    let ip = match server.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = UdpSocket::bind((ip, 0))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// The client sockets: the newest sends, all receive.
struct Sockets {
    server: SocketAddr,
    list: Vec<Sock>,
}

impl Sockets {
    fn new(server: SocketAddr) -> std::io::Result<Self> {
        Ok(Sockets {
            server,
            list: vec![Sock {
                socket: bind_socket(server)?,
                created: Instant::now(),
            }],
        })
    }

    fn rebind(&mut self) {
        match bind_socket(self.server) {
            Ok(socket) => {
                log::info!("client now sending from {:?}", socket.local_addr());
                self.list.push(Sock {
                    socket,
                    created: Instant::now(),
                });
            }
            Err(e) => log::warn!("rebind failed, keeping the old socket: {e}"),
        }
        self.prune();
    }

    fn prune(&mut self) {
        if let Some(newest) = self.list.last()
            && self.list.len() > 1
            && newest.created.elapsed() > Duration::from_millis(MAX_OLD_SOCKET_AGE_MS)
        {
            let keep = self.list.len() - 1;
            self.list.drain(..keep);
        }
        while self.list.len() > MAX_PORTS_OPEN {
            self.list.remove(0);
        }
    }

    fn sender(&self) -> Option<&UdpSocket> {
        self.list.last().map(|s| &s.socket)
    }
}

fn write_out(bytes: &[u8]) -> std::io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Sends typed bytes: keystrokes with prediction, long reads as a paste.
fn send_typed(session: &mut ClientSession, now: Instant, bytes: &[u8]) {
    if bytes.len() <= PASTE_THRESHOLD {
        session.send_input(now, bytes);
        return;
    }
    // The user's terminal already wrapped the paste in bracketed-paste markers if the
    // application asked for them (the mode is forwarded); `paste` adds them itself.
    let inner = bytes.strip_prefix(PASTE_START).unwrap_or(bytes);
    let inner = inner.strip_suffix(PASTE_END).unwrap_or(inner);
    match std::str::from_utf8(inner) {
        Ok(text) => session.paste(now, text),
        Err(_) => session.send_input(now, bytes),
    }
}

/// What the loop tracks besides the session.
struct LoopState {
    differ: FrameDiffer,
    last_size: Option<(usize, usize)>,
    dirty: bool,
    connected: bool,
    closed: Option<CloseReason>,
}

impl LoopState {
    fn drain_events(&mut self, session: &mut ClientSession, sockets: &mut Sockets) {
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::ScreenChanged
                | ClientEvent::Bell
                | ClientEvent::Title(_)
                | ClientEvent::Clipboard(_) => self.dirty = true,
                ClientEvent::ConnectionState(state) => {
                    if state == ConnectionState::Connected {
                        self.connected = true;
                    }
                    self.dirty = true;
                }
                ClientEvent::Rebind => sockets.rebind(),
                ClientEvent::Closed(reason) => self.closed = Some(reason),
            }
        }
    }

    fn paint(&mut self, session: &mut ClientSession, now: Instant) -> std::io::Result<()> {
        let frame = session.display_frame(now);
        let size = (frame.width(), frame.height());
        if self.last_size != Some(size) {
            self.differ.invalidate();
            self.last_size = Some(size);
        }
        write_out(&self.differ.next_frame(&frame))?;
        self.dirty = false;
        Ok(())
    }
}

/// Runs the session until it ends (see [`super::run_session`]).
pub fn run(ctx: &mut ClientContext) -> Result<SessionOutcome, ClientError> {
    let start = Instant::now();
    let config = ClientConfig {
        prediction: ctx.prefs.display,
        predict_overwrite: ctx.prefs.overwrite,
        prediction_extensions: true,
        draw_notification_bar: true,
        escape_key_name: ctx.prefs.escape.key_name(),
        // §9.4: `[mosh] ` before the window title unless MOSH_TITLE_NOPREFIX is set.
        title_prefix: std::env::var_os("MOSH_TITLE_NOPREFIX")
            .is_none()
            .then(|| "[mosh] ".to_owned()),
        transport: Config::client(),
    };
    let size = ctx.initial_size;
    let mut session = ClientSession::new(
        &ctx.prefs.key,
        ctx.server,
        size.cols.max(1),
        size.rows.max(1),
        config,
        start,
        crate::session_random(),
    )
    .map_err(|e| ClientError::Session(e.to_string()))?;
    let mut sockets = Sockets::new(ctx.server)?;
    let mut escape = EscapeState::new(ctx.prefs.escape.clone());
    let mut st = LoopState {
        differ: FrameDiffer::new(display_caps(&ctx.caps)),
        last_size: None,
        dirty: true,
        connected: false,
        closed: None,
    };
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut buf = vec![0u8; 65536];
    let mut terminate_requests = 0u32;

    // Send the initial state (our window size) at once.
    flush_transmits(&mut session, &mut sockets, &mut st, start);

    let end = loop {
        let now = Instant::now();
        if st.dirty {
            st.paint(&mut session, now)?;
        }
        if let Some(reason) = st.closed {
            break Some(reason);
        }

        // Wait.
        let wait = session
            .poll_timeout(now)
            .map_or(MAX_WAIT, |t| t.saturating_duration_since(now))
            .min(MAX_WAIT);
        let nsock = sockets.list.len();
        let (ready_socks, stdin_ready, sig_ready) = {
            let mut fds: Vec<PollFd<'_>> = sockets
                .list
                .iter()
                .map(|s| PollFd::new(s.socket.as_fd(), PollFlags::POLLIN))
                .collect();
            fds.push(PollFd::new(ctx.signals.fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            let t = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, t) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(ClientError::Io(e.into())),
            }
            let ready = |f: &PollFd<'_>| {
                f.revents().is_some_and(|r| {
                    r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                })
            };
            let socks: Vec<bool> = fds[..nsock].iter().map(ready).collect();
            (
                socks,
                fds.get(nsock + 1).is_some_and(ready),
                ready(&fds[nsock]),
            )
        };
        let now = Instant::now();
        st.dirty = true;

        // Network.
        for (i, ready) in ready_socks.iter().enumerate() {
            if !ready {
                continue;
            }
            let Some(sock) = sockets.list.get(i) else {
                continue;
            };
            for _ in 0..MAX_DATAGRAMS_PER_ITERATION {
                match sock.socket.recv_from(&mut buf) {
                    Ok((n, from)) => session.handle_datagram(now, from, &buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::warn!("recv: {e}");
                        break;
                    }
                }
            }
        }

        // User input.
        if stdin_ready {
            match nix::unistd::read(stdin.as_fd(), &mut buf[..16384]) {
                Ok(0) => {
                    stdin_open = false;
                    if !session.connection().shutdown_in_progress() {
                        session.close(now);
                    }
                }
                Ok(n) => {
                    let input = buf[..n].to_vec();
                    for action in escape.feed(&input) {
                        match action {
                            EscapeAction::Send(bytes) => send_typed(&mut session, now, &bytes),
                            EscapeAction::Quit => {
                                if !session.connection().shutdown_in_progress() {
                                    session.set_message(now, "Exiting on user request...", true);
                                    session.close(now);
                                } else {
                                    st.closed = Some(CloseReason::ShutdownUnacknowledged);
                                }
                            }
                            EscapeAction::Suspend => {
                                suspend(ctx)?;
                                resume(ctx, &mut st)?;
                            }
                            EscapeAction::ShowHelp => {
                                if let Some(help) = escape.config().help_text() {
                                    session.set_help(now, &help);
                                }
                            }
                            EscapeAction::ClearHelp => session.clear_message(),
                            EscapeAction::Repaint => st.differ.invalidate(),
                        }
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(e) => {
                    log::warn!("stdin: {e}");
                    stdin_open = false;
                    if !session.connection().shutdown_in_progress() {
                        session.close(now);
                    }
                }
            }
        }

        // Signals.
        if sig_ready {
            for event in ctx.signals.events(stdin.as_fd()) {
                match event {
                    terminal::ClientEvent::Resize(size) => {
                        session.resize(now, size.cols, size.rows);
                        st.differ.invalidate();
                    }
                    terminal::ClientEvent::Continue => resume(ctx, &mut st)?,
                    terminal::ClientEvent::Terminate(sig) => {
                        terminate_requests += 1;
                        log::info!("signal {sig}");
                        if terminate_requests > 1 || !st.connected {
                            st.closed = Some(CloseReason::ShutdownUnacknowledged);
                        } else if !session.connection().shutdown_in_progress() {
                            session.set_message(now, "Signal received, shutting down...", true);
                            session.close(now);
                        }
                    }
                    terminal::ClientEvent::Roam => session.network_changed(now),
                }
            }
        }

        // Timers.
        if session.poll_timeout(now).is_some_and(|t| t <= now) {
            session.handle_timeout(now);
        }
        if !st.connected && st.closed.is_none() && now.duration_since(start) >= CONNECT_GIVE_UP {
            session.set_message(now, "Timed out waiting for server...", true);
        }
        flush_transmits(&mut session, &mut sockets, &mut st, now);
        sockets.prune();
    };

    let clean = matches!(
        end,
        Some(CloseReason::ShutdownAcknowledged | CloseReason::PeerShutdown)
    );
    Ok(SessionOutcome {
        connected: st.connected || session.stats().last_contact.is_some(),
        clean,
    })
}

/// After this long without contact the bar says so (the core closes the session at 15 s).
const CONNECT_GIVE_UP: Duration = Duration::from_millis(14_500);

fn flush_transmits(
    session: &mut ClientSession,
    sockets: &mut Sockets,
    st: &mut LoopState,
    now: Instant,
) {
    st.drain_events(session, sockets);
    for _ in 0..MAX_SENDS_PER_ITERATION {
        let Some(t) = session.poll_transmit(now) else {
            break;
        };
        st.drain_events(session, sockets);
        let Some(sock) = sockets.sender() else {
            break;
        };
        if let Err(e) = sock.send_to(&t.contents, t.destination) {
            log::warn!("sendto {}: {e}", t.destination);
            if e.raw_os_error() == Some(libc::EMSGSIZE) {
                session.connection_mut().mtu_too_big();
            } else if e.kind() != std::io::ErrorKind::WouldBlock {
                session.connection_mut().send_failed(now);
                st.drain_events(session, sockets);
                break;
            }
        }
    }
    st.drain_events(session, sockets);
}

/// Escape + Ctrl-Z: restore the terminal, say so, stop the process group.
fn suspend(ctx: &mut ClientContext) -> Result<(), ClientError> {
    let mut bytes = close_string(&ctx.caps, ctx.prefs.no_term_init);
    bytes.extend_from_slice(SUSPENDED_MESSAGE.as_bytes());
    write_out(&bytes)?;
    ctx.raw.restore();
    // Returns once the job is continued.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(0), nix::sys::signal::SIGSTOP);
    Ok(())
}

/// Back from a suspend (or any SIGCONT): raw mode, init string, full repaint.
fn resume(ctx: &mut ClientContext, st: &mut LoopState) -> Result<(), ClientError> {
    ctx.raw.reenter();
    write_out(&init_string(&ctx.caps, ctx.prefs.no_term_init))?;
    st.differ.invalidate();
    st.dirty = true;
    Ok(())
}

/// What the local terminal can do, for the frame differ (§7.6): ECH and BCE from terminfo;
/// titles only for the terminals upstream sends them to (by `TERM` prefix).
fn display_caps(caps: &crate::client::terminfo::TermCaps) -> moshkit_core::display::DisplayCaps {
    const TITLE_TERMS: [&str; 7] = [
        "xterm",
        "rxvt",
        "kterm",
        "Eterm",
        "alacritty",
        "screen",
        "tmux",
    ];
    let term = std::env::var("TERM").unwrap_or_default();
    moshkit_core::display::DisplayCaps {
        ech: caps.ech,
        bce: caps.bce,
        titles: TITLE_TERMS.iter().any(|t| term.starts_with(t)),
    }
}
