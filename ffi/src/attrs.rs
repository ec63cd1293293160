//! The attribute bits of a screen cell, one definition for every surface: the C header's
//! `MOSHKIT_ATTR_*` and the `attrs` field of the uniffi `Cell` (Kotlin/Swift) use these values.

use moshkit_core::terminal::Attrs;

/// Attribute bit: bold.
pub const MOSHKIT_ATTR_BOLD: u8 = 1;
/// Attribute bit: faint.
pub const MOSHKIT_ATTR_FAINT: u8 = 2;
/// Attribute bit: italic.
pub const MOSHKIT_ATTR_ITALIC: u8 = 4;
/// Attribute bit: underline (also marks unconfirmed predictions on a slow link).
pub const MOSHKIT_ATTR_UNDERLINE: u8 = 8;
/// Attribute bit: blink.
pub const MOSHKIT_ATTR_BLINK: u8 = 16;
/// Attribute bit: inverse video (swap fg and bg).
pub const MOSHKIT_ATTR_INVERSE: u8 = 32;
/// Attribute bit: invisible.
pub const MOSHKIT_ATTR_INVISIBLE: u8 = 64;
/// Attribute bit: strikeout.
pub const MOSHKIT_ATTR_STRIKEOUT: u8 = 128;

/// The attribute bits of `a` (the `MOSHKIT_ATTR_*` values).
pub fn attr_bits(a: Attrs) -> u8 {
    [
        (Attrs::BOLD, MOSHKIT_ATTR_BOLD),
        (Attrs::FAINT, MOSHKIT_ATTR_FAINT),
        (Attrs::ITALIC, MOSHKIT_ATTR_ITALIC),
        (Attrs::UNDERLINE, MOSHKIT_ATTR_UNDERLINE),
        (Attrs::BLINK, MOSHKIT_ATTR_BLINK),
        (Attrs::INVERSE, MOSHKIT_ATTR_INVERSE),
        (Attrs::INVISIBLE, MOSHKIT_ATTR_INVISIBLE),
        (Attrs::STRIKEOUT, MOSHKIT_ATTR_STRIKEOUT),
    ]
    .into_iter()
    .filter(|(flag, _)| a.contains(*flag))
    .fold(0, |bits, (_, bit)| bits | bit)
}
