//! The framebuffer (§8.12): rows of cells, the draw state (cursor, margins, tabs, modes) and
//! the window-level state (titles, clipboard, bell).

use std::sync::Arc;

use super::cell::{
    Attrs, Cell, CellText, Color, FLAG_FALLBACK, FLAG_WIDE, INTERNED_BASE, Interner, Rendition, Row,
};
use super::width::char_width;
use super::{MAX_CELLS, MAX_HEIGHT, MAX_WIDTH, TerminalError};

/// Most bytes of combining marks kept in one cell (§8.10).
const MAX_GRAPHEME_BYTES: usize = 32;
/// Capacity of the grapheme table (distinct combined graphemes alive on one screen).
const GRAPHEME_TABLE_CAP: usize = 1 << 16;
/// Capacity of the hyperlink table.
const LINK_TABLE_CAP: usize = 4096;
/// Title and icon name keep at most this many code points (§8.9: payload position 256).
pub(crate) const TITLE_PAYLOAD_LIMIT: usize = 256;

/// A screen position, 0-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Point {
    /// Row (line) from the top.
    pub row: usize,
    /// Column from the left.
    pub col: usize,
}

/// Mouse reporting mode (DEC private modes 9, 1000–1003).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MouseMode {
    /// No reporting.
    #[default]
    None,
    /// X10 compatibility (mode 9).
    X10,
    /// Button press and release (1000).
    Normal,
    /// Highlight tracking (1001).
    Highlight,
    /// Button-event tracking (1002).
    ButtonEvent,
    /// Any-event tracking (1003).
    AnyEvent,
}

impl MouseMode {
    /// The DEC private mode number, `None` for [`MouseMode::None`].
    pub fn mode_number(self) -> Option<u16> {
        match self {
            MouseMode::None => None,
            MouseMode::X10 => Some(9),
            MouseMode::Normal => Some(1000),
            MouseMode::Highlight => Some(1001),
            MouseMode::ButtonEvent => Some(1002),
            MouseMode::AnyEvent => Some(1003),
        }
    }
}

/// Mouse report encoding (DEC private modes 1005, 1006, 1015).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MouseEncoding {
    /// X10 byte encoding.
    #[default]
    Default,
    /// UTF-8 (1005).
    Utf8,
    /// SGR (1006).
    Sgr,
    /// urxvt (1015).
    Urxvt,
}

impl MouseEncoding {
    /// The DEC private mode number, `None` for the default encoding.
    pub fn mode_number(self) -> Option<u16> {
        match self {
            MouseEncoding::Default => None,
            MouseEncoding::Utf8 => Some(1005),
            MouseEncoding::Sgr => Some(1006),
            MouseEncoding::Urxvt => Some(1015),
        }
    }
}

/// Terminal modes set by the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Modes {
    /// DECOM origin mode (not transmitted).
    pub origin: bool,
    /// DECAWM autowrap (not transmitted).
    pub autowrap: bool,
    /// IRM insert mode (not transmitted).
    pub insert: bool,
    /// DECTCEM cursor visible.
    pub cursor_visible: bool,
    /// DECSCNM reverse video.
    pub reverse_video: bool,
    /// Bracketed paste (2004).
    pub bracketed_paste: bool,
    /// Mouse reporting mode.
    pub mouse_mode: MouseMode,
    /// Mouse encoding.
    pub mouse_encoding: MouseEncoding,
    /// Focus in/out reporting (1004).
    pub focus_events: bool,
    /// Alternate scroll (1007).
    pub alternate_scroll: bool,
    /// DECCKM application cursor keys (only used by the user-input translator).
    pub application_cursor_keys: bool,
    /// DECKPAM application keypad (`ESC =` / `ESC >`; tracked only).
    pub application_keypad: bool,
}

