//! A thin tokio driver: owns the UDP sockets and the timer and runs an [`Endpoint`] (a bare
//! [`Connection`], a [`ClientSession`] or a [`HostSession`]) by its polling rules. It is the only
//! code in the project that owns a mosh socket or a protocol timer: `moshkit-client`,
//! `moshkit-server`, the demo and the FFI sessions all run on it, each adding only what is its
//! own (a terminal, a pty, signals, an app's calls) in a `select!` beside
//! [`Driver::next_event`].
//!
//! [`Driver::next_event`] is cancel-safe: everything it does happens synchronously between its
//! single await (socket readiness or the deadline), so a program may `select!` it against its
//! own sources and drop it whenever another branch wins. Sends use `try_send_to` (a full socket
//! drops the datagram, as UDP may; SSP retransmits) and rebinding binds synchronously.
//!
//! Send errors, one policy for every program: `EMSGSIZE` → [`Endpoint::mtu_too_big`]; the
//! address or route vanished (below) → [`Endpoint::send_failed`] (a client then rebinds); a full
//! socket (`EWOULDBLOCK`) or anything else → the datagram is dropped and counted.
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
use crate::session::{ClientEvent, ClientSession, HostEvent, HostSession};
use crate::state::SyncState;
use crate::transport::{RandomSource, SplitMix64};

/// What the driver needs of a sans-IO endpoint. Implemented by [`Connection`],
/// [`ClientSession`] and [`HostSession`].
pub trait Endpoint {
    /// The endpoint's event type.
    type Event: std::fmt::Debug;
    /// Which end this is (only a client rebinds).
    fn side(&self) -> Side;
    /// The peer's address, if known.
    fn remote_address(&self) -> Option<SocketAddr>;
    /// A datagram arrived.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]);
    /// A deadline was reached.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send.
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The next deadline.
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant>;
    /// A send failed because the route or address vanished.
    fn send_failed(&mut self, now: Instant);
    /// A send failed with EMSGSIZE.
    fn mtu_too_big(&mut self);
    /// Whether `event` asks for a fresh socket.
    fn is_rebind(event: &Self::Event) -> bool;
    /// Whether `event` ends the session.
    fn is_closed(event: &Self::Event) -> bool;
}

impl<L: SyncState, R: SyncState> Endpoint for Connection<L, R> {
    type Event = Event;
    fn side(&self) -> Side {
        Connection::side(self)
    }
    fn remote_address(&self) -> Option<SocketAddr> {
        Connection::remote_address(self)
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        Connection::handle_datagram(self, now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Connection::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        Connection::poll_transmit(self, now)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Connection::poll_event(self)
    }
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        Connection::poll_timeout(self, now)
    }
    fn send_failed(&mut self, now: Instant) {
        Connection::send_failed(self, now);
    }
    fn mtu_too_big(&mut self) {
        Connection::mtu_too_big(self);
    }
    fn is_rebind(event: &Event) -> bool {
        *event == Event::Rebind
    }
    fn is_closed(event: &Event) -> bool {
        matches!(event, Event::Closed(_))
    }
}

impl Endpoint for ClientSession {
    type Event = ClientEvent;
    fn side(&self) -> Side {
        Side::Client
    }
    fn remote_address(&self) -> Option<SocketAddr> {
        self.connection().remote_address()
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        ClientSession::handle_datagram(self, now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        ClientSession::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        ClientSession::poll_transmit(self, now)
    }
    fn poll_event(&mut self) -> Option<ClientEvent> {
        ClientSession::poll_event(self)
    }
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        ClientSession::poll_timeout(self, now)
    }
    fn send_failed(&mut self, now: Instant) {
        ClientSession::send_failed(self, now);
    }
    fn mtu_too_big(&mut self) {
        ClientSession::mtu_too_big(self);
    }
    fn is_rebind(event: &ClientEvent) -> bool {
        *event == ClientEvent::Rebind
    }
    fn is_closed(event: &ClientEvent) -> bool {
        matches!(event, ClientEvent::Closed(_))
    }
}

impl Endpoint for HostSession {
    type Event = HostEvent;
    fn side(&self) -> Side {
        Side::Server
    }
    fn remote_address(&self) -> Option<SocketAddr> {
        self.connection().remote_address()
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        HostSession::handle_datagram(self, now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        HostSession::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        HostSession::poll_transmit(self, now)
    }
    fn poll_event(&mut self) -> Option<HostEvent> {
        HostSession::poll_event(self)
    }
    fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        HostSession::poll_timeout(self, now)
    }
    fn send_failed(&mut self, _now: Instant) {}
    fn mtu_too_big(&mut self) {
        HostSession::mtu_too_big(self);
    }
    fn is_rebind(_: &HostEvent) -> bool {
        false
    }
    fn is_closed(event: &HostEvent) -> bool {
        matches!(event, HostEvent::Closed(_))
    }
}

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
    /// Receives (readiness through the runtime).
    socket: UdpSocket,
    /// The same socket (a duplicate descriptor, non-blocking) for sending: a plain `sendto`
    /// goes out at once, where tokio's `try_send_to` refuses until the runtime has seen the
    /// socket become writable (it drops the first datagrams of a fresh socket).
    sender: std::net::UdpSocket,
    created: Instant,
}

