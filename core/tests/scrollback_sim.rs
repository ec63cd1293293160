//! Exact scrollback between a MoshKit client and a MoshKit host in simulated time: every line
//! of a long output arrives, in order and without gaps, through loss, reordering and a roam.
#![allow(clippy::unwrap_used)]

mod support {
    pub mod netsim;
    pub mod session_sim;
}

use moshkit_core::prediction::DisplayPreference;
use moshkit_core::scrollback::ScrollbackMode;
use moshkit_core::session::{ClientConfig, ClientEvent};
use support::session_sim::SessionSim;

fn text_of(cells: &[moshkit_core::session::ScreenCell]) -> String {
    cells
        .iter()
        .map(|c| c.text.as_str())
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// `seq 1 n` as a pty delivers it: 16 KiB reads, one every 2 ms.
fn seq_chunks(n: u64) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for i in 1..=n {
        all.extend_from_slice(format!("{i}\r\n").as_bytes());
    }
    all.chunks(16 * 1024).map(<[u8]>::to_vec).collect()
}

fn sim(seed: u64, rtt: u64, loss: f64, lines: usize) -> SessionSim {
    let config = ClientConfig {
        prediction: DisplayPreference::Never,
        scrollback_lines: lines,
        ..ClientConfig::default()
    };
    let mut sim = SessionSim::with_config(seed, rtt, loss, config);
    let now = sim.t();
    sim.host.set_scrollback_lines(now, lines);
    sim
}

/// Asks for `[from, to)` and runs until the request completes (bounded).
fn fetch(sim: &mut SessionSim, from: u64, to: u64, limit_ms: u64) {
    let start = sim.now;
    let now = sim.t();
    sim.client.request_scrollback(now, from, to).unwrap();
    while sim.now < start + limit_ms {
        sim.run_for(100);
        let done = sim.client_events.iter().any(|(t, e)| {
            *t >= start
                && matches!(e, ClientEvent::ScrollbackFetched { from: f, to: t2 } if *f == from && *t2 == to)
        });
        if done {
            return;
        }
    }
    panic!(
        "request {from}..{to} not done after {limit_ms} ms: {} missing",
        sim.client.scrollback().missing_in(from..to)
    );
}

fn check_seq(sim: &SessionSim, n: u64) {
    let sb = sim.client.scrollback();
    // The screen holds the last lines and the prompt row; everything above is scrollback.
    let host = sim.host.scrollback();
    assert_eq!(
        sb.range(),
        host.range(),
        "client and host agree on the range"
    );
    let range = sb.range();
    let lines = sb.lines(range.start, usize::MAX);
    assert_eq!(lines.len() as u64, range.end - range.start);
    let first_number = n - (range.end - range.start) - 23 + 1;
    for (k, l) in lines.iter().enumerate() {
        assert!(!l.missing, "line {} missing", l.index);
        // The output started right after the prompt.
        let number = first_number + k as u64;
        let expected = if number == 1 {
            "$ 1".to_owned()
        } else {
            number.to_string()
        };
        assert_eq!(text_of(&l.cells), expected, "line {}", l.index);
    }
}

#[test]
fn every_line_arrives_through_loss_reordering_and_a_roam() {
    let n = 100_000;
    let mut sim = sim(7, 100, 0.3, 200_000);
    sim.c2s.jitter_ms = 30;
    sim.s2c.jitter_ms = 30;
    sim.connect();
    assert_eq!(sim.client.scrollback_mode(), ScrollbackMode::Exact);
    for (i, chunk) in seq_chunks(n).into_iter().enumerate() {
        let now = sim.t();
        sim.host.host_output(now, &chunk);
        sim.run_for(2);
        if i == 200 {
            // The phone changes networks half way.
            let now = sim.t();
            sim.client.network_changed(now);
        }
    }
    sim.run_for(3000);
    let end = sim.host.scrollback().end();
    assert!(end >= n - 24, "host kept {end} lines");
    assert_eq!(sim.client.scrollback().end(), end);
    // Only what the client asks for crosses the network: most lines are still missing.
    assert!(sim.client.scrollback().missing_in(0..end) as u64 > n / 2);
    let first = sim.client.scrollback().range().start;
    fetch(&mut sim, first, end, 600_000);
    check_seq(&sim, n);
}

