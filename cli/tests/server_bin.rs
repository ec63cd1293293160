//! The `moshkit-server` binary's startup behaviour (loopback only).

use std::process::{Command, Stdio};

fn server() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_moshkit-server"));
    c.stdin(Stdio::null())
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL");
    c
}

#[test]
fn prints_connect_line_and_detaches() {
    let out = server()
        .args(["new", "-i", "127.0.0.1", "-p", "0", "--", "/bin/true"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // stdin is not a tty: no preamble, exactly one line.
    let words: Vec<&str> = stdout.trim_end_matches('\n').split(' ').collect();
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    assert_eq!(&words[..2], &["MOSH", "CONNECT"]);
    assert!(words[2].parse::<u16>().is_ok_and(|p| p != 0));
    assert!(moshkit_core::crypto::Key::parse(words[3]).is_ok());
    let last = stderr.lines().last().expect("stderr line");
    assert!(
        last.starts_with("[moshkit-server detached, pid = "),
        "{stderr:?}"
    );
    assert!(last.ends_with(']'));
    // The daemon waits up to 60 s for a client; stop it.
    let pid: i32 = last
        .trim_start_matches("[moshkit-server detached, pid = ")
        .trim_end_matches(']')
        .parse()
        .expect("pid");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM);
}

#[test]
fn bad_port_range_is_fatal_with_upstream_messages() {
    let out = server().args(["new", "-p", "0:5"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines[0], "Low port 0 incompatible with port ranges");
    assert_eq!(lines[1], "moshkit-server: Bad UDP port range (0:5)");
    assert!(lines[2].starts_with("Usage: moshkit-server new "));
}

#[test]
fn exhausted_range_is_reported() {
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port().to_string();
    // Binding the wildcard on a port held on 127.0.0.1 fails too (no SO_REUSEADDR).
    let out = server()
        .args(["new", "-i", "127.0.0.1", "-p", &port])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Failed binding to 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("Network exception: bind: "), "{stderr}");
    assert!(stderr.contains("no UDP port available"), "{stderr}");
}

#[test]
fn help_version_and_legacy_usage() {
    let out = server().arg("--help").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Usage: moshkit-server new"));
    let out = server().arg("--version").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("moshkit-server (moshkit "));
    let out = server().args(["a", "b", "c"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn non_utf8_locale_without_fallback_is_fatal_before_connect() {
    let out = server()
        .env("LC_ALL", "C")
        .args(["new", "-i", "127.0.0.1", "-p", "0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("MOSH CONNECT"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a UTF-8 native locale"));
    let out = server()
        .env("LC_ALL", "C")
        .args([
            "new",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-l",
            "LC_ALL=C.UTF-8",
            "--",
            "/bin/true",
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("MOSH CONNECT "));
}
