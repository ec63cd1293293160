//! The `moshkit` wrapper end to end with a fake ssh that runs the server locally on
//! 127.0.0.1. The client is not started (`--print-connect`).

use std::path::{Path, PathBuf};
use std::process::Command;

const WRAPPER: &str = env!("CARGO_BIN_EXE_moshkit");
const CLIENT: &str = env!("CARGO_BIN_EXE_moshkit-client");
const SERVER: &str = env!("CARGO_BIN_EXE_moshkit-server");

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moshkit-wrapper-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// A fake ssh: records its argv, prints a banner line and `MOSH IP` (as the ProxyCommand
/// would, on stderr), then runs the remote command (last argument) with `sh -c`, keeping the
/// server's stderr (detach message) in a file.
fn fake_ssh(dir: &Path) -> PathBuf {
    let path = dir.join("fake-ssh");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{d}/argv'\necho 'Welcome to the fake host'\necho 'MOSH IP 127.0.0.1' >&2\nfor a; do last=$a; done\nexec sh -c \"$last\" 2>'{d}/server.err'\n",
        d = dir.display()
    );
    std::fs::write(&path, script).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn kill_detached(dir: &Path) {
    let err = std::fs::read_to_string(dir.join("server.err")).unwrap_or_default();
    if let Some(pid) = err
        .lines()
        .filter_map(|l| l.split("detached, pid = ").nth(1))
        .filter_map(|p| p.trim_end_matches(']').parse::<i32>().ok())
        .next()
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// Returns (stdout, argv seen by ssh, port, key) after checking the output's shape.
fn bootstrap(dir: &Path, server: &str) -> (String, Vec<String>, u16, String) {
    let ssh = fake_ssh(dir);
    let out = Command::new(WRAPPER)
        .args([
            &format!("--ssh={}", ssh.display()),
            &format!("--client={CLIENT}"),
            &format!("--server={server}"),
            "--bind-server=127.0.0.1",
            "--print-connect",
            "-p",
            "0",
            "user@127.0.0.1",
            "--",
            "/bin/echo",
            "it's a test",
        ])
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env("TERM", "xterm-256color")
        .output()
        .expect("run wrapper");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout {stdout:?} stderr {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("a line").to_string();
    let words: Vec<&str> = last.split(' ').collect();
    assert_eq!(
        &words[..3],
        &["MOSHKIT", "CONNECT", "127.0.0.1"],
        "{stdout:?}"
    );
    let port: u16 = words[3].parse().expect("port");
    assert_ne!(port, 0);
    let key = words[4].to_string();
    assert!(moshkit_core::crypto::Key::parse(&key).is_ok());
    let argv = std::fs::read_to_string(dir.join("argv"))
        .expect("argv")
        .lines()
        .map(str::to_string)
        .collect();
    (stdout, argv, port, key)
}

#[test]
fn bootstrap_with_upstream_mosh_server() {
    if !have("mosh-server") {
        return;
    }
    let dir = temp_dir("upstream");
    let (stdout, argv, port, _key) = bootstrap(&dir, "mosh-server");
    // The upstream daemon is waiting for a client on that port: it is taken.
    let taken = std::net::UdpSocket::bind(("127.0.0.1", port));
    kill_detached(&dir);
    assert!(taken.is_err(), "server not listening on {port}");
    assert!(
        stdout.starts_with("Welcome to the fake host\n"),
        "{stdout:?}"
    );
    assert_eq!(&argv[..5], &["-n", "-tt", "-S", "none", "-o"]);
    assert!(argv[5].starts_with("ProxyCommand='"));
    assert!(argv[5].ends_with("' '--family=prefer-inet' --fake-proxy -- %h %p"));
    assert_eq!(&argv[6..8], &["user@127.0.0.1", "--"]);
    let colors = if Path::new("/usr/share/terminfo/x/xterm-256color").exists()
        || Path::new("/lib/terminfo/x/xterm-256color").exists()
    {
        "256"
    } else {
        "0"
    };
    assert_eq!(
        argv[8],
        format!(
            "mosh-server 'new' '-c' '{colors}' '-i' '127.0.0.1' '-p' '0' '-l' 'LANG=C.UTF-8' '--' '/bin/echo' 'it'\\''s a test'"
        )
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bootstrap_with_moshkit_server() {
    let dir = temp_dir("moshkit");
    let (_stdout, argv, _port, _key) = bootstrap(&dir, SERVER);
    kill_detached(&dir);
    assert!(
        argv[8].starts_with(&format!("{SERVER} 'new' '-c' ")),
        "{argv:?}"
    );
    let err = std::fs::read_to_string(dir.join("server.err")).unwrap_or_default();
    assert!(err.contains("[moshkit-server detached, pid = "), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn local_mode_runs_the_server_without_ssh() {
    let out = Command::new(WRAPPER)
        .args([
            "--local",
            &format!("--client={CLIENT}"),
            &format!("--server={SERVER}"),
            "--print-connect",
            "-p",
            "0",
            "127.0.0.1",
            "--",
            "/bin/true",
        ])
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let last = stdout.lines().last().expect("line");
    assert!(last.starts_with("MOSHKIT CONNECT 127.0.0.1 "), "{stdout}");
}

#[test]
fn missing_startup_line_and_bad_options() {
    let dir = temp_dir("nostart");
    let ssh = dir.join("ssh");
    std::fs::write(
        &ssh,
        "#!/bin/sh\necho 'mosh-server: command not found'\nexit 127\n",
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new(WRAPPER)
        .args([
            &format!("--ssh={}", ssh.display()),
            "--client=/bin/false",
            "h",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "mosh-server: command not found\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "moshkit: the remote command failed (exit status 127) before the server started: mosh-server: command not found\n"
    );
    let out = Command::new(WRAPPER)
        .args(["--predict=foo", "h"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("moshkit: Unknown mode \"foo\"."));
    let out = Command::new(WRAPPER)
        .args(["-p", "0:5", "h"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "moshkit: Server-side port ranges may not be used with starting port 0 (0:5)."
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fake_proxy_reports_address_and_relays() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).expect("read");
        s.write_all(&buf.map(|b| b.to_ascii_uppercase()))
            .expect("write");
    });
    let mut child = Command::new(WRAPPER)
        .args([
            "--family=inet",
            "--fake-proxy",
            "--",
            "localhost",
            &port.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    server.join().expect("server");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "MOSH IP 127.0.0.1\n");
}
