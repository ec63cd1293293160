//! `moshkit-server`: drop-in replacement for `mosh-server` (see docs/cli.md).

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

use moshkit_cli::locale::resolve_server_locale;
use moshkit_cli::pty::{ReleaseMode, WindowSize, spawn_in_pty, tty_window_size};
use moshkit_cli::server::args::{PROG, ServerInvocation, USAGE, parse_server_args};
use moshkit_cli::server::bind::bind_server_socket;
use moshkit_cli::server::serve::{ServeParts, run_host_session, server_signals};
use moshkit_cli::server::{
    ServerConfig, TTY_PREAMBLE, child_spec, connect_line, detach_message, generate_key,
    version_banner,
};
use moshkit_cli::{logger, signals};

fn env_lookup(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn run_locale_command() {
    let _ = std::process::Command::new("locale").status();
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let ssh_connection = env_lookup("SSH_CONNECTION");
    let args = match parse_server_args(&args, ssh_connection.as_deref()) {
        Ok(ServerInvocation::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(ServerInvocation::Version) => {
            println!("{}", version_banner());
            return ExitCode::SUCCESS;
        }
        Ok(ServerInvocation::Run(a)) => a,
        Err(e) => {
            for line in e.lines() {
                eprintln!("{line}");
            }
            return ExitCode::FAILURE;
        }
    };
    logger::init(PROG, args.verbose);
    for w in &args.warnings {
        eprintln!("{w}");
    }
    let (config, warnings) = ServerConfig::from_env(&env_lookup, args.verbose);
    for w in warnings {
        eprintln!("{PROG}: {w}");
    }

    let locale = match resolve_server_locale(PROG, &env_lookup, &args.locale_vars) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            run_locale_command();
            return ExitCode::FAILURE;
        }
    };

    let bound = match bind_server_socket(args.desired_ip.as_deref(), args.ports) {
        Ok(b) => b,
        Err(e) => {
            for w in &e.warnings {
                eprintln!("{w}");
            }
            eprintln!("{e}");
            eprintln!(
                "{PROG}: no UDP port available in {}:{} (use -p to choose another port or range)",
                args.ports.low, args.ports.high
            );
            return ExitCode::FAILURE;
        }
    };
    for w in &bound.warnings {
        eprintln!("{w}");
    }
    let port = match bound.socket.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            eprintln!("{PROG}: getsockname: {e}");
            return ExitCode::FAILURE;
        }
    };
    let key = match generate_key() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{PROG}: cannot read random bytes for the key: {e}");
            return ExitCode::FAILURE;
        }
    };

    let stdin = std::io::stdin();
    let initial_size = tty_window_size(stdin.as_fd()).unwrap_or(WindowSize::DEFAULT);
    {
        let mut out = std::io::stdout().lock();
        if stdin.is_terminal() {
            let _ = out.write_all(TTY_PREAMBLE.as_bytes());
        }
        let _ = out.write_all(connect_line(port, &key).as_bytes());
        let _ = out.flush();
    }
    if let Err(e) = signals::ignore_hup_and_pipe() {
        eprintln!("{PROG}: signal: {e}");
        return ExitCode::FAILURE;
    }
    let _ = std::io::stderr().flush();

    // SAFETY: the process is single-threaded here (no thread has been started), so the child
    // may continue running arbitrary code after fork.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            eprintln!("{PROG}: fork: {e}");
            return ExitCode::FAILURE;
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            eprint!("{}", detach_message(child.as_raw()));
            let _ = std::io::stderr().flush();
            if std::io::stdout().is_terminal() {
                let _ = nix::sys::termios::tcdrain(std::io::stdout().as_fd());
            }
            return ExitCode::SUCCESS;
        }
        Ok(nix::unistd::ForkResult::Child) => {}
    }

    // The daemon.
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
    if args.verbose == 0 {
        redirect_stdio_to_null();
    }

    let (user, home) = moshkit_cli::server::current_user_and_home();
    let release = match std::env::var("MOSHKIT_CHILD_RELEASE").as_deref() {
        Ok("newline") => ReleaseMode::Newline,
        _ => ReleaseMode::Pipe,
    };
    let spec = child_spec(
        &args,
        std::env::vars_os().collect(),
        &home,
        user.map(|u| u.shell),
        &locale,
        release,
    );
    let signals = match server_signals() {
        Ok(s) => s,
        Err(e) => {
            log::error!("signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (pty, child) = match spawn_in_pty(&spec, initial_size) {
        Ok(p) => p,
        Err(e) => {
            log::error!("forkpty: {e}");
            return ExitCode::FAILURE;
        }
    };
    let parts = ServeParts {
        socket: bound.socket,
        pty,
        child,
        signals,
        config,
    };
    let code = match run_host_session(parts, &key, initial_size) {
        Ok((end, parts)) => {
            log::info!("session ended: {end:?}");
            drop(parts); // closing the master hangs up the application
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    };
    println!("\n[{PROG} is exiting.]");
    code
}

fn redirect_stdio_to_null() {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    if let Ok(null) = open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
        for target in 0..=2 {
            // SAFETY: dup2 onto the standard descriptors, which this process owns; the
            // standard streams are re-targeted to /dev/null as upstream's daemon does.
            unsafe {
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), target);
            }
        }
    }
}
