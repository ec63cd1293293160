//! Row storage: erasing, inserting and deleting cells and lines, scrolling, resizing, and the
//! storage invariants.

use super::*;

impl Framebuffer {
    pub(crate) fn erase_rend(&self) -> Rendition {
        Rendition::erased(self.rend.bg)
    }

    pub(super) fn row_mut(&mut self, y: usize) -> Option<&mut Row> {
        self.rows.get_mut(y).map(Arc::make_mut)
    }

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

    pub(super) fn erase_rows(&mut self, from: usize, to: usize) {
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
            // xterm: erase the saved lines, not the screen.
            3 if self.capture.enabled => {
                self.capture.cleared = true;
                self.capture.lines.clear();
            }
            _ => {}
        }
    }

    /// Every row blank in the default rendition, cursor home, rendition reset (what a frame
    /// differ assumes after its receiver's rows were erased).
    pub(crate) fn erase_for_repaint(&mut self) {
        self.rend = Rendition::default();
        self.erase_rows(0, self.height);
        self.cursor = Point::default();
        self.pending_wrap = false;
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
    pub(super) fn scroll_region_up(&mut self, top: usize, bottom: usize, n: usize) {
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
    pub(super) fn scroll_region_down(&mut self, top: usize, bottom: usize, n: usize) {
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
    pub(super) fn unwrap_last_row(&mut self) {
        if self.rows.last().is_some_and(|r| r.wrapped()) {
            if let Some(row) = self.row_mut(self.height - 1) {
                row.set_wrapped(false);
            }
        }
    }

    /// SU, and index at the bottom margin. Rows that leave the top of the main screen go to
    /// the scrollback capture (as xterm saves them: only when the region starts at row 0).
    pub(crate) fn scroll_up(&mut self, n: usize) {
        if self.capture.enabled && self.top == 0 && self.saved_main.is_none() {
            let n = n.min(self.bottom + 1);
            for y in 0..n {
                let line = crate::scrollback::StoredLine::from_row(self, &self.rows[y]);
                if self.capture.lines.len() >= super::MAX_PENDING_SCROLLED {
                    self.capture.lines.remove(0);
                    self.capture.dropped += 1;
                }
                self.capture.lines.push(line);
            }
        }
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
                if cell.content != super::super::cell::EMPTY
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
