//! The C ABI of the client session: an opaque `MoshkitSession *` and `MoshkitScreen *`, both
//! generation-checked handles from [`crate::handles`] (a freed or foreign pointer is answered
//! with `MOSHKIT_STATUS_INVALID_HANDLE`, a second free too). Same conventions as [`crate::c_api`].

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use crate::api::{MoshKitError, PredictionMode};
use crate::c_api::{
    CError, MoshkitPredictionMode, MoshkitStatus, call, null_error, str_arg, write_out, write_sized,
};
use crate::c_screen::{CScreen, MoshkitScreen, SCREENS};
use crate::cstr::c_string_lossy;
use crate::handles::HandleRegistry;
use crate::screen::ScreenUpdate;
use crate::session::{CloseReason, ConnectionState, MoshSession, SessionListener};

/// A mosh client session (opaque). Created by `moshkit_session_connect`, released by
/// `moshkit_session_free`; every function may be called from any thread.
#[derive(Debug)]
pub struct MoshkitSession(());

static SESSIONS: HandleRegistry<MoshSession> = HandleRegistry::new();

/// The link as a UI should present it.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoshkitConnectionState {
    /// Nothing heard from the server yet.
    Connecting = 0,
    /// The server answers.
    Connected = 1,
    /// The server has been silent long enough to tell the user.
    Silent = 2,
    /// Our shutdown is in progress.
    Closing = 3,
    /// The session is over.
    Closed = 4,
}

/// Why a session ended.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoshkitCloseReason {
    /// Not closed (the state is not MOSHKIT_CONNECTION_STATE_CLOSED).
    None = 0,
    /// We closed the session and the server acknowledged it.
    ShutdownAcknowledged = 1,
    /// We closed the session; the server did not acknowledge in time.
    ShutdownUnacknowledged = 2,
    /// The server ended the session (e.g. the remote shell exited).
    PeerShutdown = 3,
    /// The server was silent for too long.
    TimedOut = 4,
    /// The session key's safe volume is used up.
    KeyExhausted = 5,
    /// No UDP socket could be opened on this device.
    SocketError = 6,
}

impl From<CloseReason> for MoshkitCloseReason {
    fn from(r: CloseReason) -> Self {
        match r {
            CloseReason::ShutdownAcknowledged => MoshkitCloseReason::ShutdownAcknowledged,
            CloseReason::ShutdownUnacknowledged => MoshkitCloseReason::ShutdownUnacknowledged,
            CloseReason::PeerShutdown => MoshkitCloseReason::PeerShutdown,
            CloseReason::TimedOut => MoshkitCloseReason::TimedOut,
            CloseReason::KeyExhausted => MoshkitCloseReason::KeyExhausted,
            CloseReason::SocketError => MoshkitCloseReason::SocketError,
        }
    }
}

fn state_to_c(s: ConnectionState) -> (MoshkitConnectionState, MoshkitCloseReason, u64) {
    match s {
        ConnectionState::Connecting => (
            MoshkitConnectionState::Connecting,
            MoshkitCloseReason::None,
            0,
        ),
        ConnectionState::Connected => (
            MoshkitConnectionState::Connected,
            MoshkitCloseReason::None,
            0,
        ),
        ConnectionState::Silent { silent_ms } => (
            MoshkitConnectionState::Silent,
            MoshkitCloseReason::None,
            silent_ms,
        ),
        ConnectionState::Closing => (MoshkitConnectionState::Closing, MoshkitCloseReason::None, 0),
        ConnectionState::Closed { reason } => (MoshkitConnectionState::Closed, reason.into(), 0),
    }
}

