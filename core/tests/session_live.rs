//! The client session (terminal replica + prediction + notification bar) against the real
//! upstream `mosh-server` on loopback, through the tokio driver: the screen a UI pulls shows the
//! command's output, resizes reach the server's pty, and close ends both sides.
#![cfg(feature = "driver")]
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use moshkit_core::crypto::Key;
use moshkit_core::driver::{Driver, os_random};
use moshkit_core::session::{ClientConfig, ClientEvent, ClientSession, ScreenUpdate};
use support::{UpstreamServer, random_u32};

type ClientDriver = Driver<ClientSession>;

/// The rows of a full snapshot, as text.
fn rows(update: &ScreenUpdate) -> Vec<String> {
    update
        .changed_rows
        .iter()
        .map(|r| r.cells.iter().map(|c| c.text.as_str()).collect::<String>())
        .collect()
}

/// Drive the session until a row of the pulled screen contains `needle`. `screen` is the UI's
/// copy, kept up to date from the pulled changes.
async fn wait_for_row(
    d: &mut ClientDriver,
    screen: &mut Vec<String>,
    needle: &str,
    limit: Duration,
) {
    let start = Instant::now();
    while start.elapsed() < limit {
        // Pull as a UI would, keeping a full copy up to date.
        let update = d.endpoint_mut().pull_changes(Instant::now());
        if update.full {
            *screen = vec![String::new(); usize::from(update.rows)];
        }
        for r in &update.changed_rows {
            if let Some(row) = screen.get_mut(usize::from(r.index)) {
                *row = r.cells.iter().map(|c| c.text.as_str()).collect();
            }
        }
        if screen.iter().any(|r| r.contains(needle)) {
            return;
        }
        let wait = tokio::time::timeout(Duration::from_millis(100), d.next_event()).await;
        if let Ok(Err(e)) = wait {
            panic!("driver ended: {e}");
        }
    }
    panic!("{needle:?} not on screen after {limit:?}: {screen:#?}");
}

/// A client session with `server` at `ip`, driven until the shell's prompt is on screen.
async fn connect(server: &UpstreamServer, ip: std::net::IpAddr) -> (ClientDriver, Vec<String>) {
    let key = Key::parse(&server.key).unwrap();
    let session = ClientSession::new(
        &key,
        std::net::SocketAddr::new(ip, server.port),
        80,
        24,
        ClientConfig::default(),
        Instant::now(),
        os_random(),
    )
    .unwrap();
    let mut d = ClientDriver::client(session).await.unwrap();
    let mut screen = Vec::new();
    wait_for_row(&mut d, &mut screen, "#", Duration::from_secs(10)).await;
    (d, screen)
}

#[tokio::test]
async fn client_session_with_upstream_server() {
    let server = UpstreamServer::start(&["/bin/sh"]);
    let (mut d, mut screen) = connect(&server, [127, 0, 0, 1].into()).await;

    let tag = random_u32();
    d.endpoint_mut().send_input(
        Instant::now(),
        format!("echo mk-$((40+2))-{tag}\r").as_bytes(),
    );
    wait_for_row(
        &mut d,
        &mut screen,
        &format!("mk-42-{tag}"),
        Duration::from_secs(10),
    )
    .await;

    d.endpoint_mut().resize(Instant::now(), 100, 30);
    d.endpoint_mut().send_input(Instant::now(), b"stty size\r");
    wait_for_row(&mut d, &mut screen, "30 100", Duration::from_secs(10)).await;
    assert_eq!(screen.len(), 30);
    assert!(screen.iter().all(|r| r.chars().count() == 100));
    let snap = d.endpoint_mut().snapshot(Instant::now());
    assert_eq!((snap.cols, snap.rows), (100, 30));
    assert!(rows(&snap).iter().any(|r| r.contains("30 100")));
    let stats = d.endpoint().stats();
    assert!(stats.datagrams_received > 0 && stats.bytes_received > 0);
    assert!(stats.srtt_ms < 100.0, "loopback: {}", stats.srtt_ms);

    // A bell and a title travel as events.
    d.endpoint_mut().send_input(
        Instant::now(),
        b"printf '\\033]0;moshkit-title\\007\\007'\r",
    );
    let start = Instant::now();
    let (mut bell, mut title) = (false, false);
    while start.elapsed() < Duration::from_secs(10) && !(bell && title) {
        match tokio::time::timeout(Duration::from_millis(200), d.next_event()).await {
            Ok(Ok(ClientEvent::Bell)) => bell = true,
            Ok(Ok(ClientEvent::Title(t))) => title = t == "moshkit-title",
            Ok(Err(e)) => panic!("driver ended: {e}"),
            _ => {}
        }
    }
    assert!(bell && title, "bell {bell}, title {title}");

    d.endpoint_mut().close(Instant::now());
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(15), "no clean close");
        match tokio::time::timeout(Duration::from_secs(1), d.next_event()).await {
            Ok(Ok(ClientEvent::Closed(reason))) => {
                assert_eq!(
                    reason,
                    moshkit_core::connection::CloseReason::ShutdownAcknowledged
                );
                break;
            }
            Ok(Err(e)) => panic!("driver ended without Closed: {e}"),
            _ => {}
        }
    }
    assert!(server.wait_exit(Duration::from_secs(5)), "server exited");
}

