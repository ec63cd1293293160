//! Simulated-time tests of SSP: a deterministic, seeded network model (delay, jitter, loss,
//! duplication, reordering, address changes, blackouts) drives a client and a server
//! [`Connection`] in virtual time.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moshkit_core::connection::{CloseReason, Connection, Event};
use moshkit_core::crypto::Key;
use moshkit_core::state::{ByteHostState, SyncState, UserEvent, UserStream};
use moshkit_core::transport::{SENT_STATES_MAX, SplitMix64};

type Client = Connection<UserStream, ByteHostState>;
type Server = Connection<ByteHostState, UserStream>;

#[derive(Clone, Copy, Debug)]
struct Link {
    loss: f64,
    dup: f64,
    delay_ms: u64,
    jitter_ms: u64,
}

const CLEAN: Link = Link {
    loss: 0.0,
    dup: 0.0,
    delay_ms: 20,
    jitter_ms: 0,
};

struct Flight {
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

struct Sim {
    base: Instant,
    now: u64,
    rng: SplitMix64,
    client: Client,
    server: Server,
    server_addr: SocketAddr,
    /// The client's sending address.
    client_addr: SocketAddr,
    /// Addresses at which the client still receives.
    client_live: Vec<SocketAddr>,
    next_port: u16,
    /// Whether a rebind kills the old address (a phone that left its Wi-Fi).
    rebind_kills_old: bool,
    c2s: Link,
    s2c: Link,
    blackout: Option<(u64, u64)>,
    flights: BTreeMap<(u64, u64), Flight>,
    flight_seq: u64,
    /// Input the server application received, in order.
    server_got: Vec<UserEvent>,
    /// Whether the server echoes typed bytes as output.
    echo: bool,
    sent_c2s: u64,
    sent_s2c: u64,
    captured_c2s: Vec<Vec<u8>>,
    client_events: Vec<(u64, Event)>,
    server_events: Vec<(u64, Event)>,
    max_queues: (usize, usize, usize, usize),
    last_remote_num: (u64, u64),
}

fn rand_f64(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let base = Instant::now();
        let key = Key::from_bytes([7; 16]);
        let server_addr: SocketAddr = "192.0.2.1:60001".parse().unwrap();
        let client_addr: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let mut local = UserStream::new();
        local.push_resize(80, 24);
        let mut client = Client::client(
            &key,
            server_addr,
            UserStream::new(),
            ByteHostState::new(80, 24),
            base,
            Box::new(SplitMix64::new(seed ^ 1)),
        );
        assert!(client.set_local(base, local));
        let server = Server::server(
            &key,
            ByteHostState::new(80, 24),
            UserStream::new(),
            base,
            Box::new(SplitMix64::new(seed ^ 2)),
        );
        Sim {
            base,
            now: 0,
            rng: SplitMix64::new(seed),
            client,
            server,
            server_addr,
            client_addr,
            client_live: vec![client_addr],
            next_port: 40001,
            rebind_kills_old: false,
            c2s: CLEAN,
            s2c: CLEAN,
            blackout: None,
            flights: BTreeMap::new(),
            flight_seq: 0,
            server_got: Vec::new(),
            echo: true,
            sent_c2s: 0,
            sent_s2c: 0,
            captured_c2s: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            max_queues: (0, 0, 0, 0),
            last_remote_num: (0, 0),
        }
    }

    fn t(&self) -> Instant {
        self.base + Duration::from_millis(self.now)
    }

    fn send(&mut self, link: Link, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        if self
            .blackout
            .is_some_and(|(a, b)| (a..b).contains(&self.now))
        {
            return;
        }
        if rand_f64(&mut self.rng) < link.loss {
            return;
        }
        let copies = if rand_f64(&mut self.rng) < link.dup {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = if link.jitter_ms > 0 {
                self.rng.next_u64() % (2 * link.jitter_ms + 1)
            } else {
                0
            };
            let at = self.now + link.delay_ms.saturating_sub(link.jitter_ms) + jitter;
            self.flight_seq += 1;
            self.flights.insert(
                (at, self.flight_seq),
                Flight {
                    from,
                    to,
                    data: data.clone(),
                },
            );
        }
    }