/// Event callbacks of a session. Every member may be NULL. They are called on MoshKit's runtime
/// thread (one thread for all sessions) with `context` passed back unchanged: return quickly,
/// do not unwind (C++ exceptions, longjmp), and hop to the UI thread to draw. Calling
/// `moshkit_session_*` functions from a callback is allowed (e.g. pulling the screen), except
/// `moshkit_session_free` of the same session. String arguments are valid only during the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MoshkitCallbacks {
    /// Set to `sizeof(MoshkitCallbacks)`. Lets later versions of the library add callbacks: a
    /// smaller struct from an app built against an older header has the newer callbacks unset.
    pub struct_size: usize,
    /// Passed to every callback.
    pub context: *mut c_void,
    /// The screen changed: call `moshkit_session_pull_changes`. Coalesced: at most one call is
    /// pending until the app pulls.
    pub on_screen_changed: Option<unsafe extern "C" fn(context: *mut c_void)>,
    /// The connection state changed (`silent_ms`: how long the server has been silent, for
    /// MOSHKIT_CONNECTION_STATE_SILENT).
    pub on_connection_state: Option<
        unsafe extern "C" fn(context: *mut c_void, state: MoshkitConnectionState, silent_ms: u64),
    >,
    /// The remote application rang the bell.
    pub on_bell: Option<unsafe extern "C" fn(context: *mut c_void)>,
    /// The window title changed.
    pub on_title: Option<unsafe extern "C" fn(context: *mut c_void, title: *const c_char)>,
    /// The remote application wrote to the clipboard (OSC 52).
    pub on_clipboard: Option<unsafe extern "C" fn(context: *mut c_void, text: *const c_char)>,
    /// The session is over; no more callbacks follow.
    pub on_closed: Option<unsafe extern "C" fn(context: *mut c_void, reason: MoshkitCloseReason)>,
    /// A session from `moshkit_session_restore` is in step with the server again: typed input
    /// is sent from now on. `server_had_newer_input`: the killed process had sent input after
    /// the state was saved; keys typed after the save that are not on the screen were lost.
    /// (Added after the first version: older apps' structs end before it.)
    pub on_resumed:
        Option<unsafe extern "C" fn(context: *mut c_void, server_had_newer_input: bool)>,
    /// Scrollback lines arrived or were dropped: the scrollback now holds lines `first..end`
    /// (read them with `moshkit_session_scrollback_lines`). (Added after `on_resumed`: older
    /// apps' structs end before it.)
    pub on_scrollback_changed:
        Option<unsafe extern "C" fn(context: *mut c_void, first: u64, end: u64)>,
    /// A `moshkit_session_request_scrollback(from, to)` completed: every line of `from..to`
    /// that the server still had is here now. (Added with `on_scrollback_changed`.)
    pub on_scrollback_fetched:
        Option<unsafe extern "C" fn(context: *mut c_void, from: u64, to: u64)>,
}

/// The first version of [`MoshkitCallbacks`] ends after `on_closed`.
const CALLBACKS_V1_SIZE: usize =
    std::mem::offset_of!(MoshkitCallbacks, on_closed) + std::mem::size_of::<usize>();

/// Read the app's callbacks (NULL: none), honouring `struct_size`.
fn read_callbacks(callbacks: *const MoshkitCallbacks) -> Result<MoshkitCallbacks, CError> {
    let mut out = MoshkitCallbacks {
        struct_size: std::mem::size_of::<MoshkitCallbacks>(),
        context: std::ptr::null_mut(),
        on_screen_changed: None,
        on_connection_state: None,
        on_bell: None,
        on_title: None,
        on_clipboard: None,
        on_closed: None,
        on_resumed: None,
        on_scrollback_changed: None,
        on_scrollback_fetched: None,
    };
    if callbacks.is_null() {
        return Ok(out);
    }
    // SAFETY: non-null and, per the caller contract, valid for reading at least `struct_size`.
    let size = unsafe { std::ptr::addr_of!((*callbacks).struct_size).read() };
    if size < CALLBACKS_V1_SIZE {
        return Err(CError::new(
            MoshkitStatus::InvalidArgument,
            format!("MoshkitCallbacks.struct_size is {size}; set it to sizeof(MoshkitCallbacks)"),
        ));
    }
    let n = size.min(std::mem::size_of::<MoshkitCallbacks>());
    // SAFETY: copies the first `n` bytes of the app's struct (readable per the caller contract)
    // over ours, which is at least `n` bytes; those bytes hold the fields the app's header
    // declared, which it set to NULL or valid functions as documented. Fields beyond `n` keep
    // their NULL defaults.
    unsafe {
        std::ptr::copy_nonoverlapping(
            callbacks.cast::<u8>(),
            std::ptr::addr_of_mut!(out).cast::<u8>(),
            n,
        );
    }
    Ok(out)
}

struct CListener(MoshkitCallbacks);

// SAFETY: the caller of moshkit_session_connect promises (documented there) that the callbacks
// and `context` may be used from MoshKit's runtime thread until on_closed or the session's
// free; MoshKit itself only passes `context` back.
unsafe impl Send for CListener {}
// SAFETY: as above; MoshKit calls the callbacks from one thread at a time.
unsafe impl Sync for CListener {}

