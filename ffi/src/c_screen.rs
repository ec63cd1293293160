//! The screen part of the C ABI: the `MoshkitScreen` snapshots that
//! `moshkit_session_pull_changes` / `moshkit_session_snapshot` return, and their getters
//! (`moshkit_screen_*`): sizes, rows, cells with colours and attributes, row text.

use std::ffi::{CString, c_char};
use std::sync::Arc;

use crate::c_api::{CError, MoshkitStatus, call, null_error, write_out};
use crate::cstr::{c_string_lossy, copy_nul_terminated};
use crate::handles::HandleRegistry;
use crate::screen::{Cell, CellColor, ScreenUpdate};

/// A screen update (opaque): what `moshkit_session_pull_changes` / `moshkit_session_snapshot`
/// return. Read it with the `moshkit_screen_*` getters, release it with `moshkit_screen_free`.
/// Immutable, so it may be read from any thread.
#[derive(Debug)]
pub struct MoshkitScreen(());

pub(crate) static SCREENS: HandleRegistry<CScreen> = HandleRegistry::new();

/// Kind of a MoshkitColor.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoshkitColorKind {
    /// The terminal's default foreground or background.
    Default = 0,
    /// A 256-colour palette index, in `index`.
    Indexed = 1,
    /// A 24-bit colour, in `r`, `g`, `b`.
    Rgb = 2,
}

/// A cell colour.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoshkitColor {
    /// Which of the fields below apply.
    pub kind: MoshkitColorKind,
    /// Palette index (MOSHKIT_COLOR_KIND_INDEXED).
    pub index: u8,
    /// Red (MOSHKIT_COLOR_KIND_RGB).
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

impl From<CellColor> for MoshkitColor {
    fn from(c: CellColor) -> Self {
        let (kind, index, r, g, b) = match c {
            CellColor::Default => (MoshkitColorKind::Default, 0, 0, 0, 0),
            CellColor::Indexed { index } => (MoshkitColorKind::Indexed, index, 0, 0, 0),
            CellColor::Rgb { r, g, b } => (MoshkitColorKind::Rgb, 0, r, g, b),
        };
        MoshkitColor {
            kind,
            index,
            r,
            g,
            b,
        }
    }
}

pub use crate::attrs::{
    MOSHKIT_ATTR_BLINK, MOSHKIT_ATTR_BOLD, MOSHKIT_ATTR_FAINT, MOSHKIT_ATTR_INVERSE,
    MOSHKIT_ATTR_INVISIBLE, MOSHKIT_ATTR_ITALIC, MOSHKIT_ATTR_STRIKEOUT, MOSHKIT_ATTR_UNDERLINE,
};

/// One cell of a screen update.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MoshkitCell {
    /// The grapheme as NUL-terminated UTF-8 (a space for an empty cell, "" for the right half
    /// of a wide character); owned by the screen, valid until `moshkit_screen_free`.
    pub text: *const c_char,
    /// Columns it occupies: 1, 2 (wide) or 0 (right half of a wide character).
    pub width: u8,
    /// MOSHKIT_ATTR_* bits.
    pub attrs: u8,
    /// Whether the cell shows a prediction (local echo not yet confirmed).
    pub predicted: bool,
    /// Foreground colour.
    pub fg: MoshkitColor,
    /// Background colour.
    pub bg: MoshkitColor,
}

/// The summary of a screen update.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MoshkitScreenInfo {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// Whether every row is included (first pull, size change, snapshot): repaint everything.
    pub full: bool,
    /// How many rows changed (index them 0..changed_row_count with the row getters).
    pub changed_row_count: usize,
    /// Cursor row.
    pub cursor_row: u16,
    /// Cursor column.
    pub cursor_col: u16,
    /// Whether the application shows the cursor.
    pub cursor_visible: bool,
    /// Whether the cursor position is a prediction.
    pub cursor_predicted: bool,
    /// How many times the bell has rung in this session.
    pub bell_count: u64,
    /// The window title (NUL-terminated UTF-8, owned by the screen).
    pub title: *const c_char,
    /// The notification bar's text, or NULL when none is shown (owned by the screen).
    pub notification: *const c_char,
}

/// A screen update with its strings as C strings.
pub(crate) struct CScreen {
    update: ScreenUpdate,
    texts: Vec<Vec<CString>>,
    title: CString,
    notification: Option<CString>,
}

impl CScreen {
    pub(crate) fn new(update: ScreenUpdate) -> CScreen {
        CScreen {
            texts: update
                .changed_rows
                .iter()
                .map(|r| cell_texts(&r.cells))
                .collect(),
            title: c_string_lossy(update.title.as_str()),
            notification: update.notification.as_deref().map(c_string_lossy),
            update,
        }
    }
}

/// The C strings of a row's cells (for [`c_cell`]).
pub(crate) fn cell_texts(cells: &[Cell]) -> Vec<CString> {
    cells
        .iter()
        .map(|c| c_string_lossy(c.text.as_str()))
        .collect()
}

/// Cell `col` of a row for C, its text pointing into `texts` (from [`cell_texts`]).
pub(crate) fn c_cell(cells: &[Cell], texts: &[CString], col: u16) -> Result<MoshkitCell, CError> {
    let col = usize::from(col);
    let (Some(c), Some(text)) = (cells.get(col), texts.get(col)) else {
        return Err(CError::new(
            MoshkitStatus::InvalidArgument,
            format!("column {col} out of range (the row has {})", cells.len()),
        ));
    };
    Ok(MoshkitCell {
        text: text.as_ptr(),
        width: c.width,
        attrs: c.attrs,
        predicted: c.predicted,
        fg: c.fg.into(),
        bg: c.bg.into(),
    })
}

