//! The C ABI: `moshkit_*` functions returning [`MoshkitStatus`] codes, described by the
//! cbindgen-generated `include/moshkit.h`.
//!
//! Conventions, for every function:
//! * It returns a status (or a documented value); on failure the thread-local last error
//!   message (`moshkit_last_error_message`) says why. Each call clears it first.
//! * NULL pointers and invalid UTF-8 are answered with a status, never undefined behaviour
//!   where that is detectable. A pointer that is not NULL must be valid for its documented use.
//! * Panics never cross the boundary: they become `MOSHKIT_STATUS_PANIC`.
//! * Strings are NUL-terminated UTF-8.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use moshkit_core::keys;

use crate::api::{self, MoshKitError, PredictionMode};
use crate::cstr;
use crate::logging::{self, LogLevel, MoshkitLogCallback, MoshkitLogLevel};

/// Result of a MoshKit C call. New codes may be added at the end in later versions.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoshkitStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument was out of range (unknown enum value, unknown modifier bits, a codepoint that
    /// is not a Unicode scalar value).
    InvalidArgument = 3,
    /// The output buffer is too small; the needed size was written to the length out-parameter.
    BufferTooSmall = 4,
    /// The session key from `MOSH CONNECT <port> <key>` is malformed.
    InvalidKey = 5,
    /// The prediction mode name is not adaptive, always, never or experimental.
    InvalidPredictionMode = 6,
    /// The log sink could not be installed: another Rust `log` logger owns this process.
    LogSinkUnavailable = 7,
    /// An object handle (`MoshkitSession *`, `MoshkitScreen *`, `MoshkitScrollbackLines *`) is
    /// unknown or already freed.
    InvalidHandle = 8,
    /// A bug in MoshKit was caught (a Rust panic); the call had no effect on its outputs.
    Panic = 9,
    /// The host is neither an IP address nor a host name, or the port is 0.
    InvalidAddress = 10,
    /// The host name could not be resolved.
    ResolveFailed = 11,
    /// A window size of zero (or too large).
    InvalidSize = 12,
    /// The session is closed (moshkit_session_close was called, or it ended).
    Closed = 13,
    /// MoshKit's runtime thread could not be started.
    RuntimeUnavailable = 14,
    /// Saved session bytes that cannot be restored (truncated, corrupt, from a newer MoshKit,
    /// or not a MoshKit session).
    InvalidSavedState = 15,
    /// The server keeps no scrollback of its own (upstream mosh-server, or not known yet):
    /// only captured lines exist and none can be requested.
    ScrollbackNotServed = 16,
    /// A range of lines that is empty or reversed (`from` >= `to`).
    InvalidRange = 17,
}

/// A key on the keyboard, for `moshkit_encode_key`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoshkitKeyKind {
    /// A character key; `value` is its Unicode scalar value.
    Char = 0,
    /// Return / Enter.
    Enter = 1,
    /// Tab (Shift-Tab is back-tab).
    Tab = 2,
    /// Backspace (sends DEL, 0x7f).
    Backspace = 3,
    /// Escape.
    Escape = 4,
    /// Cursor up.
    Up = 5,
    /// Cursor down.
    Down = 6,
    /// Cursor right.
    Right = 7,
    /// Cursor left.
    Left = 8,
    /// Home.
    Home = 9,
    /// End.
    End = 10,
    /// Page up.
    PageUp = 11,
    /// Page down.
    PageDown = 12,
    /// Insert.
    Insert = 13,
    /// Forward delete.
    Delete = 14,
    /// Function key; `value` is its number, 1..=20 (others encode to nothing).
    Function = 15,
}

/// Modifier bit for `moshkit_encode_key`: Shift.
pub const MOSHKIT_MOD_SHIFT: u32 = 1;
/// Modifier bit for `moshkit_encode_key`: Alt / Option (ESC prefix on characters).
pub const MOSHKIT_MOD_ALT: u32 = 2;
/// Modifier bit for `moshkit_encode_key`: Control.
pub const MOSHKIT_MOD_CTRL: u32 = 4;
/// Modifier bit for `moshkit_encode_key`: Meta / Command (only encoded on special keys).
pub const MOSHKIT_MOD_META: u32 = 8;
/// A buffer of this many bytes always holds the encoding of one key.
pub const MOSHKIT_KEY_BYTES_MAX: usize = 16;

