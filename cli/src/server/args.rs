//! `moshkit-server` command line, reproducing `mosh-server` 1.4 exactly (see docs/cli.md).

use std::ffi::OsString;

use thiserror::Error;

use crate::getopt::{OptItem, getopt};

/// Program name used in diagnostics.
pub const PROG: &str = "moshkit-server";

/// Usage line (same syntax as upstream's).
pub const USAGE: &str = "Usage: moshkit-server new [-s] [-v] [-i LOCALADDR] [-p PORT[:PORT2]] [-c COLORS] [-l NAME=VALUE] [-- COMMAND...]";

/// Default UDP port search range (upstream `PORT_RANGE_LOW`/`PORT_RANGE_HIGH`).
pub const DEFAULT_PORT_RANGE: PortRange = PortRange {
    low: 60001,
    high: 60999,
};

/// An inclusive UDP port range; `low == high == 0` lets the OS choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port tried.
    pub low: u16,
    /// Last port tried (inclusive).
    pub high: u16,
}

/// Why a `-p` value was refused. The `Display` text is upstream's first diagnostic line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortRangeError {
    /// Low port is not a number.
    #[error("Invalid (low) port number ({0})")]
    InvalidLow(String),
    /// High port is not a number.
    #[error("Invalid high port number ({0})")]
    InvalidHigh(String),
    /// Low port outside 0..=65535.
    #[error("(Low) port number {0} outside valid range [0..65535]")]
    LowOutOfRange(i64),
    /// High port outside 0..=65535.
    #[error("High port number {0} outside valid range [0..65535]")]
    HighOutOfRange(i64),
    /// Low port greater than high port.
    #[error("Low port {0} greater than high port {1}")]
    Inverted(u16, u16),
    /// A range that starts at 0.
    #[error("Low port 0 incompatible with port ranges")]
    ZeroLowInRange,
}

/// Parses a C `strtol` style integer the way upstream does: leading blanks and a sign are
/// accepted, an empty string is 0, trailing garbage is an error, overflow saturates.
pub fn parse_c_long(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.is_empty() {
        // strtol consumed nothing: upstream does not notice when the whole string is empty.
        return if s.is_empty() { Some(0) } else { None };
    }
    let mut value: i64 = 0;
    for b in digits.bytes() {
        value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    Some(if neg { -value } else { value })
}

/// Parses `PORT` or `LOW:HIGH` with upstream's rules and messages.
pub fn parse_port_range(spec: &str) -> Result<PortRange, PortRangeError> {
    let (low_s, high_s) = match spec.split_once(':') {
        Some((l, h)) => (l, Some(h)),
        None => (spec, None),
    };
    let low = parse_c_long(low_s).ok_or_else(|| PortRangeError::InvalidLow(low_s.to_string()))?;
    let low = u16::try_from(low).map_err(|_| PortRangeError::LowOutOfRange(low))?;
    let Some(high_s) = high_s else {
        return Ok(PortRange { low, high: low });
    };
    let high =
        parse_c_long(high_s).ok_or_else(|| PortRangeError::InvalidHigh(high_s.to_string()))?;
    let high = u16::try_from(high).map_err(|_| PortRangeError::HighOutOfRange(high))?;
    if low > high {
        return Err(PortRangeError::Inverted(low, high));
    }
    if low == 0 {
        return Err(PortRangeError::ZeroLowInRange);
    }
    Ok(PortRange { low, high })
}

/// Fatal command-line errors; the binary prints [`ServerArgsError::lines`] and exits 1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServerArgsError {
    /// `-p` (or the legacy PORT) was refused.
    #[error("{PROG}: Bad UDP port range ({spec})")]
    BadPortRange {
        /// The value given.
        spec: String,
        /// Why.
        reason: PortRangeError,
    },
    /// `-c` was not an integer.
    #[error("{PROG}: Bad number of colors ({0})")]
    BadColors(String),
    /// Legacy syntax with too many arguments.
    #[error("{USAGE}")]
    Usage,
}

