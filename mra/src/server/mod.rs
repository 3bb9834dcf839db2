//! The socket side of mailroom-mra: what every protocol shares (the daemon's [`Context`], line
//! reading, logins, opening mailboxes) and the per-protocol connection loops.
//!
//! - [`lines`]: CRLF lines from a socket with a length limit.
//! - [`login`]: a password check (saslauthd or authlib) and the user's Maildir.
//! - [`store`]: opening a maildrop on the blocking pool, its POP3 session lock, UPDATE.
//! - [`pop3`]: one POP3 connection, plain, STLS or implicit TLS.
//! - [`imap`]: one IMAP connection, plain, STARTTLS or implicit TLS, and the mailbox work.
//! - [`deflate`]: COMPRESS=DEFLATE's stream (RFC 4978).
//! - [`userip`]: IMAP sessions per user and client address.
//! - [`managesieve`]: one ManageSieve connection, plain or STARTTLS, and its script commands.
//!
//! Both protocols share [`Context`], [`handshake`] (STLS, STARTTLS, ports 993/995), the
//! connection limit, [`lines`] and [`login`].

pub mod deflate;
pub mod imap;
pub mod lines;
pub mod login;
pub mod managesieve;
pub mod pop3;
pub mod store;
pub mod userip;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use authlib::{Authenticator, Directory};
use daemon::listen::{Peer, Stream};
use daemon::shutdown::Shutdown;
use daemon::tls::TlsConfig;
use tokio::sync::Semaphore;

/// Everything a connection needs, shared by all of them.
pub struct Context {
    /// The `[mra]` section.
    pub cfg: config::Mra,
    /// Where passwords are checked.
    pub authenticator: Authenticator,
    /// User lookups (the Maildir of a login).
    pub directory: Arc<Directory>,
    /// The certificate, when `[tls]` is configured.
    pub tls: Option<TlsConfig>,
    /// One permit per open connection (`max_connections`).
    pub connections: Arc<Semaphore>,
    /// Triggered at SIGTERM: sessions waiting for a command end at once.
    pub shutdown: Shutdown,
    /// IMAP sessions per user and address (`max_user_ip_connections`).
    pub user_ip: Arc<userip::UserIpCounts>,
}

impl Context {
    /// A context with `cfg.max_connections` permits.
    pub fn new(
        cfg: config::Mra,
        authenticator: Authenticator,
        directory: Arc<Directory>,
        tls: Option<TlsConfig>,
        shutdown: Shutdown,
    ) -> Context {
        let connections = Arc::new(Semaphore::new(cfg.max_connections.get()));
        Context { cfg, authenticator, directory, tls, connections, shutdown, user_ip: Arc::default() }
    }

    /// How long a client may stay silent.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.idle_timeout.get())
    }

    /// Whether a password may be sent by `peer` before TLS.
    pub fn plaintext_ok(&self, peer: &Peer) -> bool {
        self.cfg.plaintext_auth_anywhere || (self.cfg.plaintext_auth_on_loopback && is_loopback(peer))
    }
}

/// A client on this host: 127.0.0.0/8, ::1, or a Unix socket.
pub fn is_loopback(peer: &Peer) -> bool {
    match peer {
        Peer::Tcp(a) => a.ip().to_canonical().is_loopback(),
        Peer::Unix => true,
    }
}

/// The client's address without the port, for logs and saslauthd.
pub fn client_ip(peer: &Peer) -> String {
    match peer {
        Peer::Tcp(a) => a.ip().to_string(),
        Peer::Unix => "local".into(),
    }
}

/// Take a connection slot for a new client, or answer `refusal` and close when
/// `max_connections` are taken. The returned permit is held for the connection's life.
pub async fn admit(
    ctx: &Context,
    stream: &mut Stream,
    peer: &Peer,
    protocol: &str,
    refusal: &[u8],
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let Ok(permit) = ctx.connections.clone().try_acquire_owned() else {
        use tokio::io::AsyncWriteExt;
        let _ = stream.write_all(refusal).await;
        tracing::warn!("{protocol} connection refused client={}: max_connections reached", client_ip(peer));
        daemon::metrics::connection_refused();
        return None;
    };
    // Replies are written whole; Nagle's algorithm would only delay the last segment of each.
    if let Stream::Tcp(s) = &*stream {
        let _ = s.set_nodelay(true);
    }
    Some(permit)
}

/// The TLS handshake of a new or STARTTLS connection, within the idle timeout.
pub async fn handshake(
    tls: &TlsConfig,
    stream: Stream,
    ctx: &Context,
) -> io::Result<tokio_rustls::server::TlsStream<Stream>> {
    let r = match tokio::time::timeout(ctx.idle_timeout(), tls.acceptor().accept(stream)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
    };
    daemon::metrics::tls_handshake(r.is_ok());
    r
}
