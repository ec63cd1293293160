//! Scrollback: the lines that scrolled off the top of the screen (see `docs/scrollback.md`).
//!
//! Lines are numbered from the start of the session (absolute numbers that never change), and
//! a [`Scrollback`] keeps the newest of them up to its limit. On the server it holds what
//! scrolled off the application's terminal; on the client it is either captured from the
//! screens the client receives (any server: best effort) or filled from a MoshKit server's
//! own scrollback (exact: a line it does not have yet is [`ScrollbackLine::missing`] until
//! fetched).

mod capture;
pub(crate) mod client;
mod line;

use std::collections::VecDeque;
use std::ops::Range;

use crate::session::ScreenCell;

pub(crate) use capture::{TopChange, detect_scroll};
pub(crate) use client::ClientScrollback;
pub use client::{ScrollbackError, ScrollbackMode};
pub use line::LineError;
pub(crate) use line::StoredLine;

/// Lines kept when the embedder does not say otherwise.
pub const DEFAULT_SCROLLBACK_LINES: usize = 10_000;
/// Largest limit accepted (the memory bound of a hostile or careless configuration).
pub const MAX_SCROLLBACK_LINES: usize = 1_000_000;

/// One line of scrollback, in the cell model of the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrollbackLine {
    /// Absolute line number.
    pub index: u64,
    /// Its cells, left to right: as many as the screen had columns when it scrolled off.
    pub cells: Vec<ScreenCell>,
    /// Whether the line continues on the next one (it was wrapped, not ended by a newline).
    pub wrapped: bool,
    /// Best-effort capture only: lines may be missing just before this one (the screen
    /// changed in a way that is not a scroll, e.g. more than a screenful of output arrived
    /// between two frames).
    pub gap_before: bool,
    /// Exact scrollback only: the server has this line but it has not been fetched yet (ask
    /// with `ClientSession::request_scrollback`); `cells` is empty.
    pub missing: bool,
}

#[derive(Debug, Clone)]
enum Slot {
    Line { line: StoredLine, gap_before: bool },
    Missing,
}

/// A bounded ring of scrollback lines with absolute numbers.
#[derive(Debug, Clone)]
pub struct Scrollback {
    slots: VecDeque<Slot>,
    /// Absolute number of `slots[0]`.
    first: u64,
    limit: usize,
    heap: usize,
    /// The next pushed line gets `gap_before`.
    gap_pending: bool,
    /// How many times every line was dropped at once (ED 3, or a new numbering).
    clears: u64,
}

impl Scrollback {
    /// An empty scrollback keeping at most `limit` lines (clamped to
    /// [`MAX_SCROLLBACK_LINES`]; 0 keeps nothing).
    pub fn new(limit: usize) -> Self {
        Scrollback {
            slots: VecDeque::new(),
            first: 0,
            limit: limit.min(MAX_SCROLLBACK_LINES),
            heap: 0,
            gap_pending: false,
            clears: 0,
        }
    }

    /// How many times the scrollback was emptied at once (the application erased it with ED 3,
    /// or the client switched to the server's numbering); a terminal showing these lines
    /// should drop what it shows when this changes.
    pub fn clear_count(&self) -> u64 {
        self.clears
    }

    /// The line limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Absolute numbers of the lines held, oldest first.
    pub fn range(&self) -> Range<u64> {
        self.first..self.end()
    }

    /// One past the newest line.
    pub fn end(&self) -> u64 {
        self.first + self.slots.len() as u64
    }

    /// Lines held (missing ones included).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no line is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Line `index`, if held.
    pub fn line(&self, index: u64) -> Option<ScrollbackLine> {
        let slot = self.slot(index)?;
        Some(match slot {
            Slot::Line { line, gap_before } => ScrollbackLine {
                index,
                cells: line.cells(),
                wrapped: line.wrapped(),
                gap_before: *gap_before,
                missing: false,
            },
            Slot::Missing => ScrollbackLine {
                index,
                cells: Vec::new(),
                wrapped: false,
                gap_before: false,
                missing: true,
            },
        })
    }

    /// Up to `count` lines from `from` on (only those held).
    pub fn lines(&self, from: u64, count: usize) -> Vec<ScrollbackLine> {
        let from = from.max(self.first);
        let to = from.saturating_add(count as u64).min(self.end());
        (from..to).filter_map(|i| self.line(i)).collect()
    }

    /// Number of missing lines in `range`.
    pub fn missing_in(&self, range: Range<u64>) -> usize {
        let from = range.start.max(self.first);
        let to = range.end.min(self.end());
        (from..to)
            .filter(|&i| matches!(self.slot(i), Some(Slot::Missing)))
            .count()
    }

