//! Readiness of a program's own file descriptors (a terminal, a pty, a signal pipe) on the
//! tokio runtime that runs the [`moshkit_core::driver::Driver`], so the programs `select!`
//! their own sources beside [`moshkit_core::driver::Driver::next_event`].
//!
//! The descriptor's blocking mode is left as it is: a terminal shared with the parent shell must
//! stay blocking. So readiness is confirmed with a zero-timeout `poll(2)` before the caller
//! reads, and cleared only when `poll` finds nothing (tokio keeps a readiness that arrived in
//! between), so a blocking read never waits and no wake-up is lost.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A descriptor to wait on (a duplicate of the caller's, so no lifetime ties the two).
/// Descriptors epoll cannot watch (a regular file, `/dev/null`) are always ready: reading them
/// never blocks.
#[derive(Debug)]
pub struct Readable {
    inner: Option<AsyncFd<OwnedFd>>,
}

fn ready_now(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

impl Readable {
    /// Watches (a duplicate of) `fd`. Must be called within the tokio runtime.
    pub fn new(fd: BorrowedFd<'_>) -> Self {
        let inner = fd
            .try_clone_to_owned()
            .and_then(|owned| {
                // SAFETY: an `OwnedFd` is open, stays open until the `AsyncFd` drops it, and
                // always reports the same descriptor: what `register_with_interest` requires.
                unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
                    .map_err(std::io::Error::from)
            })
            .map_err(|e| log::debug!("cannot watch the descriptor ({e}): always readable"))
            .ok();
        Readable { inner }
    }

    /// Waits until a read will not block (data, EOF or an error).
    pub async fn wait(&self) -> std::io::Result<()> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        loop {
            let mut guard = inner.readable().await?;
            if ready_now(inner.get_ref().as_fd()) {
                guard.retain_ready();
                return Ok(());
            }
            guard.clear_ready();
        }
    }
}
