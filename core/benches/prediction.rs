//! Measures predictive echo: replays a realistic keystroke script (shell commands with typos and
//! backspaces, a password prompt, a paste, editing in a full-screen editor) through a client
//! session and a host session joined by a simulated network, in virtual time, and prints how
//! many keystrokes were shown at once, the keystroke-to-display latency and the mispredicted
//! cells shown.
//!
//! `cargo bench -p moshkit-core --bench prediction`
//!
//! `PREDICTION_BENCH_RTT=500` runs only that RTT's rows; `PREDICTION_BENCH_KEYS=1` also lists,
//! per run, every key not shown within 5 ms and every mispredicted cell shown.

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/netsim.rs"]
mod netsim;
#[path = "../tests/support/session_sim.rs"]
mod session_sim;

use std::collections::HashMap;

use moshkit_core::prediction::DisplayPreference;
use moshkit_core::session::ClientConfig;
use moshkit_core::terminal::Terminal;
use moshkit_core::transport::SplitMix64;
use session_sim::{FakeShell, PROMPT, SessionSim};

/// One step of the user's script.
#[derive(Clone, Copy)]
enum Act {
    /// Type these bytes one key at a time.
    Type(&'static str),
    /// One key (an escape sequence or control character).
    Key(&'static [u8]),
    /// Paste this text in one read.
    Paste(&'static str),
    /// Wait for the output (think time).
    Think,
}

const SCRIPT: &[Act] = &[
    Act::Type("ls -la"),
    Act::Key(b"\r"),
    Act::Think,
    Act::Type("git stauts"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Type("tus"),
    Act::Key(b"\r"),
    Act::Think,
    Act::Type("echo hello wrold"),
    Act::Key(b"\x1bOD"),
    Act::Key(b"\x1bOD"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Type("or"),
    Act::Key(b"\r"),
    Act::Think,
    Act::Type("sudo"),
    Act::Key(b"\r"),
    Act::Think,
    Act::Type("hunter2"),
    Act::Key(b"\r"),
    Act::Think,
    Act::Paste(
        "echo this line was pasted from the clipboard and is longer than a hundred bytes so it counts as a paste\r",
    ),
    Act::Think,
    Act::Type("cd /usr/lcoal/src"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Key(b"\x7f"),
    Act::Type("ocal/src"),
    Act::Key(b"\r"),
    Act::Think,
    Act::Type("edit"),
    Act::Key(b"\r"),
    Act::Think,
    Act::Type("let x = 42;"),
    Act::Key(b"\r"),
    Act::Type("    dbg!(x);"),
    Act::Key(b"\x1bOA"),
    Act::Key(b"\x1bOA"),
    Act::Type("// entry point "),
    Act::Key(b"\x7f"),
    Act::Key(b"\x1bOB"),
    Act::Key(b"\x1bOB"),
    Act::Key(b"\x1bOB"),
    Act::Type("println!(\"{}\", x);"),
    Act::Key(b"\x18"),
    Act::Think,
    Act::Type("make test"),
    Act::Key(b"\r"),
    Act::Think,
];

/// A predicted cell is judged against the host's screens after this many most recent keys.
const RECENT_KEYS: usize = 20;

/// Rows of cell texts and the cursor (row, column) of a host screen.
type HostScreen = (Vec<Vec<String>>, (usize, usize));

/// A keystroke and the screen the host shows once it has processed it.
struct Expected {
    bytes: Vec<u8>,
    paste: bool,
    /// Rows of text and the cursor after this key.
    screen: HostScreen,
}

fn cells(t: &Terminal) -> HostScreen {
    cells_of(t.framebuffer())
}

fn cells_of(fb: &moshkit_core::terminal::Framebuffer) -> HostScreen {
    let rows = fb
        .rows()
        .map(|r| {
            r.cells()
                .iter()
                .map(|c| fb.cell_text(c).to_string())
                .collect()
        })
        .collect();
    let p = fb.cursor();
    (rows, (p.row, p.col))
}

/// The keys of the script, with the host screen after each (replayed offline, key by key).
fn expected_screens() -> (Vec<Expected>, HostScreen) {
    let mut shell = FakeShell::default();
    let mut term = Terminal::new(80, 24).unwrap();
    term.feed(PROMPT.as_bytes());
    let initial = cells(&term);
    let mut out = Vec::new();
    for act in SCRIPT {
        let keys: Vec<(Vec<u8>, bool)> = match *act {
            Act::Type(s) => s
                .chars()
                .map(|c| (c.to_string().into_bytes(), false))
                .collect(),
            Act::Key(k) => vec![(k.to_vec(), false)],
            Act::Paste(s) => vec![(s.as_bytes().to_vec(), true)],
            Act::Think => vec![],
        };
        for (bytes, paste) in keys {
            // The server turns the client's SS3 arrows into CSI form (no DECCKM here).
            let translated: Vec<u8> = String::from_utf8_lossy(&bytes)
                .replace("\x1bO", "\x1b[")
                .into_bytes();
            term.feed(&shell.input(&translated));
            out.push(Expected {
                bytes,
                paste,
                screen: cells(&term),
            });
        }
    }
    (out, initial)
}

#[derive(Default)]
struct Figures {
    keys: usize,
    instant: usize,
    latencies: Vec<u64>,
    never: usize,
    mispredicted_cells: usize,
    mispredicted_ms: Vec<u64>,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn run(rtt: u64, loss: f64, mode: DisplayPreference, extensions: bool, seed: u64) -> Figures {
    let (keys, initial) = expected_screens();
    let config = ClientConfig {
        prediction: mode,
        prediction_extensions: extensions,
        ..ClientConfig::default()
    };
    let mut sim = SessionSim::with_config(seed, rtt, loss, config);
    sim.connect();
    let mut rng = SplitMix64::new(seed);
    // When each key was typed (virtual ms) and when it was displayed.
    let mut typed_at: Vec<u64> = Vec::new();
    let mut shown_at: Vec<Option<u64>> = Vec::new();
    let mut mis_open: HashMap<(usize, usize, String), u64> = HashMap::new();
    let mut fig = Figures::default();
    let dump = std::env::var_os("PREDICTION_BENCH_KEYS").is_some();

    // Step the simulation in 1 ms steps, sampling the client's screen each time.
    let sample = |sim: &mut SessionSim,
                  typed_at: &Vec<u64>,
                  shown_at: &mut Vec<Option<u64>>,
                  mis_open: &mut HashMap<(usize, usize, String), u64>,
                  fig: &mut Figures| {
        let now = sim.now;
        let snap = sim.client.snapshot(sim.t());
        let client: Vec<Vec<&str>> = snap
            .changed_rows
            .iter()
            .map(|r| r.cells.iter().map(|c| c.text.as_str()).collect())
            .collect();
        let cursor = (usize::from(snap.cursor.row), usize::from(snap.cursor.col));
        let n = typed_at.len();
        let screen_after = |j: usize| -> &HostScreen {
            if j == 0 {
                &initial
            } else {
                &keys[j - 1].screen
            }
        };
        // Key k (1-based) is shown when every cell it changed, and the cursor, show its own
        // result or that of a later key already typed.
        for k in 1..=n {
            if shown_at[k - 1].is_some() {
                continue;
            }
            let (before, after) = (screen_after(k - 1), screen_after(k));
            let mut ok = true;
            for (r, row) in after.0.iter().enumerate() {
                for (c, text) in row.iter().enumerate() {
                    if before.0[r][c] != *text {
                        let shown = client
                            .get(r)
                            .and_then(|row| row.get(c))
                            .copied()
                            .unwrap_or("");
                        if !(k..=n).any(|j| screen_after(j).0[r][c] == shown) {
                            ok = false;
                        }
                    }
                }
            }
            if before.1 != after.1 && !(k..=n).any(|j| screen_after(j).1 == cursor) {
                ok = false;
            }
            if ok {
                shown_at[k - 1] = Some(now);
            }
        }
        // Mispredicted: a predicted cell showing text that the host's screen never has at that
        // place, neither now nor after any of the recent keys (up to every key typed so far).
        // The host screens a prediction may rightly show: those after the keys the client's copy
        // of the host screen already reflects (if it equals one of the recent screens) up to the
        // newest key; showing an older screen's text is as wrong as showing a screen never seen.
        let remote = sim.client.remote_screen().clone();
        let remote_cells = cells_of(&remote);
        let oldest = (n.saturating_sub(RECENT_KEYS)..=n)
            .rev()
            .find(|&j| *screen_after(j) == remote_cells)
            .unwrap_or(n.saturating_sub(RECENT_KEYS));
        let recent: Vec<&HostScreen> = (oldest..=n).map(screen_after).collect();
        let mut current = HashMap::new();
        for r in &snap.changed_rows {
            for (c, cell) in r.cells.iter().enumerate() {
                if !cell.predicted {
                    continue;
                }
                let row = usize::from(r.index);
                let actual = remote
                    .cell(moshkit_core::terminal::Point { row, col: c })
                    .map(|x| remote.cell_text(x).to_string())
                    .unwrap_or_default();
                if cell.text != actual && !recent.iter().any(|h| h.0[row][c] == cell.text) {
                    current.insert((row, c, cell.text.clone()), ());
                }
            }
        }
        for key in current.keys() {
            mis_open.entry(key.clone()).or_insert_with(|| {
                if dump {
                    println!("  mispredicted at {now} ms: {key:?}");
                }
                fig.mispredicted_cells += 1;
                now
            });
        }
        let ended: Vec<_> = mis_open
            .keys()
            .filter(|k| !current.contains_key(*k))
            .cloned()
            .collect();
        for k in ended {
            if let Some(start) = mis_open.remove(&k) {
                fig.mispredicted_ms.push(now - start);
            }
        }
    };

    let mut ki = 0;
    for act in SCRIPT {
        let (presses, think): (Vec<()>, bool) = match *act {
            Act::Type(s) => (s.chars().map(|_| ()).collect(), false),
            Act::Key(_) | Act::Paste(_) => (vec![()], false),
            Act::Think => (vec![], true),
        };
        if think {
            // Read the output before typing on.
            let until = sim.now + rtt + 1500;
            while sim.now < until {
                sim.run_for(1);
                sample(&mut sim, &typed_at, &mut shown_at, &mut mis_open, &mut fig);
            }
            continue;
        }
        for () in presses {
            let key = &keys[ki];
            ki += 1;
            typed_at.push(sim.now);
            shown_at.push(None);
            let now = sim.t();
            if key.paste {
                sim.client
                    .paste(now, std::str::from_utf8(&key.bytes).unwrap());
            } else {
                sim.type_bytes(&key.bytes);
            }
            // Typing speed: 80–220 ms between keys.
            let gap = 80 + rng.next_u64() % 141;
            let until = sim.now + gap;
            sample(&mut sim, &typed_at, &mut shown_at, &mut mis_open, &mut fig);
            while sim.now < until {
                sim.run_for(1);
                sample(&mut sim, &typed_at, &mut shown_at, &mut mis_open, &mut fig);
            }
        }
    }
    let until = sim.now + rtt * 4 + 2000;
    while sim.now < until {
        sim.run_for(1);
        sample(&mut sim, &typed_at, &mut shown_at, &mut mis_open, &mut fig);
    }
    for (i, key) in keys.iter().enumerate() {
        if key.paste {
            continue;
        }
        fig.keys += 1;
        match shown_at[i] {
            Some(t) => {
                let lat = t - typed_at[i];
                if lat <= 5 {
                    fig.instant += 1;
                }
                fig.latencies.push(lat);
            }
            None => fig.never += 1,
        }
    }
    if dump {
        for (i, key) in keys.iter().enumerate() {
            let latency = shown_at[i].map(|t| t - typed_at[i]);
            if latency.is_none_or(|l| l > 5) {
                let text = String::from_utf8_lossy(&key.bytes);
                println!(
                    "  slow key {i} {text:?} typed at {} ms: {latency:?}",
                    typed_at[i]
                );
            }
        }
    }
    fig.latencies.sort_unstable();
    fig.mispredicted_ms.sort_unstable();
    fig
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters nothing.
    println!(
        "prediction benchmark: {} scripted actions, 80x24, virtual time",
        SCRIPT.len()
    );
    println!(
        "{:>6} {:>5} {:>13} {:>6} {:>9} {:>8} {:>8} {:>7} {:>11} {:>10}",
        "rtt", "loss", "mode", "keys", "instant", "median", "p95", "never", "mispred", "mis ms max"
    );
    let seeds = [1u64, 2, 3];
    let only: Option<u64> = std::env::var("PREDICTION_BENCH_RTT")
        .ok()
        .and_then(|v| v.parse().ok());
    for (rtt, loss) in [
        (50, 0.0),
        (250, 0.0),
        (500, 0.0),
        (50, 0.1),
        (250, 0.1),
        (500, 0.1),
    ] {
        if only.is_some_and(|o| o != rtt) {
            continue;
        }
        for (mode, extensions, name) in [
            (DisplayPreference::Adaptive, true, "adaptive"),
            (DisplayPreference::Adaptive, false, "adaptive-up"),
            (DisplayPreference::Always, true, "always"),
        ] {
            let mut total = Figures::default();
            for &seed in &seeds {
                let f = run(rtt, loss, mode, extensions, seed);
                total.keys += f.keys;
                total.instant += f.instant;
                total.never += f.never;
                total.latencies.extend(f.latencies);
                total.mispredicted_cells += f.mispredicted_cells;
                total.mispredicted_ms.extend(f.mispredicted_ms);
            }
            total.latencies.sort_unstable();
            total.mispredicted_ms.sort_unstable();
            println!(
                "{:>4}ms {:>4.0}% {:>13} {:>6} {:>8.1}% {:>6}ms {:>6}ms {:>7} {:>10.2}% {:>8}ms",
                rtt,
                loss * 100.0,
                name,
                total.keys,
                100.0 * total.instant as f64 / total.keys.max(1) as f64,
                percentile(&total.latencies, 0.5),
                percentile(&total.latencies, 0.95),
                total.never,
                100.0 * total.mispredicted_cells as f64 / total.keys.max(1) as f64,
                total.mispredicted_ms.last().copied().unwrap_or(0),
            );
        }
    }
    println!("(adaptive-up: upstream's rules exactly, without MoshKit's additions)");
}
