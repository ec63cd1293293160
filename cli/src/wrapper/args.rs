//! `moshkit` (the bootstrap wrapper) command line, following upstream's `mosh` script
//! (reference §2.1, §2.2).

use thiserror::Error;

/// Program name used in diagnostics.
pub const PROG: &str = "moshkit";

/// Usage text.
pub const USAGE: &str = "Usage: moshkit [options] [--] [user@]host [command...]
        --client=PATH        moshkit client on local machine
                                (default: \"moshkit-client\")
        --server=COMMAND     mosh server on remote machine
                                (default: \"moshkit-server\" if the remote
                                host has it, else \"mosh-server\")

        --predict=adaptive      local echo for slower links [default]
-a      --predict=always        use local echo even on fast links
-n      --predict=never         never use local echo
        --predict=experimental  aggressively echo even when incorrect

-o      --predict-overwrite     prediction overwrites instead of inserting

-4      --family=inet        use IPv4 only
-6      --family=inet6       use IPv6 only
        --family=auto        autodetect network type for single-family hosts only
        --family=all         try all network types
        --family=prefer-inet use all network types, but try IPv4 first [default]
        --family=prefer-inet6 use all network types, but try IPv6 first
-p PORT[:PORT2]
        --port=PORT[:PORT2]  server-side UDP port or range
                                (No effect on server-side SSH port)
        --bind-server={ssh|any|IP}  ask the server to reply from an IP address
                                       (default: \"ssh\")

        --ssh=COMMAND        ssh command to run when setting up session
                                (example: \"ssh -p 2222\")
                                (default: \"ssh\")

        --no-ssh-pty         do not allocate a pseudo tty on ssh connection

        --no-init            do not send terminal initialization string

        --local              run moshkit-server locally without using ssh

        --experimental-remote-ip=(local|remote|proxy)  select the method for
                             discovering the remote IP address to use for mosh
                             (default: \"proxy\")

        --help               this message
        --version            version and copyright information";

/// Address family selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// IPv4 only (`-4`).
    Inet,
    /// IPv6 only (`-6`).
    Inet6,
    /// Whatever the resolver returns first.
    Auto,
    /// All families.
    All,
    /// All families, IPv4 first (default).
    #[default]
    PreferInet,
    /// All families, IPv6 first.
    PreferInet6,
}

impl Family {
    /// The `--family=` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
            Family::Auto => "auto",
            Family::All => "all",
            Family::PreferInet => "prefer-inet",
            Family::PreferInet6 => "prefer-inet6",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "inet" => Family::Inet,
            "inet6" => Family::Inet6,
            "auto" => Family::Auto,
            "all" => Family::All,
            "prefer-inet" => Family::PreferInet,
            "prefer-inet6" => Family::PreferInet6,
            _ => return None,
        })
    }
}

/// How the server's IP address is learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteIp {
    /// Resolve the host name locally.
    Local,
    /// Ask the remote side for `$SSH_CONNECTION`.
    Remote,
    /// ssh's ProxyCommand is this program (`--fake-proxy`), which reports the address it
    /// connected to (default).
    #[default]
    Proxy,
}

/// Where the server binds (`--bind-server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindServer {
    /// `-s`: the address ssh came in on (default).
    Ssh,
    /// No bind option.
    Any,
    /// `-i IP`.
    Ip(String),
}

/// A parsed `moshkit` invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapperArgs {
    /// `--client`.
    pub client: String,
    /// `--server`; `None`: `moshkit-server` if the remote host has it, else `mosh-server`
    /// (decided on the remote host, in the same ssh round trip).
    pub server: Option<String>,
    /// `--predict`, `-a`, `-n`.
    pub predict: Option<String>,
    /// `-o`, `--predict-overwrite`.
    pub predict_overwrite: bool,
    /// `-4`, `-6`, `--family`.
    pub family: Family,
    /// `-p`, `--port`.
    pub port: Option<String>,
    /// `--bind-server` (`None` = default, which depends on `--local`).
    pub bind_server: Option<BindServer>,
    /// `--ssh`.
    pub ssh: String,
    /// `--no-ssh-pty` clears this.
    pub ssh_pty: bool,
    /// `--no-init`.
    pub no_init: bool,
    /// `--local`.
    pub local: bool,
    /// `--experimental-remote-ip`.
    pub remote_ip: RemoteIp,
    /// Hidden: `--fake-proxy -- HOST PORT` (ssh's ProxyCommand).
    pub fake_proxy: bool,
    /// Hidden, for tests and scripts: print `MOSHKIT CONNECT <ip> <port> <key>` instead of
    /// starting the client.
    pub print_connect: bool,
    /// `[user@]host`.
    pub host: String,
    /// Remote command words.
    pub command: Vec<String>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrapperInvocation {
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// Run.
    Run(WrapperArgs),
}

