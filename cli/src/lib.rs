//! # moshkit-cli
//!
//! The logic behind MoshKit's desktop programs, kept in a library so it can be tested:
//! `moshkit-server` (drop-in for `mosh-server`), `moshkit-client` (drop-in for `mosh-client`)
//! and `moshkit` (the bootstrap wrapper, like upstream's `mosh` script).
//!
//! The protocol sessions come from `moshkit-core` ([`server::serve::run_host_session`],
//! [`client::session`]); `moshkit demo` ([`demo`]) runs both on loopback through the
//! impairment relay ([`relay`]).
#![warn(missing_docs)]

pub mod client;
pub mod demo;
pub mod getopt;
pub mod locale;
pub mod logger;
pub mod pty;
pub mod relay;
pub mod server;
pub mod signals;
pub mod wrapper;

/// The random source the sessions use for chaff and timing jitter: SplitMix64 seeded from the
/// operating system (the keys themselves come from `getrandom` directly).
pub fn session_random() -> Box<dyn moshkit_core::transport::RandomSource> {
    let mut seed = [0u8; 8];
    if getrandom::fill(&mut seed).is_err() {
        use std::hash::BuildHasher;
        let s = std::collections::hash_map::RandomState::new().hash_one(0x6d6f_7368_u64);
        seed = s.to_le_bytes();
    }
    Box::new(moshkit_core::transport::SplitMix64::new(
        u64::from_le_bytes(seed),
    ))
}
