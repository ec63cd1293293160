//! The client's main loop (reference §9.1) around the core [`ClientSession`].
//!
//! The core's [`Driver`] owns the UDP sockets (several after a rebind: older ones keep
//! receiving for a while, §4.7), the protocol timers and the send-error policy; this loop, on a
//! one-thread tokio runtime, adds only what is the client's own: the user's terminal (stdin,
//! raw mode, suspend) and its signals. Every wake-up handles what is ready and repaints the
//! user's terminal through a [`FrameDiffer`].

use std::io::Write;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use moshkit_core::connection::{CloseReason, Config};
use moshkit_core::display::FrameDiffer;
use moshkit_core::driver::{Driver, DriverError};
use moshkit_core::session::{
    ClientConfig, ClientEvent, ClientSession, ConnectionState, PASTE_END, PASTE_START,
};

use super::escape::{EscapeAction, EscapeState};
use super::scrollback::OuterScrollback;
use super::terminal::{self, SUSPENDED_MESSAGE, close_string, init_string};
use super::{ClientContext, ClientError, SessionOutcome};
use crate::readiness::Readable;

/// Reads longer than this are pastes: sent without prediction (upstream's rule).
pub const PASTE_THRESHOLD: usize = 100;
/// Longest single wait of the loop (keeps every iteration bounded in time).
const MAX_WAIT: Duration = Duration::from_millis(1000);

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
    /// Writes scrolled-off lines into the terminal's scrollback (`None`: turned off).
    outer: Option<OuterScrollback>,
    last_size: Option<(usize, usize)>,
    dirty: bool,
    connected: bool,
    closed: Option<CloseReason>,
}

impl LoopState {
    fn handle_event(&mut self, event: ClientEvent) {
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
            // The driver has already bound the new socket.
            ClientEvent::Rebind => {}
            ClientEvent::Resumed { .. } | ClientEvent::ScrollbackChanged { .. } => {
                self.dirty = true;
            }
            ClientEvent::ScrollbackFetched { .. } => {
                if let Some(outer) = self.outer.as_mut() {
                    outer.fetched();
                }
                self.dirty = true;
            }
            ClientEvent::Closed(reason) => self.closed = Some(reason),
        }
    }

    fn paint(&mut self, session: &mut ClientSession, now: Instant) -> std::io::Result<()> {
        let frame = session.display_frame(now);
        let size = (frame.width(), frame.height());
        let mut out = Vec::new();
        let scrolled = self
            .outer
            .as_mut()
            .is_some_and(|outer| outer.write_new_lines(session, now, size.0, size.1, &mut out));
        if scrolled {
            self.differ.rows_erased();
        }
        if self.last_size != Some(size) {
            self.differ.invalidate();
            self.last_size = Some(size);
        }
        out.extend_from_slice(&self.differ.next_frame(&frame));
        write_out(&out)?;
        self.dirty = false;
        Ok(())
    }
}

/// What woke the loop.
enum Wake {
    Signals,
    Stdin,
    Event(Result<ClientEvent, DriverError>),
    Tick,
}

/// Runs the session until it ends (see [`super::run_session`]), on a one-thread tokio runtime.
pub fn run(ctx: &mut ClientContext) -> Result<SessionOutcome, ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(run_on_driver(ctx))
}

