//! The scrollback part of the C ABI: a session's scrollback range and mode
//! (`moshkit_session_scrollback_range`, `_mode`), requests for missing lines
//! (`moshkit_session_request_scrollback`), and copies of lines (`moshkit_session_scrollback_lines`
//! returns a `MoshkitScrollbackLines *`, read with the `moshkit_scrollback_*` getters like a
//! `MoshkitScreen *`).

use std::ffi::{CString, c_char};
use std::sync::Arc;

use crate::c_api::{CError, MoshkitStatus, call, null_error, write_out};
use crate::c_screen::{MoshkitCell, c_cell, cell_texts, write_row_text};
use crate::c_session::{MoshkitSession, session};
use crate::handles::HandleRegistry;
use crate::scrollback::{self, ScrollbackLine, ScrollbackMode};

/// Most lines one `moshkit_session_scrollback_lines` call copies (a larger `count` is capped):
/// page through longer ranges.
pub const MOSHKIT_SCROLLBACK_LINES_MAX: u32 = 10_000;

/// Lines of scrollback a session keeps unless `MoshkitSessionOptions.scrollback_lines` says
/// otherwise.
pub const MOSHKIT_DEFAULT_SCROLLBACK_LINES: u32 = 10_000;

// (Literals for cbindgen; they are the uniffi API's.)
const _: () = assert!(MOSHKIT_SCROLLBACK_LINES_MAX == scrollback::MAX_SCROLLBACK_LINES_PER_CALL);
const _: () = assert!(MOSHKIT_DEFAULT_SCROLLBACK_LINES == scrollback::DEFAULT_SCROLLBACK_LINES);

/// Where a session's scrollback comes from.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoshkitScrollbackMode {
    /// Captured from the screens received (any server, e.g. upstream mosh-server): best effort,
    /// places where lines may be lost are marked `gap_before`. Nothing can be requested.
    Captured = 0,
    /// A MoshKit server's own scrollback: every line, some possibly `missing` until fetched
    /// with `moshkit_session_request_scrollback`.
    Exact = 1,
    /// Turned off (`scrollback_lines` 0).
    Off = 2,
}

impl From<ScrollbackMode> for MoshkitScrollbackMode {
    fn from(m: ScrollbackMode) -> Self {
        match m {
            ScrollbackMode::Captured => MoshkitScrollbackMode::Captured,
            ScrollbackMode::Exact => MoshkitScrollbackMode::Exact,
            ScrollbackMode::Off => MoshkitScrollbackMode::Off,
        }
    }
}

/// A copy of some scrollback lines (opaque): what `moshkit_session_scrollback_lines` returns.
/// Read it with the `moshkit_scrollback_*` getters (lines indexed 0..line_count), release it
/// with `moshkit_scrollback_free`. Immutable, so it may be read from any thread.
#[derive(Debug)]
pub struct MoshkitScrollbackLines(());

/// One line of a `MoshkitScrollbackLines`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoshkitScrollbackLineInfo {
    /// Absolute line number (from the start of the session).
    pub index: u64,
    /// Cells (the screen's columns when the line scrolled off; 0 when `missing`).
    pub cell_count: u16,
    /// Whether the line continues on the next one (wrapped, not ended by a newline).
    pub wrapped: bool,
    /// Captured scrollback only: lines may be missing just before this one.
    pub gap_before: bool,
    /// Exact scrollback only: the server has this line but it was not fetched yet (ask with
    /// `moshkit_session_request_scrollback`); it has no cells.
    pub missing: bool,
}

/// Scrollback lines with their cells' strings as C strings.
pub(crate) struct CScrollbackLines {
    lines: Vec<ScrollbackLine>,
    texts: Vec<Vec<CString>>,
}

static SCROLLBACKS: HandleRegistry<CScrollbackLines> = HandleRegistry::new();

