//! Scrollback against real servers on loopback:
//! - the core client session with upstream `mosh-server` captures every line of a slow loop
//!   (best effort: one line per 50 ms, so no screen is skipped);
//! - with `moshkit-server` it gets every line of `seq 1 20000` exactly, by request;
//! - the desktop `moshkit-client` in a tmux pane writes the lines into the pane's own history
//!   (tmux's scrollback), with either server.
//!
//! Requires `mosh-server` and `tmux` (scripts/setup.sh installs them). Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use moshkit_core::crypto::Key;
use moshkit_core::driver::{Driver, os_random};
use moshkit_core::scrollback::ScrollbackMode;
use moshkit_core::session::{ClientConfig, ClientEvent, ClientSession, ScreenCell};

mod common;
use common::server::{Impl, Server, scratch_dir};
use common::tmux::{Tmux, require};

const MOSHKIT_CLIENT: &str = env!("CARGO_BIN_EXE_moshkit-client");

type ClientDriver = Driver<ClientSession>;

fn text_of(cells: &[ScreenCell]) -> String {
    cells
        .iter()
        .map(|c| c.text.as_str())
        .collect::<String>()
        .trim_end()
        .to_owned()
}

fn screen_rows(d: &mut ClientDriver) -> Vec<String> {
    let snap = d.endpoint_mut().snapshot(Instant::now());
    snap.changed_rows
        .iter()
        .map(|r| text_of(&r.cells))
        .collect()
}

/// Drives the session until `pred` holds for the screen (bounded by `limit`).
async fn drive_until(
    d: &mut ClientDriver,
    what: &str,
    limit: Duration,
    pred: impl Fn(&mut ClientDriver) -> bool,
) {
    let start = Instant::now();
    while !pred(d) {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}; screen: {:#?}",
            screen_rows(d)
        );
        match tokio::time::timeout(Duration::from_millis(100), d.next_event()).await {
            Ok(Err(e)) => panic!("driver ended: {e}"),
            _ => continue,
        }
    }
}

async fn connect(server: &Server, scrollback_lines: usize) -> ClientDriver {
    let session = ClientSession::new(
        &Key::parse(&server.key).unwrap(),
        server.addr(),
        80,
        24,
        ClientConfig {
            scrollback_lines,
            ..ClientConfig::default()
        },
        Instant::now(),
        os_random(),
    )
    .unwrap();
    let mut d = ClientDriver::client(session).await.unwrap();
    drive_until(&mut d, "the prompt", Duration::from_secs(15), |d| {
        screen_rows(d).iter().any(|r| r.starts_with('$'))
    })
    .await;
    d
}

