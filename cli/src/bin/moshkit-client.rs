//! `moshkit-client`: drop-in replacement for `mosh-client` (see docs/cli.md).

use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use moshkit_cli::client::args::{
    ClientArgsError, ClientInvocation, PROG, USAGE, client_prefs, parse_client_args,
};
use moshkit_cli::client::terminal::{ClientSignals, RawModeGuard, close_string, init_string};
use moshkit_cli::client::{ClientContext, EXITING, run_session, terminfo, version_banner};
use moshkit_cli::locale::{describe, display_charset, is_utf8};
use moshkit_cli::logger;
use moshkit_cli::pty::{WindowSize, tty_window_size};

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

    let env_text = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    let (locale_desc, charset) = describe(&env_text);
    if !is_utf8(&charset) {
        eprintln!(
            "{PROG} needs a UTF-8 native locale to run.\n\nUnfortunately, the client's environment ({locale_desc}) specifies\nthe character set \"{}\".\n",
            display_charset(&charset)
        );
        let _ = std::process::Command::new("locale").status();
        return ExitCode::FAILURE;
    }

    let Some(caps) = terminfo::from_env() else {
        eprintln!(
            "{PROG}: no terminfo entry for TERM={}",
            env_text("TERM").unwrap_or_default()
        );
        println!("{EXITING}");
        return ExitCode::FAILURE;
    };

    let stdin = std::io::stdin();
    let raw = match RawModeGuard::enter(stdin.as_fd()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let signals = match ClientSignals::install() {
        Ok(s) => s,
        Err(e) => {
            drop(raw);
            eprintln!("{PROG}: signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let initial_size = tty_window_size(stdin.as_fd()).unwrap_or(WindowSize::DEFAULT);
    let server = SocketAddr::new(args.ip, args.port);
    let no_term_init = prefs.no_term_init;
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&init_string(&caps, no_term_init));
        let _ = out.flush();
    }
    let mut ctx = ClientContext {
        server,
        prefs,
        caps,
        initial_size,
        signals,
        raw,
    };
    let result = run_session(&mut ctx);
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&close_string(&ctx.caps, no_term_init));
        let _ = out.flush();
    }
    drop(ctx); // restores the terminal

    match result {
        Ok(outcome) => {
            let (warning, last, code) = outcome.farewell(server);
            if let Some(w) = warning {
                eprintln!("\n{w}");
            }
            println!("{last}");
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("{PROG}: {e}");
            println!("{EXITING}");
            ExitCode::FAILURE
        }
    }
}
