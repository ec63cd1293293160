//! User input translation on the server (§8.14).

/// The 3-state translator from the client's application-cursor-key form to what the
/// application expects: unless the application enabled DECCKM, `ESC O A`..`D` become
/// `ESC [ A`..`D`; every other byte passes through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserInput {
    state: InputState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum InputState {
    #[default]
    Ground,
    Esc,
    Ss3,
}

impl UserInput {
    /// Translates `bytes`; `application_cursor_keys` is the application's DECCKM mode.
    pub fn translate(&mut self, bytes: &[u8], application_cursor_keys: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 1);
        for &b in bytes {
            self.state = match (self.state, b) {
                (InputState::Ground, 0x1b) => {
                    out.push(b);
                    InputState::Esc
                }
                (InputState::Ground, _) => {
                    out.push(b);
                    InputState::Ground
                }
                (InputState::Esc, b'O') => InputState::Ss3,
                (InputState::Esc, _) => {
                    out.push(b);
                    InputState::Ground
                }
                (InputState::Ss3, b'A'..=b'D') if !application_cursor_keys => {
                    out.extend_from_slice(&[b'[', b]);
                    InputState::Ground
                }
                (InputState::Ss3, _) => {
                    out.extend_from_slice(&[b'O', b]);
                    InputState::Ground
                }
            };
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arrows_follow_decckm() {
        let mut t = UserInput::default();
        assert_eq!(t.translate(b"\x1bOA", false), b"\x1b[A");
        assert_eq!(t.translate(b"\x1bOA", true), b"\x1bOA");
        assert_eq!(t.translate(b"\x1bOH\x1bOP", false), b"\x1bOH\x1bOP");
        assert_eq!(t.translate(b"x\x1b", false), b"x\x1b");
        assert_eq!(t.translate(b"O", false), b"");
        assert_eq!(t.translate(b"B", false), b"[B");
        assert_eq!(t.translate(b"\x1bx", false), b"\x1bx");
    }
}