    /// Heap bytes held by the lines and the ring (the memory figure of `docs/benchmarks.md`).
    pub fn heap_bytes(&self) -> usize {
        self.heap + self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    fn slot(&self, index: u64) -> Option<&Slot> {
        let i = usize::try_from(index.checked_sub(self.first)?).ok()?;
        self.slots.get(i)
    }

    pub(crate) fn stored(&self, index: u64) -> Option<&StoredLine> {
        match self.slot(index)? {
            Slot::Line { line, .. } => Some(line),
            Slot::Missing => None,
        }
    }

    pub(crate) fn is_missing(&self, index: u64) -> bool {
        matches!(self.slot(index), Some(Slot::Missing))
    }

    /// Room for one more slot, never beyond the limit (plain doubling would reach 16 384
    /// slots for a 10 000 line limit).
    fn grow(&mut self) {
        let (len, cap) = (self.slots.len(), self.slots.capacity());
        if len == cap {
            let want = (cap * 2).max(16).min(self.limit.max(1));
            self.slots.reserve_exact(want.saturating_sub(len).max(1));
        }
    }

    fn evict(&mut self) {
        while self.slots.len() > self.limit {
            if let Some(Slot::Line { line, .. }) = self.slots.pop_front() {
                self.heap -= line.heap_bytes();
            }
            self.first += 1;
        }
    }

    /// Appends a line as the newest.
    pub(crate) fn push(&mut self, line: StoredLine) {
        if self.limit == 0 {
            self.first += 1;
            return;
        }
        self.heap += line.heap_bytes();
        let gap_before = std::mem::take(&mut self.gap_pending);
        self.grow();
        self.slots.push_back(Slot::Line { line, gap_before });
        self.evict();
    }

    /// Marks that lines may have been lost before the next pushed one.
    pub(crate) fn mark_gap(&mut self) {
        if !self.slots.is_empty() {
            self.gap_pending = true;
        }
    }

    /// Extends the ring to `end` with missing lines (exact mode: the server has more).
    pub(crate) fn extend_missing(&mut self, end: u64) {
        let n = end.saturating_sub(self.end());
        if n >= self.limit as u64 {
            // Every slot held would be evicted: start at the newest `limit` (not a clear).
            let first = end.saturating_sub(self.limit as u64);
            self.slots.clear();
            self.heap = 0;
            self.first = first.max(self.first);
        }
        while self.end() < end {
            self.grow();
            self.slots.push_back(Slot::Missing);
            self.evict();
        }
    }

    /// Stores line `index` if it is held as missing (or replaces it; lines never change once
    /// scrolled off, so this is idempotent). Returns whether it was missing.
    pub(crate) fn fill(&mut self, index: u64, line: StoredLine) -> bool {
        let Some(i) = index
            .checked_sub(self.first)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return false;
        };
        let Some(slot) = self.slots.get_mut(i) else {
            return false;
        };
        let was_missing = matches!(slot, Slot::Missing);
        if let Slot::Line { line: old, .. } = slot {
            self.heap -= old.heap_bytes();
        }
        self.heap += line.heap_bytes();
        *slot = Slot::Line {
            line,
            gap_before: false,
        };
        was_missing
    }

    /// Drops every line; numbering goes on from `end`.
    pub(crate) fn clear_to(&mut self, end: u64) {
        self.clears += 1;
        self.slots.clear();
        self.heap = 0;
        self.first = end.max(self.end());
        self.gap_pending = false;
    }

    /// Every slot, oldest first: the line (`None` when missing) and its gap flag.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (Option<&StoredLine>, bool)> {
        self.slots.iter().map(|s| match s {
            Slot::Line { line, gap_before } => (Some(line), *gap_before),
            Slot::Missing => (None, false),
        })
    }

    /// Appends a slot as saved by [`Scrollback::slots`].
    pub(crate) fn push_slot(&mut self, line: Option<StoredLine>, gap_before: bool) {
        match line {
            Some(line) => {
                self.gap_pending = gap_before;
                self.push(line);
            }
            None => {
                self.grow();
                self.slots.push_back(Slot::Missing);
                self.evict();
            }
        }
    }

    /// Drops every line; the next pushed line is number `first`.
    pub(crate) fn reset(&mut self, first: u64) {
        self.clears += 1;
        self.slots.clear();
        self.heap = 0;
        self.first = first;
        self.gap_pending = false;
    }

    /// Drops every line held (xterm's ED 3); numbering continues.
    pub fn clear(&mut self) {
        self.clear_to(self.end());
    }

    /// Drops lines older than `first` (the server no longer has them and they are missing).
    pub(crate) fn drop_missing_before(&mut self, first: u64) {
        while self.first < first && matches!(self.slots.front(), Some(Slot::Missing)) {
            self.slots.pop_front();
            self.first += 1;
        }
    }
}

