//! The `moshkit-client` binary: argument/environment handling and terminal setup/restore,
//! exercised on a real pty. Sessions with real servers are in `interop.rs`; here nobody
//! answers, so a run ends after the connect timeout with the diagnostic.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moshkit_cli::pty::{ChildSpec, PtyRead, ReleaseMode, WindowSize, spawn_in_pty};

const CLIENT: &str = env!("CARGO_BIN_EXE_moshkit-client");
const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAA";

fn client() -> Command {
    let mut c = Command::new(CLIENT);
    c.stdin(Stdio::null())
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("MOSH_KEY");
    c
}

#[test]
fn usage_key_and_port_errors() {
    let out = client().args(["127.0.0.1", "1"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "MOSH_KEY environment variable not found."
    );
    let out = client()
        .env("MOSH_KEY", "abc")
        .args(["127.0.0.1", "1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Crypto exception: "));
    let out = client().args(["127.0.0.1", "1x"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("moshkit-client: Bad UDP port (1x)"));
    let out = client().arg("127.0.0.1").output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let out = client()
        .env("MOSH_KEY", KEY)
        .env("MOSH_PREDICTION_DISPLAY", "bogus")
        .args(["127.0.0.1", "1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unknown prediction mode"));
}

#[test]
fn colors_flag_reads_terminfo() {
    if !std::path::Path::new("/usr/share/terminfo/x/xterm-256color").exists()
        && !std::path::Path::new("/lib/terminfo/x/xterm-256color").exists()
    {
        return;
    }
    let out = client()
        .env("TERM", "xterm-256color")
        .arg("-c")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "256\n");
    let out = client()
        .env("TERM", "no-such-terminal")
        .arg("-c")
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-1\n");
}

#[test]
fn needs_a_terminal_and_a_utf8_locale() {
    let out = client()
        .env("MOSH_KEY", KEY)
        .env("TERM", "xterm")
        .args(["127.0.0.1", "1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcgetattr"));
    let out = client()
        .env("MOSH_KEY", KEY)
        .env("LC_ALL", "C")
        .args(["127.0.0.1", "1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a UTF-8 native locale"), "{err}");
    assert!(
        err.contains("(LC_ALL=C) specifies\nthe character set \"US-ASCII\""),
        "{err}"
    );
}

#[test]
fn terminal_is_initialised_and_restored_on_a_pty() {
    if !std::path::Path::new("/usr/share/terminfo/x/xterm").exists()
        && !std::path::Path::new("/lib/terminfo/x/xterm").exists()
    {
        return;
    }
    let spec = ChildSpec {
        program: "/bin/sh".into(),
        argv: vec![
            "sh".into(),
            "-c".into(),
            format!("{CLIENT} 127.0.0.1 60991; echo rc=$?; stty -a | grep -o -- '-\\?icanon'")
                .into(),
        ],
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("TERM".into(), "xterm".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("MOSH_KEY".into(), KEY.into()),
            // Upstream's control strings (the alternate screen): with scrollback written into
            // the terminal's own (the default), smcup/rmcup are left out.
            ("MOSHKIT_SCROLLBACK_LINES".into(), "0".into()),
        ],
        cwd: None,
        banner: Vec::new(),
        release: ReleaseMode::Immediate,
    };
    let (pty, mut child) = spawn_in_pty(&spec, WindowSize::DEFAULT).expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match pty
            .read_timeout(&mut buf, Some(Duration::from_millis(100)))
            .expect("read")
        {
            PtyRead::Data(n) => out.extend_from_slice(&buf[..n]),
            PtyRead::Closed => break,
            PtyRead::WouldBlock => {}
        }
    }
    let _ = child.wait_timeout(Duration::from_secs(5));
    let text = String::from_utf8_lossy(&out);
    let init = text
        .find("\x1b[?1049h\x1b[22;0;0t\x1b[?1h")
        .expect("init string");
    let close = text
        .find("\x1b[?1l\x1b[0m\x1b[?25h\x1b[?1003l\x1b[?1002l\x1b[?1001l\x1b[?1000l\x1b[?1015l\x1b[?1006l\x1b[?1005l\x1b[?1049l\x1b[23;0;0t")
        .expect("close string");
    assert!(init < close);
    let exiting = text.find("[mosh is exiting.]").expect("exit line");
    assert!(close < exiting);
    // Nobody answers: the connect timeout (15 s) ends the session with the diagnostic.
    assert!(
        text.contains("did not make a successful connection to 127.0.0.1:60991"),
        "{text:?}"
    );
    assert!(
        text.contains("Nothing received from server on UDP port 60991"),
        "{text:?}"
    );
    assert!(text.contains("rc=1"), "{text:?}");
    // Canonical mode is back after the client exited.
    assert!(text.contains("\r\nicanon"), "{text:?}");
}
