//! `moshkit user@host` against a real OpenSSH server on loopback, as a user types it.
//!
//! Each test starts its own `sshd` (Debian's `openssh-server`) on a free loopback port with a
//! throwaway host key, user keys and `authorized_keys` in a temporary directory, and stops it by
//! pid at the end; the machine's own ssh configuration is never read or changed (`-F` points at
//! the test's own file, known hosts go to the temporary directory). The remote "host" is this
//! machine as root: which servers it has is set per user key with `environment="PATH=..."`:
//!
//! - `kit`: a directory with `moshkit-server` first, then `/usr/bin:/bin` (upstream's too);
//! - `upstream`: `/usr/bin:/bin` only (upstream `mosh-server`, as on nearly every host today);
//! - `bare`: a directory with only `sh` and `bash` (no server at all).
//!
//! The wrapper runs the real `moshkit-client` in a tmux pane; every wait is bounded.
//! Requires `sshd`, `ssh`, `ssh-keygen`, `tmux` and `mosh-server` (scripts/setup.sh installs
//! them): the tests fail without them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::tmux::{Tmux, require};

const WRAPPER: &str = env!("CARGO_BIN_EXE_moshkit");
const CLIENT: &str = env!("CARGO_BIN_EXE_moshkit-client");
const SERVER: &str = env!("CARGO_BIN_EXE_moshkit-server");
const SSHD: &str = "/usr/sbin/sshd";

/// Limit for each wait on a pane.
const T: Duration = Duration::from_secs(20);

/// A private sshd on 127.0.0.1 and [::1] (stopped and its directory removed on drop).
struct Sshd {
    dir: PathBuf,
    port: u16,
    child: Child,
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "moshkit-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(ok.success(), "ssh-keygen failed");
}

