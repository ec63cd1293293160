//! Character sets (SCS, SI/SO): the DEC Special Graphics set designated into G0 or G1 and
//! mapped to Unicode line-drawing characters as it is printed.
//!
//! Upstream mosh 1.4 ignores `ESC ( 0` and SI/SO (its server asks ncurses for UTF-8 line
//! drawing with `NCURSES_NO_UTF8_ACS=1`), so a program that draws boxes with the VT100
//! graphics set shows `lqqk` instead of `┌──┐`. The MoshKit emulator maps them when they are
//! printed: the framebuffer only ever holds Unicode, so the differ sends UTF-8 and every
//! client (upstream's included) shows the box. Designations and the shift state are part of
//! the state DECSC saves and DECRC restores (as in xterm); DECSTR and RIS reset them.

/// A 94-character set that can be designated into G0 or G1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Charset {
    /// US ASCII (`ESC ( B`; also what every other national set is treated as).
    #[default]
    Ascii,
    /// DEC Special Graphics (`ESC ( 0`).
    DecGraphics,
}

impl Charset {
    /// The set an SCS final byte designates.
    pub(crate) fn from_final(byte: u8) -> Charset {
        match byte {
            b'0' => Charset::DecGraphics,
            _ => Charset::Ascii,
        }
    }
}

/// G0 and G1 and which of them is invoked into GL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Charsets {
    g: [Charset; 2],
    /// SO invoked G1 (SI returns to G0).
    shifted: bool,
}

impl Charsets {
    /// SCS: designate `set` into G0 (`slot` 0, `ESC (`) or G1 (`slot` 1, `ESC )`).
    pub(crate) fn designate(&mut self, slot: usize, set: Charset) {
        if let Some(g) = self.g.get_mut(slot) {
            *g = set;
        }
    }

    /// SO (`true`, G1 into GL) or SI (`false`, G0).
    pub(crate) fn shift(&mut self, out: bool) {
        self.shifted = out;
    }

    /// The set printable characters are taken from now.
    fn active(&self) -> Charset {
        self.g[usize::from(self.shifted)]
    }

    /// Whether printing maps characters at all (the common case is a cheap `false`).
    pub(crate) fn maps(&self) -> bool {
        self.active() != Charset::Ascii
    }

    /// What `c` prints as under the active set.
    pub(crate) fn map(&self, c: char) -> char {
        match self.active() {
            Charset::Ascii => c,
            Charset::DecGraphics => dec_special_graphics(c),
        }
    }
}

/// The DEC Special Graphics glyph of `c` (0x5f–0x7e), as xterm and the VT100 manual draw it;
/// other characters are unchanged.
pub(crate) fn dec_special_graphics(c: char) -> char {
    match c {
        '_' => '\u{a0}',
        '`' => '◆',
        'a' => '▒',
        'b' => '␉',
        'c' => '␌',
        'd' => '␍',
        'e' => '␊',
        'f' => '°',
        'g' => '±',
        'h' => '␤',
        'i' => '␋',
        'j' => '┘',
        'k' => '┐',
        'l' => '┌',
        'm' => '└',
        'n' => '┼',
        'o' => '⎺',
        'p' => '⎻',
        'q' => '─',
        'r' => '⎼',
        's' => '⎽',
        't' => '├',
        'u' => '┤',
        'v' => '┴',
        'w' => '┬',
        'x' => '│',
        'y' => '≤',
        'z' => '≥',
        '{' => 'π',
        '|' => '≠',
        '}' => '£',
        '~' => '·',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphics_set_maps_only_its_range_and_only_when_invoked() {
        let mut cs = Charsets::default();
        assert!(!cs.maps());
        assert_eq!(cs.map('q'), 'q');
        cs.designate(1, Charset::DecGraphics);
        assert!(!cs.maps(), "G1 designated but not invoked");
        cs.shift(true);
        assert_eq!(cs.map('q'), '─');
        assert_eq!(cs.map('A'), 'A');
        assert_eq!(cs.map('中'), '中');
        cs.shift(false);
        assert_eq!(cs.map('q'), 'q');
        cs.designate(0, Charset::from_final(b'0'));
        assert_eq!(cs.map('x'), '│');
        cs.designate(0, Charset::from_final(b'B'));
        assert_eq!(cs.map('x'), 'x');
        cs.designate(7, Charset::DecGraphics);
        assert!(!cs.maps(), "out-of-range slot ignored");
    }

    #[test]
    fn every_graphic_is_one_column_wide() {
        for b in 0x5f..=0x7e_u8 {
            let g = dec_special_graphics(char::from(b));
            assert_ne!(g, char::from(b), "{b:#x}");
            assert_eq!(crate::terminal::char_width(g), Some(1), "{g}");
        }
    }
}
