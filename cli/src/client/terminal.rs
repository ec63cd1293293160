//! The user's terminal: raw mode with guaranteed restore, the start/exit control strings, and
//! window-size/signal events (reference §7.6, §9.1).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;

use nix::sys::termios::{InputFlags, SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use thiserror::Error;

use super::terminfo::TermCaps;
use crate::pty::{WindowSize, tty_window_size};
use crate::signals::{SIGCONT, SIGHUP, SIGINT, SIGPIPE, SIGTERM, SIGUSR2, SIGWINCH, SignalPipe};

/// Terminal setup failures.
#[derive(Debug, Error)]
pub enum TerminalError {
    /// `tcgetattr`/`tcsetattr`/`dup` failed (e.g. stdin is not a terminal).
    #[error("{what}: {source}")]
    Sys {
        /// Which call.
        what: &'static str,
        /// The error.
        source: nix::errno::Errno,
    },
}

/// The terminal attributes to put back if the process panics or is killed while raw.
static SAVED: Mutex<Option<(OwnedFd, Termios)>> = Mutex::new(None);

/// Restores the saved terminal attributes, if any (idempotent; used by the guard, the panic
/// hook and signal paths).
pub fn restore_saved_terminal() {
    if let Ok(guard) = SAVED.lock()
        && let Some((fd, t)) = guard.as_ref()
    {
        let _ = tcsetattr(fd, SetArg::TCSADRAIN, t);
    }
}

/// Raw mode on a terminal for as long as the guard lives. Restores on drop (normal exit,
/// early return, unwinding panic) and from a panic hook (also covers `panic = "abort"`).
#[derive(Debug)]
pub struct RawModeGuard {
    _private: (),
}

/// The raw attributes the client uses: `cfmakeraw` plus `IUTF8`.
pub fn raw_attributes(saved: &Termios) -> Termios {
    let mut raw = saved.clone();
    cfmakeraw(&mut raw);
    raw.input_flags |= InputFlags::IUTF8;
    raw
}

impl RawModeGuard {
    /// Saves the attributes of `fd` and switches it to raw mode.
    pub fn enter(fd: BorrowedFd<'_>) -> Result<Self, TerminalError> {
        let saved = tcgetattr(fd).map_err(|source| TerminalError::Sys {
            what: "tcgetattr",
            source,
        })?;
        let owned = fd.try_clone_to_owned().map_err(|e| TerminalError::Sys {
            what: "dup",
            source: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })?;
        tcsetattr(fd, SetArg::TCSANOW, &raw_attributes(&saved)).map_err(|source| {
            TerminalError::Sys {
                what: "tcsetattr",
                source,
            }
        })?;
        if let Ok(mut g) = SAVED.lock() {
            *g = Some((owned, saved));
        }
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore_saved_terminal();
                previous(info);
            }));
        });
        Ok(RawModeGuard { _private: () })
    }

    /// Re-applies raw mode (after a suspend/resume).
    pub fn reenter(&self) {
        if let Ok(g) = SAVED.lock()
            && let Some((fd, saved)) = g.as_ref()
        {
            let _ = tcsetattr(fd, SetArg::TCSANOW, &raw_attributes(saved));
        }
    }

    /// Restores the saved attributes now (the guard stays armed).
    pub fn restore(&self) {
        restore_saved_terminal();
    }
}

impl Drop for RawModeGuard {
    fn drop(&mut self) {
        restore_saved_terminal();
        if let Ok(mut g) = SAVED.lock() {
            *g = None;
        }
    }
}

/// What the client writes on start and on resume: terminfo `smcup` (unless
/// `MOSH_NO_TERM_INIT`) then `CSI ? 1 h` (application cursor keys).
pub fn init_string(caps: &TermCaps, no_term_init: bool) -> Vec<u8> {
    let mut s = Vec::new();
    if !no_term_init && let Some(smcup) = &caps.smcup {
        s.extend_from_slice(smcup);
    }
    s.extend_from_slice(b"\x1b[?1h");
    s
}

/// What the client writes on exit and before suspending: mode resets, then `rmcup`.
pub fn close_string(caps: &TermCaps, no_term_init: bool) -> Vec<u8> {
    let mut s = b"\x1b[?1l\x1b[0m\x1b[?25h\x1b[?1003l\x1b[?1002l\x1b[?1001l\x1b[?1000l\x1b[?1015l\x1b[?1006l\x1b[?1005l".to_vec();
    if !no_term_init && let Some(rmcup) = &caps.rmcup {
        s.extend_from_slice(rmcup);
    }
    s
}

/// Printed (after the close string) when suspending with escape + Ctrl-Z.
pub const SUSPENDED_MESSAGE: &str = "\n\x1b[37;44m[mosh is suspended.]\x1b[m\n";

/// Events the client loop gets from signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEvent {
    /// SIGWINCH: the new window size.
    Resize(WindowSize),
    /// SIGCONT: resume after a suspend (re-enter raw mode, re-init, repaint).
    Continue,
    /// SIGTERM, SIGINT, SIGHUP or SIGPIPE: shut down.
    Terminate(i32),
    /// SIGUSR2 (MoshKit addition): the network changed, send from a new source port now
    /// (what a roaming laptop does; used by the interoperability tests).
    Roam,
}

