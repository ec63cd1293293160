//! One scrollback line in compact form, and its wire form.
//!
//! A screen row is 16 bytes a cell; a line kept in scrollback is its text (UTF-8), the runs of
//! equal rendition, and (only when the text alone does not say where each cell starts) the byte
//! length of each cell. Trailing blank cells in the default rendition are not stored. An 80
//! column line of plain text costs about 140 bytes (see `docs/benchmarks.md`).

use crate::session::ScreenCell;
use crate::terminal::{Attrs, Color, Framebuffer, MAX_WIDTH, Rendition, Row, char_width};
use crate::wire::{ScrollbackWireLine, ScrollbackWireRun};

/// Bit of [`StoredLine::flags`]: the line continues on the next one.
const WRAPPED: u8 = 1;
/// Longest text accepted from the wire for one cell (a base and its combining marks).
const MAX_CELL_BYTES: usize = 64;

/// A change of rendition at a column (16 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    col: u16,
    fg: u32,
    bg: u32,
    attrs: u8,
}

impl Run {
    fn rendition(&self) -> Rendition {
        Rendition {
            fg: Color::unpack(self.fg),
            bg: Color::unpack(self.bg),
            attrs: Attrs::from_bits(self.attrs),
        }
    }
}

/// A line that scrolled off the top of a screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredLine {
    text: Box<str>,
    /// Per stored cell: `byte length << 1 | wide`. `None` when every cell is one printable
    /// character followed by zero-width ones, with the width `char_width` gives it.
    layout: Option<Box<[u16]>>,
    /// Rendition changes, the first at column 0; empty when the whole line is the default.
    runs: Box<[Run]>,
    /// Columns of the screen the line came from.
    cols: u16,
    flags: u8,
}

/// Why a line received from the peer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Wider than any terminal.
    #[error("scrollback line of {0} columns")]
    TooWide(u32),
    /// The cell layout does not add up to the text, or splits a character.
    #[error("scrollback line layout does not match its text")]
    BadLayout,
    /// Rendition runs out of order or past the line's end.
    #[error("scrollback line renditions out of order")]
    BadRuns,
}

fn is_trailing_blank(row: &Row, i: usize) -> bool {
    let cells = row.cells();
    let cell = &cells[i];
    if cell.is_wide() || (i > 0 && cells[i - 1].is_wide()) || cell.hyperlink_id() != 0 {
        return false;
    }
    (cell.is_empty() || cell.inline_char() == Some(' ')) && cell.rendition() == Rendition::default()
}

/// The cells of `text` when no layout is stored: each character of non-zero width starts a
/// cell (a wide one is followed by its empty right half) and zero-width ones join the cell
/// before. Items: (start, end, wide).
fn simple_spans(text: &str) -> Vec<(usize, usize, bool)> {
    let mut out: Vec<(usize, usize, bool)> = Vec::with_capacity(text.len());
    let mut right_half_at: Option<usize> = None;
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        let w = char_width(c);
        if w == Some(0) && !out.is_empty() {
            // Join the previous cell (the left half if a right half was just pushed).
            let at = right_half_at.unwrap_or(out.len() - 1);
            if let Some(cell) = out.get_mut(at) {
                cell.1 = end;
            }
            if let Some(r) = right_half_at {
                if let Some(half) = out.get_mut(r + 1) {
                    *half = (end, end, false);
                }
            }
            continue;
        }
        let wide = w == Some(2);
        out.push((i, end, wide));
        right_half_at = None;
        if wide {
            right_half_at = Some(out.len() - 1);
            out.push((end, end, false));
        }
    }
    out
}

impl StoredLine {
    /// The line `row` of `fb`.
    pub(crate) fn from_row(fb: &Framebuffer, row: &Row) -> StoredLine {
        let cells = row.cells();
        let mut n = cells.len();
        while n > 0 && is_trailing_blank(row, n - 1) {
            n -= 1;
        }
        let mut text = String::with_capacity(n);
        let mut cell_lens: Vec<(usize, bool)> = Vec::with_capacity(n);
        let mut runs: Vec<Run> = Vec::new();
        let mut right_half = false;
        for (col, cell) in cells[..n].iter().enumerate() {
            let r = cell.rendition();
            if runs.last().is_none_or(|last| last.rendition() != r)
                && !(runs.is_empty() && r == Rendition::default())
            {
                runs.push(Run {
                    col: u16::try_from(col).unwrap_or(u16::MAX),
                    fg: r.fg.pack(),
                    bg: r.bg.pack(),
                    attrs: r.attrs.bits(),
                });
            }
            if right_half {
                right_half = false;
                cell_lens.push((0, false));
                continue;
            }
            let before = text.len();
            let t = fb.cell_text(cell);
            let mut buf = Vec::new();
            t.write_utf8(&mut buf);
            text.push_str(std::str::from_utf8(&buf).unwrap_or(" "));
            cell_lens.push((text.len() - before, cell.is_wide()));
            right_half = cell.is_wide();
        }
        // A run list that only ever says "default" is no run list.
        if runs.len() == 1 && runs[0].col == 0 && runs[0].rendition() == Rendition::default() {
            runs.clear();
        }
        let simple = simple_spans(&text)
            .into_iter()
            .map(|(s, e, w)| (e - s, w))
            .eq(cell_lens.iter().copied());
        let layout = if simple {
            None
        } else {
            Some(
                cell_lens
                    .iter()
                    .map(|&(len, wide)| {
                        (u16::try_from(len).unwrap_or(u16::MAX >> 1) << 1) | u16::from(wide)
                    })
                    .collect(),
            )
        };
        StoredLine {
            text: text.into_boxed_str(),
            layout,
            runs: runs.into_boxed_slice(),
            cols: u16::try_from(cells.len()).unwrap_or(u16::MAX),
            flags: if row.wrapped() { WRAPPED } else { 0 },
        }
    }

