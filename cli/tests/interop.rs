//! The interoperability matrix: {moshkit-client, upstream mosh-client} ×
//! {moshkit-server, upstream mosh-server} on 127.0.0.1, driven through tmux panes on a
//! private tmux socket. Each pairing: a command and its output, an escape-sequence script
//! compared with the same script run directly in tmux, a resize seen by `stty size` on the
//! server, quitting with Ctrl-^ . (both processes exit, the terminal is restored). Further:
//! 30 % loss through the impairment relay, roaming (the relay's server-facing socket changes;
//! the MoshKit client also rebinds on SIGUSR2), garbage and bit-flipped datagrams, a wrong key.
//!
//! Requires `tmux`, `mosh-client` and `mosh-server` in `PATH`: the tests fail without them.
//! Every wait is bounded; tmux servers and mosh servers are killed when a test ends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use moshkit_cli::relay::{Impairment, RelayHandle, spawn_relay};

mod common;
use common::server::{Impl, Server, scratch_dir};
use common::tmux::{Tmux, require};

const MOSHKIT_CLIENT: &str = env!("CARGO_BIN_EXE_moshkit-client");

/// The pane command running a client against `addr`, then reporting how it ended.
fn client_command(which: Impl, addr: SocketAddr, key: &str) -> String {
    let program = match which {
        Impl::MoshKit => MOSHKIT_CLIENT,
        Impl::Upstream => "mosh-client",
    };
    format!(
        "env MOSH_KEY={key} LANG=C.UTF-8 TERM=xterm MOSH_PREDICTION_DISPLAY=never {program} {} {}; \
         echo CLIENT-EXIT=$?; stty -a | grep -o -- '-\\?icanon' | sed 's/^/MODE-/'; sleep 120",
        addr.ip(),
        addr.port()
    )
}

const T: Duration = Duration::from_secs(15);

/// The escape-sequence script: colours, cursor moves, erasing, wide characters.
const SCRIPT: &str = r#"printf '\033[H\033[2J'
printf '\033[31mred\033[0m \033[1;44mbold-on-blue\033[0m \033[4munder\033[0m \033[7mrev\033[0m \033[38;5;208mc208\033[0m\n'
printf 'wide: \346\227\245\346\234\254\350\252\236 ok\n'
printf 'abcdefghij\033[5D\033[KXY\n'
printf '\033[5;10Hat-5-10\033[2;40Hat-2-40\n'
printf '\033[6;1Hline-erase-test\033[5D\033[1K\n'
printf '\033[7;1Hfill-xxxxxxxxxx\033[7;6H\033[4X\n'
printf '\033[8;1H\033[32;1mgreen-bold\033[0m tab\tstop|\n'
printf '\033[10;1HEND-OF-SCRIPT\n'
"#;

/// Rows up to and including the `END-OF-SCRIPT` row.
fn script_rows(capture: &str) -> Vec<String> {
    let mut rows = Vec::new();
    for line in capture.lines() {
        rows.push(line.trim_end().to_string());
        if line.contains("END-OF-SCRIPT") {
            return rows;
        }
    }
    panic!("no END-OF-SCRIPT in {capture}");
}

fn direct_rendering(script: &std::path::Path, cols: u16, rows: u16) -> (Vec<String>, Vec<String>) {
    let t = Tmux::new(cols, rows, &format!("sh {}; sleep 60", script.display()));
    t.wait_text("END-OF-SCRIPT", T);
    std::thread::sleep(Duration::from_millis(200));
    (
        script_rows(&t.capture(false)),
        script_rows(&t.capture(true)),
    )
}

struct Session {
    tmux: Tmux,
    server: Server,
    relay: Option<RelayHandle>,
    home: PathBuf,
}