fn free_tcp_port() -> u16 {
    // The kernel's choice of a free port; sshd binds it a moment later.
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn symlink(target: &str, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

impl Sshd {
    fn start(name: &str) -> Sshd {
        require("tmux");
        require("ssh");
        require("ssh-keygen");
        require("mosh-server");
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is required (openssh-server; scripts/setup.sh installs it)"
        );
        let dir = std::env::temp_dir().join(format!("moshkit-sshd-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for key in ["host_key", "kit", "upstream", "bare", "stranger"] {
            keygen(&dir.join(key));
        }
        // The remote PATHs (see the module comment).
        let kit_bin = dir.join("kit-bin");
        std::fs::create_dir_all(&kit_bin).expect("mkdir");
        symlink(SERVER, &kit_bin.join("moshkit-server"));
        let bare_bin = dir.join("bare-bin");
        std::fs::create_dir_all(&bare_bin).expect("mkdir");
        symlink("/bin/sh", &bare_bin.join("sh"));
        symlink("/bin/bash", &bare_bin.join("bash"));
        let pubkey = |k: &str| std::fs::read_to_string(dir.join(format!("{k}.pub"))).expect("pub");
        let authorized = format!(
            "environment=\"PATH={}:/usr/bin:/bin\" {}environment=\"PATH=/usr/bin:/bin\" {}environment=\"PATH={}\" {}",
            kit_bin.display(),
            pubkey("kit"),
            pubkey("upstream"),
            bare_bin.display(),
            pubkey("bare"),
        );
        std::fs::write(dir.join("authorized_keys"), authorized).expect("write");
        let port = free_tcp_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nListenAddress ::1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n\
             UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nPermitUserEnvironment yes\nPrintMotd no\n\
             PrintLastLog no\nAcceptEnv LANG LC_*\n",
            d = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).expect("write");
        // sshd's privilege separation directory (normally made by its service unit).
        let _ = std::fs::create_dir_all("/run/sshd");
        let log = std::fs::File::create(dir.join("sshd.log")).expect("log");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let sshd = Sshd { dir, port, child };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sshd did not listen on {port}: {}",
                sshd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // A client config with a host alias, as a user keeps in ~/.ssh/config.
        std::fs::write(
            sshd.dir.join("ssh_config"),
            format!(
                "Host box-alias\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {d}/upstream\n\
                 Host *\n  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking no\n\
                 UserKnownHostsFile {d}/known_hosts\n  LogLevel ERROR\n",
                d = sshd.dir.display()
            ),
        )
        .expect("write");
        sshd
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// The `--ssh` command for user key `key`: `ssh -p PORT` plus the test's own config.
    fn ssh(&self, key: &str) -> String {
        format!(
            "ssh -p {} -F {d}/ssh_config -i {d}/{key}",
            self.port,
            d = self.dir.display()
        )
    }

    /// Runs the wrapper to completion without a terminal (for the failure cases), bounded.
    fn wrapper(&self, args: &[&str]) -> (Option<i32>, String, String, Duration) {
        let start = Instant::now();
        let mut child = Command::new(WRAPPER)
            .arg(format!("--client={CLIENT}"))
            .args(args)
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run wrapper");
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let mut stderr = String::new();
        let _ = err.read_to_string(&mut stderr);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > T {
                let _ = child.kill();
                panic!("wrapper still running after {T:?}; stderr {stderr:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = reader.join().expect("reader");
        (status.code(), stdout, stderr, start.elapsed())
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A tmux pane running `moshkit WRAPPER_ARGS`, then reporting how it ended.
fn pane(args: &str) -> Tmux {
    Tmux::new(
        100,
        30,
        &format!(
            "env LANG=C.UTF-8 TERM=xterm-256color {WRAPPER} --client={CLIENT} {args}; \
             echo WRAPPER-EXIT=$?; sleep 120"
        ),
    )
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Waits for the remote shell, proves it works and names the server running it, then exits.
fn shell_session(t: &Tmux, expect_server: &str) {
    // root's prompt ends in `#` (tmux trims the blank after it).
    t.wait_for("the remote prompt", T, |s| {
        s.lines().any(|l| l.trim_end().ends_with('#'))
    });
    t.type_line("echo ssh-$((6*7)) $(cat /proc/$PPID/comm)");
    let want = format!("ssh-42 {expect_server}");
    let text = t.wait_for(&want, T, |s| s.lines().any(|l| l.trim_end() == want));
    assert!(!text.contains("WRAPPER-EXIT"), "{text}");
    t.type_line("exit");
    let text = t.wait_text("WRAPPER-EXIT=", T);
    assert!(text.contains("WRAPPER-EXIT=0"), "{text}");
}

#[test]
fn remote_with_moshkit_server_runs_it_by_default() {
    let sshd = Sshd::start("kit");
    let t = pane(&format!("--ssh={} root@127.0.0.1", quote(&sshd.ssh("kit"))));
    shell_session(&t, "moshkit-server");
}

#[test]
fn remote_with_only_upstream_mosh_server_runs_it_by_default() {
    let sshd = Sshd::start("upstream");
    let t = pane(&format!(
        "--ssh={} root@127.0.0.1",
        quote(&sshd.ssh("upstream"))
    ));
    shell_session(&t, "mosh-server");
}

#[test]
fn explicit_server_remote_command_and_port_range() {
    let sshd = Sshd::start("command");
    // `--server=mosh-server` although the remote has moshkit-server too; a UDP port range; a
    // remote command with quoting that must survive ssh and the server.
    let low = 40000 + (std::process::id() % 5000) as u16 * 4;
    let t = pane(&format!(
        "--ssh={} --server=mosh-server -p {low}:{} root@127.0.0.1 -- sh -c {}",
        quote(&sshd.ssh("kit")),
        low + 3,
        quote(
            "echo \"remote-$((6*7)) $(cat /proc/$PPID/comm) port=${SSH_CONNECTION##* }\"; read x"
        ),
    ));
    let text = t.wait_text("remote-42", T);
    let line = text
        .lines()
        .find(|l| l.starts_with("remote-42"))
        .expect("line");
    assert_eq!(
        line.trim_end(),
        format!("remote-42 mosh-server port={}", sshd.port),
        "{text}"
    );
    t.keys(&["Enter"]);
    let text = t.wait_text("WRAPPER-EXIT=", T);
    assert!(text.contains("WRAPPER-EXIT=0"), "{text}");
}

#[test]
fn ssh_config_alias_and_ipv6_literal() {
    let sshd = Sshd::start("alias");
    // The alias: ssh resolves it (HostName, Port, User, IdentityFile from the config) and the
    // proxy reports the address it connected to.
    let t = pane(&format!(
        "--ssh={} box-alias -- sh -c {}",
        quote(&format!("ssh -F {}/ssh_config", sshd.dir.display())),
        quote("echo \"alias-ok $SSH_CONNECTION\"; read x")
    ));
    let text = t.wait_text("alias-ok", T);
    assert!(
        text.lines().any(|l| l.starts_with("alias-ok 127.0.0.1 ")
            && l.trim_end().ends_with(&format!(" 127.0.0.1 {}", sshd.port))),
        "{text}"
    );
    t.keys(&["Enter"]);
    assert!(t.wait_text("WRAPPER-EXIT=", T).contains("WRAPPER-EXIT=0"));

    // An IPv6 literal: ssh, the proxy, the server's bind address (-s) and the client all use ::1.
    let t = pane(&format!(
        "--ssh={} root@::1 -- sh -c {}",
        quote(&sshd.ssh("upstream")),
        quote("echo \"v6-ok $SSH_CONNECTION\"; read x")
    ));
    let text = t.wait_text("v6-ok", T);
    assert!(text.contains("v6-ok ::1 "), "{text}");
    t.keys(&["Enter"]);
    assert!(t.wait_text("WRAPPER-EXIT=", T).contains("WRAPPER-EXIT=0"));
}

#[test]
fn failures_are_one_clear_line_and_nothing_hangs() {
    let sshd = Sshd::start("fail");
    // A key the server does not know: ssh's own error, quickly.
    let (code, _out, err, took) =
        sshd.wrapper(&[&format!("--ssh={}", sshd.ssh("stranger")), "root@127.0.0.1"]);
    assert_eq!(code, Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("moshkit: ssh failed (exit status 255): ")
            && last.contains("Permission denied"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");

    // A host with no mosh at all.
    let (code, _out, err, _) =
        sshd.wrapper(&[&format!("--ssh={}", sshd.ssh("bare")), "root@127.0.0.1"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err.lines().last().unwrap_or_default(),
        "moshkit: neither moshkit-server nor mosh-server is installed on the remote host (not in its PATH); install mosh there, or name the server with --server=PATH"
    );

    // An explicit server that the host does not have: the remote shell's complaint.
    let (code, out, err, _) = sshd.wrapper(&[
        &format!("--ssh={}", sshd.ssh("upstream")),
        "--server=moshkit-server",
        "root@127.0.0.1",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(out.contains("moshkit-server: command not found"), "{out}");
    assert!(
        err.contains(
            "moshkit: the remote command failed (exit status 127) before the server started: "
        ) && err.contains("command not found"),
        "{err}"
    );

    // A remote that prints no MOSH CONNECT and succeeds: upstream's message.
    let (code, _out, err, _) = sshd.wrapper(&[
        &format!("--ssh={}", sshd.ssh("upstream")),
        "--server=true",
        "root@127.0.0.1",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("Did not find mosh server startup message"),
        "{err}"
    );

    // Nothing listens on the ssh port: the proxy says so (once), ssh fails.
    let closed = free_tcp_port();
    let (code, _out, err, _) = sshd.wrapper(&[
        &format!("--ssh=ssh -p {closed} -F {}/ssh_config", sshd.dir.display()),
        "root@127.0.0.1",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.lines().last().unwrap_or_default().starts_with(
            "moshkit: ssh failed (exit status 255): ssh proxy: Could not connect to 127.0.0.1, last tried 127.0.0.1: Connection refused"
        ),
        "{err}"
    );
}

#[test]
fn unreachable_udp_port_is_reported_by_the_client() {
    let sshd = Sshd::start("udp");
    // A "server" that announces a UDP port nobody listens on.
    let t = pane(&format!(
        "--ssh={} --server={} root@127.0.0.1",
        quote(&sshd.ssh("upstream")),
        quote("echo MOSH CONNECT 9 AAAAAAAAAAAAAAAAAAAAAA; true")
    ));
    t.wait_text("Nothing received from server on UDP port 9", T);
    let text = t.wait_text("WRAPPER-EXIT=", T);
    assert!(
        text.contains("did not make a successful connection to 127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("WRAPPER-EXIT=1"), "{text}");
}

#[test]
fn fake_proxy_under_real_ssh_reports_once_and_exits() {
    let sshd = Sshd::start("proxy");
    // ssh with the wrapper as its ProxyCommand, as `moshkit` sets it up, running a command.
    for family in ["inet", "prefer-inet", "prefer-inet6", "all", "auto"] {
        let start = Instant::now();
        let out = Command::new("timeout")
            .arg("15")
            .args(sshd.ssh("upstream").split(' '))
            .arg("-o")
            .arg(format!(
                "ProxyCommand={WRAPPER} --family={family} --fake-proxy -- %h %p"
            ))
            .args(["root@127.0.0.1", "echo", "proxied-ok"])
            .stdin(Stdio::null())
            .output()
            .expect("ssh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{family}: {stdout:?} {stderr:?}");
        assert_eq!(stdout, "proxied-ok\n", "{family}");
        assert_eq!(
            stderr.matches("MOSH IP ").count(),
            1,
            "{family}: {stderr:?}"
        );
        assert!(
            stderr.contains("MOSH IP 127.0.0.1\n"),
            "{family}: {stderr:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{family}: {:?}",
            start.elapsed()
        );
    }
    // inet6 to an IPv4 literal has no address: a clear error, ssh fails at once.
    let out = Command::new("timeout")
        .arg("15")
        .args(sshd.ssh("upstream").split(' '))
        .arg("-o")
        .arg(format!(
            "ProxyCommand={WRAPPER} --family=inet6 --fake-proxy -- %h %p"
        ))
        .args(["root@127.0.0.1", "true"])
        .stdin(Stdio::null())
        .output()
        .expect("ssh");
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("moshkit: ssh proxy: "), "{stderr}");
    assert!(!stderr.contains("MOSH IP"), "{stderr}");
}
