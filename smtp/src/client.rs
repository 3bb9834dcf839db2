//! The client side of SMTP (RFC 5321) and LMTP (RFC 2033): what mailroom-mta uses to hand
//! mail to an MDA over LMTP (mailroom-mda or Dovecot) and to remote MX hosts over SMTP.
//!
//! [`Client::greet`] reads the greeting and sends EHLO (HELO when EHLO is refused) or LHLO;
//! [`Client::send`] runs one transaction and answers every recipient; [`Client::quit`] ends.
//! [`Client::starttls`] upgrades an SMTP session (RFC 3207).
//!
//! The protocol parts do no I/O and are tested with byte transcripts: `reply` (parsing with
//! smtp-proto, capabilities), `envelope` (MAIL/RCPT lines with the offered parameters, and
//! what must be refused before sending), `body` (dot-stuffing, line ends). `conn` is the thin
//! socket layer under them, `transaction` the order of commands.

mod body;
mod conn;
mod envelope;
mod reply;
mod transaction;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

pub use body::BodyEncoder;
pub use envelope::{Envelope, Recipient};
pub use reply::{
    Capabilities, MAX_REPLY_BYTES, MAX_REPLY_LINES, RawReply, ReplyError, ReplyParser, ServerReply,
};

use conn::Conn;

/// Which protocol the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RFC 5321 ESMTP: EHLO, HELO as a fallback, one reply after the data.
    Smtp,
    /// RFC 2033 LMTP: LHLO, one reply per accepted recipient after the data.
    Lmtp,
}

/// How long each stage may take (RFC 5321 §4.5.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection.
    pub connect: Duration,
    /// Waiting for the 220 greeting (RFC: 5 minutes).
    pub greeting: Duration,
    /// Any command's write and reply: EHLO, MAIL, RCPT, DATA, RSET, QUIT, STARTTLS and the TLS
    /// handshake (RFC: 5 minutes for MAIL and RCPT, 2 for DATA; one value for all).
    pub command: Duration,
    /// Writing one block of the message (RFC: 3 minutes).
    pub data_block: Duration,
    /// The reply to the final dot, per reply under LMTP (RFC: 10 minutes).
    pub data_done: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            greeting: Duration::from_secs(300),
            command: Duration::from_secs(300),
            data_block: Duration::from_secs(180),
            data_done: Duration::from_secs(600),
        }
    }
}

/// What became of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The refusal of MAIL FROM (or of the whole message before sending, e.g. too big for the
    /// server's SIZE): then every recipient has this reply too.
    pub mail: Option<ServerReply>,
    /// Exactly one reply per envelope recipient, in order: its RCPT refusal, or the final reply
    /// for it (SMTP: the one reply to the data; LMTP: its own). A refusal made here before
    /// sending (an address a command line cannot carry, SMTPUTF8 not offered) is a 553.
    pub recipients: Vec<ServerReply>,
}

/// Why a session failed; the caller treats each as a temporary failure for every recipient not
/// yet answered, and drops the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection failed or was closed (or reading the message failed).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A stage took longer than its timeout (the stage is named).
    #[error("timeout: {0}")]
    Timeout(&'static str),
    /// The server broke the protocol (bad or overlong reply, unexpected code).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The greeting, EHLO/LHLO (and HELO) or STARTTLS was refused.
    #[error("refused: {0}")]
    Refused(ServerReply),
}

