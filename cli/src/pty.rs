//! Pseudo-terminals: spawning the session's program on a pty, reading/writing the master,
//! window sizes and child exit detection.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::{Winsize, openpty};
use nix::sys::termios::{InputFlags, SetArg, tcgetattr, tcsetattr};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use thiserror::Error;

/// A terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

impl WindowSize {
    /// Upstream's default when there is no usable tty: 80×24.
    pub const DEFAULT: WindowSize = WindowSize { cols: 80, rows: 24 };

    fn to_winsize(self) -> Winsize {
        Winsize {
            ws_row: self.rows,
            ws_col: self.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }
    }
}

mod ioctls {
    #![allow(missing_docs)]
    use nix::pty::Winsize;
    nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, Winsize);
    nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, Winsize);
}
use ioctls::{tiocgwinsz, tiocswinsz};

/// The size of the terminal on `fd`, or `None` if it is not a tty or reports a zero size.
pub fn tty_window_size(fd: BorrowedFd<'_>) -> Option<WindowSize> {
    let mut ws = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` into the valid, exclusively borrowed `ws`.
    unsafe { tiocgwinsz(fd.as_raw_fd(), &mut ws) }.ok()?;
    (ws.ws_row != 0 && ws.ws_col != 0).then_some(WindowSize {
        cols: ws.ws_col,
        rows: ws.ws_row,
    })
}

/// Errors from pty operations.
#[derive(Debug, Error)]
pub enum PtyError {
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// Which call.
        what: &'static str,
        /// The error.
        source: Errno,
    },
    /// A string contained an interior NUL byte.
    #[error("argument or environment entry contains a NUL byte")]
    Nul,
    /// No program was given.
    #[error("empty command")]
    EmptyCommand,
}

fn sys(what: &'static str) -> impl FnOnce(Errno) -> PtyError {
    move |source| PtyError::Sys { what, source }
}

/// When the child may `exec` its program (see docs/cli.md, "child release").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseMode {
    /// Exec at once.
    Immediate,
    /// Wait until [`PtyChild::release`] writes to a private pipe (like later upstream
    /// versions; no stray newline on the screen). If the pipe is closed without release
    /// (the server died), the child exits without starting the program. MoshKit's default.
    Pipe,
    /// Wait for one line on the pty; [`PtyChild::release`] writes `"\n"` to the master
    /// (mosh 1.4.0: the echoed newline leaves the cursor on row 2).
    Newline,
}

/// What to run in the pty.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Program to execute; looked up in `PATH` (of `env`) when it has no `/`.
    pub program: OsString,
    /// Full argument vector including `argv[0]`.
    pub argv: Vec<OsString>,
    /// Complete environment of the child.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory (errors ignored).
    pub cwd: Option<PathBuf>,
    /// Bytes the child writes to the terminal before waiting for release (motd etc.).
    pub banner: Vec<u8>,
    /// Release behaviour.
    pub release: ReleaseMode,
}

/// Finds `program` in the colon-separated `path`, like `execvp`.
pub fn resolve_program(program: &OsStr, path: Option<&OsStr>) -> PathBuf {
    if program.as_bytes().contains(&b'/') {
        return PathBuf::from(program);
    }
    let path = path
        .map(OsStr::as_bytes)
        .unwrap_or(b"/usr/local/bin:/usr/bin:/bin");
    for dir in path.split(|b| *b == b':') {
        let dir = if dir.is_empty() { b".".as_slice() } else { dir };
        let candidate = Path::new(OsStr::from_bytes(dir)).join(program);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            use std::os::unix::fs::PermissionsExt;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return candidate;
            }
        }
    }
    PathBuf::from(program)
}

/// The master side of a pty.
#[derive(Debug)]
pub struct PtyMaster {
    fd: OwnedFd,
}

/// Result of a read from the master.
#[derive(Debug, PartialEq, Eq)]
pub enum PtyRead {
    /// Some bytes.
    Data(usize),
    /// Nothing within the timeout (or `EAGAIN` in non-blocking mode).
    WouldBlock,
    /// The slave side is closed: `EIO` or end of file. The session is over.
    Closed,
}

impl PtyMaster {
    /// Reads once, waiting at most `timeout` (`None` = block).
    pub fn read_timeout(
        &self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<PtyRead, PtyError> {
        let t = match timeout {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
        };
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, t) {
            Ok(0) => return Ok(PtyRead::WouldBlock),
            Ok(_) => {}
            Err(Errno::EINTR) => return Ok(PtyRead::WouldBlock),
            Err(e) => return Err(sys("poll")(e)),
        }
        self.read(buf)
    }

    /// Reads once (blocking unless the fd was made non-blocking).
    pub fn read(&self, buf: &mut [u8]) -> Result<PtyRead, PtyError> {
        match nix::unistd::read(&self.fd, buf) {
            Ok(0) => Ok(PtyRead::Closed),
            Ok(n) => Ok(PtyRead::Data(n)),
            Err(Errno::EIO) => Ok(PtyRead::Closed),
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(PtyRead::WouldBlock),
            Err(e) => Err(sys("read")(e)),
        }
    }

    /// Writes all of `bytes` (retrying on `EINTR`/`EAGAIN`).
    pub fn write_all(&self, mut bytes: &[u8]) -> Result<(), PtyError> {
        while !bytes.is_empty() {
            match nix::unistd::write(&self.fd, bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => {
                    let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLOUT)];
                    let _ = poll(&mut fds, PollTimeout::from(100u8));
                }
                Err(e) => return Err(sys("write")(e)),
            }
        }
        Ok(())
    }

    /// Sets the window size (`TIOCSWINSZ`); the kernel sends SIGWINCH to the foreground group.
    pub fn set_window_size(&self, size: WindowSize) -> Result<(), PtyError> {
        let ws = size.to_winsize();
        // SAFETY: TIOCSWINSZ reads one `struct winsize` from the valid `ws`.
        unsafe { tiocswinsz(self.fd.as_raw_fd(), &ws) }
            .map(drop)
            .map_err(sys("ioctl(TIOCSWINSZ)"))
    }

    /// Current window size.
    pub fn window_size(&self) -> Option<WindowSize> {
        tty_window_size(self.fd.as_fd())
    }

    /// Switches the master to non-blocking mode (for event loops).
    pub fn set_nonblocking(&self) -> Result<(), PtyError> {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        let flags = fcntl(&self.fd, FcntlArg::F_GETFL).map_err(sys("fcntl"))?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(&self.fd, FcntlArg::F_SETFL(flags)).map_err(sys("fcntl"))?;
        Ok(())
    }
}

impl AsFd for PtyMaster {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PtyMaster {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The process running in the pty.
#[derive(Debug)]
pub struct PtyChild {
    pid: Pid,
    release: Option<ReleaseMode>,
    release_pipe: Option<OwnedFd>,
    status: Option<WaitStatus>,
}

impl PtyChild {
    /// Process id.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Lets the child `exec` its program (first client state received). Idempotent.
    pub fn release(&mut self, master: &PtyMaster) -> Result<(), PtyError> {
        match self.release.take() {
            Some(ReleaseMode::Pipe) => {
                // One byte releases the child; EOF without it makes the child give up.
                if let Some(fd) = self.release_pipe.take() {
                    nix::unistd::write(&fd, b"\n").map_err(sys("write(release pipe)"))?;
                }
                Ok(())
            }
            Some(ReleaseMode::Newline) => master.write_all(b"\n"),
            _ => Ok(()),
        }
    }

    /// Closes the release pipe without releasing: a [`ReleaseMode::Pipe`] child then exits
    /// with status 1 instead of starting its program.
    pub fn abandon_release(&mut self) {
        self.release_pipe = None;
    }

    /// Whether [`PtyChild::release`] has been done (or was not needed).
    pub fn is_released(&self) -> bool {
        self.release.is_none()
    }

    /// Non-blocking check for exit; `Some(status)` once the child is gone (reaped).
    pub fn try_wait(&mut self) -> Result<Option<WaitStatus>, PtyError> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => Ok(None),
            Ok(s @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                self.status = Some(s);
                Ok(Some(s))
            }
            Ok(_) => Ok(None),
            Err(Errno::ECHILD) => {
                let s = WaitStatus::Exited(self.pid, 0);
                self.status = Some(s);
                Ok(Some(s))
            }
            Err(e) => Err(sys("waitpid")(e)),
        }
    }

    /// Waits up to `timeout` for the child to exit (polling every 10 ms).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<WaitStatus>, PtyError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal to the child.
    pub fn kill(&self, signal: nix::sys::signal::Signal) -> Result<(), PtyError> {
        nix::sys::signal::kill(self.pid, signal).map_err(sys("kill"))
    }
}

fn cstring(s: &OsStr) -> Result<CString, PtyError> {
    CString::new(s.as_bytes()).map_err(|_| PtyError::Nul)
}

/// Creates a pty of `size`, and starts `spec` on its slave side as a session leader with the
/// pty as controlling terminal. The slave gets `IUTF8`.
///
/// Everything the child needs is prepared before `fork`; the child only makes
/// async-signal-safe calls, so this is sound in multi-threaded programs too.
pub fn spawn_in_pty(spec: &ChildSpec, size: WindowSize) -> Result<(PtyMaster, PtyChild), PtyError> {
    if spec.argv.is_empty() {
        return Err(PtyError::EmptyCommand);
    }
    let path_var = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let program = cstring(resolve_program(&spec.program, path_var).as_os_str())?;
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<_, _>>()?;
    let envp: Vec<CString> = spec
        .env
        .iter()
        .map(|(k, v)| {
            let mut kv = k.clone();
            kv.push("=");
            kv.push(v);
            cstring(&kv)
        })
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let cwd = spec
        .cwd
        .as_ref()
        .map(|p| cstring(p.as_os_str()))
        .transpose()?;
    let mut exec_failed = b"moshkit-server: could not execute ".to_vec();
    exec_failed.extend_from_slice(spec.program.as_bytes());
    exec_failed.extend_from_slice(b"\r\n");

    let pty = openpty(Some(&size.to_winsize()), None).map_err(sys("openpty"))?;
    // Keep both ends out of programs that other threads start concurrently (a leaked slave
    // would delay EOF/EIO on the master after the application exits).
    for fd in [&pty.master, &pty.slave] {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(sys("fcntl"))?;
    }
    if let Ok(mut t) = tcgetattr(&pty.slave) {
        t.input_flags |= InputFlags::IUTF8;
        let _ = tcsetattr(&pty.slave, SetArg::TCSANOW, &t);
    }
    let (release_read, release_write) = match spec.release {
        ReleaseMode::Pipe => {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
            (Some(r), Some(w))
        }
        _ => (None, None),
    };
    let old_core = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE).ok();

    let master_fd = pty.master.as_raw_fd();
    let slave_fd = pty.slave.as_raw_fd();
    let release_fd = release_read.as_ref().map(|f| f.as_raw_fd());
    let release_write_fd = release_write.as_ref().map(|f| f.as_raw_fd());

    // SAFETY: after fork the child only calls async-signal-safe functions (setsid, ioctl,
    // dup2, close, signal, sigprocmask, setrlimit, chdir, read, write, execve, sleep, _exit)
    // on data prepared above; it never allocates, locks or returns.
    match unsafe { nix::unistd::fork() }.map_err(sys("fork"))? {
        nix::unistd::ForkResult::Child => unsafe {
            libc::close(master_fd);
            if let Some(w) = release_write_fd {
                libc::close(w);
            }
            libc::setsid();
            libc::ioctl(slave_fd, libc::TIOCSCTTY as _, 0);
            libc::dup2(slave_fd, 0);
            libc::dup2(slave_fd, 1);
            libc::dup2(slave_fd, 2);
            if slave_fd > 2 {
                libc::close(slave_fd);
            }
            for sig in [
                libc::SIGHUP,
                libc::SIGPIPE,
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGQUIT,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if let Some((soft, hard)) = old_core {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &lim);
            }
            if let Some(dir) = &cwd {
                libc::chdir(dir.as_ptr());
            }
            if !spec.banner.is_empty() {
                libc::write(1, spec.banner.as_ptr().cast(), spec.banner.len());
            }
            let mut byte = 0u8;
            match (spec.release, release_fd) {
                (ReleaseMode::Pipe, Some(fd)) => loop {
                    let n = libc::read(fd, (&mut byte as *mut u8).cast(), 1);
                    if n == 1 {
                        libc::close(fd);
                        break;
                    }
                    if n == 0 || Errno::last_raw() != libc::EINTR {
                        // The server went away without releasing us: never start the
                        // program.
                        libc::_exit(1);
                    }
                },
                (ReleaseMode::Newline, _) => loop {
                    let n = libc::read(0, (&mut byte as *mut u8).cast(), 1);
                    if (n == 1 && byte == b'\n')
                        || n == 0
                        || (n < 0 && Errno::last_raw() != libc::EINTR)
                    {
                        break;
                    }
                },
                _ => {}
            }
            libc::execve(program.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
            libc::write(2, exec_failed.as_ptr().cast(), exec_failed.len());
            libc::sleep(3);
            libc::_exit(1);
        },
        nix::unistd::ForkResult::Parent { child } => {
            drop(pty.slave);
            drop(release_read);
            Ok((
                PtyMaster { fd: pty.master },
                PtyChild {
                    pid: child,
                    release: match spec.release {
                        ReleaseMode::Immediate => None,
                        m => Some(m),
                    },
                    release_pipe: release_write,
                    status: None,
                },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_execvp() {
        assert_eq!(
            resolve_program(OsStr::new("/x/y"), None),
            PathBuf::from("/x/y")
        );
        let sh = resolve_program(OsStr::new("sh"), Some(OsStr::new("/nonexistent:/bin")));
        assert_eq!(sh, PathBuf::from("/bin/sh"));
        assert_eq!(
            resolve_program(OsStr::new("no-such-prog-xyz"), Some(OsStr::new("/bin"))),
            PathBuf::from("no-such-prog-xyz")
        );
    }
}
