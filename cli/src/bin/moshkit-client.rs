//! `moshkit-client`: drop-in replacement for `mosh-client` (see docs/cli.md).

use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use moshkit_cli::client::args::{
    ClientArgsError, ClientInvocation, PROG, USAGE, client_prefs, parse_client_args,
};
use moshkit_cli::client::{run_terminal_client, terminfo, version_banner};
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

    let server = SocketAddr::new(args.ip, args.port);
    ExitCode::from(run_terminal_client(server, prefs))
}
