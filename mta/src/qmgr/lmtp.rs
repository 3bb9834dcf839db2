//! The LMTP transport: hands local recipients to the MDA (mailroom-mda, or Dovecot's LMTP)
//! with per-recipient replies, reusing idle connections as Postfix's connection cache does.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use daemon::listen::Stream;
use smtp::client::{self, Client, ClientError, Envelope, Outcome, Protocol, Timeouts};

/// Where the MDA listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `unix:/run/mailroom/mda/lmtp`.
    Unix(PathBuf),
    /// `inet:127.0.0.1:24`.
    Tcp(std::net::SocketAddr),
}

impl Target {
    /// Parse Postfix-style `unix:PATH` or `inet:HOST:PORT` (a bare path means unix).
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            return Ok(Target::Unix(path.into()));
        }
        if let Some(addr) = s.strip_prefix("inet:") {
            return addr.parse().map(Target::Tcp).map_err(|_| format!("lmtp: {addr:?} is not HOST:PORT"));
        }
        if s.starts_with('/') {
            return Ok(Target::Unix(s.into()));
        }
        Err(format!("lmtp: {s:?} is neither unix:PATH nor inet:HOST:PORT"))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
            Target::Tcp(a) => write!(f, "inet:{a}"),
        }
    }
}

/// An idle connection is not reused after this long (the MDA may have timed it out).
const IDLE_REUSE: Duration = Duration::from_secs(20);

/// LMTP deliveries to one target.
pub struct Lmtp {
    target: Target,
    our_name: String,
    timeouts: Timeouts,
    idle: Mutex<Vec<(Instant, Client<Stream>)>>,
    max_idle: usize,
}

impl Lmtp {
    /// Deliveries to `target`, keeping up to `max_idle` connections open between them.
    pub fn new(target: Target, our_name: &str, max_idle: usize) -> Lmtp {
        Lmtp {
            target,
            our_name: our_name.into(),
            timeouts: Timeouts::default(),
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// The target, for logs (`relay=`).
    pub fn target(&self) -> &Target {
        &self.target
    }

    async fn connect(&self) -> Result<Client<Stream>, ClientError> {
        let stream = match &self.target {
            Target::Unix(p) => Stream::Unix(client::connect_unix(p, self.timeouts.connect).await?),
            Target::Tcp(a) => Stream::Tcp(client::connect_tcp(*a, self.timeouts.connect).await?),
        };
        Client::greet(stream, Protocol::Lmtp, &self.our_name, self.timeouts).await
    }

    fn take_idle(&self) -> Option<Client<Stream>> {
        let mut idle = self.idle.lock().expect("lmtp pool poisoned");
        while let Some((since, c)) = idle.pop() {
            if since.elapsed() < IDLE_REUSE {
                return Some(c);
            }
        }
        None
    }

    /// One transaction. A reused connection that fails before any reply is retried once on a
    /// fresh one; any other failure is the caller's temporary failure for every recipient.
    pub async fn send(&self, envelope: &Envelope, message: std::fs::File) -> Result<Outcome, ClientError> {
        let mut retried = false;
        loop {
            let (mut client, reused) = match self.take_idle() {
                Some(c) => (c, true),
                None => (self.connect().await?, false),
            };
            let msg = tokio::fs::File::from_std(message.try_clone().map_err(ClientError::Io)?);
            let start = std::io::Seek::stream_position(&mut &message).map_err(ClientError::Io)?;
            match client.send(envelope, msg).await {
                Ok(outcome) => {
                    let mut idle = self.idle.lock().expect("lmtp pool poisoned");
                    if idle.len() < self.max_idle {
                        idle.push((Instant::now(), client));
                    }
                    return Ok(outcome);
                }
                Err(ClientError::Io(_)) if reused && !retried => {
                    // The MDA closed an idle connection under us: rewind and go again.
                    retried = true;
                    std::io::Seek::seek(&mut &message, std::io::SeekFrom::Start(start))
                        .map_err(ClientError::Io)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(Target::parse("unix:/run/x/lmtp"), Ok(Target::Unix("/run/x/lmtp".into())));
        assert_eq!(Target::parse("/run/x/lmtp"), Ok(Target::Unix("/run/x/lmtp".into())));
        assert_eq!(Target::parse("inet:127.0.0.1:24"), Ok(Target::Tcp("127.0.0.1:24".parse().unwrap())));
        assert!(Target::parse("inet:localhost").is_err());
        assert!(Target::parse("lmtp").is_err());
        assert_eq!(Target::parse("unix:/a").unwrap().to_string(), "unix:/a");
    }
}
