//! Live: how fast a session catches up after a total outage. A shell prints the server's
//! clock (ms) every second (`OUTAGE_PRINT_INTERVAL`, e.g. `0.1`, to change it); the project's
//! relay drops everything for 20 s; then we measure
//! - catch-up: from the end of the outage until the client's screen (a tmux pane) shows the
//!   line printed last before it ended (any line printed less than one interval before);
//! - lag: how long after it was printed the first line printed after the outage is shown.
//!
//! Every pairing of {moshkit-client, upstream mosh-client} × {moshkit-server, upstream
//! mosh-server}, three runs each. Also when the notification bar appeared. See
//! docs/testing.md.
//!
//! `cargo bench -p moshkit-cli --bench outage_recovery` (needs mosh and tmux; about 7 min)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/server.rs"]
mod server;
#[path = "../tests/common/tmux.rs"]
mod tmux;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moshkit_cli::relay::{Impairment, spawn_relay};
use server::{Impl, Server, client_pane, scratch_dir};
use tmux::Tmux;

const OUTAGE: Duration = Duration::from_secs(20);

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The newest clock value on screen.
fn newest_on_screen(tmux: &Tmux) -> Option<u64> {
    tmux.capture(false)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("T="))
        .filter_map(|v| v.trim().parse().ok())
        .max()
}

/// (catch-up ms, lag ms of the first line printed after the outage, ms after the outage
/// started until the bar showed).
fn run(client: Impl, server: Impl) -> (u64, u64, Option<u64>) {
    let interval = std::env::var("OUTAGE_PRINT_INTERVAL").unwrap_or_else(|_| "1".into());
    let interval_ms = (interval.parse::<f64>().unwrap_or(1.0) * 1000.0) as u64;
    let home = scratch_dir("outage");
    let srv = Server::start(server, &home);
    let relay = spawn_relay(srv.addr(), Impairment::default()).expect("relay");
    let tmux = Tmux::new(
        80,
        24,
        &client_pane(
            client,
            &srv.key,
            relay.addr().port(),
            "MOSH_PREDICTION_DISPLAY=never",
        ),
    );
    tmux.wait_text("$", Duration::from_secs(15));
    tmux.type_line(&format!(
        "while :; do echo T=$(date +%s%3N); sleep {interval}; done"
    ));
    tmux.wait_for("the clock", Duration::from_secs(10), |t| t.contains("T="));
    std::thread::sleep(Duration::from_secs(3));
    let start = Instant::now();
    relay.set_blackout(true);
    let mut bar = None;
    while start.elapsed() < OUTAGE {
        if bar.is_none() && tmux.capture(false).contains("Last contact") {
            bar = Some(start.elapsed().as_millis() as u64);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    relay.set_blackout(false);
    let back = wall_ms();
    let back_at = Instant::now();
    let mut caught = None;
    let lag = loop {
        let newest = newest_on_screen(&tmux);
        // The shell's loop takes a little longer than its sleep: allow 10 %.
        if caught.is_none() && newest.is_some_and(|t| t + interval_ms * 11 / 10 >= back) {
            caught = Some(back_at.elapsed().as_millis() as u64);
        }
        if let Some(t) = newest.filter(|&t| t >= back) {
            break wall_ms().saturating_sub(t);
        }
        assert!(back_at.elapsed() < Duration::from_secs(30), "no catch-up");
        std::thread::sleep(Duration::from_millis(20));
    };
    tmux.keys(&["C-c"]);
    tmux.keys(&["C-^", "."]);
    (caught.unwrap_or(0), lag, bar)
}

fn main() {
    for (client, server) in [
        (Impl::Upstream, Impl::MoshKit),
        (Impl::Upstream, Impl::Upstream),
        (Impl::MoshKit, Impl::MoshKit),
        (Impl::MoshKit, Impl::Upstream),
    ] {
        let mut times = Vec::new();
        for _ in 0..3 {
            let (t, lag, bar) = run(client, server);
            println!(
                "client {client:?}, server {server:?}: caught up {t} ms after the outage; the first new line shown {lag} ms after it was printed; bar after {}",
                bar.map_or("never".into(), |b| format!("{b} ms"))
            );
            times.push(t);
        }
        times.sort_unstable();
        println!(
            "client {client:?}, server {server:?}: median catch-up {} ms",
            times[1]
        );
    }
}
