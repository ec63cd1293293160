//! `moshkit`: the bootstrap wrapper, like upstream's `mosh` script (see docs/cli.md).

use std::io::BufReader;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};

use moshkit_cli::wrapper::args::{
    PROG, USAGE, WrapperArgsError, WrapperInvocation, parse_wrapper_args, prediction_mode,
};
use moshkit_cli::wrapper::{
    BootstrapError, PROXY_ERROR_PREFIX, client_args, client_env, explain_missing_startup,
    fake_proxy, read_bootstrap, remote_command, server_args, server_ip, ssh_argv,
};

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let original: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // `moshkit demo …`: a local session through an impairment relay (MoshKit addition).
    if original.first().map(String::as_str) == Some("demo") {
        return match moshkit_cli::demo::parse_demo_args(&original[1..]) {
            Ok(args) => ExitCode::from(moshkit_cli::demo::run_demo(args)),
            Err(None) => {
                println!("{}", moshkit_cli::demo::DEMO_USAGE);
                ExitCode::SUCCESS
            }
            Err(Some(msg)) => fail(format!("{msg}\n\n{}", moshkit_cli::demo::DEMO_USAGE)),
        };
    }
    let a = match parse_wrapper_args(&original) {
        Ok(WrapperInvocation::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(WrapperInvocation::Version) => {
            println!(
                "moshkit (moshkit {}) [wire-compatible with mosh 1.4, protocol 2]\nLicense: MIT OR Apache-2.0.",
                env!("CARGO_PKG_VERSION")
            );
            return ExitCode::SUCCESS;
        }
        Ok(WrapperInvocation::Run(a)) => a,
        Err(e @ (WrapperArgsError::Usage | WrapperArgsError::UnknownOption(_))) => {
            if !matches!(e, WrapperArgsError::Usage) {
                eprintln!("{e}");
            }
            return fail(USAGE);
        }
        Err(e) => return fail(e),
    };

    if a.fake_proxy {
        let [host, port] = a.command.as_slice() else {
            return fail(format!("{PROG}: --fake-proxy needs HOST PORT"));
        };
        return match fake_proxy(host, port, a.family) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("{PROXY_ERROR_PREFIX}{e}")),
        };
    }

    let env_predict = std::env::var("MOSH_PREDICTION_DISPLAY").ok();
    let predict = match prediction_mode(a.predict.as_deref(), env_predict.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(format!("{e}\n\n{USAGE}")),
    };

    // Colours of the local terminal, from the client (`-c`); junk or negative → 0.
    let colors = Command::new(&a.client)
        .arg("-c")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<i64>()
                .ok()
        })
        .filter(|c| *c >= 0)
        .unwrap_or(0);

    let locale = |name: &str| std::env::var(name).ok();
    let words = server_args(&a, colors, &locale);
    let remote = remote_command(&a, &words);
    let pid = std::process::id().to_string();

    let mut cmd = if a.local {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(&remote).env_remove("SSH_CONNECTION");
        if let Some(home) = std::env::var_os("HOME") {
            c.current_dir(home);
        }
        c
    } else {
        let self_exe = std::env::current_exe()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| PROG.to_string());
        let argv = match ssh_argv(&a, &self_exe, &remote) {
            Ok(v) => v,
            Err(e) => return fail(format!("{PROG}: {e}")),
        };
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        if a.remote_ip == moshkit_cli::wrapper::args::RemoteIp::Proxy {
            c.env("SHELL", "/bin/sh");
        }
        c
    };
    cmd.env_remove("MOSH_PREDICTION_DISPLAY")
        .env("MOSH_CLIENT_PID", &pid)
        .stdin(Stdio::null());

    // stdout and stderr of the child share one pipe, read line by line.
    let (read_end, write_end) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => return fail(format!("{PROG}: pipe: {e}")),
    };
    let write_err = match write_end.try_clone() {
        Ok(w) => w,
        Err(e) => return fail(format!("{PROG}: dup: {e}")),
    };
    cmd.stdout(Stdio::from(write_end))
        .stderr(Stdio::from(write_err));
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return fail(format!(
                "{PROG}: could not start {:?}: {e}",
                cmd.get_program()
            ));
        }
    };
    drop(cmd); // closes our copies of the write end
    let mut reader = BufReader::new(std::fs::File::from(read_end));
    let parsed = read_bootstrap(&mut reader, &mut |line| println!("{line}"));
    drop(reader);
    let status = child.wait();

    let mut info = match parsed {
        Ok(i) => i,
        Err(e @ BootstrapError::NoStartupLine { bad_udp_port, .. }) => {
            if bad_udp_port && a.port.as_deref().is_some_and(|p| p.contains(':')) {
                return fail(format!(
                    "{PROG}: Server does not support UDP port ranges (it rejected -p {}).",
                    a.port.as_deref().unwrap_or_default()
                ));
            }
            let e = match status {
                Ok(status) => explain_missing_startup(e, status),
                Err(_) => e,
            };
            return fail(format!("{PROG}: {e}"));
        }
        Err(e) => return fail(format!("{PROG}: {e}")),
    };
    if a.local && info.ip.is_none() {
        info.ip = Some(a.host.clone());
    }
    let ip = match server_ip(&info, &a, &mut |w| eprintln!("{PROG}: {w}")) {
        Ok(ip) => ip,
        Err(e) => return fail(format!("{PROG}: {e}")),
    };
    let (Some(port), Some(key)) = (info.port, info.key) else {
        return fail(format!(
            "{PROG}: {}",
            BootstrapError::NoStartupLine {
                bad_udp_port: false,
                last_line: None,
            }
        ));
    };

    if a.print_connect {
        println!("MOSHKIT CONNECT {ip} {port} {key}");
        return ExitCode::SUCCESS;
    }

    let err = Command::new(&a.client)
        .args(client_args(&original, ip, port))
        .envs(client_env(&key, &predict, &a))
        .env("MOSH_CLIENT_PID", &pid)
        .exec();
    fail(format!("{PROG}: could not execute {}: {err}", a.client))
}
