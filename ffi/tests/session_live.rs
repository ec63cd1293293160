//! The uniffi session object against the real upstream `mosh-server` on loopback: connect,
//! type a command, see its output through the listener + `pull_changes`, resize, pause/resume,
//! close. Needs `mosh-server` (Debian package `mosh`); fails, never skips, without it.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use moshkit::{
    CloseReason, ConnectionState, Modifiers, MoshKitError, MoshSession, NamedKey, PredictionMode,
    ScreenUpdate, SessionListener, encode_key,
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
