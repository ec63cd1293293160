//! Cells, renditions and colours: the compact storage of one screen position.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A colour as mosh models it (§8.8): the default colour, a palette index or a 24-bit colour.
///
/// Palette indices 0–7 are the eight standard ANSI colours (`SGR 30–37`/`40–47` and
/// `38;5;0–7` are indistinguishable, as upstream); 8–15 are the bright colours (`SGR 90–97`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Color {
    /// The terminal's default foreground or background.
    #[default]
    Default,
    /// A 256-colour palette index.
    Indexed(u8),
    /// A 24-bit colour.
    Rgb(u8, u8, u8),
}

/// Text attribute bits of a [`Rendition`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Attrs(u8);

impl Attrs {
    /// SGR 1.
    pub const BOLD: Attrs = Attrs(1);
    /// SGR 2 (an extension: upstream 1.4 ignores it).
    pub const FAINT: Attrs = Attrs(2);
    /// SGR 3.
    pub const ITALIC: Attrs = Attrs(4);
    /// SGR 4.
    pub const UNDERLINE: Attrs = Attrs(8);
    /// SGR 5.
    pub const BLINK: Attrs = Attrs(16);
    /// SGR 7.
    pub const INVERSE: Attrs = Attrs(32);
    /// SGR 8.
    pub const INVISIBLE: Attrs = Attrs(64);
    /// SGR 9 (an extension: upstream 1.4 ignores it).
    pub const STRIKEOUT: Attrs = Attrs(128);

    /// No attribute set.
    pub const fn empty() -> Attrs {
        Attrs(0)
    }
    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Attrs) -> bool {
        self.0 & other.0 == other.0
    }
    /// Both sets of bits.
    pub const fn union(self, other: Attrs) -> Attrs {
        Attrs(self.0 | other.0)
    }
    /// The raw bits (the order of the constants above, bold = bit 0).
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// Attributes from raw bits (see [`Attrs::bits`]).
    pub const fn from_bits(bits: u8) -> Attrs {
        Attrs(bits)
    }
    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub(crate) fn set(&mut self, other: Attrs, on: bool) {
        if on {
            self.0 |= other.0;
        } else {
            self.0 &= !other.0;
        }
    }
}

/// Graphic rendition of a cell: colours and attributes. Nine bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rendition {
    /// Foreground colour.
    pub fg: Color,
    /// Background colour.
    pub bg: Color,
    /// Attribute bits.
    pub attrs: Attrs,
}

/// SGR parameters in serialisation order (§8.8), including the two extensions.
const ATTR_SGR: [(Attrs, &[u8]); 8] = [
    (Attrs::BOLD, b";1"),
    (Attrs::FAINT, b";2"),
    (Attrs::ITALIC, b";3"),
    (Attrs::UNDERLINE, b";4"),
    (Attrs::BLINK, b";5"),
    (Attrs::INVERSE, b";7"),
    (Attrs::INVISIBLE, b";8"),
    (Attrs::STRIKEOUT, b";9"),
];

impl Rendition {
    /// The rendition that erasing produces: only the background colour survives (BCE).
    pub const fn erased(bg: Color) -> Rendition {
        Rendition {
            fg: Color::Default,
            bg,
            attrs: Attrs::empty(),
        }
    }

    /// Whether erasing with this rendition current produces cells with exactly this rendition.
    pub fn is_erase_rendition(&self) -> bool {
        self.fg == Color::Default && self.attrs.is_empty()
    }

