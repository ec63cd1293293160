//! Arbitrary bytes as a saved client session: restoring must answer with a typed error or a
//! working session, never panic. With an odd first byte the rest is framed with a valid header
//! and checksum first, so the payload decoder and the state rebuild are reached too; a session
//! that does restore is driven once (poll, save again).
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use moshkit_core::SplitMix64;
use moshkit_core::session::{ClientSession, frame_raw_payload};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let blob = if mode % 2 == 1 {
        frame_raw_payload(rest)
    } else {
        rest.to_vec()
    };
    let now = Instant::now();
    if let Ok(mut session) =
        ClientSession::restore(&blob, now, 1_780_000_000_000_000, Box::new(SplitMix64::new(1)))
    {
        while session.poll_event().is_some() {}
        let _ = session.poll_transmit(now);
        let _ = session.snapshot(now);
        let _ = session.save_state();
    }
});