impl ServerArgsError {
    /// The lines upstream writes to stderr for this error, in order.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ServerArgsError::BadPortRange { reason, .. } => {
                vec![reason.to_string(), self.to_string(), USAGE.to_string()]
            }
            ServerArgsError::BadColors(_) => vec![self.to_string(), USAGE.to_string()],
            ServerArgsError::Usage => vec![USAGE.to_string()],
        }
    }
}

/// A parsed `moshkit-server` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerInvocation {
    /// `--help` / `-h`: print [`USAGE`] on stdout, exit 0.
    Help,
    /// `--version`: print the version banner on stdout, exit 0.
    Version,
    /// Start a server.
    Run(ServerArgs),
}

/// Options of a server run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerArgs {
    /// Local IP to bind (from `-i`, `-s` or the legacy IP argument); `None` = wildcard.
    pub desired_ip: Option<String>,
    /// UDP port range to try.
    pub ports: PortRange,
    /// `-c`: colours of the client's terminal (`256` selects `xterm-256color`).
    pub colors: i64,
    /// `-l NAME=VALUE` locale settings supplied by the client, in order.
    pub locale_vars: Vec<String>,
    /// Number of `-v`.
    pub verbose: u32,
    /// Program and arguments after `--`; `None` = login shell.
    pub command: Option<Vec<OsString>>,
    /// Non-fatal diagnostics to print on stderr before starting (getopt errors, usage after
    /// them, `-s` warnings), in order.
    pub warnings: Vec<String>,
}

impl ServerArgs {
    /// The `TERM` value the child gets (`-c 256` → `xterm-256color`, anything else → `xterm`).
    pub fn term(&self) -> &'static str {
        if self.colors == 256 {
            "xterm-256color"
        } else {
            "xterm"
        }
    }
}

/// Finds the bind address from `SSH_CONNECTION` for `-s` (third word, `::ffff:` stripped).
pub fn ssh_connection_ip(ssh_connection: Option<&str>) -> Result<String, String> {
    let Some(value) = ssh_connection else {
        return Err("Warning: SSH_CONNECTION not found; binding to any interface.".into());
    };
    let words: Vec<&str> = value.split_whitespace().collect();
    if words.len() != 4 {
        return Err("Warning: Could not parse SSH_CONNECTION; binding to any interface.".into());
    }
    let ip = words[2];
    let ip = if ip.len() > 7 && ip[..7].eq_ignore_ascii_case("::ffff:") {
        &ip[7..]
    } else {
        ip
    };
    Ok(ip.to_string())
}

