//! Recovery after an outage, in simulated time: the host prints a counter every second, the
//! network is black for 20 s (the counter goes on), and once the first datagram gets through
//! again the client must show the host's screen within one round trip plus one send interval
//! (issue: hardening, point 4).
#![allow(clippy::unwrap_used)]

mod support {
    pub mod netsim;
    pub mod session_sim;
}

use moshkit_core::prediction::DisplayPreference;
use moshkit_core::transport::SEND_INTERVAL_MAX_MS;
use support::session_sim::SessionSim;

/// (ms from the first datagram through after the outage until the screens agree, ms from
/// the end of the outage until that first datagram arrived).
fn recovery(seed: u64, rtt: u64, outage_ms: u64, print_phase: u64) -> (u64, u64) {
    let mut sim = SessionSim::new(seed, rtt, 0.0, DisplayPreference::Never);
    sim.connect();
    let mut counter = 0;
    let next_print = |t: u64| t + 1000;
    let mut printed_at = sim.now + print_phase;
    let (from, to) = (sim.now + 3_000, sim.now + 3_000 + outage_ms);
    sim.net.blackout = Some((from, to));
    sim.net.watch_from = Some(to);
    while sim.now < to + 20_000 {
        if sim.now >= printed_at {
            printed_at = next_print(printed_at);
            counter += 1;
            let now = sim.t();
            sim.host
                .host_output(now, format!("count {counter}\r\n").as_bytes());
        }
        sim.run_for(1);
        if let Some(first) = sim.net.first_through.filter(|&f| sim.now >= f) {
            let host: Vec<String> = sim
                .host_screen()
                .iter()
                .map(|r| r.trim_end().to_owned())
                .collect();
            if sim.screen() == host && host.iter().any(|r| *r == format!("count {counter}")) {
                return (sim.now - first, first - to);
            }
        }
    }
    panic!("no recovery after {outage_ms} ms outage (rtt {rtt})");
}

#[test]
fn catch_up_within_one_round_trip_and_one_send_interval() {
    for rtt in [50, 200, 500] {
        for (seed, phase) in [(1, 0), (2, 300), (3, 700), (4, 990)] {
            let (took, first) = recovery(seed, rtt, 20_000, phase);
            eprintln!(
                "rtt {rtt} phase {phase}: first datagram {first} ms after the outage, caught up {took} ms later"
            );
            assert!(
                took <= rtt + SEND_INTERVAL_MAX_MS,
                "rtt {rtt}, phase {phase}: {took} ms after the first datagram got through"
            );
        }
    }
}