fn lines_of(l: *const MoshkitScrollbackLines) -> Result<Arc<CScrollbackLines>, CError> {
    SCROLLBACKS.get_ptr(l).map_err(CError::from)
}

fn bad_line(i: usize, count: usize) -> CError {
    CError::new(
        MoshkitStatus::InvalidArgument,
        format!("line {i} out of range (the copy has {count})"),
    )
}

impl CScrollbackLines {
    fn line(&self, i: usize) -> Result<&ScrollbackLine, CError> {
        self.lines
            .get(i)
            .ok_or_else(|| bad_line(i, self.lines.len()))
    }
}

/// Writes the absolute numbers of the scrollback lines held to `*first` (the oldest) and
/// `*end` (one past the newest); none is held when they are equal. Numbers never change while
/// a line is held; beyond the session's limit the oldest lines go (`first` grows). Returns
/// MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE; nothing is written on failure.
///
/// # Safety
/// `first` and `end` are NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_scrollback_range(
    session: *const MoshkitSession,
    first: *mut u64,
    end: *mut u64,
) -> MoshkitStatus {
    call(|| {
        let s = self::session(session)?;
        if first.is_null() {
            return Err(null_error("first"));
        }
        if end.is_null() {
            return Err(null_error("end"));
        }
        let r = s.scrollback_range();
        // SAFETY: forwarded caller contract (both checked non-null above).
        unsafe {
            first.write(r.first);
            end.write(r.end);
        }
        Ok(())
    })
}

/// Writes where the session's scrollback comes from to `*mode`. Returns MOSHKIT_STATUS_OK,
/// _NULL_POINTER, _INVALID_HANDLE.
///
/// # Safety
/// `mode` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_scrollback_mode(
    session: *const MoshkitSession,
    mode: *mut MoshkitScrollbackMode,
) -> MoshkitStatus {
    call(|| {
        let m = self::session(session)?.scrollback_mode();
        // SAFETY: forwarded caller contract.
        unsafe { write_out(mode, "mode", m.into()) }
    })
}

/// Asks a MoshKit server for the missing lines of `from..to` (absolute numbers). Asynchronous:
/// the `on_scrollback_fetched(from, to)` callback follows (at once when none is missing).
/// Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE, _SCROLLBACK_NOT_SERVED (the
/// server keeps no scrollback: MOSHKIT_SCROLLBACK_MODE_CAPTURED or _OFF, e.g. upstream
/// mosh-server), _INVALID_RANGE (`from` >= `to`), _CLOSED.
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_session_request_scrollback(
    session: *const MoshkitSession,
    from: u64,
    to: u64,
) -> MoshkitStatus {
    call(|| Ok(self::session(session)?.request_scrollback(from, to)?))
}

/// Copies up to `count` scrollback lines from line `from` on (absolute numbers; only those
/// held, so the copy may have fewer or none; `count` is capped at MOSHKIT_SCROLLBACK_LINES_MAX)
/// into a new `MoshkitScrollbackLines` in `*out` (release it with `moshkit_scrollback_free`).
/// Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE, _INVALID_ARGUMENT (too many live
/// copies).
///
/// # Safety
/// `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_session_scrollback_lines(
    session: *const MoshkitSession,
    from: u64,
    count: u32,
    out: *mut *mut MoshkitScrollbackLines,
) -> MoshkitStatus {
    call(|| {
        let s = self::session(session)?;
        if out.is_null() {
            return Err(null_error("out"));
        }
        let lines = s.scrollback_lines(from, count);
        let texts = lines.iter().map(|l| cell_texts(&l.cells)).collect();
        let handle = SCROLLBACKS
            .insert(CScrollbackLines { lines, texts })
            .ok_or_else(|| {
                CError::new(
                    MoshkitStatus::InvalidArgument,
                    "too many live scrollback copies",
                )
            })?;
        // SAFETY: checked non-null; valid for writing per the caller contract.
        unsafe { out.write(handle.into_ptr()) };
        Ok(())
    })
}