/// When predictive local echo is shown (mosh's `--predict`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoshkitPredictionMode {
    /// Shown only while the link is slow or glitchy (mosh's default).
    Adaptive = 0,
    /// Shown whenever confirmed.
    Always = 1,
    /// No prediction at all.
    Never = 2,
    /// Shown immediately; wrong guesses are dropped one by one.
    Experimental = 3,
}

/// A failed call: its status and the message for `moshkit_last_error_message`.
#[derive(Debug)]
pub(crate) struct CError {
    status: MoshkitStatus,
    message: String,
}

impl CError {
    pub(crate) fn new(status: MoshkitStatus, message: impl Into<String>) -> CError {
        CError {
            status,
            message: message.into(),
        }
    }
}

impl From<MoshKitError> for CError {
    fn from(e: MoshKitError) -> CError {
        let status = match e {
            MoshKitError::InvalidKey { .. } => MoshkitStatus::InvalidKey,
            MoshKitError::InvalidPredictionMode { .. } => MoshkitStatus::InvalidPredictionMode,
            MoshKitError::LogSinkUnavailable { .. } => MoshkitStatus::LogSinkUnavailable,
            MoshKitError::InvalidAddress { .. } => MoshkitStatus::InvalidAddress,
            MoshKitError::ResolveFailed { .. } => MoshkitStatus::ResolveFailed,
            MoshKitError::InvalidSize { .. } => MoshkitStatus::InvalidSize,
            MoshKitError::Closed => MoshkitStatus::Closed,
            MoshKitError::Runtime { .. } => MoshkitStatus::RuntimeUnavailable,
            MoshKitError::InvalidSavedState { .. } => MoshkitStatus::InvalidSavedState,
            MoshKitError::ScrollbackNotServed => MoshkitStatus::ScrollbackNotServed,
            MoshKitError::InvalidRange { .. } => MoshkitStatus::InvalidRange,
        };
        CError::new(status, e.to_string())
    }
}

impl From<crate::handles::HandleError> for CError {
    fn from(e: crate::handles::HandleError) -> CError {
        let status = match e {
            crate::handles::HandleError::Null => MoshkitStatus::NullPointer,
            crate::handles::HandleError::Invalid => MoshkitStatus::InvalidHandle,
        };
        CError::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: String) {
    let message = cstr::c_string_lossy(message);
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(message));
}

/// Runs one C entry point: clears the last error, catches panics, records failures.
pub(crate) fn call(f: impl FnOnce() -> Result<(), CError>) -> MoshkitStatus {
    LAST_ERROR.with(|e| *e.borrow_mut() = None);
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => MoshkitStatus::Ok,
        Ok(Err(e)) => {
            set_last_error(e.message);
            e.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            log::error!(target: "moshkit::ffi", "panic caught at the C boundary: {what}");
            set_last_error(format!("internal error (panic): {what}"));
            MoshkitStatus::Panic
        }
    }
}

