//! Arbitrary bytes as a received datagram: open (authenticate + decrypt) and parse must answer
//! with a typed error, never panic. The first 16 bytes choose the key so that, with a corpus
//! seeded from real datagrams, authentic inputs reach the fragment and instruction decoders too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moshkit_core::crypto::{Direction, Key};
use moshkit_core::fragment::{Fragment, FragmentAssembly};
use moshkit_core::packet::PacketCodec;

fuzz_target!(|data: &[u8]| {
    let Some((key, datagram)) = data.split_first_chunk::<16>() else {
        return;
    };
    let mut codec = PacketCodec::new(&Key::from_bytes(*key), Direction::ToClient);
    if let Ok(received) = codec.open(0, datagram, false) {
        if let Ok(fragment) = Fragment::decode(&received.payload) {
            let _ = FragmentAssembly::new().add(fragment);
        }
    }
});
