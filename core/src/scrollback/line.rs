//! One scrollback line in compact form, and its wire form.
//!
//! A screen row is 16 bytes a cell; a line kept in scrollback is its text (UTF-8), the runs of
//! equal rendition, and (only when the text alone does not say where each cell starts) the byte
//! length of each cell. Trailing blank cells in the default rendition are not stored. An 80
//! column line of plain text costs about 140 bytes (see `docs/benchmarks.md`).

use crate::session::ScreenCell;
use crate::terminal::{Attrs, CellText, Color, Framebuffer, MAX_WIDTH, Rendition, Row, char_width};
use crate::wire::{ScrollbackWireLine, ScrollbackWireRun};

/// Bit of [`StoredLine::flags`]: the line continues on the next one.
const WRAPPED: u8 = 1;
/// Longest text accepted from the wire for one cell (a base and its combining marks).
const MAX_CELL_BYTES: usize = 64;

/// A change of rendition at a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    col: u16,
    fg: u32,
    bg: u32,
    attrs: u8,
}

/// Bytes of one run in [`StoredLine::data`].
const RUN_BYTES: usize = 11;

impl Run {
    fn of(col: usize, r: Rendition) -> Run {
        Run {
            col: u16::try_from(col).unwrap_or(u16::MAX),
            fg: r.fg.pack(),
            bg: r.bg.pack(),
            attrs: r.attrs.bits(),
        }
    }
    fn rendition(&self) -> Rendition {
        Rendition {
            fg: Color::unpack(self.fg),
            bg: Color::unpack(self.bg),
            attrs: Attrs::from_bits(self.attrs),
        }
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.col.to_le_bytes());
        out.extend_from_slice(&self.fg.to_le_bytes());
        out.extend_from_slice(&self.bg.to_le_bytes());
        out.push(self.attrs);
    }
    fn read(b: &[u8]) -> Run {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Run {
            col: u16::from_le_bytes([b[0], b[1]]),
            fg: u32_at(2),
            bg: u32_at(6),
            attrs: b[10],
        }
    }
}

/// A line that scrolled off the top of a screen: one allocation holding the rendition runs,
/// the cell layout (only when needed) and the text; 24 bytes besides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredLine {
    /// `runs` × 11 bytes (column, fg, bg, attributes; the first at column 0; none when the
    /// whole line is the default rendition), then `layout` × u16 (per stored cell: byte length
    /// << 1 | wide; none when every cell is one character of non-zero width followed by
    /// zero-width ones, with the width `char_width` gives it), then the UTF-8 text.
    data: Box<[u8]>,
    runs: u16,
    layout: u16,
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

fn is_trailing_blank(cells: &[crate::terminal::Cell], i: usize) -> bool {
    let cell = &cells[i];
    // The common case first: a never-written cell (one 16-byte comparison).
    if cell.is_default_blank() {
        return true;
    }
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

/// Whether a cell's text is split back into the same cell by [`simple_spans`].
fn splits_simply(text: &str, wide: bool) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    match char_width(first) {
        Some(0) => false,
        w => (w == Some(2)) == wide && chars.all(|c| char_width(c) == Some(0)),
    }
}

fn assemble(runs: &[Run], layout: &[u16], text: &str, cols: u16, flags: u8) -> StoredLine {
    let mut data = Vec::with_capacity(runs.len() * RUN_BYTES + layout.len() * 2 + text.len());
    for r in runs {
        r.write(&mut data);
    }
    for l in layout {
        data.extend_from_slice(&l.to_le_bytes());
    }
    data.extend_from_slice(text.as_bytes());
    StoredLine {
        data: data.into_boxed_slice(),
        runs: u16::try_from(runs.len()).unwrap_or(u16::MAX),
        layout: u16::try_from(layout.len()).unwrap_or(u16::MAX),
        cols,
        flags,
    }
}

