//! A UDP impairment relay on loopback: client → relay → server and back, delaying and
//! dropping datagrams with a seeded RNG. Used by `moshkit demo` (`--delay`, `--loss`) and by
//! the interoperability tests (loss, and roaming: [`RelayHandle::rebind_upstream`] makes the
//! server see the client move to a new source port).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moshkit_core::{RandomSource, SplitMix64};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// How the relay impairs traffic (both directions alike).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// One-way delay added to every datagram.
    pub delay: Duration,
    /// Probability (0–100) that a datagram is dropped.
    pub loss_percent: f64,
    /// RNG seed for the drop decisions (same seed, same drops).
    pub seed: u64,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            delay: Duration::ZERO,
            loss_percent: 0.0,
            seed: 1,
        }
    }
}

/// Most datagrams held in flight per direction (older ones are dropped beyond this).
const MAX_QUEUE: usize = 4096;
/// Longest single wait of the relay thread (it checks its stop flag at least this often).
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Counters of a running relay.
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Datagrams forwarded (both directions).
    pub forwarded: AtomicU64,
    /// Datagrams dropped on purpose.
    pub dropped: AtomicU64,
}

/// A running relay; dropping it stops the thread.
#[derive(Debug)]
pub struct RelayHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    rebind: Arc<AtomicBool>,
    blackout: Arc<AtomicBool>,
    counters: Arc<RelayCounters>,
    thread: Option<JoinHandle<()>>,
}

impl RelayHandle {
    /// Where clients should send (127.0.0.1:port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replace the socket facing the server: the server sees the client roam to a new port.
    pub fn rebind_upstream(&self) {
        self.rebind.store(true, Ordering::SeqCst);
    }

    /// Drops every datagram, both ways, while `on` (a total outage).
    pub fn set_blackout(&self, on: bool) {
        self.blackout.store(on, Ordering::SeqCst);
    }

    /// Counters.
    pub fn counters(&self) -> &RelayCounters {
        &self.counters
    }