impl Sock {
    /// Takes a bound standard socket. Needs a runtime context.
    fn new(socket: std::net::UdpSocket) -> io::Result<Sock> {
        socket.set_nonblocking(true)?;
        let sender = socket.try_clone()?;
        Ok(Sock {
            socket: UdpSocket::from_std(socket)?,
            sender,
            created: Instant::now(),
        })
    }
}

/// Datagrams [`Driver::next_event`] handles before it lets other futures run.
const DATAGRAMS_PER_YIELD: u32 = 64;

/// What became of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendOutcome {
    Sent,
    /// `EMSGSIZE`: the endpoint must lower its MTU.
    TooBig,
    /// The address or route vanished: the endpoint must rebind (a client) or wait.
    NetworkGone,
    /// Dropped (a full socket, no socket, another error): SSP retransmits.
    Dropped,
}

/// The sockets of one endpoint and the one roaming policy: the newest sends, all receive;
/// a rebind adds a socket of the same family; old ones are pruned as upstream prunes them.
struct SocketSet {
    /// Oldest first.
    list: Vec<Sock>,
    bind_ip: IpAddr,
}

impl SocketSet {
    fn new(sock: Sock, bind_ip: IpAddr) -> Self {
        SocketSet {
            list: vec![sock],
            bind_ip,
        }
    }

    /// Binds a fresh socket of the family now (synchronously: needs a runtime context, which
    /// every caller, an async fn of the driver, has). A failure keeps the old sockets.
    fn rebind(&mut self) -> bool {
        match std::net::UdpSocket::bind((self.bind_ip, 0)).and_then(Sock::new) {
            Ok(sock) => {
                log::info!("client now sending from {:?}", sock.sender.local_addr());
                self.list.push(sock);
                self.prune();
                true
            }
            Err(e) => {
                log::warn!("rebind failed, keeping old sockets: {e}");
                false
            }
        }
    }

    fn prune(&mut self) {
        if let Some(newest) = self.list.last() {
            let age = newest.created.elapsed();
            if self.list.len() > 1 && age > Duration::from_millis(MAX_OLD_SOCKET_AGE_MS) {
                let keep = self.list.len() - 1;
                self.list.drain(..keep);
            }
        }
        while self.list.len() > MAX_PORTS_OPEN {
            self.list.remove(0);
        }
    }

    fn send(&self, tx: &Transmit) -> SendOutcome {
        let Some(sock) = self.list.last() else {
            return SendOutcome::Dropped;
        };
        match sock.sender.send_to(&tx.contents, tx.destination) {
            Ok(_) => SendOutcome::Sent,
            Err(e) => {
                log::warn!("sendto {}: {e}", tx.destination);
                if message_too_big(&e) {
                    SendOutcome::TooBig
                } else if network_gone(&e) {
                    SendOutcome::NetworkGone
                } else {
                    SendOutcome::Dropped
                }
            }
        }
    }
}

/// Runs one [`Endpoint`] over UDP.
pub struct Driver<E: Endpoint> {
    endpoint: E,
    sockets: SocketSet,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<E::Event>,
    stats: DriverStats,
    closed: bool,
}

impl<E: Endpoint + std::fmt::Debug> std::fmt::Debug for Driver<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("endpoint", &self.endpoint)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Errors that mean the address or route the socket sends from vanished (a client rebinds).
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

impl<L: SyncState, R: SyncState> Driver<Connection<L, R>> {
    /// Change the local state now (e.g. push keystrokes); sent by the next
    /// [`Driver::next_event`] call.
    pub fn modify_local(&mut self, f: impl FnOnce(&mut L)) -> bool {
        self.endpoint.modify_local(Instant::now(), f)
    }

    /// The device's network changed: rebind and resend at once.
    pub fn network_changed(&mut self) {
        self.endpoint.network_changed(Instant::now());
    }

    /// Start the shutdown handshake; [`Driver::next_event`] reports its end.
    pub fn close(&mut self) {
        self.endpoint.close(Instant::now());
    }

    /// The connection (read access: remote state, stats).
    pub fn connection(&self) -> &Connection<L, R> {
        &self.endpoint
    }
}

