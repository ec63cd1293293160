//! Saving and restoring a client session (see docs/benchmarks.md): the blob's size and the time
//! of `save_state` and `restore` for an 80×24 and a 200×60 screen full of coloured text, with a
//! few unacknowledged keystrokes, and for 80×24 with 10 000 lines of scrollback. Prints the blob
//! sizes, then criterion's timings.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use moshkit_core::session::{ClientConfig, ClientSession, HostSession};
use moshkit_core::{Config, Key, SplitMix64};

/// A client whose replica shows a full screen of `cols` × `rows` coloured text from a host.
fn session(cols: u16, rows: u16, history: usize) -> ClientSession {
    let key = Key::from_bytes([9; 16]);
    let server = "192.0.2.1:60001".parse().unwrap();
    let client_addr = "198.51.100.7:40000".parse().unwrap();
    let t = Instant::now();
    let mut client = ClientSession::new(
        &key,
        server,
        cols,
        rows,
        ClientConfig::default(),
        t,
        Box::new(SplitMix64::new(1)),
    )
    .unwrap();
    let mut host = HostSession::new(
        &key,
        cols,
        rows,
        Config::server(),
        t,
        Box::new(SplitMix64::new(2)),
    )
    .unwrap();
    let mut text = Vec::new();
    for r in 0..rows {
        text.extend_from_slice(format!("\x1b[{};1H\x1b[3{}m", r + 1, r % 8).as_bytes());
        for c in 0..cols.saturating_sub(1) {
            text.push(b'a' + ((r + c) % 26) as u8);
        }
    }
    let mut now = t;
    // `history` lines of scrollback first, 10 a round (1000 a second) (pushed with the screens).
    let history_rounds = history.div_ceil(10);
    for round in 0..200 + history_rounds {
        now += std::time::Duration::from_millis(10);
        if round >= 5 && round < 5 + history_rounds {
            let mut lines = String::new();
            for i in 0..10 {
                lines.push_str(&format!(
                    "\x1b[32m{:06}\x1b[0m some earlier output of a build, line by line\r\n",
                    (round - 5) * 10 + i
                ));
            }
            host.host_output(now, lines.as_bytes());
        }
        if round == 5 + history_rounds {
            host.host_output(now, &text);
        }
        client.handle_timeout(now);
        host.handle_timeout(now);
        while let Some(tx) = client.poll_transmit(now) {
            host.handle_datagram(now, client_addr, &tx.contents);
        }
        while let Some(tx) = host.poll_transmit(now) {
            client.handle_datagram(now, server, &tx.contents);
        }
        while client.poll_event().is_some() {}
        while host.poll_event().is_some() {}
        let _ = host.take_pty_input();
    }
    client.send_input(now, b"ls -l");
    client
}

fn bench(c: &mut Criterion) {
    for (cols, rows, history) in [(80u16, 24u16, 0), (200, 60, 0), (80, 24, 10_000)] {
        let s = session(cols, rows, history);
        let blob = s.save_state();
        let name = if history > 0 {
            let sb = s.scrollback();
            assert_eq!(sb.missing_in(sb.range()), 0, "every line pushed");
            format!("{cols}x{rows}+{}", sb.len())
        } else {
            format!("{cols}x{rows}")
        };
        println!("saved session {name}: {} bytes", blob.len());
        let (cols, rows) = (name.clone(), "");
        c.bench_function(&format!("save_state {cols}{rows}"), |b| {
            b.iter(|| black_box(s.save_state()))
        });
        c.bench_function(&format!("restore {cols}{rows}"), |b| {
            b.iter(|| {
                black_box(
                    ClientSession::restore(
                        &blob,
                        Instant::now(),
                        1_780_000_000_000_000,
                        Box::new(SplitMix64::new(3)),
                    )
                    .unwrap(),
                )
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