fn scrollback_texts(d: &ClientDriver) -> Vec<String> {
    let sb = d.endpoint().scrollback();
    sb.lines(sb.range().start, usize::MAX)
        .iter()
        .map(|l| text_of(&l.cells))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn captured_from_upstream_server_slow_output() {
    require("mosh-server");
    let home = scratch_dir("sb-upstream");
    let server = Server::start(Impl::Upstream, &home);
    let mut d = connect(&server, 1000).await;
    d.endpoint_mut().send_input(
        Instant::now(),
        b"for i in $(seq 1 60); do echo line$i; sleep 0.05; done; echo DONE\r",
    );
    drive_until(&mut d, "the loop's end", Duration::from_secs(30), |d| {
        screen_rows(d).iter().any(|r| r == "DONE")
    })
    .await;
    assert_eq!(d.endpoint().scrollback_mode(), ScrollbackMode::Captured);
    let sb = d.endpoint().scrollback();
    let lines = sb.lines(sb.range().start, usize::MAX);
    assert!(lines.iter().all(|l| !l.gap_before && !l.missing));
    let texts = scrollback_texts(&d);
    // (Upstream's server starts the shell with a newline: a blank row first.) The command
    // line, then line1.. in order: 60 lines, DONE and the prompt follow it, 24 on screen.
    let cmd = texts
        .iter()
        .position(|t| t.starts_with("$ for i in"))
        .unwrap_or_else(|| panic!("no command line in {texts:?}"));
    let numbered: Vec<String> = (1..texts.len() - cmd).map(|i| format!("line{i}")).collect();
    assert_eq!(texts[cmd + 1..], numbered[..], "{texts:?}");
    assert_eq!(texts.len(), cmd + 1 + 60 + 2 - 24, "{texts:?}");
    assert!(texts[..cmd].iter().all(String::is_empty), "{texts:?}");
    assert!(
        d.endpoint_mut()
            .request_scrollback(Instant::now(), 0, 1)
            .is_err(),
        "upstream serves no scrollback"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn exact_from_moshkit_server_seq_20000() {
    let home = scratch_dir("sb-moshkit");
    let server = Server::start_with_env(
        Impl::MoshKit,
        &home,
        &[("MOSHKIT_SCROLLBACK_LINES", "30000")],
    );
    let mut d = connect(&server, 30_000).await;
    assert_eq!(d.endpoint().scrollback_mode(), ScrollbackMode::Exact);
    d.endpoint_mut()
        .send_input(Instant::now(), b"seq 1 20000; echo DONE\r");
    drive_until(&mut d, "seq's end", Duration::from_secs(60), |d| {
        screen_rows(d).iter().any(|r| r == "DONE")
    })
    .await;
    // 1 command row + 20000 + DONE + prompt = 20003 rows; 24 stay on screen.
    let expected = 20003 - 24;
    drive_until(
        &mut d,
        "the server's line count",
        Duration::from_secs(10),
        |d| d.endpoint().scrollback().end() == expected,
    )
    .await;
    let first = d.endpoint().scrollback().range().start;
    assert_eq!(first, 0);
    let start = Instant::now();
    d.endpoint_mut()
        .request_scrollback(Instant::now(), 0, expected)
        .unwrap();
    let mut fetched = false;
    while !fetched {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "request not done: {} missing",
            d.endpoint().scrollback().missing_in(0..expected)
        );
        match tokio::time::timeout(Duration::from_millis(200), d.next_event()).await {
            Ok(Ok(ClientEvent::ScrollbackFetched { from: 0, to })) if to == expected => {
                fetched = true;
            }
            Ok(Err(e)) => panic!("driver ended: {e}"),
            _ => {}
        }
    }
    let took = start.elapsed();
    let texts = scrollback_texts(&d);
    assert_eq!(texts.len() as u64, expected);
    assert_eq!(texts[0], "$ seq 1 20000; echo DONE");
    for (i, t) in texts.iter().enumerate().skip(1) {
        assert_eq!(*t, i.to_string(), "line {i}");
    }
    eprintln!(
        "fetched {expected} lines in {took:?}; {} bytes received in all",
        d.endpoint().stats().bytes_received
    );
}

/// The pane's whole history and screen, as text.
fn pane_history(tmux: &Tmux) -> Vec<String> {
    let out = tmux
        .cmd()
        .args(["capture-pane", "-p", "-S", "-", "-E", "-"])
        .output()
        .expect("capture");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end().to_owned())
        .collect()
}

fn desktop_client_fills_the_terminal_history(server: Impl, command: &str, last: u32) {
    require("tmux");
    let home = scratch_dir(&format!("sb-desktop-{server:?}"));
    let srv = Server::start(server, &home);
    let tmux = Tmux::new(
        80,
        24,
        &format!(
            "env MOSH_KEY={} LANG=C.UTF-8 TERM=xterm MOSH_PREDICTION_DISPLAY=never {MOSHKIT_CLIENT} 127.0.0.1 {}; sleep 120",
            srv.key, srv.port
        ),
    );
    let _ = tmux
        .cmd()
        .args(["set", "-g", "history-limit", "5000"])
        .status();
    tmux.wait_text("$", Duration::from_secs(15));
    tmux.type_line(command);
    tmux.wait_for("the output's end", Duration::from_secs(60), |t| {
        t.lines().any(|l| l.trim_end() == "DONE")
    });
    // The lines that left the screen arrive in the history (by request with moshkit-server).
    let start = Instant::now();
    let numbers = loop {
        let history = pane_history(&tmux);
        let numbers: Vec<u32> = history.iter().filter_map(|l| l.parse().ok()).collect();
        if numbers.len() as u32 >= last || start.elapsed() > Duration::from_secs(20) {
            break numbers;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let expected: Vec<u32> = (1..=last).collect();
    assert_eq!(numbers, expected, "each line once, in order");
    tmux.keys(&["C-^", "."]);
}

#[test]
fn desktop_client_history_with_moshkit_server() {
    desktop_client_fills_the_terminal_history(Impl::MoshKit, "seq 1 400; echo DONE", 400);
}

#[test]
fn desktop_client_history_with_upstream_server() {
    require("mosh-server");
    desktop_client_fills_the_terminal_history(
        Impl::Upstream,
        "for i in $(seq 1 60); do echo $i; sleep 0.05; done; echo DONE",
        60,
    );
}