/// Command-line errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WrapperArgsError {
    /// Unknown option (upstream: `Unknown option: bogus`).
    #[error("Unknown option: {0}")]
    UnknownOption(String),
    /// Option needs a value.
    #[error("Option {0} requires an argument")]
    MissingValue(String),
    /// Bad `--family`, `--experimental-remote-ip` or `--bind-server` value.
    #[error("{PROG}: Unknown value \"{1}\" for --{0}.")]
    BadValue(&'static str, String),
    /// No host.
    #[error("{USAGE}")]
    Usage,
    /// Bad prediction mode.
    #[error("{PROG}: Unknown mode \"{0}\".")]
    UnknownMode(String),
    /// Bad port specification (upstream's messages).
    #[error("{PROG}: {0}")]
    BadPort(String),
}

/// Validates `-p` like the upstream wrapper; the message is upstream's.
pub fn validate_port(spec: &str) -> Result<(), String> {
    let (low, high) = match spec.split_once(':') {
        Some((l, h)) => (l, Some(h)),
        None => (spec, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(low) || high.is_some_and(|h| !digits(h)) {
        return Err(format!("Server-side port or range ({spec}) is not valid."));
    }
    let low_n: u64 = low.parse().unwrap_or(u64::MAX);
    if low_n > 65535 {
        return Err(format!(
            "Server-side (low) port ({low}) must be within valid range [0..65535]."
        ));
    }
    if let Some(high) = high {
        let high_n: u64 = high.parse().unwrap_or(u64::MAX);
        if !(1..=65535).contains(&high_n) {
            return Err(format!(
                "Server-side high port ({high}) must be within valid range [1..65535]."
            ));
        }
        if low_n == 0 {
            return Err(format!(
                "Server-side port ranges may not be used with starting port 0 ({spec})."
            ));
        }
        if low_n > high_n {
            return Err(format!(
                "Server-side port range ({spec}): low port greater than high port."
            ));
        }
    }
    Ok(())
}

/// The prediction mode: `--predict`/`-a`/`-n`, else `MOSH_PREDICTION_DISPLAY`, else
/// `adaptive`; validated.
pub fn prediction_mode(flag: Option<&str>, env: Option<&str>) -> Result<String, WrapperArgsError> {
    let mode = flag.or(env).unwrap_or("adaptive");
    match mode {
        "adaptive" | "always" | "never" | "experimental" => Ok(mode.to_string()),
        other => Err(WrapperArgsError::UnknownMode(other.to_string())),
    }
}

/// Parses the arguments after `argv[0]` (GNU-style: options may follow the host, `--` ends
/// options; exact option names only).
pub fn parse_wrapper_args(args: &[String]) -> Result<WrapperInvocation, WrapperArgsError> {
    let mut a = WrapperArgs {
        client: "moshkit-client".into(),
        server: None,
        predict: None,
        predict_overwrite: false,
        family: Family::default(),
        port: None,
        bind_server: None,
        ssh: "ssh".into(),
        ssh_pty: true,
        no_init: false,
        local: false,
        remote_ip: RemoteIp::default(),
        fake_proxy: false,
        print_connect: false,
        host: String::new(),
        command: Vec::new(),
    };
    let mut operands: Vec<String> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        if word == "--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let value = |i: &mut usize| -> Result<String, WrapperArgsError> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                let v = args
                    .get(*i)
                    .cloned()
                    .ok_or_else(|| WrapperArgsError::MissingValue(name.to_string()))?;
                *i += 1;
                Ok(v)
            };
            match name {
                "help" => return Ok(WrapperInvocation::Help),
                "version" => return Ok(WrapperInvocation::Version),
                "client" => a.client = value(&mut i)?,
                "server" => a.server = Some(value(&mut i)?),
                "predict" => a.predict = Some(value(&mut i)?),
                "predict-overwrite" => a.predict_overwrite = true,
                "family" => {
                    let v = value(&mut i)?;
                    a.family = Family::parse(&v).ok_or(WrapperArgsError::BadValue("family", v))?;
                }
                "port" => a.port = Some(value(&mut i)?),
                "bind-server" => {
                    a.bind_server = Some(match value(&mut i)?.as_str() {
                        "ssh" => BindServer::Ssh,
                        "any" => BindServer::Any,
                        ip => BindServer::Ip(ip.to_string()),
                    })
                }
                "ssh" => a.ssh = value(&mut i)?,
                "no-ssh-pty" => a.ssh_pty = false,
                "no-init" => a.no_init = true,
                "local" => a.local = true,
                "experimental-remote-ip" => {
                    let v = value(&mut i)?;
                    a.remote_ip = match v.as_str() {
                        "local" => RemoteIp::Local,
                        "remote" => RemoteIp::Remote,
                        "proxy" => RemoteIp::Proxy,
                        _ => return Err(WrapperArgsError::BadValue("experimental-remote-ip", v)),
                    };
                }
                "fake-proxy" => a.fake_proxy = true,
                "print-connect" => a.print_connect = true,
                other => return Err(WrapperArgsError::UnknownOption(other.to_string())),
            }
            continue;
        }
        if word.len() > 1 && word.starts_with('-') {
            match &word[1..] {
                "a" => a.predict = Some("always".into()),
                "n" => a.predict = Some("never".into()),
                "o" => a.predict_overwrite = true,
                "4" => a.family = Family::Inet,
                "6" => a.family = Family::Inet6,
                "p" => {
                    let v = args
                        .get(i)
                        .cloned()
                        .ok_or_else(|| WrapperArgsError::MissingValue("p".into()))?;
                    i += 1;
                    a.port = Some(v);
                }
                s if s.starts_with('p') => a.port = Some(s[1..].to_string()),
                s => return Err(WrapperArgsError::UnknownOption(s.to_string())),
            }
            continue;
        }
        operands.push(word.clone());
    }
    if a.fake_proxy {
        // `--fake-proxy -- HOST PORT`
        a.command = operands;
        return Ok(WrapperInvocation::Run(a));
    }
    let mut ops = operands.into_iter();
    a.host = ops.next().ok_or(WrapperArgsError::Usage)?;
    a.command = ops.collect();
    if let Some(p) = &a.port {
        validate_port(p).map_err(WrapperArgsError::BadPort)?;
    }
    Ok(WrapperInvocation::Run(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    fn run(words: &[&str]) -> WrapperArgs {
        match parse_wrapper_args(&v(words)) {
            Ok(WrapperInvocation::Run(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_and_permutation() {
        let a = run(&[
            "--ssh=ssh -p 2222",
            "-p",
            "60500:60510",
            "user@host",
            "-a",
            "--family",
            "inet6",
            "ls",
            "--",
            "-l",
        ]);
        assert_eq!(a.ssh, "ssh -p 2222");
        assert_eq!(a.port.as_deref(), Some("60500:60510"));
        assert_eq!(a.host, "user@host");
        assert_eq!(a.predict.as_deref(), Some("always"));
        assert_eq!(a.family, Family::Inet6);
        // Like upstream (Getopt::Long permute), options after the host are options; `--`
        // protects the rest.
        assert_eq!(a.command, v(&["ls", "-l"]));
        let a = run(&[
            "-4",
            "-n",
            "-o",
            "--no-init",
            "--no-ssh-pty",
            "--local",
            "-p0",
            "h",
        ]);
        assert_eq!(a.family, Family::Inet);
        assert_eq!(a.predict.as_deref(), Some("never"));
        assert!(a.predict_overwrite && a.no_init && !a.ssh_pty && a.local);
        assert_eq!(a.port.as_deref(), Some("0"));
        let a = run(&[
            "--bind-server=10.0.0.1",
            "--experimental-remote-ip=remote",
            "h",
        ]);
        assert_eq!(a.bind_server, Some(BindServer::Ip("10.0.0.1".into())));
        assert_eq!(a.remote_ip, RemoteIp::Remote);
        let a = run(&[
            "--family=prefer-inet",
            "--fake-proxy",
            "--",
            "example.org",
            "22",
        ]);
        assert!(a.fake_proxy);
        assert_eq!(a.command, v(&["example.org", "22"]));
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_wrapper_args(&v(&["--bogus", "h"])),
            Err(WrapperArgsError::UnknownOption("bogus".into()))
        );
        assert_eq!(
            WrapperArgsError::UnknownOption("bogus".into()).to_string(),
            "Unknown option: bogus"
        );
        assert_eq!(parse_wrapper_args(&v(&[])), Err(WrapperArgsError::Usage));
        assert_eq!(
            parse_wrapper_args(&v(&["--help"])),
            Ok(WrapperInvocation::Help)
        );
        assert!(matches!(
            parse_wrapper_args(&v(&["--family=foo", "h"])),
            Err(WrapperArgsError::BadValue("family", _))
        ));
        assert!(matches!(
            parse_wrapper_args(&v(&["-p"])),
            Err(WrapperArgsError::MissingValue(_))
        ));
    }

    #[test]
    fn port_validation_messages_match_upstream() {
        assert_eq!(validate_port("0"), Ok(()));
        assert_eq!(validate_port("60001:60010"), Ok(()));
        assert_eq!(
            validate_port("abc").expect_err("bad"),
            "Server-side port or range (abc) is not valid."
        );
        assert_eq!(
            validate_port("70000").expect_err("bad"),
            "Server-side (low) port (70000) must be within valid range [0..65535]."
        );
        assert_eq!(
            validate_port("0:5").expect_err("bad"),
            "Server-side port ranges may not be used with starting port 0 (0:5)."
        );
        assert_eq!(
            validate_port("5:3").expect_err("bad"),
            "Server-side port range (5:3): low port greater than high port."
        );
        assert!(validate_port("5:0").is_err());
        assert!(validate_port("5:").is_err());
    }

    #[test]
    fn prediction_modes() {
        assert_eq!(prediction_mode(None, None).as_deref(), Ok("adaptive"));
        assert_eq!(prediction_mode(None, Some("never")).as_deref(), Ok("never"));
        assert_eq!(
            prediction_mode(Some("always"), Some("never")).as_deref(),
            Ok("always")
        );
        assert_eq!(
            prediction_mode(Some("foo"), None),
            Err(WrapperArgsError::UnknownMode("foo".into()))
        );
        assert_eq!(
            WrapperArgsError::UnknownMode("foo".into()).to_string(),
            "moshkit: Unknown mode \"foo\"."
        );
    }
}