    /// Stops the relay and waits for its thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a relay on 127.0.0.1 (ephemeral port) forwarding to `server`.
pub fn spawn_relay(server: SocketAddr, impairment: Impairment) -> std::io::Result<RelayHandle> {
    let front = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let back = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    front.set_nonblocking(true)?;
    back.set_nonblocking(true)?;
    let addr = front.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let rebind = Arc::new(AtomicBool::new(false));
    let blackout = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(RelayCounters::default());
    let mut relay = Relay {
        front,
        back,
        server,
        client: None,
        impairment,
        rng: SplitMix64::new(impairment.seed),
        to_server: VecDeque::new(),
        to_client: VecDeque::new(),
        counters: counters.clone(),
        blackout: blackout.clone(),
    };
    let (s, r) = (stop.clone(), rebind.clone());
    let thread = std::thread::Builder::new()
        .name("moshkit-relay".into())
        .spawn(move || relay.run(&s, &r))?;
    Ok(RelayHandle {
        addr,
        stop,
        rebind,
        blackout,
        counters,
        thread: Some(thread),
    })
}

struct Relay {
    front: UdpSocket,
    back: UdpSocket,
    server: SocketAddr,
    client: Option<SocketAddr>,
    impairment: Impairment,
    rng: SplitMix64,
    to_server: VecDeque<(Instant, Vec<u8>)>,
    to_client: VecDeque<(Instant, Vec<u8>)>,
    counters: Arc<RelayCounters>,
    blackout: Arc<AtomicBool>,
}

impl Relay {
    fn drop_this(&mut self) -> bool {
        if self.blackout.load(Ordering::Relaxed) {
            return true;
        }
        if self.impairment.loss_percent <= 0.0 {
            return false;
        }
        let mut b = [0u8; 8];
        self.rng.fill(&mut b);
        let x = (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
        x * 100.0 < self.impairment.loss_percent
    }

    fn enqueue(&mut self, to_server: bool, data: Vec<u8>, now: Instant) {
        if self.drop_this() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let q = if to_server {
            &mut self.to_server
        } else {
            &mut self.to_client
        };
        if q.len() >= MAX_QUEUE {
            q.pop_front();
        }
        q.push_back((now + self.impairment.delay, data));
    }

    fn run(&mut self, stop: &AtomicBool, rebind: &AtomicBool) {
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::SeqCst) {
            if rebind.swap(false, Ordering::SeqCst) {
                match UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|s| {
                    s.set_nonblocking(true)?;
                    Ok(s)
                }) {
                    Ok(s) => self.back = s,
                    Err(e) => log::warn!("relay rebind: {e}"),
                }
            }
            let now = Instant::now();
            let next = [self.to_server.front(), self.to_client.front()]
                .into_iter()
                .flatten()
                .map(|(t, _)| t.saturating_duration_since(now))
                .min()
                .unwrap_or(MAX_WAIT)
                .min(MAX_WAIT);
            let (front_ready, back_ready) = {
                let mut fds = [
                    PollFd::new(self.front.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.back.as_fd(), PollFlags::POLLIN),
                ];
                let t = PollTimeout::try_from(next).unwrap_or(PollTimeout::MAX);
                if poll(&mut fds, t).is_err() {
                    continue;
                }
                let r = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
                (r(&fds[0]), r(&fds[1]))
            };
            let now = Instant::now();
            if front_ready {
                for _ in 0..64 {
                    match self.front.recv_from(&mut buf) {
                        Ok((n, from)) => {
                            self.client = Some(from);
                            self.enqueue(true, buf[..n].to_vec(), now);
                        }
                        Err(_) => break,
                    }
                }
            }
            if back_ready {
                for _ in 0..64 {
                    match self.back.recv_from(&mut buf) {
                        Ok((n, from)) if from == self.server => {
                            self.enqueue(false, buf[..n].to_vec(), now);
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            }
            while self.to_server.front().is_some_and(|(t, _)| *t <= now) {
                if let Some((_, d)) = self.to_server.pop_front() {
                    let _ = self.back.send_to(&d, self.server);
                    self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
                }
            }
            while self.to_client.front().is_some_and(|(t, _)| *t <= now) {
                if let Some((_, d)) = self.to_client.pop_front()
                    && let Some(c) = self.client
                {
                    let _ = self.front.send_to(&d, c);
                    self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_both_ways_and_drops_deterministically() {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        server
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let relay = spawn_relay(
            server.local_addr().expect("addr"),
            Impairment {
                delay: Duration::from_millis(30),
                loss_percent: 0.0,
                seed: 7,
            },
        )
        .expect("relay");
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let t0 = Instant::now();
        client.send_to(b"ping", relay.addr()).expect("send");
        let mut buf = [0u8; 16];
        let (n, from) = server.recv_from(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"ping");
        assert!(t0.elapsed() >= Duration::from_millis(30));
        server.send_to(b"pong", from).expect("send");
        let (n, _) = client.recv_from(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"pong");
        // Roam: the server now sees a different source port.
        relay.rebind_upstream();
        std::thread::sleep(Duration::from_millis(100));
        client.send_to(b"again", relay.addr()).expect("send");
        let (_, from2) = server.recv_from(&mut buf).expect("recv");
        assert_ne!(from, from2);

        // Loss: the same seed drops the same share.
        let mut r = Relay {
            front: UdpSocket::bind("127.0.0.1:0").expect("bind"),
            back: UdpSocket::bind("127.0.0.1:0").expect("bind"),
            server: from,
            client: None,
            impairment: Impairment {
                delay: Duration::ZERO,
                loss_percent: 30.0,
                seed: 42,
            },
            rng: SplitMix64::new(42),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            counters: Arc::new(RelayCounters::default()),
            blackout: Arc::new(AtomicBool::new(false)),
        };
        let dropped = (0..10_000).filter(|_| r.drop_this()).count();
        assert!((2_700..3_300).contains(&dropped), "{dropped}");
    }
}
