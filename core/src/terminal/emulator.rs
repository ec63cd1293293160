//! The `vte::Perform` implementation: dispatch of controls, ESC, CSI and OSC (§8.3–§8.9).

use vte::{Params, Perform};

use super::cell::{Attrs, Color, Rendition};
use super::charset::Charset;
use super::framebuffer::{Framebuffer, MouseEncoding, MouseMode, TITLE_PAYLOAD_LIMIT};
use super::{CLIPBOARD_LIMIT, cell::push_decimal};

/// Most SGR/CSI parameters looked at.
const MAX_PARAMS: usize = 32;
/// Most buffered printable characters before they are applied (bounds memory).
pub(crate) const PENDING_LIMIT: usize = 4096;
/// Longest hyperlink (`params;uri`) kept.
const MAX_LINK_BYTES: usize = 2048;

/// Borrowed view of a terminal while the parser runs.
pub(crate) struct Performer<'a> {
    pub(crate) fb: &'a mut Framebuffer,
    pub(crate) replies: &'a mut Vec<u8>,
    /// Printable characters not yet applied (flushed before any other action).
    pub(crate) pending: &'a mut Vec<char>,
    /// The parser's last action, if it was printing this character (then the parser is in
    /// the ground state).
    pub(crate) last_print: Option<char>,
}

