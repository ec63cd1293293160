//! Scrollback figures (see docs/benchmarks.md):
//! 1. memory of 10 000 lines of 80 columns (measured with a counting allocator) for plain
//!    text, coloured shell output and double-width text;
//! 2. the host's output throughput with scrollback kept and with none (`seq` output);
//! 3. bytes on the wire during `seq 1 2000000` between a client and a host session in
//!    simulated time (50 ms round trip, 16 KiB written every millisecond as a fast pty would),
//!    with and without the client asking for scrollback.
//!
//! Prints the figures; no criterion timing (the throughput is a plain wall-clock measure).

#![allow(clippy::unwrap_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use moshkit_core::scrollback::Scrollback;
use moshkit_core::session::{ClientConfig, ClientSession, HostEvent, HostSession};
use moshkit_core::{Config, Key, SplitMix64};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout as asked.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A host session whose application printed `lines` lines from `line(i)`, and its scrollback's
/// allocated bytes (the ring alone: measured around moving it out).
fn memory_of(name: &str, line: impl Fn(usize) -> String) {
    let key = Key::from_bytes([1; 16]);
    let t = Instant::now();
    let mut host = HostSession::new(
        &key,
        80,
        24,
        Config::server(),
        t,
        Box::new(SplitMix64::new(1)),
    )
    .unwrap();
    let mut out = String::new();
    for i in 0..10_024 {
        out.push_str(&line(i));
        out.push_str("\r\n");
        if out.len() > 16 * 1024 {
            host.host_output(t, out.as_bytes());
            out.clear();
        }
    }
    host.host_output(t, out.as_bytes());
    let ring: Scrollback = host.scrollback().clone();
    let before = LIVE.load(Ordering::Relaxed);
    drop(ring);
    let freed = before - LIVE.load(Ordering::Relaxed);
    let sb = host.scrollback();
    println!(
        "memory {name:<28} {} lines: {:>9} bytes allocated ({:.1} per line; heap_bytes() {})",
        sb.len(),
        freed,
        freed as f64 / sb.len() as f64,
        sb.heap_bytes()
    );
}

fn throughput(lines: usize) -> f64 {
    let key = Key::from_bytes([1; 16]);
    let t = Instant::now();
    let mut host = HostSession::new(
        &key,
        80,
        24,
        Config::server(),
        t,
        Box::new(SplitMix64::new(1)),
    )
    .unwrap();
    host.set_scrollback_lines(t, lines);
    let mut data = Vec::new();
    for i in 1..=400_000 {
        data.extend_from_slice(format!("{i}\r\n").as_bytes());
    }
    let start = Instant::now();
    for chunk in data.chunks(16 * 1024) {
        host.host_output(t, chunk);
    }
    data.len() as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// When the output starts (both sides settled by then).
const START_MS: u64 = 2000;

/// Bytes on the wire (both directions) during `seq 1 n` in simulated time.
fn seq_bandwidth(n: u64, scrollback_lines: usize) -> (u64, u64, u64) {
    let key = Key::from_bytes([2; 16]);
    let base = Instant::now();
    let server = "192.0.2.1:60001".parse().unwrap();
    let client_addr = "198.51.100.7:40000".parse().unwrap();
    let config = ClientConfig {
        scrollback_lines,
        ..ClientConfig::default()
    };
    let mut client = ClientSession::new(
        &key,
        server,
        80,
        24,
        config,
        base,
        Box::new(SplitMix64::new(3)),
    )
    .unwrap();
    let mut host = HostSession::new(
        &key,
        80,
        24,
        Config::server(),
        base,
        Box::new(SplitMix64::new(4)),
    )
    .unwrap();
    // (arrival ms, sequence) -> (to host?, bytes)
    let mut flights: BTreeMap<(u64, u64), (bool, Vec<u8>)> = BTreeMap::new();
    let mut seq = 0u64;
    let (mut up, mut down) = (0u64, 0u64);
    let mut output = Vec::new();
    for i in 1..=n {
        output.extend_from_slice(format!("{i}\r\n").as_bytes());
    }
    output.extend_from_slice(b"DONE\r\n");
    let mut chunks = output.chunks(16 * 1024);
    let one_way = 25;
    let (mut contacted, mut started) = (false, false);
    let mut done_at = None;
    for ms in 0..600_000u64 {
        let now = base + Duration::from_millis(ms);
        while let Some((&(at, s), _)) = flights.iter().next() {
            if at > ms {
                break;
            }
            let (to_host, data) = flights.remove(&(at, s)).unwrap();
            if to_host {
                host.handle_datagram(now, client_addr, &data);
            } else {
                client.handle_datagram(now, server, &data);
            }
        }
        client.handle_timeout(now);
        host.handle_timeout(now);
        while host.poll_event().is_some_and(|e| {
            contacted |= e == HostEvent::FirstContact;
            true
        }) {}
        let _ = host.take_pty_input();
        // The output starts once the session is settled; only its bytes are counted.
        if contacted && ms >= START_MS && !started {
            started = true;
            (up, down) = (0, 0);
        }
        if started && done_at.is_none() {
            match chunks.next() {
                Some(c) => host.host_output(now, c),
                None => done_at = Some(ms),
            }
        }
        while client.poll_event().is_some() {}
        while let Some(tx) = client.poll_transmit(now) {
            up += tx.contents.len() as u64;
            seq += 1;
            flights.insert((ms + one_way, seq), (true, tx.contents));
        }
        while let Some(tx) = host.poll_transmit(now) {
            down += tx.contents.len() as u64;
            seq += 1;
            flights.insert((ms + one_way, seq), (false, tx.contents));
        }
        // Until the client shows the end of the output.
        if done_at.is_some_and(|d| ms > d + 200) {
            let fb = client.remote_screen();
            if (0..fb.height()).any(|r| fb.row_text(r).trim_end() == "DONE") {
                return (up, down, ms - START_MS);
            }
        }
    }
    panic!("seq {n} did not finish");
}

fn main() {
    memory_of("plain 80-column text", |i| {
        let s = format!("{i:08} ");
        s.repeat(9)[..80].to_owned()
    });
    memory_of("coloured `ls -l` lines", |i| {
        format!(
            "-rw-r--r-- 1 user staff {:>8} Dec  3 16:35 \x1b[01;34mfile-{i:05}.txt\x1b[0m notes",
            i * 37
        )
    });
    memory_of("40 double-width characters", |_| "\u{65e5}".repeat(40));
    for lines in [0, 10_000] {
        let mut best: f64 = 0.0;
        for _ in 0..3 {
            best = best.max(throughput(lines));
        }
        println!(
            "host output, `seq` lines, scrollback {lines:>6} lines: {best:.1} MB/s (best of 3)"
        );
    }
    let n = 2_000_000;
    let (u0, d0, t0) = seq_bandwidth(n, 0);
    let (u1, d1, t1) = seq_bandwidth(n, 10_000);
    println!("seq 1 {n}, no scrollback:   {u0} bytes up, {d0} down, shown after {t0} ms simulated");
    println!("seq 1 {n}, with scrollback: {u1} bytes up, {d1} down, shown after {t1} ms simulated");
    println!(
        "bandwidth with scrollback / without: {:.3}",
        (u1 + d1) as f64 / (u0 + d0) as f64
    );
}
