//! Saving and restoring a client session in simulated time: the app is killed at random points
//! (idle, mid-output, mid-typing with unconfirmed predictions, during loss) and a new process
//! restores the saved blob; the screen converges to the host's, typed input reaches the host
//! application exactly once (keys typed after the last save are lost, never doubled), and no
//! nonce sequence number is ever used twice, also when the same blob is restored twice or an
//! older blob after a newer one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support {
    pub mod netsim;
    pub mod session_sim;
}

use std::collections::HashSet;

use moshkit_core::prediction::DisplayPreference;
use moshkit_core::session::{ClientSession, RestoreError};
use moshkit_core::{Key, SplitMix64};
use support::session_sim::SessionSim;

/// A wall clock for the simulation: some day in 2026, plus virtual time.
fn wall_us(sim: &SessionSim) -> u64 {
    1_780_000_000_000_000 + sim.now * 1000
}

fn converge(sim: &mut SessionSim, what: &str) {
    for _ in 0..200 {
        sim.run_for(50);
        let host = sim.host_screen();
        let client = sim.screen();
        if client
            .iter()
            .zip(&host)
            .all(|(c, h)| c.trim_end() == h.trim_end())
        {
            return;
        }
    }
    panic!(
        "{what}: client never showed the host screen\nclient {:?}\nhost   {:?}",
        sim.screen(),
        sim.host_screen()
    );
}

fn assert_unique(seqs: &[u64]) {
    let mut seen = HashSet::new();
    for &s in seqs {
        assert!(seen.insert(s), "sequence number {s} sent twice");
    }
}

#[test]
fn restore_resumes_the_session_exactly() {
    let mut sim = SessionSim::new(7, 100, 0.0, DisplayPreference::Always);
    sim.connect();
    sim.type_bytes(b"echo one\r");
    sim.run_for(500);
    let blob = sim.client.save_state();
    // The saved screen is shown at once by the new process, before any datagram.
    sim.kill_and_restore(&blob, wall_us(&sim), 1);
    let shown = sim.screen();
    assert!(shown.iter().any(|r| r == "$ echo one"), "{shown:?}");
    converge(&mut sim, "after restore");
    // The server follows the new address within one round trip of the restore.
    sim.run_for(150);
    assert!(sim.host.connection().remote_address() == Some(sim.client_addr));
    sim.type_bytes(b"echo two\r");
    converge(&mut sim, "typing after restore");
    assert_eq!(sim.shell.commands, vec!["echo one", "echo two"]);
    // The server follows the new address: its replies reach the new port.
    assert!(sim.host.connection().remote_address() == Some(sim.client_addr));
    assert_unique(&sim.client_seqs);
}

#[test]
fn settings_and_learning_survive() {
    let config = moshkit_core::session::ClientConfig {
        prediction: DisplayPreference::Experimental,
        predict_overwrite: true,
        escape_key_name: Some("Ctrl-^".into()),
        title_prefix: Some("[mosh] ".into()),
        ..Default::default()
    };
    let mut sim = SessionSim::with_config(3, 100, 0.0, config);
    sim.connect();
    sim.client.resize(sim.t(), 100, 30);
    sim.run_for(500);
    let blob = sim.client.save_state();
    let restored = ClientSession::restore(&blob, sim.t(), 1, Box::new(SplitMix64::new(1))).unwrap();
    // Saving the restored session gives the same settings, size, key and server back.
    let again = restored.save_state();
    let a = ClientSession::restore(&again, sim.t(), 2, Box::new(SplitMix64::new(2))).unwrap();
    assert_eq!(
        a.remote_screen().row_text(0),
        sim.client.remote_screen().row_text(0)
    );
    assert_eq!(a.save_state().len(), again.len());
    assert_eq!(
        a.connection().remote_address(),
        sim.client.connection().remote_address()
    );
}