/// The client's signal set as an event source: poll [`ClientSignals::fd`] for readability,
/// then call [`ClientSignals::events`].
#[derive(Debug)]
pub struct ClientSignals {
    pipe: SignalPipe,
}

impl ClientSignals {
    /// Installs handlers for SIGWINCH, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCONT, SIGUSR2.
    pub fn install() -> std::io::Result<Self> {
        Ok(ClientSignals {
            pipe: SignalPipe::new(&[SIGWINCH, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCONT, SIGUSR2])?,
        })
    }

    /// Readable when a signal is pending.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }

    /// Pending events; `tty` is used to read the window size on SIGWINCH.
    pub fn events(&self, tty: BorrowedFd<'_>) -> Vec<ClientEvent> {
        translate(&self.pipe.take(), || {
            tty_window_size(tty).unwrap_or(WindowSize::DEFAULT)
        })
    }
}

/// Maps caught signals to events (pure; `size` reads the current window size).
pub fn translate(signals: &[i32], size: impl Fn() -> WindowSize) -> Vec<ClientEvent> {
    signals
        .iter()
        .filter_map(|&s| match s {
            SIGWINCH => Some(ClientEvent::Resize(size())),
            SIGCONT => Some(ClientEvent::Continue),
            SIGTERM | SIGINT | SIGHUP | SIGPIPE => Some(ClientEvent::Terminate(s)),
            SIGUSR2 => Some(ClientEvent::Roam),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xterm_caps() -> TermCaps {
        TermCaps {
            colors: Some(8),
            smcup: Some(b"\x1b[?1049h\x1b[22;0;0t".to_vec()),
            rmcup: Some(b"\x1b[?1049l\x1b[23;0;0t".to_vec()),
            ech: true,
            bce: true,
        }
    }

    #[test]
    fn control_strings_match_observed_upstream() {
        let caps = xterm_caps();
        assert_eq!(
            init_string(&caps, false),
            b"\x1b[?1049h\x1b[22;0;0t\x1b[?1h"
        );
        assert_eq!(init_string(&caps, true), b"\x1b[?1h");
        assert_eq!(
            close_string(&caps, false),
            b"\x1b[?1l\x1b[0m\x1b[?25h\x1b[?1003l\x1b[?1002l\x1b[?1001l\x1b[?1000l\x1b[?1015l\x1b[?1006l\x1b[?1005l\x1b[?1049l\x1b[23;0;0t".to_vec()
        );
        assert!(!close_string(&caps, true).ends_with(b"\x1b[23;0;0t"));
    }

    #[test]
    fn signal_translation() {
        let size = || WindowSize { cols: 10, rows: 5 };
        assert_eq!(
            translate(&[SIGWINCH, SIGCONT, SIGHUP, SIGTERM], size),
            vec![
                ClientEvent::Resize(WindowSize { cols: 10, rows: 5 }),
                ClientEvent::Continue,
                ClientEvent::Terminate(SIGHUP),
                ClientEvent::Terminate(SIGTERM),
            ]
        );
    }

    #[test]
    fn sigwinch_becomes_a_resize_event_with_the_new_size() {
        let size = nix::pty::Winsize {
            ws_row: 33,
            ws_col: 111,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let signals = ClientSignals::install().expect("install");
        signal_hook::low_level::raise(SIGWINCH).expect("raise");
        let mut fds = [nix::poll::PollFd::new(
            signals.fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(2000u16)).expect("poll");
        assert_eq!(n, 1);
        assert_eq!(
            signals.events(pty.slave.as_fd()),
            vec![ClientEvent::Resize(WindowSize {
                cols: 111,
                rows: 33
            })]
        );
        assert!(signals.events(pty.slave.as_fd()).is_empty());
    }

    #[test]
    fn raw_mode_is_applied_and_restored_on_a_pty() {
        use nix::sys::termios::LocalFlags;
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let before = tcgetattr(&pty.slave).expect("tcgetattr");
        assert!(before.local_flags.contains(LocalFlags::ICANON));
        {
            let _guard = RawModeGuard::enter(pty.slave.as_fd()).expect("raw");
            let raw = tcgetattr(&pty.slave).expect("tcgetattr");
            assert!(!raw.local_flags.contains(LocalFlags::ICANON));
            assert!(!raw.local_flags.contains(LocalFlags::ECHO));
            assert!(raw.input_flags.contains(InputFlags::IUTF8));
        }
        let after = tcgetattr(&pty.slave).expect("tcgetattr");
        assert!(after.local_flags.contains(LocalFlags::ICANON));
        assert!(after.local_flags.contains(LocalFlags::ECHO));
        // Not a terminal: a clear error, no panic.
        let null = std::fs::File::open("/dev/null").expect("null");
        assert!(RawModeGuard::enter(null.as_fd()).is_err());
    }
}
