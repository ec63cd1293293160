//! Live: bytes on the wire while `seq 1 2000000` runs in a shell under `moshkit-server` on
//! loopback, for the core client session with scrollback (the default) and without (it then
//! never asks the server for it), three runs each, alternating. See docs/benchmarks.md.
//!
//! `cargo bench -p moshkit-cli --bench scrollback_bandwidth`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use moshkit_core::crypto::Key;
use moshkit_core::driver::{Driver, os_random};
use moshkit_core::session::{ClientConfig, ClientSession};
use server::{Impl, Server, scratch_dir};

/// A row is `text`, or ends with it after the prompt (input typed before the prompt showed).
fn screen_has(session: &ClientSession, text: &str) -> bool {
    let fb = session.remote_screen();
    (0..fb.height()).any(|r| {
        let row = fb.row_text(r);
        let row = row.trim_end();
        row == text || row.ends_with(&format!("$ {text}"))
    })
}

async fn drive_until(d: &mut Driver<ClientSession>, limit: Duration, text: &str) {
    let start = Instant::now();
    while !screen_has(d.endpoint(), text) {
        if start.elapsed() > limit {
            let fb = d.endpoint().remote_screen();
            let rows: Vec<String> = (0..fb.height()).map(|r| fb.row_text(r)).collect();
            panic!("{text:?} not shown after {limit:?}: {rows:#?}");
        }
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_millis(50), d.next_event()).await {
            panic!("driver ended: {e}");
        }
    }
}

/// (bytes sent, bytes received, seconds) for one run.
async fn run(scrollback_lines: usize) -> (u64, u64, f64) {
    let home = scratch_dir("sb-bandwidth");
    let srv = Server::start(Impl::MoshKit, &home);
    let config = ClientConfig {
        scrollback_lines,
        ..ClientConfig::default()
    };
    let session = ClientSession::new(
        &Key::parse(&srv.key).unwrap(),
        srv.addr(),
        80,
        24,
        config,
        Instant::now(),
        os_random(),
    )
    .unwrap();
    let mut d = Driver::client(session).await.unwrap();
    d.endpoint_mut().send_input(Instant::now(), b"echo READY\r");
    drive_until(&mut d, Duration::from_secs(15), "READY").await;
    // Let the echo settle, then count only the run.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(500) {
        let _ = tokio::time::timeout(Duration::from_millis(50), d.next_event()).await;
    }
    let before = d.endpoint().stats();
    let start = Instant::now();
    d.endpoint_mut()
        .send_input(Instant::now(), b"seq 1 2000000; echo DONE\r");
    drive_until(&mut d, Duration::from_secs(120), "DONE").await;
    let after = d.endpoint().stats();
    (
        after.bytes_sent - before.bytes_sent,
        after.bytes_received - before.bytes_received,
        start.elapsed().as_secs_f64(),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut totals = [(0u64, 0f64); 2];
    for round in 0..3 {
        for (i, lines) in [0usize, 10_000].into_iter().enumerate() {
            let (up, down, secs) = run(lines).await;
            println!(
                "round {round}: scrollback {lines:>5} lines: {up:>7} bytes up, {down:>8} down, {secs:.2} s"
            );
            totals[i].0 += up + down;
            totals[i].1 += secs;
        }
    }
    println!(
        "mean bytes: without {:.0}, with {:.0}; ratio {:.3}",
        totals[0].0 as f64 / 3.0,
        totals[1].0 as f64 / 3.0,
        totals[1].0 as f64 / totals[0].0 as f64
    );
}
