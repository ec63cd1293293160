//! Sessions: the sans-IO compositions an application embeds.
//!
//! - [`ClientSession`]: the SSP connection, a replica of the server's terminal, predictive
//!   local echo and the notification bar, handing a UI exactly what changed on screen.
//! - [`HostSession`]: the application's terminal served over SSP, with echo acknowledgement.

mod client;
mod host;
mod host_state;
mod saved;
mod screen;

pub use client::{
    ClientConfig, ClientEvent, ClientSession, ClientStats, ConnectionState,
    DEFAULT_SCROLLBACK_PREFETCH, PASTE_END, PASTE_START, ScreenUpdate,
};
pub use host::{ECHO_TIMEOUT, HostEvent, HostSession, PTY_READ_SIZE};
pub use host_state::HostState;
#[cfg(feature = "internals")]
pub use saved::frame_raw_payload;
pub use saved::{RestoreError, SAVED_SESSION_MAGIC, SAVED_SESSION_VERSION};
#[cfg(test)]
pub(crate) use screen::screen_cells_of_row;
pub use screen::{CursorState, ScreenCell, ScreenRow};
