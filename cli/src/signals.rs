//! Synchronous signal handling: handlers only set a flag and wake a self-pipe, and the event
//! loop polls the pipe's read end and calls [`SignalPipe::take`].

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::SigId;

pub use signal_hook::consts::signal::{
    SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGPIPE, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// A set of caught signals.
#[derive(Debug)]
pub struct SignalPipe {
    read: UnixStream,
    _write: UnixStream,
    flags: Vec<(i32, Arc<AtomicBool>)>,
    ids: Vec<SigId>,
}

impl SignalPipe {
    /// Installs handlers for `signals`.
    pub fn new(signals: &[i32]) -> std::io::Result<Self> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let mut flags = Vec::new();
        let mut ids = Vec::new();
        for &sig in signals {
            let flag = Arc::new(AtomicBool::new(false));
            ids.push(signal_hook::flag::register(sig, Arc::clone(&flag))?);
            ids.push(signal_hook::low_level::pipe::register(
                sig,
                write.try_clone()?,
            )?);
            flags.push((sig, flag));
        }
        Ok(SignalPipe {
            read,
            _write: write,
            flags,
            ids,
        })
    }

    /// Signals that arrived since the last call (each listed once), draining the pipe.
    pub fn take(&self) -> Vec<i32> {
        use std::io::Read;
        let mut buf = [0u8; 64];
        while matches!((&self.read).read(&mut buf), Ok(n) if n > 0) {}
        self.flags
            .iter()
            .filter(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(s, _)| *s)
            .collect()
    }
}

impl AsFd for SignalPipe {
    /// Readable when a signal arrived.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Sets `SIGHUP` and `SIGPIPE` to ignored (the server daemon survives the ssh session).
pub fn ignore_hup_and_pipe() -> std::io::Result<()> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for s in [Signal::SIGHUP, Signal::SIGPIPE] {
        // SAFETY: installing SIG_IGN runs no code in signal context.
        unsafe { signal(s, SigHandler::SigIgn) }.map_err(std::io::Error::from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_signal_wakes_pipe_and_is_reported_once() {
        let pipe = SignalPipe::new(&[SIGUSR1]).expect("install");
        assert!(pipe.take().is_empty());
        signal_hook::low_level::raise(SIGUSR1).expect("raise");
        let mut fds = [nix::poll::PollFd::new(
            pipe.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(2000u16)).expect("poll");
        assert_eq!(n, 1);
        assert_eq!(pipe.take(), vec![SIGUSR1]);
        assert!(pipe.take().is_empty());
    }
}
