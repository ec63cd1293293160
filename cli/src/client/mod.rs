//! `moshkit-client`: everything except the client session itself.

pub mod args;
pub mod escape;
pub mod scrollback;
pub mod session;
pub mod terminal;
pub mod terminfo;

use std::net::SocketAddr;

use thiserror::Error;

use crate::pty::WindowSize;
use args::ClientPrefs;
use terminfo::TermCaps;

/// The last line the client prints on stdout (kept identical to upstream for scripts).
pub const EXITING: &str = "[mosh is exiting.]";

/// Version text (`--version`, and first part of `--help`).
pub fn version_banner() -> String {
    format!(
        "moshkit-client (moshkit {}) [wire-compatible with mosh 1.4, protocol 2]\nLicense: MIT OR Apache-2.0.\nThis is free software: you are free to change and redistribute it.\nThere is NO WARRANTY, to the extent permitted by law.",
        env!("CARGO_PKG_VERSION")
    )
}

/// The diagnostic printed (stderr) when the session never connected.
pub fn never_connected_message(server: SocketAddr) -> String {
    let port = server.port();
    format!(
        "moshkit did not make a successful connection to {}:{port}.\nPlease verify that UDP port {port} is not firewalled and can reach the server.\n(By default, mosh uses a UDP port between 60000 and 61000. The -p option\nselects a specific UDP port number.)",
        server.ip()
    )
}

/// The warning printed (stderr) when a connected session did not shut down cleanly.
pub const UNCLEAN_MESSAGE: &str = "moshkit did not shut down cleanly. Please note that the\nmoshkit-server process may still be running on the server.";

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOutcome {
    /// Whether a server state was ever received.
    pub connected: bool,
    /// Whether the shutdown handshake completed.
    pub clean: bool,
}

impl SessionOutcome {
    /// Messages for stderr, then the stdout line, then the exit status — §9.1 "Exit".
    pub fn farewell(&self, server: SocketAddr) -> (Option<String>, &'static str, u8) {
        let warning = if !self.connected {
            Some(never_connected_message(server))
        } else if !self.clean {
            Some(UNCLEAN_MESSAGE.to_string())
        } else {
            None
        };
        (warning, EXITING, if self.clean { 0 } else { 1 })
    }
}

/// Everything the client session needs, prepared by the binary.
#[derive(Debug)]
pub struct ClientContext {
    /// Server address.
    pub server: SocketAddr,
    /// Key, prediction mode, escape key, terminal-init flags.
    pub prefs: ClientPrefs,
    /// Capabilities of the user's terminal (`ech`, `bce`, smcup/rmcup).
    pub caps: TermCaps,
    /// Window size at start.
    pub initial_size: WindowSize,
    /// Signal events (SIGWINCH → resize, SIGCONT, SIGTERM/SIGINT/SIGHUP/SIGPIPE).
    pub signals: terminal::ClientSignals,
    /// The raw-mode guard (use `restore`/`reenter` around a suspend).
    pub raw: terminal::RawModeGuard,
    /// A session restored from a state file, run instead of a new one.
    pub resume: Option<moshkit_core::session::ClientSession>,
    /// `--state-file`: where the session's state is kept while it runs (removed when it ends).
    pub state_file: Option<std::path::PathBuf>,
}

/// Client session failures.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The client session could not be created (e.g. an impossible window size).
    #[error("session: {0}")]
    Session(String),
    /// Fatal I/O.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the session until it ends (reference §9.1, see [`session::run`]): returns whether it
/// ever connected and whether it ended cleanly; the binary prints the farewell.
pub fn run_session(ctx: &mut ClientContext) -> Result<SessionOutcome, ClientError> {
    session::run(ctx)
}

/// Everything after argument and locale checks: terminal setup, the session, terminal
/// restore, the farewell. Returns the exit status. Used by `moshkit-client` and
/// `moshkit demo`.
pub fn run_terminal_client(server: SocketAddr, prefs: ClientPrefs) -> u8 {
    run_terminal_client_with(server, prefs, None, None)
}

/// [`run_terminal_client`], resuming `resume` instead of starting a session, and keeping the
/// session's state in `state_file` (`moshkit-client --state-file`).
pub fn run_terminal_client_with(
    server: SocketAddr,
    prefs: ClientPrefs,
    resume: Option<moshkit_core::session::ClientSession>,
    state_file: Option<std::path::PathBuf>,
) -> u8 {
    use std::io::Write;
    use std::os::fd::AsFd;

    let prog = args::PROG;
    let Some(caps) = terminfo::from_env() else {
        eprintln!(
            "{prog}: no terminfo entry for TERM={}",
            std::env::var("TERM").unwrap_or_default()
        );
        println!("{EXITING}");
        return 1;
    };
    let stdin = std::io::stdin();
    let raw = match terminal::RawModeGuard::enter(stdin.as_fd()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let signals = match terminal::ClientSignals::install() {
        Ok(s) => s,
        Err(e) => {
            drop(raw);
            eprintln!("{prog}: signals: {e}");
            return 1;
        }
    };
    let initial_size = crate::pty::tty_window_size(stdin.as_fd()).unwrap_or(WindowSize::DEFAULT);
    // No alternate screen when lines go into the terminal's own scrollback.
    let no_term_init = !prefs.uses_alternate_screen();
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&terminal::init_string(&caps, no_term_init));
        let _ = out.flush();
    }
    let mut ctx = ClientContext {
        server,
        prefs,
        caps,
        initial_size,
        signals,
        raw,
        resume,
        state_file,
    };
    let result = run_session(&mut ctx);
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&terminal::close_string(&ctx.caps, no_term_init));
        let _ = out.flush();
    }
    drop(ctx); // restores the terminal

    match result {
        Ok(outcome) => {
            let (warning, last, code) = outcome.farewell(server);
            if let Some(w) = warning {
                eprintln!("\n{w}");
            }
            println!("{last}");
            code
        }
        Err(e) => {
            eprintln!("{prog}: {e}");
            println!("{EXITING}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn farewell_messages() {
        let server: SocketAddr = "127.0.0.1:60991".parse().expect("addr");
        let never = SessionOutcome {
            connected: false,
            clean: false,
        };
        let (w, last, code) = never.farewell(server);
        assert_eq!(
            w.as_deref(),
            Some(
                "moshkit did not make a successful connection to 127.0.0.1:60991.\nPlease verify that UDP port 60991 is not firewalled and can reach the server.\n(By default, mosh uses a UDP port between 60000 and 61000. The -p option\nselects a specific UDP port number.)"
            )
        );
        assert_eq!((last, code), ("[mosh is exiting.]", 1));
        let unclean = SessionOutcome {
            connected: true,
            clean: false,
        };
        assert_eq!(unclean.farewell(server).0.as_deref(), Some(UNCLEAN_MESSAGE));
        let clean = SessionOutcome {
            connected: true,
            clean: true,
        };
        assert_eq!(clean.farewell(server), (None, EXITING, 0));
    }
}
