//! `moshkit-client` command line and environment (reference §2.5, §2.7).

use std::net::IpAddr;
use std::path::PathBuf;

use moshkit_core::crypto::{Key, KeyError};
use moshkit_core::prediction::DisplayPreference;
use thiserror::Error;

use super::escape::EscapeConfig;
use crate::getopt::{OptItem, getopt};

/// Program name used in diagnostics.
pub const PROG: &str = "moshkit-client";

/// Usage text (same syntax as upstream's).
pub const USAGE: &str = "Usage: moshkit-client [-# 'ARGS'] [--predict=MODE] [--state-file=PATH] IP PORT\n       moshkit-client --state-file=PATH      (resume the session saved there)\n       moshkit-client -c";

/// A parsed invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientInvocation {
    /// `--help`: version banner and usage on stdout, exit 0.
    Help,
    /// `--version`: version banner on stdout, exit 0.
    Version,
    /// `-c`: print the terminal's colour count, exit 0.
    PrintColors,
    /// Connect.
    Run(ClientArgs),
    /// `--state-file=PATH` without `IP PORT`: resume the session saved in PATH.
    Resume(ResumeArgs),
}

/// Resuming a saved session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeArgs {
    /// The state file (written by an earlier `--state-file` client).
    pub state_file: PathBuf,
    /// Number of `-v`.
    pub verbose: u32,
    /// `--predict=MODE` (the saved session keeps its own; accepted for symmetry).
    pub predict: Option<String>,
}

/// Positional arguments and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientArgs {
    /// Server address (numeric).
    pub ip: IpAddr,
    /// Server UDP port.
    pub port: u16,
    /// Number of `-v`.
    pub verbose: u32,
    /// `--predict=MODE` (overrides `MOSH_PREDICTION_DISPLAY`).
    pub predict: Option<String>,
    /// `--state-file=PATH`: keep the session's state there (MoshKit addition), so a new client
    /// can resume it after this one is killed.
    pub state_file: Option<PathBuf>,
}

/// Command-line and environment errors (exit status 1).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientArgsError {
    /// Not exactly `IP PORT` (the usage is printed).
    #[error("{USAGE}")]
    Usage,
    /// PORT is not decimal digits or out of range.
    #[error("{PROG}: Bad UDP port ({0})")]
    BadPort(String),
    /// IP is not a numeric address.
    #[error("{PROG}: Bad IP address ({0}): the client needs a numeric IPv4 or IPv6 address")]
    BadIp(String),
    /// `MOSH_KEY` missing.
    #[error("MOSH_KEY environment variable not found.")]
    MissingKey,
    /// `MOSH_KEY` malformed.
    #[error("Crypto exception: {0}")]
    BadKey(#[from] KeyError),
    /// `MOSHKIT_SCROLLBACK_LINES` is not a number.
    #[error("{PROG}: MOSHKIT_SCROLLBACK_LINES must be a number of lines, not {0:?}")]
    BadScrollback(String),
    /// Unknown prediction mode.
    #[error(
        "{PROG}: Unknown prediction mode {0:?} (expected adaptive, always, never or experimental)"
    )]
    UnknownPrediction(String),
}

/// Parses the arguments after `argv[0]`.
pub fn parse_client_args(args: &[String]) -> Result<ClientInvocation, ClientArgsError> {
    if args.iter().any(|a| a == "--help") {
        return Ok(ClientInvocation::Help);
    }
    if args.iter().any(|a| a == "--version") {
        return Ok(ClientInvocation::Version);
    }
    // `--predict=MODE` is MoshKit's addition; upstream's getopt would reject it, so it is
    // taken out before the getopt pass (only before a `--`).
    let mut predict = None;
    let mut state_file = None;
    let mut rest = Vec::with_capacity(args.len());
    let mut after_dd = false;
    for a in args {
        if !after_dd && let Some(mode) = a.strip_prefix("--predict=") {
            predict = Some(mode.to_string());
            continue;
        }
        if !after_dd && let Some(path) = a.strip_prefix("--state-file=") {
            if path.is_empty() {
                return Err(ClientArgsError::Usage);
            }
            state_file = Some(PathBuf::from(path));
            continue;
        }
        after_dd |= a == "--";
        rest.push(a.clone());
    }
    let parsed = getopt(&rest, "#:cv");
    let mut verbose = 0;
    for item in &parsed.items {
        match item {
            OptItem::Opt('c', _) => return Ok(ClientInvocation::PrintColors),
            OptItem::Opt('v', _) => verbose += 1,
            OptItem::Opt(..) => {} // -# is only for ps(1)
            OptItem::Unknown(_) | OptItem::MissingArgument(_) => {
                return Err(ClientArgsError::Usage);
            }
        }
    }
    if parsed.operands.is_empty()
        && let Some(state_file) = state_file.clone()
    {
        return Ok(ClientInvocation::Resume(ResumeArgs {
            state_file,
            verbose,
            predict,
        }));
    }
    let [ip, port] = parsed.operands.as_slice() else {
        return Err(ClientArgsError::Usage);
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ClientArgsError::BadPort(port.clone()));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| ClientArgsError::BadPort(port.clone()))?;
    let ip: IpAddr = ip
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| ClientArgsError::BadIp(ip.clone()))?;
    Ok(ClientInvocation::Run(ClientArgs {
        ip,
        port,
        verbose,
        predict,
        state_file,
    }))
}

