//! The client side of a session: what a phone app embeds (reference §7.5, §9).
//!
//! [`ClientSession`] joins the SSP connection, a replica of the server's terminal, the prediction
//! engine and the notification bar, and hands a UI exactly what changed on screen.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::connection::{CloseReason, Config, Connection, Event, Side, Transmit};
use crate::crypto::Key;
use crate::overlay::{NotificationBar, Notifications};
use crate::prediction::{DisplayPreference, PredictionEngine, PredictionOverlay};
use crate::scrollback::{
    ClientScrollback, DEFAULT_SCROLLBACK_LINES, Scrollback, ScrollbackError, ScrollbackMode,
};
use crate::state::{UserEvent, UserStream};
use crate::terminal::{Framebuffer, Rendition, TerminalError};
use crate::transport::RandomSource;

use super::HostState;
use super::screen::{Composed, CursorState, ScreenRow, changed_rows, compose, compose_frame};

/// While connecting, the client wakes at least this often (stmclient.cc, §9.1).
pub(crate) const CONNECTING_POLL: Duration = Duration::from_millis(250);
/// Packet sequence numbers stay below 2^62 after a restore, leaving half of the 63-bit space.
pub(super) const RESTORE_SEQ_FLOOR_MAX: u64 = 1 << 62;
/// Default of [`ClientConfig::scrollback_prefetch`].
pub const DEFAULT_SCROLLBACK_PREFETCH: usize = 500;
/// Bracketed-paste start marker, sent around pastes when the application enabled mode 2004.
pub const PASTE_START: &[u8] = crate::prediction::PASTE_START_MARKER;
/// Bracketed-paste end marker.
pub const PASTE_END: &[u8] = crate::prediction::PASTE_END_MARKER;

/// How a client session behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// When predictions are shown (upstream default: adaptive).
    pub prediction: DisplayPreference,
    /// Predict typing as overwriting rather than inserting (`MOSH_PREDICTION_OVERWRITE`).
    pub predict_overwrite: bool,
    /// MoshKit's safe additions to upstream's prediction rules (see
    /// [`PredictionEngine::set_extensions`]); `false` predicts exactly as upstream.
    pub prediction_extensions: bool,
    /// Draw the notification bar over row 0 as upstream does (a native UI may prefer its own
    /// banner from [`ClientSession::notification`]).
    pub draw_notification_bar: bool,
    /// Name of the app's escape key for the bar's quit hint (e.g. `Ctrl-^`), if it has one.
    pub escape_key_name: Option<String>,
    /// Prefix for the window title in [`ClientSession::display_frame`] (upstream's terminal
    /// client uses `[mosh] ` unless `MOSH_TITLE_NOPREFIX` is set, §9.4); `None` for apps.
    pub title_prefix: Option<String>,
    /// Lines of scrollback kept (0: none, and the server is not asked for its own).
    pub scrollback_lines: usize,
    /// Lines a MoshKit server's scrollback is fetched on connect (the newest ones); older ones
    /// come when asked for with [`ClientSession::request_scrollback`].
    pub scrollback_prefetch: usize,
    /// Transport tunables.
    pub transport: Config,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            prediction: DisplayPreference::Adaptive,
            predict_overwrite: false,
            prediction_extensions: true,
            draw_notification_bar: true,
            escape_key_name: None,
            title_prefix: None,
            scrollback_lines: DEFAULT_SCROLLBACK_LINES,
            scrollback_prefetch: DEFAULT_SCROLLBACK_PREFETCH,
            transport: Config::client(),
        }
    }
}

/// The link as a UI should present it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Nothing heard from the server yet.
    Connecting,
    /// The server answers.
    Connected,
    /// The server has been silent long enough for the bar to count up.
    Silent {
        /// Since when (the last word from the server).
        since: Instant,
    },
    /// Our shutdown is in progress.
    Closing,
    /// The session is over.
    Closed(CloseReason),
}