/// The string behind `ptr`, checked for NULL and UTF-8.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, CError> {
    if ptr.is_null() {
        return Err(CError::new(
            MoshkitStatus::NullPointer,
            format!("{name} is NULL"),
        ));
    }
    // SAFETY: non-null, and the caller guarantees a NUL-terminated string living for 'a.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().map_err(|e| {
        CError::new(
            MoshkitStatus::InvalidUtf8,
            format!("{name} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Writes `value` through `out` after a NULL check.
///
/// # Safety
/// `out` is NULL or valid for writing a `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, name: &str, value: T) -> Result<(), CError> {
    if out.is_null() {
        return Err(null_error(name));
    }
    // SAFETY: non-null and valid for writing per the caller contract.
    unsafe { out.write(value) };
    Ok(())
}

pub(crate) fn null_error(name: &str) -> CError {
    CError::new(MoshkitStatus::NullPointer, format!("{name} is NULL"))
}

/// The MoshKit version as a static NUL-terminated string, e.g. "0.1.0". Never NULL; do not free.
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_version() -> *const c_char {
    const VERSION_NUL: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION_NUL.as_ptr().cast()
}

/// The message of the last failed MoshKit call on this thread, or NULL if that call succeeded
/// (or none was made). The string is owned by MoshKit and valid until the next MoshKit call on
/// this thread; copy it to keep it (or use `moshkit_last_error_message_copy`).
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_last_error_message() -> *const c_char {
    catch_unwind(|| {
        LAST_ERROR.with(|e| e.borrow().as_ref().map_or(std::ptr::null(), |s| s.as_ptr()))
    })
    .unwrap_or(std::ptr::null())
}

/// Copies the last error message of this thread into `buf` (`capacity` bytes), truncating and
/// always NUL-terminating when `capacity > 0`, like snprintf. Returns the message length in
/// bytes without the NUL (0 if the last call succeeded): the copy was truncated if the result
/// is >= `capacity`. `buf` may be NULL when `capacity` is 0 (a length query).
///
/// # Safety
/// `buf` is NULL or valid for writing `capacity` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_last_error_message_copy(
    buf: *mut c_char,
    capacity: usize,
) -> usize {
    catch_unwind(AssertUnwindSafe(|| {
        LAST_ERROR.with(|e| {
            let e = e.borrow();
            let Some(msg) = e.as_ref() else {
                if !buf.is_null() && capacity > 0 {
                    // SAFETY: buf is valid for `capacity` >= 1 bytes.
                    unsafe { *buf = 0 };
                }
                return 0;
            };
            let bytes = msg.as_bytes();
            // SAFETY: buf is NULL or valid for `capacity` bytes (caller contract); `bytes` is a
            // distinct Rust allocation, so the ranges do not overlap.
            unsafe { cstr::copy_nul_terminated(bytes, buf, capacity) };
            bytes.len()
        })
    }))
    .unwrap_or(0)
}

/// Checks the session key printed by mosh-server in `MOSH CONNECT <port> <key>` (22 characters
/// of base64 without padding, 128 bits). Returns MOSHKIT_STATUS_OK, MOSHKIT_STATUS_INVALID_KEY
/// (the last error message says why, never quoting the key), MOSHKIT_STATUS_NULL_POINTER or
/// MOSHKIT_STATUS_INVALID_UTF8.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_validate_session_key(key: *const c_char) -> MoshkitStatus {
    call(|| {
        // SAFETY: forwarded caller contract.
        let key = unsafe { str_arg(key, "key") }?;
        api::validate_session_key(key.to_owned()).map_err(CError::from)
    })
}

/// Parses a prediction mode name ("adaptive", "always", "never" or "experimental", the values
/// of mosh's `--predict`) into `*out`. Returns MOSHKIT_STATUS_OK,
/// MOSHKIT_STATUS_INVALID_PREDICTION_MODE, MOSHKIT_STATUS_NULL_POINTER or
/// MOSHKIT_STATUS_INVALID_UTF8; `*out` is written only on success.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_parse_prediction_mode(
    name: *const c_char,
    out: *mut MoshkitPredictionMode,
) -> MoshkitStatus {
    call(|| {
        // SAFETY: forwarded caller contract.
        let name = unsafe { str_arg(name, "name") }?;
        if out.is_null() {
            return Err(null_error("out"));
        }
        let mode = match api::parse_prediction_mode(name.to_owned())? {
            PredictionMode::Adaptive => MoshkitPredictionMode::Adaptive,
            PredictionMode::Always => MoshkitPredictionMode::Always,
            PredictionMode::Never => MoshkitPredictionMode::Never,
            PredictionMode::Experimental => MoshkitPredictionMode::Experimental,
        };
        // SAFETY: non-null and valid for writing per the caller contract.
        unsafe { out.write(mode) };
        Ok(())
    })
}