#[test]
fn slow_output_is_pushed_without_requests_and_ed3_clears() {
    let mut sim = sim(8, 200, 0.1, 1000);
    sim.connect();
    for i in 1..=100u64 {
        let now = sim.t();
        sim.host.host_output(now, format!("{i}\r\n").as_bytes());
        sim.run_for(50);
    }
    sim.run_for(2000);
    let sb = sim.client.scrollback();
    let range = sb.range();
    assert_eq!(
        sb.missing_in(range.clone()),
        0,
        "few lines at a time are pushed"
    );
    // The prompt row and `1`..`100` scrolled through 24 rows.
    let texts: Vec<String> = sb
        .lines(range.start, usize::MAX)
        .iter()
        .map(|l| text_of(&l.cells))
        .collect();
    assert_eq!(texts.last().map(String::as_str), Some("77"));
    assert!(
        sim.client_events
            .iter()
            .any(|(_, e)| matches!(e, ClientEvent::ScrollbackChanged { .. }))
    );
    // `clear` (ED 3) erases the scrollback, on the client too.
    let now = sim.t();
    sim.host.host_output(now, b"\x1b[H\x1b[2J\x1b[3J");
    sim.run_for(2000);
    assert!(sim.host.scrollback().is_empty());
    assert!(sim.client.scrollback().is_empty());
    let now = sim.t();
    sim.host.host_output(now, &b"x\r\n".repeat(30));
    sim.run_for(2000);
    assert_eq!(sim.client.scrollback().len(), 7);
    assert_eq!(
        sim.client.scrollback().range(),
        sim.host.scrollback().range()
    );
}

#[test]
fn scrollback_survives_save_and_restore() {
    let mut sim = sim(9, 100, 0.0, 5000);
    sim.connect();
    for chunk in seq_chunks(3000) {
        let now = sim.t();
        sim.host.host_output(now, &chunk);
        sim.run_for(2);
    }
    sim.run_for(2000);
    let first = sim.client.scrollback().range().start;
    let end = sim.client.scrollback().end();
    fetch(&mut sim, first, end, 60_000);
    let blob = sim.client.save_state();
    sim.kill_and_restore(&blob, 1_000_000, 99);
    assert_eq!(sim.client.scrollback().range(), first..end);
    assert_eq!(sim.client.scrollback_mode(), ScrollbackMode::Exact);
    check_seq(&sim, 3000);
    // More output after the restore keeps numbering and fills in.
    for chunk in seq_chunks(10) {
        let now = sim.t();
        sim.host.host_output(now, &chunk);
    }
    sim.run_for(3000);
    assert_eq!(
        sim.client.scrollback().range(),
        sim.host.scrollback().range()
    );
    assert_eq!(
        sim.client
            .scrollback()
            .missing_in(sim.client.scrollback().range()),
        0
    );
}

/// Every host instruction the datagrams carry, decrypted and reassembled.
fn host_messages(sim: &SessionSim) -> Vec<moshkit_core::wire::HostMessage> {
    use moshkit_core::fragment::{Fragment, FragmentAssembly};
    use prost::Message as _;
    let session = moshkit_core::crypto::Session::new(&moshkit_core::Key::from_bytes([42; 16]));
    let mut assembly = FragmentAssembly::new();
    let mut out = Vec::new();
    for d in &sim.host_datagrams {
        let (_, payload) = session.open(d).unwrap();
        // The payload starts with the two 16-bit timestamps.
        let fragment = Fragment::decode(&payload[4..]).unwrap();
        if let Some(inst) = assembly.add(fragment).unwrap() {
            let diff = inst.diff.unwrap_or_default();
            if !diff.is_empty() {
                out.push(moshkit_core::wire::HostMessage::decode(&*diff).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_client_that_does_not_ask_gets_exactly_what_upstream_would() {
    for (lines, expect_extension) in [(0, false), (1000, true)] {
        let mut sim = sim(10, 100, 0.0, lines);
        sim.record_host = true;
        sim.connect();
        for i in 1..=100 {
            let now = sim.t();
            sim.host.host_output(now, format!("{i}\r\n").as_bytes());
            sim.run_for(30);
        }
        sim.run_for(2000);
        let messages = host_messages(&sim);
        assert!(messages.len() > 10);
        let with_extension = messages
            .iter()
            .flat_map(|m| &m.instruction)
            .filter(|i| i.scrollback.is_some())
            .count();
        assert_eq!(
            with_extension > 0,
            expect_extension,
            "client keeping {lines} lines"
        );
        if !expect_extension {
            assert_eq!(
                sim.client.scrollback_mode(),
                ScrollbackMode::Off,
                "no hello, no scrollback"
            );
        }
    }
}
