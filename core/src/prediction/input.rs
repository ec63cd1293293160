//! The engine's parser of the user's typed bytes (a `vte` parser reduced to the actions
//! the engine predicts).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Print(char),
    Execute(u8),
    CursorRight,
    CursorLeft,
    CursorUp,
    CursorDown,
    /// Any escape or other CSI dispatch: starts a new epoch.
    Tentative,
}

/// The engine's own parser of the user's input bytes.
pub(super) struct InputParser(pub(super) vte::Parser);

impl fmt::Debug for InputParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InputParser")
    }
}

#[derive(Default)]
pub(super) struct Actions(pub(super) Vec<Action>);

impl vte::Perform for Actions {
    fn print(&mut self, c: char) {
        self.0.push(Action::Print(c));
    }
    fn execute(&mut self, byte: u8) {
        self.0.push(Action::Execute(byte));
    }
    fn csi_dispatch(&mut self, _: &vte::Params, intermediates: &[u8], _: bool, action: char) {
        self.0.push(match (intermediates, action) {
            ([], 'C') => Action::CursorRight,
            ([], 'D') => Action::CursorLeft,
            ([], 'A') => Action::CursorUp,
            ([], 'B') => Action::CursorDown,
            _ => Action::Tentative,
        });
    }
    fn esc_dispatch(&mut self, _: &[u8], _: bool, _: u8) {
        self.0.push(Action::Tentative);
    }
}
