//! Pty child and server loop tests (real `/bin/sh`, loopback UDP only, every wait bounded).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use moshkit_cli::pty::{PtyMaster, PtyRead, ReleaseMode, WindowSize, spawn_in_pty};
use moshkit_cli::server::ServerConfig;
use moshkit_cli::server::serve::{ServeEnd, ServeParts, serve, server_signals};

mod common;
use common::{PlainHost, sh_spec};

/// Reads from the master until `needle` appears in the accumulated output (bounded).
fn read_until(pty: &PtyMaster, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match pty
            .read_timeout(&mut buf, Some(Duration::from_millis(100)))
            .expect("read")
        {
            PtyRead::Data(n) => out.extend_from_slice(&buf[..n]),
            PtyRead::WouldBlock => {}
            PtyRead::Closed => break,
        }
        if String::from_utf8_lossy(&out).contains(needle) {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn shell_runs_in_pty_with_size_and_exit_detection() {
    let (pty, mut child) = spawn_in_pty(
        &sh_spec(ReleaseMode::Immediate),
        WindowSize {
            cols: 100,
            rows: 30,
        },
    )
    .expect("spawn");
    assert_eq!(
        pty.window_size(),
        Some(WindowSize {
            cols: 100,
            rows: 30
        })
    );

    pty.write_all(b"echo hi-$((1+1))\n").expect("write");
    let out = read_until(&pty, "hi-2", Duration::from_secs(10));
    assert!(out.contains("hi-2"), "output: {out:?}");

    pty.write_all(b"stty size; echo size-$((1+4))done\n")
        .expect("write");
    let out = read_until(&pty, "size-5done", Duration::from_secs(10));
    assert!(out.contains("30 100"), "output: {out:?}");

    pty.set_window_size(WindowSize { cols: 91, rows: 17 })
        .expect("resize");
    pty.write_all(b"stty size; echo size2-$((1+5))done\n")
        .expect("write");
    let out = read_until(&pty, "size2-6done", Duration::from_secs(10));
    assert!(out.contains("17 91"), "output: {out:?}");

    // The child has its own session with the pty as controlling terminal.
    pty.write_all(b"test -t 0 && echo tty-yes; exit 7\n")
        .expect("write");
    let out = read_until(&pty, "\u{0}never", Duration::from_secs(10));
    assert!(out.contains("tty-yes"), "output: {out:?}");
    let status = child
        .wait_timeout(Duration::from_secs(10))
        .expect("wait")
        .expect("child exited");
    assert!(matches!(status, nix::sys::wait::WaitStatus::Exited(_, 7)));
    // EOF/EIO on the master once the slave is gone.
    let mut buf = [0u8; 64];
    let mut closed = false;
    for _ in 0..50 {
        match pty
            .read_timeout(&mut buf, Some(Duration::from_millis(100)))
            .expect("read")
        {
            PtyRead::Closed => {
                closed = true;
                break;
            }
            _ => continue,
        }
    }
    assert!(closed);
}

#[test]
fn pipe_release_delays_exec() {
    let mut spec = sh_spec(ReleaseMode::Pipe);
    spec.argv = vec!["sh".into(), "-c".into(), "echo started-$((2*3))".into()];
    spec.banner = b"banner-line\n".to_vec();
    let (pty, mut child) = spawn_in_pty(&spec, WindowSize::DEFAULT).expect("spawn");
    let out = read_until(&pty, "started-6", Duration::from_millis(700));
    assert!(out.contains("banner-line"), "{out:?}");
    assert!(!out.contains("started-6"), "exec before release: {out:?}");
    assert!(!child.is_released());
    child.release(&pty).expect("release");
    let out = read_until(&pty, "started-6", Duration::from_secs(10));
    assert!(out.contains("started-6"), "{out:?}");
    assert!(
        child
            .wait_timeout(Duration::from_secs(10))
            .expect("wait")
            .is_some()
    );
}

#[test]
fn newline_release_like_mosh_1_4() {
    let mut spec = sh_spec(ReleaseMode::Newline);
    spec.argv = vec!["sh".into(), "-c".into(), "echo started-$((3*3))".into()];
    let (pty, mut child) = spawn_in_pty(&spec, WindowSize::DEFAULT).expect("spawn");
    let out = read_until(&pty, "started-9", Duration::from_millis(500));
    assert!(!out.contains("started-9"));
    child.release(&pty).expect("release");
    let out = read_until(&pty, "started-9", Duration::from_secs(10));
    // The echoed newline precedes the program's output.
    assert!(out.contains("\r\nstarted-9"), "{out:?}");
    assert!(
        child
            .wait_timeout(Duration::from_secs(10))
            .expect("wait")
            .is_some()
    );
}

fn start_loop(
    release: ReleaseMode,
    config: ServerConfig,
) -> (
    std::thread::JoinHandle<(ServeEnd, Option<i32>)>,
    SocketAddr,
    UdpSocket,
) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr");
    let (pty, child) = spawn_in_pty(&sh_spec(release), WindowSize::DEFAULT).expect("spawn");
    let signals = server_signals().expect("signals");
    let handle = std::thread::spawn(move || {
        let host = PlainHost::default();
        let parts = ServeParts {
            socket,
            pty,
            child,
            signals,
            config,
        };
        let (end, parts) = serve(host, parts).expect("serve");
        // Closing the master (and the release pipe) hangs up the application, as the
        // server does on exit.
        let ServeParts { mut child, pty, .. } = parts;
        drop(pty);
        let pid = child
            .wait_timeout(Duration::from_secs(5))
            .ok()
            .flatten()
            .and_then(|s| s.pid())
            .map(|p| p.as_raw());
        (end, pid)
    });
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    (handle, addr, client)
}

fn recv_until(client: &UdpSocket, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut all = String::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline && !all.contains(needle) {
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    all
}

#[test]
fn serve_loop_drives_pty_resize_release_and_application_exit() {
    let (handle, addr, client) = start_loop(ReleaseMode::Pipe, ServerConfig::default());
    // First state releases the shell; keystrokes reach it, output comes back.
    client
        .send_to(b"echo served-$((40+2))\n", addr)
        .expect("send");
    let out = recv_until(&client, "served-42", Duration::from_secs(10));
    assert!(out.contains("served-42"), "{out:?}");

    client.send_to(b"!RESIZE 120 40", addr).expect("send");
    client
        .send_to(b"stty size; echo sz-$((1+6))done\n", addr)
        .expect("send");
    let out = recv_until(&client, "sz-7done", Duration::from_secs(10));
    assert!(out.contains("40 120"), "{out:?}");

    // The application exits: the loop starts the shutdown handshake (client known).
    client.send_to(b"exit\n", addr).expect("send");
    let out = recv_until(&client, "!SHUTDOWN", Duration::from_secs(10));
    assert!(out.contains("!SHUTDOWN"), "{out:?}");
    client.send_to(b"!ACK", addr).expect("send");
    let (end, pid) = handle.join().expect("join");
    assert_eq!(end, ServeEnd::SessionFinished);
    assert!(pid.is_some(), "child reaped");
}

#[test]
fn serve_loop_network_timeout_without_client_ends_immediately() {
    let config = ServerConfig {
        network_timeout: Some(Duration::from_millis(1500)),
        ..ServerConfig::default()
    };
    let started = Instant::now();
    let (handle, _addr, _client) = start_loop(ReleaseMode::Pipe, config);
    let (end, _) = handle.join().expect("join");
    let took = started.elapsed();
    assert_eq!(
        end,
        ServeEnd::Immediate(moshkit_cli::server::serve::ShutdownReason::Idle)
    );
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_secs(10));
}

#[test]
fn unreleased_child_never_starts_the_program() {
    let dir = std::env::temp_dir().join(format!("moshkit-unreleased-{}", std::process::id()));
    let marker = dir.join("ran");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut spec = sh_spec(ReleaseMode::Pipe);
    spec.argv = vec![
        "sh".into(),
        "-c".into(),
        format!("touch '{}'", marker.display()).into(),
    ];
    let (pty, mut child) = spawn_in_pty(&spec, WindowSize::DEFAULT).expect("spawn");
    let pid = child.pid();
    // Simulate the server going away: the release pipe is closed without a release (the
    // pty stays open so only the pipe matters).
    child.abandon_release();
    let status = child.wait_timeout(Duration::from_secs(10)).expect("wait");
    drop(pty);
    assert!(matches!(
        status,
        Some(nix::sys::wait::WaitStatus::Exited(p, 1)) if p.as_raw() == pid
    ));
    assert!(!marker.exists());
    let _ = std::fs::remove_dir_all(dir);
}
