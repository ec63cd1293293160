//! A mosh server daemon for live tests: upstream `mosh-server` or `moshkit-server`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The `moshkit-server` binary of this build.
pub const MOSHKIT_SERVER: &str = env!("CARGO_BIN_EXE_moshkit-server");
/// The `moshkit-client` binary of this build.
pub const MOSHKIT_CLIENT: &str = env!("CARGO_BIN_EXE_moshkit-client");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// MoshKit's own binaries.
    MoshKit,
    /// Debian's mosh 1.4.
    Upstream,
}

impl Impl {
    /// This implementation's client program.
    pub fn client_program(self) -> &'static str {
        match self {
            Impl::MoshKit => MOSHKIT_CLIENT,
            Impl::Upstream => "mosh-client",
        }
    }
}

/// A tmux pane command: `client` connecting to 127.0.0.1:`port` with `key` and the extra
/// environment `env` (`NAME=value ...`), the pane staying open after it exits.
pub fn client_pane(client: Impl, key: &str, port: u16, env: &str) -> String {
    format!(
        "env MOSH_KEY={key} LANG=C.UTF-8 TERM=xterm {env} {} 127.0.0.1 {port}; sleep 600",
        client.client_program()
    )
}

pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moshkit-interop-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// A running mosh server daemon (killed on drop if still alive).
pub struct Server {
    pub port: u16,
    pub key: String,
    pub pid: i32,
}

impl Server {
    pub fn start(which: Impl, home: &std::path::Path) -> Server {
        Self::start_with_env(which, home, &[])
    }

    /// As [`Server::start`], with extra environment variables for the server.
    pub fn start_with_env(which: Impl, home: &std::path::Path, env: &[(&str, &str)]) -> Server {
        Self::start_program(which, home, env, &["/bin/sh"])
    }

    /// As [`Server::start_with_env`], running `command` (program and arguments) in the
    /// session instead of `/bin/sh`.
    pub fn start_program(
        which: Impl,
        home: &std::path::Path,
        env: &[(&str, &str)],
        command: &[&str],
    ) -> Server {
        let program = match which {
            Impl::MoshKit => MOSHKIT_SERVER,
            Impl::Upstream => "mosh-server",
        };
        let out = Command::new(program)
            .args(["new", "-i", "127.0.0.1", "--"])
            .args(command)
            .env("LANG", "C.UTF-8")
            .env("PS1", "$ ")
            .env("HOME", home)
            .env("SHELL", "/bin/sh")
            .env_remove("LC_ALL")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("start server");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("MOSH CONNECT "))
            .unwrap_or_else(|| panic!("no MOSH CONNECT from {program}: {stdout:?} {stderr:?}"));
        let w: Vec<&str> = line.split_whitespace().collect();
        let pid = stderr
            .lines()
            .find_map(|l| l.split("detached, pid = ").nth(1))
            .and_then(|p| p.trim_end_matches(']').parse().ok())
            .unwrap_or_else(|| panic!("no pid: {stderr:?}"));
        Server {
            port: w[2].parse().expect("port"),
            key: w[3].to_string(),
            pid,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn alive(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => !stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.alive() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::SIGKILL,
            );
        }
    }
}