impl Performer<'_> {
    pub(crate) fn flush(&mut self) {
        if !self.pending.is_empty() {
            // Every SCS/SI/SO flushes first, so all pending text is under one set.
            let sets = *self.fb.charsets_mut();
            if sets.maps() {
                for c in self.pending.iter_mut() {
                    *c = sets.map(*c);
                }
            }
            self.fb.print_str(self.pending);
            self.pending.clear();
        }
    }

    /// Any action other than printing: apply pending text first.
    fn other(&mut self) {
        self.flush();
        self.last_print = None;
    }

    fn c0(&mut self, byte: u8) {
        match byte {
            0x07 => {
                self.fb.ring_bell();
                self.fb.clear_pending_wrap();
            }
            0x08 => self.fb.backspace(),
            0x09 => self.fb.tab_forward(1),
            0x0a..=0x0c => {
                self.fb.index();
            }
            0x0d => self.fb.carriage_return(),
            // SO / SI: G1 / G0 into GL (an extension; upstream ignores both). Like every
            // other C0 control here they end a pending wrap.
            0x0e | 0x0f => {
                self.fb.charsets_mut().shift(byte == 0x0e);
                self.fb.clear_pending_wrap();
            }
            _ => self.fb.clear_pending_wrap(),
        }
    }

    /// C1 controls reached through 7-bit `ESC Fe` (the parser sees UTF-8 C1 as those).
    fn c1(&mut self, byte: u8) {
        match byte {
            0x84 => {
                self.fb.index();
            }
            0x85 => self.fb.next_line(),
            0x88 => {
                self.fb.set_tab_stop();
                self.fb.clear_pending_wrap();
            }
            0x8d => self.fb.reverse_index(),
            _ => self.fb.clear_pending_wrap(),
        }
    }

    fn sgr(&mut self, p: &[u16]) {
        let mut r = self.fb.rendition();
        let mut i = 0;
        while i < p.len() {
            let v = p[i];
            let remaining = p.len() - i;
            if (v == 38 || v == 48) && remaining >= 3 && p[i + 1] == 5 {
                if let Ok(n) = u8::try_from(p[i + 2]) {
                    if v == 38 {
                        r.fg = Color::Indexed(n);
                    } else {
                        r.bg = Color::Indexed(n);
                    }
                }
                i += 3;
                continue;
            }
            if (v == 38 || v == 48) && remaining >= 5 && p[i + 1] == 2 {
                let c = |x: u16| u8::try_from(x).unwrap_or(u8::MAX);
                let color = Color::Rgb(c(p[i + 2]), c(p[i + 3]), c(p[i + 4]));
                if v == 38 {
                    r.fg = color;
                } else {
                    r.bg = color;
                }
                i += 5;
                continue;
            }
            match v {
                0 => r = Rendition::default(),
                1 => r.attrs.set(Attrs::BOLD, true),
                2 => r.attrs.set(Attrs::FAINT, true),
                3 => r.attrs.set(Attrs::ITALIC, true),
                4 => r.attrs.set(Attrs::UNDERLINE, true),
                5 => r.attrs.set(Attrs::BLINK, true),
                7 => r.attrs.set(Attrs::INVERSE, true),
                8 => r.attrs.set(Attrs::INVISIBLE, true),
                9 => r.attrs.set(Attrs::STRIKEOUT, true),
                22 => {
                    r.attrs.set(Attrs::BOLD, false);
                    r.attrs.set(Attrs::FAINT, false);
                }
                23 => r.attrs.set(Attrs::ITALIC, false),
                24 => r.attrs.set(Attrs::UNDERLINE, false),
                25 => r.attrs.set(Attrs::BLINK, false),
                27 => r.attrs.set(Attrs::INVERSE, false),
                28 => r.attrs.set(Attrs::INVISIBLE, false),
                29 => r.attrs.set(Attrs::STRIKEOUT, false),
                30..=37 => r.fg = Color::Indexed((v - 30) as u8),
                39 => r.fg = Color::Default,
                40..=47 => r.bg = Color::Indexed((v - 40) as u8),
                49 => r.bg = Color::Default,
                90..=97 => r.fg = Color::Indexed((v - 90 + 8) as u8),
                100..=107 => r.bg = Color::Indexed((v - 100 + 8) as u8),
                _ => {}
            }
            i += 1;
        }
        self.fb.set_rendition(r);
    }

    fn dec_mode(&mut self, mode: u16, on: bool) {
        let fb = &mut *self.fb;
        match mode {
            1 => fb.modes_mut().application_cursor_keys = on,
            3 => fb.column_mode(),
            5 => fb.modes_mut().reverse_video = on,
            6 => fb.set_origin_mode(on),
            7 => fb.modes_mut().autowrap = on,
            25 => fb.modes_mut().cursor_visible = on,
            9 | 1000..=1003 => {
                fb.modes_mut().mouse_mode = if !on {
                    MouseMode::None
                } else {
                    match mode {
                        9 => MouseMode::X10,
                        1000 => MouseMode::Normal,
                        1001 => MouseMode::Highlight,
                        1002 => MouseMode::ButtonEvent,
                        _ => MouseMode::AnyEvent,
                    }
                }
            }
            1004 => fb.modes_mut().focus_events = on,
            1005 | 1006 | 1015 => {
                fb.modes_mut().mouse_encoding = if !on {
                    MouseEncoding::Default
                } else {
                    match mode {
                        1005 => MouseEncoding::Utf8,
                        1006 => MouseEncoding::Sgr,
                        _ => MouseEncoding::Urxvt,
                    }
                }
            }
            1007 => fb.modes_mut().alternate_scroll = on,
            2004 => fb.modes_mut().bracketed_paste = on,
            // Alternate screen: an extension over upstream 1.4 (see docs/terminal.md).
            47 => fb.set_alternate_screen(on),
            1047 => {
                if on {
                    fb.set_alternate_screen(true);
                } else {
                    if fb.alternate_screen_active() {
                        fb.clear_screen();
                    }
                    fb.set_alternate_screen(false);
                }
            }
            1048 => {
                if on {
                    fb.save_cursor();
                } else {
                    fb.restore_cursor();
                }
            }
            1049 => {
                if on {
                    if !fb.alternate_screen_active() {
                        fb.save_cursor();
                        fb.set_alternate_screen(true);
                        fb.clear_screen();
                    }
                } else if fb.alternate_screen_active() {
                    fb.set_alternate_screen(false);
                    fb.restore_cursor();
                }
            }
            _ => {}
        }
    }

    fn reply(&mut self, parts: &[&[u8]]) {
        for p in parts {
            self.replies.extend_from_slice(p);
        }
    }
}

/// The OSC parameters from index `from` on, joined back with `;`.
fn join(params: &[&[u8]], from: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in params.iter().enumerate().skip(from) {
        if i > from {
            out.push(b';');
        }
        out.extend_from_slice(part);
    }
    out
}

/// `getparam(n, default)`: missing or < 1 gives the default (§8.3).
fn param(p: &[u16], n: usize, default: u16) -> usize {
    match p.get(n) {
        Some(&v) if v >= 1 => usize::from(v),
        _ => usize::from(default),
    }
}

