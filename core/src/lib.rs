//! # moshkit-core
//!
//! A sans-IO implementation of mosh 1.4 (protocol version 2): the encrypted datagram layer,
//! the state synchronisation protocol (SSP), the terminal emulator with its frame differ, and
//! the client's predictive local echo.
//!
//! Nothing in this crate opens a socket, starts a thread or reads the clock: callers feed bytes
//! and an [`std::time::Instant`] in and get datagrams, deadlines and screen changes out.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod connection;
pub mod crypto;
pub mod display;
#[cfg(feature = "driver")]
pub mod driver;
pub mod fragment;
pub mod keys;
pub mod overlay;
pub mod packet;
pub mod prediction;
pub mod state;
pub mod terminal;
pub mod transport;
pub mod wire;
