//! A deterministic, seeded network model for simulated-time tests: per-direction delay, jitter,
//! loss and duplication, plus blackouts. Datagrams are queued with their arrival time; the test
//! advances virtual time and delivers what is due.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use moshkit_core::transport::SplitMix64;

/// One direction's impairments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is duplicated.
    pub dup: f64,
    /// One-way delay in ms.
    pub delay_ms: u64,
    /// Uniform jitter of ± this many ms around the delay (reorders datagrams).
    pub jitter_ms: u64,
}

impl Link {
    /// A clean link with the given one-way delay.
    pub const fn delay(delay_ms: u64) -> Link {
        Link {
            loss: 0.0,
            dup: 0.0,
            delay_ms,
            jitter_ms: 0,
        }
    }
}

/// A datagram in flight.
#[derive(Debug, Clone)]
pub struct Flight {
    /// Sender address.
    pub from: SocketAddr,
    /// Destination address.
    pub to: SocketAddr,
    /// UDP payload.
    pub data: Vec<u8>,
}

/// The network between the endpoints.
pub struct Network {
    rng: SplitMix64,
    flights: BTreeMap<(u64, u64), Flight>,
    seq: u64,
    /// Datagrams sent during `[start, end)` ms are lost.
    pub blackout: Option<(u64, u64)>,
    /// Datagrams offered to the network.
    pub offered: u64,
    /// With `watch_from` set: when the first datagram sent at or after it arrives.
    pub watch_from: Option<u64>,
    pub first_through: Option<u64>,
}

impl Network {
    /// An empty network with a seeded random source.
    pub fn new(seed: u64) -> Self {
        Network {
            rng: SplitMix64::new(seed),
            flights: BTreeMap::new(),
            seq: 0,
            blackout: None,
            offered: 0,
            watch_from: None,
            first_through: None,
        }
    }

    /// A uniform random number in [0, 1).
    pub fn random(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Offer a datagram at virtual time `now_ms` over `link`.
    pub fn send(
        &mut self,
        now_ms: u64,
        link: Link,
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    ) {
        self.offered += 1;
        if self.blackout.is_some_and(|(a, b)| (a..b).contains(&now_ms)) {
            return;
        }
        if self.random() < link.loss {
            return;
        }
        let copies = if self.random() < link.dup { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = if link.jitter_ms > 0 {
                self.rng.next_u64() % (2 * link.jitter_ms + 1)
            } else {
                0
            };
            let at = now_ms + link.delay_ms.saturating_sub(link.jitter_ms) + jitter;
            if self.watch_from.is_some_and(|w| now_ms >= w) {
                self.first_through = Some(self.first_through.map_or(at, |f| f.min(at)));
            }
            self.seq += 1;
            self.flights.insert(
                (at, self.seq),
                Flight {
                    from,
                    to,
                    data: data.clone(),
                },
            );
        }
    }

    /// When the next datagram arrives, in ms.
    pub fn next_arrival(&self) -> Option<u64> {
        self.flights.keys().next().map(|k| k.0)
    }

    /// Remove and return the datagrams due by `now_ms`, in arrival order.
    pub fn due(&mut self, now_ms: u64) -> Vec<Flight> {
        let mut out = Vec::new();
        while let Some(entry) = self.flights.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            out.push(entry.remove());
        }
        out
    }
}
