//! Key encoding: named keys and modifiers to the bytes a mosh client sends, so an app needs no
//! terminfo.
//!
//! Upstream's client always puts the user's terminal in application cursor-key mode, so cursor
//! keys travel as SS3 sequences (`ESC O A`); the server rewrites them to `ESC [ A` unless the
//! remote application enabled DECCKM (reference §8.14). [`encode`] produces exactly that
//! client-side form; modified keys use xterm's `CSI 1 ; m X` / `CSI n ; m ~` forms, which the
//! server passes through unchanged.

/// Modifier keys held with a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Modifiers {
    /// Shift.
    pub shift: bool,
    /// Alt / Option (sent as an ESC prefix on characters, as xterm's `metaSendsEscape`).
    pub alt: bool,
    /// Control.
    pub ctrl: bool,
    /// Meta / Command; only encoded on special keys (xterm modifier bit 8).
    pub meta: bool,
}

impl Modifiers {
    /// No modifier.
    pub const NONE: Modifiers = Modifiers {
        shift: false,
        alt: false,
        ctrl: false,
        meta: false,
    };

    /// xterm's modifier parameter: 1 + shift(1) + alt(2) + ctrl(4) + meta(8); 1 means none.
    fn xterm_param(self) -> u8 {
        1 + u8::from(self.shift)
            + 2 * u8::from(self.alt)
            + 4 * u8::from(self.ctrl)
            + 8 * u8::from(self.meta)
    }
}

/// A key on the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamedKey {
    /// A character key (letters, digits, punctuation, space), as a Unicode scalar value; a
    /// value that is not one (a surrogate, above 0x10FFFF) encodes to nothing. (A number, not a
    /// `char`, so that the same type is the Kotlin/Swift API's: see [`NamedKey::char`].)
    Char {
        /// The Unicode scalar value.
        codepoint: u32,
    },
    /// Return / Enter.
    Enter,
    /// Tab (Shift-Tab is back-tab).
    Tab,
    /// Backspace (sends DEL, 0x7f, as upstream expects with its default erase character).
    Backspace,
    /// Escape.
    Escape,
    /// Cursor up.
    Up,
    /// Cursor down.
    Down,
    /// Cursor right.
    Right,
    /// Cursor left.
    Left,
    /// Home.
    Home,
    /// End.
    End,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Insert.
    Insert,
    /// Forward delete.
    Delete,
    /// Function key F1..=F20; other numbers encode to nothing.
    Function {
        /// The function key number (1 for F1).
        number: u8,
    },
}

impl NamedKey {
    /// The key that types `c`.
    pub const fn char(c: char) -> NamedKey {
        NamedKey::Char {
            codepoint: c as u32,
        }
    }
}

/// The bytes a mosh client sends for `key` with `mods`. Returns an empty vector for a key that
/// has no encoding (e.g. function key 0, or a codepoint that is not a Unicode scalar value).
pub fn encode(key: NamedKey, mods: Modifiers) -> Vec<u8> {
    let m = mods.xterm_param();
    match key {
        NamedKey::Char { codepoint } => match char::from_u32(codepoint) {
            Some(c) => encode_char(c, mods),
            None => Vec::new(),
        },
        NamedKey::Enter => with_alt(mods.alt, vec![b'\r']),
        NamedKey::Tab if mods.shift => b"\x1b[Z".to_vec(),
        NamedKey::Tab => with_alt(mods.alt, vec![b'\t']),
        NamedKey::Backspace => with_alt(mods.alt, vec![if mods.ctrl { 0x08 } else { 0x7f }]),
        NamedKey::Escape => with_alt(mods.alt, vec![0x1b]),
        NamedKey::Up => letter_key(b'A', m),
        NamedKey::Down => letter_key(b'B', m),
        NamedKey::Right => letter_key(b'C', m),
        NamedKey::Left => letter_key(b'D', m),
        NamedKey::Home => letter_key(b'H', m),
        NamedKey::End => letter_key(b'F', m),
        NamedKey::Insert => tilde_key(2, m),
        NamedKey::Delete => tilde_key(3, m),
        NamedKey::PageUp => tilde_key(5, m),
        NamedKey::PageDown => tilde_key(6, m),
        NamedKey::Function { number: n @ 1..=4 } => letter_key(b'P' + (n - 1), m),
        NamedKey::Function { number: n } => {
            match FUNCTION_TILDE_CODES.get(usize::from(n).wrapping_sub(5)) {
                Some(&code) => tilde_key(code, m),
                None => Vec::new(),
            }
        }
    }
}

/// `CSI n ~` codes of F5..=F20 (xterm).
const FUNCTION_TILDE_CODES: [u8; 16] = [
    15, 17, 18, 19, 20, 21, 23, 24, 25, 26, 28, 29, 31, 32, 33, 34,
];

/// Unmodified: SS3 form (`ESC O x`, application mode as upstream's client terminal);
/// modified: `CSI 1 ; m x`.
fn letter_key(letter: u8, m: u8) -> Vec<u8> {
    if m == 1 {
        vec![0x1b, b'O', letter]
    } else {
        format!("\x1b[1;{m}{}", char::from(letter)).into_bytes()
    }
}

fn tilde_key(code: u8, m: u8) -> Vec<u8> {
    if m == 1 {
        format!("\x1b[{code}~").into_bytes()
    } else {
        format!("\x1b[{code};{m}~").into_bytes()
    }
}