/// Feeds arbitrary host diffs to a client's scrollback, as a fuzzer does (feature
/// `internals`): each diff is applied to the host state the client holds (refused ones are
/// skipped, as the transport would), the client's scrollback takes the new state, asks for
/// what it lacks now and then, and is saved and rebuilt at the end; every line is read back.
/// Returns the number of lines read.
#[cfg(feature = "internals")]
pub fn fuzz_client_diffs(diffs: &[&[u8]]) -> usize {
    use crate::state::SyncState as _;
    let Ok(mut state) = crate::session::HostState::new(80, 24) else {
        return 0;
    };
    let mut client = ClientScrollback::new(1000, 100, client::FIRST_REQUEST_ID);
    for (i, diff) in diffs.iter().enumerate() {
        let mut next = state.clone();
        if next.apply_diff(diff).is_ok() {
            state = next;
        }
        let _ = client.on_remote_state(&state);
        if i % 3 == 0 {
            let r = client.ring.range();
            let _ = client.request(r.start, r.end.max(r.start + 1));
        }
        let _ = client.take_completed();
    }
    let restored = ClientScrollback::from_saved(&client.to_saved());
    let r = client.ring.range();
    let lines = client.ring.lines(r.start, 2000);
    // The bound holds whatever the server says.
    assert!(client.ring.len() <= 1000, "scrollback beyond its limit");
    assert!(
        lines
            .iter()
            .all(|l| l.cells.len() <= crate::terminal::MAX_WIDTH)
    );
    lines.len() + restored.map_or(0, |c| c.ring.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::terminal::{Attrs, Color, Terminal};

    fn line_of(bytes: &[u8], cols: usize) -> StoredLine {
        let mut t = Terminal::new(cols, 2).unwrap();
        t.feed(bytes);
        let fb = t.framebuffer();
        StoredLine::from_row(fb, fb.row(0).unwrap())
    }

    fn text(l: &ScrollbackLine) -> String {
        l.cells
            .iter()
            .map(|c| c.text.as_str())
            .collect::<String>()
            .trim_end()
            .to_owned()
    }

    #[test]
    fn bounded_with_absolute_numbers() {
        let mut s = Scrollback::new(3);
        for i in 0..5 {
            s.push(line_of(format!("line {i}").as_bytes(), 10));
        }
        assert_eq!(s.range(), 2..5);
        assert_eq!(text(&s.line(2).unwrap()), "line 2");
        assert!(s.line(1).is_none());
        assert_eq!(s.lines(0, 10).len(), 3);
        assert_eq!(s.lines(4, 10).len(), 1);
        let before = s.heap_bytes();
        s.clear();
        assert!(s.is_empty());
        assert!(s.heap_bytes() < before);
        s.push(line_of(b"after", 10));
        assert_eq!(s.range(), 5..6);
        assert_eq!(Scrollback::new(0).limit(), 0);
        let mut none = Scrollback::new(0);
        none.push(line_of(b"x", 4));
        assert!(none.is_empty());
    }

    #[test]
    fn wide_wrapped_and_attributes_survive() {
        let mut s = Scrollback::new(10);
        let mut t = Terminal::new(6, 3).unwrap();
        t.feed("\x1b[1;4;32mab\u{4e2d}cd\x1b[0mef".as_bytes());
        let fb = t.framebuffer();
        s.push(StoredLine::from_row(fb, fb.row(0).unwrap()));
        let l = s.line(0).unwrap();
        assert!(l.wrapped);
        assert_eq!(l.cells.len(), 6);
        assert_eq!(l.cells[2].text, "\u{4e2d}");
        assert_eq!(l.cells[2].width, 2);
        assert_eq!(l.cells[3].width, 0);
        assert_eq!(l.cells[0].fg, Color::Indexed(2));
        assert!(
            l.cells[0]
                .attrs
                .contains(Attrs::BOLD.union(Attrs::UNDERLINE))
        );
        assert!(!l.missing && !l.gap_before);
    }

    #[test]
    fn missing_lines_fill_and_gaps_mark() {
        let mut s = Scrollback::new(100);
        s.push(line_of(b"a", 4));
        s.extend_missing(5);
        assert_eq!(s.range(), 0..5);
        assert_eq!(s.missing_in(0..5), 4);
        assert!(s.line(3).unwrap().missing);
        assert!(s.fill(3, line_of(b"d", 4)));
        assert!(!s.fill(3, line_of(b"d", 4)));
        assert!(!s.fill(99, line_of(b"z", 4)));
        assert_eq!(s.missing_in(0..5), 3);
        s.mark_gap();
        s.push(line_of(b"f", 4));
        assert!(s.line(5).unwrap().gap_before);
        // A jump beyond the limit keeps only the newest `limit` slots.
        s.extend_missing(1_000_000);
        assert_eq!(s.range(), 999_900..1_000_000);
        s.drop_missing_before(999_950);
        assert_eq!(s.range(), 999_950..1_000_000);
    }
}
