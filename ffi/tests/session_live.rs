//! The uniffi session object against the real upstream `mosh-server` on loopback: connect,
//! type a command, see its output through the listener + `pull_changes`, resize, pause/resume,
//! close; the scrollback captured from slow output, through the uniffi and the C calls. Needs
//! `mosh-server` (Debian package `mosh`); fails, never skips, without it.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use moshkit::{
    CloseReason, ConnectionState, DEFAULT_SCROLLBACK_LINES, Modifiers, MoshKitError, MoshSession,
    NamedKey, PredictionMode, ScreenUpdate, ScrollbackMode, ScrollbackRange, SessionListener,
    encode_key,
};

/// A detached upstream mosh-server, killed by pid on drop.
struct Server {
    port: u16,
    key: String,
    pid: u32,
}

impl Server {
    fn start() -> Server {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = Command::new("mosh-server")
            .args(["new", "-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-l", "LANG=C.UTF-8", "--", "/bin/sh"])
            .env("LANG", "C.UTF-8")
            .env_remove("SSH_CONNECTION")
            .stdin(Stdio::null())
            .output()
            .expect("mosh-server (Debian package `mosh`) must be installed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("MOSH CONNECT "))
            .unwrap_or_else(|| panic!("no MOSH CONNECT in {stdout:?} {stderr:?}"));
        let mut words = line.split_whitespace().skip(2);
        let port = words.next().unwrap().parse().unwrap();
        let key = words.next().unwrap().to_owned();
        let pid = stderr
            .split("detached, pid = ")
            .nth(1)
            .and_then(|s| s.split(']').next())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {stderr:?}"));
        Server { port, key, pid }
    }

    fn running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.running() {
            let _ = Command::new("kill").arg(self.pid.to_string()).status();
        }
    }
}

#[derive(Default)]
struct Events {
    screen_notifications: usize,
    states: Vec<ConnectionState>,
    closed: Option<CloseReason>,
    /// Every `on_scrollback_changed(first, end)`.
    scrollback_changes: Vec<(u64, u64)>,
}

#[derive(Default)]
struct Listener {
    events: Mutex<Events>,
    cond: Condvar,
    /// Notifications since the test last reset it before pulling (coalescing: never above 1).
    unanswered: AtomicUsize,
    max_unanswered: AtomicUsize,
    /// Names of the threads callbacks ran on.
    threads: Mutex<std::collections::BTreeSet<String>>,
}

impl Listener {
    fn update(&self, f: impl FnOnce(&mut Events)) {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        self.threads.lock().unwrap().insert(name);
        f(&mut self.events.lock().unwrap());
        self.cond.notify_all();
    }

    /// Waits (bounded) until `pred` holds.
    fn wait(&self, limit: Duration, pred: impl Fn(&Events) -> bool) -> bool {
        let events = self.events.lock().unwrap();
        let (_guard, timeout) = self
            .cond
            .wait_timeout_while(events, limit, |e| !pred(e))
            .unwrap();
        !timeout.timed_out()
    }
}

impl SessionListener for Listener {
    fn on_screen_changed(&self) {
        let n = self.unanswered.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_unanswered.fetch_max(n, Ordering::SeqCst);
        self.update(|e| e.screen_notifications += 1);
    }
    fn on_connection_state(&self, state: ConnectionState) {
        self.update(|e| e.states.push(state));
    }
    fn on_bell(&self) {}
    fn on_title(&self, _title: String) {}
    fn on_clipboard(&self, _text: String) {}
    fn on_closed(&self, reason: CloseReason) {
        self.update(|e| e.closed = Some(reason));
    }
    fn on_resumed(&self, _server_had_newer_input: bool) {}
    fn on_scrollback_changed(&self, first: u64, end: u64) {
        self.update(|e| e.scrollback_changes.push((first, end)));
    }
    fn on_scrollback_fetched(&self, _from: u64, _to: u64) {}
}

