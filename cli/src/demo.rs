//! `moshkit demo`: a complete mosh session on this machine, no remote host needed.
//!
//! A host session (the same code as `moshkit-server`) runs your shell in a pty on
//! 127.0.0.1, the terminal client (the same code as `moshkit-client`) attaches to it, and a
//! built-in UDP impairment relay ([`crate::relay`]) sits between them, adding `--delay` and
//! `--loss`, so predictive local echo (underlined while unconfirmed) and the notification bar
//! can be seen without a slow network.

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

use moshkit_core::prediction::DisplayPreference;

use crate::client::args::ClientPrefs;
use crate::client::escape::EscapeConfig;
use crate::locale::{ServerLocale, resolve_server_locale};
use crate::pty::{ChildSpec, ReleaseMode, WindowSize, spawn_in_pty, tty_window_size};
use crate::relay::{Impairment, spawn_relay};
use crate::server::serve::{ServeParts, run_host_session};
use crate::server::{ServerConfig, generate_key, session_env, session_program};
use crate::signals::{SIGCHLD, SignalPipe};

/// `moshkit demo` usage.
pub const DEMO_USAGE: &str = "Usage: moshkit demo [--delay MS] [--loss PCT] [--seed N] [--predict=adaptive|always|never|experimental] [-- COMMAND...]

Runs a mosh session on this machine: your shell (or COMMAND) in a local server on
127.0.0.1, the MoshKit client attached through a UDP relay that delays each datagram by
MS milliseconds one way (default 150) and drops PCT percent of them (default 0).
Type to see predictive local echo (underlined until the server confirms it); quit with
Ctrl-^ . (or exit the shell).";

/// Default one-way delay of the demo relay.
pub const DEFAULT_DELAY_MS: u64 = 150;

/// `moshkit demo` options.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoArgs {
    /// Relay impairment.
    pub impairment: Impairment,
    /// Prediction display mode.
    pub predict: DisplayPreference,
    /// The command (default: the user's login shell).
    pub command: Vec<String>,
}

/// Parses the words after `demo`. `Err(None)` = help requested; `Err(Some(msg))` = usage error.
pub fn parse_demo_args(args: &[String]) -> Result<DemoArgs, Option<String>> {
    let mut out = DemoArgs {
        impairment: Impairment {
            delay: Duration::from_millis(DEFAULT_DELAY_MS),
            loss_percent: 0.0,
            seed: 0x6d6f_7368,
        },
        predict: DisplayPreference::Adaptive,
        command: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a, None),
        };
        let value = |i: &mut usize| -> Result<String, Option<String>> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            *i += 1;
            args.get(*i)
                .cloned()
                .ok_or_else(|| Some(format!("moshkit demo: {name} needs a value")))
        };
        match name {
            "-h" | "--help" => return Err(None),
            "--delay" => {
                let v = value(&mut i)?;
                let ms: u64 = v.parse().ok().filter(|&ms| ms <= 10_000).ok_or_else(|| {
                    Some(format!("moshkit demo: bad --delay {v:?} (0..10000 ms)"))
                })?;
                out.impairment.delay = Duration::from_millis(ms);
            }
            "--loss" => {
                let v = value(&mut i)?;
                let pct: f64 = v
                    .parse()
                    .ok()
                    .filter(|p: &f64| (0.0..=90.0).contains(p))
                    .ok_or_else(|| Some(format!("moshkit demo: bad --loss {v:?} (0..90 %)")))?;
                out.impairment.loss_percent = pct;
            }
            "--seed" => {
                let v = value(&mut i)?;
                out.impairment.seed = v
                    .parse()
                    .map_err(|_| Some(format!("moshkit demo: bad --seed {v:?}")))?;
            }
            "--predict" => {
                let v = value(&mut i)?;
                out.predict = v
                    .parse()
                    .map_err(|_| Some(format!("moshkit demo: unknown prediction mode {v:?}")))?;
            }
            "--" => {
                out.command = args[i + 1..].to_vec();
                break;
            }
            _ => return Err(Some(format!("moshkit demo: unknown argument {a:?}"))),
        }
        i += 1;
    }
    Ok(out)
}

