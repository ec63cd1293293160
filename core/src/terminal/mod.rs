//! The terminal emulator: a `vte` parser driving a [`Framebuffer`].
//!
//! Both ends of mosh run it: the server feeds it the application's output (and writes
//! [`Terminal::take_replies`] back to the application), the client feeds it the server's
//! diffs (produced by [`crate::display::new_frame`]) to mirror the server's screen. The
//! semantics follow upstream mosh 1.4 (reference §8); deviations are listed in
//! `docs/terminal.md`.
//!
//! ```
//! use moshkit_core::terminal::Terminal;
//! let mut t = Terminal::new(80, 24).unwrap();
//! t.feed(b"\x1b[1;31mhello\x1b[0m\r\n\x1b[6n");
//! assert_eq!(t.framebuffer().row_text(0), "hello");
//! assert_eq!(t.take_replies(), b"\x1b[2;1R");
//! ```

mod cell;
mod charset;
mod emulator;
mod framebuffer;
mod input;
mod width;
mod width_table;

pub use cell::{Attrs, Cell, CellText, Color, Rendition, Row};
pub(crate) use framebuffer::ScrollCapture;
pub use framebuffer::{Framebuffer, Modes, MouseEncoding, MouseMode, Point};
pub use input::UserInput;
pub use width::char_width;

/// Widest accepted screen.
pub const MAX_WIDTH: usize = 4096;
/// Tallest accepted screen.
pub const MAX_HEIGHT: usize = 4096;
/// Most cells (width × height) accepted: bounds memory at 16 MiB per screen.
pub const MAX_CELLS: usize = 1 << 20;
/// Most bytes of an OSC string kept (upstream keeps 16384 code points).
pub const OSC_LIMIT: usize = 16384;
/// Most bytes of clipboard data kept (so that `52;c;` + data fits in [`OSC_LIMIT`]).
pub const CLIPBOARD_LIMIT: usize = OSC_LIMIT - 5;

/// Errors of the terminal API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerminalError {
    /// A size of zero, or beyond [`MAX_WIDTH`], [`MAX_HEIGHT`] or [`MAX_CELLS`].
    #[error("invalid terminal size {width}x{height}")]
    InvalidSize {
        /// Requested columns.
        width: usize,
        /// Requested rows.
        height: usize,
    },
}

/// Pre-parser pass reproducing upstream's decode-then-parse order where `vte` differs:
/// UTF-8-encoded C1 controls (`C2 80`–`C2 9F`) become their 7-bit `ESC Fe` equivalents, and
/// OSC strings are cut at [`OSC_LIMIT`] bytes so that hostile output cannot grow memory.
#[derive(Clone, Debug, Default)]
struct PreFilter {
    /// A `C2` byte ended the previous chunk and was held back.
    held_c2: bool,
    /// The previous forwarded byte was ESC.
    after_esc: bool,
    /// Inside an OSC string: bytes of payload seen so far.
    osc_len: Option<usize>,
}

/// Start of the first run of at least 16 printable ASCII bytes.
fn long_printable_run(bytes: &[u8]) -> Option<usize> {
    let mut run = 0;
    for (i, b) in bytes.iter().enumerate() {
        if (0x20..0x7f).contains(b) {
            run += 1;
            if run == 16 {
                return Some(i + 1 - 16);
            }
        } else {
            run = 0;
        }
    }
    None
}

/// Index of the first ESC or `C2` byte (or the length): eight bytes at a time.
#[inline]
fn find_special(bytes: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_byte = |w: u64, b: u8| {
        let x = w ^ (LO * u64::from(b));
        x.wrapping_sub(LO) & !x & HI != 0
    };
    let mut i = 0;
    for chunk in bytes.chunks_exact(8) {
        let Ok(arr) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(arr);
        if has_byte(w, 0x1b) || has_byte(w, 0xc2) {
            break;
        }
        i += 8;
    }
    let tail = bytes.get(i..).unwrap_or_default();
    i + tail
        .iter()
        .position(|&b| b == 0x1b || b == 0xc2)
        .unwrap_or(tail.len())
}

