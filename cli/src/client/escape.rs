//! The escape key (reference §9.5) as pure logic: bytes typed by the user in, actions out.

/// Upstream's default escape key, Ctrl-^ (0x1E).
pub const DEFAULT_ESCAPE: u8 = 0x1e;

/// Escape key configuration from `MOSH_ESCAPE_KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscapeConfig {
    /// The escape byte; `None` = disabled (`MOSH_ESCAPE_KEY` set to the empty string).
    pub key: Option<u8>,
    /// Byte that, after the escape key, sends the escape key itself.
    pub pass_key: u8,
    /// Alternative pass key (lowercase form of an uppercase pass key).
    pub pass_key2: u8,
}

impl Default for EscapeConfig {
    fn default() -> Self {
        Self::with_key(DEFAULT_ESCAPE)
    }
}

impl EscapeConfig {
    fn with_key(key: u8) -> Self {
        let pass_key = if key < 32 { key + 0x40 } else { key };
        EscapeConfig {
            key: Some(key),
            pass_key,
            pass_key2: pass_key.to_ascii_lowercase(),
        }
    }

    /// Parses `MOSH_ESCAPE_KEY` (`None` = unset). Unset, longer than one character, outside
    /// 1..=127 or one of Ctrl-C, Ctrl-D, LF, Ctrl-L, CR → the default; empty → disabled.
    pub fn from_env(value: Option<&[u8]>) -> Self {
        match value {
            None => Self::default(),
            Some([]) => EscapeConfig {
                key: None,
                ..Self::default()
            },
            Some(&[c])
                if (1..=127).contains(&c) && ![0x03, 0x04, 0x0a, 0x0c, 0x0d].contains(&c) =>
            {
                Self::with_key(c)
            }
            Some(_) => Self::default(),
        }
    }

    /// How the key is named in messages: `Ctrl-^` or `"~"`.
    pub fn key_name(&self) -> Option<String> {
        let key = self.key?;
        Some(if key < 32 {
            format!("Ctrl-{}", self.pass_key as char)
        } else {
            format!("\"{}\"", key as char)
        })
    }

    /// The help shown after the escape key, e.g.
    /// `Commands: Ctrl-Z suspends, "." quits, "^" gives literal Ctrl-^`.
    pub fn help_text(&self) -> Option<String> {
        let name = self.key_name()?;
        Some(format!(
            "Commands: Ctrl-Z suspends, \".\" quits, \"{}\" gives literal {name}",
            self.pass_key as char
        ))
    }

    /// The quit hint of the notification bar, e.g. `[To quit: Ctrl-^ .]`.
    pub fn quit_hint(&self) -> Option<String> {
        Some(format!("[To quit: {} .]", self.key_name()?))
    }
}

/// What the client loop must do for some typed input, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscapeAction {
    /// Send these bytes to the server (append to the user stream).
    Send(Vec<u8>),
    /// The user asked to quit (escape + `.`).
    Quit,
    /// The user asked to suspend (escape + Ctrl-Z).
    Suspend,
    /// Show the escape help (permanently, without the quit hint).
    ShowHelp,
    /// Clear the escape help.
    ClearHelp,
    /// Ctrl-L: repaint the local screen completely (the byte is still sent).
    Repaint,
}

/// The per-session escape-key state machine.
#[derive(Debug, Clone)]
pub struct EscapeState {
    config: EscapeConfig,
    in_escape: bool,
    after_newline: bool,
}

