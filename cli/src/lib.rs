//! # moshkit-cli
//!
//! The logic behind MoshKit's desktop programs, kept in a library so it can be tested:
//! `moshkit-server` (drop-in for `mosh-server`), `moshkit-client` (drop-in for `mosh-client`)
//! and `moshkit` (the bootstrap wrapper, like upstream's `mosh` script).
//!
//! The protocol sessions come from `moshkit-core` ([`server::serve::run_host_session`],
//! [`client::session`]); `moshkit demo` ([`demo`]) runs both on loopback through the
//! impairment relay ([`relay`]). Every program runs on the one I/O driver,
//! [`moshkit_core::driver::Driver`] (sockets, timers, roaming, send errors); what is here is
//! only what is each program's own: the terminal, the pty, signals and arguments.
#![warn(missing_docs)]

pub mod client;
pub mod demo;
pub mod getopt;
pub mod locale;
pub mod logger;
pub mod pty;
pub mod readiness;
pub mod relay;
pub mod server;
pub mod signals;
pub mod wrapper;
