//! One connection to one mail filter: connect, negotiate, send commands, read responses
//! within a timeout (a SMFIR_PROGRESS restarts it).

use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;

use super::protocol::{self, Command, Negotiated, Response, actions, flags};

/// Where a filter listens, in Postfix's syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `inet:host:port` (`inet:[::1]:port` for IPv6 literals).
    Inet(String, u16),
    /// `unix:/path` (also `local:/path`).
    Unix(PathBuf),
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Endpoint, String> {
        let bad = || format!("{s:?} is not inet:host:port or unix:/path");
        if let Some(path) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("local:")) {
            if !path.starts_with('/') {
                return Err(bad());
            }
            return Ok(Endpoint::Unix(path.into()));
        }
        let rest = s.strip_prefix("inet:").ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Endpoint::Inet(host.to_string(), port))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Inet(h, p) if h.contains(':') => write!(f, "inet:[{h}]:{p}"),
            Endpoint::Inet(h, p) => write!(f, "inet:{h}:{p}"),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The three timeouts (milter_connect_timeout, _command_timeout, _content_timeout).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Connect and negotiate.
    pub connect: Duration,
    /// Each answer to an SMTP-stage command.
    pub command: Duration,
    /// Each answer to message content (headers, body, end of message).
    pub content: Duration,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// A negotiated connection.
pub struct Conn {
    io: Box<dyn Stream>,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// What the filter agreed to.
    pub agreed: Negotiated,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

impl Conn {
    /// Connect to `endpoint` and negotiate, all within `t.connect`.
    pub async fn open(endpoint: &Endpoint, t: &Timeouts) -> io::Result<Conn> {
        timeout(t.connect, async {
            let io: Box<dyn Stream> = match endpoint {
                Endpoint::Inet(host, port) => {
                    let s = TcpStream::connect((host.as_str(), *port)).await?;
                    s.set_nodelay(true)?;
                    Box::new(s)
                }
                Endpoint::Unix(path) => Box::new(UnixStream::connect(path).await?),
            };
            let mut out = Vec::new();
            Command::OptNeg { version: protocol::VERSION, actions: actions::ALL, protocol: flags::OFFERED }
                .encode(&mut out);
            let mut conn = Conn { io, buf: Vec::new(), out, agreed: placeholder() };
            conn.flush().await?;
            match conn.read_one().await? {
                Response::OptNeg(n) => {
                    conn.agreed = n.agree(actions::ALL, flags::OFFERED).map_err(io::Error::other)?;
                    Ok(conn)
                }
                other => Err(io::Error::other(format!("negotiation answered with {other:?}"))),
            }
        })
        .await
        .map_err(|_| timed_out())?
    }

    /// Queue `cmd` for the next flush.
    pub fn queue(&mut self, cmd: &Command) {
        cmd.encode(&mut self.out);
    }

    /// Write everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.io.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// Write what is queued (within `limit`), then read one response other than progress,
    /// each within `limit`.
    pub async fn answer(&mut self, limit: Duration) -> io::Result<Response> {
        timeout(limit, self.flush()).await.map_err(|_| timed_out())??;
        loop {
            match timeout(limit, self.read_one()).await.map_err(|_| timed_out())?? {
                Response::Progress => continue,
                r => return Ok(r),
            }
        }
    }

    /// Send `cmd` and flush without reading (QUIT, ABORT, unanswered steps are flushed later).
    pub async fn send(&mut self, cmd: &Command<'_>, limit: Duration) -> io::Result<()> {
        self.queue(cmd);
        timeout(limit, self.flush()).await.map_err(|_| timed_out())?
    }

    async fn read_one(&mut self) -> io::Result<Response> {
        loop {
            if let Some((r, used)) = protocol::decode(&self.buf).map_err(io::Error::other)? {
                self.buf.drain(..used);
                return Ok(r);
            }
            let mut chunk = [0u8; 8192];
            let n = self.io.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "filter closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// What a connection holds until the negotiation replaces it.
fn placeholder() -> Negotiated {
    protocol::Negotiation { version: protocol::VERSION, actions: 0, protocol: 0, macros: Vec::new() }
        .agree(0, 0)
        .expect("version 6 agrees")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!("inet:127.0.0.1:11332".parse(), Ok(Endpoint::Inet("127.0.0.1".into(), 11332)));
        assert_eq!("inet:[::1]:8891".parse(), Ok(Endpoint::Inet("::1".into(), 8891)));
        assert_eq!("inet:localhost:1".parse(), Ok(Endpoint::Inet("localhost".into(), 1)));
        assert_eq!(
            "unix:/run/clamav/milter.sock".parse(),
            Ok(Endpoint::Unix("/run/clamav/milter.sock".into()))
        );
        assert_eq!("local:/x".parse(), Ok(Endpoint::Unix("/x".into())));
        for bad in ["inet:host", "inet::25", "inet:h:0", "inet:h:99999", "unix:rel", "tcp:h:1", ""] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
        assert_eq!(Endpoint::Inet("::1".into(), 5).to_string(), "inet:[::1]:5");
    }
}
