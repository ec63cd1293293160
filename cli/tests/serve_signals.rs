//! Signal semantics of the server loop (own test process: signals are process-wide).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use moshkit_cli::pty::{ReleaseMode, WindowSize, spawn_in_pty};
use moshkit_cli::server::ServerConfig;
use moshkit_cli::server::serve::{ServeEnd, ServeParts, ShutdownReason, serve, server_signals};
use signal_hook::consts::signal::{SIGTERM, SIGUSR1};

mod common;
use common::{PlainHost, sh_spec};

fn run_loop(
    config: ServerConfig,
    client_first: bool,
    signals_to_send: &[(u64, i32)],
) -> (ServeEnd, Duration) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr");
    let (pty, child) =
        spawn_in_pty(&sh_spec(ReleaseMode::Pipe), WindowSize::DEFAULT).expect("spawn");
    let signals = server_signals().expect("signals");
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    if client_first {
        client.send_to(b"true\n", addr).expect("send");
    }
    let start = Instant::now();
    let handle = std::thread::spawn(move || {
        let host = PlainHost::default();
        let parts = ServeParts {
            socket,
            pty,
            child,
            signals,
            config,
        };
        serve(host, parts).expect("serve").0
    });
    for &(after_ms, sig) in signals_to_send {
        std::thread::sleep(Duration::from_millis(after_ms));
        signal_hook::low_level::raise(sig).expect("raise");
    }
    let end = handle.join().expect("join");
    (end, start.elapsed())
}

#[test]
fn signals() {
    // SIGUSR1 with no MOSH_SERVER_SIGNAL_TMOUT: ends at once (no client known → immediate).
    let (end, took) = run_loop(ServerConfig::default(), false, &[(300, SIGUSR1)]);
    assert_eq!(end, ServeEnd::Immediate(ShutdownReason::Idle));
    assert!(took < Duration::from_secs(5));

    // SIGUSR1 with a signal timeout the session has not reached: ignored; SIGTERM then ends
    // the loop.
    let config = ServerConfig {
        signal_timeout: Some(Duration::from_secs(3600)),
        ..ServerConfig::default()
    };
    let (end, took) = run_loop(config, false, &[(300, SIGUSR1), (700, SIGTERM)]);
    assert_eq!(end, ServeEnd::Immediate(ShutdownReason::Signal));
    assert!(
        took >= Duration::from_millis(900),
        "SIGUSR1 was not ignored"
    );

    // With a client known, SIGTERM starts the shutdown handshake (the session sends its
    // shutdown); a second SIGTERM during the handshake exits at once.
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr");
    let (pty, child) =
        spawn_in_pty(&sh_spec(ReleaseMode::Pipe), WindowSize::DEFAULT).expect("spawn");
    let signals = server_signals().expect("signals");
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    client.send_to(b"true\n", addr).expect("send");
    let handle = std::thread::spawn(move || {
        let host = PlainHost::default();
        let parts = ServeParts {
            socket,
            pty,
            child,
            signals,
            config: ServerConfig::default(),
        };
        serve(host, parts).expect("serve").0
    });
    std::thread::sleep(Duration::from_millis(500));
    signal_hook::low_level::raise(SIGTERM).expect("raise");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline && !seen.contains("!SHUTDOWN") {
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert!(seen.contains("!SHUTDOWN"), "{seen:?}");
    assert!(!handle.is_finished());
    signal_hook::low_level::raise(SIGTERM).expect("raise");
    assert_eq!(
        handle.join().expect("join"),
        ServeEnd::Immediate(ShutdownReason::Signal)
    );
}