fn key_from_c(kind: u32, value: u32) -> Result<keys::NamedKey, CError> {
    use MoshkitKeyKind as C;
    use keys::NamedKey as K;
    Ok(match MoshkitKeyKind::try_from(kind)? {
        C::Char => {
            char::from_u32(value).ok_or_else(|| {
                CError::new(
                    MoshkitStatus::InvalidArgument,
                    format!("value {value:#x} is not a Unicode scalar value"),
                )
            })?;
            K::Char { codepoint: value }
        }
        C::Enter => K::Enter,
        C::Tab => K::Tab,
        C::Backspace => K::Backspace,
        C::Escape => K::Escape,
        C::Up => K::Up,
        C::Down => K::Down,
        C::Right => K::Right,
        C::Left => K::Left,
        C::Home => K::Home,
        C::End => K::End,
        C::PageUp => K::PageUp,
        C::PageDown => K::PageDown,
        C::Insert => K::Insert,
        C::Delete => K::Delete,
        // Numbers outside 1..=20 have no encoding; 0 stands for all of them.
        C::Function => K::Function {
            number: u8::try_from(value).unwrap_or(0),
        },
    })
}

/// A number that is none of a C enum's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown {name} {value}")]
pub struct UnknownCValue {
    /// What the number stands for ("key kind", "log level", ...).
    pub name: &'static str,
    /// The number received.
    pub value: u32,
}

impl From<UnknownCValue> for CError {
    fn from(e: UnknownCValue) -> CError {
        CError::new(MoshkitStatus::InvalidArgument, e.to_string())
    }
}

/// `TryFrom<u32>` for a `#[repr(u32)]` C enum, listing its variants once (an unknown value
/// becomes `MOSHKIT_STATUS_INVALID_ARGUMENT` at the boundary).
macro_rules! c_enum_from_u32 {
    ($ty:ident, $name:literal { $($variant:ident),* $(,)? }) => {
        impl TryFrom<u32> for $ty {
            type Error = UnknownCValue;
            fn try_from(value: u32) -> Result<Self, UnknownCValue> {
                $(if value == $ty::$variant as u32 {
                    return Ok($ty::$variant);
                })*
                Err(UnknownCValue { name: $name, value })
            }
        }
    };
}

c_enum_from_u32!(MoshkitKeyKind, "key kind" {
    Char,
    Enter,
    Tab,
    Backspace,
    Escape,
    Up,
    Down,
    Right,
    Left,
    Home,
    End,
    PageUp,
    PageDown,
    Insert,
    Delete,
    Function,
});
c_enum_from_u32!(MoshkitPredictionMode, "prediction mode" {
    Adaptive,
    Always,
    Never,
    Experimental
});
c_enum_from_u32!(MoshkitLogLevel, "log level" {
    Error,
    Warn,
    Info,
    Debug,
    Trace
});

impl From<MoshkitPredictionMode> for PredictionMode {
    fn from(m: MoshkitPredictionMode) -> Self {
        match m {
            MoshkitPredictionMode::Adaptive => PredictionMode::Adaptive,
            MoshkitPredictionMode::Always => PredictionMode::Always,
            MoshkitPredictionMode::Never => PredictionMode::Never,
            MoshkitPredictionMode::Experimental => PredictionMode::Experimental,
        }
    }
}

impl From<MoshkitLogLevel> for LogLevel {
    fn from(l: MoshkitLogLevel) -> Self {
        match l {
            MoshkitLogLevel::Error => LogLevel::Error,
            MoshkitLogLevel::Warn => LogLevel::Warn,
            MoshkitLogLevel::Info => LogLevel::Info,
            MoshkitLogLevel::Debug => LogLevel::Debug,
            MoshkitLogLevel::Trace => LogLevel::Trace,
        }
    }
}