/// Parses the arguments after `argv[0]`. `ssh_connection` is the value of `SSH_CONNECTION`.
pub fn parse_server_args(
    args: &[OsString],
    ssh_connection: Option<&str>,
) -> Result<ServerInvocation, ServerArgsError> {
    // The first `--` splits off the command; help/version are only looked for before it.
    let split = args.iter().position(|a| a == "--");
    let (opts, command) = match split {
        Some(i) => {
            let cmd: Vec<OsString> = args[i + 1..].to_vec();
            (&args[..i], if cmd.is_empty() { None } else { Some(cmd) })
        }
        None => (args, None),
    };
    let opts: Vec<String> = opts
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if opts.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(ServerInvocation::Help);
    }
    if opts.iter().any(|a| a == "--version") {
        return Ok(ServerInvocation::Version);
    }

    let mut out = ServerArgs {
        desired_ip: None,
        ports: DEFAULT_PORT_RANGE,
        colors: 0,
        locale_vars: Vec::new(),
        verbose: 0,
        command,
        warnings: Vec::new(),
    };
    let mut port_spec: Option<String> = None;

    if opts.first().map(String::as_str) == Some("new") {
        let parsed = getopt(&opts[1..], "@:i:p:c:svl:");
        for item in parsed.items {
            if let Some(diag) = item.diagnostic("new") {
                out.warnings.push(diag);
                out.warnings.push(USAGE.to_string());
                continue;
            }
            let OptItem::Opt(c, arg) = item else { continue };
            let arg = arg.unwrap_or_default();
            match c {
                'i' => out.desired_ip = Some(arg),
                'p' => port_spec = Some(arg),
                's' => match ssh_connection_ip(ssh_connection) {
                    Ok(ip) => out.desired_ip = Some(ip),
                    Err(warning) => {
                        out.desired_ip = None;
                        out.warnings.push(warning);
                    }
                },
                'c' => {
                    out.colors = parse_c_long(&arg)
                        .ok_or_else(|| ServerArgsError::BadColors(arg.clone()))?;
                }
                'l' => out.locale_vars.push(arg),
                'v' => out.verbose += 1,
                _ => {} // '@' consumes and ignores its argument.
            }
        }
        // Operands after `new` options are ignored, as upstream does.
    } else {
        match opts.len() {
            0 => {}
            1 => out.desired_ip = Some(opts[0].clone()),
            2 => {
                out.desired_ip = Some(opts[0].clone());
                port_spec = Some(opts[1].clone());
            }
            _ => return Err(ServerArgsError::Usage),
        }
    }

    if let Some(spec) = port_spec {
        out.ports = parse_port_range(&spec).map_err(|reason| ServerArgsError::BadPortRange {
            spec: spec.clone(),
            reason,
        })?;
    }
    Ok(ServerInvocation::Run(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn run(words: &[&str]) -> ServerArgs {
        match parse_server_args(&os(words), None) {
            Ok(ServerInvocation::Run(a)) => a,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn port_ranges_follow_upstream() {
        assert_eq!(parse_port_range("0"), Ok(PortRange { low: 0, high: 0 }));
        assert_eq!(parse_port_range("05"), Ok(PortRange { low: 5, high: 5 }));
        assert_eq!(parse_port_range("+5"), Ok(PortRange { low: 5, high: 5 }));
        assert_eq!(
            parse_port_range("60001:60010"),
            Ok(PortRange {
                low: 60001,
                high: 60010
            })
        );
        assert_eq!(parse_port_range("7:7"), Ok(PortRange { low: 7, high: 7 }));
        // Observed upstream messages.
        let msg = |s: &str| parse_port_range(s).expect_err("refused").to_string();
        assert_eq!(msg("abc"), "Invalid (low) port number (abc)");
        assert_eq!(msg("5:5x"), "Invalid high port number (5x)");
        assert_eq!(
            msg("70000"),
            "(Low) port number 70000 outside valid range [0..65535]"
        );
        assert_eq!(
            msg("1:70000"),
            "High port number 70000 outside valid range [0..65535]"
        );
        assert_eq!(msg("5:3"), "Low port 5 greater than high port 3");
        assert_eq!(msg("5:"), "Low port 5 greater than high port 0");
        assert_eq!(msg(":5"), "Low port 0 incompatible with port ranges");
        assert_eq!(msg("0:5"), "Low port 0 incompatible with port ranges");
        assert_eq!(
            msg("-1"),
            "(Low) port number -1 outside valid range [0..65535]"
        );
    }

    #[test]
    fn bad_port_range_error_lines() {
        let err = parse_server_args(&os(&["new", "-p", "5:3"]), None).expect_err("refused");
        assert_eq!(
            err.lines(),
            vec![
                "Low port 5 greater than high port 3".to_string(),
                "moshkit-server: Bad UDP port range (5:3)".to_string(),
                USAGE.to_string()
            ]
        );
    }

    #[test]
    fn new_style_full() {
        let a = run(&[
            "new",
            "-s",
            "-c",
            "256",
            "-l",
            "LANG=en_US.UTF-8",
            "-l",
            "LC_ALL=C.UTF-8",
            "-v",
            "-v",
            "-i",
            "127.0.0.1",
            "-p",
            "60100:60200",
            "-@",
            "ignored",
            "--",
            "/bin/sh",
            "-c",
            "echo hi",
        ]);
        assert_eq!(a.desired_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            a.ports,
            PortRange {
                low: 60100,
                high: 60200
            }
        );
        assert_eq!(a.colors, 256);
        assert_eq!(a.term(), "xterm-256color");
        assert_eq!(a.locale_vars, vec!["LANG=en_US.UTF-8", "LC_ALL=C.UTF-8"]);
        assert_eq!(a.verbose, 2);
        assert_eq!(a.command, Some(os(&["/bin/sh", "-c", "echo hi"])));
        // `-s` without SSH_CONNECTION warns, and the later -i wins anyway.
        assert_eq!(
            a.warnings,
            vec!["Warning: SSH_CONNECTION not found; binding to any interface."]
        );
    }

    #[test]
    fn defaults_and_empty_command() {
        let a = run(&["new", "--"]);
        assert_eq!(a.ports, DEFAULT_PORT_RANGE);
        assert_eq!(a.desired_ip, None);
        assert_eq!(a.command, None);
        assert_eq!(a.term(), "xterm");
        let a = run(&[]);
        assert_eq!(a.ports, DEFAULT_PORT_RANGE);
    }

    #[test]
    fn dash_s_reads_ssh_connection() {
        let parse = |conn: Option<&str>| match parse_server_args(&os(&["new", "-s"]), conn) {
            Ok(ServerInvocation::Run(a)) => (a.desired_ip, a.warnings),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            parse(Some("10.0.0.1 5555 ::FFFF:127.0.0.1 22")),
            (Some("127.0.0.1".to_string()), vec![])
        );
        assert_eq!(
            parse(Some("::1 5555 ::1 22")),
            (Some("::1".to_string()), vec![])
        );
        let (ip, w) = parse(Some("garbage"));
        assert_eq!(ip, None);
        assert_eq!(
            w,
            vec!["Warning: Could not parse SSH_CONNECTION; binding to any interface."]
        );
    }

    #[test]
    fn help_and_version_only_before_double_dash() {
        assert_eq!(
            parse_server_args(&os(&["new", "--help"]), None),
            Ok(ServerInvocation::Help)
        );
        assert_eq!(
            parse_server_args(&os(&["-h"]), None),
            Ok(ServerInvocation::Help)
        );
        assert_eq!(
            parse_server_args(&os(&["--version"]), None),
            Ok(ServerInvocation::Version)
        );
        let a = run(&["new", "--", "vim", "--help"]);
        assert_eq!(a.command, Some(os(&["vim", "--help"])));
    }

    #[test]
    fn unknown_option_and_missing_argument_are_not_fatal() {
        let a = run(&["new", "-x", "-p"]);
        assert_eq!(
            a.warnings,
            vec![
                "new: invalid option -- 'x'".to_string(),
                USAGE.to_string(),
                "new: option requires an argument -- 'p'".to_string(),
                USAGE.to_string()
            ]
        );
        assert_eq!(a.ports, DEFAULT_PORT_RANGE);
        // Operands after `new` are ignored.
        let a = run(&["new", "extra", "-p", "0"]);
        assert_eq!(a.ports, PortRange { low: 0, high: 0 });
    }

    #[test]
    fn colors() {
        assert_eq!(run(&["new", "-c", "-3"]).colors, -3);
        assert_eq!(run(&["new", "-c", "99999999999"]).term(), "xterm");
        assert_eq!(
            parse_server_args(&os(&["new", "-c", "256x"]), None),
            Err(ServerArgsError::BadColors("256x".into()))
        );
    }

    #[test]
    fn legacy_forms() {
        let a = run(&["127.0.0.1"]);
        assert_eq!(a.desired_ip.as_deref(), Some("127.0.0.1"));
        let a = run(&["127.0.0.1", "0"]);
        assert_eq!(a.ports, PortRange { low: 0, high: 0 });
        // Upstream treats `mosh-server -v` as the legacy IP "-v".
        assert_eq!(run(&["-v"]).desired_ip.as_deref(), Some("-v"));
        assert_eq!(
            parse_server_args(&os(&["a", "b", "c"]), None),
            Err(ServerArgsError::Usage)
        );
    }
}
