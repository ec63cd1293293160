//! Modes, renditions, titles, clipboard, bell, resets, the alternate screen, and the display
//! hooks the client uses to draw predictions over a copy of the screen.

use super::*;

impl Framebuffer {
    /// Display overlays (predictions, the notification bar): writes `ch` (a space for `None`)
    /// with `rend` at (`row`, `col`) as printing would, without moving the cursor, wrapping,
    /// inserting or changing the current rendition. Out-of-range positions are ignored.
    pub(crate) fn overlay_cell(
        &mut self,
        row: usize,
        col: usize,
        ch: Option<char>,
        rend: Rendition,
    ) {
        if row >= self.height || col >= self.width {
            return;
        }
        let (cursor, wrap, target, saved_rend, modes) = (
            self.cursor,
            self.pending_wrap,
            self.target,
            self.rend,
            self.modes,
        );
        self.cursor = Point { row, col };
        self.pending_wrap = false;
        self.target = GraphemeTarget::Cursor;
        self.modes.insert = false;
        self.modes.autowrap = false;
        self.rend = rend;
        self.print(ch.unwrap_or(' '));
        self.cursor = cursor;
        self.pending_wrap = wrap;
        self.target = target;
        self.rend = saved_rend;
        self.modes = modes;
    }

    /// Display overlays: set `attrs` on the cell at (`row`, `col`) in place.
    pub(crate) fn overlay_attrs(&mut self, row: usize, col: usize, attrs: Attrs) {
        if let Some(cell) = self
            .rows
            .get_mut(row)
            .and_then(|r| Arc::make_mut(r).cells.get_mut(col))
        {
            let mut rend = cell.rendition();
            rend.attrs.set(attrs, true);
            *cell = Cell::new(cell.content, rend, cell.flags, cell.link);
        }
    }

    /// Display overlays: show the cursor at (`row`, `col`), or hide it.
    pub(crate) fn overlay_cursor(&mut self, row: usize, col: usize, visible: bool) {
        if row < self.height && col < self.width {
            self.cursor = Point { row, col };
            self.pending_wrap = false;
        }
        self.modes.cursor_visible = visible;
    }

    pub(crate) fn set_rendition(&mut self, rend: Rendition) {
        self.rend = rend;
    }
    pub(crate) fn modes_mut(&mut self) -> &mut Modes {
        &mut self.modes
    }
    /// G0/G1 designations and the shift state (SCS, SI/SO).
    pub(crate) fn charsets_mut(&mut self) -> &mut super::super::charset::Charsets {
        &mut self.charsets
    }
    pub(crate) fn ring_bell(&mut self) {
        self.bell_count = self.bell_count.wrapping_add(1);
    }
    pub(crate) fn set_title(&mut self, icon: bool, window: bool, text: String) {
        if icon {
            self.icon_name = text.clone();
        }
        if window {
            self.title = text;
        }
        self.title_initialized = true;
    }
    pub(crate) fn set_clipboard(&mut self, text: String) {
        self.clipboard = text;
    }

    /// DECCOLM: clear and home, width unchanged.
    pub(crate) fn column_mode(&mut self) {
        self.set_cursor(0, 0);
        self.erase_rows(0, self.height);
    }

    /// DECSTR.
    pub(crate) fn soft_reset(&mut self) {
        self.modes.insert = false;
        self.modes.origin = false;
        self.modes.cursor_visible = true;
        self.modes.application_cursor_keys = false;
        self.top = 0;
        self.bottom = self.height - 1;
        self.rend = Rendition::default();
        self.saved = SavedCursor::initial();
        self.charsets = Default::default();
    }

    /// RIS: everything but the bell counter, icon name and "title initialized".
    pub(crate) fn full_reset(&mut self) {
        let fresh = match Framebuffer::new(self.width, self.height) {
            Ok(f) => f,
            Err(_) => return,
        };
        let bell = self.bell_count;
        let icon = std::mem::take(&mut self.icon_name);
        let title_init = self.title_initialized;
        *self = fresh;
        self.bell_count = bell;
        self.icon_name = icon;
        self.title_initialized = title_init;
    }

    /// Switches to (`on`) or from the alternate screen.
    pub(crate) fn set_alternate_screen(&mut self, on: bool) {
        match (on, self.saved_main.is_some()) {
            (true, false) => {
                let erase = self.erase_rend();
                let alt = (0..self.height)
                    .map(|_| Arc::new(Row::new(self.width, erase)))
                    .collect();
                self.saved_main = Some(std::mem::replace(&mut self.rows, alt));
            }
            (false, true) => {
                if let Some(main) = self.saved_main.take() {
                    self.rows = main;
                }
            }
            _ => {}
        }
    }
}
