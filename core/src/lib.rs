//! # moshkit-core
//!
//! A sans-IO implementation of mosh 1.4 (protocol version 2): the encrypted datagram layer,
//! the state synchronisation protocol (SSP), the terminal emulator with its frame differ, and
//! the client's predictive local echo.
//!
//! Nothing in this crate opens a socket, starts a thread or reads the clock: callers feed bytes
//! and an [`std::time::Instant`] in and get datagrams, deadlines and screen changes out.
//!
//! Citations like `§6.3` in this crate's documentation and comments refer to the sections of
//! `docs/protocol.md` (MoshKit's description of mosh 1.4's wire protocol and behaviour).
#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

// The embedder's API.
pub mod connection;
pub mod crypto;
pub mod display;
#[cfg(feature = "driver")]
pub mod driver;
pub mod keys;
pub mod overlay;
pub mod prediction;
pub mod scrollback;
pub mod session;
pub mod terminal;

/// The protocol's inner layers (datagrams, fragments, protobuf messages, synchronised states,
/// the SSP sender/receiver): private to the crate, reached through [`connection`] and
/// [`session`]. The feature `internals` makes them public for the project's own tests,
/// benchmarks and fuzz targets; they are not a stable API.
macro_rules! internal_modules {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[cfg(feature = "internals")]
        pub mod $name;
        $(#[$doc])*
        #[cfg(not(feature = "internals"))]
        #[allow(unreachable_pub, dead_code)]
        mod $name;
    )*};
}

internal_modules! {
    fragment;
    packet;
    state;
    transport;
    wire;
}

pub use connection::{CloseReason, Config, Connection, Side, Transmit};
pub use crypto::{Key, KeyError};
pub use session::{ClientConfig, ClientEvent, ClientSession, HostEvent, HostSession};
pub use transport::{RandomSource, SplitMix64};
