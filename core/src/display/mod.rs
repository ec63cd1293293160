//! The frame differ (reference §7.4): given the frame a receiver shows and a new frame, emit
//! an escape-sequence string that turns one into the other.
//!
//! Only sequences in the "host diff alphabet" of §7.4 are emitted (plus `CSI ? 1007 h/l`,
//! `SGR 2`/`9` and OSC 8, which upstream's emulator ignores harmlessly), so that both
//! upstream mosh-client and this crate's [`Terminal`](crate::terminal::Terminal) rebuild the
//! new frame exactly (up to the bell counter, see [`Framebuffer::eq_ignoring_bell`]).
//!
//! ```
//! use moshkit_core::{display::new_frame, terminal::Terminal};
//! let host_before = Terminal::new(20, 5).unwrap();
//! let mut host = host_before.clone();
//! host.feed(b"\x1b[31mhi\r\nthere");
//! let mut client = host_before.clone();
//! client.feed(&new_frame(true, host_before.framebuffer(), host.framebuffer()));
//! assert_eq!(client.framebuffer(), host.framebuffer());
//! ```

use std::sync::Arc;

use crate::terminal::{Cell, Framebuffer, Point, Rendition, Row};

/// Most rows/columns the cursor is moved with CR/LF or BS instead of CUP.
const SHORT_MOVE: usize = 5;
/// Blank runs longer than this are erased with ECH rather than printed as spaces.
const ECH_THRESHOLD: usize = 4;

/// What the receiving terminal supports (§7.6). The server side and MoshKit's own replicas
/// use [`DisplayCaps::IDEAL`]; a client painting a real terminal derives them from terminfo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DisplayCaps {
    /// ECH (`CSI n X`) is usable.
    pub ech: bool,
    /// Erasing fills with the current background colour (terminfo `bce`).
    pub bce: bool,
    /// Window titles may be set (upstream: `TERM` starts with xterm, rxvt, kterm, Eterm,
    /// alacritty, screen or tmux).
    pub titles: bool,
}

impl DisplayCaps {
    /// Everything available: what upstream's server assumes for host diffs.
    pub const IDEAL: DisplayCaps = DisplayCaps {
        ech: true,
        bce: true,
        titles: true,
    };
}

impl Default for DisplayCaps {
    fn default() -> Self {
        DisplayCaps::IDEAL
    }
}

/// Returns the bytes that make a terminal showing `last` show `new`.
///
/// With `initialized == false` the receiver's screen is assumed unknown: the output starts
/// by clearing it and repaints everything. A size change implies `initialized == false`
/// (the receiver must already have been resized to `new`'s size).
pub fn new_frame(initialized: bool, last: &Framebuffer, new: &Framebuffer) -> Vec<u8> {
    new_frame_with(DisplayCaps::IDEAL, initialized, last, new)
}

/// [`new_frame`] for a receiver with the given capabilities.
pub fn new_frame_with(
    caps: DisplayCaps,
    initialized: bool,
    last: &Framebuffer,
    new: &Framebuffer,
) -> Vec<u8> {
    let mut w = Writer {
        out: Vec::with_capacity(256),
        f: new,
        caps,
        cursor: None,
        visible: true,
        rend: Rendition::default(),
        link: None,
    };
    w.frame(initialized, last);
    w.out
}

/// A stateful wrapper remembering the last frame sent, for callers that paint a stream of
/// frames (e.g. a client painting its real terminal).
#[derive(Clone, Debug, Default)]
pub struct FrameDiffer {
    caps: DisplayCaps,
    last: Option<Framebuffer>,
}

impl FrameDiffer {
    /// A differ for a receiver with `caps`, whose first frame is a full repaint.
    pub fn new(caps: DisplayCaps) -> FrameDiffer {
        FrameDiffer { caps, last: None }
    }
    /// The bytes turning the previous frame into `frame` (a full repaint the first time or
    /// after [`FrameDiffer::invalidate`]).
    pub fn next_frame(&mut self, frame: &Framebuffer) -> Vec<u8> {
        let out = match &self.last {
            Some(last) => new_frame_with(self.caps, true, last, frame),
            None => new_frame_with(self.caps, false, frame, frame),
        };
        self.last = Some(frame.clone());
        out
    }
    /// Forces a full repaint on the next frame.
    pub fn invalidate(&mut self) {
        self.last = None;
    }
    /// The receiver's rows were all erased to blanks in the default rendition (`CSI 2 K` on
    /// each, not `CSI 2 J`, which some terminals copy into their scrollback), its cursor sent
    /// home and its rendition reset (`CSI H`, `CSI 0 m`); its modes are as last sent. The next
    /// frame draws only what is not blank.
    pub fn rows_erased(&mut self) {
        if let Some(last) = self.last.as_mut() {
            last.erase_for_repaint();
        }
    }
}