    /// Appends the complete SGR sequence (`ESC [ 0 ; … m`) selecting this rendition.
    pub fn write_sgr(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\x1b[0");
        for (bit, text) in ATTR_SGR {
            if self.attrs.contains(bit) {
                out.extend_from_slice(text);
            }
        }
        write_color(out, self.fg, 30, b"38");
        write_color(out, self.bg, 40, b"48");
        out.push(b'm');
    }
}

fn write_color(out: &mut Vec<u8>, color: Color, base: u8, extended: &[u8]) {
    match color {
        Color::Default => {}
        Color::Indexed(n) if n < 8 => {
            out.push(b';');
            push_decimal(out, u32::from(base + n));
        }
        Color::Indexed(n) => {
            out.push(b';');
            out.extend_from_slice(extended);
            out.extend_from_slice(b";5;");
            push_decimal(out, u32::from(n));
        }
        Color::Rgb(r, g, b) => {
            out.push(b';');
            out.extend_from_slice(extended);
            out.extend_from_slice(b";2");
            for v in [r, g, b] {
                out.push(b';');
                push_decimal(out, u32::from(v));
            }
        }
    }
}

/// Appends the decimal representation of `v`.
pub(crate) fn push_decimal(out: &mut Vec<u8>, v: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Content value of an empty cell.
pub(crate) const EMPTY: u32 = 0;
/// Contents at or above this value index the framebuffer's grapheme table.
pub(crate) const INTERNED_BASE: u32 = 0x11_0000;

pub(crate) const FLAG_WIDE: u8 = 1;
pub(crate) const FLAG_WRAP: u8 = 2;
pub(crate) const FLAG_FALLBACK: u8 = 4;

impl Color {
    /// The 32-bit form stored in cells: 0 default, `0x01_0000nn` indexed, `0x02_rrggbb` RGB.
    pub(crate) const fn pack(self) -> u32 {
        match self {
            Color::Default => 0,
            Color::Indexed(n) => 0x0100_0000 | n as u32,
            Color::Rgb(r, g, b) => 0x0200_0000 | (r as u32) << 16 | (g as u32) << 8 | b as u32,
        }
    }
    pub(crate) const fn unpack(v: u32) -> Color {
        match v >> 24 {
            1 => Color::Indexed(v as u8),
            2 => Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8),
            _ => Color::Default,
        }
    }
}

/// One screen position: 16 bytes of plain integers.
///
/// The grapheme text is either one `char` stored inline, or (for a base character with
/// combining marks) an index into the owning [`Framebuffer`](super::Framebuffer)'s grapheme
/// table; read it with [`Framebuffer::cell_text`](super::Framebuffer::cell_text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct Cell {
    pub(crate) content: u32,
    fg: u32,
    bg: u32,
    pub(crate) link: u16,
    attrs: u8,
    pub(crate) flags: u8,
}

impl Default for Cell {
    fn default() -> Self {
        Cell::blank(Rendition::erased(Color::Default))
    }
}

impl Cell {
    pub(crate) const fn new(content: u32, rend: Rendition, flags: u8, link: u16) -> Cell {
        Cell {
            content,
            fg: rend.fg.pack(),
            bg: rend.bg.pack(),
            link,
            attrs: rend.attrs.0,
            flags,
        }
    }

    pub(crate) const fn blank(rend: Rendition) -> Cell {
        Cell::new(EMPTY, rend, 0, 0)
    }

    /// The same cell with other contents.
    pub(crate) const fn with_content(self, content: u32) -> Cell {
        Cell { content, ..self }
    }

    pub(crate) fn same_rendition(&self, other: &Cell) -> bool {
        self.fg == other.fg && self.bg == other.bg && self.attrs == other.attrs
    }

