//! The screen as a UI sees it: cells with their text, width and rendition, whether they are a
//! prediction, and the change tracking behind `pull_changes`.

use std::hash::{Hash as _, Hasher as _};

use crate::prediction::{Glyph, PredictionOverlay, Screen};
use crate::terminal::{Attrs, Cell, CellText, Color, Framebuffer, Point, Rendition, Row};

/// One cell of the screen a UI draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenCell {
    /// The grapheme (base character and combining marks); a space for an empty cell; empty for
    /// the right half of a wide character.
    pub text: String,
    /// Columns it occupies: 1, 2 (wide), or 0 (right half of a wide character).
    pub width: u8,
    /// Foreground colour.
    pub fg: Color,
    /// Background colour.
    pub bg: Color,
    /// Attributes (bold, underline, inverse, ...). Unconfirmed predictions on a slow link carry
    /// [`Attrs::UNDERLINE`] as upstream draws them.
    pub attrs: Attrs,
    /// Whether this cell shows a prediction (local echo not yet confirmed by the server).
    pub predicted: bool,
}

impl ScreenCell {
    fn blank(rend: Rendition) -> Self {
        ScreenCell {
            text: " ".to_owned(),
            width: 1,
            fg: rend.fg,
            bg: rend.bg,
            attrs: rend.attrs,
            predicted: false,
        }
    }
}

/// One changed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenRow {
    /// Row index from the top.
    pub index: u16,
    /// Its cells, left to right (exactly `cols` of them).
    pub cells: Vec<ScreenCell>,
}

/// The cursor a UI draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorState {
    /// Row.
    pub row: u16,
    /// Column.
    pub col: u16,
    /// Whether the application shows it.
    pub visible: bool,
    /// Whether the position is a prediction.
    pub predicted: bool,
}

/// A composed screen: the remote terminal with predictions (and optionally the notification
/// bar) drawn over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Composed {
    pub cols: u16,
    pub rows: Vec<Vec<ScreenCell>>,
    pub cursor: CursorState,
}

fn glyph_of(fb: &Framebuffer, cell: &Cell) -> Glyph {
    if cell.is_blank() {
        return Glyph::Blank;
    }
    match fb.cell_text(cell) {
        CellText::Char(c) if !cell.is_wide() => Glyph::Char(c),
        other => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            other.to_string().hash(&mut h);
            cell.is_wide().hash(&mut h);
            Glyph::Other(h.finish())
        }
    }
}

impl Screen for Framebuffer {
    type Rendition = Rendition;
    fn cols(&self) -> usize {
        self.width()
    }
    fn rows(&self) -> usize {
        self.height()
    }
    fn cursor(&self) -> (usize, usize) {
        let p = Framebuffer::cursor(self);
        (p.row, p.col)
    }
    fn glyph(&self, row: usize, col: usize) -> Glyph {
        self.cell(Point { row, col })
            .map_or(Glyph::Blank, |c| glyph_of(self, c))
    }
    fn rendition(&self, row: usize, col: usize) -> Rendition {
        self.cell(Point { row, col })
            .map_or_else(Rendition::default, |c| c.rendition())
    }
    fn drawing_rendition(&self) -> Rendition {
        Framebuffer::rendition(self)
    }
}

fn clamp16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Row `row` of `fb` as the cells a UI draws (no predictions).
pub(crate) fn screen_cells_of_row(fb: &Framebuffer, row: &Row) -> Vec<ScreenCell> {
    let cells = row.cells();
    let mut out = Vec::with_capacity(cells.len());
    let mut skip_next = false;
    for cell in cells {
        let r = cell.rendition();
        if skip_next {
            skip_next = false;
            out.push(ScreenCell {
                text: String::new(),
                width: 0,
                ..ScreenCell::blank(r)
            });
            continue;
        }
        skip_next = cell.is_wide();
        out.push(ScreenCell {
            text: fb.cell_text(cell).to_string(),
            width: if cell.is_wide() { 2 } else { 1 },
            fg: r.fg,
            bg: r.bg,
            attrs: r.attrs,
            predicted: false,
        });
    }
    out
}

/// The screen `fb` with `overlay` drawn over it, and optionally `bar` over row 0.
pub(crate) fn compose(
    fb: &Framebuffer,
    overlay: &PredictionOverlay<Rendition>,
    bar: Option<&str>,
) -> Composed {
    let mut rows: Vec<Vec<ScreenCell>> =
        fb.rows().map(|row| screen_cells_of_row(fb, row)).collect();
    for p in &overlay.cells {
        let Some(cell) = rows.get_mut(p.row).and_then(|r| r.get_mut(p.col)) else {
            continue;
        };
        if let Some((glyph, rend)) = p.replacement {
            cell.text = match glyph {
                Glyph::Char(c) => c.to_string(),
                _ => " ".to_owned(),
            };
            cell.width = 1;
            cell.fg = rend.fg;
            cell.bg = rend.bg;
            cell.attrs = rend.attrs;
        }
        cell.predicted = true;
        if p.underline {
            cell.attrs.set(Attrs::UNDERLINE, true);
        }
    }
    let real = fb.cursor();
    let (row, col, predicted) = match overlay.cursor {
        Some((r, c)) if (r, c) != (real.row, real.col) => (r, c, true),
        _ => (real.row, real.col, false),
    };
    let mut cursor = CursorState {
        row: clamp16(row),
        col: clamp16(col),
        visible: fb.cursor_visible(),
        predicted,
    };
    if let (Some(text), Some(top)) = (bar, rows.first_mut()) {
        draw_bar(top, text);
        if cursor.row == 0 {
            cursor.visible = false;
        }
    }
    Composed {
        cols: clamp16(fb.width()),
        rows,
        cursor,
    }
}