impl Perform for Performer<'_> {
    fn print(&mut self, c: char) {
        self.pending.push(c);
        self.last_print = Some(c);
        if self.pending.len() >= PENDING_LIMIT {
            self.flush();
        }
    }

    fn execute(&mut self, byte: u8) {
        self.other();
        if byte >= 0x80 {
            // A raw 8-bit C1 byte is invalid UTF-8 for upstream: one U+FFFD (§8.1).
            self.fb.print('\u{fffd}');
        } else {
            self.c0(byte);
        }
    }

    fn hook(&mut self, _params: &Params, _intermediates: &[u8], _ignore: bool, _action: char) {
        self.other();
    }

    fn put(&mut self, _byte: u8) {
        self.other();
    }

    fn unhook(&mut self) {
        self.other();
    }

    fn osc_dispatch(&mut self, params: &[&[u8]], _bell_terminated: bool) {
        self.other();
        let Some(&first) = params.first() else { return };
        match first {
            // Only selection `c` (and, as an extension, the empty selection) is honoured;
            // the `?` query form is ignored so no clipboard contents are ever reported.
            b"52" if params.len() >= 3 && (params[1] == b"c" || params[1].is_empty()) => {
                let data = join(params, 2);
                if data == b"?" {
                    return;
                }
                let mut text = String::from_utf8_lossy(&data).into_owned();
                text.retain(|c| !c.is_control());
                let mut end = text.len().min(CLIPBOARD_LIMIT);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                self.fb.set_clipboard(text);
            }
            // OSC 8 ; params ; uri — an extension (upstream ignores it).
            b"8" if params.len() >= 3 => {
                // Control characters are stripped first: a URI of only controls is no URI
                // (else the link would be kept but re-sent as `8;;`, which ends a link).
                let mut uri = String::from_utf8_lossy(&join(params, 2)).into_owned();
                uri.retain(|c| !c.is_control());
                if uri.is_empty() {
                    self.fb.set_hyperlink(None);
                } else {
                    let mut text = String::from_utf8_lossy(params[1]).into_owned();
                    text.retain(|c| !c.is_control());
                    text.push(';');
                    text.push_str(&uri);
                    if text.len() <= MAX_LINK_BYTES {
                        self.fb.set_hyperlink(Some(&text));
                    }
                }
            }
            b"" | b"0" | b"1" | b"2" => {
                if params.len() < 2 {
                    return;
                }
                let (icon, window) = match first {
                    b"1" => (true, false),
                    b"2" => (false, true),
                    _ => (true, true),
                };
                // Upstream keeps up to payload position 256: 254 characters after `0;`
                // (255 after a bare `;`; we keep 254 so the text survives re-encoding).
                let prefix = 2;
                let mut text = String::from_utf8_lossy(&join(params, 1)).into_owned();
                text.retain(|c| !c.is_control());
                if let Some((idx, _)) = text
                    .char_indices()
                    .nth(TITLE_PAYLOAD_LIMIT.saturating_sub(prefix))
                {
                    text.truncate(idx);
                }
                self.fb.set_title(icon, window, text);
            }
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: char) {
        self.other();
        let mut p = [0u16; MAX_PARAMS];
        let mut n = 0;
        let mut colon = false;
        for group in params.iter() {
            if group.len() > 1 {
                colon = true;
            }
            if let (Some(slot), Some(&v)) = (p.get_mut(n), group.first()) {
                *slot = v;
                n += 1;
            }
        }
        if ignore || colon {
            // Upstream ignores any CSI containing a colon; overlong sequences are dropped.
            self.fb.clear_pending_wrap();
            return;
        }
        let p = &p[..n];
        let fb = &mut *self.fb;
        // Every function clears the pending wrap except HT-like ones, SGR and DECSET/DECRST
        // (§8.3), even when it turns out to do nothing (e.g. an invalid DECSTBM).
        let keeps_wrap = matches!(
            (intermediates, action),
            ([], 'I' | 'Z' | 'g' | 'm') | ([b'?'], 'h' | 'l')
        );
        if !keeps_wrap {
            fb.clear_pending_wrap();
        }
        match (intermediates, action) {
            ([], 'A') => fb.cursor_up(param(p, 0, 1)),
            ([], 'B') => fb.cursor_down(param(p, 0, 1)),
            ([], 'C') => fb.cursor_right(param(p, 0, 1)),
            ([], 'D') => fb.cursor_left(param(p, 0, 1)),
            ([], 'H' | 'f') => fb.cursor_to(param(p, 0, 1) - 1, param(p, 1, 1) - 1),
            ([], 'd') => fb.cursor_to_row(param(p, 0, 1) - 1),
            ([], 'G' | '`') => fb.cursor_to_col(param(p, 0, 1) - 1),
            // CNL / CPL (an extension): CUD / CUU, then column 0.
            ([], 'E') => {
                fb.cursor_down(param(p, 0, 1));
                fb.carriage_return();
            }
            ([], 'F') => {
                fb.cursor_up(param(p, 0, 1));
                fb.carriage_return();
            }
            ([], 'J') => {
                fb.erase_display(p.first().copied().unwrap_or(0));
                fb.clear_pending_wrap();
            }
            ([], 'K') => {
                fb.erase_line(p.first().copied().unwrap_or(0));
                fb.clear_pending_wrap();
            }
            ([], 'X') => {
                fb.erase_chars(param(p, 0, 1));
                fb.clear_pending_wrap();
            }
            ([], '@') => {
                fb.insert_cells(param(p, 0, 1));
                fb.clear_pending_wrap();
            }
            ([], 'P') => {
                fb.delete_cells(param(p, 0, 1));
                fb.clear_pending_wrap();
            }
            ([], 'L') => fb.insert_lines(param(p, 0, 1)),
            ([], 'M') => fb.delete_lines(param(p, 0, 1)),
            ([], 'S') => {
                fb.scroll_up(param(p, 0, 1));
                fb.clear_pending_wrap();
            }
            ([], 'T') => {
                fb.scroll_down(param(p, 0, 1));
                fb.clear_pending_wrap();
            }
            ([], 'r') => {
                let height = u16::try_from(fb.height()).unwrap_or(u16::MAX);
                fb.set_scroll_region(param(p, 0, 1), param(p, 1, height));
            }
            ([], 'I') => fb.tab_forward(param(p, 0, 1)),
            ([], 'Z') => fb.tab_backward(param(p, 0, 1)),
            ([], 'g') => match p.first().copied().unwrap_or(0) {
                0 => fb.clear_tab_stop(false),
                3 => fb.clear_tab_stop(true),
                _ => {}
            },
            ([], 'm') => self.sgr(if p.is_empty() { &[0] } else { p }),
            ([], 'h' | 'l') => {
                for &mode in p {
                    if mode == 4 {
                        fb.modes_mut().insert = action == 'h';
                    }
                }
                fb.clear_pending_wrap();
            }
            ([b'?'], 'h' | 'l') => {
                for &mode in p {
                    self.dec_mode(mode, action == 'h');
                }
            }
            ([], 'c') => {
                fb.clear_pending_wrap();
                self.reply(&[b"\x1b[?62c"]);
            }
            ([b'>'], 'c') => {
                fb.clear_pending_wrap();
                self.reply(&[b"\x1b[>1;10;0c"]);
            }
            ([], 'n') => {
                fb.clear_pending_wrap();
                match p.first().copied().unwrap_or(0) {
                    5 => self.reply(&[b"\x1b[0n"]),
                    6 => {
                        let c = self.fb.cursor();
                        let mut out = b"\x1b[".to_vec();
                        push_decimal(&mut out, (c.row + 1) as u32);
                        out.push(b';');
                        push_decimal(&mut out, (c.col + 1) as u32);
                        out.push(b'R');
                        self.reply(&[&out]);
                    }
                    _ => {}
                }
            }
            ([b'!'], 'p') => {
                fb.soft_reset();
                fb.clear_pending_wrap();
            }
            _ => fb.clear_pending_wrap(),
        }
    }

    fn esc_dispatch(&mut self, intermediates: &[u8], ignore: bool, byte: u8) {
        self.other();
        if ignore {
            self.fb.clear_pending_wrap();
            return;
        }
        match (intermediates, byte) {
            ([], b'7') => {
                self.fb.save_cursor();
                self.fb.clear_pending_wrap();
            }
            ([], b'8') => self.fb.restore_cursor(),
            ([], b'c') => self.fb.full_reset(),
            ([], b'=') => {
                self.fb.modes_mut().application_keypad = true;
                self.fb.clear_pending_wrap();
            }
            ([], b'>') => {
                self.fb.modes_mut().application_keypad = false;
                self.fb.clear_pending_wrap();
            }
            ([b'#'], b'8') => {
                self.fb.alignment_test();
                self.fb.clear_pending_wrap();
            }
            ([], 0x40..=0x5f) => self.c1(byte + 0x40),
            // SCS into G0 / G1 (an extension; see `charset`).
            ([slot @ (b'(' | b')')], _) => {
                let slot = usize::from(*slot == b')');
                self.fb
                    .charsets_mut()
                    .designate(slot, Charset::from_final(byte));
                self.fb.clear_pending_wrap();
            }
            _ => self.fb.clear_pending_wrap(),
        }
    }
}