#[test]
fn bad_blobs_are_typed_errors() {
    let mut sim = SessionSim::new(5, 50, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    let blob = sim.client.save_state();
    let restore = |b: &[u8]| ClientSession::restore(b, sim.t(), 1, Box::new(SplitMix64::new(1)));
    assert!(matches!(restore(&[]), Err(RestoreError::Truncated)));
    assert!(matches!(
        restore(&blob[..blob.len() / 2]),
        Err(RestoreError::Truncated)
    ));
    assert!(matches!(
        restore(b"not a saved session at all"),
        Err(RestoreError::Foreign)
    ));
    let mut corrupt = blob.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 1;
    assert!(matches!(restore(&corrupt), Err(RestoreError::Corrupt)));
    let mut newer = blob.clone();
    newer[4] = 0xff;
    assert!(matches!(
        restore(&newer),
        Err(RestoreError::NewerVersion { .. })
    ));
    // Every truncation and every single-bit flip is refused, never a panic.
    for cut in 0..blob.len() {
        assert!(restore(&blob[..cut]).is_err(), "cut {cut}");
    }
    for i in 0..blob.len() {
        let mut b = blob.clone();
        b[i] ^= 0x40;
        assert!(restore(&b).is_err(), "flip at {i}");
    }
    let _ = Key::from_bytes([0; 16]);
}

#[test]
fn many_kill_restore_cycles_never_reuse_a_nonce() {
    // 30 cycles: save at varied points, keep running a while (what happens after the save is
    // lost with the process), kill, restore; every fourth cycle restores a stale blob (an
    // older one, or the same one a second time).
    let mut sim = SessionSim::new(11, 120, 0.1, DisplayPreference::Adaptive);
    sim.connect();
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let mut expected = Vec::new();
    for cycle in 0..30u64 {
        let cmd = format!("echo c{cycle}");
        sim.type_bytes(format!("{cmd}\r").as_bytes());
        sim.run_for(700 + 37 * (cycle % 7));
        converge(&mut sim, &format!("cycle {cycle}"));
        expected.push(cmd);
        blobs.push(sim.client.save_state());
        // Work done after the save: output, datagrams; dies with the process.
        sim.run_for(100 + 53 * (cycle % 5));
        let blob = if cycle % 4 == 3 && blobs.len() >= 2 {
            blobs[blobs.len() - 2].clone()
        } else {
            blobs[blobs.len() - 1].clone()
        };
        sim.kill_and_restore(&blob, wall_us(&sim), 100 + cycle);
        // Typed keys wait until the restored session has settled (RESYNC_SETTLE_MS).
        sim.run_for(1300);
        if std::env::var_os("RESTORE_DEBUG").is_some() {
            eprintln!(
                "cycle {cycle}: stale {} host remote {:?} client {:?} contact {:?} host acked {:?}",
                cycle % 4 == 3,
                sim.host.connection().remote_address(),
                sim.client_addr,
                sim.client
                    .stats()
                    .last_contact
                    .map(|t| t.duration_since(sim.base)),
                sim.host.connection().progress().newest_acked,
            );
        }
    }
    converge(&mut sim, "end");
    assert_unique(&sim.client_seqs);
    assert!(sim.client_seqs.len() > 200, "{}", sim.client_seqs.len());
    // Every command reached the application exactly once.
    assert_eq!(sim.shell.commands, expected);
}

#[test]
fn keys_typed_around_the_save_arrive_once_or_not_at_all() {
    // Keys typed after the last save die with the process unless it sent them already: the
    // restored session never sends them a second time.
    for (seed, after_ms) in [(21u64, 0u64), (22, 1), (23, 60), (24, 200), (25, 900)] {
        let mut sim = SessionSim::new(seed, 100, 0.0, DisplayPreference::Always);
        sim.connect();
        let blob = sim.client.save_state();
        sim.type_bytes(b"echo x");
        sim.run_for(after_ms);
        sim.kill_and_restore(&blob, wall_us(&sim), seed);
        converge(&mut sim, "restored");
        sim.type_bytes(b"y\r");
        sim.run_for(1500);
        converge(&mut sim, "after enter");
        let last = sim.shell.commands.last().cloned().unwrap_or_default();
        assert!(
            last == "echo xy" || last == "y",
            "after {after_ms} ms: {:?}",
            sim.shell.commands
        );
        assert_unique(&sim.client_seqs);
    }
}

#[test]
fn restore_mid_typing_with_unconfirmed_predictions_and_loss() {
    // 500 ms round trip, 20 % loss: the save happens while typed characters are shown as
    // unconfirmed predictions and not yet acknowledged; they are in the blob and reach the
    // application exactly once.
    let mut sim = SessionSim::new(31, 500, 0.2, DisplayPreference::Always);
    sim.connect();
    // Warm up as a user would (the engine then shows guesses at once).
    sim.type_bytes(b"x");
    sim.run_for(1700);
    sim.type_bytes(b"\x7f");
    sim.run_for(1700);
    for b in b"echo pred" {
        sim.type_bytes(&[*b]);
        sim.run_for(20);
    }
    let predicted = sim.predicted_cells();
    assert!(
        !predicted.is_empty(),
        "predictions on screen: {:?}",
        sim.screen()
    );
    let blob = sim.client.save_state();
    sim.kill_and_restore(&blob, wall_us(&sim), 5);
    converge(&mut sim, "after restore");
    sim.type_bytes(b"\r");
    sim.run_for(3000);
    converge(&mut sim, "after enter");
    assert_eq!(sim.shell.commands, vec!["echo pred"]);
    assert_unique(&sim.client_seqs);
}

#[test]
fn a_stale_restore_asks_for_a_full_redraw_once() {
    let mut sim = SessionSim::new(41, 100, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    let old = sim.client.save_state();
    sim.type_bytes(b"echo newer\r");
    converge(&mut sim, "newer output");
    sim.run_for(1000); // the killed process acknowledged the newer screens
    // The killed process had acknowledged screens the old blob never had.
    sim.kill_and_restore(&old, wall_us(&sim), 9);
    sim.run_for(1500);
    converge(&mut sim, "stale restore");
    assert_eq!(sim.client.stats().full_redraws_requested, 1);
    assert!(
        sim.screen().iter().any(|r| r == "newer"),
        "{:?}",
        sim.screen()
    );
    // The app is told when input flows again, and that the killed process had sent input
    // after the save.
    let resumed = |sim: &SessionSim| {
        sim.client_events
            .iter()
            .filter_map(|(_, e)| match e {
                moshkit_core::session::ClientEvent::Resumed {
                    server_had_newer_input,
                } => Some(*server_had_newer_input),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(resumed(&sim), vec![true]);
    // And a fresh restore needs none.
    let fresh = sim.client.save_state();
    sim.kill_and_restore(&fresh, wall_us(&sim), 10);
    converge(&mut sim, "fresh restore");
    assert_eq!(sim.client.stats().full_redraws_requested, 0);
    sim.run_for(1500);
    assert_eq!(resumed(&sim), vec![true, false]);
    sim.type_bytes(b"echo last\r");
    sim.run_for(1500);
    converge(&mut sim, "typing");
    assert_eq!(sim.shell.commands, vec!["echo newer", "echo last"]);
}

#[test]
fn random_payloads_behind_a_valid_checksum_never_panic() {
    use moshkit_core::RandomSource;
    let mut sim = SessionSim::new(6, 50, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    let good = sim.client.save_state();
    let mut rng = SplitMix64::new(77);
    for i in 0..3000u32 {
        let mut len = [0u8; 2];
        rng.fill(&mut len);
        let mut payload = vec![0u8; usize::from(u16::from_le_bytes(len) % 600)];
        rng.fill(&mut payload);
        if i % 3 == 0 {
            // Mutations of a real payload reach deeper.
            payload = good[10..good.len() - 4].to_vec();
            for _ in 0..1 + i % 4 {
                let mut pos = [0u8; 2];
                rng.fill(&mut pos);
                let p = usize::from(u16::from_le_bytes(pos)) % payload.len();
                payload[p] ^= 1 << (i % 8);
            }
        }
        let blob = moshkit_core::session::frame_raw_payload(&payload);
        if let Ok(mut s) = ClientSession::restore(&blob, sim.t(), 1, Box::new(SplitMix64::new(1))) {
            while s.poll_event().is_some() {}
            let _ = s.poll_transmit(sim.t());
            let _ = s.save_state();
        }
    }
}

#[test]
fn a_paused_session_sends_nothing_for_an_hour_then_at_once() {
    let mut sim = SessionSim::new(51, 200, 0.0, DisplayPreference::Adaptive);
    sim.connect();
    sim.type_bytes(b"echo before\r");
    sim.run_for(2000);
    sim.client.pause();
    let blob = sim.client.save_state(); // what an app does on pause
    let sent = sim.client_seqs.len();
    sim.host
        .host_output(sim.t(), b"output while backgrounded\r\n");
    sim.run_for(3_600_000);
    assert_eq!(sim.client_seqs.len(), sent, "datagrams sent while paused");
    assert!(sim.client.poll_timeout(sim.t()).is_none());
    // Back in the foreground on another network (a new port): the first datagram leaves at
    // once and the server follows within one round trip.
    sim.client.resume(sim.t());
    let t0 = sim.now;
    sim.run_for(1);
    assert!(sim.client_seqs.len() > sent, "nothing sent on resume");
    let new_addr = sim.client_addr;
    sim.run_for(250);
    assert_eq!(sim.host.connection().remote_address(), Some(new_addr));
    assert!(sim.now - t0 <= 251);
    converge(&mut sim, "after resume");
    assert!(
        sim.screen()
            .iter()
            .any(|r| r.contains("output while backgrounded"))
    );
    // And the blob saved on pause restores after an hour too.
    sim.kill_and_restore(&blob, wall_us(&sim), 52);
    sim.run_for(1500);
    converge(&mut sim, "restored after an hour");
    assert_unique(&sim.client_seqs);
}

#[test]
fn save_in_the_middle_of_output() {
    // The host prints a long burst in chunks; the save happens half-way, the kill a little
    // later, more output follows while no client runs: the restored screen converges.
    let mut sim = SessionSim::new(61, 150, 0.05, DisplayPreference::Adaptive);
    sim.connect();
    let mut blob = Vec::new();
    for i in 0..40 {
        sim.host
            .host_output(sim.t(), format!("line {i} of the burst\r\n").as_bytes());
        sim.run_for(15);
        if i == 20 {
            blob = sim.client.save_state();
        }
    }
    sim.kill_and_restore(&blob, wall_us(&sim), 62);
    for i in 40..60 {
        sim.host
            .host_output(sim.t(), format!("line {i} of the burst\r\n").as_bytes());
        sim.run_for(15);
    }
    sim.run_for(1500);
    converge(&mut sim, "after a save mid-output");
    assert!(sim.screen().iter().any(|r| r == "line 59 of the burst"));
    sim.type_bytes(b"echo done\r");
    sim.run_for(1500);
    converge(&mut sim, "typing");
    assert_eq!(sim.shell.commands, vec!["echo done"]);
    assert_unique(&sim.client_seqs);
}