    /// A line of no cells (stands for one the peer sent malformed).
    pub(crate) fn blank() -> StoredLine {
        StoredLine {
            text: Box::from(""),
            layout: None,
            runs: Box::new([]),
            cols: 0,
            flags: 0,
        }
    }

    /// Whether the line continues on the next one.
    pub(crate) fn wrapped(&self) -> bool {
        self.flags & WRAPPED != 0
    }

    /// Columns of the screen it came from.
    pub(crate) fn cols(&self) -> usize {
        usize::from(self.cols)
    }

    /// Heap bytes held (for the memory figure).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text.len()
            + self.layout.as_ref().map_or(0, |l| l.len() * 2)
            + self.runs.len() * std::mem::size_of::<Run>()
    }

    /// (byte range in `text`, wide) of each stored cell.
    fn cell_spans(&self) -> Vec<(usize, usize, bool)> {
        if let Some(layout) = &self.layout {
            let mut out = Vec::with_capacity(layout.len());
            let mut at = 0;
            for &l in layout.iter() {
                let len = usize::from(l >> 1);
                out.push((at, at + len, l & 1 != 0));
                at += len;
            }
            return out;
        }
        simple_spans(&self.text)
    }

    /// The line as screen cells (exactly [`StoredLine::cols`] of them), in the model of
    /// [`ScreenCell`]: the right half of a wide character has width 0 and no text.
    pub(crate) fn cells(&self) -> Vec<ScreenCell> {
        let cols = self.cols();
        let mut out = Vec::with_capacity(cols);
        let mut run = 0;
        let mut rend = Rendition::default();
        let mut right_half = false;
        for (col, (start, end, wide)) in self.cell_spans().into_iter().enumerate() {
            if col >= cols {
                break;
            }
            while let Some(r) = self.runs.get(run) {
                if usize::from(r.col) > col {
                    break;
                }
                rend = r.rendition();
                run += 1;
            }
            let (text, width) = if right_half {
                (String::new(), 0)
            } else {
                let t = self.text.get(start..end).unwrap_or(" ");
                (
                    if t.is_empty() { " " } else { t }.to_owned(),
                    if wide { 2 } else { 1 },
                )
            };
            right_half = wide && !right_half;
            out.push(ScreenCell {
                text,
                width,
                fg: rend.fg,
                bg: rend.bg,
                attrs: rend.attrs,
                predicted: false,
            });
        }
        let blank = Rendition::default();
        while out.len() < cols {
            out.push(ScreenCell {
                text: " ".to_owned(),
                width: 1,
                fg: blank.fg,
                bg: blank.bg,
                attrs: blank.attrs,
                predicted: false,
            });
        }
        out
    }

    /// The wire form.
    pub(crate) fn to_wire(&self) -> ScrollbackWireLine {
        ScrollbackWireLine {
            text: Some(self.text.to_string()),
            layout: self
                .layout
                .as_ref()
                .map(|l| l.iter().map(|&v| u32::from(v)).collect())
                .unwrap_or_default(),
            runs: self
                .runs
                .iter()
                .map(|r| ScrollbackWireRun {
                    col: Some(u32::from(r.col)),
                    fg: Some(r.fg),
                    bg: Some(r.bg),
                    attrs: Some(u32::from(r.attrs)),
                })
                .collect(),
            cols: Some(u32::from(self.cols)),
            wrapped: Some(self.wrapped()),
        }
    }

    /// A line from the peer, checked.
    pub(crate) fn from_wire(w: &ScrollbackWireLine) -> Result<StoredLine, LineError> {
        let cols = w.cols.unwrap_or(0);
        if cols as usize > MAX_WIDTH {
            return Err(LineError::TooWide(cols));
        }
        let text = w.text.clone().unwrap_or_default();
        if text.len() > MAX_CELL_BYTES * cols as usize {
            return Err(LineError::BadLayout);
        }
        let layout = if w.layout.is_empty() {
            if text.chars().count() > cols as usize {
                return Err(LineError::BadLayout);
            }
            None
        } else {
            if w.layout.len() > cols as usize {
                return Err(LineError::BadLayout);
            }
            let mut at = 0usize;
            let mut out = Vec::with_capacity(w.layout.len());
            for &v in &w.layout {
                let len = (v >> 1) as usize;
                if v > u32::from(u16::MAX) || len > MAX_CELL_BYTES {
                    return Err(LineError::BadLayout);
                }
                at += len;
                if !text.is_char_boundary(at.min(text.len())) || at > text.len() {
                    return Err(LineError::BadLayout);
                }
                out.push(v as u16);
            }
            if at != text.len() {
                return Err(LineError::BadLayout);
            }
            Some(out.into_boxed_slice())
        };
        let mut runs = Vec::with_capacity(w.runs.len());
        let mut last: Option<u32> = None;
        for r in &w.runs {
            let col = r.col.unwrap_or(0);
            if col >= cols.max(1) || last.is_some_and(|l| l >= col) {
                return Err(LineError::BadRuns);
            }
            last = Some(col);
            let attrs = r.attrs.unwrap_or(0);
            runs.push(Run {
                col: col as u16,
                fg: Color::unpack(r.fg.unwrap_or(0)).pack(),
                bg: Color::unpack(r.bg.unwrap_or(0)).pack(),
                attrs: u8::try_from(attrs).map_err(|_| LineError::BadRuns)?,
            });
        }
        Ok(StoredLine {
            text: text.into_boxed_str(),
            layout,
            runs: runs.into_boxed_slice(),
            cols: cols as u16,
            flags: if w.wrapped.unwrap_or(false) {
                WRAPPED
            } else {
                0
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::session::screen_cells_of_row;
    use crate::terminal::Terminal;

    fn roundtrip(bytes: &[u8], cols: usize) {
        let mut t = Terminal::new(cols, 3).unwrap();
        t.feed(bytes);
        let fb = t.framebuffer();
        for row in fb.rows() {
            let line = StoredLine::from_row(fb, row);
            assert_eq!(line.cells(), screen_cells_of_row(fb, row), "{bytes:?}");
            assert_eq!(line.wrapped(), row.wrapped());
            let back = StoredLine::from_wire(&line.to_wire()).unwrap();
            assert_eq!(back, line);
        }
    }

    #[test]
    fn plain_text_is_compact() {
        let mut t = Terminal::new(80, 3).unwrap();
        t.feed(&[b'x'; 81]);
        let fb = t.framebuffer();
        let line = StoredLine::from_row(fb, fb.row(0).unwrap());
        assert!(line.layout.is_none() && line.runs.is_empty());
        assert_eq!(line.heap_bytes(), 80);
        assert!(line.wrapped());
        let blank = StoredLine::from_row(fb, fb.row(2).unwrap());
        assert_eq!(blank.heap_bytes(), 0);
        assert_eq!(blank.cells().len(), 80);
    }

    #[test]
    fn cells_round_trip() {
        roundtrip(b"hello \x1b[1;31mred\x1b[0m world\x1b[44m  \x1b[0m", 30);
        roundtrip("wide \u{4e2d}\u{6587} e\u{301} \u{1f600}!".as_bytes(), 20);
        roundtrip("\u{301}fallback and \u{4e2d}".as_bytes(), 20);
        roundtrip("0123456789\u{4e2d}".as_bytes(), 11);
        roundtrip(b"\x1b[7m   \x1b[0m", 10);
        roundtrip(b"a\x1b[5Cb\x1b[38;2;1;2;3mc\x1b[48;5;200md", 12);
        roundtrip(b"\x1b]8;;http://x\x07link\x1b]8;;\x07", 10);
    }

    #[test]
    fn hostile_wire_lines_are_refused() {
        let good = ScrollbackWireLine {
            text: Some("abc".into()),
            layout: vec![],
            runs: vec![],
            cols: Some(3),
            wrapped: None,
        };
        assert!(StoredLine::from_wire(&good).is_ok());
        let too_wide = ScrollbackWireLine {
            cols: Some(1 << 30),
            ..good.clone()
        };
        assert_eq!(
            StoredLine::from_wire(&too_wide),
            Err(LineError::TooWide(1 << 30))
        );
        let long_text = ScrollbackWireLine {
            text: Some("abcd".into()),
            ..good.clone()
        };
        assert_eq!(StoredLine::from_wire(&long_text), Err(LineError::BadLayout));
        let split_char = ScrollbackWireLine {
            text: Some("\u{e9}".into()),
            layout: vec![2],
            ..good.clone()
        };
        assert_eq!(
            StoredLine::from_wire(&split_char),
            Err(LineError::BadLayout)
        );
        let runs = ScrollbackWireLine {
            runs: vec![
                ScrollbackWireRun {
                    col: Some(2),
                    ..Default::default()
                },
                ScrollbackWireRun {
                    col: Some(1),
                    ..Default::default()
                },
            ],
            ..good
        };
        assert_eq!(StoredLine::from_wire(&runs), Err(LineError::BadRuns));
    }
}