/// The UI's copy of the screen, kept up to date from pulled changes.
struct Ui {
    rows: Vec<String>,
    size: (u16, u16),
}

impl Ui {
    fn apply(&mut self, u: &ScreenUpdate) {
        if u.full {
            self.rows = vec![String::new(); usize::from(u.rows)];
            self.size = (u.cols, u.rows);
        }
        for r in &u.changed_rows {
            assert_eq!(r.cells.len(), usize::from(u.cols));
            self.rows[usize::from(r.index)] = r.cells.iter().map(|c| c.text.as_str()).collect();
        }
    }

    /// Pulls whenever the listener says so until a row contains `needle` (bounded).
    fn wait_for(&mut self, s: &MoshSession, l: &Listener, needle: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            l.unanswered.store(0, Ordering::SeqCst);
            let seen = l.events.lock().unwrap().screen_notifications;
            self.apply(&s.pull_changes());
            if self.rows.iter().any(|r| r.contains(needle)) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{needle:?} not on screen after {limit:?}: {:#?}",
                self.rows
            );
            l.wait(Duration::from_millis(500), |e| {
                e.screen_notifications > seen
            });
        }
    }
}

#[test]
fn session_with_upstream_server() {
    let server = Server::start();
    let listener = Arc::new(Listener::default());
    let s = MoshSession::connect(
        "127.0.0.1".into(),
        server.port,
        server.key.clone(),
        80,
        24,
        PredictionMode::Adaptive,
        listener.clone(),
        DEFAULT_SCROLLBACK_LINES,
    )
    .unwrap();
    let mut ui = Ui {
        rows: Vec::new(),
        size: (0, 0),
    };
    ui.wait_for(&s, &listener, "#", Duration::from_secs(10));
    assert_eq!(ui.size, (80, 24));
    assert!(listener.wait(Duration::from_secs(5), |e| {
        e.states.contains(&ConnectionState::Connected)
    }));
    assert_eq!(s.connection_state(), ConnectionState::Connected);

    let enter = encode_key(NamedKey::Enter, Modifiers::default());
    s.send_input(b"echo mk-$((40+2))".to_vec()).unwrap();
    s.send_input(enter.clone()).unwrap();
    ui.wait_for(&s, &listener, "mk-42", Duration::from_secs(10));

    s.resize(100, 30).unwrap();
    s.send_input(b"stty size".to_vec()).unwrap();
    s.send_input(enter.clone()).unwrap();
    ui.wait_for(&s, &listener, "30 100", Duration::from_secs(10));
    assert_eq!(ui.size, (100, 30));
    let snap = s.snapshot();
    assert!(snap.full);
    assert_eq!(snap.changed_rows.len(), 30);

    // Backgrounding: nothing is sent while paused; resume rebinds and the session goes on.
    s.pause().unwrap();
    std::thread::sleep(Duration::from_millis(50)); // let the runtime thread see it
    let sent = s.stats().bytes_sent;
    s.paste("echo back-$((6*7))".into()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.stats().bytes_sent, sent, "paused sessions stay silent");
    s.resume().unwrap();
    s.send_input(enter.clone()).unwrap();
    ui.wait_for(&s, &listener, "back-42", Duration::from_secs(10));
    s.network_changed().unwrap();
    s.send_input(b"echo net-$((1+1))".to_vec()).unwrap();
    s.send_input(enter).unwrap();
    ui.wait_for(&s, &listener, "net-2", Duration::from_secs(10));

    let stats = s.stats();
    assert!(stats.datagrams_received > 0 && stats.bytes_sent > 0);
    assert!(stats.last_contact_ms.is_some());
    assert!(
        listener.max_unanswered.load(Ordering::SeqCst) <= 1,
        "screen notifications are coalesced until the app pulls"
    );

    assert_eq!(
        *listener.threads.lock().unwrap(),
        ["moshkit-runtime".to_owned()].into(),
        "callbacks run on the one runtime thread"
    );

    s.disconnect().unwrap();
    assert!(listener.wait(Duration::from_secs(15), |e| e.closed.is_some()));
    assert_eq!(
        listener.events.lock().unwrap().closed,
        Some(CloseReason::ShutdownAcknowledged)
    );
    assert!(matches!(
        s.connection_state(),
        ConnectionState::Closed { .. }
    ));
    assert_eq!(s.send_input(b"x".to_vec()), Err(MoshKitError::Closed));
    assert_eq!(s.disconnect(), Err(MoshKitError::Closed));
    let start = Instant::now();
    while server.running() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!server.running(), "mosh-server exits after the shutdown");
}