impl Default for Modes {
    fn default() -> Self {
        Modes {
            origin: false,
            autowrap: true,
            insert: false,
            cursor_visible: true,
            reverse_video: false,
            bracketed_paste: false,
            mouse_mode: MouseMode::None,
            mouse_encoding: MouseEncoding::Default,
            focus_events: false,
            alternate_scroll: false,
            application_cursor_keys: false,
            application_keypad: false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct SavedCursor {
    pos: Point,
    rend: Rendition,
    autowrap: bool,
    origin: bool,
}

impl SavedCursor {
    fn initial() -> Self {
        SavedCursor {
            pos: Point::default(),
            rend: Rendition::default(),
            autowrap: true,
            origin: false,
        }
    }
}

/// Where a following combining mark goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GraphemeTarget {
    /// The cursor cell (after explicit motion).
    Cursor,
    /// The cell of the last printed character.
    Cell(Point),
    /// Invalidated by a resize: combining marks are dropped.
    Invalid,
}

/// The emulated screen. Cloning is cheap: rows are shared copy-on-write.
///
/// Equality follows upstream (§8.12, §7.4a): rows compared by drawn grapheme (an empty cell
/// equals a space), wide flag, rendition, wrap flag and hyperlink; plus window title,
/// clipboard, bell count, size, cursor position and visibility, reverse video, current
/// rendition, bracketed paste, mouse mode and encoding, focus events and alternate scroll.
/// Icon name, tab stops, margins, origin/insert/autowrap and DECCKM are not compared.
#[derive(Clone, Debug)]
pub struct Framebuffer {
    pub(crate) rows: Vec<Arc<Row>>,
    width: usize,
    height: usize,
    cursor: Point,
    pending_wrap: bool,
    target: GraphemeTarget,
    tabs: Vec<bool>,
    default_tabs: bool,
    top: usize,
    bottom: usize,
    rend: Rendition,
    link: u16,
    saved: SavedCursor,
    modes: Modes,
    title: String,
    icon_name: String,
    clipboard: String,
    bell_count: u64,
    title_initialized: bool,
    graphemes: Arc<Interner>,
    links: Arc<Interner>,
    /// The main screen's rows while the alternate screen is shown.
    saved_main: Option<Vec<Arc<Row>>>,
}

/// Printable code points of width 1 that need no lookup (§8.10).
#[inline]
fn is_simple_char(c: char) -> bool {
    matches!(c as u32, 0x20..=0x7e | 0xa0..=0xff)
}

fn check_size(width: usize, height: usize) -> Result<(), TerminalError> {
    if width == 0
        || height == 0
        || width > MAX_WIDTH
        || height > MAX_HEIGHT
        || width.saturating_mul(height) > MAX_CELLS
    {
        return Err(TerminalError::InvalidSize { width, height });
    }
    Ok(())
}

fn default_tab_stops(width: usize) -> Vec<bool> {
    (0..width).map(|c| c % 8 == 0).collect()
}

impl Framebuffer {
    /// A blank framebuffer of `width` columns and `height` rows.
    pub fn new(width: usize, height: usize) -> Result<Framebuffer, TerminalError> {
        check_size(width, height)?;
        Ok(Framebuffer {
            rows: (0..height)
                .map(|_| Arc::new(Row::new(width, Rendition::default())))
                .collect(),
            width,
            height,
            cursor: Point::default(),
            pending_wrap: false,
            target: GraphemeTarget::Cursor,
            tabs: default_tab_stops(width),
            default_tabs: true,
            top: 0,
            bottom: height - 1,
            rend: Rendition::default(),
            link: 0,
            saved: SavedCursor::initial(),
            modes: Modes::default(),
            title: String::new(),
            icon_name: String::new(),
            clipboard: String::new(),
            bell_count: 0,
            title_initialized: false,
            graphemes: Arc::default(),
            links: Arc::default(),
            saved_main: None,
        })
    }

    // ----- read access -------------------------------------------------------------------

    /// Columns.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Row `y`, if on screen.
    pub fn row(&self, y: usize) -> Option<&Row> {
        self.rows.get(y).map(|r| &**r)
    }
    /// All rows, top to bottom.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &Row> {
        self.rows.iter().map(|r| &**r)
    }
    /// The cell at `p`, if on screen.
    pub fn cell(&self, p: Point) -> Option<&Cell> {
        self.rows.get(p.row).and_then(|r| r.cells.get(p.col))
    }
    /// The text of a cell of this framebuffer.
    pub fn cell_text(&self, cell: &Cell) -> CellText<'_> {
        match cell.content {
            super::cell::EMPTY => CellText::Empty,
            c if c < INTERNED_BASE => char::from_u32(c).map_or(CellText::Empty, CellText::Char),
            c => self
                .graphemes
                .get(c - INTERNED_BASE)
                .map_or(CellText::Empty, CellText::Str),
        }
    }
    /// The hyperlink of a cell (`"params;uri"` as given to OSC 8), if any.
    pub fn hyperlink(&self, cell: &Cell) -> Option<&str> {
        if cell.link == 0 {
            None
        } else {
            self.links.get(u32::from(cell.link) - 1)
        }
    }
    /// One row as plain text (empty cells as spaces, wide characters once), without trailing
    /// spaces.
    pub fn row_text(&self, y: usize) -> String {
        let mut out = String::new();
        if let Some(row) = self.row(y) {
            let mut x = 0;
            while let Some(cell) = row.cells.get(x) {
                out.push_str(&self.cell_text(cell).to_string());
                x += cell.width();
            }
        }
        out.truncate(out.trim_end_matches(' ').len());
        out
    }
    /// Cursor position. While a wrap is pending the cursor stays on the last column.
    pub fn cursor(&self) -> Point {
        self.cursor
    }
    /// Whether the cursor is shown.
    pub fn cursor_visible(&self) -> bool {
        self.modes.cursor_visible
    }
    /// Whether the next printed character wraps to the next line first.
    pub fn wrap_pending(&self) -> bool {
        self.pending_wrap
    }
    /// The modes set by the application.
    pub fn modes(&self) -> &Modes {
        &self.modes
    }
    /// The current rendition (used for following text and, its background, for erasing).
    pub fn rendition(&self) -> Rendition {
        self.rend
    }
    /// Window title (OSC 0 / 2).
    pub fn title(&self) -> &str {
        &self.title
    }
    /// Icon name (OSC 0 / 1).
    pub fn icon_name(&self) -> &str {
        &self.icon_name
    }
    /// Whether a title or icon name was ever set (from then on titles are transmitted).
    pub fn title_initialized(&self) -> bool {
        self.title_initialized
    }
    /// Clipboard contents from OSC 52 (normally base64), verbatim.
    pub fn clipboard(&self) -> &str {
        &self.clipboard
    }
    /// Number of bells rung so far.
    pub fn bell_count(&self) -> u64 {
        self.bell_count
    }
    /// Scroll region: first and last row, inclusive.
    pub fn scroll_region(&self) -> (usize, usize) {
        (self.top, self.bottom)
    }
    /// Whether the alternate screen is shown (an extension, see `docs/terminal.md`).
    pub fn alternate_screen_active(&self) -> bool {
        self.saved_main.is_some()
    }
    /// Whether column `col` has a tab stop.
    pub fn is_tab_stop(&self, col: usize) -> bool {
        self.tabs.get(col).copied().unwrap_or(false)
    }