impl PreFilter {
    /// Tracks one forwarded byte; returns false if it must be dropped.
    #[inline]
    fn track(&mut self, b: u8) -> bool {
        if let Some(len) = self.osc_len {
            match b {
                0x07 | 0x18 | 0x1a => self.osc_len = None,
                0x1b => {
                    self.osc_len = None;
                    self.after_esc = true;
                }
                _ => {
                    if len >= OSC_LIMIT {
                        return false;
                    }
                    self.osc_len = Some(len + 1);
                }
            }
            return true;
        }
        if self.after_esc {
            self.after_esc = b == 0x1b;
            if b == b']' {
                self.osc_len = Some(0);
            }
        } else if b == 0x1b {
            self.after_esc = true;
        }
        true
    }

    fn run(&mut self, input: &[u8], mut sink: impl FnMut(&[u8])) {
        let mut start = 0;
        let mut i = 0;
        if self.held_c2 {
            self.held_c2 = false;
            match input.first() {
                None => {
                    self.held_c2 = true;
                    return;
                }
                Some(&b) if (0x80..=0x9f).contains(&b) => {
                    let esc = [0x1b, b - 0x40];
                    for &e in &esc {
                        self.track(e);
                    }
                    sink(&esc);
                    start = 1;
                    i = 1;
                }
                Some(_) => {
                    if self.track(0xc2) {
                        sink(&[0xc2]);
                    }
                }
            }
        }
        while i < input.len() {
            if self.osc_len.is_none() && !self.after_esc {
                i += find_special(input.get(i..).unwrap_or_default());
                if i >= input.len() {
                    break;
                }
            }
            let b = input[i];
            if b == 0xc2 {
                match input.get(i + 1) {
                    None => {
                        sink(&input[start..i]);
                        self.held_c2 = true;
                        return;
                    }
                    Some(&n) if (0x80..=0x9f).contains(&n) => {
                        sink(&input[start..i]);
                        let esc = [0x1b, n - 0x40];
                        let mut keep = [true; 2];
                        for (k, &e) in esc.iter().enumerate() {
                            keep[k] = self.track(e);
                        }
                        if keep == [true, true] {
                            sink(&esc);
                        }
                        i += 2;
                        start = i;
                        continue;
                    }
                    Some(_) => {}
                }
            }
            if !self.track(b) {
                sink(&input[start..i]);
                start = i + 1;
            }
            i += 1;
        }
        sink(&input[start..]);
    }
}

/// A terminal emulator: parser state plus [`Framebuffer`].
///
/// `Clone` copies the framebuffer (cheaply: rows are shared copy-on-write) but **not** a
/// partially received escape sequence: the clone's parser starts in the ground state, like
/// after [`Terminal::reset_input`].
pub struct Terminal {
    parser: vte::Parser,
    filter: PreFilter,
    fb: Framebuffer,
    replies: Vec<u8>,
    pending: Vec<char>,
    /// The parser is in the ground state with no partial UTF-8 sequence.
    ground: bool,
    /// An incomplete UTF-8 sequence that ended the previous [`Terminal::feed`], held back so
    /// the parser never has to join a character across two calls: `vte` 0.15.0 loses the
    /// character after such a joined one when more non-ASCII follows in the same call (it
    /// counts every valid byte it copied, not just the joined character's). Nothing can be
    /// printed before the sequence is complete, so holding it changes no result.
    utf8_tail: Vec<u8>,
    input: UserInput,
}

/// Length of an incomplete (so far valid) UTF-8 sequence at the end of `bytes`, or 0.
fn incomplete_utf8_suffix(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=3.min(n) {
        let b = bytes[n - back];
        if (0x80..0xc0).contains(&b) {
            continue; // a continuation byte: look further back for the lead
        }
        let need = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return 0,
        };
        return if back < need { back } else { 0 };
    }
    0
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("fb", &self.fb)
            .finish_non_exhaustive()
    }
}

impl Clone for Terminal {
    fn clone(&self) -> Self {
        Terminal {
            parser: vte::Parser::new(),
            filter: PreFilter::default(),
            fb: self.fb.clone(),
            replies: self.replies.clone(),
            pending: Vec::new(),
            ground: true,
            utf8_tail: Vec::new(),
            input: self.input,
        }
    }
}

