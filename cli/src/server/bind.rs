//! Binding the server's UDP socket (reference §2.3).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrStorage, bind, setsockopt, socket, sockopt,
};
use thiserror::Error;

use super::args::PortRange;

/// No address/port combination could be bound.
#[derive(Debug, Error)]
#[error("Network exception: bind: {last_error}")]
pub struct BindError {
    /// Diagnostics collected while trying (printed before the error).
    pub warnings: Vec<String>,
    /// The error of the last attempt.
    pub last_error: std::io::Error,
}

/// A bound socket plus the non-fatal diagnostics upstream prints on the way.
#[derive(Debug)]
pub struct Bound {
    /// The socket (blocking mode).
    pub socket: UdpSocket,
    /// Diagnostics for stderr (e.g. a failed `-i` address before the wildcard fallback).
    pub warnings: Vec<String>,
}

fn bind_one(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    if let SocketAddr::V6(v6) = addr
        && v6.ip().is_unspecified()
    {
        // Dual stack for the IPv6 wildcard, as upstream does.
        setsockopt(&fd, sockopt::Ipv6V6Only, &false)?;
    }
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    )?;
    Ok(UdpSocket::from(fd))
}

/// Tries every port of `ports` on `ip`, in increasing order; returns the first success or the
/// last error.
pub fn bind_range(ip: IpAddr, ports: PortRange) -> std::io::Result<UdpSocket> {
    let mut last = std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty port range");
    for port in ports.low..=ports.high {
        match bind_one(SocketAddr::new(ip, port)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn describe(ip: IpAddr, ports: PortRange) -> String {
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    if ports.low == ports.high {
        format!("{host}:{}", ports.low)
    } else {
        format!("{host}:{}-{}", ports.low, ports.high)
    }
}

/// Binds like upstream: the requested IP (numeric only) first, then the wildcard.
///
/// The wildcard is `0.0.0.0` (what upstream's `getaddrinfo(NULL, AI_PASSIVE)` yields first on
/// glibc, observed), falling back to a dual-stack `[::]` when IPv4 is unavailable. An explicit
/// `-i ::` is dual stack too.
pub fn bind_server_socket(desired_ip: Option<&str>, ports: PortRange) -> Result<Bound, BindError> {
    let mut warnings = Vec::new();
    let mut last_error = std::io::Error::other("no address tried");
    if let Some(text) = desired_ip {
        match text.parse::<IpAddr>() {
            Ok(ip) => match bind_range(ip, ports) {
                Ok(socket) => return Ok(Bound { socket, warnings }),
                Err(e) => {
                    warnings.push(format!("Failed binding to {}", describe(ip, ports)));
                    warnings.push(format!("Error binding to IP {text}: bind: {e}"));
                    last_error = e;
                }
            },
            Err(_) => warnings.push(format!(
                "Error binding to IP {text}: Bad IP address ({text})"
            )),
        }
    }
    for ip in [
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    ] {
        match bind_range(ip, ports) {
            Ok(socket) => return Ok(Bound { socket, warnings }),
            Err(e) => {
                let unsupported = e.raw_os_error() == Some(libc::EAFNOSUPPORT);
                if !unsupported {
                    warnings.push(format!("Failed binding to {}", describe(ip, ports)));
                    warnings.push(format!("Error binding to any interface: bind: {e}"));
                    last_error = e;
                    break;
                }
                last_error = e;
            }
        }
    }
    Err(BindError {
        warnings,
        last_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_loopback_port_zero() {
        let b = bind_server_socket(Some("127.0.0.1"), PortRange { low: 0, high: 0 }).expect("bind");
        let local = b.socket.local_addr().expect("addr");
        assert_eq!(local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_ne!(local.port(), 0);
        assert!(b.warnings.is_empty());
    }

    #[test]
    fn range_skips_busy_ports_and_reports_exhaustion() {
        // Occupy one port, then ask for a range starting at it.
        let first = bind_range(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            PortRange { low: 0, high: 0 },
        )
        .expect("bind");
        let busy = first.local_addr().expect("addr").port();
        if busy == u16::MAX {
            return;
        }
        let range = PortRange {
            low: busy,
            high: busy + 1,
        };
        match bind_range(IpAddr::V4(Ipv4Addr::LOCALHOST), range) {
            Ok(s) => assert_eq!(s.local_addr().expect("addr").port(), busy + 1),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse),
        }
        let err = bind_range(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            PortRange {
                low: busy,
                high: busy,
            },
        )
        .expect_err("busy");
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    }

    #[test]
    fn bad_ip_falls_back_to_wildcard_with_warning() {
        let b = bind_server_socket(Some("notanip"), PortRange { low: 0, high: 0 }).expect("bind");
        assert_eq!(
            b.warnings,
            vec!["Error binding to IP notanip: Bad IP address (notanip)"]
        );
        assert!(b.socket.local_addr().expect("addr").ip().is_unspecified());
    }

    #[test]
    fn ipv6_wildcard_is_dual_stack() {
        let Ok(sock) = bind_range(
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            PortRange { low: 0, high: 0 },
        ) else {
            return; // no IPv6 on this host
        };
        let port = sock.local_addr().expect("addr").port();
        let sender = UdpSocket::bind("127.0.0.1:0").expect("sender");
        sender.send_to(b"ping", ("127.0.0.1", port)).expect("send");
        sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = [0u8; 16];
        let (n, from) = sock.recv_from(&mut buf).expect("v4 datagram on v6 socket");
        assert_eq!(&buf[..n], b"ping");
        assert!(matches!(from, SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some()));
    }
}