/// Something the app should react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The screen changed: call [`ClientSession::pull_changes`].
    ScreenChanged,
    /// The connection state changed.
    ConnectionState(ConnectionState),
    /// The application rang the bell (once per ring).
    Bell,
    /// The window title changed.
    Title(String),
    /// The application wrote to the clipboard (OSC 52).
    Clipboard(String),
    /// The driver must open a fresh socket and send from it (port hop or network change).
    Rebind,
    /// A restored session is in step with the server again: typed input is sent from now on.
    /// `server_had_newer_input`: the killed process had sent input after the state was saved
    /// (it is on the server's screen). Keys typed after the save that are not on the screen
    /// were lost with the process; none is ever sent twice.
    Resumed {
        /// See above.
        server_had_newer_input: bool,
    },
    /// Scrollback lines arrived or went: its range is now `first..end` (read with
    /// [`ClientSession::scrollback`]).
    ScrollbackChanged {
        /// Oldest line held.
        first: u64,
        /// One past the newest.
        end: u64,
    },
    /// A [`ClientSession::request_scrollback`] completed: every line of `from..to` the server
    /// still had is here (lines it no longer had stay out of the range).
    ScrollbackFetched {
        /// First line asked for.
        from: u64,
        /// One past the last.
        to: u64,
    },
    /// The session is over.
    Closed(CloseReason),
}

/// What changed on screen since the previous pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenUpdate {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// Whether every row is included (first pull, or a size change): repaint everything.
    pub full: bool,
    /// The rows that changed, each complete.
    pub changed_rows: Vec<ScreenRow>,
    /// The cursor.
    pub cursor: CursorState,
    /// The window title.
    pub title: String,
    /// How many times the bell has rung in this session.
    pub bell_count: u64,
    /// The notification bar's content, for apps drawing their own banner.
    pub notification: Option<NotificationBar>,
}

/// Traffic and link figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientStats {
    /// Smoothed round-trip time in ms.
    pub srtt_ms: f64,
    /// When anything authentic was last heard from the server.
    pub last_contact: Option<Instant>,
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
    /// Full redraws this restored session asked the host for (its saved screen was older than
    /// the one the host diffed from).
    pub full_redraws_requested: u64,
}

/// The client side of a mosh session, sans-IO.
///
/// Polling follows [`Connection`]'s rules: after every input call (`handle_datagram`,
/// `send_input`, `paste`, `resize`, `network_changed`, `close`, `handle_timeout`) drain
/// [`ClientSession::poll_event`] and [`ClientSession::poll_transmit`], then wait until
/// [`ClientSession::poll_timeout`] or the next datagram.
#[derive(Debug)]
pub struct ClientSession {
    pub(super) conn: Connection<UserStream, HostState>,
    /// Kept for [`ClientSession::save_state`].
    pub(super) key: Key,
    /// The size the remote replica started with (its state 0).
    pub(super) initial_size: (u16, u16),
    /// The window size the app set last.
    pub(super) size: (u16, u16),
    /// A restored session waiting for the host's full redraw at this temporary size.
    pub(super) redraw_size: Option<(u16, u16)>,
    /// Backgrounded: no timers, nothing sent, until [`ClientSession::resume`].
    pub(super) paused: bool,
    pub(super) full_redraws_requested: u64,
    pub(super) config: ClientConfig,
    pub(super) prediction: PredictionEngine<Rendition>,
    pub(super) notifications: Notifications,
    pub(super) events: VecDeque<ClientEvent>,
    pub(super) last_pulled: Option<Composed>,
    pub(super) remote_num: u64,
    pub(super) connected: bool,
    pub(super) reported_state: ConnectionState,
    pub(super) bell_count: u64,
    pub(super) title: String,
    pub(super) clipboard: String,
    pub(super) bytes_sent: u64,
    pub(super) bytes_received: u64,
    pub(super) start: Instant,
    pub(super) closed: Option<CloseReason>,
    pub(super) scrollback: ClientScrollback,
}