/// The screen `fb` with `overlay` and `bar` applied, as a framebuffer: what a terminal client
/// paints with the frame differ (upstream's overlay manager, §9.2–§9.3).
pub(crate) fn compose_frame(
    fb: &Framebuffer,
    overlay: &PredictionOverlay<Rendition>,
    bar: Option<&str>,
    title_prefix: Option<&str>,
) -> Framebuffer {
    let mut out = fb.clone();
    // §9.4: the prefix goes on the window title, and on the icon name only when both are
    // equal; only once the application has set a title.
    if let Some(prefix) = title_prefix.filter(|_| fb.title_initialized()) {
        let icon_too = fb.icon_name() == fb.title();
        out.set_title(icon_too, true, format!("{prefix}{}", fb.title()));
    }
    for p in &overlay.cells {
        match p.replacement {
            Some((glyph, mut rend)) => {
                if p.underline {
                    rend.attrs.set(Attrs::UNDERLINE, true);
                }
                let ch = match glyph {
                    Glyph::Char(c) => Some(c),
                    _ => None,
                };
                out.overlay_cell(p.row, p.col, ch, rend);
            }
            None if p.underline => out.overlay_attrs(p.row, p.col, Attrs::UNDERLINE),
            None => {}
        }
    }
    let real = fb.cursor();
    let (mut row, mut col) = overlay.cursor.unwrap_or((real.row, real.col));
    let mut visible = fb.cursor_visible();
    if let Some(text) = bar {
        let cells: Vec<ScreenCell> = {
            let mut row0 = vec![ScreenCell::blank(Rendition::default()); fb.width()];
            draw_bar(&mut row0, text);
            row0
        };
        for (c, cell) in cells.iter().enumerate() {
            if cell.width == 0 {
                continue;
            }
            let rend = Rendition {
                fg: cell.fg,
                bg: cell.bg,
                attrs: cell.attrs,
            };
            // Combining marks of the bar text are dropped here; the base character is drawn.
            out.overlay_cell(0, c, cell.text.chars().next().filter(|&ch| ch != ' '), rend);
        }
        if row == 0 {
            visible = false;
        }
    }
    if row >= fb.height() || col >= fb.width() {
        (row, col) = (real.row, real.col);
    }
    out.overlay_cursor(row, col, visible);
    out
}

/// Upstream's notification bar: row 0 white on blue, the text in bold (§9.3).
fn draw_bar(row: &mut [ScreenCell], text: &str) {
    let rend = Rendition {
        fg: Color::Indexed(7),
        bg: Color::Indexed(4),
        attrs: Attrs::empty(),
    };
    let mut bold = rend;
    bold.attrs.set(Attrs::BOLD, true);
    for cell in row.iter_mut() {
        *cell = ScreenCell::blank(rend);
    }
    let mut col: usize = 0;
    for ch in text.chars() {
        match crate::terminal::char_width(ch) {
            Some(0) => {
                if let Some(prev) = col.checked_sub(1).and_then(|c| row.get_mut(c)) {
                    prev.text.push(ch);
                }
            }
            Some(w @ (1 | 2)) => {
                let cols = usize::from(w);
                if col + cols > row.len() {
                    break;
                }
                row[col] = ScreenCell {
                    text: ch.to_string(),
                    width: w,
                    ..ScreenCell::blank(bold)
                };
                if cols == 2 {
                    row[col + 1] = ScreenCell {
                        text: String::new(),
                        width: 0,
                        ..ScreenCell::blank(bold)
                    };
                }
                col += cols;
            }
            _ => {}
        }
    }
}

/// Rows of `new` that differ from `old` (all rows when the size changed or `old` is `None`).
pub(crate) fn changed_rows(old: Option<&Composed>, new: &Composed) -> (bool, Vec<ScreenRow>) {
    let full = old.is_none_or(|o| o.cols != new.cols || o.rows.len() != new.rows.len());
    let rows = new
        .rows
        .iter()
        .enumerate()
        .filter(|(i, r)| full || old.and_then(|o| o.rows.get(*i)) != Some(*r))
        .map(|(i, r)| ScreenRow {
            index: clamp16(i),
            cells: r.clone(),
        })
        .collect();
    (full, rows)
}
