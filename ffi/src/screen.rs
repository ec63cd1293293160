//! The screen as the uniffi API hands it to Kotlin and Swift: cells with colours and attribute
//! bits, rows, the cursor and [`ScreenUpdate`] (what changed since the last pull).

use moshkit_core::session as core_session;
use moshkit_core::terminal;

use crate::attrs::attr_bits;

/// A cell colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum CellColor {
    /// The terminal's default foreground or background.
    Default,
    /// A 256-colour palette index (0..=15 are the ANSI colours).
    Indexed {
        /// The index.
        index: u8,
    },
    /// A 24-bit colour.
    Rgb {
        /// Red.
        r: u8,
        /// Green.
        g: u8,
        /// Blue.
        b: u8,
    },
}

impl From<terminal::Color> for CellColor {
    fn from(c: terminal::Color) -> Self {
        match c {
            terminal::Color::Default => CellColor::Default,
            terminal::Color::Indexed(index) => CellColor::Indexed { index },
            terminal::Color::Rgb(r, g, b) => CellColor::Rgb { r, g, b },
        }
    }
}

/// One cell of the screen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Cell {
    /// The grapheme (base character and combining marks); a space for an empty cell; empty for
    /// the right half of a wide character.
    pub text: String,
    /// Columns it occupies: 1, 2 (wide) or 0 (right half of a wide character).
    pub width: u8,
    /// Foreground colour.
    pub fg: CellColor,
    /// Background colour.
    pub bg: CellColor,
    /// Attribute bits: bold 1, faint 2, italic 4, underline 8, blink 16, inverse 32,
    /// invisible 64, strikeout 128.
    pub attrs: u8,
    /// Whether the cell shows a prediction (local echo not yet confirmed by the server).
    pub predicted: bool,
}

impl From<core_session::ScreenCell> for Cell {
    fn from(c: core_session::ScreenCell) -> Self {
        Cell {
            text: c.text,
            width: c.width,
            fg: c.fg.into(),
            bg: c.bg.into(),
            attrs: attr_bits(c.attrs),
            predicted: c.predicted,
        }
    }
}

/// One changed row, complete.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Row {
    /// Row index from the top.
    pub index: u16,
    /// Its cells, left to right (exactly `cols`).
    pub cells: Vec<Cell>,
}

impl Row {
    /// The row's text (the cells' text joined).
    pub fn text(&self) -> String {
        self.cells.iter().map(|c| c.text.as_str()).collect()
    }
}

/// The cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Cursor {
    /// Row.
    pub row: u16,
    /// Column.
    pub col: u16,
    /// Whether the application shows it.
    pub visible: bool,
    /// Whether the position is a prediction.
    pub predicted: bool,
}

/// What changed on screen since the previous pull (or the whole screen, for a snapshot).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ScreenUpdate {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// Whether every row is included (first pull, size change, snapshot): repaint everything.
    pub full: bool,
    /// The rows that changed, each complete.
    pub changed_rows: Vec<Row>,
    /// The cursor.
    pub cursor: Cursor,
    /// The window title.
    pub title: String,
    /// How many times the bell has rung in this session.
    pub bell_count: u64,
    /// The notification bar's text (e.g. `mosh: Last contact 12 seconds ago.`), if shown.
    pub notification: Option<String>,
}

impl From<core_session::ScreenUpdate> for ScreenUpdate {
    fn from(u: core_session::ScreenUpdate) -> Self {
        ScreenUpdate {
            cols: u.cols,
            rows: u.rows,
            full: u.full,
            changed_rows: u
                .changed_rows
                .into_iter()
                .map(|r| Row {
                    index: r.index,
                    cells: r.cells.into_iter().map(Cell::from).collect(),
                })
                .collect(),
            cursor: Cursor {
                row: u.cursor.row,
                col: u.cursor.col,
                visible: u.cursor.visible,
                predicted: u.cursor.predicted,
            },
            title: u.title,
            bell_count: u.bell_count,
            notification: u.notification.map(|n| n.text),
        }
    }
}