async fn run_on_driver(ctx: &mut ClientContext) -> Result<SessionOutcome, ClientError> {
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
        scrollback_lines: ctx.prefs.scrollback_lines,
        scrollback_prefetch: moshkit_core::session::DEFAULT_SCROLLBACK_PREFETCH,
        transport: Config::client(),
    };
    let size = ctx.initial_size;
    let session = match ctx.resume.take() {
        Some(mut restored) => {
            // The window may have changed size while no client ran.
            restored.resize(start, size.cols.max(1), size.rows.max(1));
            restored
        }
        None => ClientSession::new(
            &ctx.prefs.key,
            ctx.server,
            size.cols.max(1),
            size.rows.max(1),
            config,
            start,
            moshkit_core::driver::os_random(),
        )
        .map_err(|e| ClientError::Session(e.to_string()))?,
    };
    let mut saver = ctx.state_file.clone().map(StateSaver::new);
    let mut driver = Driver::client(session).await.map_err(|e| match e {
        DriverError::Bind(e) => ClientError::Io(e),
        e => ClientError::Session(e.to_string()),
    })?;
    let mut escape = EscapeState::new(ctx.prefs.escape.clone());
    let outer = (ctx.prefs.scrollback_lines > 0).then(|| OuterScrollback::new(driver.endpoint()));
    let mut st = LoopState {
        differ: FrameDiffer::new(display_caps(&ctx.caps)),
        outer,
        last_size: None,
        dirty: true,
        connected: false,
        closed: None,
    };
    let stdin = std::io::stdin();
    let stdin_readable = Readable::new(stdin.as_fd());
    let signals_readable = Readable::new(ctx.signals.fd());
    let mut stdin_open = true;
    let mut buf = vec![0u8; 16384];
    let mut terminate_requests = 0u32;

    let end = loop {
        let now = Instant::now();
        if st.dirty {
            st.paint(driver.endpoint_mut(), now)?;
        }
        if let Some(reason) = st.closed {
            break Some(reason);
        }
        if let Some(saver) = saver.as_mut() {
            saver.maybe_save(driver.endpoint(), now);
        }

        // Wait: the driver (datagrams, protocol timers; it sends what is due first), the
        // signal pipe, the terminal, or at most MAX_WAIT.
        // Unbiased: a pty or terminal that is always readable must not starve the driver.
        let wake = tokio::select! {
            r = signals_readable.wait() => { r?; Wake::Signals }
            r = stdin_readable.wait(), if stdin_open => { r?; Wake::Stdin }
            event = driver.next_event() => Wake::Event(event),
            () = tokio::time::sleep(MAX_WAIT) => Wake::Tick,
        };
        let now = Instant::now();
        st.dirty = true;
        let session = driver.endpoint_mut();

        match wake {
            Wake::Event(Ok(event)) => st.handle_event(event),
            Wake::Event(Err(e)) => {
                log::debug!("driver: {e}");
                st.closed.get_or_insert(CloseReason::ShutdownUnacknowledged);
            }
            Wake::Tick => {}
            Wake::Stdin => match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) => {
                    stdin_open = false;
                    if !session.connection().shutdown_in_progress() {
                        session.close(now);
                    }
                }
                Ok(n) => {
                    let input = buf[..n].to_vec();
                    for action in escape.feed(&input) {
                        let session = driver.endpoint_mut();
                        match action {
                            EscapeAction::Send(bytes) => send_typed(session, now, &bytes),
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
            },
            Wake::Signals => {
                for event in ctx.signals.events(stdin.as_fd()) {
                    let session = driver.endpoint_mut();
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
                        // The driver binds the new socket when the session asks (Rebind).
                        terminal::ClientEvent::Roam => session.network_changed(now),
                    }
                }
            }
        }

        if !st.connected && st.closed.is_none() && now.duration_since(start) >= CONNECT_GIVE_UP {
            driver
                .endpoint_mut()
                .set_message(now, "Timed out waiting for server...", true);
        }
    };

    let clean = matches!(
        end,
        Some(CloseReason::ShutdownAcknowledged | CloseReason::PeerShutdown)
    );
    if let Some(saver) = saver {
        // The session is over: nothing is left to resume.
        saver.remove();
    }
    Ok(SessionOutcome {
        connected: st.connected || driver.endpoint().stats().last_contact.is_some(),
        clean,
    })
}

/// Keeps the session's state in a file (`--state-file`): written after changes, at most every
/// [`SAVE_INTERVAL`], atomically (a temporary file renamed over it) and readable by the user
/// only, since it holds the session key.
struct StateSaver {
    path: std::path::PathBuf,
    last: Option<(Instant, Vec<u8>)>,
}

/// Shortest time between two writes of the state file.
const SAVE_INTERVAL: Duration = Duration::from_millis(200);

impl StateSaver {
    fn new(path: std::path::PathBuf) -> Self {
        StateSaver { path, last: None }
    }

    fn maybe_save(&mut self, session: &ClientSession, now: Instant) {
        if self
            .last
            .as_ref()
            .is_some_and(|(t, _)| now.duration_since(*t) < SAVE_INTERVAL)
        {
            return;
        }
        let blob = session.save_state();
        if self.last.as_ref().is_some_and(|(_, b)| *b == blob) {
            return;
        }
        if let Err(e) = write_private_atomically(&self.path, &blob) {
            log::warn!("state file {}: {e}", self.path.display());
        }
        self.last = Some((now, blob));
    }

    fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_private_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path)
}

/// After this long without contact the bar says so (the core closes the session at 15 s).
const CONNECT_GIVE_UP: Duration = Duration::from_millis(14_500);

/// Escape + Ctrl-Z: restore the terminal, say so, stop the process group.
fn suspend(ctx: &mut ClientContext) -> Result<(), ClientError> {
    let mut bytes = close_string(&ctx.caps, !ctx.prefs.uses_alternate_screen());
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
    write_out(&init_string(&ctx.caps, !ctx.prefs.uses_alternate_screen()))?;
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