    /// Drain transmits and events of both ends at the current time.
    fn flush(&mut self) {
        for _ in 0..10_000 {
            let now = self.t();
            let mut progress = false;
            // Events first: a Rebind must take effect before the next datagram goes out.
            while let Some(ev) = self.client.poll_event() {
                progress = true;
                match ev {
                    Event::Rebind => {
                        let addr: SocketAddr =
                            format!("198.51.100.7:{}", self.next_port).parse().unwrap();
                        self.next_port += 1;
                        if self.rebind_kills_old {
                            self.client_live.clear();
                        }
                        self.client_live.push(addr);
                        self.client_addr = addr;
                    }
                    Event::RemoteStateChanged { num } => {
                        assert!(num > self.last_remote_num.0, "client state went backwards");
                        self.last_remote_num.0 = num;
                    }
                    _ => {}
                }
                self.client_events.push((self.now, ev));
            }
            while let Some(ev) = self.server.poll_event() {
                progress = true;
                if let Event::RemoteStateChanged { num } = ev {
                    assert!(num > self.last_remote_num.1, "server state went backwards");
                    self.last_remote_num.1 = num;
                    let diff = self.server.take_remote_diff();
                    let mut fresh = UserStream::new();
                    fresh.apply_diff(&diff).unwrap();
                    let bytes: Vec<u8> = fresh
                        .events()
                        .iter()
                        .filter_map(|e| match e {
                            UserEvent::Byte(b) => Some(*b),
                            _ => None,
                        })
                        .collect();
                    self.server_got.extend_from_slice(fresh.events());
                    if self.echo && !bytes.is_empty() {
                        self.server.modify_local(now, |h| h.push_output(&bytes));
                    }
                }
                self.server_events.push((self.now, ev));
            }
            while let Some(tx) = self.client.poll_transmit(now) {
                progress = true;
                assert_eq!(tx.destination, self.server_addr);
                self.sent_c2s += 1;
                self.captured_c2s.push(tx.contents.clone());
                self.send(self.c2s, self.client_addr, tx.destination, tx.contents);
            }
            while let Some(tx) = self.server.poll_transmit(now) {
                progress = true;
                self.sent_s2c += 1;
                self.send(self.s2c, self.server_addr, tx.destination, tx.contents);
            }
            let (a, b) = self.client.queue_lengths();
            let (c, d) = self.server.queue_lengths();
            let m = &mut self.max_queues;
            *m = (m.0.max(a), m.1.max(b), m.2.max(c), m.3.max(d));
            if !progress {
                return;
            }
        }
        panic!("livelock at {} ms", self.now);
    }

    /// Run until virtual time `end` (ms).
    fn run_until(&mut self, end: u64) {
        let mut same = 0;
        loop {
            self.flush();
            let to_ms = |i: Option<Instant>, base: Instant| {
                i.map_or(u64::MAX, |i| i.duration_since(base).as_millis() as u64)
            };
            let now = self.t();
            let next = [
                self.flights.keys().next().map_or(u64::MAX, |k| k.0),
                to_ms(self.client.poll_timeout(now), self.base),
                to_ms(self.server.poll_timeout(now), self.base),
            ]
            .into_iter()
            .min()
            .unwrap();
            if next > end {
                self.now = end;
                self.flush();
                return;
            }
            if next <= self.now {
                same += 1;
                assert!(same < 1000, "no progress at {} ms", self.now);
            } else {
                same = 0;
            }
            self.now = self.now.max(next);
            let now = self.t();
            while let Some(entry) = self.flights.first_entry() {
                if entry.key().0 > self.now {
                    break;
                }
                let f = entry.remove();
                if f.to == self.server_addr {
                    self.server.handle_datagram(now, f.from, &f.data);
                } else if self.client_live.contains(&f.to) {
                    self.client.handle_datagram(now, f.from, &f.data);
                }
            }
            self.client.handle_timeout(now);
            self.server.handle_timeout(now);
        }
    }

    fn type_bytes(&mut self, bytes: &[u8]) {
        let now = self.t();
        assert!(self.client.modify_local(now, |u| {
            u.push_bytes(bytes);
        }));
    }

    fn typed_bytes_received(&self) -> Vec<u8> {
        self.server_got
            .iter()
            .filter_map(|e| match e {
                UserEvent::Byte(b) => Some(*b),
                _ => None,
            })
            .collect()
    }

    /// Both directions converged: the server has all input, the client the server's screen.
    fn converged(&self) -> bool {
        self.client.local_state().is_empty()
            && self.client.remote_state().1 == self.server.local_state()
    }
}

