//! `moshkit`: the bootstrap wrapper (reference §2.1): run the server over ssh, learn
//! `MOSH CONNECT <port> <key>` and the server's address, then exec the client.

pub mod args;

use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;

use thiserror::Error;

use crate::locale::LOCALE_VARS;
use args::{BindServer, Family, RemoteIp, WrapperArgs};

/// Quotes one word for a POSIX shell: `'...'`, embedded `'` becomes `'\''`.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Splits a command line shell-style (`--ssh="ssh -p 2222"`): blanks separate words; single
/// quotes, double quotes (with `\"`, `\\`, `\$`, `` \` `` escapes) and backslashes work as in
/// `sh`. `None` if a quote is unterminated.
pub fn shell_split(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let n = chars.next()?;
                            if !matches!(n, '"' | '\\' | '$' | '`') {
                                cur.push('\\');
                            }
                            cur.push(n);
                        }
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// The server's argument words: `new -c <colors> <bind> [-p PORT] [-l NAME=VALUE]... [-- cmd]`.
pub fn server_args(
    a: &WrapperArgs,
    colors: i64,
    locale: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut v = vec!["new".to_string(), "-c".to_string(), colors.to_string()];
    let bind = a.bind_server.clone().unwrap_or(if a.local {
        BindServer::Ip(a.host.clone())
    } else {
        BindServer::Ssh
    });
    match bind {
        BindServer::Ssh => v.push("-s".into()),
        BindServer::Any => {}
        BindServer::Ip(ip) => {
            v.push("-i".into());
            v.push(ip);
        }
    }
    if let Some(p) = &a.port {
        v.push("-p".into());
        v.push(p.clone());
    }
    for name in LOCALE_VARS {
        if let Some(value) = locale(name) {
            v.push("-l".into());
            v.push(format!("{name}={value}"));
        }
    }
    if !a.command.is_empty() {
        v.push("--".into());
        v.extend(a.command.iter().cloned());
    }
    v
}

/// The line the server probe prints when the remote host has neither server.
pub const NO_SERVER_LINE: &str = "MOSHKIT NO-SERVER";

/// The POSIX `sh` script that picks the server on the remote host (default `--server`): the
/// first of `moshkit-server`, `mosh-server` on the remote `PATH`, exec'd with the arguments;
/// else [`NO_SERVER_LINE`] and exit 127. One ssh round trip, whatever the remote has.
pub const SERVER_PROBE: &str = "for s in moshkit-server mosh-server; do \
if command -v \"$s\" >/dev/null 2>&1; then exec \"$s\" \"$@\"; fi; done; \
echo 'MOSHKIT NO-SERVER'; exit 127";

/// The remote command string: the server command (`--server`, not quoted: it may carry
/// options; by default the [`SERVER_PROBE`]) followed by the quoted argument words.
pub fn remote_command(a: &WrapperArgs, server_words: &[String]) -> String {
    let mut s = match &a.server {
        Some(server) => server.clone(),
        None => format!("sh -c {} moshkit-probe", shell_quote(SERVER_PROBE)),
    };
    for w in server_words {
        s.push(' ');
        s.push_str(&shell_quote(w));
    }
    if a.remote_ip == RemoteIp::Remote {
        s = format!(
            "sh -c {} ; {s}",
            shell_quote(
                "[ -n \"$SSH_CONNECTION\" ] && printf '\\nMOSH SSH_CONNECTION %s\\n' \"$SSH_CONNECTION\""
            )
        );
    }
    s
}

