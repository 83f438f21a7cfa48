//! Where the registry listens: `HOST:PORT` with an IP address or a name (`localhost:5000`),
//! or `:PORT` for every interface, IPv4 and IPv6, as distribution's `addr` means it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use tokio::net::TcpListener;

/// How many connections wait in the kernel for `accept` (Go's and nginx's default is the
/// system's `somaxconn`; 1024 is what tokio's own `bind` uses).
const BACKLOG: i32 = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// An IP address and port: `127.0.0.1:5000`, `[::1]:5000`, `0.0.0.0:5000`.
    Socket(SocketAddr),
    /// A host name and port, resolved when binding: `localhost:5000`.
    Host { host: String, port: u16 },
    /// `:5000`: every interface.
    Everywhere { port: u16 },
}

#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not an address to listen on: use `HOST:PORT` (`127.0.0.1:5000`, `[::1]:5000`, `localhost:5000`) or `:PORT` for every interface (`:5000`)"
)]
pub struct BadListenAddr(String);

impl FromStr for ListenAddr {
    type Err = BadListenAddr;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadListenAddr(text.to_string());
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(ListenAddr::Socket(addr));
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() {
            return Ok(ListenAddr::Everywhere { port });
        }
        let is_name = host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !is_name || host.parse::<IpAddr>().is_ok() {
            return Err(bad());
        }
        Ok(ListenAddr::Host {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Socket(addr) => write!(f, "{addr}"),
            ListenAddr::Host { host, port } => write!(f, "{host}:{port}"),
            ListenAddr::Everywhere { port } => write!(f, ":{port}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl ListenAddr {
    /// The socket address this binds, when known before resolving a name: `:PORT` is
    /// `0.0.0.0:PORT`.
    pub fn known_socket(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Socket(addr) => Some(*addr),
            ListenAddr::Host { .. } => None,
            ListenAddr::Everywhere { port } => {
                Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, *port)))
            }
        }
    }

    /// Binds a listener. A name binds its first address that works, IPv4 first (as Go
    /// does for `localhost`); `:PORT` binds IPv6 and IPv4 in one dual-stack socket, or
    /// IPv4 alone where the host has no IPv6.
    pub async fn bind(&self) -> std::io::Result<TcpListener> {
        match self {
            ListenAddr::Socket(addr) => TcpListener::bind(addr).await,
            ListenAddr::Host { host, port } => {
                let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), *port))
                    .await?
                    .collect();
                addrs.sort_by_key(|a| a.is_ipv6());
                let mut last = None;
                for addr in addrs {
                    match TcpListener::bind(addr).await {
                        Ok(listener) => return Ok(listener),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("`{host}` has no address"),
                    )
                }))
            }
            ListenAddr::Everywhere { port } => match dual_stack(*port) {
                Ok(listener) => Ok(listener),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(e),
                Err(_) => TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, *port))).await,
            },
        }
    }
}

/// `[::]:port` with `IPV6_V6ONLY` off, whatever the system default says.
fn dual_stack(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_distribution_accepts_parse() {
        let parse = |s: &str| s.parse::<ListenAddr>().map(|a| (a.clone(), a.to_string()));
        assert_eq!(
            parse("127.0.0.1:5000").unwrap().0,
            ListenAddr::Socket("127.0.0.1:5000".parse().unwrap())
        );
        assert_eq!(parse("[::1]:5000").unwrap().1, "[::1]:5000");
        assert_eq!(
            parse("localhost:5000").unwrap().0,
            ListenAddr::Host {
                host: "localhost".into(),
                port: 5000
            }
        );
        assert_eq!(
            parse(":5000").unwrap().0,
            ListenAddr::Everywhere { port: 5000 }
        );
        assert_eq!(parse(":5000").unwrap().1, ":5000");
        for bad in [
            "5000",
            "localhost",
            "localhost:http",
            "::1:5000x",
            "a b:1",
            ":70000",
            "",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
            assert!(
                err.contains("`:PORT`") && err.contains("`localhost:5000`"),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn names_and_every_interface_bind() {
        let listener = "localhost:0"
            .parse::<ListenAddr>()
            .unwrap()
            .bind()
            .await
            .unwrap();
        assert!(listener.local_addr().unwrap().ip().is_loopback());
        let listener = ":0".parse::<ListenAddr>().unwrap().bind().await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_unspecified(), "{addr}");
        // Reachable over IPv4 loopback whichever socket it is.
        tokio::net::TcpStream::connect(("127.0.0.1", addr.port()))
            .await
            .unwrap();
    }
}
