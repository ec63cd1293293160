//! Proof of the wire layer against the real upstream `mosh-server` (issue: foundation, point 6).
//!
//! With nothing but moshkit-core's crypto, packet, fragment and wire modules (no SSP state
//! machine), a minimal client plays over loopback: it sends a resize and a command, and
//! decrypts, reassembles and decompresses the server's host messages until the command's output
//! appears. It fails (never skips) when mosh-server is missing.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{UpstreamServer, random_u32, run_over_wire};

#[test]
fn live_handshake_with_upstream_mosh_server() {
    let server = UpstreamServer::start(&["/bin/sh"]);
    let n = random_u32();
    // The marker only exists once the shell has run the command: the typed text is
    // `moshkit-$((n+1))`, the output `moshkit-<n+1>`.
    let marker = format!("moshkit-{}", n + 1);
    let (text, received) = run_over_wire(
        &server,
        &format!("echo moshkit-$(({n}+1))\r"),
        &marker,
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains(&format!("moshkit-$(({n}+1))")), "{text}");
    assert!(received >= 2);
    drop(server);
    // The guard stops the daemon by pid.
}