/// Runs the demo; returns the exit status.
pub fn run_demo(args: DemoArgs) -> u8 {
    match run_demo_inner(args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("moshkit demo: {msg}");
            1
        }
    }
}

fn run_demo_inner(args: DemoArgs) -> Result<u8, String> {
    let env_lookup = |n: &str| std::env::var_os(n).map(|v| v.to_string_lossy().into_owned());
    let locale =
        resolve_server_locale("moshkit", &env_lookup, &["LANG=C.UTF-8".to_string()]).unwrap_or(
            ServerLocale::ClientSupplied(vec![("LANG".to_string(), "C.UTF-8".to_string())]),
        );
    let (user, home) = crate::server::current_user_and_home();
    let command: Vec<std::ffi::OsString> = args.command.iter().map(Into::into).collect();
    let (program, argv, _) = session_program(
        (!command.is_empty()).then_some(command.as_slice()),
        std::env::var_os("SHELL"),
        user.map(|u| u.shell),
    );
    let spec = ChildSpec {
        program,
        argv,
        env: session_env(std::env::vars_os(), "xterm-256color", &home, &locale),
        cwd: Some(home),
        banner: Vec::new(),
        release: ReleaseMode::Pipe,
    };
    let size = tty_window_size(std::io::stdin().as_fd()).unwrap_or(WindowSize::DEFAULT);
    let key = generate_key().map_err(|e| format!("random key: {e}"))?;
    let socket =
        UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind 127.0.0.1: {e}"))?;
    let server_addr = socket
        .local_addr()
        .map_err(|e| format!("getsockname: {e}"))?;
    let signals = SignalPipe::new(&[SIGCHLD]).map_err(|e| format!("signals: {e}"))?;
    let (pty, child) = spawn_in_pty(&spec, size).map_err(|e| format!("pty: {e}"))?;
    let parts = ServeParts {
        socket,
        pty,
        child,
        signals,
        config: ServerConfig::default(),
    };
    let server_key = key.clone();
    let server = std::thread::Builder::new()
        .name("moshkit-demo-server".into())
        .spawn(move || run_host_session(parts, &server_key, size).map(|(end, _parts)| end))
        .map_err(|e| format!("thread: {e}"))?;
    let mut relay = spawn_relay(server_addr, args.impairment).map_err(|e| format!("relay: {e}"))?;

    let prefs = ClientPrefs {
        key,
        display: args.predict,
        overwrite: false,
        escape: EscapeConfig::from_env(None),
        no_term_init: false,
        title_noprefix: false,
        scrollback_lines: moshkit_core::scrollback::DEFAULT_SCROLLBACK_LINES,
    };
    let code = crate::client::run_terminal_client(relay.addr(), prefs);
    relay.stop();
    // The server ends after the shutdown handshake (or by itself within its 60 s limits);
    // do not wait on it longer than that: the process exit ends it.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !server.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let relay_note = if args.impairment.delay.is_zero() && args.impairment.loss_percent == 0.0 {
        String::new()
    } else {
        format!(
            " through a relay adding {} ms and {} % loss each way",
            args.impairment.delay.as_millis(),
            args.impairment.loss_percent
        )
    };
    eprintln!("moshkit demo: session on {server_addr}{relay_note} ended.");
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn demo_arguments() {
        let a = parse_demo_args(&[]).expect("defaults");
        assert_eq!(a.impairment.delay, Duration::from_millis(DEFAULT_DELAY_MS));
        assert_eq!(a.impairment.loss_percent, 0.0);
        let a = parse_demo_args(&words(
            "--delay 300 --loss=20 --seed 5 --predict always -- vi x",
        ))
        .expect("parse");
        assert_eq!(a.impairment.delay, Duration::from_millis(300));
        assert_eq!(a.impairment.loss_percent, 20.0);
        assert_eq!(a.impairment.seed, 5);
        assert_eq!(a.predict, DisplayPreference::Always);
        assert_eq!(a.command, words("vi x"));
        assert_eq!(parse_demo_args(&words("--help")), Err(None));
        assert!(matches!(parse_demo_args(&words("--loss 95")), Err(Some(_))));
        assert!(matches!(parse_demo_args(&words("--delay")), Err(Some(_))));
        assert!(matches!(parse_demo_args(&words("host")), Err(Some(_))));
    }
}
