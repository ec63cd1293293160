//! Pty child and server loop tests (real `/bin/sh`, loopback UDP only, every wait bounded).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use moshkit_cli::pty::{ChildSpec, PtyMaster, PtyRead, ReleaseMode, WindowSize, spawn_in_pty};
use moshkit_cli::server::ServerConfig;
use moshkit_cli::server::serve::{HostSession, ServeEnd, ServeParts, serve, server_signals};

fn sh_spec(release: ReleaseMode) -> ChildSpec {
    ChildSpec {
        program: "/bin/sh".into(),
        argv: vec!["sh".into()],
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("TERM".into(), "xterm".into()),
            ("PS1".into(), "$ ".into()),
        ],
        cwd: Some("/".into()),
        banner: Vec::new(),
        release,
    }
}

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

/// A plaintext stand-in for the protocol host session: each datagram is a "client state"
/// whose bytes are keystrokes (`!RESIZE c r` resizes, `!BYE` starts the client's shutdown);
/// pty output is sent back verbatim to the last sender.
#[derive(Default)]
struct PlainHost {
    remote: Option<SocketAddr>,
    last_state: Option<Instant>,
    to_pty: Vec<u8>,
    outbox: Vec<Vec<u8>>,
    resize: Option<WindowSize>,
    shutting_down: bool,
    finished: bool,
}

impl HostSession for PlainHost {
    fn receive(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        self.remote = Some(from);
        self.last_state = Some(now);
        let text = String::from_utf8_lossy(datagram);
        if let Some(rest) = text.strip_prefix("!RESIZE ") {
            let mut it = rest
                .split_whitespace()
                .filter_map(|w| w.parse::<u16>().ok());
            if let (Some(cols), Some(rows)) = (it.next(), it.next()) {
                self.resize = Some(WindowSize { cols, rows });
            }
        } else if text == "!BYE" {
            self.finished = true;
        } else if text == "!ACK" {
            if self.shutting_down {
                self.finished = true;
            }
        } else {
            self.to_pty.extend_from_slice(datagram);
        }
        true
    }
    fn host_output(&mut self, _now: Instant, bytes: &[u8]) {
        self.outbox.push(bytes.to_vec());
    }
    fn take_pty_input(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.to_pty)
    }
    fn take_resize(&mut self) -> Option<WindowSize> {
        self.resize.take()
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        let to = self.remote?;
        if self.outbox.is_empty() {
            return None;
        }
        Some((to, self.outbox.remove(0)))
    }
    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        Some(now + Duration::from_millis(50))
    }
    fn last_client_state(&self) -> Option<Instant> {
        self.last_state
    }
    fn has_remote(&self) -> bool {
        self.remote.is_some()
    }
    fn start_shutdown(&mut self, _now: Instant) {
        self.shutting_down = true;
        self.outbox.push(b"!SHUTDOWN".to_vec());
    }
    fn shutdown_in_progress(&self) -> bool {
        self.shutting_down
    }
    fn finished(&self, _now: Instant) -> bool {
        self.finished
    }
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
        let mut host = PlainHost::default();
        let parts = ServeParts {
            socket,
            pty,
            child,
            signals,
            config,
        };
        let (end, mut parts) = serve(&mut host, parts).expect("serve");
        let pid = parts
            .child
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
