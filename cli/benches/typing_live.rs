//! Live typing benchmark with real programs: how soon each keystroke's effect is on the
//! client's screen, and how many glyphs the client showed that the program never drew.
//!
//! For every program (bash with readline, `vim -u NONE -N`, `nano`, the `python3` REPL, a
//! `less` search, `cat` at a prompt) and every pairing of {`moshkit-client`, upstream
//! `mosh-client`} × {upstream `mosh-server`, `moshkit-server`}: the client runs in a tmux pane
//! (a real pty), talks to the server through the project's relay (`TYPING_RTT_MS`, default
//! 500 ms round trip, no loss), and a script is typed at human speed (120–220 ms between
//! keys, seeded). The pane is sampled continuously (text and cursor, a few ms apart).
//!
//! Truth is a reference run of the same program and keys in a tmux pane without mosh: the
//! screen after each key once the program is idle. A key is *shown* when the cells it changes
//! in the reference (or, if only the cursor moved, the cursor) show a state the program had at
//! or after that key and no longer the state before it; its latency is from the key press to
//! then (a key overtaken by a later one, e.g. a letter rubbed out before it was ever drawn,
//! counts the later key's time). A *mispredicted glyph* is a cell shown while typing that the
//! program's screen never had at that position (rows of the notification bar excepted); each
//! is counted once, with how long it stayed. The bash script also answers a `read -s`
//! password prompt (nothing may be shown) and pastes 200 characters at a confirmed prompt.
//!
//! `scripts/typing-bench.sh` (= `cargo bench -p moshkit-cli --bench typing_live`; needs mosh,
//! tmux, vim, nano, less, python3; about 8 minutes). `TYPING_ONLY=vim,nano` picks programs,
//! `TYPING_PAIRS=mk-up,up-up,mk-mk,up-mk` pairings. Results: docs/benchmarks.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_range_loop,
    missing_docs
)]

#[path = "../tests/common/server.rs"]
mod server;
#[path = "../tests/common/tmux.rs"]
mod tmux;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use moshkit_cli::relay::{Impairment, spawn_relay};
use server::{Impl, Server, client_pane, scratch_dir};
use tmux::Tmux;

const COLS: usize = 80;
const ROWS: usize = 24;
/// A key is "instant" when shown within this.
const INSTANT: Duration = Duration::from_millis(50);

/// One key of a script.
#[derive(Clone, Debug)]
struct Key {
    /// `tmux send-keys` arguments.
    send: Vec<String>,
    /// A printable character or a backspace typed into text (the typing figures).
    typing: bool,
    /// Typed at the password prompt.
    password: bool,
    label: String,
}

/// Parses a script: characters are typed as they are; `{BS}`, `{Enter}`, `{Esc}`, `{Left}`,
/// `{Right}`, `{End}`, `{Home}`, `{C-x}` are named keys; `{N:c}` types `c` as a command key
/// (not text, e.g. vim's `i`); `{pw}` starts and ends the password part.
fn parse(script: &str) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut password = false;
    let mut chars = script.chars();
    while let Some(c) = chars.next() {
        if c != '{' {
            keys.push(Key {
                send: vec!["-l".into(), c.to_string()],
                typing: true,
                password,
                label: c.to_string(),
            });
            continue;
        }
        let token: String = chars.by_ref().take_while(|&c| c != '}').collect();
        let (send, typing) = match token.as_str() {
            "pw" => {
                password = !password;
                continue;
            }
            "BS" => (vec!["BSpace".to_string()], true),
            "Esc" => (vec!["Escape".to_string()], false),
            t if t.starts_with("N:") => (vec!["-l".to_string(), t[2..].to_string()], false),
            t => (vec![t.to_string()], false),
        };
        keys.push(Key {
            send,
            typing,
            password,
            label: format!("{{{token}}}"),
        });
    }
    keys
}

struct Program {
    name: &'static str,
    command: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
    /// Text on the first screen once the program is up.
    ready: Option<&'static str>,
    script: &'static str,
    paste: Option<String>,
}