#[test]
fn peer_shutdown_is_reported() {
    let server = Server::start();
    let listener = Arc::new(Listener::default());
    let s = MoshSession::connect(
        "localhost".into(), // resolved (IPv4 preferred)
        server.port,
        server.key.clone(),
        80,
        24,
        PredictionMode::Never,
        listener.clone(),
        DEFAULT_SCROLLBACK_LINES,
    )
    .unwrap();
    let mut ui = Ui {
        rows: Vec::new(),
        size: (0, 0),
    };
    ui.wait_for(&s, &listener, "#", Duration::from_secs(10));
    s.send_input(b"exit\r".to_vec()).unwrap();
    assert!(listener.wait(Duration::from_secs(15), |e| e.closed.is_some()));
    assert_eq!(
        listener.events.lock().unwrap().closed,
        Some(CloseReason::PeerShutdown)
    );
    assert_eq!(s.resize(10, 10), Err(MoshKitError::Closed));
}

// ---------------------------------------------------------------------------------------------
// Scrollback captured from an upstream server (which keeps none of its own)

/// Typed into the remote shell: 60 numbered lines, slowly, on a 24-row screen.
const SLOW_OUTPUT: &[u8] = b"for i in $(seq 1 60); do echo line$i; sleep 0.05; done\r";

/// Whether `text` (trailing blanks trimmed) is a line of [`SLOW_OUTPUT`]'s output.
fn output_line(text: &str) -> Option<String> {
    let t = text.trim_end();
    let n = t.strip_prefix("line")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| t.to_owned())
}

/// Checks the scrollback's and the screen's texts (both oldest first) against the output of
/// [`SLOW_OUTPUT`]: the scrollback holds `line1`.. in order, the screen the rest up to `line60`.
fn check_slow_output(scrollback: &[String], screen: &[String]) -> Result<(), String> {
    let scrolled: Vec<String> = scrollback.iter().filter_map(|t| output_line(t)).collect();
    let shown: Vec<String> = screen.iter().filter_map(|t| output_line(t)).collect();
    let want: Vec<String> = (1..=60).map(|i| format!("line{i}")).collect();
    if scrolled.len() < 30 {
        return Err(format!("only {} output lines scrolled off", scrolled.len()));
    }
    let all: Vec<String> = scrolled.iter().chain(&shown).cloned().collect();
    if all != want {
        return Err(format!("scrollback {scrolled:?} + screen {shown:?}"));
    }
    Ok(())
}