struct Writer<'a> {
    out: Vec<u8>,
    f: &'a Framebuffer,
    caps: DisplayCaps,
    /// Where the receiver's cursor is; `None` when unknown (or a wrap is pending there).
    cursor: Option<Point>,
    /// Cursor visibility as last emitted.
    visible: bool,
    /// The receiver's current rendition.
    rend: Rendition,
    /// The receiver's current hyperlink.
    link: Option<&'a str>,
}

fn push_num(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(v.to_string().as_bytes());
}

/// Appends `text` without controls (it ends up inside an OSC string).
fn push_osc_text(out: &mut Vec<u8>, text: &str) {
    for c in text.chars().filter(|c| !c.is_control()) {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

fn push_mode(out: &mut Vec<u8>, mode: u16, on: bool) {
    out.extend_from_slice(b"\x1b[?");
    push_num(out, usize::from(mode));
    out.push(if on { b'h' } else { b'l' });
}

/// A row of the receiver's assumed screen: one of `last`'s rows or a blank default row.
#[derive(Clone, Copy)]
enum OldRow<'a> {
    Last(&'a Arc<Row>),
    Blank,
}

const BLANK: Cell = Cell::blank(Rendition::erased(crate::terminal::Color::Default));

impl<'a> Writer<'a> {
    fn frame(&mut self, initialized: bool, last: &'a Framebuffer) {
        let f = self.f;
        // 1. Bell.
        if f.bell_count() != last.bell_count() {
            self.out.push(0x07);
        }
        // 2. Titles.
        if self.caps.titles
            && (f.title_initialized() || last.title_initialized())
            && (!initialized || f.icon_name() != last.icon_name() || f.title() != last.title())
        {
            if f.icon_name() == f.title() {
                self.out.extend_from_slice(b"\x1b]0;");
                push_osc_text(&mut self.out, f.title());
                self.out.push(0x07);
            } else {
                self.out.extend_from_slice(b"\x1b]1;");
                push_osc_text(&mut self.out, f.icon_name());
                self.out.extend_from_slice(b"\x07\x1b]2;");
                push_osc_text(&mut self.out, f.title());
                self.out.push(0x07);
            }
        }
        // 3. Clipboard.
        if f.clipboard() != last.clipboard() {
            self.out.extend_from_slice(b"\x1b]52;c;");
            push_osc_text(&mut self.out, f.clipboard());
            self.out.push(0x07);
        }
        // 4. Reverse video.
        let (fm, lm) = (f.modes(), last.modes());
        if !initialized || fm.reverse_video != lm.reverse_video {
            push_mode(&mut self.out, 5, fm.reverse_video);
        }
        // 5. Size.
        let mut initialized = initialized;
        if !initialized || f.width() != last.width() || f.height() != last.height() {
            self.out.extend_from_slice(b"\x1b[r\x1b[0m\x1b[H\x1b[2J");
            initialized = false;
            self.cursor = Some(Point::default());
            self.rend = Rendition::default();
        } else {
            self.cursor = Some(last.cursor());
            self.rend = last.rendition();
        }
        // 6. Cursor visibility baseline.
        if initialized {
            self.visible = lm.cursor_visible;
        } else {
            self.out.extend_from_slice(b"\x1b[?25l");
            self.visible = false;
        }
        // 7. The receiver's rows (after a clear: blank default rows).
        let height = f.height();
        let mut old: Vec<OldRow<'a>> = if initialized {
            last.shared_rows().iter().map(OldRow::Last).collect()
        } else {
            vec![OldRow::Blank; height]
        };
        // 8. Scroll detection.
        let mut skip_rows = 0;
        if initialized {
            if let Some((k, h)) = self.detect_scroll(last, &old) {
                self.emit_scroll(k, h);
                for y in 0..k + h {
                    old[y] = if y + k < k + h {
                        old[y + k]
                    } else {
                        OldRow::Blank
                    };
                }
                skip_rows = h;
            }
        }
        // 9. Rows.
        let mut carry = false;
        for (y, old_row) in old.iter().enumerate() {
            if y < skip_rows {
                continue;
            }
            carry = self.put_row(y, *old_row, last, carry, initialized);
        }
        // 10. Cursor position.
        let target = f.cursor();
        if !initialized || self.cursor != Some(target) {
            self.move_to(target, false);
        }
        // 11. Cursor visibility.
        if !initialized || self.visible != fm.cursor_visible {
            push_mode(&mut self.out, 25, fm.cursor_visible);
            self.visible = fm.cursor_visible;
        }
        // 12. Rendition (the receiver's erase colour must match) and hyperlink.
        if !initialized || self.rend != f.rendition() {
            self.set_rendition(f.rendition(), true);
        }
        self.set_link(None);
        // 13.–16. Modes.
        if !initialized || fm.bracketed_paste != lm.bracketed_paste {
            push_mode(&mut self.out, 2004, fm.bracketed_paste);
        }
        if !initialized || fm.mouse_mode != lm.mouse_mode {
            match fm.mouse_mode.mode_number() {
                None => {
                    for m in [1003, 1002, 1001, 1000] {
                        push_mode(&mut self.out, m, false);
                    }
                }
                Some(new) => {
                    if let Some(old) = lm.mouse_mode.mode_number() {
                        push_mode(&mut self.out, old, false);
                    }
                    push_mode(&mut self.out, new, true);
                }
            }
        }
        if !initialized || fm.focus_events != lm.focus_events {
            push_mode(&mut self.out, 1004, fm.focus_events);
        }
        if !initialized || fm.mouse_encoding != lm.mouse_encoding {
            match fm.mouse_encoding.mode_number() {
                None => {
                    for m in [1015, 1006, 1005] {
                        push_mode(&mut self.out, m, false);
                    }
                }
                Some(new) => {
                    if let Some(old) = lm.mouse_encoding.mode_number() {
                        push_mode(&mut self.out, old, false);
                    }
                    push_mode(&mut self.out, new, true);
                }
            }
        }
        // Extension: upstream never sends 1007, but it is part of the compared state.
        if fm.alternate_scroll != lm.alternate_scroll || (!initialized && fm.alternate_scroll) {
            push_mode(&mut self.out, 1007, fm.alternate_scroll);
        }
    }

    /// Whether new row `y` is old row `old_y` moved (same generation and contents).
    fn same_row(&self, y: usize, old: OldRow<'_>, last: &Framebuffer) -> bool {
        let (Some(new_row), OldRow::Last(old_row)) = (self.f.shared_rows().get(y), old) else {
            return false;
        };
        Arc::ptr_eq(new_row, old_row)
            || (new_row.generation() == old_row.generation()
                && Framebuffer::rows_equal(new_row, self.f, old_row, last))
    }

    fn detect_scroll(&self, last: &Framebuffer, old: &[OldRow<'_>]) -> Option<(usize, usize)> {
        let height = old.len();
        if self.same_row(0, old[0], last) {
            return None;
        }
        let k = (1..height).find(|&k| self.same_row(0, old[k], last))?;
        let h = (0..height - k)
            .take_while(|&i| self.same_row(i, old[k + i], last))
            .count();
        Some((k, h))
    }

    fn emit_scroll(&mut self, k: usize, h: usize) {
        let height = self.f.height();
        self.set_rendition(Rendition::default(), true);
        self.set_link(None);
        if k + h == height && self.cursor.is_some_and(|c| c.row == height - 1) {
            self.out.push(b'\r');
            self.out.extend(std::iter::repeat_n(b'\n', k));
            self.cursor = Some(Point {
                row: height - 1,
                col: 0,
            });
        } else {
            self.out.extend_from_slice(b"\x1b[1;");
            push_num(&mut self.out, k + h);
            self.out.push(b'r');
            // DECSTBM homes the cursor.
            self.cursor = Some(Point::default());
            self.move_to(
                Point {
                    row: k + h - 1,
                    col: 0,
                },
                true,
            );
            self.out.extend(std::iter::repeat_n(b'\n', k));
            self.out.extend_from_slice(b"\x1b[r");
            self.cursor = Some(Point::default());
        }
    }

    /// Draws new row `y` over `old`; returns whether the next row continues it (the receiver
    /// has a wrap pending that the next row's first cell must trigger).
    fn put_row(
        &mut self,
        y: usize,
        old: OldRow<'a>,
        last: &'a Framebuffer,
        carry: bool,
        initialized: bool,
    ) -> bool {
        let f = self.f;
        let Some(row) = f.shared_rows().get(y) else {
            return false;
        };
        let width = f.width();
        let cells = row.cells();
        let wraps = row.wrapped();
        let mut x = 0;
        let mut wrote_last = false;
        if carry {
            if let Some(cell) = cells.first() {
                self.print_cell(y, 0, cell);
                x = cell.width();
                wrote_last = x >= width;
            }
        }
        if initialized {
            if let OldRow::Last(o) = old {
                if Arc::ptr_eq(o, row) && !(wrote_last && wraps) {
                    return false;
                }
            }
        }
        let old_cell = |i: usize| -> (&Cell, &Framebuffer) {
            match old {
                OldRow::Last(r) => (r.cells().get(i).unwrap_or(&BLANK), last),
                OldRow::Blank => (&BLANK, f),
            }
        };
        let same = |i: usize| -> bool {
            let (o, of) = old_cell(i);
            cells
                .get(i)
                .is_some_and(|c| Framebuffer::cells_equal(c, f, o, of))
        };
        let mut clear_run = 0;
        let mut run_rend = Rendition::default();
        while let Some(cell) = cells.get(x) {
            if clear_run == 0 && same(x) && (!cell.is_wide() || same(x + 1)) {
                x += cell.width();
                continue;
            }
            if cell.is_empty() {
                if clear_run == 0 {
                    run_rend = cell.rendition();
                }
                if cell.rendition() == run_rend {
                    clear_run += 1;
                    x += 1;
                    continue;
                }
            }
            if clear_run > 0 {
                self.flush_blanks(y, x, clear_run, run_rend, false);
                clear_run = 0;
                if cell.is_empty() {
                    run_rend = cell.rendition();
                    clear_run = 1;
                    x += 1;
                    continue;
                }
            }
            if wraps && x + cell.width() >= width {
                self.cursor = None;
            }
            self.move_to(Point { row: y, col: x }, true);
            self.print_cell(y, x, cell);
            x += cell.width();
            if x >= width {
                wrote_last = true;
            }
        }
        if clear_run > 0 {
            let start = x - clear_run;
            if self.erasable(run_rend) && !wraps {
                self.move_to(Point { row: y, col: start }, true);
                self.set_rendition(run_rend, false);
                self.out.extend_from_slice(b"\x1b[K");
            } else {
                self.flush_blanks(y, x, clear_run, run_rend, true);
                wrote_last = true;
            }
        }
        if wrote_last && y + 1 < f.height() {
            if wraps {
                self.cursor = None;
                return true;
            }
            self.out.extend_from_slice(b"\r\n");
            self.cursor = Some(Point { row: y + 1, col: 0 });
        }
        false
    }

    /// Draws `n` blank cells ending before column `end` of row `y`.
    fn flush_blanks(&mut self, y: usize, end: usize, n: usize, rend: Rendition, spaces: bool) {
        self.move_to(
            Point {
                row: y,
                col: end - n,
            },
            true,
        );
        self.set_rendition(rend, false);
        if !spaces && self.caps.ech && self.erasable(rend) && n > ECH_THRESHOLD {
            self.out.extend_from_slice(b"\x1b[");
            push_num(&mut self.out, n);
            self.out.push(b'X');
        } else {
            self.set_link(None);
            self.out.extend(std::iter::repeat_n(b' ', n));
            self.cursor = if end >= self.f.width() {
                None
            } else {
                Some(Point { row: y, col: end })
            };
        }
    }

    /// Whether erasing (EL/ECH) reproduces blank cells of this rendition on the receiver.
    fn erasable(&self, rend: Rendition) -> bool {
        rend.is_erase_rendition() && (self.caps.bce || rend == Rendition::default())
    }

    fn print_cell(&mut self, y: usize, x: usize, cell: &Cell) {
        let f = self.f;
        self.set_rendition(cell.rendition(), false);
        self.set_link(f.hyperlink(cell));
        f.cell_text(cell).write_utf8(&mut self.out);
        let next = x + cell.width();
        self.cursor = if next >= f.width() {
            None
        } else {
            Some(Point { row: y, col: next })
        };
    }

    fn set_rendition(&mut self, rend: Rendition, force: bool) {
        if force || rend != self.rend {
            rend.write_sgr(&mut self.out);
            self.rend = rend;
        }
    }

    fn set_link(&mut self, link: Option<&'a str>) {
        if link != self.link {
            self.out.extend_from_slice(b"\x1b]8;");
            match link {
                Some(text) => push_osc_text(&mut self.out, text),
                None => self.out.push(b';'),
            }
            self.out.push(0x07);
            self.link = link;
        }
    }

    /// Moves the receiver's cursor; a `silent` move (before drawing) hides it first.
    fn move_to(&mut self, to: Point, silent: bool) {
        if self.cursor == Some(to) {
            return;
        }
        if silent && self.visible {
            self.out.extend_from_slice(b"\x1b[?25l");
            self.visible = false;
        }
        match self.cursor {
            Some(c) if to.col == 0 && to.row >= c.row && to.row - c.row < SHORT_MOVE => {
                if c.col != 0 {
                    self.out.push(b'\r');
                }
                self.out.extend(std::iter::repeat_n(b'\n', to.row - c.row));
            }
            Some(c) if to.row == c.row && to.col < c.col && c.col - to.col < SHORT_MOVE => {
                self.out.extend(std::iter::repeat_n(0x08, c.col - to.col));
            }
            _ => {
                self.out.extend_from_slice(b"\x1b[");
                push_num(&mut self.out, to.row + 1);
                self.out.push(b';');
                push_num(&mut self.out, to.col + 1);
                self.out.push(b'H');
            }
        }
        self.cursor = Some(to);
    }
}