fn start_session(client: Impl, server: Impl, relay: Option<Impairment>, name: &str) -> Session {
    require("tmux");
    require("mosh-client");
    require("mosh-server");
    let home = scratch_dir(name);
    let srv = Server::start(server, &home);
    let relay = relay.map(|imp| spawn_relay(srv.addr(), imp).expect("relay"));
    let target = relay.as_ref().map_or(srv.addr(), RelayHandle::addr);
    let tmux = Tmux::new(80, 24, &client_command(client, target, &srv.key));
    // (tmux trims the prompt's trailing blank)
    tmux.wait_for("the prompt", T, |t| t.lines().any(|l| l.starts_with('$')));
    Session {
        tmux,
        server: srv,
        relay,
        home,
    }
}

impl Session {
    fn echo(&self, tag: &str, limit: Duration) {
        // The output line starts with the tag (the typed command line contains `$((`).
        self.tmux.type_line(&format!("echo {tag}-$((6*7))"));
        let want = format!("{tag}-42");
        self.tmux
            .wait_for(&want, limit, |t| t.lines().any(|l| l.trim_end() == want));
    }

    /// Ctrl-^ . ; `lossy`: the server's single acknowledgement may be lost (it exits right
    /// after sending it, as upstream does), so an unclean client exit is accepted.
    fn quit(self, lossy: bool) {
        self.tmux.keys(&["C-^"]);
        std::thread::sleep(Duration::from_millis(100));
        self.tmux.keys(&["."]);
        let text = self.tmux.wait_text("MODE-", T);
        assert!(text.contains("[mosh is exiting.]"), "{text}");
        assert!(
            text.contains("CLIENT-EXIT=0")
                || (lossy && text.contains("CLIENT-EXIT=1") && text.contains("did not shut down")),
            "{text}"
        );
        // The client restored the terminal (canonical mode back on).
        assert!(text.contains("MODE-icanon"), "{text}");
        let start = Instant::now();
        while self.server.alive() && start.elapsed() < T {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!self.server.alive(), "server still running after quit");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn full_pairing(client: Impl, server: Impl) {
    let name = format!("{client:?}-{server:?}");
    let s = start_session(client, server, None, &name);
    s.echo("hello", T);

    // Escape-sequence script, compared with tmux rendering it directly.
    let script = s.home.join("script.sh");
    std::fs::write(&script, SCRIPT).expect("write script");
    s.tmux.type_line(&format!("sh {}", script.display()));
    s.tmux.wait_for("script output", T, |t| {
        t.lines().any(|l| l.trim_end() == "END-OF-SCRIPT")
    });
    std::thread::sleep(Duration::from_millis(300));
    let via_mosh = script_rows(&s.tmux.capture(false));
    let via_mosh_attrs = script_rows(&s.tmux.capture(true));
    let (direct, direct_attrs) = direct_rendering(&script, 80, 24);
    assert_eq!(via_mosh, direct, "text differs ({name})");
    assert_eq!(via_mosh_attrs, direct_attrs, "attributes differ ({name})");

    // Resize.
    s.tmux.resize(100, 30);
    std::thread::sleep(Duration::from_millis(300));
    s.tmux.type_line("clear; stty size");
    s.tmux.wait_text("30 100", T);

    s.quit(false);
}

#[test]
fn moshkit_client_with_moshkit_server() {
    full_pairing(Impl::MoshKit, Impl::MoshKit);
}

#[test]
fn moshkit_client_with_upstream_server() {
    full_pairing(Impl::MoshKit, Impl::Upstream);
}

#[test]
fn upstream_client_with_moshkit_server() {
    full_pairing(Impl::Upstream, Impl::MoshKit);
}

#[test]
fn upstream_client_with_upstream_server_baseline() {
    full_pairing(Impl::Upstream, Impl::Upstream);
}

fn lossy_and_roaming(client: Impl, server: Impl) {
    let name = format!("loss-{client:?}-{server:?}");
    let s = start_session(
        client,
        server,
        Some(Impairment {
            delay: Duration::from_millis(10),
            loss_percent: 30.0,
            seed: 30,
        }),
        &name,
    );
    s.echo("lossy", Duration::from_secs(30));
    // Roam: the server sees the client from a new port; a MoshKit client also rebinds.
    let relay = s.relay.as_ref().expect("relay");
    relay.rebind_upstream();
    if client == Impl::MoshKit {
        let shell = s.tmux.pane_pid();
        let out = Command::new("pgrep")
            .args(["-P", &shell.to_string(), "-f", "moshkit-client"])
            .output()
            .expect("pgrep");
        let pid: i32 = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .expect("client pid");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGUSR2)
            .expect("SIGUSR2");
    }
    s.echo("roamed", Duration::from_secs(30));
    assert!(relay.counters().dropped.load(Ordering::Relaxed) > 0);
    s.quit(true);
}

#[test]
fn loss_and_roaming_moshkit_client_moshkit_server() {
    lossy_and_roaming(Impl::MoshKit, Impl::MoshKit);
}

#[test]
fn loss_and_roaming_moshkit_client_upstream_server() {
    lossy_and_roaming(Impl::MoshKit, Impl::Upstream);
}

#[test]
fn loss_and_roaming_upstream_client_moshkit_server() {
    lossy_and_roaming(Impl::Upstream, Impl::MoshKit);
}

#[test]
fn garbage_datagrams_leave_the_session_untouched() {
    let s = start_session(Impl::MoshKit, Impl::MoshKit, None, "garbage");
    s.echo("before", T);
    let key = moshkit_core::crypto::Key::parse(&s.server.key).expect("key");
    // A genuine client datagram (same key, fresh session) to bit-flip.
    let mut fake = moshkit_core::session::ClientSession::new(
        &key,
        s.server.addr(),
        80,
        24,
        moshkit_core::session::ClientConfig::default(),
        Instant::now(),
        Box::new(moshkit_core::SplitMix64::new(9)),
    )
    .expect("session");
    fake.send_input(Instant::now(), b"rm -rf /tmp/nothing\r");
    let genuine = fake
        .poll_transmit(Instant::now() + Duration::from_millis(50))
        .expect("datagram")
        .contents;
    let attacker = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut rng = moshkit_core::SplitMix64::new(1234);
    let mut sent = 0;
    for i in 0..400usize {
        let mut d = if i % 2 == 0 {
            genuine.clone()
        } else {
            let mut len = [0u8; 2];
            moshkit_core::RandomSource::fill(&mut rng, &mut len);
            let mut v = vec![0u8; usize::from(u16::from_le_bytes(len)) % 1500];
            moshkit_core::RandomSource::fill(&mut rng, &mut v);
            v
        };
        if i % 2 == 0 {
            let bit = i * 7919 % (d.len() * 8);
            d[bit / 8] ^= 1 << (bit % 8);
        }
        if attacker.send_to(&d, s.server.addr()).is_ok() {
            sent += 1;
        }
    }
    assert!(sent > 300);
    std::thread::sleep(Duration::from_millis(300));
    s.echo("after", T);
    assert!(s.server.alive());
    s.quit(false);
}

#[test]
fn wrong_key_gives_a_clear_error_within_the_connect_timeout() {
    require("tmux");
    let home = scratch_dir("wrongkey");
    let srv = Server::start(Impl::MoshKit, &home);
    let start = Instant::now();
    let t = Tmux::new(
        80,
        24,
        &client_command(Impl::MoshKit, srv.addr(), "AAAAAAAAAAAAAAAAAAAAAA"),
    );
    // Shown on the notification bar while waiting.
    t.wait_text("Nothing received from server", Duration::from_secs(5));
    let text = t.wait_text("MODE-", Duration::from_secs(25));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(
        text.contains("did not make a successful connection to 127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("CLIENT-EXIT=1"), "{text}");
    assert!(text.contains("MODE-icanon"), "{text}");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn demo_runs_a_local_session_through_the_relay() {
    require("tmux");
    let t = Tmux::new(
        80,
        24,
        &format!(
            "env LANG=C.UTF-8 TERM=xterm PS1='$ ' {} demo --delay 40 --loss 10 --seed 3 -- /bin/sh; \
             echo CLIENT-EXIT=$?; stty -a | grep -o -- '-\\?icanon' | sed 's/^/MODE-/'; sleep 120",
            env!("CARGO_BIN_EXE_moshkit")
        ),
    );
    t.wait_for("the prompt", T, |t| t.lines().any(|l| l.starts_with('$')));
    t.type_line("echo demo-$((6*7))");
    t.wait_for("demo-42", T, |t| {
        t.lines().any(|l| l.trim_end() == "demo-42")
    });
    t.type_line("exit");
    let text = t.wait_text("MODE-", T);
    assert!(text.contains("[mosh is exiting.]"), "{text}");
    assert!(text.contains("through a relay adding 40 ms"), "{text}");
    assert!(text.contains("CLIENT-EXIT=0"), "{text}");
    assert!(text.contains("MODE-icanon"), "{text}");
}

#[test]
fn state_file_resumes_a_session_after_kill_9() {
    require("tmux");
    require("mosh-server");
    let home = scratch_dir("statefile");
    let state = home.join("session.state");
    let srv = Server::start(Impl::Upstream, &home);
    let t = Tmux::new(
        80,
        24,
        &format!(
            "env MOSH_KEY={} LANG=C.UTF-8 TERM=xterm MOSH_PREDICTION_DISPLAY=never {MOSHKIT_CLIENT} \
             --state-file={} 127.0.0.1 {}; echo CLIENT-EXIT=$?; sleep 120",
            srv.key,
            state.display(),
            srv.port
        ),
    );
    t.wait_for("the prompt", T, |t| t.lines().any(|l| l.starts_with('$')));
    t.type_line("echo one-$((6*7)); (sleep 2; echo late-$((5*5))) &");
    t.wait_for("one-42", T, |t| t.lines().any(|l| l.trim_end() == "one-42"));
    std::thread::sleep(Duration::from_millis(600)); // the state file catches up
    assert!(state.exists(), "no state file");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "state file readable by others: {mode:o}");
    // SIGKILL: no goodbye, no last save; the server keeps the session and prints meanwhile.
    let pid = t.pane_pid();
    let killed = Command::new("pkill")
        .args(["-KILL", "-P", &pid.to_string(), "-f", "moshkit-client"])
        .status()
        .unwrap();
    assert!(killed.success());
    t.wait_text("CLIENT-EXIT=137", T);
    std::thread::sleep(Duration::from_millis(2500)); // "late-25" is printed while no client runs
    // A new client resumes from the file alone (no MOSH_KEY, no address).
    let t2 = Tmux::new(
        80,
        24,
        &format!(
            "env -u MOSH_KEY LANG=C.UTF-8 TERM=xterm MOSH_PREDICTION_DISPLAY=never {MOSHKIT_CLIENT} \
             --state-file={}; echo CLIENT-EXIT=$?; ls {} 2>&1 | sed 's/^/LS-/'; sleep 120",
            state.display(),
            state.display()
        ),
    );
    t2.wait_for("the output made while no client ran", T, |t| {
        t.lines().any(|l| l.trim_end().ends_with("late-25"))
    });
    assert!(t2.capture(false).lines().any(|l| l.trim_end() == "one-42"));
    t2.type_line("echo two-$((6*7))");
    t2.wait_for("two-42", T, |t| t.lines().any(|l| l.trim_end() == "two-42"));
    t2.type_line("exit");
    let text = t2.wait_text("LS-", T);
    assert!(text.contains("CLIENT-EXIT=0"), "{text}");
    assert!(
        !state.exists(),
        "state file not removed after the session ended: {text}"
    );
    let _ = std::fs::remove_dir_all(&home);
}