impl Terminal {
    /// A blank terminal of `cols` × `rows`.
    pub fn new(cols: usize, rows: usize) -> Result<Terminal, TerminalError> {
        Ok(Terminal::from_framebuffer(Framebuffer::new(cols, rows)?))
    }

    /// A terminal showing `fb` (e.g. a client replica rebuilt from a stored frame).
    pub fn from_framebuffer(fb: Framebuffer) -> Terminal {
        Terminal {
            parser: vte::Parser::new(),
            filter: PreFilter::default(),
            fb,
            replies: Vec::new(),
            pending: Vec::new(),
            ground: true,
            utf8_tail: Vec::new(),
            input: UserInput::default(),
        }
    }

    /// Feeds output of the application (server side) or a diff (client side). Never fails:
    /// malformed input is handled like upstream (U+FFFD, ignored sequences).
    pub fn feed(&mut self, bytes: &[u8]) {
        let joined;
        let bytes = if self.utf8_tail.is_empty() {
            bytes
        } else {
            let mut v = std::mem::take(&mut self.utf8_tail);
            v.extend_from_slice(bytes);
            joined = v;
            &joined[..]
        };
        let keep = incomplete_utf8_suffix(bytes);
        let (bytes, later) = bytes.split_at(bytes.len() - keep);
        self.utf8_tail = later.to_vec();
        let Terminal {
            parser,
            filter,
            fb,
            replies,
            pending,
            ground,
            ..
        } = self;
        let mut perf = emulator::Performer {
            fb,
            replies,
            pending,
            last_print: None,
        };
        filter.run(bytes, |chunk| {
            let mut rest = chunk;
            while !rest.is_empty() {
                // Fast path: the parser is known to be in the ground state with no partial
                // UTF-8, so printable ASCII is printed without going through it.
                if *ground {
                    let n = rest
                        .iter()
                        .take_while(|b| (0x20..0x7f).contains(*b))
                        .count();
                    for part in rest[..n].chunks(emulator::PENDING_LIMIT) {
                        perf.pending.extend(part.iter().map(|&b| char::from(b)));
                        if perf.pending.len() >= emulator::PENDING_LIMIT {
                            perf.flush();
                        }
                    }
                    rest = &rest[n..];
                    if rest.is_empty() {
                        break;
                    }
                }
                // Hand the parser everything up to the first character of the next long
                // printable run; if it printed that character it is back in the ground state.
                let cut = long_printable_run(rest).map_or(rest.len(), |i| i + 1);
                let (head, tail) = rest.split_at(cut);
                let (body, last) = head.split_at(head.len().saturating_sub(1));
                parser.advance(&mut perf, body);
                // The final byte alone: if the parser printed it, it is in the ground state.
                perf.last_print = None;
                parser.advance(&mut perf, last);
                *ground = match last.first() {
                    Some(&b) if (0x20..0x7f).contains(&b) => perf.last_print == Some(char::from(b)),
                    _ => false,
                };
                rest = tail;
            }
        });
        perf.flush();
    }