    /// Whether this is a never-written cell in the default rendition (branch-free: the
    /// scrollback trims trailing ones from every line that scrolls off).
    #[inline]
    pub(crate) fn is_default_blank(&self) -> bool {
        (self.content
            | self.fg
            | self.bg
            | u32::from(self.link)
            | u32::from(self.attrs)
            | u32::from(self.flags))
            == 0
    }
    /// Whether the cell has no contents (never written, or erased).
    pub fn is_empty(&self) -> bool {
        self.content == EMPTY
    }
    /// The cell's rendition.
    pub fn rendition(&self) -> Rendition {
        Rendition {
            fg: Color::unpack(self.fg),
            bg: Color::unpack(self.bg),
            attrs: Attrs(self.attrs),
        }
    }
    /// Whether this is the left half of a double-width character (the next cell is its blank
    /// right half).
    pub fn is_wide(&self) -> bool {
        self.flags & FLAG_WIDE != 0
    }
    /// Columns the cell's character occupies: 1 or 2.
    pub fn width(&self) -> usize {
        if self.is_wide() { 2 } else { 1 }
    }
    /// Whether the contents started with a combining mark (drawn after U+00A0).
    pub fn is_fallback(&self) -> bool {
        self.flags & FLAG_FALLBACK != 0
    }
    /// The hyperlink id (0 = none); resolve with
    /// [`Framebuffer::hyperlink`](super::Framebuffer::hyperlink).
    pub fn hyperlink_id(&self) -> u16 {
        self.link
    }
    /// The base character when it is stored inline (no combining marks); `None` for empty or
    /// combined cells.
    pub fn inline_char(&self) -> Option<char> {
        if self.content == EMPTY || self.content >= INTERNED_BASE {
            None
        } else {
            char::from_u32(self.content)
        }
    }
    pub(crate) fn is_wrap(&self) -> bool {
        self.flags & FLAG_WRAP != 0
    }
    /// Flags that take part in comparisons (§7.4a: the fallback flag is tolerated).
    pub(crate) fn compared_flags(&self) -> u8 {
        self.flags & (FLAG_WIDE | FLAG_WRAP)
    }
    /// Whether the cell counts as blank for prediction (§8.12): empty, space or U+00A0.
    pub fn is_blank(&self) -> bool {
        matches!(self.content, EMPTY | 0x20 | 0xA0)
    }
}

/// The text of a cell, borrowed from its framebuffer (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellText<'a> {
    /// Nothing written (drawn as a space).
    Empty,
    /// A single character.
    Char(char),
    /// A base character followed by combining marks.
    Str(&'a str),
}

impl CellText<'_> {
    /// Appends the UTF-8 text that draws this cell (an empty cell draws as a space).
    pub fn write_utf8(&self, out: &mut Vec<u8>) {
        match *self {
            CellText::Empty => out.push(b' '),
            CellText::Char(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            CellText::Str(s) => out.extend_from_slice(s.as_bytes()),
        }
    }
    /// Whether both draw the same grapheme (an empty cell draws as a space).
    pub(crate) fn same_drawn(&self, other: &CellText<'_>) -> bool {
        fn norm<'x>(t: CellText<'x>) -> CellText<'x> {
            match t {
                CellText::Empty => CellText::Char(' '),
                other => other,
            }
        }
        match (norm(*self), norm(*other)) {
            (CellText::Char(a), CellText::Char(b)) => a == b,
            (CellText::Str(a), CellText::Str(b)) => a == b,
            (CellText::Char(a), CellText::Str(b)) | (CellText::Str(b), CellText::Char(a)) => {
                let mut buf = [0u8; 4];
                a.encode_utf8(&mut buf) == b
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for CellText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CellText::Empty => f.write_str(" "),
            CellText::Char(c) => write!(f, "{c}"),
            CellText::Str(s) => f.write_str(s),
        }
    }
}

static NEXT_ROW_ID: AtomicU64 = AtomicU64::new(1);

fn fresh_row_id() -> u64 {
    NEXT_ROW_ID.fetch_add(1, Ordering::Relaxed)
}

/// One screen line: its cells plus a generation id (a new id whenever the row is created or
/// fully reset; copies keep it), used by the frame differ to recognise scrolled rows.
#[derive(Clone, Debug)]
pub struct Row {
    pub(crate) cells: Vec<Cell>,
    pub(crate) id: u64,
}