/// Releases a copy of scrollback lines (its strings become invalid). A second free is
/// MOSHKIT_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_scrollback_free(lines: *mut MoshkitScrollbackLines) -> MoshkitStatus {
    call(|| {
        SCROLLBACKS.remove_ptr(lines)?;
        Ok(())
    })
}

/// Writes how many lines the copy holds to `*count` (index them 0..count). Returns
/// MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE.
///
/// # Safety
/// `count` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_scrollback_line_count(
    lines: *const MoshkitScrollbackLines,
    count: *mut usize,
) -> MoshkitStatus {
    call(|| {
        let n = lines_of(lines)?.lines.len();
        // SAFETY: forwarded caller contract.
        unsafe { write_out(count, "count", n) }
    })
}

/// Writes line `i` (0..line_count) of the copy to `*out`: its absolute number, cell count and
/// flags. Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE, _INVALID_ARGUMENT (`i` out
/// of range).
///
/// # Safety
/// `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_scrollback_line_info(
    lines: *const MoshkitScrollbackLines,
    i: usize,
    out: *mut MoshkitScrollbackLineInfo,
) -> MoshkitStatus {
    call(|| {
        let copy = lines_of(lines)?;
        let l = copy.line(i)?;
        let info = MoshkitScrollbackLineInfo {
            index: l.index,
            cell_count: u16::try_from(l.cells.len()).unwrap_or(u16::MAX),
            wrapped: l.wrapped,
            gap_before: l.gap_before,
            missing: l.missing,
        };
        // SAFETY: forwarded caller contract.
        unsafe { write_out(out, "out", info) }
    })
}

/// Writes cell `col` of line `i` of the copy to `*out`; its text is owned by the copy, valid
/// until `moshkit_scrollback_free`. Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE,
/// _INVALID_ARGUMENT (`i` or `col` out of range).
///
/// # Safety
/// `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_scrollback_cell(
    lines: *const MoshkitScrollbackLines,
    i: usize,
    col: u16,
    out: *mut MoshkitCell,
) -> MoshkitStatus {
    call(|| {
        let copy = lines_of(lines)?;
        let l = copy.line(i)?;
        let texts = copy.texts.get(i).map_or(&[][..], Vec::as_slice);
        let cell = c_cell(&l.cells, texts, col)?;
        // SAFETY: forwarded caller contract.
        unsafe { write_out(out, "out", cell) }
    })
}

