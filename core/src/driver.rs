//! A thin tokio driver: owns the UDP sockets and the timer and runs a [`Connection`] by its
//! polling rules. It is the only code in the crate that does I/O or reads the clock.
//!
//! Client roaming: on [`Event::Rebind`] (after upstream's 10 s of silence, after
//! [`Driver::network_changed`], or after a send fails because the address or route vanished:
//! `EADDRNOTAVAIL`, `ENETUNREACH`, `EHOSTUNREACH`, `ENETDOWN`, `EPERM`) the driver binds a fresh
//! socket of the same family and sends from it; older sockets keep receiving until they are
//! pruned as upstream prunes them (at most [`MAX_PORTS_OPEN`], and none older than the newest
//! once it is [`MAX_OLD_SOCKET_AGE_MS`] old). A failed bind is retried at the next rebind; it
//! never ends the session.

use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

use crate::connection::{Connection, Event, MAX_OLD_SOCKET_AGE_MS, MAX_PORTS_OPEN, Side, Transmit};
use crate::crypto::RECEIVE_MTU;
use crate::state::SyncState;
use crate::transport::{RandomSource, SplitMix64};

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// No socket could be bound at all.
    #[error("cannot bind a UDP socket: {0}")]
    Bind(#[source] io::Error),
    /// The connection is closed; no more events will come.
    #[error("connection closed")]
    Closed,
}

/// Counters kept by the driver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Sockets currently open.
    pub sockets_open: usize,
    /// Datagrams received on the newest socket.
    pub received_on_newest: u64,
    /// Datagrams received on an older socket.
    pub received_on_older: u64,
    /// Sends that failed.
    pub send_errors: u64,
    /// Sockets bound after the first.
    pub rebinds: u64,
}

/// A chaff source seeded from the operating system (via std's `RandomState`).
pub fn os_random() -> Box<dyn RandomSource> {
    use std::hash::BuildHasher;
    let seed = std::collections::hash_map::RandomState::new().hash_one(0x6d6f_7368_u64);
    Box::new(SplitMix64::new(seed))
}

struct Sock {
    socket: UdpSocket,
    created: Instant,
}

/// Runs one [`Connection`] over UDP.
pub struct Driver<L, R> {
    conn: Connection<L, R>,
    /// Oldest first; the newest sends.
    sockets: Vec<Sock>,
    bind_ip: IpAddr,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<Event>,
    stats: DriverStats,
    closed: bool,
}

impl<L, R> std::fmt::Debug for Driver<L, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("conn", &self.conn)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn network_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::PermissionDenied
    )
}

fn message_too_big(e: &io::Error) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const EMSGSIZE: i32 = 90;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const EMSGSIZE: i32 = 40;
    e.raw_os_error() == Some(EMSGSIZE)
}

