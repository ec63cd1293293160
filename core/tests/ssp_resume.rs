//! Save and restore of a client session (issue: SSP, "designed so that a session can later be
//! saved and restored"): the snapshot serialises sequence numbers and state history, the
//! restored client continues the session with the same server, and no nonce is reused.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moshkit_core::connection::{Config, Connection, Event, RESUME_SEQ_GAP, Snapshot};
use moshkit_core::crypto::{Direction, Key, Session};
use moshkit_core::state::{ByteHostState, SyncState, UserEvent, UserStream};
use moshkit_core::transport::SplitMix64;

type Client = Connection<UserStream, ByteHostState>;
type Server = Connection<ByteHostState, UserStream>;

const SERVER: &str = "192.0.2.1:60001";
const CLIENT: &str = "198.51.100.7:40000";

/// Deliver everything both sides send, with no delay, for `ms` of virtual time in 10 ms steps;
/// the server echoes typed bytes. Returns the bytes the server application received and the
/// nonce sequence numbers of the client's datagrams.
fn exchange(
    base: Instant,
    t: &mut u64,
    ms: u64,
    client: &mut Client,
    server: &mut Server,
    key: &Key,
) -> (Vec<u8>, Vec<u64>) {
    let s: SocketAddr = SERVER.parse().unwrap();
    let c: SocketAddr = CLIENT.parse().unwrap();
    let opener = Session::new(key);
    let (mut got, mut seqs) = (Vec::new(), Vec::new());
    let end = *t + ms;
    while *t < end {
        let now = base + Duration::from_millis(*t);
        client.handle_timeout(now);
        server.handle_timeout(now);
        for _ in 0..100 {
            let mut progress = false;
            while client.poll_event().is_some() {
                progress = true;
            }
            while let Some(ev) = server.poll_event() {
                progress = true;
                if let Event::RemoteStateChanged { .. } = ev {
                    let mut fresh = UserStream::new();
                    fresh.apply_diff(&server.take_remote_diff()).unwrap();
                    let bytes: Vec<u8> = fresh
                        .events()
                        .iter()
                        .filter_map(|e| match e {
                            UserEvent::Byte(b) => Some(*b),
                            _ => None,
                        })
                        .collect();
                    got.extend_from_slice(&bytes);
                    server.modify_local(now, |h| h.push_output(&bytes));
                }
            }
            while let Some(tx) = client.poll_transmit(now) {
                progress = true;
                let (nonce, _) = opener.open(&tx.contents).unwrap();
                assert_eq!(nonce.direction, Direction::ToServer);
                seqs.push(nonce.seq);
                server.handle_datagram(now, c, &tx.contents);
            }
            while let Some(tx) = server.poll_transmit(now) {
                progress = true;
                client.handle_datagram(now, s, &tx.contents);
            }
            if !progress {
                break;
            }
        }
        *t += 10;
    }
    (got, seqs)
}

#[test]
fn snapshot_encodes_and_restores_a_client_that_continues_the_session() {
    let base = Instant::now();
    let key = Key::from_bytes([9; 16]);
    let server_addr: SocketAddr = SERVER.parse().unwrap();
    let mut client = Client::client(
        &key,
        server_addr,
        UserStream::new(),
        ByteHostState::new(80, 24),
        base,
        Box::new(SplitMix64::new(1)),
    );
    let mut server = Server::server(
        &key,
        ByteHostState::new(80, 24),
        UserStream::new(),
        base,
        Box::new(SplitMix64::new(2)),
    );
    let mut t = 0;
    client.modify_local(base, |u| {
        u.push_bytes(b"abc");
    });
    let (got, seqs_before) = exchange(base, &mut t, 2000, &mut client, &mut server, &key);
    assert_eq!(got, b"abc");
    assert_eq!(client.remote_state().1.output(), b"abc");

    // The app is backgrounded: snapshot, serialise, and the process dies.
    let snapshot = client.snapshot();
    let bytes = snapshot.encode(&UserStream::new(), &ByteHostState::new(80, 24));
    let last_seq = *seqs_before.iter().max().unwrap();
    assert!(snapshot.next_seq > last_seq);
    drop(client);

    // A new process restores it and types on.
    let decoded =
        Snapshot::decode(&bytes, &UserStream::new(), &ByteHostState::new(80, 24)).unwrap();
    assert_eq!(decoded, snapshot);
    let now = base + Duration::from_millis(t);
    let mut restored = Client::restore(
        Config::client(),
        &key,
        server_addr,
        decoded,
        now,
        Box::new(SplitMix64::new(3)),
    )
    .unwrap();
    assert_eq!(restored.remote_state().1.output(), b"abc");
    restored.modify_local(now, |u| {
        u.push_bytes(b"def");
    });
    let (got, seqs_after) = exchange(base, &mut t, 3000, &mut restored, &mut server, &key);
    assert_eq!(
        got, b"def",
        "only the new input reaches the application, once"
    );
    assert_eq!(restored.remote_state().1.output(), b"abcdef");
    assert!(
        seqs_after.iter().all(|&s| s >= last_seq + RESUME_SEQ_GAP),
        "nonces continue above the gap"
    );
    assert!(!seqs_after.is_empty());
}

#[test]
fn corrupt_snapshots_are_typed_errors() {
    let init = (UserStream::new(), ByteHostState::new(80, 24));
    assert!(Snapshot::decode(b"\xff\xff\xff", &init.0, &init.1).is_err());
    // An empty message has no sent states.
    assert!(Snapshot::<UserStream, ByteHostState>::decode(&[], &init.0, &init.1).is_err());
}
