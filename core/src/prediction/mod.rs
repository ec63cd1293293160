//! Speculative local echo: mosh's prediction engine (reference §9.2).
//!
//! The engine watches the bytes the user types and guesses their effect on the screen (characters
//! appear at the cursor, backspace deletes, CR moves to the next line). Guesses are grouped in
//! *epochs*: after anything the engine cannot predict (a control character, an escape sequence,
//! a wide character) later guesses stay hidden (*tentative*) until one of them is confirmed by
//! the server's echo, which reveals the whole epoch. A displayed guess that turns out wrong
//! resets everything.
//!
//! The engine is sans-IO and independent of the terminal's storage: it reads the latest remote
//! screen through the [`Screen`] trait and produces a [`PredictionOverlay`] (cells and cursor to
//! draw over a copy of that screen) instead of mutating a framebuffer. Time is passed in.

//! The engine is split by concept: [`engine`] (upstream's engine: state, triggers, typed
//! input), `judging` (checking guesses against new screens, epochs, the overlay), `cells`
//! (cell and cursor predictions), `input` (the parser of typed bytes) and `extensions`
//! (MoshKit's additions to upstream's rules, see docs/prediction.md).

mod cells;
mod engine;
mod extensions;
mod input;
mod judging;
#[cfg(test)]
mod tests;

pub use engine::PredictionEngine;

use std::fmt;
use std::time::Duration;

use crate::terminal::char_width;

/// Send interval above which the SRTT trigger switches predictions on (`SRTT_TRIGGER_HIGH`).
pub const SRTT_TRIGGER_HIGH: Duration = Duration::from_millis(30);
/// Send interval at or below which the SRTT trigger may switch off (`SRTT_TRIGGER_LOW`).
pub const SRTT_TRIGGER_LOW: Duration = Duration::from_millis(20);
/// Send interval above which predictions are underlined (`FLAG_TRIGGER_HIGH`).
pub const FLAG_TRIGGER_HIGH: Duration = Duration::from_millis(80);
/// Send interval at or below which underlining stops (`FLAG_TRIGGER_LOW`).
pub const FLAG_TRIGGER_LOW: Duration = Duration::from_millis(50);
/// A prediction pending this long is a glitch (`GLITCH_THRESHOLD`).
pub const GLITCH_THRESHOLD: Duration = Duration::from_millis(250);
/// Quick confirmations needed to clear the glitch trigger (`GLITCH_REPAIR_COUNT`).
pub const GLITCH_REPAIR_COUNT: u32 = 10;
/// Minimum spacing between counted quick confirmations (`GLITCH_REPAIR_MININTERVAL`).
pub const GLITCH_REPAIR_MININTERVAL: Duration = Duration::from_millis(150);
/// A prediction pending this long forces display and underlining (`GLITCH_FLAG_THRESHOLD`).
pub const GLITCH_FLAG_THRESHOLD: Duration = Duration::from_millis(5000);
/// A single read of more than this many bytes is a paste and is not predicted.
pub const PASTE_THRESHOLD: usize = 100;
/// Bracketed-paste start marker (`CSI 200 ~`).
pub(crate) const PASTE_START_MARKER: &[u8] = b"\x1b[200~";
/// Bracketed-paste end marker (`CSI 201 ~`).
pub(crate) const PASTE_END_MARKER: &[u8] = b"\x1b[201~";
/// How often timing triggers are re-evaluated while predictions are outstanding.
pub const PREDICTION_TICK: Duration = Duration::from_millis(50);
/// Send interval assumed before the transport reports one (`SEND_INTERVAL_MAX`).
pub const INITIAL_SEND_INTERVAL: Duration = Duration::from_millis(250);

/// Prompts remembered as "typing here echoes" (see [`PredictionEngine`]'s prompt learning).
pub const LEARNED_PROMPTS_MAX: usize = 16;
/// Bytes typed while the screen is stale that are kept to be predicted again once it is current
/// (see [`PredictionEngine::set_extensions`]); typing beyond this during one round trip is not
/// re-predicted.
pub const REPLAY_MAX: usize = 1024;

pub(crate) const NEVER: u64 = u64::MAX;

/// When predictions are shown (`MOSH_PREDICTION_DISPLAY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DisplayPreference {
    /// Shown only while the link is slow or glitchy (upstream's default).
    #[default]
    Adaptive,
    /// Shown whenever confirmed.
    Always,
    /// No prediction at all.
    Never,
    /// Shown immediately; wrong guesses are dropped one by one.
    Experimental,
}

impl std::str::FromStr for DisplayPreference {
    type Err = UnknownPreference;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "adaptive" => Ok(Self::Adaptive),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            "experimental" => Ok(Self::Experimental),
            other => Err(UnknownPreference(other.to_owned())),
        }
    }
}

/// A prediction mode name that is not one of upstream's four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown prediction mode {0:?} (expected adaptive, always, never or experimental)")]
pub struct UnknownPreference(pub String);

/// The contents of a screen cell, as far as predictions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Glyph {
    /// Empty, or a single space (upstream's `is_blank`).
    Blank,
    /// One narrow character.
    Char(char),
    /// Anything else (wide characters, combining sequences), identified by a hash of its text.
    Other(u64),
}

/// Read access to the latest remote screen.
pub trait Screen {
    /// The terminal's rendition (colours and attributes) type.
    type Rendition: Copy + Eq + fmt::Debug;
    /// Columns.
    fn cols(&self) -> usize;
    /// Rows.
    fn rows(&self) -> usize;
    /// Cursor as (row, col).
    fn cursor(&self) -> (usize, usize);
    /// Contents of a cell (in bounds).
    fn glyph(&self, row: usize, col: usize) -> Glyph;
    /// Rendition of a cell (in bounds).
    fn rendition(&self, row: usize, col: usize) -> Self::Rendition;
    /// The rendition new text would be drawn with.
    fn drawing_rendition(&self) -> Self::Rendition;
}

/// One cell to draw over the remote screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredictedCell<R> {
    /// Row.
    pub row: usize,
    /// Column.
    pub col: usize,
    /// New contents and rendition, or `None` to keep the remote cell (an "unknown" prediction
    /// that is only underlined).
    pub replacement: Option<(Glyph, R)>,
    /// Whether to underline it (predictions are flagged on slow links).
    pub underline: bool,
}

/// What to draw over the remote screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictionOverlay<R> {
    /// Predicted cursor position, if it differs from the remote one.
    pub cursor: Option<(usize, usize)>,
    /// Predicted cells.
    pub cells: Vec<PredictedCell<R>>,
}

impl<R> Default for PredictionOverlay<R> {
    fn default() -> Self {
        PredictionOverlay {
            cursor: None,
            cells: Vec::new(),
        }
    }
}
