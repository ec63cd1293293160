//! tmux on a private socket, for tests that drive a terminal program as a person would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Fails the test unless `program` is on `PATH`.
pub fn require(program: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{program} is required for the interop tests (scripts/setup.sh installs it)"
    );
}

static TMUX_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A tmux server on a private socket (killed on drop).
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn new(cols: u16, rows: u16, command: &str) -> Tmux {
        let socket = format!(
            "moshkit-it-{}-{}",
            std::process::id(),
            TMUX_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let t = Tmux { socket };
        let ok = t
            .cmd()
            .args(["-f", "/dev/null", "new-session", "-d", "-x"])
            .arg(cols.to_string())
            .arg("-y")
            .arg(rows.to_string())
            .arg(command)
            .status()
            .expect("tmux");
        assert!(ok.success(), "tmux new-session failed");
        let _ = t.cmd().args(["set", "-g", "remain-on-exit", "on"]).status();
        t
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c.env_remove("TMUX");
        c
    }

    pub fn keys(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .arg("send-keys")
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(ok.success());
    }

    pub fn type_line(&self, line: &str) {
        self.keys(&["-l", line]);
        self.keys(&["Enter"]);
    }

    pub fn capture(&self, escapes: bool) -> String {
        let mut c = self.cmd();
        c.args(["capture-pane", "-p"]);
        if escapes {
            c.arg("-e");
        }
        let out = c.output().expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn wait_for(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = self.capture(false);
            if pred(&text) {
                return text;
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}; pane:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_text(&self, needle: &str, limit: Duration) -> String {
        self.wait_for(needle, limit, |t| t.contains(needle))
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        let ok = self
            .cmd()
            .args([
                "resize-window",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .status()
            .expect("resize");
        assert!(ok.success());
    }

    pub fn pane_pid(&self) -> i32 {
        let out = self
            .cmd()
            .args(["display", "-p", "#{pane_pid}"])
            .output()
            .expect("display");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pane pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").stderr(Stdio::null()).status();
    }
}
