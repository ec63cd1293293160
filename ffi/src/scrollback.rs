//! The client's scrollback as the uniffi API hands it to Kotlin and Swift: the lines that
//! scrolled off the top of the screen, numbered absolutely from the start of the session, in
//! the cell model of the screen ([`Cell`]).

use moshkit_core::scrollback as core_scrollback;

use crate::screen::Cell;

/// Most lines one `scrollback_lines` call returns (a larger `count` is capped), so that an
/// app cannot ask for gigabytes at once: page through longer ranges.
pub const MAX_SCROLLBACK_LINES_PER_CALL: u32 = 10_000;

/// Lines of scrollback a session keeps unless told otherwise.
pub const DEFAULT_SCROLLBACK_LINES: u32 = 10_000;

// The documented defaults are core's.
const _: () =
    assert!(DEFAULT_SCROLLBACK_LINES as usize == core_scrollback::DEFAULT_SCROLLBACK_LINES);

/// The absolute numbers of the scrollback lines held: `first..end` (oldest first; empty when
/// `first == end`). Numbers never change: a line keeps its number while it is held, and the
/// oldest lines are dropped (`first` grows) beyond the session's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Record)]
pub struct ScrollbackRange {
    /// The oldest line held.
    pub first: u64,
    /// One past the newest line held.
    pub end: u64,
}

/// Where the session's scrollback comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum ScrollbackMode {
    /// Captured from the screens received (any server, e.g. upstream `mosh-server`): best
    /// effort, since mosh may skip screens during fast output; such places are marked
    /// `gap_before`. Nothing can be requested.
    Captured,
    /// A MoshKit server's own scrollback: every line, some possibly `missing` until fetched
    /// with `request_scrollback`.
    Exact,
    /// Turned off (`scrollback_lines` 0).
    Off,
}

impl From<core_scrollback::ScrollbackMode> for ScrollbackMode {
    fn from(m: core_scrollback::ScrollbackMode) -> Self {
        match m {
            core_scrollback::ScrollbackMode::Captured => ScrollbackMode::Captured,
            core_scrollback::ScrollbackMode::Exact => ScrollbackMode::Exact,
            core_scrollback::ScrollbackMode::Off => ScrollbackMode::Off,
        }
    }
}

/// One line of scrollback.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ScrollbackLine {
    /// Absolute line number (from the start of the session).
    pub index: u64,
    /// Its cells, left to right: as many as the screen had columns when it scrolled off
    /// (empty when `missing`).
    pub cells: Vec<Cell>,
    /// Whether the line continues on the next one (wrapped, not ended by a newline).
    pub wrapped: bool,
    /// Captured scrollback only: lines may be missing just before this one (the screen changed
    /// in a way that is not a scroll, e.g. more than a screenful arrived between two frames).
    pub gap_before: bool,
    /// Exact scrollback only: the server has this line but it has not been fetched yet (ask
    /// with `request_scrollback`); `cells` is empty.
    pub missing: bool,
}

impl ScrollbackLine {
    /// The line's text (the cells' text joined; trailing blanks kept).
    pub fn text(&self) -> String {
        self.cells.iter().map(|c| c.text.as_str()).collect()
    }
}

impl From<core_scrollback::ScrollbackLine> for ScrollbackLine {
    fn from(l: core_scrollback::ScrollbackLine) -> Self {
        ScrollbackLine {
            index: l.index,
            cells: l.cells.into_iter().map(Cell::from).collect(),
            wrapped: l.wrapped,
            gap_before: l.gap_before,
            missing: l.missing,
        }
    }
}

/// Up to `count` (capped at [`MAX_SCROLLBACK_LINES_PER_CALL`]) lines of `scrollback` from line
/// `from` on, only those held.
pub(crate) fn lines(
    scrollback: &core_scrollback::Scrollback,
    from: u64,
    count: u32,
) -> Vec<ScrollbackLine> {
    let count = count.min(MAX_SCROLLBACK_LINES_PER_CALL) as usize;
    scrollback
        .lines(from, count)
        .into_iter()
        .map(ScrollbackLine::from)
        .collect()
}
