//! `moshkit-server`: everything except the host session itself.

pub mod args;
pub mod bind;
pub mod serve;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::Duration;

use moshkit_core::crypto::Key;

use crate::locale::{LOCALE_VARS, ServerLocale};
use crate::pty::{ChildSpec, ReleaseMode};

/// Version line (`--version`, and the first line of the detach banner).
pub fn version_banner() -> String {
    format!(
        "moshkit-server (moshkit {}) [wire-compatible with mosh 1.4, protocol 2]\nLicense: MIT OR Apache-2.0.\nThis is free software: you are free to change and redistribute it.\nThere is NO WARRANTY, to the extent permitted by law.",
        env!("CARGO_PKG_VERSION")
    )
}

/// The startup line parsed by wrappers: `MOSH CONNECT <port> <key>`.
pub fn connect_line(port: u16, key: &Key) -> String {
    format!("MOSH CONNECT {port} {key}\n")
}

/// Written before the startup line when stdin is a tty (`"\r\n"` then a newline, so the
/// line cannot be glued to echoed typeahead).
pub const TTY_PREAMBLE: &str = "\r\n\n";

/// What the parent writes to stderr after forking off the daemon.
pub fn detach_message(child_pid: i32) -> String {
    format!(
        "\n{}\n\n[moshkit-server detached, pid = {child_pid}]\n",
        version_banner()
    )
}

/// Generates a fresh session key from the OS random source.
pub fn generate_key() -> Result<Key, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(Key::from_bytes(bytes))
}

/// Server settings that come from the environment (reference §2.7, §10.2, §10.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerConfig {
    /// `MOSH_SERVER_NETWORK_TMOUT`: exit after this long without a new client state.
    pub network_timeout: Option<Duration>,
    /// `MOSH_SERVER_SIGNAL_TMOUT`: SIGUSR1 only ends sessions idle at least this long.
    pub signal_timeout: Option<Duration>,
    /// Number of `-v`.
    pub verbose: u32,
}

fn timeout_var(name: &str, value: Option<String>, warnings: &mut Vec<String>) -> Option<Duration> {
    let value = value?;
    match value.trim().parse::<i64>() {
        Ok(n) if n > 0 => Some(Duration::from_secs(n.unsigned_abs())),
        Ok(0) => None,
        Ok(_) => {
            warnings.push(format!("{name} is negative, ignoring"));
            None
        }
        Err(_) => {
            warnings.push(format!("{name} not a valid integer, ignoring"));
            None
        }
    }
}

impl ServerConfig {
    /// Reads the timeouts; returns warnings for invalid values (treated as unset).
    pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>, verbose: u32) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let cfg = ServerConfig {
            network_timeout: timeout_var(
                "MOSH_SERVER_NETWORK_TMOUT",
                lookup("MOSH_SERVER_NETWORK_TMOUT"),
                &mut warnings,
            ),
            signal_timeout: timeout_var(
                "MOSH_SERVER_SIGNAL_TMOUT",
                lookup("MOSH_SERVER_SIGNAL_TMOUT"),
                &mut warnings,
            ),
            verbose,
        };
        (cfg, warnings)
    }

    /// Whether the session is idle past `MOSH_SERVER_NETWORK_TMOUT`.
    pub fn network_timed_out(&self, since_remote_state: Duration) -> bool {
        self.network_timeout
            .is_some_and(|t| since_remote_state >= t)
    }

    /// Whether a SIGUSR1 received now ends the session (§10.3).
    pub fn sigusr1_ends_session(&self, since_remote_state: Duration) -> bool {
        match self.signal_timeout {
            None => true,
            Some(t) => since_remote_state >= t,
        }
    }
}

/// The user running the server (if the passwd database knows it) and the session's working
/// directory: `$HOME`, else the passwd home, else `/` (§2.6).
pub fn current_user_and_home() -> (Option<nix::unistd::User>, std::path::PathBuf) {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten();
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| user.as_ref().map(|u| u.dir.clone()))
        .unwrap_or_else(|| std::path::PathBuf::from("/"));
    (user, home)
}