/// One session with an SMTP or LMTP server.
pub struct Client<S> {
    conn: Conn<S>,
    protocol: Protocol,
    timeouts: Timeouts,
    greeting: ServerReply,
    capabilities: Capabilities,
    /// A transaction was left open on the server (MAIL accepted, no data): RSET before the next.
    needs_reset: bool,
    /// An error left the session in an unknown state: no more transactions.
    broken: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Client<S> {
    /// Read the greeting and send EHLO (SMTP; HELO when EHLO gets a 5xx) or LHLO (LMTP).
    pub async fn greet(
        stream: S,
        protocol: Protocol,
        our_name: &str,
        timeouts: Timeouts,
    ) -> Result<Client<S>, ClientError> {
        check_name(our_name)?;
        let mut conn = Conn::new(stream);
        let greeting = conn.read_reply(timeouts.greeting, "greeting").await?.reply;
        if !greeting.is_positive() {
            // RFC 5321 §3.1: after a 554 greeting the client should still say QUIT.
            let _ = conn.write(b"QUIT\r\n", timeouts.command, "QUIT").await;
            return Err(ClientError::Refused(greeting));
        }
        let capabilities = hello(&mut conn, protocol, our_name, &timeouts).await?;
        Ok(Client { conn, protocol, timeouts, greeting, capabilities, needs_reset: false, broken: false })
    }

    /// What the server offered in its last EHLO/LHLO reply (none after HELO).
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The server's greeting, for logs.
    pub fn greeting(&self) -> &ServerReply {
        &self.greeting
    }

    /// Send one message: `message` is the whole RFC 5322 message, CRLF line ends, not
    /// dot-stuffed; it is streamed, never held whole. On `Ok` every recipient has its reply;
    /// the client can then send the next message.
    pub async fn send<R: AsyncRead + Unpin>(
        &mut self,
        envelope: &Envelope,
        message: R,
    ) -> Result<Outcome, ClientError> {
        if self.broken {
            return Err(ClientError::Protocol("session unusable after an earlier error".into()));
        }
        let result = transaction::run(self, envelope, message).await;
        self.broken = result.is_err();
        result
    }

    /// Say QUIT, read the 221 and close; errors are of no consequence to delivery.
    pub async fn quit(mut self) -> Result<(), ClientError> {
        let result = async {
            self.conn.write(b"QUIT\r\n", self.timeouts.command, "QUIT").await?;
            self.conn.read_reply(self.timeouts.command, "QUIT").await
        }
        .await;
        self.conn.shutdown().await;
        result.map(drop)
    }

    /// Authenticate (RFC 4954) with PLAIN when offered, else LOGIN; call it after TLS: the
    /// password is sent as it is. A refusal is [`ClientError::Refused`] with the server's reply.
    pub async fn auth(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let t = self.timeouts;
        let offered = |m: &str| self.capabilities.auth.iter().any(|a| a.eq_ignore_ascii_case(m));
        let steps: Vec<String> = if offered("PLAIN") {
            vec![format!("AUTH PLAIN {}", b64(format!("\0{user}\0{password}").as_bytes()))]
        } else if offered("LOGIN") {
            vec!["AUTH LOGIN".into(), b64(user.as_bytes()), b64(password.as_bytes())]
        } else {
            return Err(ClientError::Protocol("server offers neither AUTH PLAIN nor LOGIN".into()));
        };
        for (i, step) in steps.iter().enumerate() {
            self.conn.write(format!("{step}\r\n").as_bytes(), t.command, "AUTH").await?;
            let reply = self.conn.read_reply(t.command, "AUTH").await?.reply;
            let last = i + 1 == steps.len();
            match reply.code {
                235 if last => return Ok(()),
                334 if !last => {}
                _ => {
                    if reply.code == 334 {
                        // The server wants more than we have: cancel the exchange (RFC 4954 §4).
                        let _ = self.conn.write(b"*\r\n", t.command, "AUTH").await;
                        let _ = self.conn.read_reply(t.command, "AUTH").await;
                    }
                    return Err(ClientError::Refused(reply));
                }
            }
        }
        Err(ClientError::Protocol("AUTH ended without a reply".into()))
    }

    /// Upgrade to TLS (RFC 3207): STARTTLS, the handshake, then EHLO again, whose capabilities
    /// replace the earlier ones. Call it right after [`Client::greet`]. A refusal (454) is
    /// [`ClientError::Refused`] and the connection is gone: reconnect to go on in plain text.
    pub async fn starttls(
        mut self,
        connector: &tokio_rustls::TlsConnector,
        server_name: rustls::pki_types::ServerName<'static>,
        our_name: &str,
    ) -> Result<Client<tokio_rustls::client::TlsStream<S>>, ClientError> {
        check_name(our_name)?;
        let t = self.timeouts;
        self.conn.write(b"STARTTLS\r\n", t.command, "STARTTLS").await?;
        let reply = self.conn.read_reply(t.command, "STARTTLS").await?.reply;
        if reply.code != 220 {
            return Err(ClientError::Refused(reply));
        }
        let stream = self.conn.into_stream()?;
        let tls = match tokio::time::timeout(t.command, connector.connect(server_name, stream)).await {
            Ok(r) => r?,
            Err(_) => return Err(ClientError::Timeout("TLS handshake")),
        };
        let mut conn = Conn::new(tls);
        let capabilities = hello(&mut conn, self.protocol, our_name, &t).await?;
        Ok(Client {
            conn,
            protocol: self.protocol,
            timeouts: t,
            greeting: self.greeting,
            capabilities,
            needs_reset: false,
            broken: false,
        })
    }
}

/// EHLO or LHLO, and HELO when SMTP's EHLO gets a 5xx (RFC 5321 §3.2); the capabilities.
async fn hello<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    protocol: Protocol,
    our_name: &str,
    t: &Timeouts,
) -> Result<Capabilities, ClientError> {
    let verb = match protocol {
        Protocol::Smtp => "EHLO",
        Protocol::Lmtp => "LHLO",
    };
    conn.write(format!("{verb} {our_name}\r\n").as_bytes(), t.command, verb).await?;
    let ehlo = conn.read_reply(t.command, verb).await?;
    if ehlo.reply.is_positive() {
        return Ok(Capabilities::from_ehlo(&ehlo.raw));
    }
    if protocol == Protocol::Lmtp || !ehlo.reply.is_permanent() {
        return Err(ClientError::Refused(ehlo.reply));
    }
    conn.write(format!("HELO {our_name}\r\n").as_bytes(), t.command, "HELO").await?;
    let helo = conn.read_reply(t.command, "HELO").await?.reply;
    if !helo.is_positive() {
        return Err(ClientError::Refused(helo));
    }
    Ok(Capabilities::default())
}

