//! The framebuffer (§8.12): rows of cells, the draw state (cursor, margins, tabs, modes) and
//! the window-level state (titles, clipboard, bell).
//!
//! Split by concept: this file holds the types and read access; `grid` the row storage
//! (erase, insert/delete, scroll, resize), `print` writing text, `cursor` cursor movement,
//! tabs and margins, `state` modes, titles, clipboard, resets and the display hooks.

mod cursor;
mod grid;
mod print;
mod state;

use std::sync::Arc;

use super::cell::{
    Attrs, Cell, CellText, Color, FLAG_FALLBACK, FLAG_WIDE, INTERNED_BASE, Interner, Rendition, Row,
};
use super::charset::Charsets;
use super::width::char_width;
use super::{MAX_CELLS, MAX_HEIGHT, MAX_WIDTH, TerminalError};

/// Most bytes of combining marks kept in one cell (§8.10).
pub(super) const MAX_GRAPHEME_BYTES: usize = 32;
/// Capacity of the grapheme table (distinct combined graphemes alive on one screen).
pub(super) const GRAPHEME_TABLE_CAP: usize = 1 << 16;
/// Capacity of the hyperlink table.
pub(super) const LINK_TABLE_CAP: usize = 4096;
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
pub(super) struct SavedCursor {
    pub(super) pos: Point,
    pub(super) rend: Rendition,
    pub(super) autowrap: bool,
    pub(super) origin: bool,
    pub(super) charsets: Charsets,
}

impl SavedCursor {
    pub(super) fn initial() -> Self {
        SavedCursor {
            pos: Point::default(),
            rend: Rendition::default(),
            autowrap: true,
            origin: false,
            charsets: Charsets::default(),
        }
    }
}

/// Where a following combining mark goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GraphemeTarget {
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
    pub(super) rows: Vec<Arc<Row>>,
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) cursor: Point,
    pub(super) pending_wrap: bool,
    pub(super) target: GraphemeTarget,
    pub(super) tabs: Vec<bool>,
    pub(super) default_tabs: bool,
    pub(super) top: usize,
    pub(super) bottom: usize,
    pub(super) rend: Rendition,
    pub(super) link: u16,
    pub(super) saved: SavedCursor,
    /// G0/G1 designations and the shift state (not compared: only what they printed is).
    pub(super) charsets: Charsets,
    pub(super) modes: Modes,
    pub(super) title: String,
    pub(super) icon_name: String,
    pub(super) clipboard: String,
    pub(super) bell_count: u64,
    pub(super) title_initialized: bool,
    pub(super) graphemes: Arc<Interner>,
    pub(super) links: Arc<Interner>,
    /// The main screen's rows while the alternate screen is shown.
    pub(super) saved_main: Option<Vec<Arc<Row>>>,
    /// Lines that scrolled off the top of the main screen, when capturing (a host's terminal).
    pub(super) capture: ScrollCapture,
}

/// The lines a host terminal's main screen scrolled off since they were last taken.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScrollCapture {
    pub(crate) enabled: bool,
    /// ED 3 erased the scrollback before `lines` scrolled off.
    pub(crate) cleared: bool,
    pub(crate) lines: Vec<crate::scrollback::StoredLine>,
    /// Lines dropped because nobody took them (more than [`MAX_PENDING_SCROLLED`]).
    pub(crate) dropped: u64,
}

/// Bound on lines waiting in [`ScrollCapture`] (a host takes them after every write).
pub(crate) const MAX_PENDING_SCROLLED: usize = 1 << 20;

/// Printable code points of width 1 that need no lookup (§8.10).
#[inline]
pub(super) fn is_simple_char(c: char) -> bool {
    matches!(c as u32, 0x20..=0x7e | 0xa0..=0xff)
}

pub(super) fn check_size(width: usize, height: usize) -> Result<(), TerminalError> {
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

pub(super) fn default_tab_stops(width: usize) -> Vec<bool> {
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
            charsets: Charsets::default(),
            modes: Modes::default(),
            title: String::new(),
            icon_name: String::new(),
            clipboard: String::new(),
            bell_count: 0,
            title_initialized: false,
            graphemes: Arc::default(),
            links: Arc::default(),
            saved_main: None,
            capture: ScrollCapture::default(),
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

    /// Starts or stops keeping the lines that scroll off the top of the main screen (see
    /// [`Framebuffer::take_scrolled_off`]).
    pub(crate) fn set_scrollback_capture(&mut self, on: bool) {
        self.capture.enabled = on;
        if !on {
            self.capture = ScrollCapture::default();
        }
    }

    /// The lines captured since the last call, and whether ED 3 erased the scrollback first.
    pub(crate) fn take_scrolled_off(&mut self) -> ScrollCapture {
        let enabled = self.capture.enabled;
        let taken = std::mem::take(&mut self.capture);
        self.capture.enabled = enabled;
        taken
    }

    /// The rows as shared (copy-on-write) handles: the frame differ compares them by pointer
    /// to find rows that did not change or only moved.
    pub(crate) fn shared_rows(&self) -> &[Arc<Row>] {
        &self.rows
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
}

impl PartialEq for Framebuffer {
    fn eq(&self, other: &Self) -> bool {
        self.bell_count == other.bell_count && self.eq_ignoring_bell(other)
    }
}

impl Eq for Framebuffer {}

#[allow(dead_code)]
fn _assert_send_sync() {
    pub(super) fn check<T: Send + Sync>() {}
    check::<Framebuffer>();
    let _ = (Attrs::empty(), Color::Default);
}