    /// Compares two cells, possibly of different framebuffers, with upstream's semantics.
    pub(crate) fn cells_equal(a: &Cell, fa: &Framebuffer, b: &Cell, fb: &Framebuffer) -> bool {
        if !a.same_rendition(b) || a.compared_flags() != b.compared_flags() {
            return false;
        }
        if (a.content != b.content || a.content >= INTERNED_BASE)
            && !fa.cell_text(a).same_drawn(&fb.cell_text(b))
        {
            return false;
        }
        if a.link != b.link || a.link != 0 {
            return fa.hyperlink(a) == fb.hyperlink(b);
        }
        true
    }

    /// Compares two rows (of possibly different framebuffers) cell by cell.
    pub(crate) fn rows_equal(ra: &Row, fa: &Framebuffer, rb: &Row, fb: &Framebuffer) -> bool {
        ra.cells.len() == rb.cells.len()
            && ra.cells.iter().zip(&rb.cells).all(|(a, b)| {
                (a == b && a.content < INTERNED_BASE && a.link == 0)
                    || Self::cells_equal(a, fa, b, fb)
            })
    }

    /// Equality ignoring the bell counter (the receiver of a diff only learns that the bell
    /// rang, not how often).
    pub fn eq_ignoring_bell(&self, other: &Framebuffer) -> bool {
        self.width == other.width
            && self.height == other.height
            && self.cursor == other.cursor
            && self.modes.cursor_visible == other.modes.cursor_visible
            && self.modes.reverse_video == other.modes.reverse_video
            && self.modes.bracketed_paste == other.modes.bracketed_paste
            && self.modes.mouse_mode == other.modes.mouse_mode
            && self.modes.mouse_encoding == other.modes.mouse_encoding
            && self.modes.focus_events == other.modes.focus_events
            && self.modes.alternate_scroll == other.modes.alternate_scroll
            && self.rend == other.rend
            && self.title == other.title
            && self.clipboard == other.clipboard
            && self
                .rows
                .iter()
                .zip(&other.rows)
                .all(|(a, b)| Arc::ptr_eq(a, b) || Self::rows_equal(a, self, b, other))
    }

    // ----- internal helpers ---------------------------------------------------------------

    pub(crate) fn erase_rend(&self) -> Rendition {
        Rendition::erased(self.rend.bg)
    }

    fn row_mut(&mut self, y: usize) -> Option<&mut Row> {
        self.rows.get_mut(y).map(Arc::make_mut)
    }

    /// Moves the cursor. Like upstream, every motion snaps the row into the limits (the
    /// scroll region in origin mode, else the screen) and the column onto the screen.
    pub(crate) fn set_cursor(&mut self, row: usize, col: usize) {
        let (lo, hi) = self.row_limits();
        self.cursor = Point {
            row: row.clamp(lo, hi),
            col: col.min(self.width - 1),
        };
        self.pending_wrap = false;
        self.target = GraphemeTarget::Cursor;
    }

    /// Row limits for cursor motion: the region in origin mode, else the screen.
    fn row_limits(&self) -> (usize, usize) {
        if self.modes.origin {
            (self.top, self.bottom)
        } else {
            (0, self.height - 1)
        }
    }

    pub(crate) fn clear_pending_wrap(&mut self) {
        self.pending_wrap = false;
    }

    // ----- cursor motion -------------------------------------------------------------------

    pub(crate) fn cursor_up(&mut self, n: usize) {
        let (lo, hi) = self.row_limits();
        let row = self.cursor.row.saturating_sub(n).clamp(lo, hi);
        self.set_cursor(row, self.cursor.col);
    }
    pub(crate) fn cursor_down(&mut self, n: usize) {
        let (lo, hi) = self.row_limits();
        let row = self.cursor.row.saturating_add(n).clamp(lo, hi);
        self.set_cursor(row, self.cursor.col);
    }
    pub(crate) fn cursor_right(&mut self, n: usize) {
        self.set_cursor(self.cursor.row, self.cursor.col.saturating_add(n));
    }
    pub(crate) fn cursor_left(&mut self, n: usize) {
        self.set_cursor(self.cursor.row, self.cursor.col.saturating_sub(n));
    }
    /// CUP: 0-based row (origin-relative in origin mode) and column.
    pub(crate) fn cursor_to(&mut self, row: usize, col: usize) {
        let (lo, hi) = self.row_limits();
        let row = lo.saturating_add(row).min(hi);
        self.set_cursor(row, col);
    }
    /// VPA.
    pub(crate) fn cursor_to_row(&mut self, row: usize) {
        self.cursor_to(row, self.cursor.col);
    }
    /// CHA.
    pub(crate) fn cursor_to_col(&mut self, col: usize) {
        self.set_cursor(self.cursor.row, col);
    }
    pub(crate) fn carriage_return(&mut self) {
        self.set_cursor(self.cursor.row, 0);
    }
    pub(crate) fn backspace(&mut self) {
        self.cursor_left(1);
    }