/// Errors of the bootstrap.
#[derive(Debug, Error)]
pub enum BootstrapError {
    /// `--ssh` could not be split.
    #[error("bad --ssh command (unterminated quote)")]
    BadSshCommand,
    /// The startup line never came. `bad_udp_port`: the server complained about the port
    /// (a server too old for port ranges).
    #[error("Did not find mosh server startup message. (Have you installed mosh on your server?)")]
    NoStartupLine {
        /// A line contained `Bad UDP port`.
        bad_udp_port: bool,
        /// The last non-empty line of the output (what ssh or the remote said last).
        last_line: Option<String>,
    },
    /// The server probe found neither `moshkit-server` nor `mosh-server` on the remote host.
    #[error(
        "neither moshkit-server nor mosh-server is installed on the remote host (not in its PATH); install mosh there, or name the server with --server=PATH"
    )]
    NoServer,
    /// ssh (or `--ssh`'s command) itself failed: exit status 255 or a signal.
    #[error("ssh failed ({status}){}", colon(last_line))]
    SshFailed {
        /// How ssh ended (`exit status 255`, `signal 9`).
        status: String,
        /// Its last non-empty line of output, usually ssh's own error.
        last_line: Option<String>,
    },
    /// The remote command ended with a failure status before printing `MOSH CONNECT`.
    #[error(
        "the remote command failed ({status}) before the server started{}",
        colon(last_line)
    )]
    RemoteFailed {
        /// `exit status N`.
        status: String,
        /// Its last non-empty line of output.
        last_line: Option<String>,
    },
    /// A second `MOSH IP` line.
    #[error("Unexpected second MOSH IP line")]
    SecondIp,
    /// Malformed `MOSH SSH_CONNECTION` line.
    #[error("Bad MOSH SSH_CONNECTION string: {0}")]
    BadSshConnection(String),
    /// No server address could be learned.
    #[error("could not determine the server's IP address")]
    NoIp,
    /// Host name resolution failed.
    #[error("Could not resolve hostname {0}: {1}")]
    Resolve(String, String),
    /// The fake proxy reached none of the host's addresses.
    #[error("Could not connect to {host}, last tried {addr}: {error}")]
    Connect {
        /// The host as ssh passed it (`%h`).
        host: String,
        /// The last address tried.
        addr: IpAddr,
        /// Why that failed.
        error: std::io::Error,
    },
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn colon(line: &Option<String>) -> String {
    line.as_deref()
        .map(|l| format!(": {l}"))
        .unwrap_or_default()
}

/// Turns "no startup line" into the error that says why, from how ssh ended: its own failure
/// (255 or a signal), the remote command's failure, or (ssh succeeded) upstream's message.
pub fn explain_missing_startup(
    err: BootstrapError,
    status: std::process::ExitStatus,
) -> BootstrapError {
    use std::os::unix::process::ExitStatusExt;
    let BootstrapError::NoStartupLine { last_line, .. } = &err else {
        return err;
    };
    let last_line = last_line.clone();
    match (status.code(), status.signal()) {
        (Some(0), _) => err,
        (Some(255), _) => BootstrapError::SshFailed {
            status: "exit status 255".into(),
            last_line,
        },
        (Some(code), _) => BootstrapError::RemoteFailed {
            status: format!("exit status {code}"),
            last_line,
        },
        (None, Some(sig)) => BootstrapError::SshFailed {
            status: format!("killed by signal {sig}"),
            last_line,
        },
        (None, None) => err,
    }
}

/// The ssh command line (program first).
pub fn ssh_argv(
    a: &WrapperArgs,
    self_exe: &str,
    remote_cmd: &str,
) -> Result<Vec<String>, BootstrapError> {
    let mut v = shell_split(&a.ssh).ok_or(BootstrapError::BadSshCommand)?;
    if v.is_empty() {
        return Err(BootstrapError::BadSshCommand);
    }
    v.push("-n".into());
    if a.ssh_pty {
        v.push("-tt".into());
    }
    match a.remote_ip {
        RemoteIp::Proxy => {
            v.push("-S".into());
            v.push("none".into());
            v.push("-o".into());
            v.push(format!(
                "ProxyCommand={} {} --fake-proxy -- %h %p",
                shell_quote(self_exe),
                shell_quote(&format!("--family={}", a.family.as_str()))
            ));
        }
        RemoteIp::Remote => match a.family {
            Family::Inet => v.push("-4".into()),
            Family::Inet6 => v.push("-6".into()),
            _ => {}
        },
        RemoteIp::Local => {}
    }
    v.push(a.host.clone());
    v.push("--".into());
    v.push(remote_cmd.to_string());
    Ok(v)
}

/// What the bootstrap output told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapInfo {
    /// From `MOSH IP <addr>` (the fake proxy, or `--local`).
    pub ip: Option<String>,
    /// From `MOSH SSH_CONNECTION ...` (word 4, the server's address).
    pub ssh_connection_ip: Option<String>,
    /// From `MOSH CONNECT`.
    pub port: Option<u16>,
    /// From `MOSH CONNECT` (22 characters).
    pub key: Option<String>,
}

