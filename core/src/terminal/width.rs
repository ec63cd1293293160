//! Character width, following upstream's rule (§8.10): U+0020–U+007E and U+00A0–U+00FF are one
//! column; everything else asks a glibc-compatible `wcwidth`.

use unicode_width::UnicodeWidthChar;

/// Columns a printed code point occupies: `None` for unprintable (ignored), else 0, 1 or 2.
#[inline]
pub fn char_width(c: char) -> Option<u8> {
    let u = c as u32;
    if (0x20..0x7f).contains(&u) || (0xa0..=0xff).contains(&u) {
        return Some(1);
    }
    if u < 0x20 || (0x7f..0xa0).contains(&u) {
        return None;
    }
    if let Some(w) = glibc_override(u) {
        return w;
    }
    c.width().map(|w| w.min(2) as u8)
}

/// Places where the `unicode-width` crate and glibc's `wcwidth` disagree (mostly code points
/// unassigned in glibc's Unicode version, which glibc reports as unprintable).
fn glibc_override(u: u32) -> Option<Option<u8>> {
    let table = super::width_table::GLIBC_OVERRIDES;
    let i = table.partition_point(|&(_, last, _)| last < u);
    match table.get(i) {
        Some(&(first, _, w)) if first <= u => Some(u8::try_from(w).ok()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn basic_widths() {
        assert_eq!(char_width('a'), Some(1));
        assert_eq!(char_width('\u{e9}'), Some(1));
        assert_eq!(char_width('\u{4e2d}'), Some(2));
        assert_eq!(char_width('\u{301}'), Some(0));
        assert_eq!(char_width('\u{1f600}'), Some(2));
        assert_eq!(char_width('\u{7f}'), None);
        assert_eq!(char_width('\u{1b}'), None);
        // glibc: Hangul medial vowels combine; unassigned code points are unprintable.
        assert_eq!(char_width('\u{1160}'), Some(0));
        assert_eq!(char_width('\u{378}'), None);
    }
}