    /// IND / LF: returns whether the region scrolled.
    pub(crate) fn index(&mut self) -> bool {
        if self.cursor.row == self.bottom {
            self.scroll_up(1);
            self.set_cursor(self.cursor.row, self.cursor.col);
            true
        } else {
            self.set_cursor(self.cursor.row + 1, self.cursor.col);
            false
        }
    }
    /// RI.
    pub(crate) fn reverse_index(&mut self) {
        if self.cursor.row == self.top {
            self.scroll_down(1);
            self.set_cursor(self.cursor.row, self.cursor.col);
        } else {
            self.set_cursor(self.cursor.row.saturating_sub(1), self.cursor.col);
        }
    }
    /// NEL.
    pub(crate) fn next_line(&mut self) {
        self.carriage_return();
        self.index();
    }

    // ----- tabs -----------------------------------------------------------------------------

    pub(crate) fn tab_forward(&mut self, n: usize) {
        let pending = self.pending_wrap;
        let mut col = self.cursor.col;
        for _ in 0..n.min(self.width) {
            col = (col + 1..self.width)
                .find(|&c| self.tabs[c])
                .unwrap_or(self.width - 1);
        }
        self.set_cursor(self.cursor.row, col);
        self.pending_wrap = pending;
    }
    pub(crate) fn tab_backward(&mut self, n: usize) {
        let pending = self.pending_wrap;
        let mut col = self.cursor.col;
        for _ in 0..n.min(self.width) {
            col = (1..col).rev().find(|&c| self.tabs[c]).unwrap_or(0);
        }
        self.set_cursor(self.cursor.row, col);
        self.pending_wrap = pending;
    }
    pub(crate) fn set_tab_stop(&mut self) {
        if let Some(t) = self.tabs.get_mut(self.cursor.col) {
            *t = true;
        }
    }
    pub(crate) fn clear_tab_stop(&mut self, all: bool) {
        if all {
            self.tabs.fill(false);
            self.default_tabs = false;
        } else if let Some(t) = self.tabs.get_mut(self.cursor.col) {
            *t = false;
        }
    }

    // ----- printing --------------------------------------------------------------------------

    /// Makes the cells around `[col, col + w)` of `row` consistent before writing there: the
    /// left half of a wide character whose right half is overwritten is erased, and a wide
    /// character written over the left half of another erases that one's remains.
    fn prepare_write(row: &mut Row, col: usize, w: usize, erase: Rendition) {
        if col > 0 && row.cells.get(col - 1).is_some_and(Cell::is_wide) {
            row.cells[col - 1] = Cell::blank(erase);
        }
        if w == 2 {
            if let Some(next) = row.cells.get_mut(col + 1) {
                *next = Cell::blank(erase);
            }
        }
    }

    /// Prints a run of characters (the hot path).
    pub(crate) fn print_str(&mut self, chars: &[char]) {
        let mut i = 0;
        while i < chars.len() {
            // Fast path: narrow characters on one row without wrapping or inserting.
            let (lo, hi) = self.row_limits();
            if !self.pending_wrap && !self.modes.insert && (lo..=hi).contains(&self.cursor.row) {
                let (y, col) = (self.cursor.row, self.cursor.col);
                let room = (self.width - 1).saturating_sub(col);
                let rest = chars.get(i..).unwrap_or_default();
                let run = rest
                    .iter()
                    .take(room)
                    .take_while(|&&c| is_simple_char(c))
                    .count();
                if run > 0 {
                    let proto = Cell::new(0, self.rend, 0, self.link);
                    let erase = self.erase_rend();
                    if let Some(row) = self.rows.get_mut(y).map(Arc::make_mut) {
                        Self::prepare_write(row, col, 1, erase);
                        if let Some(dst) = row.cells.get_mut(col..col + run) {
                            for (cell, &c) in dst.iter_mut().zip(rest) {
                                *cell = proto.with_content(c as u32);
                            }
                        }
                    }
                    self.cursor.col = col + run;
                    self.target = GraphemeTarget::Cell(Point {
                        row: y,
                        col: col + run - 1,
                    });
                    i += run;
                    continue;
                }
            }
            if let Some(&c) = chars.get(i) {
                self.print(c);
                i += 1;
            }
        }
    }

    /// Prints one character (§8.10).
    pub(crate) fn print(&mut self, c: char) {
        let w = match char_width(c) {
            None => return,
            Some(0) => return self.combine(c),
            Some(w) => usize::from(w),
        };
        let width = self.width;
        if self.modes.autowrap && self.pending_wrap {
            self.wrap_line();
        } else if self.modes.autowrap && w == 2 && self.cursor.col + 1 >= width {
            let erase = self.erase_rend();
            let (y, x) = (self.cursor.row, self.cursor.col);
            if let Some(row) = self.row_mut(y) {
                Self::prepare_write(row, x, 1, erase);
                if let Some(cell) = row.cells.get_mut(x) {
                    *cell = Cell::blank(erase);
                }
                row.set_wrapped(false);
            }
            self.carriage_return();
            self.index();
        }
        if w == 2 && self.cursor.col + 1 >= width {
            // No room for a wide character (autowrap off, or a one-column screen).
            self.pending_wrap = false;
            return;
        }
        if self.modes.insert {
            self.insert_cells(w);
        }
        let (y, x) = (self.cursor.row, self.cursor.col);
        let erase = self.erase_rend();
        let cell = Cell::new(
            c as u32,
            self.rend,
            if w == 2 { FLAG_WIDE } else { 0 },
            self.link,
        );
        if let Some(row) = self.row_mut(y) {
            Self::prepare_write(row, x, w, erase);
            if let Some(slot) = row.cells.get_mut(x) {
                *slot = cell;
            }
        }
        self.target = GraphemeTarget::Cell(Point { row: y, col: x });
        self.advance(w);
    }