impl<L: SyncState, R: SyncState> Driver<L, R> {
    /// Drive a client connection from a fresh socket of the server address's family.
    pub async fn client(conn: Connection<L, R>) -> Result<Self, DriverError> {
        let bind_ip = match conn.remote_address() {
            Some(SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        let socket = UdpSocket::bind((bind_ip, 0))
            .await
            .map_err(DriverError::Bind)?;
        Ok(Self::with_socket(conn, socket, bind_ip))
    }

    /// Drive a server connection on an already bound socket.
    pub fn server(conn: Connection<L, R>, socket: UdpSocket) -> Self {
        let bind_ip = socket
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Self::with_socket(conn, socket, bind_ip)
    }

    fn with_socket(conn: Connection<L, R>, socket: UdpSocket, bind_ip: IpAddr) -> Self {
        Driver {
            conn,
            sockets: vec![Sock {
                socket,
                created: Instant::now(),
            }],
            bind_ip,
            buf: vec![0; RECEIVE_MTU + 1],
            pending: Default::default(),
            stats: DriverStats {
                sockets_open: 1,
                ..Default::default()
            },
            closed: false,
        }
    }

    /// The connection (read access: remote state, stats).
    pub fn connection(&self) -> &Connection<L, R> {
        &self.conn
    }

    /// Change the local state now (e.g. push keystrokes); sent by the next
    /// [`Driver::next_event`] call.
    pub fn modify_local(&mut self, f: impl FnOnce(&mut L)) -> bool {
        self.conn.modify_local(Instant::now(), f)
    }

    /// The device's network changed: rebind and resend at once.
    pub fn network_changed(&mut self) {
        self.conn.network_changed(Instant::now());
    }

    /// Start the shutdown handshake; [`Driver::next_event`] reports its end.
    pub fn close(&mut self) {
        self.conn.close(Instant::now());
    }

    /// The address of the socket datagrams are sent from.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.sockets.last().and_then(|s| s.socket.local_addr().ok())
    }

    /// Counters.
    pub fn stats(&self) -> DriverStats {
        DriverStats {
            sockets_open: self.sockets.len(),
            ..self.stats
        }
    }

    async fn rebind(&mut self) {
        if self.conn.side() != Side::Client {
            return;
        }
        match UdpSocket::bind((self.bind_ip, 0)).await {
            Ok(socket) => {
                log::info!("client now sending from {:?}", socket.local_addr());
                self.sockets.push(Sock {
                    socket,
                    created: Instant::now(),
                });
                self.stats.rebinds += 1;
                self.prune();
            }
            Err(e) => log::warn!("rebind failed, keeping old sockets: {e}"),
        }
    }

    fn prune(&mut self) {
        if let Some(newest) = self.sockets.last() {
            let age = newest.created.elapsed();
            if self.sockets.len() > 1 && age > Duration::from_millis(MAX_OLD_SOCKET_AGE_MS) {
                let keep = self.sockets.len() - 1;
                self.sockets.drain(..keep);
            }
        }
        while self.sockets.len() > MAX_PORTS_OPEN {
            self.sockets.remove(0);
        }
    }

    async fn send(&mut self, tx: Transmit) {
        let Some(sock) = self.sockets.last() else {
            return;
        };
        if let Err(e) = sock.socket.send_to(&tx.contents, tx.destination).await {
            self.stats.send_errors += 1;
            log::warn!("sendto: {e}");
            if message_too_big(&e) {
                self.conn.mtu_too_big();
            } else if network_gone(&e) {
                self.conn.send_failed(Instant::now());
            }
        }
    }

    /// Apply the polling rules until nothing is left to send.
    async fn flush(&mut self) {
        for _ in 0..1000 {
            let mut progress = false;
            while let Some(ev) = self.conn.poll_event() {
                progress = true;
                if ev == Event::Rebind {
                    self.rebind().await;
                }
                self.pending.push_back(ev);
            }
            if let Some(tx) = self.conn.poll_transmit(Instant::now()) {
                progress = true;
                self.send(tx).await;
            }
            if !progress {
                return;
            }
        }
    }

    /// Run the connection until it has an event for the application. After
    /// [`Event::Closed`] has been returned, further calls return [`DriverError::Closed`].
    pub async fn next_event(&mut self) -> Result<Event, DriverError> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                if matches!(ev, Event::Closed(_)) {
                    self.closed = true;
                }
                return Ok(ev);
            }
            if self.closed {
                return Err(DriverError::Closed);
            }
            self.flush().await;
            if !self.pending.is_empty() {
                continue;
            }
            let deadline = self.conn.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let newest = self.sockets.len().saturating_sub(1);
            let sockets = &self.sockets;
            let buf = &mut self.buf;
            let recv = poll_fn(|cx| {
                for (i, s) in sockets.iter().enumerate().rev() {
                    let mut rb = ReadBuf::new(buf);
                    match s.socket.poll_recv_from(cx, &mut rb) {
                        Poll::Ready(Ok(from)) => {
                            let n = rb.filled().len();
                            return Poll::Ready((i, Ok((n, from))));
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready((i, Err(e))),
                        Poll::Pending => {}
                    }
                }
                Poll::Pending
            });
            tokio::select! {
                (i, r) = recv => match r {
                    Ok((n, from)) => {
                        if i == newest {
                            self.stats.received_on_newest += 1;
                        } else {
                            self.stats.received_on_older += 1;
                        }
                        let data = self.buf[..n].to_vec();
                        self.conn.handle_datagram(Instant::now(), from, &data);
                    }
                    Err(e) => {
                        log::debug!("recv: {e}");
                        // A broken old socket is dropped; the newest one is replaced.
                        if i == newest {
                            if network_gone(&e) {
                                self.conn.send_failed(Instant::now());
                            }
                        } else {
                            self.sockets.remove(i);
                        }
                    }
                },
                _ = sleep => self.conn.handle_timeout(Instant::now()),
            }
        }
    }
}