/// Our EHLO name goes into a command line: it must be one word of printable ASCII.
fn check_name(name: &str) -> Result<(), ClientError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ClientError::Protocol(format!("invalid EHLO name {name:?}")));
    }
    Ok(())
}

/// Connect to a Unix socket (an MDA's LMTP socket) within `timeout`.
pub async fn connect_unix(path: &Path, timeout: Duration) -> Result<tokio::net::UnixStream, ClientError> {
    match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ClientError::Timeout("connect")),
    }
}

/// One message over a local submission socket (mailroom-mta's `submit_socket`, which takes
/// sendmail's and the MDA's mail): greet, send, quit. The outcome has one reply per recipient.
pub async fn submit_unix(
    path: &Path,
    our_name: &str,
    envelope: &Envelope,
    message: &[u8],
) -> Result<Outcome, ClientError> {
    let timeouts = Timeouts::default();
    let stream = connect_unix(path, timeouts.connect).await?;
    let mut c = Client::greet(stream, Protocol::Smtp, our_name, timeouts).await?;
    let outcome = c.send(envelope, message).await?;
    let _ = c.quit().await;
    Ok(outcome)
}

/// Connect over TCP within `timeout`. Nagle is off: commands are already written in groups.
pub async fn connect_tcp(addr: SocketAddr, timeout: Duration) -> Result<tokio::net::TcpStream, ClientError> {
    let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(r) => r?,
        Err(_) => return Err(ClientError::Timeout("connect")),
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A server that answers each line the client sends with the next reply of `script`,
    /// after checking the line; returns the lines it got.
    async fn serve(s: tokio::io::DuplexStream, script: Vec<(&'static str, &'static str)>) -> Vec<String> {
        let (r, mut w) = tokio::io::split(s);
        let mut r = BufReader::new(r);
        w.write_all(b"220 relay.test ESMTP\r\n").await.unwrap();
        let mut got = Vec::new();
        for (want, reply) in script {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            assert_eq!(line, format!("{want}\r\n"));
            got.push(line);
            w.write_all(reply.as_bytes()).await.unwrap();
        }
        got
    }

    async fn auth(ehlo: &'static str, steps: Vec<(&'static str, &'static str)>) -> Result<(), ClientError> {
        let (ours, theirs) = tokio::io::duplex(4096);
        let mut script = vec![("EHLO me.test", ehlo)];
        script.extend(steps);
        let server = tokio::spawn(serve(theirs, script));
        let mut c = Client::greet(ours, Protocol::Smtp, "me.test", Timeouts::default()).await.unwrap();
        let r = c.auth("u@x.test", "pw").await;
        server.await.unwrap();
        r
    }

    #[tokio::test]
    async fn auth_plain_login_and_refusal() {
        // PLAIN preferred: "\0u@x.test\0pw".
        let plain = "250-relay.test\r\n250 AUTH LOGIN PLAIN\r\n";
        let r = auth(plain, vec![("AUTH PLAIN AHVAeC50ZXN0AHB3", "235 2.7.0 ok\r\n")]).await;
        assert!(r.is_ok());
        let login = "250-relay.test\r\n250 AUTH LOGIN\r\n";
        let steps = vec![
            ("AUTH LOGIN", "334 VXNlcm5hbWU6\r\n"),
            ("dUB4LnRlc3Q=", "334 UGFzc3dvcmQ6\r\n"),
            ("cHc=", "235 2.7.0 ok\r\n"),
        ];
        assert!(auth(login, steps).await.is_ok());
        let r = auth(plain, vec![("AUTH PLAIN AHVAeC50ZXN0AHB3", "535 5.7.8 bad\r\n")]).await;
        assert!(matches!(r, Err(ClientError::Refused(ref r)) if r.code == 535), "{r:?}");
        let r = auth("250 relay.test\r\n", vec![]).await;
        assert!(matches!(r, Err(ClientError::Protocol(_))), "{r:?}");
    }
}
