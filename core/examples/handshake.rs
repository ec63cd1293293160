//! Starts the real upstream `mosh-server` on loopback and talks to it with moshkit-core's wire
//! layer alone: sends a resize and a command, then prints the screen text the server sent back.
//!
//! `cargo run -p moshkit-core --example handshake [-- COMMAND]`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

fn main() {
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let command = if command.is_empty() {
        "uname -sm".to_owned()
    } else {
        command
    };
    let n = support::random_u32();
    let server = support::UpstreamServer::start(&["/bin/sh"]);
    println!(
        "mosh-server on 127.0.0.1:{} (pid {}), key {}…",
        server.port,
        server.pid,
        &server.key[..4]
    );
    match support::run_over_wire(
        &server,
        &format!("{command}; echo done-$(({n}+1))\r"),
        &format!("done-{}", n + 1),
        Duration::from_secs(20),
    ) {
        Ok((text, received)) => {
            println!("{received} instructions received; the server's screen:\n");
            println!("{}", text.trim_end());
        }
        Err(e) => {
            eprintln!("handshake failed: {e}");
            std::process::exit(1);
        }
    }
}