fn programs() -> Vec<Program> {
    let paste: String = "echo the pasted text is two hundred characters long and arrives all at once, as a paste from the clipboard of a phone does: one write with many characters in it 0123456789 abcdefghij"
        .chars()
        .take(200)
        .collect();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        Program {
            name: "bash",
            command: s(&["bash", "--norc", "--noprofile", "-i"]),
            env: vec![
                ("PS1", "$ "),
                ("INPUTRC", "/dev/null"),
                ("HISTFILE", "/dev/null"),
            ],
            ready: Some("$"),
            script: "echo helo{BS}{BS}lo wrld{BS}{BS}{BS}orld{Left}{Left}{Left}{Left}{Left}big {C-e} again{Enter}read -s -p 'pw: ' x{Enter}{pw}hunter2{Enter}{pw}echo ok{Enter}",
            paste: Some(paste.replace('\'', "")),
        },
        Program {
            name: "vim",
            command: s(&["vim", "-u", "NONE", "-N", "-n", "-i", "NONE", "notes.txt"]),
            env: vec![],
            ready: Some("notes.txt"),
            script: "{N:i}The quick brown fox jumps ovr{BS}{BS}ver the lazy dog.{Enter}Mosh keeps the sesion{BS}{BS}{BS}sion alive{Esc}",
            paste: None,
        },
        Program {
            name: "nano",
            command: s(&["nano", "--ignorercfiles", "notes.txt"]),
            env: vec![],
            ready: Some("GNU nano"),
            script: "The quick brown fox jumps ovr{BS}{BS}ver the lazy dog.{Enter}Mosh keeps the sesion{BS}{BS}{BS}sion alive",
            paste: None,
        },
        Program {
            name: "python3",
            command: s(&["/usr/bin/python3", "-q"]),
            env: vec![("PYTHONSTARTUP", "")],
            ready: Some(">>>"),
            script: "print(1 + 2){Enter}x = [i * i for i in range(5)]{Enter}sum(x){Enter}",
            paste: None,
        },
        Program {
            name: "less",
            command: s(&["less", "long.txt"]),
            env: vec![("LESSHISTFILE", "-")],
            ready: Some("line 1 "),
            script: "{N:/}line 42{Enter}{N:n}{N:/}file{BS}{BS}{BS}{BS}of a{Enter}",
            paste: None,
        },
        Program {
            name: "cat",
            command: s(&["cat"]),
            env: vec![],
            ready: None,
            script: "hello from cat{Enter}second lin{BS}{BS}ine{Enter}",
            paste: None,
        },
    ]
}

/// The pane: text cells and cursor.
#[derive(Clone, PartialEq, Eq)]
struct Screen {
    rows: Vec<Vec<char>>,
    cursor: (usize, usize),
}

impl Screen {
    fn cell(&self, y: usize, x: usize) -> char {
        self.rows[y][x]
    }
    fn text(&self) -> String {
        self.rows
            .iter()
            .map(|r| r.iter().collect::<String>().trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn snap(tmux: &Tmux) -> Screen {
    let out = tmux
        .cmd()
        .args([
            "capture-pane",
            "-p",
            ";",
            "display",
            "-p",
            "#{cursor_x} #{cursor_y}",
        ])
        .output()
        .expect("capture");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = text.lines().collect();
    let cursor_line = lines.pop().unwrap_or("0 0");
    let mut c = cursor_line
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0));
    let cursor = (c.next().unwrap_or(0), c.next().unwrap_or(0));
    let mut rows: Vec<Vec<char>> = lines
        .iter()
        .take(ROWS)
        .map(|l| {
            let mut r: Vec<char> = l.chars().take(COLS).collect();
            r.resize(COLS, ' ');
            r
        })
        .collect();
    rows.resize(ROWS, vec![' '; COLS]);
    Screen { rows, cursor }
}

/// Waits until the pane stays the same for `quiet`, at most `limit`.
fn settle(tmux: &Tmux, quiet: Duration, limit: Duration) -> Screen {
    let start = Instant::now();
    let mut last = snap(tmux);
    let mut since = Instant::now();
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(10));
        let now = snap(tmux);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            break;
        }
    }
    last
}