impl StoredLine {
    /// The line `row` of `fb` (one allocation; this runs for every line a host scrolls).
    pub(crate) fn from_row(fb: &Framebuffer, row: &Row) -> StoredLine {
        let cells = row.cells();
        let mut n = cells.len();
        while n > 0 && is_trailing_blank(cells, n - 1) {
            n -= 1;
        }
        let cells_kept = &cells[..n];
        // First pass: renditions, whether a layout is needed, the text's length.
        let mut runs: Vec<Run> = Vec::new();
        let mut current = Rendition::default();
        let mut simple = true;
        let mut text_len = 0;
        let mut right_half = false;
        for (col, cell) in cells_kept.iter().enumerate() {
            let r = cell.rendition();
            if r != current {
                if runs.is_empty() && col > 0 {
                    runs.push(Run::of(0, Rendition::default()));
                }
                runs.push(Run::of(col, r));
                current = r;
            }
            if right_half {
                right_half = false;
                continue;
            }
            right_half = cell.is_wide();
            match fb.cell_text(cell) {
                CellText::Empty => text_len += 1,
                CellText::Char(c) => {
                    simple &= char_width(c).is_some_and(|w| w > 0 && (w == 2) == cell.is_wide());
                    text_len += c.len_utf8();
                }
                CellText::Str(s) => {
                    simple &= splits_simply(s, cell.is_wide());
                    text_len += s.len();
                }
            }
        }
        let layout_len = if simple { 0 } else { n };
        let mut data = Vec::with_capacity(runs.len() * RUN_BYTES + layout_len * 2 + text_len);
        for r in &runs {
            r.write(&mut data);
        }
        // Second pass: the layout (rare) and the text.
        for pass_layout in [true, false] {
            if pass_layout && simple {
                continue;
            }
            let mut right_half = false;
            for cell in cells_kept {
                if right_half {
                    right_half = false;
                    if pass_layout {
                        data.extend_from_slice(&0u16.to_le_bytes());
                    }
                    continue;
                }
                right_half = cell.is_wide();
                let mut buf = [0u8; 4];
                let bytes: &[u8] = match fb.cell_text(cell) {
                    CellText::Empty => b" ",
                    CellText::Char(c) => c.encode_utf8(&mut buf).as_bytes(),
                    CellText::Str(s) => s.as_bytes(),
                };
                if pass_layout {
                    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX >> 1);
                    data.extend_from_slice(&((len << 1) | u16::from(right_half)).to_le_bytes());
                } else {
                    data.extend_from_slice(bytes);
                }
            }
        }
        StoredLine {
            data: data.into_boxed_slice(),
            runs: u16::try_from(runs.len()).unwrap_or(u16::MAX),
            layout: u16::try_from(layout_len).unwrap_or(u16::MAX),
            cols: u16::try_from(cells.len()).unwrap_or(u16::MAX),
            flags: if row.wrapped() { WRAPPED } else { 0 },
        }
    }

    /// A line of no cells (stands for one the peer sent malformed).
    pub(crate) fn blank() -> StoredLine {
        assemble(&[], &[], "", 0, 0)
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
        self.data.len()
    }

    fn runs(&self) -> impl Iterator<Item = Run> + '_ {
        self.data[..usize::from(self.runs) * RUN_BYTES]
            .chunks_exact(RUN_BYTES)
            .map(Run::read)
    }

    fn layout(&self) -> impl Iterator<Item = u16> + '_ {
        let start = usize::from(self.runs) * RUN_BYTES;
        self.data[start..start + usize::from(self.layout) * 2]
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn text(&self) -> &str {
        let start = usize::from(self.runs) * RUN_BYTES + usize::from(self.layout) * 2;
        // Built from a `str` (or checked when it came from the wire).
        std::str::from_utf8(&self.data[start..]).unwrap_or_default()
    }

    /// (byte range in the text, wide) of each stored cell.
    fn cell_spans(&self) -> Vec<(usize, usize, bool)> {
        if self.layout == 0 {
            return simple_spans(self.text());
        }
        let mut out = Vec::with_capacity(usize::from(self.layout));
        let mut at = 0;
        for l in self.layout() {
            let len = usize::from(l >> 1);
            out.push((at, at + len, l & 1 != 0));
            at += len;
        }
        out
    }

    /// The line as screen cells (exactly [`StoredLine::cols`] of them), in the model of
    /// [`ScreenCell`]: the right half of a wide character has width 0 and no text.
    pub(crate) fn cells(&self) -> Vec<ScreenCell> {
        let cols = self.cols();
        let text = self.text();
        let runs: Vec<Run> = self.runs().collect();
        let mut out = Vec::with_capacity(cols);
        let mut run = 0;
        let mut rend = Rendition::default();
        let mut right_half = false;
        for (col, (start, end, wide)) in self.cell_spans().into_iter().enumerate() {
            if col >= cols {
                break;
            }
            while let Some(r) = runs.get(run) {
                if usize::from(r.col) > col {
                    break;
                }
                rend = r.rendition();
                run += 1;
            }
            let (t, width) = if right_half {
                (String::new(), 0)
            } else {
                let t = text.get(start..end).unwrap_or(" ");
                (
                    if t.is_empty() { " " } else { t }.to_owned(),
                    if wide { 2 } else { 1 },
                )
            };
            right_half = wide && !right_half;
            out.push(ScreenCell {
                text: t,
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
            text: Some(self.text().to_owned()),
            layout: self.layout().map(u32::from).collect(),
            runs: self
                .runs()
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
        let text = w.text.as_deref().unwrap_or_default();
        if text.len() > MAX_CELL_BYTES * cols as usize {
            return Err(LineError::BadLayout);
        }
        let mut layout = Vec::with_capacity(w.layout.len());
        if w.layout.is_empty() {
            if text.chars().count() > cols as usize {
                return Err(LineError::BadLayout);
            }
        } else {
            if w.layout.len() > cols as usize {
                return Err(LineError::BadLayout);
            }
            let mut at = 0usize;
            for &v in &w.layout {
                let len = (v >> 1) as usize;
                if v > u32::from(u16::MAX) || len > MAX_CELL_BYTES {
                    return Err(LineError::BadLayout);
                }
                at += len;
                if at > text.len() || !text.is_char_boundary(at) {
                    return Err(LineError::BadLayout);
                }
                layout.push(v as u16);
            }
            if at != text.len() {
                return Err(LineError::BadLayout);
            }
        }
        if w.runs.len() > cols.max(1) as usize {
            return Err(LineError::BadRuns);
        }
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
        let flags = if w.wrapped.unwrap_or(false) {
            WRAPPED
        } else {
            0
        };
        Ok(assemble(&runs, &layout, text, cols as u16, flags))
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
        assert!(line.layout == 0 && line.runs == 0);
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
