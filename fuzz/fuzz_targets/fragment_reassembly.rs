//! A stream of fragments (length-prefixed chunks of the input) fed to one assembly: no panic,
//! and memory stays within the documented bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moshkit_core::fragment::{Fragment, FragmentAssembly, MAX_ASSEMBLIES, MAX_BUFFERED_BYTES};

fuzz_target!(|data: &[u8]| {
    let mut assembly = FragmentAssembly::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (chunk, tail) = tail.split_at(take);
        rest = tail;
        if let Ok(fragment) = Fragment::decode(chunk) {
            let _ = assembly.add(fragment);
        }
        assert!(assembly.in_progress() <= MAX_ASSEMBLIES);
        assert!(assembly.buffered_bytes() <= MAX_ASSEMBLIES * MAX_BUFFERED_BYTES);
    }
});
