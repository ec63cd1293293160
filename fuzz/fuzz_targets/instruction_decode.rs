//! Arbitrary bytes as a (decompressed) transport instruction and as the two diff message types.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moshkit_core::fragment::decompress;
use moshkit_core::wire::{HostMessage, TransportInstruction, UserMessage};
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    if let Ok(inst) = TransportInstruction::decode_bytes(data) {
        let _ = UserMessage::decode(inst.diff.as_deref().unwrap_or_default());
        let _ = HostMessage::decode(inst.diff.as_deref().unwrap_or_default());
    }
    if let Ok(bytes) = decompress(data) {
        let _ = TransportInstruction::decode_bytes(&bytes);
    }
});
