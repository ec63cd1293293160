//! Writing text: printing characters (wide, combining, wrapping), the grapheme and hyperlink
//! tables.

use super::*;

impl Framebuffer {
    /// Makes the cells around `[col, col + w)` of `row` consistent before writing there: the
    /// left half of a wide character whose right half is overwritten is erased, and a wide
    /// character written over the left half of another erases that one's remains.
    pub(super) fn prepare_write(row: &mut Row, col: usize, w: usize, erase: Rendition) {
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

    pub(super) fn advance(&mut self, w: usize) {
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
    pub(super) fn wrap_line(&mut self) {
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
    pub(super) fn combine(&mut self, c: char) {
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

    pub(super) fn intern_grapheme(&mut self, text: &str) -> Option<u32> {
        if let Some(id) = self.graphemes.lookup(text) {
            return Some(id);
        }
        if self.graphemes.is_full(GRAPHEME_TABLE_CAP) {
            self.collect_graphemes();
        }
        Arc::make_mut(&mut self.graphemes).intern(text, GRAPHEME_TABLE_CAP)
    }

    pub(super) fn all_rows(&self) -> impl Iterator<Item = &Arc<Row>> {
        self.rows.iter().chain(self.saved_main.iter().flatten())
    }

    pub(super) fn collect_graphemes(&mut self) {
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
}