fn wait_ready(tmux: &Tmux, ready: Option<&str>) {
    if let Some(r) = ready {
        tmux.wait_text(r, Duration::from_secs(20));
    }
}

fn send(tmux: &Tmux, key: &Key) {
    let args: Vec<&str> = key.send.iter().map(String::as_str).collect();
    tmux.keys(&args);
}

fn prepare_home(name: &str) -> std::path::PathBuf {
    let home = scratch_dir(name);
    let lines: String = (1..=300)
        .map(|i| format!("line {i} of a long file viewed with less\n"))
        .collect();
    std::fs::write(home.join("long.txt"), lines).unwrap();
    let _ = std::fs::remove_file(home.join("notes.txt"));
    home
}

/// Starts `p` under `server` and a client for it in a tmux pane: `client` through a relay
/// with `rtt`, or (`None`) upstream's client with prediction off and no relay.
fn session(
    p: &Program,
    home: &Path,
    client: Option<Impl>,
    server: Impl,
    rtt: Duration,
    seed: u64,
) -> (Server, Option<moshkit_cli::relay::RelayHandle>, Tmux) {
    let command: Vec<&str> = p.command.iter().map(String::as_str).collect();
    let srv = Server::start_program(server, home, &p.env, &command);
    let (relay, port, client, prediction) = match client {
        Some(c) => {
            let relay = spawn_relay(
                srv.addr(),
                Impairment {
                    delay: rtt / 2,
                    loss_percent: 0.0,
                    seed,
                },
            )
            .expect("relay");
            let port = relay.addr().port();
            (Some(relay), port, c, "adaptive")
        }
        None => (None, srv.port, Impl::Upstream, "never"),
    };
    let tmux = Tmux::new(
        COLS as u16,
        ROWS as u16,
        &client_pane(
            client,
            &srv.key,
            port,
            &format!("MOSH_PREDICTION_DISPLAY={prediction}"),
        ),
    );
    wait_ready(&tmux, p.ready);
    (srv, relay, tmux)
}

/// The reference screens: before any key, after each key, after the paste. They are what
/// the program showed under the same server with nothing predicted: upstream's client with
/// prediction off, straight to the server, each screen taken once the program is idle.
fn reference(
    p: &Program,
    keys: &[Key],
    server: Impl,
    home: &Path,
) -> (Vec<Screen>, Option<Screen>) {
    let (srv, _relay, tmux) = session(p, home, None, server, Duration::ZERO, 0);
    let mut screens = vec![settle(
        &tmux,
        Duration::from_millis(700),
        Duration::from_secs(5),
    )];
    for k in keys {
        send(&tmux, k);
        screens.push(settle(
            &tmux,
            Duration::from_millis(300),
            Duration::from_secs(5),
        ));
    }
    let pasted = p.paste.as_ref().map(|text| {
        paste(&tmux, text);
        settle(&tmux, Duration::from_millis(400), Duration::from_secs(5))
    });
    tmux.keys(&["C-^", "."]);
    drop(srv);
    (screens, pasted)
}

fn paste(tmux: &Tmux, text: &str) {
    let ok = tmux
        .cmd()
        .args(["set-buffer", "--", text])
        .status()
        .expect("set-buffer");
    assert!(ok.success());
    let ok = tmux
        .cmd()
        .args(["paste-buffer", "-p"])
        .status()
        .expect("paste-buffer");
    assert!(ok.success());
}

/// Cells of `b` that differ from `a`.
fn changed(a: &Screen, b: &Screen) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for y in 0..ROWS {
        for x in 0..COLS {
            if a.cell(y, x) != b.cell(y, x) {
                v.push((y, x));
            }
        }
    }
    v
}

fn is_bar_row(row: &[char]) -> bool {
    let s: String = row.iter().collect();
    s.contains("mosh:") || s.contains("Last contact") || s.contains("[To quit")
}