/// Copies the text of line `i` of the copy (its cells' text joined, trailing blanks kept;
/// NUL-terminated UTF-8) into `buf` (`capacity` bytes), truncating like snprintf (possibly
/// inside a UTF-8 sequence), and writes its full length in bytes (without the NUL) to `*len`
/// if `len` is not NULL. Returns MOSHKIT_STATUS_OK, _BUFFER_TOO_SMALL (truncated; `buf` may be
/// NULL with `capacity` 0 for a length query), _NULL_POINTER, _INVALID_HANDLE,
/// _INVALID_ARGUMENT (`i` out of range).
///
/// # Safety
/// `buf` is NULL or valid for writing `capacity` bytes; `len` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_scrollback_line_text(
    lines: *const MoshkitScrollbackLines,
    i: usize,
    buf: *mut c_char,
    capacity: usize,
    len: *mut usize,
) -> MoshkitStatus {
    call(|| {
        let copy = lines_of(lines)?;
        let l = copy.line(i)?;
        // SAFETY: forwarded caller contract.
        unsafe { write_row_text(&l.cells, buf, capacity, len) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c_session::*;

    const KEY: &std::ffi::CStr = c"AAAAAAAAAAAAAAAAAAAAAA";

    /// A session to the discard port on loopback (nothing answers: fine for these checks).
    fn connect(options: Option<&MoshkitSessionOptions>) -> (MoshkitStatus, *mut MoshkitSession) {
        let mut out = std::ptr::null_mut();
        // SAFETY: valid strings, NULL callbacks, options NULL or valid, valid out pointer.
        let st = unsafe {
            moshkit_session_connect_with_options(
                c"127.0.0.1".as_ptr(),
                9,
                KEY.as_ptr(),
                80,
                24,
                0,
                std::ptr::null(),
                options.map_or(std::ptr::null(), |o| o as *const _),
                &mut out,
            )
        };
        (st, out)
    }

    fn mode(s: *const MoshkitSession) -> (MoshkitStatus, MoshkitScrollbackMode) {
        let mut mode = MoshkitScrollbackMode::Exact;
        // SAFETY: valid out pointer.
        let st = unsafe { moshkit_session_scrollback_mode(s, &mut mode) };
        (st, mode)
    }

    #[test]
    fn before_any_screen_and_turned_off() {
        let (st, s) = connect(None);
        assert_eq!(st, MoshkitStatus::Ok);
        assert_eq!(
            mode(s),
            (MoshkitStatus::Ok, MoshkitScrollbackMode::Captured)
        );
        let (mut first, mut end) = (9, 9);
        // SAFETY: valid out pointers.
        let st = unsafe { moshkit_session_scrollback_range(s, &mut first, &mut end) };
        assert_eq!((st, first, end), (MoshkitStatus::Ok, 0, 0));
        let mut copy = std::ptr::null_mut();
        // SAFETY: valid out pointer.
        let st = unsafe { moshkit_session_scrollback_lines(s, 0, u32::MAX, &mut copy) };
        assert_eq!(st, MoshkitStatus::Ok);
        let mut n = 9;
        // SAFETY: valid out pointer.
        let st = unsafe { moshkit_scrollback_line_count(copy, &mut n) };
        assert_eq!((st, n), (MoshkitStatus::Ok, 0));
        let mut info = std::mem::MaybeUninit::uninit();
        // SAFETY: valid out pointer; line 0 of an empty copy is out of range.
        let st = unsafe { moshkit_scrollback_line_info(copy, 0, info.as_mut_ptr()) };
        assert_eq!(st, MoshkitStatus::InvalidArgument);
        assert_eq!(moshkit_scrollback_free(copy), MoshkitStatus::Ok);
        assert_eq!(
            moshkit_session_request_scrollback(s, 0, 10),
            MoshkitStatus::ScrollbackNotServed
        );
        assert_eq!(
            moshkit_session_request_scrollback(s, 10, 0),
            MoshkitStatus::InvalidRange
        );
        assert_eq!(moshkit_session_close(s), MoshkitStatus::Ok);
        assert_eq!(
            moshkit_session_request_scrollback(s, 0, 10),
            MoshkitStatus::Closed
        );
        assert_eq!(moshkit_session_free(s), MoshkitStatus::Ok);
        assert_eq!(mode(s).0, MoshkitStatus::InvalidHandle);

        let off = MoshkitSessionOptions {
            struct_size: std::mem::size_of::<MoshkitSessionOptions>(),
            scrollback_lines: 0,
        };
        let (st, s) = connect(Some(&off));
        assert_eq!(st, MoshkitStatus::Ok);
        assert_eq!(mode(s), (MoshkitStatus::Ok, MoshkitScrollbackMode::Off));
        assert_eq!(
            moshkit_session_request_scrollback(s, 0, 10),
            MoshkitStatus::ScrollbackNotServed
        );
        assert_eq!(moshkit_session_free(s), MoshkitStatus::Ok);
    }

    #[test]
    fn options_struct_size_is_checked() {
        let bad = MoshkitSessionOptions {
            struct_size: 4,
            scrollback_lines: 0,
        };
        let (st, s) = connect(Some(&bad));
        assert_eq!(st, MoshkitStatus::InvalidArgument);
        assert!(s.is_null());
    }
}
