//! Live interop: the moshkit client transport keeps a session with the real upstream
//! `mosh-server` on loopback (types a command, resizes, roams to a new source port, shuts down).
//! Requires the `mosh` package; fails (never skips) when `mosh-server` is missing.
#![cfg(feature = "driver")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moshkit_core::connection::{CloseReason, Connection, Event};
use moshkit_core::crypto::Key;
use moshkit_core::driver::{Driver, os_random};
use moshkit_core::state::{ByteHostState, UserStream};

type ClientDriver = Driver<UserStream, ByteHostState>;

/// Kills the daemonized server by pid when the test ends, however it ends.
struct ServerGuard {
    pid: u32,
}

impl ServerGuard {
    fn alive(&self) -> bool {
        std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if self.alive() {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(self.pid.to_string())
                .status();
        }
    }
}

fn start_server() -> (ServerGuard, SocketAddr, Key) {
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let out = Command::new("mosh-server")
        .args(["new", "-s", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-l", "LANG=C.UTF-8", "--", "/bin/sh"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run `mosh-server`: install the Debian package `mosh` for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let pid: u32 = stderr
        .split("[mosh-server detached, pid = ")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in mosh-server stderr: {stderr}"));
    let guard = ServerGuard { pid };
    let line = stdout
        .lines()
        .find(|l| l.starts_with("MOSH CONNECT "))
        .unwrap_or_else(|| panic!("no MOSH CONNECT line: {stdout}"));
    let mut parts = line.split_whitespace().skip(2);
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let key = Key::parse(parts.next().unwrap()).unwrap();
    (guard, SocketAddr::from(([127, 0, 0, 1], port)), key)
}

/// Host bytes with escape sequences removed.
fn strip(bytes: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b {
            i += 1;
            match bytes.get(i) {
                Some(b'[') => {
                    i += 1;
                    while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                        i += 1;
                    }
                    i += 1;
                }
                Some(b']') => {
                    while i < bytes.len() && bytes[i] != 0x07 && bytes[i] != 0x1b {
                        i += 1;
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Drive until the screen text contains `needle`, within `limit`.
async fn wait_for(d: &mut ClientDriver, needle: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    for _ in 0..100_000 {
        let text = strip(d.connection().remote_state().1.output());
        if text.contains(needle) {
            return start.elapsed();
        }
        let left = limit
            .checked_sub(start.elapsed())
            .unwrap_or_else(|| panic!("timed out waiting for {needle:?}; screen: {text:?}"));
        match tokio::time::timeout(left, d.next_event()).await {
            Ok(Ok(Event::Closed(r))) => panic!("closed ({r:?}) waiting for {needle:?}"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!("timed out waiting for {needle:?}; screen: {text:?}"),
        }
    }
    panic!("too many events waiting for {needle:?}");
}

fn type_line(d: &mut ClientDriver, line: &str) {
    assert!(d.modify_local(|u| {
        u.push_bytes(line.as_bytes());
    }));
}

#[tokio::test(flavor = "current_thread")]
async fn session_with_upstream_mosh_server() {
    let (guard, server, key) = start_server();
    let tag = format!("{:08x}", std::process::id() ^ 0x5a5a_1234);
    let mut initial = UserStream::new();
    initial.push_resize(80, 24);
    let mut conn = Connection::client(
        &key,
        server,
        UserStream::new(),
        ByteHostState::new(80, 24),
        Instant::now(),
        os_random(),
    );
    assert!(conn.set_local(Instant::now(), initial));
    let mut d = ClientDriver::client(conn).await.unwrap();

    // The shell's prompt arrives.
    wait_for(&mut d, "# ", Duration::from_secs(10)).await;
    // The marker appears only in the command's output, never in the typed echo.
    type_line(&mut d, &format!("echo mk-$((40+2))-{tag}\r"));
    wait_for(&mut d, &format!("mk-42-{tag}"), Duration::from_secs(10)).await;

    // Resize, and see the pty take the new size.
    assert!(d.modify_local(|u| u.push_resize(100, 30)));
    type_line(&mut d, "stty size\r");
    wait_for(&mut d, "30 100", Duration::from_secs(10)).await;
    assert_eq!(d.connection().remote_state().1.size(), (100, 30));

    // Move to a new source port mid-session.
    let old = d.local_addr().unwrap();
    d.network_changed();
    type_line(&mut d, &format!("echo mk-$((40+3))-{tag}\r"));
    let before = d.stats();
    let took = wait_for(&mut d, &format!("mk-43-{tag}"), Duration::from_secs(5)).await;
    let after = d.stats();
    let new = d.local_addr().unwrap();
    assert_ne!(old.port(), new.port());
    assert_eq!(after.rebinds, 1);
    // Everything the server sent since the move came to the new socket: it followed us at
    // once, with the first round trip.
    assert!(after.received_on_newest > before.received_on_newest);
    assert_eq!(after.received_on_older, before.received_on_older);
    assert!(took < Duration::from_secs(1), "{took:?}");
    let srtt = d.connection().srtt_ms();
    assert!(srtt < 100.0, "{srtt}");

    // Idle: the server's heartbeats (empty acks) come every ACK_INTERVAL = 3 s, as the
    // simulator's idle test assumes for both ends.
    // Keep driving (acknowledging) for 1.5 s so pending output settles, then watch.
    let mut arrivals = Vec::new();
    let mut seen = d.connection().stats().datagrams_received;
    let idle_start = Instant::now();
    while idle_start.elapsed() < Duration::from_millis(8_000) {
        let _ = tokio::time::timeout(Duration::from_millis(100), d.next_event()).await;
        let now = d.connection().stats().datagrams_received;
        if now != seen && idle_start.elapsed() > Duration::from_millis(1_500) {
            arrivals.push(Instant::now());
        }
        seen = now;
    }
    assert!(arrivals.len() >= 2, "{arrivals:?}");
    for w in arrivals.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap > Duration::from_millis(2_800) && gap < Duration::from_millis(3_300),
            "{gap:?}"
        );
    }

    // Clean shutdown: the server acknowledges and exits.
    d.close();
    let start = Instant::now();
    let reason = loop {
        assert!(start.elapsed() < Duration::from_secs(10), "no shutdown");
        match tokio::time::timeout(Duration::from_secs(10), d.next_event()).await {
            Ok(Ok(Event::Closed(r))) => break r,
            Ok(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(reason, CloseReason::ShutdownAcknowledged);
    for _ in 0..100 {
        if !guard.alive() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!guard.alive(), "mosh-server {} still running", guard.pid);
    let s = d.connection().stats();
    assert_eq!(s.dropped_unauthentic + s.dropped_malformed, 0, "{s:?}");
}