impl SessionListener for CListener {
    fn on_screen_changed(&self) {
        if let Some(f) = self.0.on_screen_changed {
            // SAFETY: a callback supplied for this purpose, with its own context.
            unsafe { f(self.0.context) };
        }
    }
    fn on_connection_state(&self, state: ConnectionState) {
        if let Some(f) = self.0.on_connection_state {
            let (state, _, silent_ms) = state_to_c(state);
            // SAFETY: as above.
            unsafe { f(self.0.context, state, silent_ms) };
        }
    }
    fn on_bell(&self) {
        if let Some(f) = self.0.on_bell {
            // SAFETY: as above.
            unsafe { f(self.0.context) };
        }
    }
    fn on_title(&self, title: String) {
        if let Some(f) = self.0.on_title {
            let title = c_string_lossy(title);
            // SAFETY: as above; the string lives until the call returns.
            unsafe { f(self.0.context, title.as_ptr()) };
        }
    }
    fn on_clipboard(&self, text: String) {
        if let Some(f) = self.0.on_clipboard {
            let text = c_string_lossy(text);
            // SAFETY: as above; the string lives until the call returns.
            unsafe { f(self.0.context, text.as_ptr()) };
        }
    }
    fn on_resumed(&self, server_had_newer_input: bool) {
        if let Some(f) = self.0.on_resumed {
            // SAFETY: as above.
            unsafe { f(self.0.context, server_had_newer_input) };
        }
    }
    fn on_scrollback_changed(&self, first: u64, end: u64) {
        if let Some(f) = self.0.on_scrollback_changed {
            // SAFETY: as above.
            unsafe { f(self.0.context, first, end) };
        }
    }
    fn on_scrollback_fetched(&self, from: u64, to: u64) {
        if let Some(f) = self.0.on_scrollback_fetched {
            // SAFETY: as above.
            unsafe { f(self.0.context, from, to) };
        }
    }
    fn on_closed(&self, reason: CloseReason) {
        if let Some(f) = self.0.on_closed {
            // SAFETY: as above.
            unsafe { f(self.0.context, reason.into()) };
        }
    }
}

/// Traffic and link figures of a session.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoshkitStats {
    /// Smoothed round-trip time in milliseconds.
    pub srtt_ms: f64,
    /// Milliseconds since the server was last heard, or UINT64_MAX if it never was.
    pub last_contact_ms: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received.
    pub bytes_received: u64,
    /// Datagrams dropped as unauthentic or malformed.
    pub datagrams_dropped: u64,
}

pub(crate) fn session(s: *const MoshkitSession) -> Result<Arc<MoshSession>, CError> {
    SESSIONS.get_ptr(s).map_err(CError::from)
}

/// Settings of a new session beyond those `moshkit_session_connect` takes, for
/// `moshkit_session_connect_with_options`. Fields may be added at the end in later versions.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoshkitSessionOptions {
    /// Set to `sizeof(MoshkitSessionOptions)` (a smaller struct from an app built against an
    /// older header has the newer fields at their defaults).
    pub struct_size: usize,
    /// Lines of scrollback kept (MOSHKIT_DEFAULT_SCROLLBACK_LINES, 10 000, by default; 0 turns
    /// scrollback off; at most 1 000 000).
    pub scrollback_lines: u32,
}

/// The first version of [`MoshkitSessionOptions`] ends after `scrollback_lines`.
const OPTIONS_V1_SIZE: usize =
    std::mem::offset_of!(MoshkitSessionOptions, scrollback_lines) + std::mem::size_of::<u32>();

/// Read the app's options (NULL: the defaults), honouring `struct_size`.
fn read_options(options: *const MoshkitSessionOptions) -> Result<MoshkitSessionOptions, CError> {
    let defaults = MoshkitSessionOptions {
        struct_size: std::mem::size_of::<MoshkitSessionOptions>(),
        scrollback_lines: crate::c_scrollback::MOSHKIT_DEFAULT_SCROLLBACK_LINES,
    };
    if options.is_null() {
        return Ok(defaults);
    }
    // SAFETY: non-null and, per the caller contract, valid for reading at least `struct_size`.
    let size = unsafe { std::ptr::addr_of!((*options).struct_size).read() };
    if size < OPTIONS_V1_SIZE {
        return Err(CError::new(
            MoshkitStatus::InvalidArgument,
            format!(
                "MoshkitSessionOptions.struct_size is {size}; set it to sizeof(MoshkitSessionOptions)"
            ),
        ));
    }
    // SAFETY: every field of the first version lies within `struct_size` bytes (checked
    // above), readable per the caller contract.
    let scrollback_lines = unsafe { std::ptr::addr_of!((*options).scrollback_lines).read() };
    Ok(MoshkitSessionOptions {
        scrollback_lines,
        ..defaults
    })
}