    fn advance(&mut self, w: usize) {
        let (lo, hi) = self.row_limits();
        self.cursor.row = self.cursor.row.clamp(lo, hi);
        if self.cursor.col + w >= self.width {
            self.cursor.col = self.width - 1;
            self.pending_wrap = true;
        } else {
            self.cursor.col += w;
            self.pending_wrap = false;
        }
    }

    /// Pending wrap: mark the row wrapped, go to column 0 of the next line (scrolling).
    fn wrap_line(&mut self) {
        let y = self.cursor.row;
        if let Some(row) = self.row_mut(y) {
            row.set_wrapped(true);
        }
        self.carriage_return();
        let scrolled = self.index();
        if !scrolled && self.cursor.row == y {
            // Nowhere to continue (bottom row outside the region): not a wrapped line.
            if let Some(row) = self.row_mut(y) {
                row.set_wrapped(false);
            }
        }
    }

    /// A zero-width character: append it to the grapheme cell (§8.10).
    fn combine(&mut self, c: char) {
        let p = match self.target {
            GraphemeTarget::Invalid => return,
            GraphemeTarget::Cursor => self.cursor,
            GraphemeTarget::Cell(p) => p,
        };
        let Some(cell) = self.cell(p).copied() else {
            return;
        };
        let mut text = String::new();
        let is_empty = cell.is_empty();
        if is_empty {
            text.push('\u{a0}');
        } else {
            text.push_str(&self.cell_text(&cell).to_string());
        }
        if text.len() >= MAX_GRAPHEME_BYTES && !is_empty {
            return;
        }
        text.push(c);
        let Some(id) = self.intern_grapheme(&text) else {
            return;
        };
        let erase = self.erase_rend();
        if let Some(row) = self.row_mut(p.row) {
            if is_empty {
                Self::prepare_write(row, p.col, 1, erase);
            }
            if let Some(slot) = row.cells.get_mut(p.col) {
                slot.content = INTERNED_BASE + id;
                if is_empty {
                    slot.flags |= FLAG_FALLBACK;
                }
            }
        }
        if is_empty {
            if p == self.cursor {
                self.target = GraphemeTarget::Cell(p);
                self.advance(1);
            } else {
                // Upstream advances the cursor even when the mark landed elsewhere.
                let cursor = self.cursor;
                let target = self.target;
                self.advance(1);
                if self.cursor == cursor && !self.pending_wrap {
                    self.target = target;
                }
            }
        }
    }

    fn intern_grapheme(&mut self, text: &str) -> Option<u32> {
        if let Some(id) = self.graphemes.lookup(text) {
            return Some(id);
        }
        if self.graphemes.is_full(GRAPHEME_TABLE_CAP) {
            self.collect_graphemes();
        }
        Arc::make_mut(&mut self.graphemes).intern(text, GRAPHEME_TABLE_CAP)
    }

    fn all_rows(&self) -> impl Iterator<Item = &Arc<Row>> {
        self.rows.iter().chain(self.saved_main.iter().flatten())
    }

    fn collect_graphemes(&mut self) {
        let mut used = vec![false; self.graphemes.capacity_used()];
        for row in self.all_rows() {
            for cell in &row.cells {
                if cell.content >= INTERNED_BASE {
                    if let Some(u) = used.get_mut((cell.content - INTERNED_BASE) as usize) {
                        *u = true;
                    }
                }
            }
        }
        Arc::make_mut(&mut self.graphemes).retain(&used);
    }

    /// Sets the current hyperlink (`None` ends it). `text` is `"params;uri"`.
    pub(crate) fn set_hyperlink(&mut self, text: Option<&str>) {
        let Some(text) = text else {
            self.link = 0;
            return;
        };
        let id = match self.links.lookup(text) {
            Some(id) => Some(id),
            None => {
                if self.links.is_full(LINK_TABLE_CAP) {
                    let mut used = vec![false; self.links.capacity_used()];
                    for row in self.all_rows() {
                        for cell in &row.cells {
                            if let Some(u) = used.get_mut(usize::from(cell.link).wrapping_sub(1)) {
                                *u = true;
                            }
                        }
                    }
                    Arc::make_mut(&mut self.links).retain(&used);
                }
                Arc::make_mut(&mut self.links).intern(text, LINK_TABLE_CAP)
            }
        };
        self.link = id.and_then(|id| u16::try_from(id + 1).ok()).unwrap_or(0);
    }

    /// Number of live entries in the grapheme and hyperlink tables (for tests).
    #[doc(hidden)]
    pub fn table_sizes(&self) -> (usize, usize) {
        (self.graphemes.len(), self.links.len())
    }

    // ----- erasing and editing ----------------------------------------------------------------