fn wildcard_for(addr: Option<SocketAddr>) -> IpAddr {
    match addr {
        Some(SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

impl<E: Endpoint> Driver<E> {
    /// Drive a client endpoint from a fresh socket of the server address's family.
    pub async fn client(conn: E) -> Result<Self, DriverError> {
        let bind_ip = wildcard_for(conn.remote_address());
        let sock = std::net::UdpSocket::bind((bind_ip, 0))
            .and_then(Sock::new)
            .map_err(DriverError::Bind)?;
        Ok(Self::with_socket(conn, sock, bind_ip))
    }

    /// Drive a server endpoint on an already bound socket.
    pub fn server(conn: E, socket: UdpSocket) -> Result<Self, DriverError> {
        Self::server_std(conn, socket.into_std().map_err(DriverError::Bind)?)
    }

    /// Drive a server endpoint on a socket bound with the standard library (e.g. by
    /// `moshkit-server`'s port-range search). Must be called within a tokio runtime.
    pub fn server_std(conn: E, socket: std::net::UdpSocket) -> Result<Self, DriverError> {
        let bind_ip = socket
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let sock = Sock::new(socket).map_err(DriverError::Bind)?;
        Ok(Self::with_socket(conn, sock, bind_ip))
    }

    fn with_socket(endpoint: E, sock: Sock, bind_ip: IpAddr) -> Self {
        Driver {
            endpoint,
            sockets: SocketSet::new(sock, bind_ip),
            buf: vec![0; RECEIVE_MTU + 1],
            pending: Default::default(),
            stats: DriverStats {
                sockets_open: 1,
                ..Default::default()
            },
            closed: false,
        }
    }

    /// The endpoint (read access).
    pub fn endpoint(&self) -> &E {
        &self.endpoint
    }

    /// The endpoint, to feed it input (keystrokes, resizes, ...). Whatever it then has to send
    /// goes out at the next [`Driver::next_event`] call.
    pub fn endpoint_mut(&mut self) -> &mut E {
        &mut self.endpoint
    }

    /// Takes the endpoint back (after the session ended).
    pub fn into_endpoint(self) -> E {
        self.endpoint
    }

    /// The address of the socket datagrams are sent from.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.sockets
            .list
            .last()
            .and_then(|s| s.socket.local_addr().ok())
    }

    /// Counters.
    pub fn stats(&self) -> DriverStats {
        DriverStats {
            sockets_open: self.sockets.list.len(),
            ..self.stats
        }
    }

    fn rebind(&mut self) {
        if self.endpoint.side() == Side::Client && self.sockets.rebind() {
            self.stats.rebinds += 1;
        }
    }

    fn send(&mut self, tx: &Transmit) {
        match self.sockets.send(tx) {
            SendOutcome::Sent => {}
            outcome => {
                self.stats.send_errors += 1;
                match outcome {
                    SendOutcome::TooBig => self.endpoint.mtu_too_big(),
                    SendOutcome::NetworkGone => self.endpoint.send_failed(Instant::now()),
                    _ => {}
                }
            }
        }
    }

    /// Apply the polling rules until nothing is left to send (bounded; synchronous, so a
    /// cancelled [`Driver::next_event`] never stops half-way).
    fn flush(&mut self) {
        for _ in 0..1000 {
            let mut progress = false;
            while let Some(ev) = self.endpoint.poll_event() {
                progress = true;
                if E::is_rebind(&ev) {
                    self.rebind();
                }
                self.pending.push_back(ev);
            }
            if let Some(tx) = self.endpoint.poll_transmit(Instant::now()) {
                progress = true;
                self.send(&tx);
            }
            if !progress {
                self.sockets.prune();
                return;
            }
        }
    }

    /// Run the connection until it has an event for the application. After
    /// [`Event::Closed`] has been returned, further calls return [`DriverError::Closed`].
    /// Cancel-safe (see the module documentation).
    pub async fn next_event(&mut self) -> Result<E::Event, DriverError> {
        let mut handled = 0u32;
        loop {
            // A stream of datagrams that cause no event (a flood, or a long transfer) must not
            // starve the program's other sources in its `select!`: yield now and then. The
            // state is consistent here, so being dropped at this await is harmless.
            if handled >= DATAGRAMS_PER_YIELD {
                handled = 0;
                tokio::task::yield_now().await;
            }
            if let Some(ev) = self.pending.pop_front() {
                if E::is_closed(&ev) {
                    self.closed = true;
                }
                return Ok(ev);
            }
            if self.closed {
                return Err(DriverError::Closed);
            }
            self.flush();
            if !self.pending.is_empty() {
                continue;
            }
            let deadline = self.endpoint.poll_timeout(Instant::now());
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let newest = self.sockets.list.len().saturating_sub(1);
            let sockets = &self.sockets.list;
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
                        self.endpoint.handle_datagram(Instant::now(), from, &data);
                        handled += 1;
                    }
                    Err(e) => {
                        log::debug!("recv: {e}");
                        // A broken old socket is dropped; the newest one is replaced.
                        if i == newest {
                            if network_gone(&e) {
                                self.endpoint.send_failed(Instant::now());
                            }
                        } else {
                            self.sockets.list.remove(i);
                        }
                    }
                },
                _ = sleep => self.endpoint.handle_timeout(Instant::now()),
            }
        }
    }
}