/// Starts a session with the mosh-server that printed `MOSH CONNECT <port> <key>`, and writes
/// it to `*out`. Returns at once; the callbacks report the connection. The same as
/// `moshkit_session_connect_with_options` with NULL options (the defaults).
///
/// `host`: the server's IPv4/IPv6 address (e.g. the SSH connection's peer; "[...]" allowed) or
/// a host name, resolved here with the system resolver (this blocks for up to 5 s: pass an
/// address to never block). `prediction` is a MoshkitPredictionMode. `callbacks` may be NULL
/// (poll instead); it is copied.
///
/// Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_UTF8, _INVALID_KEY, _INVALID_ADDRESS
/// (bad host or port 0), _RESOLVE_FAILED, _INVALID_SIZE (cols or rows 0), _INVALID_ARGUMENT
/// (prediction), _RUNTIME_UNAVAILABLE. `*out` is written only on success.
///
/// # Safety
/// `host` and `key` are NULL or NUL-terminated strings; `out` is NULL or valid for writing;
/// `callbacks` is NULL or points to a MoshkitCallbacks whose functions may be called with its
/// `context` from another thread until `on_closed` was called or `moshkit_session_free`
/// returned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_connect(
    host: *const c_char,
    port: u16,
    key: *const c_char,
    cols: u16,
    rows: u16,
    prediction: u32,
    callbacks: *const MoshkitCallbacks,
    out: *mut *mut MoshkitSession,
) -> MoshkitStatus {
    // SAFETY: forwarded caller contract; NULL options are the defaults.
    unsafe {
        moshkit_session_connect_with_options(
            host,
            port,
            key,
            cols,
            rows,
            prediction,
            callbacks,
            std::ptr::null(),
            out,
        )
    }
}

/// `moshkit_session_connect` with more settings: `options` is NULL (the defaults) or points to
/// a MoshkitSessionOptions whose `struct_size` is set; it is copied. Returns what
/// `moshkit_session_connect` returns, and MOSHKIT_STATUS_INVALID_ARGUMENT for an options
/// `struct_size` that is too small.
///
/// # Safety
/// As for `moshkit_session_connect`; `options` is NULL or valid for reading `struct_size`
/// bytes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the C signature
pub unsafe extern "C" fn moshkit_session_connect_with_options(
    host: *const c_char,
    port: u16,
    key: *const c_char,
    cols: u16,
    rows: u16,
    prediction: u32,
    callbacks: *const MoshkitCallbacks,
    options: *const MoshkitSessionOptions,
    out: *mut *mut MoshkitSession,
) -> MoshkitStatus {
    call(|| {
        // SAFETY: forwarded caller contract.
        let host = unsafe { str_arg(host, "host") }?;
        // SAFETY: forwarded caller contract.
        let key = unsafe { str_arg(key, "key") }?;
        if out.is_null() {
            return Err(null_error("out"));
        }
        let prediction = PredictionMode::from(MoshkitPredictionMode::try_from(prediction)?);
        let callbacks = read_callbacks(callbacks)?;
        let options = read_options(options)?;
        let session = MoshSession::open(
            host,
            port,
            key,
            cols,
            rows,
            prediction,
            Arc::new(CListener(callbacks)),
            options.scrollback_lines,
        )?;
        // SAFETY: `out` was checked non-null above and is valid for writing (caller contract).
        unsafe { publish(session, out) }
    })
}

/// Registers a new session and writes its handle through `out`.
///
/// # Safety
/// `out` is non-null and valid for writing.
unsafe fn publish(session: MoshSession, out: *mut *mut MoshkitSession) -> Result<(), CError> {
    let handle = SESSIONS
        .insert(session)
        .ok_or_else(|| CError::new(MoshkitStatus::InvalidArgument, "too many live sessions"))?;
    // SAFETY: caller contract.
    unsafe { out.write(handle.into_ptr()) };
    Ok(())
}