impl ClientSession {
    /// Start a session with the server at `server` (from `MOSH CONNECT <port> <key>`), for a
    /// window of `cols` × `rows`.
    pub fn new(
        key: &Key,
        server: SocketAddr,
        cols: u16,
        rows: u16,
        config: ClientConfig,
        now: Instant,
        rng: Box<dyn RandomSource>,
    ) -> Result<Self, TerminalError> {
        // The initial remote replica has the client's own size (§13 item 9).
        let remote = HostState::new(usize::from(cols), usize::from(rows))?;
        let mut conn = Connection::new(
            Side::Client,
            config.transport.clone(),
            key,
            Some(server),
            UserStream::new(),
            remote,
            now,
            rng,
        );
        conn.modify_local(now, |s| s.push_resize(i32::from(cols), i32::from(rows)));
        if config.scrollback_lines > 0 {
            // Upstream servers skip this; a MoshKit server starts sending its scrollback.
            conn.modify_local(now, |s| {
                s.push_event(UserEvent::Hello {
                    capabilities: crate::wire::CAPABILITY_SCROLLBACK,
                })
            });
        }
        let scrollback = ClientScrollback::new(
            config.scrollback_lines,
            config.scrollback_prefetch,
            crate::scrollback::client::FIRST_REQUEST_ID,
        );
        let mut prediction = PredictionEngine::new(
            config.prediction,
            config.predict_overwrite,
            Rendition::default(),
        );
        prediction.set_extensions(config.prediction_extensions);
        let notifications = Notifications::new(now, config.escape_key_name.as_deref());
        Ok(ClientSession {
            conn,
            key: key.clone(),
            initial_size: (cols, rows),
            size: (cols, rows),
            redraw_size: None,
            paused: false,
            full_redraws_requested: 0,
            prediction,
            notifications,
            events: VecDeque::new(),
            last_pulled: None,
            remote_num: 0,
            connected: false,
            reported_state: ConnectionState::Connecting,
            bell_count: 0,
            title: String::new(),
            clipboard: String::new(),
            bytes_sent: 0,
            bytes_received: 0,
            start: now,
            closed: None,
            config,
            scrollback,
        })
    }

    /// The session key (what [`ClientSession::save_state`] keeps; a resuming program needs it
    /// for nothing else).
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The server's screen as last received (without predictions).
    pub fn remote_screen(&self) -> &Framebuffer {
        self.conn.remote_state().1.framebuffer()
    }

    /// Entries the prediction engine holds (guesses, cursor predictions, bytes to predict
    /// again): bounded, watched by the soak test.
    pub fn prediction_entries(&self) -> usize {
        self.prediction.tracked()
    }

    /// The lines that scrolled off the top of the screen (see [`ClientSession::scrollback_mode`]
    /// for where they come from).
    pub fn scrollback(&self) -> &Scrollback {
        &self.scrollback.ring
    }

    /// Where the scrollback comes from: captured from the screens received, or the MoshKit
    /// server's own (exact).
    pub fn scrollback_mode(&self) -> ScrollbackMode {
        self.scrollback.mode()
    }

    /// Ask a MoshKit server for the scrollback lines `from..to` that are
    /// [`crate::scrollback::ScrollbackLine::missing`] here. Completes asynchronously with
    /// [`ClientEvent::ScrollbackFetched`] (at once when nothing is missing).
    pub fn request_scrollback(
        &mut self,
        now: Instant,
        from: u64,
        to: u64,
    ) -> Result<(), ScrollbackError> {
        if let Some(event) = self.scrollback.request(from, to)? {
            self.conn.modify_local(now, |s| s.push_event(event));
        }
        self.report_fetched();
        Ok(())
    }

    fn report_fetched(&mut self) {
        for r in self.scrollback.take_completed() {
            self.events.push_back(ClientEvent::ScrollbackFetched {
                from: r.start,
                to: r.end,
            });
        }
    }

    fn update_scrollback(&mut self, now: Instant) {
        let changes = self.scrollback.on_remote_state(self.conn.remote_state().1);
        if let Some(event) = changes.send {
            self.conn.modify_local(now, |s| s.push_event(event));
        }
        if changes.changed {
            let r = self.scrollback.ring.range();
            self.events.push_back(ClientEvent::ScrollbackChanged {
                first: r.start,
                end: r.end,
            });
        }
        self.report_fetched();
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection<UserStream, HostState> {
        &self.conn
    }

    /// A send failed because the address or route vanished (the driver's call): the same as
    /// [`ClientSession::network_changed`].
    pub fn send_failed(&mut self, now: Instant) {
        self.network_changed(now);
    }

    /// A send failed with `EMSGSIZE` (the driver's call): use the conservative MTU.
    pub fn mtu_too_big(&mut self) {
        self.conn.mtu_too_big();
    }

    /// Keystrokes (raw terminal input bytes, e.g. from [`crate::keys::encode`]).
    pub fn send_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.closed.is_some() || bytes.is_empty() {
            return;
        }
        self.sync_prediction();
        let fb = self.conn.remote_state().1.framebuffer().clone();
        self.prediction.new_user_input(bytes, &fb, now);
        self.conn.modify_local(now, |s| {
            s.push_bytes(bytes);
        });
        self.events.push_back(ClientEvent::ScreenChanged);
    }