    /// Erases columns `[from, to)` of row `y` with the current background.
    pub(crate) fn erase_cells(&mut self, y: usize, from: usize, to: usize) {
        let erase = self.erase_rend();
        let mut to = to.min(self.width);
        let mut from = from;
        if from >= to {
            return;
        }
        if let Some(row) = self.row_mut(y) {
            // Erasing half of a wide character erases all of it.
            if from > 0 && row.cells.get(from - 1).is_some_and(Cell::is_wide) {
                from -= 1;
            }
            if row.cells.get(to - 1).is_some_and(Cell::is_wide) && to < row.cells.len() {
                to += 1;
            }
            if from == 0 && to == row.cells.len() {
                row.reset(erase);
                return;
            }
            for cell in row.cells.get_mut(from..to).into_iter().flatten() {
                *cell = Cell::blank(erase);
            }
        }
    }

    fn erase_rows(&mut self, from: usize, to: usize) {
        let erase = self.erase_rend();
        for y in from..to.min(self.height) {
            match self.rows.get_mut(y).and_then(Arc::get_mut) {
                Some(row) => row.reset(erase),
                None => {
                    if let Some(slot) = self.rows.get_mut(y) {
                        *slot = Arc::new(Row::new(self.width, erase));
                    }
                }
            }
        }
    }

    /// ED.
    pub(crate) fn erase_display(&mut self, mode: u16) {
        let Point { row, col } = self.cursor;
        match mode {
            0 => {
                self.erase_cells(row, col, self.width);
                self.erase_rows(row + 1, self.height);
            }
            1 => {
                self.erase_rows(0, row);
                self.erase_cells(row, 0, col + 1);
            }
            2 => self.erase_rows(0, self.height),
            _ => {}
        }
    }

    /// EL.
    pub(crate) fn erase_line(&mut self, mode: u16) {
        let Point { row, col } = self.cursor;
        match mode {
            0 => self.erase_cells(row, col, self.width),
            1 => self.erase_cells(row, 0, col + 1),
            2 => self.erase_cells(row, 0, self.width),
            _ => {}
        }
    }

    /// ECH.
    pub(crate) fn erase_chars(&mut self, n: usize) {
        let Point { row, col } = self.cursor;
        self.erase_cells(row, col, col.saturating_add(n));
    }

    /// ICH (also used by insert mode).
    pub(crate) fn insert_cells(&mut self, n: usize) {
        let Point { row: y, col } = self.cursor;
        let width = self.width;
        let n = n.min(width - col);
        let erase = self.erase_rend();
        if let Some(row) = self.row_mut(y) {
            Self::prepare_write(row, col, 1, erase);
            row.set_wrapped(false);
            row.cells[col..].rotate_right(n);
            row.cells[col..col + n].fill(Cell::blank(erase));
            if row.cells.last().is_some_and(Cell::is_wide) {
                if let Some(c) = row.cells.last_mut() {
                    *c = Cell::blank(erase);
                }
            }
        }
    }

    /// DCH.
    pub(crate) fn delete_cells(&mut self, n: usize) {
        let Point { row: y, col } = self.cursor;
        let width = self.width;
        let n = n.min(width - col);
        let erase = self.erase_rend();
        if let Some(row) = self.row_mut(y) {
            row.set_wrapped(false);
            if col > 0 && row.cells[col - 1].is_wide() {
                row.cells[col - 1] = Cell::blank(erase);
            }
            row.cells[col..].rotate_left(n);
            row.cells[width - n..].fill(Cell::blank(erase));
            // A right half may have moved under the cursor: its left half is gone.
            if col > 0 && row.cells[col - 1].is_wide() && !row.cells[col].is_empty() {
                row.cells[col - 1] = Cell::blank(erase);
            }
        }
    }

    /// Scrolls rows `[top, bottom]` up by `n` (blank rows enter at the bottom).
    fn scroll_region_up(&mut self, top: usize, bottom: usize, n: usize) {
        if top > bottom || bottom >= self.height {
            return;
        }
        let n = n.min(bottom - top + 1);
        if n == 0 {
            return;
        }
        self.rows[top..=bottom].rotate_left(n);
        self.erase_rows(bottom + 1 - n, bottom + 1);
    }

    /// Scrolls rows `[top, bottom]` down by `n` (blank rows enter at the top).
    fn scroll_region_down(&mut self, top: usize, bottom: usize, n: usize) {
        if top > bottom || bottom >= self.height {
            return;
        }
        let n = n.min(bottom - top + 1);
        if n == 0 {
            return;
        }
        self.rows[top..=bottom].rotate_right(n);
        self.erase_rows(top, top + n);
        self.unwrap_last_row();
    }

    /// The last screen row has no successor, so it never carries the wrap flag.
    fn unwrap_last_row(&mut self) {
        if self.rows.last().is_some_and(|r| r.wrapped()) {
            if let Some(row) = self.row_mut(self.height - 1) {
                row.set_wrapped(false);
            }
        }
    }

    /// SU.
    pub(crate) fn scroll_up(&mut self, n: usize) {
        self.scroll_region_up(self.top, self.bottom, n);
    }
    /// SD.
    pub(crate) fn scroll_down(&mut self, n: usize) {
        self.scroll_region_down(self.top, self.bottom, n);
    }
    /// IL: only inside the region; the cursor goes to column 0 in any case (upstream).
    pub(crate) fn insert_lines(&mut self, n: usize) {
        let y = self.cursor.row;
        if y >= self.top && y <= self.bottom {
            self.scroll_region_down(y, self.bottom, n);
        }
        self.set_cursor(y, 0);
    }
    /// DL: only inside the region; the cursor goes to column 0 in any case (upstream).
    pub(crate) fn delete_lines(&mut self, n: usize) {
        let y = self.cursor.row;
        if y >= self.top && y <= self.bottom {
            self.scroll_region_up(y, self.bottom, n);
        }
        self.set_cursor(y, 0);
    }