/// Rebuilds a session saved with `moshkit_session_save_state` after the app was killed (same
/// server, screen, size and settings; the server still holds the session). `state` points to
/// `len` bytes; `callbacks` as for `moshkit_session_connect`. The saved screen is reported at
/// once (on_screen_changed) and the server is contacted at once. Returns MOSHKIT_STATUS_OK and
/// a new handle in `*out`, or MOSHKIT_STATUS_INVALID_SAVED_STATE (the last error says why),
/// MOSHKIT_STATUS_NULL_POINTER, MOSHKIT_STATUS_INVALID_ARGUMENT (callbacks' struct_size),
/// MOSHKIT_STATUS_RUNTIME_UNAVAILABLE.
///
/// # Safety
/// `state` is valid for reading `len` bytes; `callbacks` as for `moshkit_session_connect`;
/// `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_restore(
    state: *const u8,
    len: usize,
    callbacks: *const MoshkitCallbacks,
    out: *mut *mut MoshkitSession,
) -> MoshkitStatus {
    call(|| {
        if state.is_null() {
            return Err(null_error("state"));
        }
        if out.is_null() {
            return Err(null_error("out"));
        }
        // SAFETY: non-null and valid for `len` bytes per the caller contract.
        let bytes = unsafe { std::slice::from_raw_parts(state, len) };
        let callbacks = read_callbacks(callbacks)?;
        let session = MoshSession::open_saved(bytes, Arc::new(CListener(callbacks)))?;
        // SAFETY: `out` was checked non-null above and is valid for writing (caller contract).
        unsafe { publish(session, out) }
    })
}

/// Writes the session's saved state (opaque bytes for `moshkit_session_restore`) into `buf`.
/// On entry `*len` is the capacity of `buf`; on return with MOSHKIT_STATUS_OK or
/// MOSHKIT_STATUS_BUFFER_TOO_SMALL it is the state's length (call with `*len` = 0 and `buf`
/// NULL to ask for the size). The bytes hold the session key: keep them in the Keychain /
/// Keystore-encrypted storage, never in plain files or logs. Save at least when the app goes
/// to the background.
///
/// # Safety
/// `len` is valid for reading and writing; `buf` is NULL or valid for writing `*len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_save_state(
    session: *const MoshkitSession,
    buf: *mut u8,
    len: *mut usize,
) -> MoshkitStatus {
    call(|| {
        if len.is_null() {
            return Err(null_error("len"));
        }
        // SAFETY: non-null and valid for reading per the caller contract.
        let capacity = unsafe { len.read() };
        let state = self::session(session)?.save_state();
        // SAFETY: forwarded caller contract (`len` checked non-null above).
        unsafe { write_sized(&state, buf, len, capacity, "the saved state") }
    })
}

fn with_session(
    s: *const MoshkitSession,
    f: impl FnOnce(&MoshSession) -> Result<(), MoshKitError>,
) -> MoshkitStatus {
    call(|| Ok(f(&*session(s)?)?))
}

/// Sends keystrokes: `len` bytes of raw terminal input (e.g. from moshkit_encode_key, or UTF-8
/// text). Returns MOSHKIT_STATUS_OK, _NULL_POINTER (session, or `bytes` with `len` > 0),
/// _INVALID_HANDLE, _CLOSED.
///
/// # Safety
/// `bytes` is NULL or valid for reading `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_send_input(
    session: *const MoshkitSession,
    bytes: *const u8,
    len: usize,
) -> MoshkitStatus {
    let data = if len == 0 {
        Vec::new()
    } else if bytes.is_null() {
        return call(|| Err(null_error("bytes")));
    } else {
        // SAFETY: non-null and valid for reading `len` bytes per the caller contract.
        unsafe { std::slice::from_raw_parts(bytes, len) }.to_vec()
    };
    with_session(session, |s| s.send_input(data))
}

/// Pastes `text` (NUL-terminated UTF-8; bracketed when the remote application asked for it;
/// shown at once only at a confirmed prompt, as one line that fits, else not predicted). Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_UTF8, _INVALID_HANDLE,
/// _CLOSED.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_paste(
    session: *const MoshkitSession,
    text: *const c_char,
) -> MoshkitStatus {
    call(|| {
        // SAFETY: forwarded caller contract.
        let text = unsafe { str_arg(text, "text") }?;
        Ok(self::session(session)?.paste(text.to_owned())?)
    })
}

