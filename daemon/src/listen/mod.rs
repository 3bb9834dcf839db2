//! Where connections come from: TCP ports, Unix sockets with the mode and owner their clients
//! need, or sockets systemd bound for us (socket activation, the way to get ports below 1024
//! without ever being root). A daemon handles all three alike through [`Listener::accept`].

mod stream;
mod systemd;
mod unix;

use std::fmt;
use std::io;
use std::net::SocketAddr;

pub use stream::Stream;
pub use unix::UnixSocketSpec;

/// How many connections the kernel queues before we accept them; Postfix uses 100, but a burst
/// of submissions or a restart under load should not see refusals.
const BACKLOG: i32 = 1024;

/// A listening socket, TCP or Unix.
#[derive(Debug)]
pub enum Listener {
    /// A TCP port.
    Tcp(tokio::net::TcpListener),
    /// A Unix stream socket.
    Unix(tokio::net::UnixListener),
}

/// Who connected: a TCP client's address, or a local process over a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A TCP client; IPv4 clients of a dual-stack socket appear as plain IPv4.
    Tcp(SocketAddr),
    /// A local client on a Unix socket (its address is unnamed).
    Unix,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Unix => f.write_str("unix"),
        }
    }
}

impl Listener {
    /// Bind a Unix socket with `spec`'s mode and owner; see [`UnixSocketSpec`]. Must be called
    /// inside a tokio runtime.
    pub fn bind_unix(spec: &UnixSocketSpec) -> io::Result<Listener> {
        unix::bind(spec).map(Listener::Unix)
    }

    /// Bind a TCP address such as `127.0.0.1:25`, `[::1]:25` or `0.0.0.0:587`, with
    /// SO_REUSEADDR so that a restart does not wait for old connections' TIME_WAIT.
    pub async fn bind_tcp(addr: SocketAddr) -> io::Result<Listener> {
        let context = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{addr}: {what}: {e}"));
        let socket =
            if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() }
                .map_err(|e| context("creating the socket", e))?;
        socket.set_reuseaddr(true).map_err(|e| context("setting SO_REUSEADDR", e))?;
        socket.bind(addr).map_err(|e| context("bind", e))?;
        let listener = socket.listen(BACKLOG as u32).map_err(|e| context("listen", e))?;
        Ok(Listener::Tcp(listener))
    }

    /// The socket systemd passed us under `name` (a socket unit's `FileDescriptorName=`), or
    /// `None` when we were not socket-activated or not given that name. `""` takes the next
    /// socket whatever its name. Each socket is handed out once: a second call with the same
    /// name gets the next socket of that name (a unit with two `ListenStream=`), then `None`.
    ///
    /// The `LISTEN_*` variables stay set so that several names can be taken; they do no harm
    /// to children, whose pid differs from `LISTEN_PID` and which do not inherit the sockets
    /// (we set close-on-exec on each one we take). Must be called inside a tokio runtime.
    pub fn from_systemd(name: &str) -> io::Result<Option<Listener>> {
        systemd::take(name)
    }

    /// The next connection and who made it (only [`crate::run::Service`] accepts, after the
    /// privilege drop). Errors are per-connection or transient (EMFILE,
    /// ECONNABORTED): log them and call again, after a pause for resource shortages.
    pub(crate) async fn accept(&self) -> io::Result<(Stream, Peer)> {
        match self {
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
                Ok((Stream::Tcp(s), Peer::Tcp(addr)))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                Ok((Stream::Unix(s), Peer::Unix))
            }
        }
    }

    /// What we listen on, for logs: `127.0.0.1:25` or the socket's path.
    pub fn local_description(&self) -> String {
        match self {
            Listener::Tcp(l) => l.local_addr().map_or_else(|e| format!("tcp ({e})"), |a| a.to_string()),
            Listener::Unix(l) => match l.local_addr() {
                Ok(a) => a.as_pathname().map_or_else(|| "unix (unnamed)".into(), |p| p.display().to_string()),
                Err(e) => format!("unix ({e})"),
            },
        }
    }

    /// The bound TCP address (with the port the kernel chose for port 0); `None` for Unix.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_display_for_logs() {
        assert_eq!(Peer::Tcp("127.0.0.1:1234".parse().unwrap()).to_string(), "127.0.0.1:1234");
        assert_eq!(Peer::Tcp("[::1]:25".parse().unwrap()).to_string(), "[::1]:25");
        assert_eq!(Peer::Unix.to_string(), "unix");
    }

    #[tokio::test]
    async fn tcp_binds_and_accepts() {
        let l = Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(l.local_description(), addr.to_string());
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_, peer) = l.accept().await.unwrap();
        assert_eq!(peer, Peer::Tcp(client.local_addr().unwrap()));
    }

    #[tokio::test]
    async fn ipv6_loopback_binds() {
        let l = Listener::bind_tcp("[::1]:0".parse().unwrap()).await.unwrap();
        assert!(l.local_addr().unwrap().is_ipv6());
    }

    #[tokio::test]
    async fn a_taken_port_says_which() {
        let taken = Listener::bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = taken.local_addr().unwrap();
        let e = Listener::bind_tcp(addr).await.unwrap_err();
        assert!(e.to_string().starts_with(&format!("{addr}: bind: ")), "{e}");
    }
}
