//! Live soak: two real sessions on loopback for `SOAK_MINUTES` (default 10), each through the
//! project's relay (40 ms each way, 3 % loss), under faults, with the resident memory (VmRSS)
//! of every client and server process sampled every `SOAK_SAMPLE_SECS` (default 10):
//! - `moshkit-client` -> upstream `mosh-server`;
//! - upstream `mosh-client` -> `moshkit-server`.
//!
//! The shell in each session prints about 1000 lines a second in bursts, a key is typed every
//! 2 s, the relay blacks out for 12 s every minute, roams (new source port towards the server)
//! every 45 s, and the pane is resized every 40 s. At the end each session must still answer
//! a command, and the RSS of both MoshKit processes must be flat: after a one-minute warm-up
//! (scrollback and buffers fill up), every sample within 10 % of the smallest. Upstream's
//! processes are sampled for comparison. Exits non-zero when a check fails.
//!
//! `scripts/soak-live.sh` (= `cargo bench -p moshkit-cli --bench soak_live`; needs mosh, tmux;
//! not run in CI). Results: docs/testing.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/server.rs"]
mod server;
#[path = "../tests/common/tmux.rs"]
mod tmux;

use std::time::{Duration, Instant};

use moshkit_cli::relay::{Impairment, RelayHandle, spawn_relay};
use server::{Impl, Server, client_pane, scratch_dir};
use tmux::Tmux;

const WARM_UP: Duration = Duration::from_secs(60);
const BLACKOUT_EVERY: u64 = 60;
const BLACKOUT_FOR: u64 = 12;
const ROAM_EVERY: u64 = 45;
const RESIZE_EVERY: u64 = 40;
const FLAT_PERCENT: u64 = 10;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set size of `pid` in KiB.
fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// (parent pid, command name) of `pid`.
fn stat(pid: i32) -> Option<(i32, String)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_string();
    let ppid = s
        .get(close + 2..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ppid, comm))
}

/// The process called `name` that is `root` or a descendant of it.
fn find_below(root: i32, name: &str) -> Option<i32> {
    let pids: Vec<i32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.into_iter().find(|&pid| {
        let Some((_, comm)) = stat(pid) else {
            return false;
        };
        if !name.starts_with(&comm) {
            return false;
        }
        // Walk up at most 8 parents looking for the pane.
        let mut p = pid;
        for _ in 0..8 {
            if p == root {
                return true;
            }
            match stat(p) {
                Some((pp, _)) if pp > 1 => p = pp,
                _ => return false,
            }
        }
        false
    })
}

struct Session {
    label: &'static str,
    srv: Server,
    relay: RelayHandle,
    tmux: Tmux,
    client_pid: i32,
    /// (process, samples in KiB), MoshKit's first.
    samples: Vec<(String, i32, bool, Vec<u64>)>,
}

fn start(label: &'static str, client: Impl, server: Impl) -> Session {
    let home = scratch_dir(&format!("soak-{label}"));
    let srv = Server::start(server, &home);
    let relay = spawn_relay(
        srv.addr(),
        Impairment {
            delay: Duration::from_millis(40),
            loss_percent: 3.0,
            seed: 7,
        },
    )
    .expect("relay");
    let tmux = Tmux::new(
        80,
        24,
        &client_pane(client, &srv.key, relay.addr().port(), ""),
    );
    tmux.wait_text("$", Duration::from_secs(20));
    let name = if client == Impl::MoshKit {
        "moshkit-client"
    } else {
        "mosh-client"
    };
    let client_pid = find_below(tmux.pane_pid(), name).expect("client process");
    tmux.type_line(
        "while :; do seq -f 'soak line %g of a burst of output, long enough to wrap now and then' 1 500; sleep 0.5; done",
    );
    let server_name = if server == Impl::MoshKit {
        "moshkit-server"
    } else {
        "mosh-server"
    };
    let samples = vec![
        (
            name.to_string(),
            client_pid,
            client == Impl::MoshKit,
            vec![],
        ),
        (
            server_name.to_string(),
            srv.pid,
            server == Impl::MoshKit,
            vec![],
        ),
    ];
    Session {
        label,
        srv,
        relay,
        tmux,
        client_pid,
        samples,
    }
}