/// The window changed size (cells; both at least 1). Returns MOSHKIT_STATUS_OK,
/// _NULL_POINTER, _INVALID_HANDLE, _INVALID_SIZE, _CLOSED.
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_session_resize(
    session: *const MoshkitSession,
    cols: u16,
    rows: u16,
) -> MoshkitStatus {
    with_session(session, |s| s.resize(cols, rows))
}

/// The device's network changed: send from a fresh socket at once. Returns MOSHKIT_STATUS_OK,
/// _NULL_POINTER, _INVALID_HANDLE, _CLOSED.
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_session_network_changed(session: *const MoshkitSession) -> MoshkitStatus {
    with_session(session, MoshSession::network_changed)
}

/// The app goes to the background: stop timers, sending and receiving (state is kept).
/// Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE, _CLOSED.
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_session_pause(session: *const MoshkitSession) -> MoshkitStatus {
    with_session(session, MoshSession::pause)
}

/// The app is back: rebind at once and resend. Returns MOSHKIT_STATUS_OK, _NULL_POINTER,
/// _INVALID_HANDLE, _CLOSED.
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_session_resume(session: *const MoshkitSession) -> MoshkitStatus {
    with_session(session, MoshSession::resume)
}

/// Starts the shutdown handshake; `on_closed` follows (within about 10 s even if the server is
/// gone). Input functions return MOSHKIT_STATUS_CLOSED from now on; the screen, state and stats
/// can still be read. Still call `moshkit_session_free`. Returns MOSHKIT_STATUS_OK,
/// _NULL_POINTER, _INVALID_HANDLE, _CLOSED (already closed).
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_session_close(session: *const MoshkitSession) -> MoshkitStatus {
    with_session(session, MoshSession::disconnect)
}

/// Releases a session: its task stops (without the shutdown handshake unless
/// `moshkit_session_close` was called before). A callback in progress is waited for, and none
/// starts once this returns, so the callbacks' context may be freed then (so do not call it while
/// holding a lock that your callbacks take). (If another thread is
/// inside a `moshkit_session_*` call on the same session at that moment, the release completes
/// when that call returns.) A second free is MOSHKIT_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_session_free(session: *mut MoshkitSession) -> MoshkitStatus {
    call(|| {
        SESSIONS.remove_ptr(session)?;
        Ok(())
    })
}

/// Writes the connection state to `*state`, and (if `reason` is not NULL) why it closed
/// (MOSHKIT_CLOSE_REASON_NONE unless closed). Returns MOSHKIT_STATUS_OK, _NULL_POINTER,
/// _INVALID_HANDLE.
///
/// # Safety
/// `state` is NULL or valid for writing; `reason` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_connection_state(
    session: *const MoshkitSession,
    state: *mut MoshkitConnectionState,
    reason: *mut MoshkitCloseReason,
) -> MoshkitStatus {
    call(|| {
        let s = self::session(session)?;
        if state.is_null() {
            return Err(null_error("state"));
        }
        let (st, why, _) = state_to_c(s.connection_state());
        // SAFETY: forwarded caller contract.
        unsafe { write_out(state, "state", st) }?;
        if !reason.is_null() {
            // SAFETY: forwarded caller contract.
            unsafe { write_out(reason, "reason", why) }?;
        }
        Ok(())
    })
}

/// Writes the session's traffic figures to `*out`. Returns MOSHKIT_STATUS_OK, _NULL_POINTER,
/// _INVALID_HANDLE.
///
/// # Safety
/// `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_stats(
    session: *const MoshkitSession,
    out: *mut MoshkitStats,
) -> MoshkitStatus {
    call(|| {
        let s = self::session(session)?.stats();
        let stats = MoshkitStats {
            srtt_ms: s.srtt_ms,
            last_contact_ms: s.last_contact_ms.unwrap_or(u64::MAX),
            datagrams_sent: s.datagrams_sent,
            datagrams_received: s.datagrams_received,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            datagrams_dropped: s.datagrams_dropped,
        };
        // SAFETY: forwarded caller contract.
        unsafe { write_out(out, "out", stats) }
    })
}