#[derive(Default, Clone)]
struct Figures {
    keys: usize,
    instant: usize,
    typing_keys: usize,
    typing_instant: usize,
    latencies: Vec<u64>,
    mispredicted: usize,
    longest_wrong_ms: u64,
    password_shown: usize,
    paste_ms: Option<u64>,
    final_matches: bool,
}

impl Figures {
    fn add(&mut self, o: &Figures) {
        self.keys += o.keys;
        self.instant += o.instant;
        self.typing_keys += o.typing_keys;
        self.typing_instant += o.typing_instant;
        self.latencies.extend_from_slice(&o.latencies);
        self.mispredicted += o.mispredicted;
        self.longest_wrong_ms = self.longest_wrong_ms.max(o.longest_wrong_ms);
        self.password_shown += o.password_shown;
    }
    fn pct(n: usize, d: usize) -> f64 {
        if d == 0 {
            0.0
        } else {
            100.0 * n as f64 / d as f64
        }
    }
    fn median(&self) -> u64 {
        let mut v = self.latencies.clone();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    }
}

/// Types the script through a mosh session and measures it against the reference.
fn measure(
    p: &Program,
    keys: &[Key],
    client: Impl,
    server: Impl,
    rtt: Duration,
    seed: u64,
) -> Figures {
    let home = prepare_home(&format!("typing-{}-{server:?}", p.name));
    let (truth, pasted) = reference(p, keys, server, &home);
    let (truth, pasted) = (&truth[..], pasted.as_ref());
    let _ = prepare_home(&format!("typing-{}-{server:?}", p.name));
    let (srv, relay, tmux) = session(p, &home, Some(client), server, rtt, seed);
    // Let the round-trip estimate settle and the first screen be confirmed.
    std::thread::sleep(Duration::from_millis(2500));

    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut gap = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        Duration::from_millis(120 + rng % 101)
    };
    let start = Instant::now();
    let mut samples: Vec<(Duration, Screen)> = Vec::new();
    let mut pressed: Vec<Duration> = Vec::new();
    let mut next = Duration::ZERO;
    let mut i = 0;
    while i < keys.len() {
        if start.elapsed() >= next {
            pressed.push(start.elapsed());
            send(&tmux, &keys[i]);
            i += 1;
            next += gap();
        }
        samples.push((start.elapsed(), snap(&tmux)));
    }
    let typing_end = start.elapsed() + rtt * 3;
    while start.elapsed() < typing_end {
        samples.push((start.elapsed(), snap(&tmux)));
    }
    let mut fig = Figures::default();
    // Per key: when its effect showed.
    let mut shown: Vec<Option<Duration>> = vec![None; keys.len()];
    let mut effect: Vec<bool> = vec![false; keys.len()];
    for k in 0..keys.len() {
        let (before, after) = (&truth[k], &truth[k + 1]);
        let cells = changed(before, after);
        let cursor_only = cells.is_empty() && before.cursor != after.cursor;
        if cells.is_empty() && !cursor_only {
            continue;
        }
        effect[k] = true;
        for (t, s) in samples.iter().filter(|(t, _)| *t >= pressed[k]) {
            let hit = if cursor_only {
                s.cursor != before.cursor && truth[k + 1..].iter().any(|tr| tr.cursor == s.cursor)
            } else {
                let moved = cells
                    .iter()
                    .any(|&(y, x)| s.cell(y, x) != before.cell(y, x));
                moved
                    && truth[k + 1..]
                        .iter()
                        .any(|tr| cells.iter().all(|&(y, x)| s.cell(y, x) == tr.cell(y, x)))
            };
            if hit {
                shown[k] = Some(*t);
                break;
            }
        }
    }
    // A key never shown on its own was overtaken: it counts the next shown key's time.
    for k in (0..keys.len()).rev() {
        if effect[k] && shown[k].is_none() {
            shown[k] = shown[k + 1..].iter().flatten().next().copied();
        }
    }
    for k in 0..keys.len() {
        if !effect[k] {
            continue;
        }
        let lat = shown[k].map_or(u64::MAX, |t| (t - pressed[k]).as_millis() as u64);
        let instant = lat <= INSTANT.as_millis() as u64;
        fig.keys += 1;
        fig.instant += usize::from(instant);
        if keys[k].typing && !keys[k].password {
            fig.typing_keys += 1;
            fig.typing_instant += usize::from(instant);
        }
        fig.latencies.push(lat.min(60_000));
        if std::env::var_os("TYPING_VERBOSE").is_some() {
            println!("    key {k} {:?}: {lat} ms", keys[k].label);
        }
    }
    // Mispredicted glyphs while typing.
    let mut possible: Vec<Vec<HashSet<char>>> = vec![vec![HashSet::new(); COLS]; ROWS];
    // The program's screen also had what the session settled on: typing ahead of a program's
    // output interleaves the tty's echo with it (`cat`), which the one-key-at-a-time
    // reference never shows.
    let settled = samples.last().map(|(_, s)| s.clone());
    for s in truth.iter().chain(pasted).chain(settled.as_ref()) {
        for y in 0..ROWS {
            for x in 0..COLS {
                possible[y][x].insert(s.cell(y, x));
            }
        }
    }
    let password_range = keys
        .iter()
        .position(|k| k.password)
        .map(|a| (pressed[a], keys.iter().rposition(|k| k.password).unwrap()));
    let mut open: HashMap<(usize, usize, char), (Duration, Duration)> = HashMap::new();
    let mut episodes: Vec<((usize, usize, char), Duration, Duration)> = Vec::new();
    let first = pressed.first().copied().unwrap_or_default();
    for (t, s) in samples.iter().filter(|(t, _)| *t >= first) {
        let mut seen = HashSet::new();
        for y in 0..ROWS {
            if is_bar_row(&s.rows[y]) {
                continue;
            }
            for x in 0..COLS {
                let c = s.cell(y, x);
                if !possible[y][x].contains(&c) {
                    seen.insert((y, x, c));
                    open.entry((y, x, c)).or_insert((*t, *t)).1 = *t;
                }
            }
        }
        let gone: Vec<_> = open.keys().filter(|k| !seen.contains(k)).copied().collect();
        for g in gone {
            let (a, b) = open.remove(&g).unwrap();
            episodes.push((g, a, b));
        }
    }
    episodes.extend(open.into_iter().map(|(g, (a, b))| (g, a, b)));
    for (g, a, b) in &episodes {
        fig.mispredicted += 1;
        fig.longest_wrong_ms = fig.longest_wrong_ms.max((*b - *a).as_millis() as u64);
        if let Some((from, last)) = password_range {
            let to = pressed.get(last + 1).copied().unwrap_or(Duration::MAX);
            if *a >= from && *a <= to {
                fig.password_shown += 1;
            }
        }
        if std::env::var_os("TYPING_VERBOSE").is_some() {
            println!(
                "    wrong glyph {:?} at {},{} for {} ms (from {} ms)",
                g.2,
                g.0,
                g.1,
                (*b - *a).as_millis(),
                a.as_millis()
            );
        }
    }
    fig.final_matches = samples
        .last()
        .is_some_and(|(_, s)| s.text() == truth.last().unwrap().text());
    if !fig.final_matches && std::env::var_os("TYPING_VERBOSE").is_some() {
        println!(
            "    final screen differs:\n{}\n    reference:\n{}",
            samples.last().unwrap().1.text(),
            truth.last().unwrap().text()
        );
    }
    // The paste, at a confirmed prompt.
    if let (Some(text), Some(after)) = (&p.paste, pasted) {
        std::thread::sleep(Duration::from_secs(2));
        let before = truth.last().unwrap();
        let cells = changed(before, after);
        let t0 = Instant::now();
        paste(&tmux, text);
        while t0.elapsed() < Duration::from_secs(5) {
            let s = snap(&tmux);
            if cells.iter().all(|&(y, x)| s.cell(y, x) == after.cell(y, x)) {
                fig.paste_ms = Some(t0.elapsed().as_millis() as u64);
                break;
            }
        }
    }
    tmux.keys(&["C-^", "."]);
    drop(relay);
    drop(srv);
    let _ = std::fs::remove_dir_all(&home);
    fig
}