#[tokio::test]
async fn client_session_over_ipv6_survives_a_network_change() {
    let server = UpstreamServer::start_on("::1", &["/bin/sh"]);
    let (mut d, mut screen) = connect(&server, std::net::Ipv6Addr::LOCALHOST.into()).await;
    let first = d.local_addr().unwrap();
    assert!(first.is_ipv6());
    let tag = random_u32();
    d.endpoint_mut().send_input(
        Instant::now(),
        format!("echo v6-$((1+1))-{tag}\r").as_bytes(),
    );
    wait_for_row(
        &mut d,
        &mut screen,
        &format!("v6-2-{tag}"),
        Duration::from_secs(10),
    )
    .await;
    // The app reports a network change: a fresh IPv6 socket, and the session goes on.
    d.endpoint_mut().network_changed(Instant::now());
    d.endpoint_mut().send_input(
        Instant::now(),
        format!("echo v6-$((2+2))-{tag}\r").as_bytes(),
    );
    wait_for_row(
        &mut d,
        &mut screen,
        &format!("v6-4-{tag}"),
        Duration::from_secs(10),
    )
    .await;
    let second = d.local_addr().unwrap();
    assert!(second.is_ipv6());
    assert_ne!(first.port(), second.port(), "rebound to a new source port");
    close_and_wait(&mut d, &server).await;
}

/// Close the session (bounded wait for `Closed`) and check that the server exited.
async fn close_and_wait(d: &mut ClientDriver, server: &UpstreamServer) {
    d.endpoint_mut().close(Instant::now());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if let Ok(Ok(ClientEvent::Closed(_))) =
            tokio::time::timeout(Duration::from_secs(1), d.next_event()).await
        {
            break;
        }
    }
    assert!(server.wait_exit(Duration::from_secs(5)), "server exited");
}

fn wall_clock_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The app is killed and restored ten times while the upstream server keeps the session: the
/// new "process" (a new driver, socket and port) rebuilt from the saved blob shows the server's
/// current screen, including output produced after the save, and typed commands work. Every
/// third cycle restores a stale blob (one saved before the previous cycle's work), so the
/// server diffs from screens the restored client never had and has seen newer input from the
/// killed process: the client must resynchronise both ways.
#[tokio::test]
async fn restored_sessions_resume_with_upstream_server() {
    let server = UpstreamServer::start(&["/bin/sh"]);
    let (mut d, mut screen) = connect(&server, [127, 0, 0, 1].into()).await;
    let tag = random_u32();
    let log = std::env::temp_dir().join(format!("moshkit-restore-{tag}.log"));
    let log = log.display();
    let mut blobs = Vec::new();
    let mut stale_resumes = 0;
    for cycle in 0..10u32 {
        blobs.push(d.endpoint().save_state());
        // A real blob as a seed of the `saved_session` fuzz target (mode byte 0: as is).
        if let Some(blob) = blobs.last() {
            support::FuzzSeeds::from_env()
                .save("saved_session", &[&[0u8], blob.as_slice()].concat());
        }
        // Work after the save, lost with the process: output the restored client has not
        // seen, and input the server has.
        d.endpoint_mut().send_input(
            Instant::now(),
            format!("echo during-{cycle}-$((1+1))-{tag} | tee -a {log}\r").as_bytes(),
        );
        let during = format!("during-{cycle}-2-{tag}");
        wait_for_row(&mut d, &mut screen, &during, Duration::from_secs(10)).await;
        drop(d); // SIGKILL: nothing more is sent or saved
        let blob = if cycle % 3 == 2 && blobs.len() >= 2 {
            blobs[blobs.len() - 2].clone()
        } else {
            blobs[blobs.len() - 1].clone()
        };
        let session =
            ClientSession::restore(&blob, Instant::now(), wall_clock_micros(), os_random())
                .unwrap();
        d = ClientDriver::client(session).await.unwrap();
        screen.clear();
        let stale = cycle % 3 == 2;
        // The server's current screen, with the output made after the save.
        wait_for_row(&mut d, &mut screen, &during, Duration::from_secs(15)).await;
        d.endpoint_mut().send_input(
            Instant::now(),
            format!("echo after-{cycle}-$((2+3))-{tag} | tee -a {log}\r").as_bytes(),
        );
        let after = format!("after-{cycle}-5-{tag}");
        wait_for_row(&mut d, &mut screen, &after, Duration::from_secs(10)).await;
        let stats = d.endpoint().stats();
        if stale {
            // The server diffed from a screen this blob never had: a full redraw was needed.
            assert!(stats.full_redraws_requested > 0, "cycle {cycle}: {stats:?}");
            stale_resumes += 1;
        }
    }
    assert_eq!(stale_resumes, 3);
    // Every command ran exactly once: 20 lines, no duplicates.
    d.endpoint_mut().send_input(
        Instant::now(),
        format!("clear; echo lines-$(wc -l < {log})-dups-$(sort {log} | uniq -d | wc -l)-end; rm -f {log}\r")
            .as_bytes(),
    );
    wait_for_row(
        &mut d,
        &mut screen,
        "lines-20-dups-0-end",
        Duration::from_secs(10),
    )
    .await;
    close_and_wait(&mut d, &server).await;
}