    /// Paste text, wrapped in bracketed-paste markers when the application asked for them
    /// (mode 2004). Predicted only at a confirmed prompt (one line that fits, see
    /// `docs/prediction.md`); otherwise nothing is predicted.
    pub fn paste(&mut self, now: Instant, text: &str) {
        if self.closed.is_some() || text.is_empty() {
            return;
        }
        let bracketed = self.remote_screen().modes().bracketed_paste;
        let mut bytes = Vec::with_capacity(text.len() + 12);
        if bracketed {
            bytes.extend_from_slice(PASTE_START);
        }
        // The end marker inside pasted text would end the paste early: drop it.
        bytes.extend(strip_paste_end(text.as_bytes()));
        if bracketed {
            bytes.extend_from_slice(PASTE_END);
        }
        self.sync_prediction();
        let fb = self.conn.remote_state().1.framebuffer().clone();
        self.prediction.new_paste(&bytes, &fb, now);
        self.conn.modify_local(now, |s| {
            s.push_bytes(&bytes);
        });
        self.events.push_back(ClientEvent::ScreenChanged);
    }

    /// The window changed size.
    pub fn resize(&mut self, now: Instant, cols: u16, rows: u16) {
        if self.closed.is_some() || cols == 0 || rows == 0 {
            return;
        }
        self.conn
            .modify_local(now, |s| s.push_resize(i32::from(cols), i32::from(rows)));
        self.size = (cols, rows);
        self.prediction.reset();
    }

    /// The app went to the background: from now on the session has no deadline and sends
    /// nothing ([`ClientSession::poll_timeout`] is `None`, [`ClientSession::poll_transmit`]
    /// gives nothing) until [`ClientSession::resume`]. Save the state now
    /// ([`ClientSession::save_state`]): the OS may kill a backgrounded app.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// The app is back: re-bind (the network has probably changed) and send at once, so the
    /// server follows the new address within a round trip.
    pub fn resume(&mut self, now: Instant) {
        if std::mem::take(&mut self.paused) {
            self.network_changed(now);
        }
    }

    /// Whether [`ClientSession::pause`] is in force.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The device's network changed: re-bind at once and resend.
    pub fn network_changed(&mut self, now: Instant) {
        self.conn.network_changed(now);
        self.pump(now);
    }

    /// Start the shutdown handshake.
    pub fn close(&mut self, now: Instant) {
        self.conn.close(now);
        self.pump(now);
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.bytes_received += datagram.len() as u64;
        self.conn.handle_datagram(now, from, datagram);
        self.pump(now);
    }