fn main() {
    let rtt = Duration::from_millis(
        std::env::var("TYPING_RTT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    );
    let only = std::env::var("TYPING_ONLY").ok();
    let pairs_env =
        std::env::var("TYPING_PAIRS").unwrap_or_else(|_| "mk-up,up-up,mk-mk,up-mk".into());
    let pairs: Vec<(Impl, Impl, &str)> = [
        (Impl::MoshKit, Impl::Upstream, "mk-up"),
        (Impl::Upstream, Impl::Upstream, "up-up"),
        (Impl::MoshKit, Impl::MoshKit, "mk-mk"),
        (Impl::Upstream, Impl::MoshKit, "up-mk"),
    ]
    .into_iter()
    .filter(|(_, _, n)| pairs_env.split(',').any(|p| p == *n))
    .collect();
    let name = |c: Impl, s: Impl| {
        format!(
            "{} → {}",
            if c == Impl::MoshKit {
                "moshkit-client"
            } else {
                "mosh-client"
            },
            if s == Impl::MoshKit {
                "moshkit-server"
            } else {
                "mosh-server"
            }
        )
    };
    println!(
        "typing at human speed, {} ms RTT, adaptive prediction; instant = shown within {} ms",
        rtt.as_millis(),
        INSTANT.as_millis()
    );
    let mut totals: Vec<Figures> = vec![Figures::default(); pairs.len()];
    let mut rows = Vec::new();
    for (pi, p) in programs().into_iter().enumerate() {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|n| n == p.name))
        {
            continue;
        }
        let keys = parse(p.script);
        for (i, &(client, server, _)) in pairs.iter().enumerate() {
            let f = measure(&p, &keys, client, server, rtt, pi as u64 + 1);
            println!(
                "{:8} {:34} keys {:3}: {:5.1} % instant (typing {:5.1} %), median {:4} ms, {} mispredicted glyphs (longest {} ms){}{}{}",
                p.name,
                name(client, server),
                f.keys,
                Figures::pct(f.instant, f.keys),
                Figures::pct(f.typing_instant, f.typing_keys),
                f.median(),
                f.mispredicted,
                f.longest_wrong_ms,
                if p.script.contains("{pw}") {
                    format!(", password glyphs shown {}", f.password_shown)
                } else {
                    String::new()
                },
                f.paste_ms
                    .map_or(String::new(), |ms| format!(", paste shown after {ms} ms")),
                if f.final_matches {
                    ""
                } else {
                    " [final screen differs from the reference]"
                }
            );
            totals[i].add(&f);
            rows.push((p.name, i, f));
        }
    }
    println!();
    println!(
        "| program | pairing | keys | instant | typing keys instant | median | mispredicted glyphs (longest) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (prog, i, f) in &rows {
        let (c, s, _) = pairs[*i];
        println!(
            "| {prog} | {} | {} | {:.0} % | {:.0} % | {} ms | {} ({} ms){} |",
            name(c, s),
            f.keys,
            Figures::pct(f.instant, f.keys),
            Figures::pct(f.typing_instant, f.typing_keys),
            f.median(),
            f.mispredicted,
            f.longest_wrong_ms,
            f.paste_ms
                .map_or(String::new(), |ms| format!("; paste {ms} ms"))
        );
    }
    for (i, t) in totals.iter().enumerate() {
        let (c, s, _) = pairs[i];
        println!(
            "| **all** | {} | {} | {:.0} % | {:.0} % | {} ms | {} per 150 keys ({} ms) |",
            name(c, s),
            t.keys,
            Figures::pct(t.instant, t.keys),
            Figures::pct(t.typing_instant, t.typing_keys),
            t.median(),
            if t.keys > 0 {
                format!("{:.1}", t.mispredicted as f64 * 150.0 / t.keys as f64)
            } else {
                "0".into()
            },
            t.longest_wrong_ms
        );
    }
}