pub(crate) fn screen_out(
    session: *const MoshkitSession,
    out: *mut *mut MoshkitScreen,
    f: impl FnOnce(&MoshSession) -> ScreenUpdate,
) -> MoshkitStatus {
    call(|| {
        let s = self::session(session)?;
        if out.is_null() {
            return Err(null_error("out"));
        }
        let handle = SCREENS
            .insert(CScreen::new(f(&s)))
            .ok_or_else(|| CError::new(MoshkitStatus::InvalidArgument, "too many live screens"))?;
        // SAFETY: checked non-null; valid for writing per the caller contract.
        unsafe { out.write(handle.into_ptr()) };
        Ok(())
    })
}

/// The rows that changed since the previous pull (all of them the first time), as a new
/// screen in `*out` (release it with `moshkit_screen_free`). Answers a pending
/// `on_screen_changed`. Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE.
///
/// # Safety
/// `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_pull_changes(
    session: *const MoshkitSession,
    out: *mut *mut MoshkitScreen,
) -> MoshkitStatus {
    screen_out(session, out, MoshSession::pull_changes)
}

/// The whole screen now, as a new screen in `*out` (does not affect what pull_changes reports).
/// Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE.
///
/// # Safety
/// `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_snapshot(
    session: *const MoshkitSession,
    out: *mut *mut MoshkitScreen,
) -> MoshkitStatus {
    screen_out(session, out, MoshSession::snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c_screen::*;

    const KEY: &std::ffi::CStr = c"AAAAAAAAAAAAAAAAAAAAAA";

    fn connect(
        host: &std::ffi::CStr,
        key: &std::ffi::CStr,
    ) -> (MoshkitStatus, *mut MoshkitSession) {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid strings, NULL callbacks, valid out pointer.
        let st = unsafe {
            moshkit_session_connect(
                host.as_ptr(),
                9,
                key.as_ptr(),
                80,
                24,
                0,
                std::ptr::null(),
                &mut out,
            )
        };
        (st, out)
    }

    #[test]
    fn connect_errors() {
        assert_eq!(connect(c"127.0.0.1", c"short").0, MoshkitStatus::InvalidKey);
        assert_eq!(connect(c"bad host!", KEY).0, MoshkitStatus::InvalidAddress);
        assert_eq!(
            connect(c"no-such-host.invalid", KEY).0,
            MoshkitStatus::ResolveFailed
        );
        let mut out = std::ptr::null_mut();
        // SAFETY: NULL host is answered with a status.
        let st = unsafe {
            moshkit_session_connect(
                std::ptr::null(),
                9,
                KEY.as_ptr(),
                80,
                24,
                0,
                std::ptr::null(),
                &mut out,
            )
        };
        assert_eq!(st, MoshkitStatus::NullPointer);
        assert!(out.is_null());
        // SAFETY: as above; cols 0 is rejected.
        let st = unsafe {
            moshkit_session_connect(
                c"::1".as_ptr(),
                9,
                KEY.as_ptr(),
                0,
                24,
                0,
                std::ptr::null(),
                &mut out,
            )
        };
        assert_eq!(st, MoshkitStatus::InvalidSize);
    }

    #[test]
    fn callbacks_struct_size_is_checked_and_older_structs_work() {
        let full = read_callbacks(std::ptr::null()).expect("NULL means no callbacks");
        let mut cb = full;
        cb.struct_size = 0;
        let mut out = std::ptr::null_mut();
        // SAFETY: valid strings and callbacks struct, valid out pointer.
        let st = unsafe {
            moshkit_session_connect(
                c"127.0.0.1".as_ptr(),
                9,
                KEY.as_ptr(),
                80,
                24,
                0,
                &cb,
                &mut out,
            )
        };
        assert_eq!(st, MoshkitStatus::InvalidArgument);
        assert!(out.is_null());
        extern "C" fn closed(_: *mut c_void, _: MoshkitCloseReason) {}
        cb.on_closed = Some(closed);
        cb.struct_size = CALLBACKS_V1_SIZE;
        let read = read_callbacks(&cb).expect("a v1-sized struct is accepted");
        assert!(read.on_closed.is_some() && read.on_bell.is_none());
        // A struct from before the scrollback callbacks: they stay unset.
        extern "C" fn changed(_: *mut c_void, _: u64, _: u64) {}
        cb.on_resumed = None;
        cb.on_scrollback_changed = Some(changed);
        cb.on_scrollback_fetched = Some(changed);
        cb.struct_size = std::mem::offset_of!(MoshkitCallbacks, on_scrollback_changed);
        let read = read_callbacks(&cb).expect("a v2-sized struct is accepted");
        assert!(read.on_closed.is_some());
        assert!(read.on_scrollback_changed.is_none() && read.on_scrollback_fetched.is_none());
        cb.struct_size = std::mem::size_of::<MoshkitCallbacks>();
        let read = read_callbacks(&cb).expect("the full struct is accepted");
        assert!(read.on_scrollback_changed.is_some() && read.on_scrollback_fetched.is_some());
    }

    #[test]
    fn lifecycle_and_handle_errors() {
        // Port 9 (discard) on loopback: nothing answers, which is fine for these checks.
        let (st, s) = connect(c"127.0.0.1", KEY);
        assert_eq!(st, MoshkitStatus::Ok);
        assert!(!s.is_null());
        assert_eq!(moshkit_session_resize(s, 100, 30), MoshkitStatus::Ok);
        assert_eq!(moshkit_session_resize(s, 0, 30), MoshkitStatus::InvalidSize);
        // SAFETY: valid buffer.
        assert_eq!(
            unsafe { moshkit_session_send_input(s, b"ls".as_ptr(), 2) },
            MoshkitStatus::Ok
        );
        // SAFETY: NULL bytes with a length is answered with a status.
        assert_eq!(
            unsafe { moshkit_session_send_input(s, std::ptr::null(), 2) },
            MoshkitStatus::NullPointer
        );
        let mut screen = std::ptr::null_mut();
        // SAFETY: valid out pointer.
        assert_eq!(
            unsafe { moshkit_session_snapshot(s, &mut screen) },
            MoshkitStatus::Ok
        );
        let mut info = std::mem::MaybeUninit::<MoshkitScreenInfo>::uninit();
        // SAFETY: valid out pointer.
        assert_eq!(
            unsafe { moshkit_screen_info(screen, info.as_mut_ptr()) },
            MoshkitStatus::Ok
        );
        // SAFETY: written by the successful call.
        let info = unsafe { info.assume_init() };
        assert_eq!((info.cols, info.rows, info.full), (80, 24, true));
        assert_eq!(info.changed_row_count, 24);
        let mut buf = [0 as c_char; 4];
        let mut len = 0;
        // SAFETY: valid buffer of 4 bytes.
        let st = unsafe { moshkit_screen_row_text(screen, 0, buf.as_mut_ptr(), 4, &mut len) };
        assert_eq!((st, len), (MoshkitStatus::BufferTooSmall, 80));
        let mut cell = std::mem::MaybeUninit::<MoshkitCell>::uninit();
        // SAFETY: valid out pointer; column 80 is out of range.
        assert_eq!(
            unsafe { moshkit_screen_cell(screen, 0, 80, cell.as_mut_ptr()) },
            MoshkitStatus::InvalidArgument
        );
        assert_eq!(moshkit_screen_free(screen), MoshkitStatus::Ok);
        assert_eq!(moshkit_screen_free(screen), MoshkitStatus::InvalidHandle);
        let mut again = std::mem::MaybeUninit::<MoshkitScreenInfo>::uninit();
        // SAFETY: use after free is answered with a status.
        assert_eq!(
            unsafe { moshkit_screen_info(screen, again.as_mut_ptr()) },
            MoshkitStatus::InvalidHandle
        );

        let mut state = MoshkitConnectionState::Closed;
        // SAFETY: valid out pointer, NULL reason allowed.
        let st = unsafe { moshkit_session_connection_state(s, &mut state, std::ptr::null_mut()) };
        assert_eq!(
            (st, state),
            (MoshkitStatus::Ok, MoshkitConnectionState::Connecting)
        );
        assert_eq!(moshkit_session_pause(s), MoshkitStatus::Ok);
        assert_eq!(moshkit_session_resume(s), MoshkitStatus::Ok);
        assert_eq!(moshkit_session_close(s), MoshkitStatus::Ok);
        assert_eq!(moshkit_session_close(s), MoshkitStatus::Closed);
        assert_eq!(moshkit_session_network_changed(s), MoshkitStatus::Closed);
        assert_eq!(moshkit_session_free(s), MoshkitStatus::Ok);
        assert_eq!(moshkit_session_free(s), MoshkitStatus::InvalidHandle);
        assert_eq!(
            moshkit_session_resize(s, 80, 24),
            MoshkitStatus::InvalidHandle
        );
        assert_eq!(
            moshkit_session_pause(std::ptr::null()),
            MoshkitStatus::NullPointer
        );
    }
}