/// Settings taken from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPrefs {
    /// The session key (`MOSH_KEY`).
    pub key: Key,
    /// Prediction display mode (`--predict`, else `MOSH_PREDICTION_DISPLAY`, else adaptive).
    pub display: DisplayPreference,
    /// `MOSH_PREDICTION_OVERWRITE=yes`.
    pub overwrite: bool,
    /// `MOSH_ESCAPE_KEY`.
    pub escape: EscapeConfig,
    /// `MOSH_NO_TERM_INIT` set: no smcup/rmcup.
    pub no_term_init: bool,
    /// `MOSH_TITLE_NOPREFIX` set: no `[mosh] ` title prefix.
    pub title_noprefix: bool,
    /// `MOSHKIT_SCROLLBACK_LINES` (MoshKit addition; default 10 000): lines of scrollback kept
    /// and written into the user's terminal's own scrollback. 0 turns it off, and the client
    /// then uses the terminal's alternate screen as upstream does.
    pub scrollback_lines: usize,
}

impl ClientPrefs {
    /// Whether the terminal's alternate screen is used (smcup/rmcup): not when lines are
    /// written into the terminal's scrollback (that only exists on the main screen).
    pub fn uses_alternate_screen(&self) -> bool {
        !self.no_term_init && self.scrollback_lines == 0
    }
}

/// Reads the client's environment. `lookup` returns raw bytes (for `MOSH_ESCAPE_KEY`).
pub fn client_prefs(
    lookup: &dyn Fn(&str) -> Option<Vec<u8>>,
    predict_flag: Option<&str>,
) -> Result<ClientPrefs, ClientArgsError> {
    let text = |n: &str| lookup(n).map(|v| String::from_utf8_lossy(&v).into_owned());
    let key = text("MOSH_KEY").ok_or(ClientArgsError::MissingKey)?;
    let key = Key::parse(&key)?;
    prefs_with_key(lookup, predict_flag, key)
}

