//! # moshkit-ffi
//!
//! The foreign-language face of [`moshkit_core`]: a thin adapter with no protocol logic.
//!
//! * [`api`]: the uniffi API (Kotlin package `org.moshkit`, Swift module `MoshKit`), generated
//!   into `bindings/kotlin` and `bindings/swift` by `cargo xtask gen`.
//! * [`c_api`]: the C ABI (`moshkit_*` functions, status codes, thread-local last error),
//!   described by the cbindgen-generated `include/moshkit.h`.
//! * [`logging`]: routes the `log` facade used by moshkit to the app's sink (logcat, os_log,
//!   a C callback); nothing is ever printed to stdout or stderr.
//! * [`handles`]: a generation-checked handle registry for the opaque objects (the coming
//!   `MoshkitSession *`), so that use-after-free and double-free are detected, not UB.
//!
//! The session object (connect, input, resize, screen changes) is not part of this crate yet:
//! it arrives with moshkit-core's client session.

pub mod api;
pub mod c_api;
pub mod handles;
pub mod logging;

pub use api::*;

uniffi::setup_scaffolding!("moshkit");

/// The MoshKit library version (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