/// Encodes a key as the bytes a mosh client sends (no terminfo needed).
///
/// `kind` is a MoshkitKeyKind; `value` is the Unicode scalar value for MOSHKIT_KEY_KIND_CHAR,
/// the function key number for MOSHKIT_KEY_KIND_FUNCTION, ignored otherwise; `modifiers` is an
/// OR of MOSHKIT_MOD_* bits. On entry `*len` is the capacity of `buf`; on return with
/// MOSHKIT_STATUS_OK or MOSHKIT_STATUS_BUFFER_TOO_SMALL it is the length of the encoding
/// (0 for a key without one, e.g. F0). A buffer of MOSHKIT_KEY_BYTES_MAX bytes always suffices.
/// `buf` may be NULL when `*len` is 0 (a size query). Other statuses:
/// MOSHKIT_STATUS_NULL_POINTER, MOSHKIT_STATUS_INVALID_ARGUMENT (unknown kind or modifier bits,
/// not a scalar value).
///
/// # Safety
/// `len` is NULL or valid for reading and writing; `buf` is NULL or valid for writing `*len`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_encode_key(
    kind: u32,
    value: u32,
    modifiers: u32,
    buf: *mut u8,
    len: *mut usize,
) -> MoshkitStatus {
    call(|| {
        if len.is_null() {
            return Err(null_error("len"));
        }
        // SAFETY: non-null and valid for reading per the caller contract.
        let capacity = unsafe { len.read() };
        let key = key_from_c(kind, value)?;
        let all = MOSHKIT_MOD_SHIFT | MOSHKIT_MOD_ALT | MOSHKIT_MOD_CTRL | MOSHKIT_MOD_META;
        if modifiers & !all != 0 {
            return Err(CError::new(
                MoshkitStatus::InvalidArgument,
                format!("unknown modifier bits {:#x}", modifiers & !all),
            ));
        }
        let mods = keys::Modifiers {
            shift: modifiers & MOSHKIT_MOD_SHIFT != 0,
            alt: modifiers & MOSHKIT_MOD_ALT != 0,
            ctrl: modifiers & MOSHKIT_MOD_CTRL != 0,
            meta: modifiers & MOSHKIT_MOD_META != 0,
        };
        let bytes = keys::encode(key, mods);
        // SAFETY: forwarded caller contract (`len` checked non-null above).
        unsafe { write_sized(&bytes, buf, len, capacity, "the encoding") }
    })
}

/// The end of every "bytes into the caller's buffer" call: sets `*len` to the length of
/// `bytes` and copies them into `buf` (`capacity` bytes); `MOSHKIT_STATUS_BUFFER_TOO_SMALL`,
/// with `*len` set, when they do not fit; `buf` may be NULL only when `bytes` is empty.
///
/// # Safety
/// `len` is non-null and valid for writing; `buf` is NULL or valid for writing `capacity`
/// bytes and does not overlap `bytes`.
pub(crate) unsafe fn write_sized(
    bytes: &[u8],
    buf: *mut u8,
    len: *mut usize,
    capacity: usize,
    what: &str,
) -> Result<(), CError> {
    // SAFETY: caller contract.
    unsafe { len.write(bytes.len()) };
    if bytes.len() > capacity {
        return Err(CError::new(
            MoshkitStatus::BufferTooSmall,
            format!(
                "{what} needs {} bytes, the buffer has {capacity}",
                bytes.len()
            ),
        ));
    }
    if !bytes.is_empty() {
        if buf.is_null() {
            return Err(null_error("buf"));
        }
        // SAFETY: caller contract; `capacity` >= bytes.len().
        unsafe { cstr::copy_exact(bytes, buf) };
    }
    Ok(())
}