/// Parses a `MOSH CONNECT <port> <key>` line (trailing `\r` and blanks tolerated), as
/// upstream's `^MOSH CONNECT (\d+?) ([A-Za-z0-9/+]{22})\s*$`.
pub fn parse_connect_line(line: &str) -> Option<(u16, String)> {
    let rest = line.strip_prefix("MOSH CONNECT ")?;
    let rest = rest.trim_end_matches(|c: char| c.is_ascii_whitespace());
    let (port, key) = rest.split_once(' ')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if key.len() != 22
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
    {
        return None;
    }
    Some((port.parse().ok()?, key.to_string()))
}

/// Reads bootstrap output until `MOSH CONNECT`. Lines that are not for us go to `echo`
/// (with their line terminator normalised to `\n`).
pub fn read_bootstrap(
    input: &mut dyn BufRead,
    echo: &mut dyn FnMut(&str),
) -> Result<BootstrapInfo, BootstrapError> {
    let mut info = BootstrapInfo::default();
    let mut bad_udp_port = false;
    let mut last_line = None;
    let mut proxy_error = None;
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            return Err(BootstrapError::NoStartupLine {
                bad_udp_port,
                last_line: proxy_error.or(last_line),
            });
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim_end() == NO_SERVER_LINE {
            return Err(BootstrapError::NoServer);
        }
        if line.starts_with(PROXY_ERROR_PREFIX) {
            proxy_error = Some(line.trim().trim_start_matches("moshkit: ").to_string());
        }
        if let Some(ip) = line.strip_prefix("MOSH IP ") {
            if info.ip.is_some() {
                return Err(BootstrapError::SecondIp);
            }
            info.ip = Some(ip.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("MOSH SSH_CONNECTION ") {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() != 6 {
                return Err(BootstrapError::BadSshConnection(rest.to_string()));
            }
            info.ssh_connection_ip = Some(words[4].to_string());
        } else if let Some((port, key)) = parse_connect_line(line) {
            info.port = Some(port);
            info.key = Some(key);
            return Ok(info);
        } else {
            if line.contains("Bad UDP port") {
                bad_udp_port = true;
            }
            if !line.trim().is_empty() {
                last_line = Some(line.trim().to_string());
            }
            echo(line);
        }
    }
}

/// Resolves `host` (a `user@` prefix is removed) for `family`; the first acceptable address
/// in the family's preference order.
pub fn resolve(host: &str, family: Family) -> Result<IpAddr, BootstrapError> {
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = (bare, 0u16)
        .to_socket_addrs()
        .map_err(|e| BootstrapError::Resolve(host.to_string(), e.to_string()))?
        .map(|a| a.ip())
        .collect();
    let pick = |v4: bool| addrs.iter().copied().find(|a| a.is_ipv4() == v4);
    let found = match family {
        Family::Inet => pick(true),
        Family::Inet6 => pick(false),
        Family::PreferInet => pick(true).or_else(|| pick(false)),
        Family::PreferInet6 => pick(false).or_else(|| pick(true)),
        Family::Auto | Family::All => addrs.first().copied(),
    };
    found.ok_or_else(|| {
        BootstrapError::Resolve(host.to_string(), format!("no {} address", family.as_str()))
    })
}

/// Decides the server address (§2.1 step 9): `MOSH IP`, else `--experimental-remote-ip=local`
/// resolution, else `SSH_CONNECTION` (with a warning).
pub fn server_ip(
    info: &BootstrapInfo,
    a: &WrapperArgs,
    warn: &mut dyn FnMut(&str),
) -> Result<IpAddr, BootstrapError> {
    if let Some(ip) = &info.ip {
        return ip.parse().or_else(|_| resolve(ip, a.family));
    }
    if a.remote_ip == RemoteIp::Local {
        return resolve(&a.host, a.family);
    }
    if let Some(ip) = &info.ssh_connection_ip {
        if a.remote_ip != RemoteIp::Remote {
            warn("Using the server address from SSH_CONNECTION.");
        }
        return ip
            .trim_start_matches("::ffff:")
            .parse()
            .map_err(|_| BootstrapError::NoIp);
    }
    Err(BootstrapError::NoIp)
}

/// The client's argument vector (after the program): `-# <original args> |`, IP, PORT.
pub fn client_args(original: &[String], ip: IpAddr, port: u16) -> Vec<String> {
    vec![
        format!("-# {} |", original.join(" ")),
        ip.to_string(),
        port.to_string(),
    ]
}

/// The client's extra environment.
pub fn client_env(key: &str, predict: &str, a: &WrapperArgs) -> Vec<(String, String)> {
    let mut env = vec![
        ("MOSH_KEY".to_string(), key.to_string()),
        ("MOSH_PREDICTION_DISPLAY".to_string(), predict.to_string()),
    ];
    if a.no_init {
        env.push(("MOSH_NO_TERM_INIT".into(), "1".into()));
    }
    if a.predict_overwrite {
        env.push(("MOSH_PREDICTION_OVERWRITE".into(), "yes".into()));
    }
    env
}

/// The candidate addresses of `host` for `--family`, in the order they are tried.
fn proxy_candidates(
    host: &str,
    port: u16,
    family: Family,
) -> Result<Vec<SocketAddr>, BootstrapError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let canonical = |e: String| BootstrapError::Resolve(host.to_string(), e);
    let mut addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| canonical(e.to_string()))?
        .collect();
    match family {
        Family::Inet => addrs.retain(SocketAddr::is_ipv4),
        Family::Inet6 => addrs.retain(SocketAddr::is_ipv6),
        // Stable sorts: the resolver's order within a family is kept.
        Family::PreferInet => addrs.sort_by_key(|a| !a.is_ipv4()),
        Family::PreferInet6 => addrs.sort_by_key(SocketAddr::is_ipv4),
        Family::Auto | Family::All => {}
    }
    if addrs.is_empty() {
        return Err(canonical(format!("no {} address", family.as_str())));
    }
    Ok(addrs)
}

