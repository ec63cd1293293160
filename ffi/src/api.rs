//! The uniffi API: what Kotlin (`org.moshkit`) and Swift (`MoshKit`) see.
//!
//! The types here mirror moshkit-core's public types one to one; the functions only convert and
//! delegate. Panics are caught by uniffi's call wrapper and surface as the foreign language's
//! internal-error exception.

use std::sync::Arc;

use moshkit_core::{crypto, keys, prediction};

pub use crate::error::MoshKitError;
use crate::logging;
pub use crate::logging::{LogLevel, LogSink};

/// The key type is core's own ([`keys::NamedKey`], [`keys::Modifiers`]), exported to Kotlin
/// and Swift as it is: these `remote` declarations only tell uniffi its shape (the compiler
/// checks that they match core's definitions).
pub use moshkit_core::keys::{Modifiers, NamedKey};

/// A key on the keyboard.
#[uniffi::remote(Enum)]
pub enum NamedKey {
    /// A character key (letters, digits, punctuation, space), as a Unicode scalar value
    /// (Kotlin: `'a'.code` or `String.codePointAt(0)`, Swift: `UnicodeScalar.value`). A value
    /// that is not a Unicode scalar (a surrogate, > 0x10FFFF) encodes to nothing.
    Char {
        /// The Unicode scalar value.
        codepoint: u32,
    },
    /// Return / Enter.
    Enter,
    /// Tab (Shift-Tab is back-tab).
    Tab,
    /// Backspace (sends DEL, 0x7f).
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

/// Modifier keys held with a key.
#[uniffi::remote(Record)]
pub struct Modifiers {
    /// Shift.
    #[uniffi(default = false)]
    pub shift: bool,
    /// Alt / Option (sent as an ESC prefix on characters).
    #[uniffi(default = false)]
    pub alt: bool,
    /// Control.
    #[uniffi(default = false)]
    pub ctrl: bool,
    /// Meta / Command; only encoded on special keys.
    #[uniffi(default = false)]
    pub meta: bool,
}

/// When predictive local echo is shown (mirror of `moshkit_core::prediction::DisplayPreference`,
/// mosh's `--predict` / `MOSH_PREDICTION_DISPLAY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PredictionMode {
    /// Shown only while the link is slow or glitchy (mosh's default).
    #[default]
    Adaptive,
    /// Shown whenever confirmed.
    Always,
    /// No prediction at all.
    Never,
    /// Shown immediately; wrong guesses are dropped one by one.
    Experimental,
}

impl From<prediction::DisplayPreference> for PredictionMode {
    fn from(p: prediction::DisplayPreference) -> Self {
        match p {
            prediction::DisplayPreference::Adaptive => PredictionMode::Adaptive,
            prediction::DisplayPreference::Always => PredictionMode::Always,
            prediction::DisplayPreference::Never => PredictionMode::Never,
            prediction::DisplayPreference::Experimental => PredictionMode::Experimental,
        }
    }
}

impl From<PredictionMode> for prediction::DisplayPreference {
    fn from(p: PredictionMode) -> Self {
        match p {
            PredictionMode::Adaptive => prediction::DisplayPreference::Adaptive,
            PredictionMode::Always => prediction::DisplayPreference::Always,
            PredictionMode::Never => prediction::DisplayPreference::Never,
            PredictionMode::Experimental => prediction::DisplayPreference::Experimental,
        }
    }
}

/// The bytes a mosh client sends for `key` with `mods` (pass them to the session's input).
/// Empty for a key without an encoding (e.g. `Function(0)`, or a codepoint that is not a Unicode
/// scalar value).
#[uniffi::export]
pub fn encode_key(key: NamedKey, mods: Modifiers) -> Vec<u8> {
    keys::encode(key, mods)
}

/// Checks the session key printed by `mosh-server` in `MOSH CONNECT <port> <key>`: 22
/// characters of base64 without padding encoding 128 bits. The error's reason never contains
/// the key.
#[uniffi::export]
pub fn validate_session_key(key: String) -> Result<(), MoshKitError> {
    match crypto::Key::parse(&key) {
        Ok(_) => Ok(()),
        Err(e) => {
            log::debug!(target: "moshkit::ffi", "session key rejected: {e}");
            Err(e.into())
        }
    }
}

/// Parses a prediction mode name: `adaptive`, `always`, `never` or `experimental` (the values
/// of mosh's `--predict` option).
#[uniffi::export]
pub fn parse_prediction_mode(s: String) -> Result<PredictionMode, MoshKitError> {
    Ok(s.parse::<prediction::DisplayPreference>()?.into())
}

/// The MoshKit library version, e.g. `0.1.0`.
#[uniffi::export]
pub fn moshkit_version() -> String {
    crate::VERSION.to_owned()
}

/// Routes MoshKit's log records up to `max_level` to `sink`, replacing any previous sink
/// (including a C callback). MoshKit never prints to stdout or stderr.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) -> Result<(), MoshKitError> {
    logging::install(logging::Sink::Foreign(sink), max_level)
}

/// Removes the log sink: log records are dropped from now on.
#[uniffi::export]
pub fn clear_log_sink() {
    logging::clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_key_mirrors_core() {
        let none = Modifiers::default();
        let ctrl = Modifiers { ctrl: true, ..none };
        assert_eq!(
            encode_key(
                NamedKey::Char {
                    codepoint: 'a' as u32
                },
                none
            ),
            b"a"
        );
        assert_eq!(
            encode_key(
                NamedKey::Char {
                    codepoint: 'c' as u32
                },
                ctrl
            ),
            [3]
        );
        assert_eq!(encode_key(NamedKey::Up, none), b"\x1bOA");
        assert_eq!(encode_key(NamedKey::Right, ctrl), b"\x1b[1;5C");
        assert_eq!(
            encode_key(NamedKey::Function { number: 5 }, none),
            b"\x1b[15~"
        );
        assert!(encode_key(NamedKey::Function { number: 0 }, none).is_empty());
        assert!(encode_key(NamedKey::Char { codepoint: 0xD800 }, none).is_empty());
        assert!(
            encode_key(
                NamedKey::Char {
                    codepoint: 0x11_0000
                },
                none
            )
            .is_empty()
        );
    }

    #[test]
    fn session_keys() {
        assert_eq!(
            validate_session_key("AAAAAAAAAAAAAAAAAAAAAA".into()),
            Ok(())
        );
        let err = validate_session_key("short".into()).expect_err("too short");
        assert!(matches!(err, MoshKitError::InvalidKey { .. }));
        assert!(err.message().contains("22 characters"), "{err}");
        assert!(!err.message().contains("short"));
        assert!(validate_session_key("AAAAAAAAAAAAAAAAAAAAA=".into()).is_err());
    }

    #[test]
    fn prediction_modes() {
        for (name, mode) in [
            ("adaptive", PredictionMode::Adaptive),
            ("always", PredictionMode::Always),
            ("never", PredictionMode::Never),
            ("experimental", PredictionMode::Experimental),
        ] {
            assert_eq!(parse_prediction_mode(name.into()), Ok(mode));
            let core: prediction::DisplayPreference = mode.into();
            assert_eq!(PredictionMode::from(core), mode);
        }
        assert!(matches!(
            parse_prediction_mode("sometimes".into()),
            Err(MoshKitError::InvalidPredictionMode { .. })
        ));
    }

    #[test]
    fn version_is_the_crate_version() {
        assert_eq!(moshkit_version(), env!("CARGO_PKG_VERSION"));
    }
}
