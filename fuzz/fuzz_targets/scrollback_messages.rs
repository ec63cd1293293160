//! Arbitrary bytes as the scrollback a server sends: split at 0xF7 bytes into host diffs
//! (each also wrapped as a lone scrollback instruction), applied one after the other to the
//! client's copy of the host state and taken by its scrollback, which asks for lines, reads
//! them back and is saved and rebuilt. Must never panic or grow beyond its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moshkit_core::wire::{HostInstruction, HostMessage, ScrollbackUpdate};
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    let mut diffs: Vec<Vec<u8>> = Vec::new();
    for part in data.split(|&b| b == 0xF7) {
        diffs.push(part.to_vec());
        // The same bytes as a scrollback update reach the line decoder even when they are not
        // a whole host message.
        if let Ok(update) = ScrollbackUpdate::decode(part) {
            diffs.push(
                HostMessage {
                    instruction: vec![HostInstruction {
                        scrollback: Some(update),
                        ..Default::default()
                    }],
                }
                .encode_to_vec(),
            );
        }
    }
    let views: Vec<&[u8]> = diffs.iter().map(Vec::as_slice).collect();
    let _ = moshkit_core::scrollback::fuzz_client_diffs(&views);
});