fn text(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn converges_with_half_loss_reordering_and_duplicates() {
    let mut sim = Sim::new(42);
    let lossy = Link {
        loss: 0.5,
        dup: 0.2,
        delay_ms: 60,
        jitter_ms: 50,
    };
    sim.c2s = lossy;
    sim.s2c = lossy;
    let typed = text(300);
    for (i, b) in typed.iter().enumerate() {
        sim.run_until(i as u64 * 37);
        sim.type_bytes(&[*b]);
        if i % 100 == 99 {
            let now = sim.t();
            sim.client
                .modify_local(now, |u| u.push_resize(100 + i as i32, 40));
        }
    }
    sim.run_until(120_000);
    // Every keystroke arrived exactly once, in order: no state was applied twice.
    assert_eq!(sim.typed_bytes_received(), typed);
    let resizes = sim
        .server_got
        .iter()
        .filter(|e| matches!(e, UserEvent::Resize { .. }))
        .count();
    // The initial 80x24 plus three.
    assert_eq!(resizes, 4);
    assert!(sim.converged());
    assert_eq!(sim.client.remote_state().1.output(), &typed[..]);
    // Reordering and duplicates really happened and were absorbed.
    let s = sim.server.stats();
    assert!(s.out_of_order > 0 && s.instructions_ignored > 0, "{s:?}");
    assert!(sim.max_queues.0 <= SENT_STATES_MAX && sim.max_queues.2 <= SENT_STATES_MAX);
}

#[test]
fn acks_and_throwaway_keep_queues_bounded() {
    let mut sim = Sim::new(7);
    let lossy = Link {
        loss: 0.3,
        dup: 0.05,
        delay_ms: 40,
        jitter_ms: 30,
    };
    sim.c2s = lossy;
    sim.s2c = lossy;
    // Ten minutes of steady typing with echo.
    let mut typed = Vec::new();
    for i in 0..6000u64 {
        sim.run_until(i * 100);
        let b = b'a' + (i % 26) as u8;
        typed.push(b);
        sim.type_bytes(&[b]);
    }
    sim.run_until(600_000 + 30_000);
    assert_eq!(sim.typed_bytes_received(), typed);
    assert!(sim.converged());
    let (cs, cr, ss, sr) = sim.max_queues;
    assert!(
        cs <= SENT_STATES_MAX && ss <= SENT_STATES_MAX,
        "{:?}",
        sim.max_queues
    );
    // Throwaway numbers keep the receivers small (far below the 1024 quench bound).
    assert!(cr < 64 && sr < 64, "{:?}", sim.max_queues);
    // Acknowledged input is subtracted: nothing is retained once acked.
    assert!(sim.client.local_state().is_empty());
    // Once a few heartbeats get through, acks free everything but the newest states.
    sim.c2s = CLEAN;
    sim.s2c = CLEAN;
    sim.run_until(600_000 + 40_000);
    let (a, b) = sim.client.queue_lengths();
    assert!(a <= 2 && b <= 3, "{a} {b}");
}

#[test]
fn idle_heartbeats_match_upstream_and_an_hour_is_fast() {
    let started = std::time::Instant::now();
    let mut sim = Sim::new(3);
    sim.run_until(5_000);
    assert!(sim.converged());
    let (c0, s0) = (sim.sent_c2s, sim.sent_s2c);
    sim.run_until(5_000 + 3_600_000);
    // One empty ack every ACK_INTERVAL (3 s) each way: 20 per minute, 1200 per hour.
    let (c, s) = (sim.sent_c2s - c0, sim.sent_s2c - s0);
    assert!((1199..=1201).contains(&c), "client sent {c}");
    assert!((1199..=1201).contains(&s), "server sent {s}");
    assert!(!sim.client_events.iter().any(|(_, e)| *e == Event::Rebind));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn roam_mid_transfer_via_network_changed() {
    let mut sim = Sim::new(11);
    sim.rebind_kills_old = true;
    sim.c2s.delay_ms = 30;
    sim.s2c.delay_ms = 30;
    sim.run_until(1_000);
    // The server streams output; the client's phone changes network in the middle.
    let mut expected = Vec::new();
    let mut roam_at = 0;
    for i in 0..200u64 {
        sim.run_until(1_000 + i * 50);
        let chunk = format!("line {i:04} {}\r\n", "x".repeat(200)).into_bytes();
        expected.extend_from_slice(&chunk);
        let now = sim.t();
        sim.server.modify_local(now, |h| h.push_output(&chunk));
        if i == 100 {
            roam_at = sim.now;
            sim.client.network_changed(now);
        }
    }
    sim.run_until(20_000);
    assert_eq!(sim.client.remote_state().1.output(), &expected[..]);
    let moved: Vec<_> = sim
        .server_events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::PeerAddressChanged { addr } => Some((*t, *addr)),
            _ => None,
        })
        .collect();
    // First contact, then the roam.
    assert_eq!(moved.len(), 2, "{moved:?}");
    assert_eq!(moved[1].1, sim.client_addr);
    // The client sent from the new socket at once: the server followed after one one-way
    // delay.
    assert!(moved[1].0 - roam_at <= 31, "{} {}", moved[1].0, roam_at);
}