    /// A deadline from [`ClientSession::poll_timeout`] was reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.paused {
            return;
        }
        self.conn.handle_timeout(now);
        self.pump(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if self.paused {
            return None;
        }
        let t = self.conn.poll_transmit(now);
        if let Some(t) = &t {
            self.bytes_sent += t.contents.len() as u64;
        }
        self.pump(now);
        t
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When [`ClientSession::handle_timeout`] must next be called.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        if self.closed.is_some() || self.paused {
            return None;
        }
        let mut next = self.conn.poll_timeout(now);
        let mut consider = |d: Option<Duration>| {
            if let Some(d) = d {
                let t = now + d;
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.prediction.wait_time());
        consider(self.notifications.wait_time(now));
        if !self.connected {
            consider(Some(CONNECTING_POLL));
        }
        next
    }

    /// The state of the link.
    pub fn connection_state(&self, now: Instant) -> ConnectionState {
        if let Some(reason) = self.closed {
            ConnectionState::Closed(reason)
        } else if !self.connected {
            ConnectionState::Connecting
        } else if self.notifications.server_late(now) {
            ConnectionState::Silent {
                since: self.conn.progress().remote_received_at,
            }
        } else if self.shutting_down() {
            ConnectionState::Closing
        } else {
            ConnectionState::Connected
        }
    }

    fn shutting_down(&self) -> bool {
        self.conn.shutdown_in_progress()
    }

    /// The notification bar's content now (also drawn over row 0 when configured).
    pub fn notification(&mut self, now: Instant) -> Option<NotificationBar> {
        self.update_notifications(now);
        self.notifications.bar(now)
    }

    /// Show a message in the notification bar (e.g. the app's own escape-key help).
    pub fn set_message(&mut self, now: Instant, text: &str, permanent: bool) {
        self.notifications.set_message(now, text, permanent, true);
        self.events.push_back(ClientEvent::ScreenChanged);
    }

    /// Show help text permanently, without the quit hint (upstream's escape-key help, §9.5).
    pub fn set_help(&mut self, now: Instant, text: &str) {
        self.notifications.set_message(now, text, true, false);
        self.events.push_back(ClientEvent::ScreenChanged);
    }

    /// Remove the notification bar's message (the count-up stays while the link is late).
    pub fn clear_message(&mut self) {
        self.notifications.clear_message();
        self.events.push_back(ClientEvent::ScreenChanged);
    }

    /// Figures about the link.
    pub fn stats(&self) -> ClientStats {
        let s = self.conn.stats();
        ClientStats {
            srtt_ms: self.conn.srtt_ms(),
            last_contact: self.conn.last_heard(),
            datagrams_sent: s.datagrams_sent,
            datagrams_received: s.datagrams_received,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            datagrams_dropped: s.dropped_unauthentic + s.dropped_malformed,
            full_redraws_requested: self.full_redraws_requested,
        }
    }

    /// The rows that changed since the previous pull (all of them the first time).
    pub fn pull_changes(&mut self, now: Instant) -> ScreenUpdate {
        let composed = self.compose(now);
        let (full, rows) = changed_rows(self.last_pulled.as_ref(), &composed);
        let update = self.update_from(&composed, full, rows, now);
        self.last_pulled = Some(composed);
        update
    }

    /// The whole screen now (does not affect what [`ClientSession::pull_changes`] reports).
    pub fn snapshot(&mut self, now: Instant) -> ScreenUpdate {
        let composed = self.compose(now);
        let (_, rows) = changed_rows(None, &composed);
        self.update_from(&composed, true, rows, now)
    }

    /// The screen as a framebuffer, with predictions and (if configured) the notification bar
    /// drawn over it: what a terminal client paints with [`crate::display::FrameDiffer`].
    pub fn display_frame(&mut self, now: Instant) -> Framebuffer {
        let (fb, overlay, bar) = self.overlays(now);
        compose_frame(
            &fb,
            &overlay,
            bar.as_deref(),
            self.config.title_prefix.as_deref(),
        )
    }

    fn update_from(
        &self,
        composed: &Composed,
        full: bool,
        changed_rows: Vec<ScreenRow>,
        now: Instant,
    ) -> ScreenUpdate {
        ScreenUpdate {
            cols: composed.cols,
            rows: u16::try_from(composed.rows.len()).unwrap_or(u16::MAX),
            full,
            changed_rows,
            cursor: composed.cursor,
            title: self.title.clone(),
            bell_count: self.bell_count,
            notification: self.notifications.bar(now),
        }
    }

    fn compose(&mut self, now: Instant) -> Composed {
        let (fb, overlay, bar) = self.overlays(now);
        compose(&fb, &overlay, bar.as_deref())
    }

    /// The remote screen and what to draw over it now: predictions (culled first) and the
    /// notification bar's text if it is drawn (upstream's overlay order, §9.2).
    fn overlays(
        &mut self,
        now: Instant,
    ) -> (Framebuffer, PredictionOverlay<Rendition>, Option<String>) {
        self.sync_prediction();
        self.update_notifications(now);
        let fb = self.conn.remote_state().1.framebuffer().clone();
        self.prediction.cull(&fb, now);
        let overlay = self.prediction.apply(&fb);
        let bar = if self.config.draw_notification_bar {
            self.notifications.bar(now).map(|b| b.text)
        } else {
            None
        };
        (fb, overlay, bar)
    }

    /// Feed the transport's progress to the prediction engine (§9.1 step 4).
    fn sync_prediction(&mut self) {
        let p = self.conn.progress();
        self.prediction.set_local_frame_sent(p.newest_sent);
        self.prediction.set_local_frame_acked(p.newest_acked);
        self.prediction.set_send_interval(p.send_interval);
        let echo_ack = self.conn.remote_state().1.echo_ack();
        self.prediction.set_local_frame_late_acked(echo_ack);
    }

    fn update_notifications(&mut self, now: Instant) {
        if self.connected {
            let p = self.conn.progress();
            self.notifications.server_heard(p.remote_received_at);
            self.notifications.server_acked(p.acked_state_sent_at);
        } else if self.closed.is_none()
            && now.saturating_duration_since(self.start) > CONNECTING_POLL
        {
            let port = self.conn.remote_address().map_or(0, |a| a.port());
            self.notifications.set_message(
                now,
                &format!("Nothing received from server on UDP port {port}."),
                false,
                true,
            );
        }
        self.notifications.expire(now);
    }

    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::RemoteStateChanged { num } => self.remote_changed(now, num),
                Event::Rebind => self.events.push_back(ClientEvent::Rebind),
                Event::Closed(reason) => {
                    self.closed = Some(reason);
                    self.events.push_back(ClientEvent::Closed(reason));
                }
                Event::RemoteStateUnknown => self.request_full_redraw(now),
                Event::Resynchronised {
                    peer_had_newer_input,
                } => self.events.push_back(ClientEvent::Resumed {
                    server_had_newer_input: peer_had_newer_input,
                }),
                Event::PeerAddressChanged { .. }
                | Event::PeerDetached
                | Event::PeerShutdownRequested => {}
            }
        }
        let state = self.connection_state(now);
        if state != self.reported_state {
            self.reported_state = state;
            self.events.push_back(ClientEvent::ConnectionState(state));
        }
    }

    /// A restored session's screen is older than what the host diffs from: change the window
    /// size by one row, which makes the host clear and redraw everything (a diff any replica
    /// can take), then set it back once that redraw arrived (see `remote_changed`).
    fn request_full_redraw(&mut self, now: Instant) {
        if self.redraw_size.is_some() {
            return;
        }
        let (cols, rows) = self.size;
        let temporary = if rows > 1 { rows - 1 } else { rows + 1 };
        log::info!("restored screen is stale: asking the host for a full redraw");
        self.redraw_size = Some((cols, temporary));
        self.full_redraws_requested += 1;
        self.conn.modify_local(now, |s| {
            s.push_resize(i32::from(cols), i32::from(temporary))
        });
    }

    fn remote_changed(&mut self, now: Instant, num: u64) {
        if num <= self.remote_num && self.connected {
            return;
        }
        self.remote_num = num;
        if let Some((cols, rows)) = self.redraw_size {
            let fb = self.conn.remote_state().1.framebuffer();
            if (fb.width(), fb.height()) == (usize::from(cols), usize::from(rows)) {
                // The full redraw arrived: back to the window's real size.
                self.redraw_size = None;
                let (c, r) = self.size;
                self.conn
                    .modify_local(now, |s| s.push_resize(i32::from(c), i32::from(r)));
            }
        }
        // The datagram that brought this screen also carried the server's ack: the newest
        // keystrokes the server had received when it drew the screen.
        self.prediction
            .set_screen_acked(self.conn.progress().newest_acked);
        if !self.connected {
            self.connected = true;
            self.notifications.clear_message();
        }
        self.notifications.server_heard(now);
        self.update_scrollback(now);
        let fb = self.conn.remote_state().1.framebuffer();
        let bells = fb.bell_count();
        let title = fb.title().to_owned();
        let clipboard = fb.clipboard().to_owned();
        for _ in self.bell_count..bells.min(self.bell_count + 8) {
            self.events.push_back(ClientEvent::Bell);
        }
        self.bell_count = bells;
        if title != self.title {
            self.title = title.clone();
            self.events.push_back(ClientEvent::Title(title));
        }
        if clipboard != self.clipboard {
            self.clipboard = clipboard.clone();
            self.events.push_back(ClientEvent::Clipboard(clipboard));
        }
        self.events.push_back(ClientEvent::ScreenChanged);
    }
}

/// `text` without any bracketed-paste end marker.
fn strip_paste_end(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(PASTE_END) {
            i += PASTE_END.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}
