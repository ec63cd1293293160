//! # moshkit-cli
//!
//! The logic behind MoshKit's desktop programs, kept in a library so it can be tested:
//! `moshkit-server` (drop-in for `mosh-server`), `moshkit-client` (drop-in for `mosh-client`)
//! and `moshkit` (the bootstrap wrapper, like upstream's `mosh` script).
//!
//! The protocol sessions themselves are integration points (see `docs/cli.md`):
//! [`server::serve::HostSession`] and [`client::session`].
#![warn(missing_docs)]

pub mod client;
pub mod getopt;
pub mod locale;
pub mod logger;
pub mod pty;
pub mod server;
pub mod signals;
pub mod wrapper;
