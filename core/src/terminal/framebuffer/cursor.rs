//! Cursor movement, tab stops, the scroll region and the saved cursor.

use super::*;

impl Framebuffer {
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
    pub(super) fn row_limits(&self) -> (usize, usize) {
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

    /// DECSC.
    pub(crate) fn save_cursor(&mut self) {
        self.saved = SavedCursor {
            pos: self.cursor,
            rend: self.rend,
            autowrap: self.modes.autowrap,
            origin: self.modes.origin,
            charsets: self.charsets,
        };
    }
    /// DECRC.
    pub(crate) fn restore_cursor(&mut self) {
        let s = self.saved;
        self.rend = s.rend;
        self.modes.autowrap = s.autowrap;
        self.modes.origin = s.origin;
        self.charsets = s.charsets;
        self.set_cursor(s.pos.row, s.pos.col);
    }

    /// DECSET/DECRST 6: the home happens before the flag changes (upstream quirk).
    pub(crate) fn set_origin_mode(&mut self, on: bool) {
        let home = if self.modes.origin { self.top } else { 0 };
        self.set_cursor(home, 0);
        self.modes.origin = on;
    }
}
