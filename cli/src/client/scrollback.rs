//! Lines that scrolled off the remote screen, written into the user's terminal's own scrollback
//! (so its mouse wheel and search reach them), as a plain terminal session would leave them.
//!
//! Each new line is drawn on the top row and the whole screen is scrolled up by one with a
//! line feed at the bottom row (with the scroll region reset): every terminal keeps the row
//! that leaves the top of its main screen. The rows are then erased one by one and the frame
//! redrawn over them. This needs the
//! main screen, so the client does not switch to the alternate screen while it is on (see
//! `ClientPrefs::uses_alternate_screen`). Lines wider than the terminal are cut at its width.

use std::time::Instant;

use moshkit_core::scrollback::{ScrollbackLine, ScrollbackMode};
use moshkit_core::session::ClientSession;
use moshkit_core::terminal::Rendition;

/// Lines written per repaint at most (the rest follow at the next ones).
const MAX_LINES_PER_PAINT: usize = 4096;

/// How far the terminal's scrollback has been written.
#[derive(Debug)]
pub struct OuterScrollback {
    /// The next line to write.
    written: u64,
    mode: ScrollbackMode,
    clears: u64,
    /// A request for missing lines is outstanding (exact scrollback).
    fetching: bool,
}

impl OuterScrollback {
    /// Starts after the lines `session` already holds (they are not replayed).
    pub fn new(session: &ClientSession) -> Self {
        let sb = session.scrollback();
        OuterScrollback {
            written: sb.end(),
            mode: session.scrollback_mode(),
            clears: sb.clear_count(),
            fetching: false,
        }
    }

    /// A request completed.
    pub fn fetched(&mut self) {
        self.fetching = false;
    }

    /// Appends to `out` what writes the new lines into the terminal's scrollback; returns
    /// whether the screen was erased for that (the frame differ must then be told with
    /// `FrameDiffer::rows_erased`).
    pub fn write_new_lines(
        &mut self,
        session: &mut ClientSession,
        now: Instant,
        cols: usize,
        rows: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        let mode = session.scrollback_mode();
        let sb = session.scrollback();
        if mode != self.mode {
            // From captured lines to the server's own: those already written stay.
            self.mode = mode;
            self.written = sb.end();
            self.clears = sb.clear_count();
        }
        if sb.clear_count() != self.clears {
            // The application erased its scrollback (ED 3): so does the terminal, as xterm.
            self.clears = sb.clear_count();
            self.written = sb.end();
            out.extend_from_slice(b"\x1b[3J");
        }
        self.written = self.written.max(sb.range().start);
        let mut lines = Vec::new();
        while self.written < sb.end() && lines.len() < MAX_LINES_PER_PAINT {
            match sb.line(self.written) {
                Some(line) if !line.missing => lines.push(line),
                _ => break,
            }
            self.written += 1;
        }
        let blocked = self.written < sb.end() && sb.line(self.written).is_some_and(|l| l.missing);
        if blocked && !self.fetching && mode == ScrollbackMode::Exact {
            let end = sb.end();
            self.fetching = session.request_scrollback(now, self.written, end).is_ok();
        }
        if lines.is_empty() {
            return false;
        }
        out.extend_from_slice(b"\x1b[r");
        for line in &lines {
            out.extend_from_slice(b"\x1b[1;1H\x1b[0m\x1b[2K");
            render_line(line, cols, out);
            out.extend_from_slice(format!("\x1b[0m\x1b[{rows};1H\n").as_bytes());
        }
        // Blank the rows the scrolling left behind (line by line: `CSI 2 J` would copy the
        // screen into some terminals' scrollback), for `FrameDiffer::rows_erased`.
        for row in 1..=rows {
            out.extend_from_slice(format!("\x1b[{row};1H\x1b[2K").as_bytes());
        }
        out.extend_from_slice(b"\x1b[H");
        true
    }
}

/// The line's cells as text with SGR sequences, cut at `cols`.
fn render_line(line: &ScrollbackLine, cols: usize, out: &mut Vec<u8>) {
    let mut current = Rendition::default();
    let mut col = 0;
    for cell in &line.cells {
        if cell.width == 0 {
            continue;
        }
        if col + usize::from(cell.width) > cols {
            break;
        }
        let rend = Rendition {
            fg: cell.fg,
            bg: cell.bg,
            attrs: cell.attrs,
        };
        if rend != current {
            rend.write_sgr(out);
            current = rend;
        }
        out.extend_from_slice(cell.text.as_bytes());
        col += usize::from(cell.width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moshkit_core::session::ScreenCell;
    use moshkit_core::terminal::{Attrs, Color};

    fn cell(text: &str, width: u8, fg: Color) -> ScreenCell {
        ScreenCell {
            text: text.into(),
            width,
            fg,
            bg: Color::Default,
            attrs: Attrs::empty(),
            predicted: false,
        }
    }

    #[test]
    fn lines_render_with_colours_and_are_cut_at_the_width() {
        let line = ScrollbackLine {
            index: 0,
            cells: vec![
                cell("a", 1, Color::Default),
                cell("b", 1, Color::Indexed(1)),
                cell("\u{4e2d}", 2, Color::Indexed(1)),
                cell("", 0, Color::Indexed(1)),
                cell("c", 1, Color::Default),
            ],
            wrapped: false,
            gap_before: false,
            missing: false,
        };
        let mut out = Vec::new();
        render_line(&line, 10, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            "a\x1b[0;31mb\u{4e2d}\x1b[0mc"
        );
        let mut cut = Vec::new();
        render_line(&line, 3, &mut cut);
        assert_eq!(String::from_utf8(cut).unwrap_or_default(), "a\x1b[0;31mb");
    }
}
