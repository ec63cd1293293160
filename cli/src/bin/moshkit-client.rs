//! `moshkit-client`: drop-in replacement for `mosh-client` (see docs/cli.md).

use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use moshkit_cli::client::args::{
    ClientArgsError, ClientInvocation, PROG, USAGE, client_prefs, parse_client_args, prefs_with_key,
};
use moshkit_cli::client::{run_terminal_client_with, terminfo, version_banner};
use moshkit_cli::locale::{describe, display_charset, is_utf8};
use moshkit_cli::logger;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let args = match parse_client_args(&args) {
        Ok(ClientInvocation::Help) => {
            println!("{}\n\n{USAGE}", version_banner());
            return ExitCode::SUCCESS;
        }
        Ok(ClientInvocation::Version) => {
            println!("{}", version_banner());
            return ExitCode::SUCCESS;
        }
        Ok(ClientInvocation::PrintColors) => {
            let colors = terminfo::from_env().and_then(|c| c.colors).unwrap_or(-1);
            println!("{colors}");
            return ExitCode::SUCCESS;
        }
        Ok(ClientInvocation::Run(a)) => a,
        Ok(ClientInvocation::Resume(r)) => return resume(r),
        Err(ClientArgsError::Usage) => {
            eprintln!("{}\n\n{USAGE}", version_banner());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{e}\n\n{}\n\n{USAGE}", version_banner());
            return ExitCode::FAILURE;
        }
    };
    logger::init(PROG, args.verbose);

    let lookup = |name: &str| std::env::var_os(name).map(|v| v.as_bytes().to_vec());
    let prefs = match client_prefs(&lookup, args.predict.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: no other thread exists yet, so nothing can read the environment concurrently.
    unsafe { std::env::remove_var("MOSH_KEY") };

    if let Err(code) = check_locale() {
        return code;
    }
    let server = SocketAddr::new(args.ip, args.port);
    ExitCode::from(run_terminal_client_with(
        server,
        prefs,
        None,
        args.state_file,
    ))
}

/// `--state-file=PATH` alone: resume the session saved there by a client that was killed.
fn resume(r: moshkit_cli::client::args::ResumeArgs) -> ExitCode {
    logger::init(PROG, r.verbose);
    let blob = match std::fs::read(&r.state_file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "{PROG}: cannot read the state file {}: {e}",
                r.state_file.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let wall_clock_micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let session = match moshkit_core::session::ClientSession::restore(
        &blob,
        std::time::Instant::now(),
        wall_clock_micros,
        moshkit_core::driver::os_random(),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{PROG}: {}: {e}", r.state_file.display());
            return ExitCode::FAILURE;
        }
    };
    let Some(server) = session.connection().remote_address() else {
        eprintln!("{PROG}: {}: no server address", r.state_file.display());
        return ExitCode::FAILURE;
    };
    let lookup = |name: &str| std::env::var_os(name).map(|v| v.as_bytes().to_vec());
    let prefs = match prefs_with_key(&lookup, r.predict.as_deref(), session.key().clone()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(code) = check_locale() {
        return code;
    }
    ExitCode::from(run_terminal_client_with(
        server,
        prefs,
        Some(session),
        Some(r.state_file),
    ))
}

/// The client needs a UTF-8 locale (upstream's check and message).
fn check_locale() -> Result<(), ExitCode> {
    let env_text = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    let (locale_desc, charset) = describe(&env_text);
    if !is_utf8(&charset) {
        eprintln!(
            "{PROG} needs a UTF-8 native locale to run.\n\nUnfortunately, the client's environment ({locale_desc}) specifies\nthe character set \"{}\".\n",
            display_charset(&charset)
        );
        let _ = std::process::Command::new("locale").status();
        return Err(ExitCode::FAILURE);
    }
    Ok(())
}