    /// DECSTBM with 1-based `top`/`bottom` (already defaulted).
    pub(crate) fn set_scroll_region(&mut self, top: usize, bottom: usize) {
        if bottom <= top || top > self.height {
            return;
        }
        self.top = top - 1;
        self.bottom = bottom.min(self.height) - 1;
        let home = if self.modes.origin { self.top } else { 0 };
        self.set_cursor(home, 0);
    }

    /// DECALN.
    pub(crate) fn alignment_test(&mut self) {
        let erase = self.erase_rend();
        self.erase_rows(0, self.height);
        for y in 0..self.height {
            if let Some(row) = self.row_mut(y) {
                for cell in &mut row.cells {
                    *cell = Cell::new(u32::from('E'), erase, 0, 0);
                }
            }
        }
    }

    // ----- state --------------------------------------------------------------------------------

    /// Display overlays (predictions, the notification bar): writes `ch` (a space for `None`)
    /// with `rend` at (`row`, `col`) as printing would, without moving the cursor, wrapping,
    /// inserting or changing the current rendition. Out-of-range positions are ignored.
    pub(crate) fn overlay_cell(
        &mut self,
        row: usize,
        col: usize,
        ch: Option<char>,
        rend: Rendition,
    ) {
        if row >= self.height || col >= self.width {
            return;
        }
        let (cursor, wrap, target, saved_rend, modes) = (
            self.cursor,
            self.pending_wrap,
            self.target,
            self.rend,
            self.modes,
        );
        self.cursor = Point { row, col };
        self.pending_wrap = false;
        self.target = GraphemeTarget::Cursor;
        self.modes.insert = false;
        self.modes.autowrap = false;
        self.rend = rend;
        self.print(ch.unwrap_or(' '));
        self.cursor = cursor;
        self.pending_wrap = wrap;
        self.target = target;
        self.rend = saved_rend;
        self.modes = modes;
    }

    /// Display overlays: set `attrs` on the cell at (`row`, `col`) in place.
    pub(crate) fn overlay_attrs(&mut self, row: usize, col: usize, attrs: Attrs) {
        if let Some(cell) = self
            .rows
            .get_mut(row)
            .and_then(|r| Arc::make_mut(r).cells.get_mut(col))
        {
            let mut rend = cell.rendition();
            rend.attrs.set(attrs, true);
            *cell = Cell::new(cell.content, rend, cell.flags, cell.link);
        }
    }

    /// Display overlays: show the cursor at (`row`, `col`), or hide it.
    pub(crate) fn overlay_cursor(&mut self, row: usize, col: usize, visible: bool) {
        if row < self.height && col < self.width {
            self.cursor = Point { row, col };
            self.pending_wrap = false;
        }
        self.modes.cursor_visible = visible;
    }

    pub(crate) fn set_rendition(&mut self, rend: Rendition) {
        self.rend = rend;
    }
    pub(crate) fn modes_mut(&mut self) -> &mut Modes {
        &mut self.modes
    }
    pub(crate) fn ring_bell(&mut self) {
        self.bell_count = self.bell_count.wrapping_add(1);
    }
    pub(crate) fn set_title(&mut self, icon: bool, window: bool, text: String) {
        if icon {
            self.icon_name = text.clone();
        }
        if window {
            self.title = text;
        }
        self.title_initialized = true;
    }
    pub(crate) fn set_clipboard(&mut self, text: String) {
        self.clipboard = text;
    }

    /// DECSC.
    pub(crate) fn save_cursor(&mut self) {
        self.saved = SavedCursor {
            pos: self.cursor,
            rend: self.rend,
            autowrap: self.modes.autowrap,
            origin: self.modes.origin,
        };
    }
    /// DECRC.
    pub(crate) fn restore_cursor(&mut self) {
        let s = self.saved;
        self.rend = s.rend;
        self.modes.autowrap = s.autowrap;
        self.modes.origin = s.origin;
        self.set_cursor(s.pos.row, s.pos.col);
    }

    /// DECSET/DECRST 6: the home happens before the flag changes (upstream quirk).
    pub(crate) fn set_origin_mode(&mut self, on: bool) {
        let home = if self.modes.origin { self.top } else { 0 };
        self.set_cursor(home, 0);
        self.modes.origin = on;
    }

    /// DECCOLM: clear and home, width unchanged.
    pub(crate) fn column_mode(&mut self) {
        self.set_cursor(0, 0);
        self.erase_rows(0, self.height);
    }

    /// DECSTR.
    pub(crate) fn soft_reset(&mut self) {
        self.modes.insert = false;
        self.modes.origin = false;
        self.modes.cursor_visible = true;
        self.modes.application_cursor_keys = false;
        self.top = 0;
        self.bottom = self.height - 1;
        self.rend = Rendition::default();
        self.saved = SavedCursor::initial();
    }

    /// RIS: everything but the bell counter, icon name and "title initialized".
    pub(crate) fn full_reset(&mut self) {
        let fresh = match Framebuffer::new(self.width, self.height) {
            Ok(f) => f,
            Err(_) => return,
        };
        let bell = self.bell_count;
        let icon = std::mem::take(&mut self.icon_name);
        let title_init = self.title_initialized;
        *self = fresh;
        self.bell_count = bell;
        self.icon_name = icon;
        self.title_initialized = title_init;
    }