impl EscapeState {
    /// A fresh state (upstream starts with "no newline typed yet": a printable escape key is
    /// not recognised as the very first byte, verified against mosh 1.4.0).
    pub fn new(config: EscapeConfig) -> Self {
        EscapeState {
            config,
            in_escape: false,
            after_newline: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EscapeConfig {
        &self.config
    }

    /// Whether an escape sequence is in progress.
    pub fn in_escape(&self) -> bool {
        self.in_escape
    }

    /// Processes one read from stdin. Consecutive bytes to send are merged into one
    /// [`EscapeAction::Send`].
    pub fn feed(&mut self, input: &[u8]) -> Vec<EscapeAction> {
        let mut out: Vec<EscapeAction> = Vec::new();
        let send = |out: &mut Vec<EscapeAction>, bytes: &[u8]| {
            if let Some(EscapeAction::Send(v)) = out.last_mut() {
                v.extend_from_slice(bytes);
            } else {
                out.push(EscapeAction::Send(bytes.to_vec()));
            }
        };
        for &b in input {
            if self.in_escape {
                self.in_escape = false;
                let esc = self.config.key.unwrap_or(DEFAULT_ESCAPE);
                if b == b'.' {
                    out.push(EscapeAction::ClearHelp);
                    out.push(EscapeAction::Quit);
                } else if b == 0x1a {
                    out.push(EscapeAction::ClearHelp);
                    out.push(EscapeAction::Suspend);
                } else if b == self.config.pass_key || b == self.config.pass_key2 {
                    out.push(EscapeAction::ClearHelp);
                    send(&mut out, &[esc]);
                } else {
                    out.push(EscapeAction::ClearHelp);
                    send(&mut out, &[esc, b]);
                }
                continue;
            }
            if let Some(key) = self.config.key
                && b == key
                && (key < 32 || self.after_newline)
            {
                self.in_escape = true;
                out.push(EscapeAction::ShowHelp);
                continue;
            }
            self.after_newline = b == b'\r' || b == b'\n';
            if b == 0x0c {
                out.push(EscapeAction::Repaint);
            }
            send(&mut out, &[b]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EscapeAction::*;

    #[test]
    fn env_parsing() {
        assert_eq!(EscapeConfig::from_env(None), EscapeConfig::default());
        assert_eq!(EscapeConfig::from_env(Some(b"")).key, None);
        assert_eq!(EscapeConfig::from_env(Some(b"ab")).key, Some(0x1e));
        assert_eq!(EscapeConfig::from_env(Some(&[0x80])).key, Some(0x1e));
        for forbidden in [3u8, 4, 10, 12, 13] {
            assert_eq!(EscapeConfig::from_env(Some(&[forbidden])).key, Some(0x1e));
        }
        let ctrl_b = EscapeConfig::from_env(Some(&[0x02]));
        assert_eq!(
            (ctrl_b.key, ctrl_b.pass_key, ctrl_b.pass_key2),
            (Some(2), b'B', b'b')
        );
        let tilde = EscapeConfig::from_env(Some(b"~"));
        assert_eq!((tilde.key, tilde.pass_key), (Some(b'~'), b'~'));
    }

    #[test]
    fn messages_match_upstream() {
        let d = EscapeConfig::default();
        assert_eq!(
            d.help_text().as_deref(),
            Some("Commands: Ctrl-Z suspends, \".\" quits, \"^\" gives literal Ctrl-^")
        );
        assert_eq!(d.quit_hint().as_deref(), Some("[To quit: Ctrl-^ .]"));
        let t = EscapeConfig::from_env(Some(b"~"));
        assert_eq!(
            t.help_text().as_deref(),
            Some("Commands: Ctrl-Z suspends, \".\" quits, \"~\" gives literal \"~\"")
        );
        assert_eq!(EscapeConfig::from_env(Some(b"")).help_text(), None);
    }

    #[test]
    fn control_escape_anywhere() {
        let mut s = EscapeState::new(EscapeConfig::default());
        assert_eq!(s.feed(b"ls"), vec![Send(b"ls".to_vec())]);
        assert_eq!(s.feed(&[0x1e]), vec![ShowHelp]);
        assert!(s.in_escape());
        assert_eq!(s.feed(b"."), vec![ClearHelp, Quit]);
        assert_eq!(
            s.feed(&[b'a', 0x1e, 0x1a, b'b']),
            vec![
                Send(b"a".to_vec()),
                ShowHelp,
                ClearHelp,
                Suspend,
                Send(b"b".to_vec())
            ]
        );
        // Pass key (and its lowercase) send the escape itself; anything else sends both.
        assert_eq!(
            s.feed(&[0x1e, b'^']),
            vec![ShowHelp, ClearHelp, Send(vec![0x1e])]
        );
        let mut b = EscapeState::new(EscapeConfig::from_env(Some(&[2])));
        assert_eq!(b.feed(&[2, b'b']), vec![ShowHelp, ClearHelp, Send(vec![2])]);
        assert_eq!(
            b.feed(&[2, b'x']),
            vec![ShowHelp, ClearHelp, Send(vec![2, b'x'])]
        );
    }

    #[test]
    fn printable_escape_only_after_newline() {
        let mut s = EscapeState::new(EscapeConfig::from_env(Some(b"~")));
        // Not at session start (verified upstream behaviour).
        assert_eq!(s.feed(b"~."), vec![Send(b"~.".to_vec())]);
        assert_eq!(
            s.feed(b"\r~."),
            vec![Send(b"\r".to_vec()), ShowHelp, ClearHelp, Quit]
        );
        assert_eq!(
            s.feed(b"a\n~~"),
            vec![
                Send(b"a\n".to_vec()),
                ShowHelp,
                ClearHelp,
                Send(b"~".to_vec())
            ]
        );
        assert_eq!(s.feed(b"x~"), vec![Send(b"x~".to_vec())]);
    }

    #[test]
    fn disabled_escape_and_ctrl_l() {
        let mut s = EscapeState::new(EscapeConfig::from_env(Some(b"")));
        assert_eq!(s.feed(&[0x1e, b'.']), vec![Send(vec![0x1e, b'.'])]);
        assert_eq!(
            s.feed(&[b'a', 0x0c]),
            vec![Send(b"a".to_vec()), Repaint, Send(vec![0x0c])]
        );
    }
}