/// The program to run: `(program, argv, is_login_shell)`.
///
/// Without a command this is the user's shell (`$SHELL`, else the passwd shell, else
/// `/bin/sh`) with `argv[0]` = `-` + basename, i.e. a login shell.
pub fn session_program(
    command: Option<&[OsString]>,
    shell_env: Option<OsString>,
    passwd_shell: Option<PathBuf>,
) -> (OsString, Vec<OsString>, bool) {
    if let Some(cmd) = command.filter(|c| !c.is_empty()) {
        return (cmd[0].clone(), cmd.to_vec(), false);
    }
    let shell = shell_env
        .filter(|s| !s.is_empty())
        .or_else(|| passwd_shell.map(PathBuf::into_os_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| OsString::from("/bin/sh"));
    let base = Path::new(&shell)
        .file_name()
        .map(OsStr::to_os_string)
        .unwrap_or_else(|| shell.clone());
    let mut argv0 = OsString::from("-");
    argv0.push(base);
    (shell, vec![argv0], true)
}

/// The session's environment (§2.8): the server's environment with `TERM` set,
/// `NCURSES_NO_UTF8_ACS=1`, `STY` removed, `PWD` = home, and the locale decision applied.
pub fn session_env(
    base: impl IntoIterator<Item = (OsString, OsString)>,
    term: &str,
    home: &Path,
    locale: &ServerLocale,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = base
        .into_iter()
        .filter(|(k, _)| {
            k != "STY" && k != "TERM" && k != "NCURSES_NO_UTF8_ACS" && k != "PWD" && k != "MOSH_KEY"
        })
        .collect();
    if let ServerLocale::ClientSupplied(pairs) = locale {
        env.retain(|(k, _)| !LOCALE_VARS.iter().any(|l| k == l));
        for (k, v) in pairs {
            env.retain(|(ek, _)| ek != k.as_str());
            env.push((k.into(), v.into()));
        }
    }
    env.push(("TERM".into(), term.into()));
    env.push(("NCURSES_NO_UTF8_ACS".into(), "1".into()));
    env.push(("PWD".into(), home.as_os_str().to_os_string()));
    env
}

/// Text shown before a login shell starts: `/run/motd.dynamic` (else
/// `/var/run/motd.dynamic`) and `/etc/motd`, unless `~/.hushlogin` exists (`root` is `/`
/// except in tests). The child writes it to the pty before waiting for release.
pub fn motd(home: &Path, root: &Path) -> Vec<u8> {
    if home.join(".hushlogin").exists() {
        return Vec::new();
    }
    let read = |p: &str| std::fs::read(root.join(p.trim_start_matches('/'))).ok();
    let mut text = read("/run/motd.dynamic")
        .or_else(|| read("/var/run/motd.dynamic"))
        .unwrap_or_default();
    text.extend(read("/etc/motd").unwrap_or_default());
    text
}

/// Assembles the [`ChildSpec`] for a server run.
pub fn child_spec(
    args: &args::ServerArgs,
    base_env: Vec<(OsString, OsString)>,
    home: &Path,
    passwd_shell: Option<PathBuf>,
    locale: &ServerLocale,
    release: ReleaseMode,
) -> ChildSpec {
    let shell_env = base_env
        .iter()
        .find(|(k, _)| k == "SHELL")
        .map(|(_, v)| v.clone());
    let (program, argv, login) = session_program(args.command.as_deref(), shell_env, passwd_shell);
    ChildSpec {
        program,
        argv,
        env: session_env(base_env, args.term(), home, locale),
        cwd: Some(home.to_path_buf()),
        banner: if login {
            motd(home, Path::new("/"))
        } else {
            Vec::new()
        },
        release,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_line_and_banner() {
        let key = Key::from_bytes([0u8; 16]);
        assert_eq!(
            connect_line(60001, &key),
            "MOSH CONNECT 60001 AAAAAAAAAAAAAAAAAAAAAA\n"
        );
        let m = detach_message(42);
        assert!(m.starts_with("\nmoshkit-server (moshkit "));
        assert!(m.ends_with("\n\n[moshkit-server detached, pid = 42]\n"));
        let k1 = generate_key().expect("rng");
        let k2 = generate_key().expect("rng");
        assert_ne!(k1.as_bytes(), k2.as_bytes());
        assert_eq!(k1.to_string().len(), 22);
    }

    #[test]
    fn timeouts_from_env() {
        let env = |pairs: Vec<(&'static str, &'static str)>| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let (c, w) = ServerConfig::from_env(
            &env(vec![
                ("MOSH_SERVER_NETWORK_TMOUT", "600"),
                ("MOSH_SERVER_SIGNAL_TMOUT", "60"),
            ]),
            1,
        );
        assert_eq!(c.network_timeout, Some(Duration::from_secs(600)));
        assert_eq!(c.signal_timeout, Some(Duration::from_secs(60)));
        assert!(w.is_empty());
        assert!(!c.network_timed_out(Duration::from_secs(599)));
        assert!(c.network_timed_out(Duration::from_secs(600)));
        assert!(!c.sigusr1_ends_session(Duration::from_secs(59)));
        assert!(c.sigusr1_ends_session(Duration::from_secs(60)));

        let (c, w) = ServerConfig::from_env(
            &env(vec![
                ("MOSH_SERVER_NETWORK_TMOUT", "abc"),
                ("MOSH_SERVER_SIGNAL_TMOUT", "-5"),
            ]),
            0,
        );
        assert_eq!(c, ServerConfig::default());
        assert_eq!(w.len(), 2);
        assert!(!c.network_timed_out(Duration::from_secs(1_000_000)));
        assert!(c.sigusr1_ends_session(Duration::ZERO));
    }

    #[test]
    fn login_shell_and_command() {
        let (p, argv, login) = session_program(None, Some("/usr/bin/zsh".into()), None);
        assert_eq!(
            (p, argv, login),
            ("/usr/bin/zsh".into(), vec!["-zsh".into()], true)
        );
        let (p, argv, _) = session_program(None, Some("".into()), Some("/bin/bash".into()));
        assert_eq!((p, argv), ("/bin/bash".into(), vec!["-bash".into()]));
        let (p, _, _) = session_program(None, None, None);
        assert_eq!(p, OsString::from("/bin/sh"));
        let cmd = vec![OsString::from("vim"), OsString::from("x")];
        let (p, argv, login) = session_program(Some(&cmd), Some("/bin/zsh".into()), None);
        assert_eq!((p, argv, login), ("vim".into(), cmd.clone(), false));
    }

    #[test]
    fn environment_rules() {
        let base = vec![
            ("STY".into(), "1.x".into()),
            ("TERM".into(), "screen".into()),
            ("LANG".into(), "C".into()),
            ("LC_ALL".into(), "C".into()),
            ("HOME".into(), "/home/u".into()),
        ];
        let env = session_env(
            base.clone(),
            "xterm-256color",
            Path::new("/home/u"),
            &ServerLocale::Native,
        );
        let get = |env: &[(OsString, OsString)], k: &str| {
            env.iter()
                .filter(|(ek, _)| ek == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert!(get(&env, "STY").is_empty());
        assert_eq!(get(&env, "TERM"), vec!["xterm-256color"]);
        assert_eq!(get(&env, "NCURSES_NO_UTF8_ACS"), vec!["1"]);
        assert_eq!(get(&env, "PWD"), vec!["/home/u"]);
        assert_eq!(get(&env, "LANG"), vec!["C"]);
        let env = session_env(
            base,
            "xterm",
            Path::new("/home/u"),
            &ServerLocale::ClientSupplied(vec![("LANG".into(), "C.UTF-8".into())]),
        );
        assert_eq!(get(&env, "LANG"), vec!["C.UTF-8"]);
        assert!(get(&env, "LC_ALL").is_empty());
    }

    #[test]
    fn motd_respects_hushlogin() {
        let dir = std::env::temp_dir().join(format!("moshkit-motd-{}", std::process::id()));
        let home = dir.join("home");
        std::fs::create_dir_all(home.clone()).expect("mkdir");
        std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
        std::fs::create_dir_all(dir.join("var/run")).expect("mkdir");
        std::fs::write(dir.join("etc/motd"), "hello\n").expect("write");
        std::fs::write(dir.join("var/run/motd.dynamic"), "dyn\n").expect("write");
        assert_eq!(motd(&home, &dir), b"dyn\nhello\n");
        std::fs::write(home.join(".hushlogin"), "").expect("write");
        assert!(motd(&home, &dir).is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