/// [`client_prefs`] for a resumed session, whose key comes from its saved state.
pub fn prefs_with_key(
    lookup: &dyn Fn(&str) -> Option<Vec<u8>>,
    predict_flag: Option<&str>,
    key: Key,
) -> Result<ClientPrefs, ClientArgsError> {
    let text = |n: &str| lookup(n).map(|v| String::from_utf8_lossy(&v).into_owned());
    let mode = predict_flag
        .map(str::to_string)
        .or_else(|| text("MOSH_PREDICTION_DISPLAY"));
    let display = match mode {
        None => DisplayPreference::default(),
        Some(m) => m
            .parse()
            .map_err(|_| ClientArgsError::UnknownPrediction(m.clone()))?,
    };
    Ok(ClientPrefs {
        key,
        display,
        overwrite: text("MOSH_PREDICTION_OVERWRITE").as_deref() == Some("yes"),
        escape: EscapeConfig::from_env(lookup("MOSH_ESCAPE_KEY").as_deref()),
        no_term_init: lookup("MOSH_NO_TERM_INIT").is_some(),
        title_noprefix: lookup("MOSH_TITLE_NOPREFIX").is_some(),
        scrollback_lines: match text("MOSHKIT_SCROLLBACK_LINES") {
            None => moshkit_core::scrollback::DEFAULT_SCROLLBACK_LINES,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ClientArgsError::BadScrollback(v.clone()))?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn positional_and_options() {
        assert_eq!(
            parse_client_args(&v(&["-#", "mosh host |", "127.0.0.1", "60001", "-v"])),
            Ok(ClientInvocation::Run(ClientArgs {
                ip: "127.0.0.1".parse().expect("ip"),
                port: 60001,
                verbose: 1,
                predict: None,
                state_file: None,
            }))
        );
        assert_eq!(
            parse_client_args(&v(&["--predict=never", "::1", "5"])),
            Ok(ClientInvocation::Run(ClientArgs {
                ip: "::1".parse().expect("ip"),
                port: 5,
                verbose: 0,
                predict: Some("never".into()),
                state_file: None,
            }))
        );
        assert_eq!(
            parse_client_args(&v(&["-c"])),
            Ok(ClientInvocation::PrintColors)
        );
        assert_eq!(
            parse_client_args(&v(&["x", "--help"])),
            Ok(ClientInvocation::Help)
        );
        assert_eq!(
            parse_client_args(&v(&["--version"])),
            Ok(ClientInvocation::Version)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse_client_args(&v(&[])), Err(ClientArgsError::Usage));
        assert_eq!(
            parse_client_args(&v(&["1.2.3.4"])),
            Err(ClientArgsError::Usage)
        );
        assert_eq!(
            parse_client_args(&v(&["-x", "1.2.3.4", "1"])),
            Err(ClientArgsError::Usage)
        );
        assert_eq!(
            parse_client_args(&v(&["127.0.0.1", "1x"])),
            Err(ClientArgsError::BadPort("1x".into()))
        );
        assert_eq!(
            ClientArgsError::BadPort("1x".into()).to_string(),
            "moshkit-client: Bad UDP port (1x)"
        );
        assert_eq!(
            parse_client_args(&v(&["127.0.0.1", "+1"])),
            Err(ClientArgsError::BadPort("+1".into()))
        );
        assert_eq!(
            parse_client_args(&v(&["127.0.0.1", "70000"])),
            Err(ClientArgsError::BadPort("70000".into()))
        );
        assert_eq!(
            parse_client_args(&v(&["example.com", "1"])),
            Err(ClientArgsError::BadIp("example.com".into()))
        );
    }

    fn env(pairs: &'static [(&'static str, &'static [u8])]) -> impl Fn(&str) -> Option<Vec<u8>> {
        move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_vec())
    }

    #[test]
    fn prefs_from_environment() {
        assert_eq!(
            client_prefs(&env(&[]), None),
            Err(ClientArgsError::MissingKey)
        );
        assert_eq!(
            client_prefs(&env(&[]), None)
                .expect_err("missing")
                .to_string(),
            "MOSH_KEY environment variable not found."
        );
        let bad = client_prefs(&env(&[("MOSH_KEY", b"abc")]), None).expect_err("bad key");
        assert!(matches!(bad, ClientArgsError::BadKey(KeyError::Length(3))));
        assert!(bad.to_string().starts_with("Crypto exception: "));

        let p = client_prefs(
            &env(&[
                ("MOSH_KEY", b"AAAAAAAAAAAAAAAAAAAAAA"),
                ("MOSH_PREDICTION_DISPLAY", b"always"),
                ("MOSH_PREDICTION_OVERWRITE", b"yes"),
                ("MOSH_ESCAPE_KEY", b"~"),
                ("MOSH_NO_TERM_INIT", b""),
            ]),
            None,
        )
        .expect("prefs");
        assert_eq!(p.display, DisplayPreference::Always);
        assert!(p.overwrite && p.no_term_init && !p.title_noprefix);
        assert_eq!(p.escape.key, Some(b'~'));

        let p = client_prefs(
            &env(&[
                ("MOSH_KEY", b"AAAAAAAAAAAAAAAAAAAAAA"),
                ("MOSH_PREDICTION_DISPLAY", b"always"),
            ]),
            Some("never"),
        )
        .expect("prefs");
        assert_eq!(p.display, DisplayPreference::Never);
        assert!(!p.overwrite);
        assert_eq!(
            client_prefs(
                &env(&[
                    ("MOSH_KEY", b"AAAAAAAAAAAAAAAAAAAAAA"),
                    ("MOSH_PREDICTION_DISPLAY", b"sometimes")
                ]),
                None
            ),
            Err(ClientArgsError::UnknownPrediction("sometimes".into()))
        );
    }
}
