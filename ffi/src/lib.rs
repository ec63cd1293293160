//! # moshkit-ffi
//!
//! The foreign-language face of [`moshkit_core`]: a thin adapter with no protocol logic.
//!
//! * [`api`]: the uniffi API (Kotlin package `org.moshkit`, Swift module `MoshKit`), generated
//!   into `bindings/kotlin` and `bindings/swift` by `cargo xtask gen`.
//! * [`c_api`]: the C ABI (`moshkit_*` functions, status codes, thread-local last error),
//!   described by the cbindgen-generated `include/moshkit.h`.
//! * [`c_session`]: the session part of the C ABI (`moshkit_session_*`); [`c_screen`]: its
//!   screens (`moshkit_screen_*`); [`c_scrollback`]: its scrollback (`moshkit_scrollback_*`).
//! * [`error`]: [`MoshKitError`], the error of every call; [`attrs`]: the cell attribute bits
//!   of every surface; `cstr`: the C string and buffer helpers.
//! * [`logging`]: the log types ([`LogLevel`], [`LogSink`], the C callback) and the router: routes the `log` facade used by moshkit to the app's sink (logcat, os_log,
//!   a C callback); nothing is ever printed to stdout or stderr.
//! * [`handles`]: a generation-checked handle registry for the opaque objects (`MoshkitSession *`,
//!   `MoshkitScreen *`), so that use-after-free and double-free are detected, not UB.
//! * [`screen`], [`scrollback`]: the uniffi records of the screen and of the scrollback.
//! * [`session`]: the client session ([`session::MoshSession`]) and the one runtime thread
//!   (a tokio current-thread runtime on a dedicated thread, started on first connect) that
//!   drives all sessions.

pub mod api;
pub mod attrs;
pub mod c_api;
pub mod c_screen;
pub mod c_scrollback;
pub mod c_session;
mod cstr;
pub mod error;
pub mod handles;
pub mod logging;
pub mod screen;
pub mod scrollback;
pub mod session;

pub use api::*;
pub use error::MoshKitError;
pub use screen::*;
pub use scrollback::*;
pub use session::*;

uniffi::setup_scaffolding!("moshkit");

/// The MoshKit library version (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