fn with_alt(alt: bool, mut bytes: Vec<u8>) -> Vec<u8> {
    if alt {
        bytes.insert(0, 0x1b);
    }
    bytes
}

fn encode_char(c: char, mods: Modifiers) -> Vec<u8> {
    let c = if mods.shift && c.is_ascii_lowercase() {
        c.to_ascii_uppercase()
    } else {
        c
    };
    let bytes = if mods.ctrl {
        match control_byte(c) {
            Some(b) => vec![b],
            None => c.to_string().into_bytes(),
        }
    } else {
        c.to_string().into_bytes()
    };
    with_alt(mods.alt, bytes)
}

/// The control character a terminal sends for Ctrl + `c` (xterm/VT conventions).
fn control_byte(c: char) -> Option<u8> {
    let b = u8::try_from(u32::from(c)).ok()?;
    Some(match b {
        b'a'..=b'z' => b - b'a' + 1,
        b'@'..=b'_' => b - b'@',
        b' ' | b'2' => 0,
        b'3'..=b'7' => b - b'3' + 0x1b,
        b'8' | b'?' => 0x7f,
        b'/' => 0x1f,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctrl() -> Modifiers {
        Modifiers {
            ctrl: true,
            ..Modifiers::NONE
        }
    }

    #[test]
    fn plain_keys() {
        assert_eq!(encode(NamedKey::char('a'), Modifiers::NONE), b"a");
        assert_eq!(encode(NamedKey::char('é'), Modifiers::NONE), "é".as_bytes());
        assert_eq!(encode(NamedKey::Enter, Modifiers::NONE), b"\r");
        assert_eq!(encode(NamedKey::Backspace, Modifiers::NONE), b"\x7f");
        assert_eq!(encode(NamedKey::Tab, Modifiers::NONE), b"\t");
        assert_eq!(encode(NamedKey::Escape, Modifiers::NONE), b"\x1b");
    }

    #[test]
    fn cursor_keys_use_the_client_terminal_application_form() {
        // The server rewrites these to CSI form unless the application enabled DECCKM.
        assert_eq!(encode(NamedKey::Up, Modifiers::NONE), b"\x1bOA");
        assert_eq!(encode(NamedKey::Left, Modifiers::NONE), b"\x1bOD");
        assert_eq!(encode(NamedKey::Home, Modifiers::NONE), b"\x1bOH");
        assert_eq!(encode(NamedKey::End, Modifiers::NONE), b"\x1bOF");
        assert_eq!(encode(NamedKey::Right, ctrl()), b"\x1b[1;5C");
        let shift_alt = Modifiers {
            shift: true,
            alt: true,
            ..Modifiers::NONE
        };
        assert_eq!(encode(NamedKey::Up, shift_alt), b"\x1b[1;4A");
    }

    #[test]
    fn editing_and_function_keys() {
        assert_eq!(encode(NamedKey::Delete, Modifiers::NONE), b"\x1b[3~");
        assert_eq!(encode(NamedKey::PageDown, ctrl()), b"\x1b[6;5~");
        assert_eq!(
            encode(NamedKey::Function { number: 1 }, Modifiers::NONE),
            b"\x1bOP"
        );
        assert_eq!(
            encode(NamedKey::Function { number: 4 }, ctrl()),
            b"\x1b[1;5S"
        );
        assert_eq!(
            encode(NamedKey::Function { number: 5 }, Modifiers::NONE),
            b"\x1b[15~"
        );
        assert_eq!(
            encode(NamedKey::Function { number: 12 }, Modifiers::NONE),
            b"\x1b[24~"
        );
        assert_eq!(
            encode(NamedKey::Function { number: 20 }, Modifiers::NONE),
            b"\x1b[34~"
        );
        assert!(encode(NamedKey::Function { number: 0 }, Modifiers::NONE).is_empty());
        assert!(encode(NamedKey::Function { number: 21 }, Modifiers::NONE).is_empty());
        let shift = Modifiers {
            shift: true,
            ..Modifiers::NONE
        };
        assert_eq!(encode(NamedKey::Tab, shift), b"\x1b[Z");
    }

    #[test]
    fn control_and_alt_characters() {
        assert_eq!(encode(NamedKey::char('c'), ctrl()), [0x03]);
        assert_eq!(encode(NamedKey::char('C'), ctrl()), [0x03]);
        assert_eq!(encode(NamedKey::char('['), ctrl()), [0x1b]);
        assert_eq!(encode(NamedKey::char('^'), ctrl()), [0x1e]);
        assert_eq!(encode(NamedKey::char(' '), ctrl()), [0x00]);
        assert_eq!(encode(NamedKey::char('?'), ctrl()), [0x7f]);
        assert_eq!(encode(NamedKey::char('é'), ctrl()), "é".as_bytes());
        let alt = Modifiers {
            alt: true,
            ..Modifiers::NONE
        };
        assert_eq!(encode(NamedKey::char('b'), alt), b"\x1bb");
        assert_eq!(encode(NamedKey::Backspace, alt), b"\x1b\x7f");
        let shift = Modifiers {
            shift: true,
            ..Modifiers::NONE
        };
        assert_eq!(encode(NamedKey::char('q'), shift), b"Q");
    }
}