/// Polls (bounded) until `check` passes, returning its last error on timeout.
fn poll(limit: Duration, mut check: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let result = check();
        if result.is_ok() || start.elapsed() > limit {
            return result;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn scrollback_captured_through_uniffi() {
    let server = Server::start();
    let listener = Arc::new(Listener::default());
    let s = MoshSession::connect(
        "127.0.0.1".into(),
        server.port,
        server.key.clone(),
        80,
        24,
        PredictionMode::Never,
        listener.clone(),
        DEFAULT_SCROLLBACK_LINES,
    )
    .unwrap();
    let mut ui = Ui {
        rows: Vec::new(),
        size: (0, 0),
    };
    ui.wait_for(&s, &listener, "#", Duration::from_secs(10));
    assert_eq!(s.scrollback_mode(), ScrollbackMode::Captured);
    s.send_input(SLOW_OUTPUT.to_vec()).unwrap();

    let outcome = poll(Duration::from_secs(20), || {
        let r = s.scrollback_range();
        let lines = s.scrollback_lines(r.first, u32::MAX);
        assert_eq!(lines.len() as u64, r.end - r.first);
        assert!(
            lines.iter().zip(r.first..).all(|(l, i)| l.index == i),
            "numbered in order"
        );
        assert!(lines.iter().all(|l| !l.missing && l.cells.len() == 80));
        let texts: Vec<String> = lines.iter().map(|l| l.text()).collect();
        let screen: Vec<String> = s.snapshot().changed_rows.iter().map(|r| r.text()).collect();
        check_slow_output(&texts, &screen)
    });
    assert_eq!(outcome, Ok(()));

    let range = s.scrollback_range();
    assert_eq!(range.first, 0, "nothing dropped below the limit");
    assert!(listener.wait(Duration::from_secs(5), |e| {
        e.scrollback_changes.last() == Some(&(range.first, range.end))
    }));
    assert_eq!(
        s.scrollback_range(),
        ScrollbackRange {
            first: 0,
            end: range.end
        }
    );
    assert!(s.scrollback_lines(range.end, 10).is_empty());
    assert_eq!(s.scrollback_lines(range.first, 0), vec![]);
    assert_eq!(s.scrollback_lines(range.end - 1, 10).len(), 1);
    // An upstream server keeps no scrollback: nothing can be requested.
    assert_eq!(
        s.request_scrollback(range.first, range.end),
        Err(MoshKitError::ScrollbackNotServed)
    );
    assert!(matches!(
        s.request_scrollback(5, 5),
        Err(MoshKitError::InvalidRange { .. })
    ));
    assert_eq!(s.scrollback_mode(), ScrollbackMode::Captured);
    s.disconnect().unwrap();
    assert!(listener.wait(Duration::from_secs(15), |e| e.closed.is_some()));
    assert_eq!(s.request_scrollback(0, 1), Err(MoshKitError::Closed));
    // The scrollback can still be read after the end.
    assert_eq!(s.scrollback_range(), range);
}

/// What the C callbacks of [`scrollback_captured_through_c`] saw (its only user).
static C_SCROLLBACK_CHANGES: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());

unsafe extern "C" fn c_scrollback_changed(_: *mut std::ffi::c_void, first: u64, end: u64) {
    C_SCROLLBACK_CHANGES.lock().unwrap().push((first, end));
}

mod c {
    //! Small safe wrappers of the C calls for the test (each asserts success).
    use std::ffi::c_char;

    use moshkit::c_api::MoshkitStatus;
    use moshkit::c_screen::*;
    use moshkit::c_scrollback::*;
    use moshkit::c_session::*;

    pub fn range(s: *const MoshkitSession) -> (u64, u64) {
        let (mut first, mut end) = (u64::MAX, u64::MAX);
        // SAFETY: valid out pointers.
        let st = unsafe { moshkit_session_scrollback_range(s, &mut first, &mut end) };
        assert_eq!(st, MoshkitStatus::Ok);
        (first, end)
    }

    pub fn mode(s: *const MoshkitSession) -> MoshkitScrollbackMode {
        let mut mode = MoshkitScrollbackMode::Off;
        // SAFETY: valid out pointer.
        assert_eq!(
            unsafe { moshkit_session_scrollback_mode(s, &mut mode) },
            MoshkitStatus::Ok
        );
        mode
    }

    pub fn copy(s: *const MoshkitSession, from: u64, count: u32) -> *mut MoshkitScrollbackLines {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid out pointer.
        let st = unsafe { moshkit_session_scrollback_lines(s, from, count, &mut out) };
        assert_eq!(st, MoshkitStatus::Ok);
        assert!(!out.is_null());
        out
    }

    pub fn count(l: *const MoshkitScrollbackLines) -> usize {
        let mut n = usize::MAX;
        // SAFETY: valid out pointer.
        assert_eq!(
            unsafe { moshkit_scrollback_line_count(l, &mut n) },
            MoshkitStatus::Ok
        );
        n
    }

    pub fn info(l: *const MoshkitScrollbackLines, i: usize) -> MoshkitScrollbackLineInfo {
        let mut info = std::mem::MaybeUninit::uninit();
        // SAFETY: valid out pointer; written on success.
        unsafe {
            assert_eq!(
                moshkit_scrollback_line_info(l, i, info.as_mut_ptr()),
                MoshkitStatus::Ok
            );
            info.assume_init()
        }
    }

    /// Line `i`'s text through a length query and then a buffer of the right size.
    pub fn text(l: *const MoshkitScrollbackLines, i: usize) -> String {
        let mut len = 0;
        // SAFETY: NULL buffer with capacity 0 is a length query.
        let st = unsafe { moshkit_scrollback_line_text(l, i, std::ptr::null_mut(), 0, &mut len) };
        assert_eq!(st, MoshkitStatus::BufferTooSmall);
        let mut buf = vec![0 as c_char; len + 1];
        // SAFETY: a buffer of len + 1 bytes.
        let st = unsafe { moshkit_scrollback_line_text(l, i, buf.as_mut_ptr(), len + 1, &mut len) };
        assert_eq!(st, MoshkitStatus::Ok);
        let bytes: Vec<u8> = buf[..len].iter().map(|&c| c as u8).collect();
        String::from_utf8(bytes).unwrap()
    }

    pub fn cell_text(l: *const MoshkitScrollbackLines, i: usize, col: u16) -> String {
        let mut cell = std::mem::MaybeUninit::<MoshkitCell>::uninit();
        // SAFETY: valid out pointer; on success its text is a C string owned by the copy.
        unsafe {
            assert_eq!(
                moshkit_scrollback_cell(l, i, col, cell.as_mut_ptr()),
                MoshkitStatus::Ok
            );
            let cell = cell.assume_init();
            std::ffi::CStr::from_ptr(cell.text)
                .to_str()
                .unwrap()
                .to_owned()
        }
    }

    /// The whole screen's rows, through a snapshot.
    pub fn screen_rows(s: *const MoshkitSession) -> Vec<String> {
        let mut screen = std::ptr::null_mut();
        // SAFETY: valid out pointer.
        assert_eq!(
            unsafe { moshkit_session_snapshot(s, &mut screen) },
            MoshkitStatus::Ok
        );
        let mut info = std::mem::MaybeUninit::<MoshkitScreenInfo>::uninit();
        // SAFETY: valid out pointer; written on success.
        let info = unsafe {
            assert_eq!(
                moshkit_screen_info(screen, info.as_mut_ptr()),
                MoshkitStatus::Ok
            );
            info.assume_init()
        };
        let rows = (0..info.changed_row_count)
            .map(|i| {
                let mut buf = [0 as c_char; 1024];
                let mut len = 0;
                // SAFETY: a 1024-byte buffer.
                let st =
                    unsafe { moshkit_screen_row_text(screen, i, buf.as_mut_ptr(), 1024, &mut len) };
                assert_eq!(st, MoshkitStatus::Ok);
                String::from_utf8(buf[..len].iter().map(|&c| c as u8).collect()).unwrap()
            })
            .collect();
        assert_eq!(moshkit_screen_free(screen), MoshkitStatus::Ok);
        rows
    }
}

#[test]
fn scrollback_captured_through_c() {
    use moshkit::c_api::MoshkitStatus;
    use moshkit::c_screen::MoshkitCell;
    use moshkit::c_scrollback::*;
    use moshkit::c_session::*;

    let server = Server::start();
    let host = std::ffi::CString::new("127.0.0.1").unwrap();
    let key = std::ffi::CString::new(server.key.clone()).unwrap();
    let callbacks = MoshkitCallbacks {
        struct_size: std::mem::size_of::<MoshkitCallbacks>(),
        context: std::ptr::null_mut(),
        on_screen_changed: None,
        on_connection_state: None,
        on_bell: None,
        on_title: None,
        on_clipboard: None,
        on_closed: None,
        on_resumed: None,
        on_scrollback_changed: Some(c_scrollback_changed),
        on_scrollback_fetched: None,
    };
    let options = MoshkitSessionOptions {
        struct_size: std::mem::size_of::<MoshkitSessionOptions>(),
        scrollback_lines: 1000,
    };
    let mut s = std::ptr::null_mut();
    // SAFETY: valid strings, callbacks and options; valid out pointer. The callback has no
    // context and stays valid (a function).
    let st = unsafe {
        moshkit_session_connect_with_options(
            host.as_ptr(),
            server.port,
            key.as_ptr(),
            80,
            24,
            moshkit::c_api::MoshkitPredictionMode::Never as u32,
            &callbacks,
            &options,
            &mut s,
        )
    };
    assert_eq!(st, MoshkitStatus::Ok);
    assert_eq!(
        poll(Duration::from_secs(10), || {
            if c::screen_rows(s).iter().any(|r| r.contains('#')) {
                Ok(())
            } else {
                Err("no prompt".into())
            }
        }),
        Ok(())
    );
    assert_eq!(c::mode(s), MoshkitScrollbackMode::Captured);
    // SAFETY: valid bytes.
    let st = unsafe { moshkit_session_send_input(s, SLOW_OUTPUT.as_ptr(), SLOW_OUTPUT.len()) };
    assert_eq!(st, MoshkitStatus::Ok);

    let outcome = poll(Duration::from_secs(20), || {
        let (first, end) = c::range(s);
        let copy = c::copy(s, first, MOSHKIT_SCROLLBACK_LINES_MAX);
        let n = c::count(copy);
        assert_eq!(n as u64, end - first);
        let texts: Vec<String> = (0..n)
            .map(|i| {
                let info = c::info(copy, i);
                assert_eq!(info.index, first + i as u64);
                assert_eq!(info.cell_count, 80);
                assert!(!info.missing);
                c::text(copy, i)
            })
            .collect();
        assert_eq!(moshkit_scrollback_free(copy), MoshkitStatus::Ok);
        check_slow_output(&texts, &c::screen_rows(s))
    });
    assert_eq!(outcome, Ok(()));
    let (first, end) = c::range(s);
    assert_eq!(
        poll(Duration::from_secs(5), || {
            let last = C_SCROLLBACK_CHANGES.lock().unwrap().last().copied();
            if last == Some((first, end)) {
                Ok(())
            } else {
                Err(format!(
                    "last on_scrollback_changed {last:?}, range {first}..{end}"
                ))
            }
        }),
        Ok(())
    );

    // One line through the cell accessor: "line1" is the first output line scrolled off.
    let copy = c::copy(s, first, 1000);
    let n = c::count(copy);
    let i = (0..n)
        .find(|&i| c::text(copy, i).trim_end() == "line1")
        .unwrap();
    let cells: String = (0..5).map(|col| c::cell_text(copy, i, col)).collect();
    assert_eq!(cells, "line1");
    assert_eq!(c::cell_text(copy, i, 79), " ");

    // Misuse is answered with statuses.
    let (mut f, mut e) = (0, 0);
    let mut buf = [0 as std::ffi::c_char; 4];
    let mut len = 0;
    let mut cell = std::mem::MaybeUninit::<MoshkitCell>::uninit();
    let mut info = std::mem::MaybeUninit::<MoshkitScrollbackLineInfo>::uninit();
    let mut mode = MoshkitScrollbackMode::Off;
    let mut out = std::ptr::null_mut();
    // SAFETY: every pointer is NULL or valid for its use; the calls answer with statuses.
    unsafe {
        assert_eq!(
            moshkit_session_scrollback_range(std::ptr::null(), &mut f, &mut e),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_session_scrollback_range(s, std::ptr::null_mut(), &mut e),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_session_scrollback_range(s, &mut f, std::ptr::null_mut()),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_session_scrollback_mode(s, std::ptr::null_mut()),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_session_scrollback_mode(std::ptr::null(), &mut mode),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_session_scrollback_lines(s, 0, 10, std::ptr::null_mut()),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_session_scrollback_lines(std::ptr::null(), 0, 10, &mut out),
            MoshkitStatus::NullPointer
        );
        assert!(out.is_null());
        // A too-small buffer: truncated like snprintf, the full length reported.
        assert_eq!(
            moshkit_scrollback_line_text(copy, i, buf.as_mut_ptr(), 4, &mut len),
            MoshkitStatus::BufferTooSmall
        );
        assert_eq!(len, 80);
        assert_eq!(buf.map(|c| c as u8), *b"lin\0");
        assert_eq!(
            moshkit_scrollback_line_text(copy, i, std::ptr::null_mut(), 4, &mut len),
            MoshkitStatus::NullPointer
        );
        // Indexes out of range.
        assert_eq!(
            moshkit_scrollback_line_text(copy, n, buf.as_mut_ptr(), 4, &mut len),
            MoshkitStatus::InvalidArgument
        );
        assert_eq!(
            moshkit_scrollback_line_info(copy, n, info.as_mut_ptr()),
            MoshkitStatus::InvalidArgument
        );
        assert_eq!(
            moshkit_scrollback_cell(copy, n, 0, cell.as_mut_ptr()),
            MoshkitStatus::InvalidArgument
        );
        assert_eq!(
            moshkit_scrollback_cell(copy, i, 80, cell.as_mut_ptr()),
            MoshkitStatus::InvalidArgument
        );
        // Null out-pointers and handles.
        assert_eq!(
            moshkit_scrollback_cell(copy, i, 0, std::ptr::null_mut()),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_scrollback_line_info(copy, i, std::ptr::null_mut()),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_scrollback_line_count(copy, std::ptr::null_mut()),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_scrollback_line_count(std::ptr::null(), &mut len),
            MoshkitStatus::NullPointer
        );
        assert_eq!(
            moshkit_scrollback_line_text(std::ptr::null(), 0, buf.as_mut_ptr(), 4, &mut len),
            MoshkitStatus::NullPointer
        );
    }
    // Requests: the upstream server serves none; an empty range is refused.
    assert_eq!(
        moshkit_session_request_scrollback(s, first, end),
        MoshkitStatus::ScrollbackNotServed
    );
    assert_eq!(
        moshkit_session_request_scrollback(s, 7, 3),
        MoshkitStatus::InvalidRange
    );
    assert_eq!(
        moshkit_session_request_scrollback(std::ptr::null(), 0, 1),
        MoshkitStatus::NullPointer
    );
    // Free: a second free and a use after free are answered with INVALID_HANDLE.
    assert_eq!(moshkit_scrollback_free(copy), MoshkitStatus::Ok);
    assert_eq!(moshkit_scrollback_free(copy), MoshkitStatus::InvalidHandle);
    // SAFETY: a freed handle is answered with a status.
    assert_eq!(
        unsafe { moshkit_scrollback_line_count(copy, &mut len) },
        MoshkitStatus::InvalidHandle
    );
    assert_eq!(
        moshkit_scrollback_free(std::ptr::null_mut()),
        MoshkitStatus::NullPointer
    );

    assert_eq!(moshkit_session_close(s), MoshkitStatus::Ok);
    assert_eq!(moshkit_session_free(s), MoshkitStatus::Ok);
    // SAFETY: a freed session is answered with a status.
    assert_eq!(
        unsafe { moshkit_session_scrollback_range(s, &mut f, &mut e) },
        MoshkitStatus::InvalidHandle
    );
}