/// Routes MoshKit's log records up to `max_level` (a MoshkitLogLevel) to `callback`, with
/// `context` passed back unchanged; replaces any previous sink (including a Kotlin/Swift one).
/// A NULL `callback` removes the sink (records are dropped). MoshKit never prints to stdout or
/// stderr. Returns MOSHKIT_STATUS_OK, MOSHKIT_STATUS_INVALID_ARGUMENT (bad level) or
/// MOSHKIT_STATUS_LOG_SINK_UNAVAILABLE (another Rust logger owns the process).
///
/// # Safety
/// `callback` (if not NULL) must be safe to call from any thread with `context` until it is
/// replaced or removed, and for the duration of calls already in progress at that time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_set_log_callback(
    callback: MoshkitLogCallback,
    context: *mut c_void,
    max_level: u32,
) -> MoshkitStatus {
    call(|| {
        let Some(sink) = logging::Sink::from_c(callback, context) else {
            logging::clear();
            return Ok(());
        };
        let level = LogLevel::from(MoshkitLogLevel::try_from(max_level)?);
        logging::install(sink, level).map_err(CError::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Mutex, PoisonError};

    fn last_error() -> Option<String> {
        let p = moshkit_last_error_message();
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null result is a NUL-terminated string valid until the next call.
        Some(
            unsafe { CStr::from_ptr(p) }
                .to_str()
                .expect("utf-8")
                .to_owned(),
        )
    }

    fn encode(kind: MoshkitKeyKind, value: u32, mods: u32) -> (MoshkitStatus, Vec<u8>) {
        let mut buf = [0u8; MOSHKIT_KEY_BYTES_MAX];
        let mut len = buf.len();
        // SAFETY: buf/len are valid locals.
        let st =
            unsafe { moshkit_encode_key(kind as u32, value, mods, buf.as_mut_ptr(), &mut len) };
        (st, buf[..len.min(buf.len())].to_vec())
    }

    #[test]
    fn version() {
        // SAFETY: documented as a static NUL-terminated string.
        let v = unsafe { CStr::from_ptr(moshkit_version()) };
        assert_eq!(v.to_str(), Ok(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn session_key_statuses_and_last_error() {
        // SAFETY (all calls): C string literals are NUL-terminated.
        let st = unsafe { moshkit_validate_session_key(c"AAAAAAAAAAAAAAAAAAAAAA".as_ptr()) };
        assert_eq!(st, MoshkitStatus::Ok);
        assert_eq!(last_error(), None);

        let st = unsafe { moshkit_validate_session_key(c"AAAAAAAAAAAAAAAAAAAAA!".as_ptr()) };
        assert_eq!(st, MoshkitStatus::InvalidKey);
        let msg = last_error().expect("message");
        assert!(msg.contains("base64 alphabet at position 21"), "{msg}");

        let st = unsafe { moshkit_validate_session_key(std::ptr::null()) };
        assert_eq!(st, MoshkitStatus::NullPointer);
        assert_eq!(last_error().as_deref(), Some("key is NULL"));

        let bad_utf8 = [0xffu8, 0xfe, 0];
        let st = unsafe { moshkit_validate_session_key(bad_utf8.as_ptr().cast()) };
        assert_eq!(st, MoshkitStatus::InvalidUtf8);

        // A success clears the previous error.
        let st = unsafe { moshkit_validate_session_key(c"4NeCCgvZFe2RnPgrcU1PQw".as_ptr()) };
        assert_eq!(st, MoshkitStatus::Ok);
        assert_eq!(last_error(), None);
    }

    #[test]
    fn last_error_copy_truncates_like_snprintf() {
        // SAFETY: valid C string; buffers are valid locals with matching capacities.
        unsafe {
            moshkit_validate_session_key(c"short".as_ptr());
            let full = last_error().expect("message");
            assert_eq!(
                moshkit_last_error_message_copy(std::ptr::null_mut(), 0),
                full.len()
            );
            let mut small = [0x55 as c_char; 8];
            let n = moshkit_last_error_message_copy(small.as_mut_ptr(), small.len());
            assert_eq!(n, full.len());
            assert_eq!(
                CStr::from_ptr(small.as_ptr()).to_bytes(),
                &full.as_bytes()[..7]
            );
            let mut big = [0 as c_char; 256];
            moshkit_last_error_message_copy(big.as_mut_ptr(), big.len());
            assert_eq!(CStr::from_ptr(big.as_ptr()).to_str(), Ok(full.as_str()));

            moshkit_validate_session_key(c"AAAAAAAAAAAAAAAAAAAAAA".as_ptr());
            big[0] = b'x' as c_char;
            assert_eq!(
                moshkit_last_error_message_copy(big.as_mut_ptr(), big.len()),
                0
            );
            assert_eq!(big[0], 0);
        }
    }

    #[test]
    fn prediction_modes() {
        let mut out = MoshkitPredictionMode::Adaptive;
        // SAFETY: valid C strings and out pointer.
        unsafe {
            assert_eq!(
                moshkit_parse_prediction_mode(c"experimental".as_ptr(), &mut out),
                MoshkitStatus::Ok
            );
            assert_eq!(out, MoshkitPredictionMode::Experimental);
            assert_eq!(
                moshkit_parse_prediction_mode(c"never".as_ptr(), &mut out),
                MoshkitStatus::Ok
            );
            assert_eq!(out, MoshkitPredictionMode::Never);
            assert_eq!(
                moshkit_parse_prediction_mode(c"Always".as_ptr(), &mut out),
                MoshkitStatus::InvalidPredictionMode
            );
            assert_eq!(out, MoshkitPredictionMode::Never, "untouched on failure");
            assert!(last_error().expect("message").contains("\"Always\""));
            assert_eq!(
                moshkit_parse_prediction_mode(c"never".as_ptr(), std::ptr::null_mut()),
                MoshkitStatus::NullPointer
            );
            assert_eq!(
                moshkit_parse_prediction_mode(std::ptr::null(), &mut out),
                MoshkitStatus::NullPointer
            );
        }
    }

    #[test]
    fn encode_keys() {
        use MoshkitKeyKind as K;
        assert_eq!(
            encode(K::Char, 'a' as u32, 0),
            (MoshkitStatus::Ok, b"a".to_vec())
        );
        assert_eq!(
            encode(K::Char, 'c' as u32, MOSHKIT_MOD_CTRL),
            (MoshkitStatus::Ok, vec![3])
        );
        assert_eq!(
            encode(K::Char, 'b' as u32, MOSHKIT_MOD_ALT),
            (MoshkitStatus::Ok, b"\x1bb".to_vec())
        );
        assert_eq!(encode(K::Up, 0, 0), (MoshkitStatus::Ok, b"\x1bOA".to_vec()));
        assert_eq!(
            encode(K::Right, 0, MOSHKIT_MOD_CTRL),
            (MoshkitStatus::Ok, b"\x1b[1;5C".to_vec())
        );
        assert_eq!(
            encode(K::Tab, 0, MOSHKIT_MOD_SHIFT),
            (MoshkitStatus::Ok, b"\x1b[Z".to_vec())
        );
        assert_eq!(
            encode(K::Function, 20, MOSHKIT_MOD_META),
            (MoshkitStatus::Ok, b"\x1b[34;9~".to_vec())
        );
        assert_eq!(encode(K::Function, 0, 0), (MoshkitStatus::Ok, vec![]));
        assert_eq!(encode(K::Function, 300, 0), (MoshkitStatus::Ok, vec![]));
        assert_eq!(encode(K::Char, 0xD800, 0).0, MoshkitStatus::InvalidArgument);
        assert_eq!(
            encode(K::Char, 'a' as u32, 16).0,
            MoshkitStatus::InvalidArgument
        );
        assert!(
            last_error()
                .expect("message")
                .contains("modifier bits 0x10")
        );
    }

    #[test]
    fn every_key_fits_the_max_buffer() {
        let all_mods = 0..16;
        for kind in 0..=15u32 {
            for value in [0, 1, 5, 20, 'a' as u32, 0x10FFFF] {
                for mods in all_mods.clone() {
                    let mut len = 0usize;
                    // SAFETY: NULL buf with capacity 0 is a size query.
                    let st = unsafe {
                        moshkit_encode_key(kind, value, mods, std::ptr::null_mut(), &mut len)
                    };
                    assert!(matches!(
                        st,
                        MoshkitStatus::Ok | MoshkitStatus::BufferTooSmall
                    ));
                    assert!(len <= MOSHKIT_KEY_BYTES_MAX);
                }
            }
        }
    }

    #[test]
    fn encode_key_error_paths() {
        let mut buf = [0u8; 2];
        let mut len = buf.len();
        // SAFETY (all calls): buf/len are valid locals, or NULL where tested.
        unsafe {
            let st =
                moshkit_encode_key(MoshkitKeyKind::Up as u32, 0, 0, buf.as_mut_ptr(), &mut len);
            assert_eq!(st, MoshkitStatus::BufferTooSmall);
            assert_eq!(len, 3, "needed size reported");
            assert_eq!(buf, [0, 0], "nothing written");
            let st = moshkit_encode_key(5, 0, 0, buf.as_mut_ptr(), std::ptr::null_mut());
            assert_eq!(st, MoshkitStatus::NullPointer);
            len = 4;
            let st = moshkit_encode_key(5, 0, 0, std::ptr::null_mut(), &mut len);
            assert_eq!(st, MoshkitStatus::NullPointer);
            assert_eq!(last_error().as_deref(), Some("buf is NULL"));
            len = 4;
            let st = moshkit_encode_key(16, 0, 0, std::ptr::null_mut(), &mut len);
            assert_eq!(st, MoshkitStatus::InvalidArgument);
            assert_eq!(last_error().as_deref(), Some("unknown key kind 16"));
        }
    }

    #[test]
    fn last_error_is_per_thread() {
        // SAFETY: valid C string.
        let st = unsafe { moshkit_validate_session_key(c"short".as_ptr()) };
        assert_eq!(st, MoshkitStatus::InvalidKey);
        let other = std::thread::spawn(last_error).join().expect("thread");
        assert_eq!(other, None);
        assert!(last_error().is_some());
    }

    #[test]
    fn handle_errors_map_to_statuses() {
        use crate::handles::{HandleError, HandleRegistry};
        let reg: HandleRegistry<()> = HandleRegistry::new();
        let st = call(|| {
            reg.get_ptr(std::ptr::null::<c_void>())
                .map(drop)
                .map_err(CError::from)
        });
        assert_eq!(st, MoshkitStatus::NullPointer);
        let freed: *mut c_void = reg.insert(()).expect("room").into_ptr();
        assert!(reg.remove_ptr(freed).is_ok());
        let st = call(|| reg.remove_ptr(freed).map(drop).map_err(CError::from));
        assert_eq!(st, MoshkitStatus::InvalidHandle);
        assert_eq!(last_error(), Some(HandleError::Invalid.to_string()));
    }

    #[test]
    fn panics_are_caught() {
        let st = call(|| panic!("boom"));
        assert_eq!(st, MoshkitStatus::Panic);
        assert_eq!(
            last_error().as_deref(),
            Some("internal error (panic): boom")
        );
    }

    static LOG_TEST_THREAD: std::sync::OnceLock<std::thread::ThreadId> = std::sync::OnceLock::new();
    static RECORDS: Mutex<Vec<(MoshkitLogLevel, String, String, usize)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn record(
        context: *mut c_void,
        level: MoshkitLogLevel,
        target: *const c_char,
        message: *const c_char,
    ) {
        // Other tests run concurrently and may log: keep only this test thread's records.
        if LOG_TEST_THREAD.get() != Some(&std::thread::current().id()) {
            return;
        }
        // SAFETY: MoshKit passes NUL-terminated strings valid during the call.
        let (target, message) = unsafe { (CStr::from_ptr(target), CStr::from_ptr(message)) };
        RECORDS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((
                level,
                target.to_string_lossy().into_owned(),
                message.to_string_lossy().into_owned(),
                context.addr(),
            ));
    }

    #[test]
    fn log_callback() {
        let _guard = logging::TEST_LOCK
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        LOG_TEST_THREAD.get_or_init(|| std::thread::current().id());
        let ctx = std::ptr::without_provenance_mut::<c_void>(0x1234);
        // SAFETY: `record` is thread-safe; ctx is never dereferenced.
        unsafe {
            assert_eq!(
                moshkit_set_log_callback(Some(record), ctx, 9),
                MoshkitStatus::InvalidArgument
            );
            assert_eq!(
                moshkit_set_log_callback(Some(record), ctx, 3),
                MoshkitStatus::Ok
            );
            log::debug!(target: "moshkit::test", "filtered out");
            log::warn!(target: "moshkit::test", "nul\0dropped");
            moshkit_validate_session_key(c"x".as_ptr()); // logs at debug: filtered
            assert_eq!(moshkit_set_log_callback(None, ctx, 0), MoshkitStatus::Ok);
            log::error!(target: "moshkit::test", "after removal");
        }
        let got = std::mem::take(&mut *RECORDS.lock().unwrap_or_else(PoisonError::into_inner));
        assert_eq!(
            got,
            vec![
                (
                    MoshkitLogLevel::Info,
                    "moshkit::ffi".to_owned(),
                    "log sink installed (max level Info)".to_owned(),
                    0x1234
                ),
                (
                    MoshkitLogLevel::Warn,
                    "moshkit::test".to_owned(),
                    "nuldropped".to_owned(),
                    0x1234
                ),
            ]
        );
    }
}