/// `--fake-proxy -- HOST PORT` (ssh's ProxyCommand): connect to the first reachable address
/// of `HOST` for `family`, report it once as `MOSH IP <addr>` on stderr, then relay
/// stdin → TCP and TCP → stdout until the connection or ssh's end closes.
///
/// stdin and stdout may be pipes or one socketpair (ssh chooses): the relay only reads and
/// writes, in both directions at once, and never splices.
pub fn fake_proxy(host: &str, port: &str, family: Family) -> Result<(), BootstrapError> {
    let port: u16 = port
        .parse()
        .map_err(|_| BootstrapError::Resolve(format!("{host}:{port}"), "bad port".into()))?;
    let mut last = None;
    for addr in proxy_candidates(host, port, family)? {
        match TcpStream::connect(addr) {
            Ok(stream) => {
                eprintln!("MOSH IP {}", addr.ip());
                return relay(stream).map_err(BootstrapError::Io);
            }
            Err(error) => last = Some((addr.ip(), error)),
        }
    }
    match last {
        Some((addr, error)) => Err(BootstrapError::Connect {
            host: host.to_string(),
            addr,
            error,
        }),
        None => Err(BootstrapError::Resolve(
            host.to_string(),
            "no address".into(),
        )),
    }
}

/// How the fake proxy's own errors start (it runs under ssh, so they reach the wrapper's
/// pipe): the wrapper prefers such a line to ssh's follow-up when it explains a failure.
pub const PROXY_ERROR_PREFIX: &str = "moshkit: ssh proxy: ";

/// Copies `from` to `to` with plain reads and writes until `from` ends. (`std::io::copy`
/// would splice between a socket and a pipe; on some kernels ssh, reading the pipe a byte at
/// a time, is then not woken for the spliced data and the handshake stalls.)
fn pump(from: &mut dyn Read, to: &mut dyn Write) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
    }
}