fn main() {
    let minutes = env_u64("SOAK_MINUTES", 10);
    let sample_every = env_u64("SOAK_SAMPLE_SECS", 10).max(1);
    let mut sessions = vec![
        start("moshkit-client+mosh-server", Impl::MoshKit, Impl::Upstream),
        start("mosh-client+moshkit-server", Impl::Upstream, Impl::MoshKit),
    ];
    let total = Duration::from_secs(minutes * 60);
    let begin = Instant::now();
    let mut last_second = u64::MAX;
    let mut big = false;
    let (mut blackouts, mut roams, mut resizes) = (0, 0, 0);
    while begin.elapsed() < total {
        let s = begin.elapsed().as_secs();
        if s != last_second {
            last_second = s;
            for sess in &sessions {
                if s % BLACKOUT_EVERY == 30 {
                    sess.relay.set_blackout(true);
                }
                if s % BLACKOUT_EVERY == 30 + BLACKOUT_FOR {
                    sess.relay.set_blackout(false);
                }
                if s % ROAM_EVERY == ROAM_EVERY - 1 {
                    sess.relay.rebind_upstream();
                }
                if s % 2 == 0 {
                    sess.tmux.keys(&["x"]);
                }
            }
            if s % BLACKOUT_EVERY == 30 {
                blackouts += 1;
            }
            if s % ROAM_EVERY == ROAM_EVERY - 1 {
                roams += 1;
            }
            if s % RESIZE_EVERY == RESIZE_EVERY - 1 {
                big = !big;
                resizes += 1;
                for sess in &sessions {
                    let (w, h) = if big { (100, 30) } else { (80, 24) };
                    sess.tmux.resize(w, h);
                }
            }
            if s % sample_every == 0 {
                for sess in &mut sessions {
                    for (name, pid, _, v) in &mut sess.samples {
                        let kib = rss_kib(*pid)
                            .unwrap_or_else(|| panic!("{}: {name} ({pid}) is gone", sess.label));
                        v.push(kib);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for sess in &sessions {
        sess.relay.set_blackout(false);
    }
    println!(
        "soak: {minutes} min, {blackouts} blackouts of {BLACKOUT_FOR} s, {roams} roams, {resizes} resizes, RSS every {sample_every} s"
    );
    let warm = (WARM_UP.as_secs() / sample_every) as usize;
    let mut failed = false;
    for sess in &mut sessions {
        // Still a live session: stop the loop and run a command.
        sess.tmux.keys(&["C-c"]);
        std::thread::sleep(Duration::from_secs(1));
        sess.tmux.type_line("clear; echo soak-$((6*7))-alive");
        let alive = wait_alive(&sess.tmux);
        let f = sess.relay.counters();
        println!(
            "{}: session alive at the end: {alive}; relay forwarded {} dropped {}; client pid {}, server pid {}",
            sess.label,
            f.forwarded.load(std::sync::atomic::Ordering::Relaxed),
            f.dropped.load(std::sync::atomic::Ordering::Relaxed),
            sess.client_pid,
            sess.srv.pid,
        );
        failed |= !alive;
        for (name, _, ours, v) in &sess.samples {
            let after = v.get(warm..).unwrap_or_default();
            let (min, max) = (
                after.iter().copied().min().unwrap_or(0),
                after.iter().copied().max().unwrap_or(0),
            );
            let spread = ((max - min) * 100).checked_div(min).unwrap_or(0);
            let flat = spread <= FLAT_PERCENT;
            println!(
                "  {name}: RSS first {} KiB, after warm-up min {min} max {max} KiB (spread {spread} %), last {} KiB{}",
                v.first().copied().unwrap_or(0),
                v.last().copied().unwrap_or(0),
                if *ours {
                    if flat { " - flat" } else { " - NOT FLAT" }
                } else {
                    " (upstream, for comparison)"
                }
            );
            println!("    samples: {v:?}");
            if *ours && (!flat || after.is_empty()) {
                failed = true;
            }
        }
        sess.tmux.keys(&["C-^", "."]);
    }
    if failed {
        eprintln!("soak: FAILED");
        std::process::exit(1);
    }
    println!("soak: passed");
}

fn wait_alive(tmux: &Tmux) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if tmux.capture(false).contains("soak-42-alive") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}