#[test]
fn nat_rebinding_is_followed_without_help() {
    let mut sim = Sim::new(12);
    sim.run_until(2_000);
    // The NAT silently gives the client a new public address.
    let new: SocketAddr = "203.0.113.9:5555".parse().unwrap();
    sim.client_addr = new;
    sim.client_live = vec![new];
    sim.type_bytes(b"ls\r");
    sim.run_until(3_000);
    assert_eq!(sim.server.remote_address(), Some(new));
    assert_eq!(sim.typed_bytes_received(), b"ls\r");
    assert!(sim.converged());
}

#[test]
fn sixty_second_blackout_is_survived() {
    let mut sim = Sim::new(13);
    sim.run_until(5_000);
    sim.blackout = Some((5_000, 65_000));
    sim.type_bytes(b"during");
    sim.run_until(30_000);
    sim.type_bytes(b" blackout");
    sim.run_until(65_000);
    assert!(!sim.converged());
    // The server let go of the silent client after 40 s, as upstream does...
    assert!(
        sim.server_events
            .iter()
            .any(|(t, e)| *e == Event::PeerDetached && *t >= 45_000)
    );
    // ... and the client hopped ports every 10 s or so while nothing came back.
    let hops = sim
        .client_events
        .iter()
        .filter(|(_, e)| *e == Event::Rebind)
        .count();
    assert!((4..=7).contains(&hops), "{hops}");
    // Within a few seconds of the network coming back, everything is in sync again.
    sim.run_until(65_000 + 4_000);
    assert!(sim.converged());
    assert_eq!(sim.typed_bytes_received(), b"during blackout");
    assert_eq!(sim.server.remote_address(), Some(sim.client_addr));
    assert!(!sim.client.is_closed() && !sim.server.is_closed());
}

#[test]
fn forged_and_replayed_datagrams_are_dropped_and_never_roam() {
    let mut sim = Sim::new(14);
    sim.type_bytes(b"hello");
    sim.run_until(2_000);
    let home = sim.client_addr;
    assert_eq!(sim.server.remote_address(), Some(home));
    let before = sim.server.stats();
    let got_before = sim.server_got.clone();
    let attacker: SocketAddr = "192.0.2.66:666".parse().unwrap();
    let now = sim.t();
    let captured = sim.captured_c2s.clone();
    // Garbage and forgeries.
    let mut forged = 0;
    for len in [0usize, 5, 24, 60, 300] {
        let mut junk = vec![0u8; len];
        for b in junk.iter_mut() {
            *b = sim.rng.next_u64() as u8;
        }
        sim.server.handle_datagram(now, attacker, &junk);
        forged += 1;
    }
    for d in &captured {
        let mut flipped = d.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        sim.server.handle_datagram(now, attacker, &flipped);
        forged += 1;
    }
    // Replays of every authentic datagram, from elsewhere and from the client's own address.
    for d in &captured {
        sim.server.handle_datagram(now, attacker, d);
        sim.server.handle_datagram(now, home, d);
    }
    sim.flush();
    let after = sim.server.stats();
    assert_eq!(
        after.dropped_unauthentic - before.dropped_unauthentic,
        forged
    );
    assert_eq!(
        after.out_of_order - before.out_of_order,
        2 * captured.len() as u64
    );
    assert_eq!(sim.server.remote_address(), Some(home));
    assert_eq!(sim.server_got, got_before);
    assert_eq!(sim.typed_bytes_received(), b"hello");
    assert!(
        !sim.server_events
            .iter()
            .any(|(_, e)| *e == Event::PeerAddressChanged { addr: attacker })
    );
    sim.run_until(4_000);
    assert!(sim.converged());
}

#[test]
fn shutdown_handshake_both_ways() {
    // Client-initiated: the server acks and closes, the client sees the ack.
    let mut sim = Sim::new(15);
    sim.run_until(1_000);
    let now = sim.t();
    sim.client.close(now);
    sim.run_until(2_000);
    assert!(
        sim.server_events
            .iter()
            .any(|(_, e)| *e == Event::Closed(CloseReason::PeerShutdown))
    );
    assert!(
        sim.client_events
            .iter()
            .any(|(_, e)| *e == Event::Closed(CloseReason::ShutdownAcknowledged))
    );
    // Server-initiated with an unresponsive client: 16 tries, then give up.
    let mut sim = Sim::new(16);
    sim.run_until(1_000);
    sim.blackout = Some((1_000, 100_000));
    let sent = sim.sent_s2c;
    let now = sim.t();
    sim.server.close(now);
    sim.run_until(20_000);
    assert!(
        sim.server_events
            .iter()
            .any(|(_, e)| *e == Event::Closed(CloseReason::ShutdownUnacknowledged))
    );
    assert_eq!(sim.sent_s2c - sent, 16);
}