    /// Takes the answers to queries (DA, DA2, DSR, CPR) to be written to the application.
    pub fn take_replies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.replies)
    }

    /// Resizes the screen (§8.12: no reflow, rows added/removed at the bottom).
    pub fn resize(&mut self, cols: usize, rows: usize) -> Result<(), TerminalError> {
        self.fb.resize(cols, rows)
    }

    /// The screen.
    pub fn framebuffer(&self) -> &Framebuffer {
        &self.fb
    }

    /// Starts or stops keeping the lines that scroll off the top of the main screen.
    pub(crate) fn set_scrollback_capture(&mut self, on: bool) {
        self.fb.set_scrollback_capture(on);
    }

    /// The lines that scrolled off since the last call (see [`Terminal::set_scrollback_capture`]).
    pub(crate) fn take_scrolled_off(&mut self) -> framebuffer::ScrollCapture {
        self.fb.take_scrolled_off()
    }

    /// Drops any partially received escape sequence or UTF-8 character.
    pub fn reset_input(&mut self) {
        self.parser = vte::Parser::new();
        self.utf8_tail.clear();
        self.filter = PreFilter::default();
        self.ground = true;
    }

    /// Translates bytes typed by the user (arriving in application-cursor-key form from the
    /// client) for the application, honouring its DECCKM mode (§8.14). The translator keeps
    /// state across calls, so `ESC O` may be split between calls.
    pub fn translate_user_input(&mut self, bytes: &[u8]) -> Vec<u8> {
        let app = self.fb.modes().application_cursor_keys;
        self.input.translate(bytes, app)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_feeds_loses_nothing_after_it() {
        // "é" U+0308 U+0323 "e" U+0301 "x", cut inside U+0323 (found by the chunking
        // proptest): vte alone drops the "e".
        let s = b"\xc3\xa9\xcc\x88\xcc\xa3e\xcc\x81x";
        let mut whole = Terminal::new(10, 2).unwrap();
        whole.feed(s);
        assert_eq!(
            whole.framebuffer().row_text(0),
            "\u{e9}\u{308}\u{323}e\u{301}x"
        );
        for cut in 0..=s.len() {
            let mut split = Terminal::new(10, 2).unwrap();
            split.feed(&s[..cut]);
            split.feed(&s[cut..]);
            assert!(split.framebuffer() == whole.framebuffer(), "cut {cut}");
        }
        // Byte by byte, and an incomplete character that never completes prints nothing.
        let mut t = Terminal::new(10, 2).unwrap();
        for b in s {
            t.feed(std::slice::from_ref(b));
        }
        assert!(t.framebuffer() == whole.framebuffer());
        let mut t = Terminal::new(10, 2).unwrap();
        t.feed(b"a\xe2\x82");
        assert_eq!(t.framebuffer().row_text(0), "a");
        t.feed(b"\xac");
        assert_eq!(t.framebuffer().row_text(0), "a\u{20ac}");
        assert_eq!(incomplete_utf8_suffix(b"a\xf0\x9f\x98"), 3);
        assert_eq!(incomplete_utf8_suffix(b"a\xf0\x9f\x98\x80"), 0);
        assert_eq!(incomplete_utf8_suffix(b"\x80\x80\x80"), 0);
        assert_eq!(incomplete_utf8_suffix(b"\xff"), 0);
    }

    #[test]
    fn prefilter_translates_utf8_c1() {
        let mut t = Terminal::new(10, 3).unwrap();
        t.feed(b"ab\xc2\x9b2;3Hx");
        assert_eq!(t.framebuffer().row_text(1), "  x");
        // split across feeds
        let mut t = Terminal::new(10, 3).unwrap();
        t.feed(b"\xc2");
        t.feed(b"\x9b3;1Hy");
        assert_eq!(t.framebuffer().row_text(2), "y");
        // non-C1 after C2 is a normal character
        let mut t = Terminal::new(10, 3).unwrap();
        t.feed(b"\xc2");
        t.feed(b"\xa9");
        assert_eq!(t.framebuffer().row_text(0), "\u{a9}");
    }

    #[test]
    fn terminal_is_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Terminal>();
        check::<Framebuffer>();
    }

    #[test]
    fn pending_text_is_bounded() {
        let mut t = Terminal::new(10, 3).unwrap();
        let long = vec![b'a'; 100_000];
        t.feed(&long);
        assert!(t.pending.capacity() <= 2 * emulator::PENDING_LIMIT);
        let mut s = String::new();
        for _ in 0..20_000 {
            s.push('\u{e9}');
        }
        t.feed(s.as_bytes());
        assert!(t.pending.capacity() <= 2 * emulator::PENDING_LIMIT);
        assert_eq!(t.framebuffer().row_text(2), "\u{e9}".repeat(10));
    }

    #[test]
    fn osc_is_bounded() {
        let mut t = Terminal::new(10, 3).unwrap();
        let mut s = b"\x1b]52;c;".to_vec();
        s.extend(std::iter::repeat_n(b'A', 100_000));
        s.push(7);
        t.feed(&s);
        assert_eq!(t.framebuffer().clipboard().len(), OSC_LIMIT - 5);
    }
}