fn relay(stream: TcpStream) -> std::io::Result<()> {
    // Own copies of fd 0 and 1 as plain files: no std buffering, no locks.
    let mut stdin = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let mut stdout = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    let mut up = stream.try_clone()?;
    let mut down = stream;
    // ssh → server. When ssh closes our stdin, half-close the connection; the server then
    // ends its side and the other direction finishes.
    std::thread::spawn(move || {
        let _ = pump(&mut stdin, &mut up);
        let _ = up.shutdown(std::net::Shutdown::Write);
    });
    // server → ssh, on this thread: when the server closes (or ssh stops reading), the relay
    // is over; returning ends the process, which also ends the other thread.
    match pump(&mut down, &mut stdout) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::args::{WrapperInvocation, parse_wrapper_args};
    use super::*;

    fn wa(words: &[&str]) -> WrapperArgs {
        let v: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        match parse_wrapper_args(&v) {
            Ok(WrapperInvocation::Run(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn quoting_and_splitting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(
            shell_split("ssh -p 2222 -o 'ProxyJump x' \"a\\\"b\" c\\ d").expect("split"),
            vec!["ssh", "-p", "2222", "-o", "ProxyJump x", "a\"b", "c d"]
        );
        assert_eq!(shell_split("'open"), None);
        assert_eq!(shell_split("  ").expect("split"), Vec::<String>::new());
    }

    #[test]
    fn command_lines_match_upstream_shape() {
        // Observed upstream: [mosh-server 'new' '-c' '256' '-s' '-p' '60500:60510' '-l'
        // 'LANG=C.UTF-8' '-l' 'LC_CTYPE=C.UTF-8' '--' '/bin/echo' 'a b' 'x']
        let a = wa(&[
            "--server=mosh-server",
            "-p",
            "60500:60510",
            "user@127.0.0.1",
            "--",
            "/bin/echo",
            "a b",
            "x",
        ]);
        let locale = |n: &str| match n {
            "LANG" => Some("C.UTF-8".to_string()),
            "LC_CTYPE" => Some("C.UTF-8".to_string()),
            _ => None,
        };
        let words = server_args(&a, 256, &locale);
        let remote = remote_command(&a, &words);
        assert_eq!(
            remote,
            "mosh-server 'new' '-c' '256' '-s' '-p' '60500:60510' '-l' 'LANG=C.UTF-8' '-l' 'LC_CTYPE=C.UTF-8' '--' '/bin/echo' 'a b' 'x'"
        );
        let argv = ssh_argv(&a, "/usr/bin/moshkit", &remote).expect("argv");
        assert_eq!(
            argv,
            vec![
                "ssh",
                "-n",
                "-tt",
                "-S",
                "none",
                "-o",
                "ProxyCommand='/usr/bin/moshkit' '--family=prefer-inet' --fake-proxy -- %h %p",
                "user@127.0.0.1",
                "--",
                remote.as_str(),
            ]
        );
    }

    #[test]
    fn bind_modes_and_remote_ip_mode() {
        let none = |_: &str| None;
        let a = wa(&["--local", "127.0.0.1"]);
        assert_eq!(
            server_args(&a, 8, &none),
            vec!["new", "-c", "8", "-i", "127.0.0.1"]
        );
        let a = wa(&["--bind-server=any", "h"]);
        assert_eq!(server_args(&a, 0, &none), vec!["new", "-c", "0"]);
        let a = wa(&[
            "--experimental-remote-ip=remote",
            "-6",
            "--no-ssh-pty",
            "--ssh=myssh -q",
            "h",
        ]);
        let remote = remote_command(&a, &server_args(&a, 0, &none));
        assert!(
            remote.starts_with("sh -c '[ -n \"$SSH_CONNECTION\" ]"),
            "{remote}"
        );
        assert!(
            remote.ends_with(&format!(
                " ; sh -c {} moshkit-probe 'new' '-c' '0' '-s'",
                shell_quote(SERVER_PROBE)
            )),
            "{remote}"
        );
        let argv = ssh_argv(&a, "/x/moshkit", &remote).expect("argv");
        assert_eq!(&argv[..5], &["myssh", "-q", "-n", "-6", "h"]);
    }

    #[test]
    fn bootstrap_output_parsing() {
        let out = b"Warning: Permanently added 'h' to known hosts.\r\nMOSH IP 127.0.0.1\n\r\r\n\r\nMOSH CONNECT 60001 TfpYT4V7JwX2c0aFj8X5Hg\r\n\r\nmosh-server (mosh 1.4.0)\r\n";
        let mut echoed = Vec::new();
        let info =
            read_bootstrap(&mut &out[..], &mut |l| echoed.push(l.to_string())).expect("parsed");
        assert_eq!(info.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(info.port, Some(60001));
        assert_eq!(info.key.as_deref(), Some("TfpYT4V7JwX2c0aFj8X5Hg"));
        assert_eq!(
            echoed,
            vec!["Warning: Permanently added 'h' to known hosts.", "", ""]
        );
        let out = b"\nMOSH SSH_CONNECTION 10.0.0.2 5555 10.0.0.1 22\nmosh-server: Bad UDP port range (1:2)\n";
        let err = read_bootstrap(&mut &out[..], &mut |_| {}).expect_err("no connect");
        assert!(matches!(
            &err,
            BootstrapError::NoStartupLine { bad_udp_port: true, last_line: Some(l) }
                if l == "mosh-server: Bad UDP port range (1:2)"
        ));
        // The probe's line is an error of its own, not echoed.
        let out = b"\r\nMOSHKIT NO-SERVER\r\n";
        let mut echoed = Vec::new();
        assert!(matches!(
            read_bootstrap(&mut &out[..], &mut |l| echoed.push(l.to_string())),
            Err(BootstrapError::NoServer)
        ));
        assert_eq!(echoed, vec![""]);
        // The proxy's own error is preferred to what ssh says after it.
        let out = b"moshkit: ssh proxy: Could not connect to h, last tried 1.2.3.4: refused\nConnection closed by UNKNOWN port 65535\n";
        assert!(matches!(
            read_bootstrap(&mut &out[..], &mut |_| {}),
            Err(BootstrapError::NoStartupLine { last_line: Some(l), .. })
                if l == "ssh proxy: Could not connect to h, last tried 1.2.3.4: refused"
        ));
        let out = b"MOSH SSH_CONNECTION 10.0.0.2 5555 10.0.0.1 22\nMOSH CONNECT 7 AAAAAAAAAAAAAAAAAAAAAA\n";
        let info = read_bootstrap(&mut &out[..], &mut |_| {}).expect("parsed");
        assert_eq!(info.ssh_connection_ip.as_deref(), Some("10.0.0.1"));
        let out = b"MOSH IP 1.2.3.4\nMOSH IP 1.2.3.5\n";
        assert!(matches!(
            read_bootstrap(&mut &out[..], &mut |_| {}),
            Err(BootstrapError::SecondIp)
        ));
    }

    #[test]
    fn server_probe_picks_moshkit_server_then_mosh_server() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("moshkit-probe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (both, up, none) = (dir.join("both"), dir.join("up"), dir.join("none"));
        for d in [&both, &up, &none] {
            // Only `sh` besides the servers (`/bin` may hold an installed mosh-server).
            std::fs::create_dir_all(d).expect("mkdir");
            std::os::unix::fs::symlink("/bin/sh", d.join("sh")).expect("symlink");
        }
        let fake = |path: std::path::PathBuf, name: &str| {
            std::fs::write(&path, format!("#!/bin/sh\necho {name} \"$@\"\n")).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        };
        fake(both.join("moshkit-server"), "kit");
        fake(both.join("mosh-server"), "upstream");
        fake(up.join("mosh-server"), "upstream");
        let a = wa(&["--bind-server=any", "h", "--", "a b"]);
        let remote = remote_command(&a, &server_args(&a, 8, &|_| None));
        let run = |path: &std::path::Path| {
            let out = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&remote)
                .env("PATH", path)
                .output()
                .expect("sh");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
        assert_eq!(run(&both), (Some(0), "kit new -c 8 -- a b\n".into()));
        assert_eq!(run(&up), (Some(0), "upstream new -c 8 -- a b\n".into()));
        assert_eq!(run(&none), (Some(127), format!("{NO_SERVER_LINE}\n")));
        let _ = std::fs::remove_dir_all(dir);
        // An explicit --server is used as it is.
        let a = wa(&["--server=/opt/mosh-server -v", "h"]);
        assert!(remote_command(&a, &["new".into()]).starts_with("/opt/mosh-server -v 'new'"));
    }

    #[test]
    fn missing_startup_is_explained_by_how_ssh_ended() {
        use std::os::unix::process::ExitStatusExt;
        let missing = || BootstrapError::NoStartupLine {
            bad_udp_port: false,
            last_line: Some("Permission denied (publickey).".into()),
        };
        let status = |raw: i32| std::process::ExitStatus::from_raw(raw);
        assert_eq!(
            explain_missing_startup(missing(), status(255 << 8)).to_string(),
            "ssh failed (exit status 255): Permission denied (publickey)."
        );
        assert_eq!(
            explain_missing_startup(missing(), status(127 << 8)).to_string(),
            "the remote command failed (exit status 127) before the server started: Permission denied (publickey)."
        );
        assert_eq!(
            explain_missing_startup(missing(), status(9)).to_string(),
            "ssh failed (killed by signal 9): Permission denied (publickey)."
        );
        assert!(matches!(
            explain_missing_startup(missing(), status(0)),
            BootstrapError::NoStartupLine { .. }
        ));
    }

    #[test]
    fn proxy_candidates_follow_the_family() {
        let v4: SocketAddr = "127.0.0.1:22".parse().expect("addr");
        let v6: SocketAddr = "[::1]:22".parse().expect("addr");
        assert_eq!(
            proxy_candidates("127.0.0.1", 22, Family::PreferInet6).expect("v4"),
            vec![v4]
        );
        assert_eq!(
            proxy_candidates("[::1]", 22, Family::All).expect("v6"),
            vec![v6]
        );
        assert_eq!(
            proxy_candidates("::1", 22, Family::Inet6).expect("v6"),
            vec![v6]
        );
        assert!(proxy_candidates("::1", 22, Family::Inet).is_err());
        assert!(proxy_candidates("127.0.0.1", 22, Family::Inet6).is_err());
    }

    #[test]
    fn connect_line_strictness() {
        assert_eq!(
            parse_connect_line("MOSH CONNECT 60001 AAAAAAAAAAAAAAAAAAAAAA \r"),
            Some((60001, "AAAAAAAAAAAAAAAAAAAAAA".to_string()))
        );
        assert_eq!(parse_connect_line("MOSH CONNECT 60001 AAAA"), None);
        assert_eq!(
            parse_connect_line("MOSH CONNECT x AAAAAAAAAAAAAAAAAAAAAA"),
            None
        );
        assert_eq!(
            parse_connect_line("MOSH CONNECT 70000 AAAAAAAAAAAAAAAAAAAAAA"),
            None
        );
        assert_eq!(
            parse_connect_line("MOSH CONNECT 1 AAAAAAAAAAAAAAAAAAAAA="),
            None
        );
        assert_eq!(
            parse_connect_line(" MOSH CONNECT 1 AAAAAAAAAAAAAAAAAAAAAA"),
            None
        );
    }

    #[test]
    fn address_selection() {
        let a = wa(&["user@127.0.0.1"]);
        let mut warned = Vec::new();
        let info = BootstrapInfo {
            ip: Some("127.0.0.1".into()),
            ..Default::default()
        };
        assert_eq!(
            server_ip(&info, &a, &mut |w| warned.push(w.to_string())).expect("ip"),
            IpAddr::from([127, 0, 0, 1])
        );
        let info = BootstrapInfo {
            ssh_connection_ip: Some("::ffff:127.0.0.1".into()),
            ..Default::default()
        };
        assert_eq!(
            server_ip(&info, &a, &mut |w| warned.push(w.to_string())).expect("ip"),
            IpAddr::from([127, 0, 0, 1])
        );
        assert_eq!(warned.len(), 1);
        let local = wa(&["--experimental-remote-ip=local", "-4", "u@localhost"]);
        assert_eq!(
            server_ip(&BootstrapInfo::default(), &local, &mut |_| {}).expect("ip"),
            IpAddr::from([127, 0, 0, 1])
        );
        assert!(resolve("::1", Family::Inet).is_err());
        assert_eq!(
            resolve("[::1]", Family::Inet6).expect("v6"),
            "::1".parse::<IpAddr>().expect("ip")
        );
        assert!(matches!(
            server_ip(&BootstrapInfo::default(), &a, &mut |_| {}),
            Err(BootstrapError::NoIp)
        ));
    }

    #[test]
    fn client_invocation() {
        let a = wa(&["-o", "--no-init", "h"]);
        assert_eq!(
            client_args(
                &["-o".into(), "h".into()],
                IpAddr::from([127, 0, 0, 1]),
                60001
            ),
            vec!["-# -o h |", "127.0.0.1", "60001"]
        );
        assert_eq!(
            client_env("K", "adaptive", &a),
            vec![
                ("MOSH_KEY".to_string(), "K".to_string()),
                (
                    "MOSH_PREDICTION_DISPLAY".to_string(),
                    "adaptive".to_string()
                ),
                ("MOSH_NO_TERM_INIT".to_string(), "1".to_string()),
                ("MOSH_PREDICTION_OVERWRITE".to_string(), "yes".to_string()),
            ]
        );
    }
}
