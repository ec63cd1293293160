//! A seeded soak in simulated time: a client and a MoshKit host through a day of faults (loss
//! bursts, reordering, duplication, roams, blackouts up to an hour, resizes, heavy output,
//! typing). After every fault the screens converge; the memory both sides hold stays bounded;
//! no nonce repeats; nothing panics.
//!
//! `SOAK_HOURS` sets the simulated time (default 2 h in the test suite; the 24 h run and its
//! figures are in docs/testing.md). `SOAK_SEED` picks another schedule.
#![allow(clippy::unwrap_used)]

mod support {
    pub mod netsim;
    pub mod session_sim;
}

use moshkit_core::fragment::MAX_BUFFERED_BYTES;
use moshkit_core::prediction::DisplayPreference;
use moshkit_core::scrollback::DEFAULT_SCROLLBACK_LINES;
use moshkit_core::transport::{RECEIVED_STATES_MAX, SENT_STATES_MAX, SplitMix64};
use support::netsim::Link;
use support::session_sim::SessionSim;

const MINUTE: u64 = 60_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Default)]
struct Peaks {
    client_queues: (usize, usize),
    host_queues: (usize, usize),
    fragment_bytes: usize,
    prediction: usize,
    scrollback: usize,
}

impl Peaks {
    fn sample(&mut self, sim: &SessionSim) {
        let c = sim.client.connection().queue_lengths();
        let h = sim.host.connection().queue_lengths();
        self.client_queues = (self.client_queues.0.max(c.0), self.client_queues.1.max(c.1));
        self.host_queues = (self.host_queues.0.max(h.0), self.host_queues.1.max(h.1));
        self.fragment_bytes = self
            .fragment_bytes
            .max(sim.client.connection().buffered_fragment_bytes())
            .max(sim.host.connection().buffered_fragment_bytes());
        self.prediction = self.prediction.max(sim.client.prediction_entries());
        self.scrollback = self
            .scrollback
            .max(sim.client.scrollback().len())
            .max(sim.host.scrollback().len());
    }
}

/// Runs until the client shows the host's screen (bounded); returns how long it took.
fn converge(sim: &mut SessionSim, what: &str, peaks: &mut Peaks) -> u64 {
    let start = sim.now;
    for _ in 0..600 {
        let host: Vec<String> = sim
            .host_screen()
            .iter()
            .map(|r| r.trim_end().to_owned())
            .collect();
        if sim.screen() == host {
            return sim.now - start;
        }
        sim.run_for(100);
        peaks.sample(sim);
    }
    panic!(
        "screens did not converge within 60 s after {what} at {} min:\nclient {:?}\nhost {:?}",
        sim.now / MINUTE,
        sim.screen(),
        sim.host_screen()
    );
}

#[test]
fn a_day_of_faults() {
    let hours = env_u64("SOAK_HOURS", 2);
    let seed = env_u64("SOAK_SEED", 24);
    let mut rng = SplitMix64::new(seed);
    let mut pick = move |n: u64| rng.next_u64() % n;
    let mut sim = SessionSim::new(seed, 120, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    let clean = Link::delay(60);
    let end = sim.now + hours * 60 * MINUTE;
    let mut peaks = Peaks::default();
    let mut faults = 0;
    let mut longest_converge = 0;
    let mut counts = [0u32; 8];
    while sim.now < end {
        let kind = pick(8);
        counts[kind as usize] += 1;
        faults += 1;
        let what = match kind {
            0 => {
                // A loss burst: 50–95 % for up to a minute.
                let link = Link {
                    loss: 0.5 + pick(46) as f64 / 100.0,
                    ..clean
                };
                (sim.c2s, sim.s2c) = (link, link);
                sim.type_bytes(b"echo burst\r");
                sim.run_for(1000 + pick(MINUTE));
                "a loss burst"
            }
            1 => {
                // Reordering and duplication.
                let link = Link {
                    jitter_ms: 20 + pick(80),
                    dup: 0.1,
                    ..clean
                };
                (sim.c2s, sim.s2c) = (link, link);
                for _ in 0..20 {
                    sim.type_bytes(b"x");
                    sim.run_for(150);
                }
                sim.type_bytes(&[0x7f; 20]);
                sim.run_for(5000);
                "reordering"
            }
            2 => {
                // The phone changes networks.
                let now = sim.t();
                sim.client.network_changed(now);
                sim.type_bytes(b"echo roamed\r");
                sim.run_for(2000);
                "a roam"
            }
            3 => {
                // A blackout of a second up to an hour, with output during it.
                let length = if pick(6) == 0 {
                    60 * MINUTE
                } else {
                    1000 + pick(5 * MINUTE)
                };
                sim.net.blackout = Some((sim.now, sim.now + length));
                let now = sim.t();
                sim.host.host_output(now, b"during the blackout\r\n");
                sim.run_for(length);
                sim.net.blackout = None;
                "a blackout"
            }
            4 => {
                let (cols, rows) = (40 + pick(120) as u16, 10 + pick(50) as u16);
                let now = sim.t();
                sim.client.resize(now, cols, rows);
                sim.run_for(2000);
                "a resize"
            }
            5 => {
                // Heavy output: up to 4 MB over a few seconds.
                let mut chunk = Vec::new();
                for i in 0..500 {
                    chunk.extend_from_slice(
                        format!(
                            "\x1b[3{}mheavy output line {i} {}\x1b[0m\r\n",
                            i % 8,
                            "=".repeat(40)
                        )
                        .as_bytes(),
                    );
                }
                for _ in 0..pick(100) {
                    let now = sim.t();
                    sim.host.host_output(now, &chunk);
                    sim.run_for(30);
                }
                "heavy output"
            }
            6 => {
                sim.type_bytes(b"echo typing a command\r");
                sim.run_for(3000);
                "typing"
            }
            _ => {
                // Quiet time.
                sim.run_for(pick(10 * MINUTE));
                "a quiet spell"
            }
        };
        (sim.c2s, sim.s2c) = (clean, clean);
        let took = converge(&mut sim, what, &mut peaks);
        longest_converge = longest_converge.max(took);
        peaks.sample(&sim);
        assert!(!sim.host_closed, "the host closed after {what}");
    }
    // Bounded memory on both sides.
    assert!(peaks.client_queues.0 <= SENT_STATES_MAX + 1, "{peaks:?}");
    assert!(peaks.host_queues.0 <= SENT_STATES_MAX + 1, "{peaks:?}");
    assert!(peaks.client_queues.1 <= RECEIVED_STATES_MAX, "{peaks:?}");
    assert!(peaks.host_queues.1 <= RECEIVED_STATES_MAX, "{peaks:?}");
    assert!(peaks.fragment_bytes <= MAX_BUFFERED_BYTES, "{peaks:?}");
    assert!(peaks.prediction < 10_000, "{peaks:?}");
    assert!(peaks.scrollback <= DEFAULT_SCROLLBACK_LINES, "{peaks:?}");
    // No nonce was used twice, by either side.
    let n = sim.client_seqs.len();
    for (side, seqs) in [("client", &sim.client_seqs), ("host", &sim.host_seqs)] {
        let mut seqs = seqs.clone();
        let len = seqs.len();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), len, "a {side} nonce repeated");
    }
    eprintln!(
        "soak: {hours} h simulated, {faults} faults {counts:?} (loss, reorder, roam, blackout, resize, heavy, typing, quiet), \
         slowest convergence {longest_converge} ms, peaks {peaks:?}, {n} client and {} host datagrams",
        sim.host_seqs.len()
    );
}