impl Row {
    pub(crate) fn new(width: usize, rend: Rendition) -> Row {
        Row {
            cells: vec![Cell::blank(rend); width],
            id: fresh_row_id(),
        }
    }
    /// Makes every cell blank with `rend` and takes a new generation id.
    pub(crate) fn reset(&mut self, rend: Rendition) {
        self.cells.fill(Cell::blank(rend));
        self.id = fresh_row_id();
    }
    /// The cells, one per column.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }
    /// Whether the line continues on the next one (the wrap flag, stored in the last cell).
    pub fn wrapped(&self) -> bool {
        self.cells.last().is_some_and(Cell::is_wrap)
    }
    pub(crate) fn set_wrapped(&mut self, on: bool) {
        if let Some(c) = self.cells.last_mut() {
            if on {
                c.flags |= FLAG_WRAP;
            } else {
                c.flags &= !FLAG_WRAP;
            }
        }
    }
    pub(crate) fn generation(&self) -> u64 {
        self.id
    }
}

/// A bounded string table with stable ids and garbage collection, used for combined graphemes
/// and hyperlinks. Shared copy-on-write between framebuffer clones.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    slots: Vec<Option<Arc<str>>>,
    index: HashMap<Arc<str>, u32>,
    free: Vec<u32>,
}

impl Interner {
    pub(crate) fn get(&self, id: u32) -> Option<&str> {
        self.slots.get(id as usize).and_then(|s| s.as_deref())
    }
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
    pub(crate) fn is_full(&self, cap: usize) -> bool {
        self.free.is_empty() && self.slots.len() >= cap
    }
    pub(crate) fn lookup(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }
    /// Interns `s`; `None` when the table holds `cap` entries already.
    pub(crate) fn intern(&mut self, s: &str, cap: usize) -> Option<u32> {
        if let Some(&id) = self.index.get(s) {
            return Some(id);
        }
        let arc: Arc<str> = Arc::from(s);
        let id = if let Some(id) = self.free.pop() {
            *self.slots.get_mut(id as usize)? = Some(arc.clone());
            id
        } else {
            if self.slots.len() >= cap {
                return None;
            }
            let id = u32::try_from(self.slots.len()).ok()?;
            self.slots.push(Some(arc.clone()));
            id
        };
        self.index.insert(arc, id);
        Some(id)
    }
    /// Frees every slot whose `used` entry is false.
    pub(crate) fn retain(&mut self, used: &[bool]) {
        for (id, slot) in self.slots.iter_mut().enumerate() {
            if slot.is_some() && !used.get(id).copied().unwrap_or(false) {
                if let Some(s) = slot.take() {
                    self.index.remove(&s);
                }
                self.free.push(id as u32);
            }
        }
    }
    pub(crate) fn capacity_used(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cell_is_compact() {
        assert_eq!(std::mem::size_of::<Rendition>(), 9);
        assert_eq!(std::mem::size_of::<Cell>(), 16);
        for c in [
            Color::Default,
            Color::Indexed(0),
            Color::Indexed(255),
            Color::Rgb(1, 2, 3),
        ] {
            assert_eq!(Color::unpack(c.pack()), c);
        }
    }

    #[test]
    fn sgr_serialisation_matches_upstream_examples() {
        let mut out = Vec::new();
        let r = Rendition {
            fg: Color::Indexed(1),
            bg: Color::Default,
            attrs: Attrs::BOLD,
        };
        r.write_sgr(&mut out);
        assert_eq!(out, b"\x1b[0;1;31m");
        out.clear();
        Rendition {
            fg: Color::Indexed(200),
            bg: Color::Rgb(1, 2, 3),
            attrs: Attrs::empty(),
        }
        .write_sgr(&mut out);
        assert_eq!(out, b"\x1b[0;38;5;200;48;2;1;2;3m");
        out.clear();
        Rendition {
            fg: Color::Default,
            bg: Color::Indexed(3),
            attrs: Attrs::empty(),
        }
        .write_sgr(&mut out);
        assert_eq!(out, b"\x1b[0;43m");
    }
}