/// The end of every "row text into the caller's buffer" call: copies the text of `cells`
/// (joined) into `buf` like snprintf and writes its full length to `*len` if `len` is not
/// NULL; MOSHKIT_STATUS_BUFFER_TOO_SMALL when truncated.
///
/// # Safety
/// `buf` is NULL or valid for writing `capacity` bytes; `len` is NULL or valid for writing.
pub(crate) unsafe fn write_row_text(
    cells: &[Cell],
    buf: *mut c_char,
    capacity: usize,
    len: *mut usize,
) -> Result<(), CError> {
    let text: String = cells.iter().map(|c| c.text.as_str()).collect();
    let bytes = text.as_bytes();
    if buf.is_null() && capacity > 0 {
        return Err(null_error("buf"));
    }
    if !len.is_null() {
        // SAFETY: forwarded caller contract.
        unsafe { len.write(bytes.len()) };
    }
    // SAFETY: buf is NULL only with capacity 0 (checked above), else valid for `capacity`
    // bytes, and cannot overlap the fresh `bytes`.
    unsafe { copy_nul_terminated(bytes, buf, capacity) };
    if bytes.len() >= capacity {
        return Err(CError::new(
            MoshkitStatus::BufferTooSmall,
            format!("the row needs {} bytes and a NUL", bytes.len()),
        ));
    }
    Ok(())
}

pub(crate) fn screen(s: *const MoshkitScreen) -> Result<Arc<CScreen>, CError> {
    SCREENS.get_ptr(s).map_err(CError::from)
}

/// Releases a screen (its strings become invalid). A second free is
/// MOSHKIT_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn moshkit_screen_free(screen: *mut MoshkitScreen) -> MoshkitStatus {
    call(|| {
        SCREENS.remove_ptr(screen)?;
        Ok(())
    })
}

/// Writes the screen's summary (size, changed row count, cursor, title, ...) to `*out`.
/// Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE.
///
/// # Safety
/// `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_screen_info(
    screen: *const MoshkitScreen,
    out: *mut MoshkitScreenInfo,
) -> MoshkitStatus {
    call(|| {
        let s = self::screen(screen)?;
        let u = &s.update;
        let info = MoshkitScreenInfo {
            cols: u.cols,
            rows: u.rows,
            full: u.full,
            changed_row_count: u.changed_rows.len(),
            cursor_row: u.cursor.row,
            cursor_col: u.cursor.col,
            cursor_visible: u.cursor.visible,
            cursor_predicted: u.cursor.predicted,
            bell_count: u.bell_count,
            title: s.title.as_ptr(),
            notification: s
                .notification
                .as_ref()
                .map_or(std::ptr::null(), |n| n.as_ptr()),
        };
        // SAFETY: forwarded caller contract. The strings live in the registry's CScreen until
        // moshkit_screen_free.
        unsafe { write_out(out, "out", info) }
    })
}

fn bad_row(i: usize, count: usize) -> CError {
    CError::new(
        MoshkitStatus::InvalidArgument,
        format!("changed row {i} out of range (the screen has {count})"),
    )
}

/// Writes the screen row index (from the top) of changed row `i` (0..changed_row_count) to
/// `*row`. Returns MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE, _INVALID_ARGUMENT.
///
/// # Safety
/// `row` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_screen_row_index(
    screen: *const MoshkitScreen,
    i: usize,
    row: *mut u16,
) -> MoshkitStatus {
    call(|| {
        let s = self::screen(screen)?;
        let rows = &s.update.changed_rows;
        let r = rows.get(i).ok_or_else(|| bad_row(i, rows.len()))?;
        // SAFETY: forwarded caller contract.
        unsafe { write_out(row, "row", r.index) }
    })
}

/// Writes cell `col` of changed row `i` to `*out`; its text is owned by the screen. Returns
/// MOSHKIT_STATUS_OK, _NULL_POINTER, _INVALID_HANDLE, _INVALID_ARGUMENT (`i` or `col` out of
/// range).
///
/// # Safety
/// `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_screen_cell(
    screen: *const MoshkitScreen,
    i: usize,
    col: u16,
    out: *mut MoshkitCell,
) -> MoshkitStatus {
    call(|| {
        let s = self::screen(screen)?;
        let rows = &s.update.changed_rows;
        let r = rows.get(i).ok_or_else(|| bad_row(i, rows.len()))?;
        let texts = s.texts.get(i).map_or(&[][..], Vec::as_slice);
        let cell = c_cell(&r.cells, texts, col)?;
        // SAFETY: forwarded caller contract.
        unsafe { write_out(out, "out", cell) }
    })
}

/// Copies the text of changed row `i` (its cells' text joined, NUL-terminated UTF-8) into
/// `buf` (`capacity` bytes), truncating like snprintf (possibly inside a UTF-8 sequence), and
/// writes its full length in bytes (without the NUL) to `*len` if `len` is not NULL. Returns
/// MOSHKIT_STATUS_OK, _BUFFER_TOO_SMALL (truncated; `buf` may be NULL with `capacity` 0 for a
/// length query), _NULL_POINTER, _INVALID_HANDLE, _INVALID_ARGUMENT.
///
/// # Safety
/// `buf` is NULL or valid for writing `capacity` bytes; `len` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn moshkit_screen_row_text(
    screen: *const MoshkitScreen,
    i: usize,
    buf: *mut c_char,
    capacity: usize,
    len: *mut usize,
) -> MoshkitStatus {
    call(|| {
        let s = self::screen(screen)?;
        let rows = &s.update.changed_rows;
        let r = rows.get(i).ok_or_else(|| bad_row(i, rows.len()))?;
        // SAFETY: forwarded caller contract.
        unsafe { write_row_text(&r.cells, buf, capacity, len) }
    })
}