    /// Switches to (`on`) or from the alternate screen.
    pub(crate) fn set_alternate_screen(&mut self, on: bool) {
        match (on, self.saved_main.is_some()) {
            (true, false) => {
                let erase = self.erase_rend();
                let alt = (0..self.height)
                    .map(|_| Arc::new(Row::new(self.width, erase)))
                    .collect();
                self.saved_main = Some(std::mem::replace(&mut self.rows, alt));
            }
            (false, true) => {
                if let Some(main) = self.saved_main.take() {
                    self.rows = main;
                }
            }
            _ => {}
        }
    }

    /// Clears the screen shown (used when entering the alternate screen with 1049/1047).
    pub(crate) fn clear_screen(&mut self) {
        self.erase_rows(0, self.height);
    }

    /// Changes the size (§8.12): no reflow; rows added or removed at the bottom.
    pub fn resize(&mut self, width: usize, height: usize) -> Result<(), TerminalError> {
        check_size(width, height)?;
        if width == self.width && height == self.height {
            return Ok(());
        }
        let erase = self.erase_rend();
        let old_width = self.width;
        let resize_rows = |rows: &mut Vec<Arc<Row>>| {
            rows.truncate(height);
            while rows.len() < height {
                rows.push(Arc::new(Row::new(width, erase)));
            }
            if width != old_width {
                for r in rows.iter_mut() {
                    let row = Arc::make_mut(r);
                    row.set_wrapped(false);
                    row.cells.resize(width, Cell::blank(erase));
                    if row.cells.last().is_some_and(Cell::is_wide) {
                        if let Some(c) = row.cells.last_mut() {
                            *c = Cell::blank(erase);
                        }
                    }
                }
            }
        };
        resize_rows(&mut self.rows);
        if let Some(main) = self.saved_main.as_mut() {
            resize_rows(main);
        }
        if self.default_tabs {
            self.tabs = default_tab_stops(width);
        } else {
            self.tabs.resize(width, false);
        }
        self.width = width;
        self.height = height;
        self.top = 0;
        self.bottom = height - 1;
        let pending = self.pending_wrap && self.cursor.col < width;
        let target = self.target;
        self.set_cursor(self.cursor.row, self.cursor.col);
        self.pending_wrap = pending && self.cursor.col == width - 1;
        self.target = match target {
            GraphemeTarget::Cell(p) if p.row < height && p.col < width => target,
            GraphemeTarget::Cursor => GraphemeTarget::Cursor,
            _ => GraphemeTarget::Invalid,
        };
        self.unwrap_last_row();
        if let Some(main) = self.saved_main.as_mut() {
            if let Some(last) = main.last_mut() {
                if last.wrapped() {
                    Arc::make_mut(last).set_wrapped(false);
                }
            }
        }
        Ok(())
    }

    /// Checks the structural invariants (used by tests and fuzzers): cursor and margins in
    /// bounds, every row `width` cells long, wide characters followed by a blank right half
    /// and never in the last column, wrap flags only on last cells, contents resolvable.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.rows.len() != self.height || self.width == 0 || self.height == 0 {
            return Err(format!(
                "{} rows for height {}",
                self.rows.len(),
                self.height
            ));
        }
        if self.cursor.row >= self.height || self.cursor.col >= self.width {
            return Err(format!(
                "cursor {:?} out of {}x{}",
                self.cursor, self.width, self.height
            ));
        }
        if self.top > self.bottom || self.bottom >= self.height {
            return Err(format!("bad region {}..{}", self.top, self.bottom));
        }
        if self.tabs.len() != self.width {
            return Err("tab vector length".into());
        }
        for (y, row) in self.all_rows().enumerate() {
            if row.cells.len() != self.width {
                return Err(format!("row {y} has {} cells", row.cells.len()));
            }
            for (x, cell) in row.cells.iter().enumerate() {
                if cell.is_wide() {
                    match row.cells.get(x + 1) {
                        Some(next) if next.is_empty() && !next.is_wide() => {}
                        _ => return Err(format!("broken wide pair at {y},{x}")),
                    }
                }
                if cell.is_wrap() && x + 1 != self.width {
                    return Err(format!("wrap flag inside row {y} at {x}"));
                }
                if cell.content >= INTERNED_BASE
                    && self.graphemes.get(cell.content - INTERNED_BASE).is_none()
                {
                    return Err(format!("dangling grapheme at {y},{x}"));
                }
                if cell.link != 0 && self.links.get(u32::from(cell.link) - 1).is_none() {
                    return Err(format!("dangling link at {y},{x}"));
                }
                if cell.content != super::cell::EMPTY
                    && cell.content < INTERNED_BASE
                    && char::from_u32(cell.content).is_none()
                {
                    return Err(format!("bad char at {y},{x}"));
                }
            }
        }
        if self.rows.last().is_some_and(|r| r.wrapped()) {
            return Err("last row wrapped".into());
        }
        Ok(())
    }
}

impl PartialEq for Framebuffer {
    fn eq(&self, other: &Self) -> bool {
        self.bell_count == other.bell_count && self.eq_ignoring_bell(other)
    }
}

impl Eq for Framebuffer {}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Framebuffer>();
    let _ = (Attrs::empty(), Color::Default);
}
