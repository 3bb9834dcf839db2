//! The async driver: reads from the socket, feeds the [`Session`], asks the [`Handler`] for
//! the decisions, and writes replies. Replies to pipelined commands are written together,
//! whenever the session needs more input. It also owns what needs the socket itself: the
//! greeting pause, timeouts, and the STARTTLS handshake.

use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

use proto::sasl::Credentials;
use smtp_proto::{MailFrom, RcptTo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use crate::reply::Reply;
use crate::session::{Config, Event, Mode, Session};
use crate::tls::{Stream, TlsInfo};

/// What a daemon decides in a session: its policy and its storage.
pub trait Handler: Send {
    /// The client greeted with `name`.
    fn hello(&mut self, _name: &str) {}
    /// Accept or refuse a sender.
    fn mail(&mut self, from: &MailFrom<String>) -> impl Future<Output = Reply> + Send;
    /// Accept or refuse a recipient.
    fn rcpt(&mut self, to: &RcptTo<String>) -> impl Future<Output = Reply> + Send;
    /// Open a spool for the body.
    fn data_start(&mut self) -> impl Future<Output = Result<(), Reply>> + Send;
    /// Append body bytes (CRLF line ends only, dot-unstuffed) to the spool.
    fn data_chunk(&mut self, chunk: &[u8]) -> impl Future<Output = Result<(), Reply>> + Send;
    /// The body is complete: deliver. SMTP wants one reply; LMTP one per accepted recipient,
    /// each sent only once that copy is safe.
    fn data_end(&mut self) -> impl Future<Output = Vec<Reply>> + Send;
    /// Forget the transaction (RSET, QUIT, refused body, STARTTLS, connection lost).
    fn reset(&mut self);
    /// AUTH completed its SASL exchange: check the credentials. Reply 235 2.7.0 on success
    /// (the session then records the client as authenticated), 535 5.7.8 wrong credentials,
    /// 454 4.7.0 temporary failure.
    fn auth(&mut self, _creds: Credentials) -> impl Future<Output = Reply> + Send {
        async { Reply::new(502, "5.5.1", "Command not implemented") }
    }
    /// TLS was established on this connection (STARTTLS done); for the Received: header and logs.
    fn tls_established(&mut self, _info: &TlsInfo) {}
    /// A STARTTLS handshake failed or timed out; the connection closes.
    fn tls_failed(&mut self) {}
}

/// Limits of the connection itself.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Close an idle connection after this long (RFC 5321 §4.5.3.2 suggests 5 minutes).
    pub idle_timeout: Duration,
    /// Wait this long before the 220 greeting; a client that talks first is refused
    /// (postscreen's pregreet test). `Duration::ZERO` = greet at once.
    pub greet_pause: Duration,
    /// Close the session after this long whatever it is doing between reads.
    /// `Duration::ZERO` = no limit.
    pub max_session_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(300),
            greet_pause: Duration::ZERO,
            max_session_time: Duration::ZERO,
        }
    }
}

/// Run one session on `stream` until QUIT, an error limit, a timeout or the client leaving.
/// With `tls`, STARTTLS is offered when `cfg.starttls` asks for it (never without an acceptor,
/// never when `cfg.tls_active`).
pub async fn run<S, H>(
    stream: S,
    mut cfg: Config,
    limits: &Limits,
    tls: Option<&TlsAcceptor>,
    handler: &mut H,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    cfg.starttls = cfg.starttls && tls.is_some() && !cfg.tls_active;
    let deadline = (!limits.max_session_time.is_zero()).then(|| Instant::now() + limits.max_session_time);
    let mut driver = Driver {
        stream: Stream::Plain(stream),
        session: Session::new(cfg),
        handler,
        limits,
        tls,
        buf: vec![0u8; 64 * 1024],
        start: 0,
        end: 0,
        out: Vec::new(),
        chunk_error: None,
        deadline,
    };
    let result = driver.serve().await;
    driver.handler.reset();
    result
}

#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

struct Driver<'a, S, H> {
    stream: Stream<S>,
    session: Session,
    handler: &'a mut H,
    limits: &'a Limits,
    tls: Option<&'a TlsAcceptor>,
    /// Received bytes; `buf[start..end]` are not yet consumed by the session.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Replies not yet written (pipelining: one write per batch).
    out: Vec<u8>,
    /// A spool write that failed: keep reading the body, answer this at its end.
    chunk_error: Option<Reply>,
    deadline: Option<Instant>,
}

impl<S, H> Driver<'_, S, H>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    async fn serve(&mut self) -> io::Result<()> {
        if !self.greet_pause().await? {
            return Ok(());
        }
        self.out = self.session.greeting().to_wire();
        loop {
            let (used, events) = self.session.step(&self.buf[self.start..self.end]);
            self.start += used;
            if events.is_empty() && used == 0 {
                self.flush().await?;
                if !self.fill().await? {
                    return Ok(());
                }
                continue;
            }
            for event in events {
                if self.handle(event).await? == Flow::Stop {
                    return Ok(());
                }
            }
        }
    }

    /// Wait before greeting; false: the client spoke first (refused) or left.
    async fn greet_pause(&mut self) -> io::Result<bool> {
        if self.limits.greet_pause.is_zero() {
            return Ok(true);
        }
        match timeout(self.limits.greet_pause, self.stream.read(&mut self.buf)).await {
            Err(_) => Ok(true),
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(_)) => {
                tracing::info!("client spoke before the greeting");
                let r = Reply::new(554, "5.5.0", "Protocol error: client spoke before the greeting");
                self.out = r.to_wire();
                self.flush().await?;
                let _ = self.stream.shutdown().await;
                Ok(false)
            }
            Ok(Err(e)) => Err(e),
        }
    }

    /// Read more; false: the client left or a time limit closed the session.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let mut wait = self.limits.idle_timeout;
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return self.time_out("Session time limit exceeded, closing connection").await;
            }
            wait = wait.min(left);
        }
        match timeout(wait, self.stream.read(&mut self.buf[self.end..])).await {
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                self.end += n;
                Ok(true)
            }
            Ok(Err(e)) => Err(e),
            Err(_) if self.deadline.is_some_and(|d| Instant::now() >= d) => {
                self.time_out("Session time limit exceeded, closing connection").await
            }
            Err(_) => self.time_out("Idle timeout, closing connection").await,
        }
    }

    async fn time_out(&mut self, text: &str) -> io::Result<bool> {
        let _ = self.stream.write_all(&Reply::new(421, "4.4.2", text).to_wire()).await;
        let _ = self.stream.shutdown().await;
        Ok(false)
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    async fn handle(&mut self, event: Event) -> io::Result<Flow> {
        match event {
            Event::Reply(r) => self.out.extend(r.to_wire()),
            Event::Hello(name) => self.handler.hello(&name),
            Event::Mail(from) => {
                let r = self.handler.mail(&from).await;
                self.session.mail_result(&r);
                self.out.extend(r.to_wire());
            }
            Event::Rcpt(to) => {
                let r = self.handler.rcpt(&to).await;
                self.session.rcpt_result(&r);
                self.out.extend(r.to_wire());
            }
            Event::DataStart => {
                self.chunk_error = None;
                let r = self.handler.data_start().await;
                if let Some(reply) = self.session.data_result(r) {
                    self.out.extend(reply.to_wire());
                }
            }
            Event::DataChunk(bytes) => {
                if self.chunk_error.is_none()
                    && let Err(r) = self.handler.data_chunk(&bytes).await
                {
                    self.chunk_error = Some(r);
                }
            }
            Event::DataEnd => self.data_end().await?,
            Event::DataAbort(r) => {
                self.handler.reset();
                self.out.extend(r.to_wire());
            }
            Event::Reset => self.handler.reset(),
            Event::Auth(creds) => {
                let r = self.handler.auth(creds).await;
                self.session.auth_result(&r);
                self.out.extend(r.to_wire());
            }
            Event::StartTls(r) => return self.starttls(r).await,
            Event::Close(r) => {
                self.out.extend(r.to_wire());
                self.flush().await?;
                let _ = self.stream.shutdown().await;
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Go)
    }

    async fn data_end(&mut self) -> io::Result<()> {
        let replies = match self.chunk_error.take() {
            Some(r) => {
                self.handler.reset();
                let n = if self.session.config().mode == Mode::Lmtp { self.session.recipients() } else { 1 };
                vec![r; n]
            }
            None => self.handler.data_end().await,
        };
        for r in replies {
            // LMTP: one reply per recipient, each written out once the handler has stored
            // every copy (RFC 2033 allows waiting; none is sent early).
            self.out.extend(r.to_wire());
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        self.stream.flush().await?;
        self.session.transaction_done();
        Ok(())
    }

    /// RFC 3207: 220, handshake, and the session starts over inside TLS.
    async fn starttls(&mut self, reply: Reply) -> io::Result<Flow> {
        self.out.extend(reply.to_wire());
        self.flush().await?;
        // CVE-2011-0411: bytes that came after the STARTTLS line were sent in the clear (maybe
        // by someone in the middle); they must never be read as commands inside TLS.
        (self.start, self.end) = (0, 0);
        let (Some(acceptor), Some(plain)) = (self.tls, self.stream.take_plain()) else {
            return Ok(Flow::Stop);
        };
        match timeout(self.limits.idle_timeout, acceptor.accept(plain)).await {
            Ok(Ok(tls)) => {
                let info = TlsInfo::from_connection(tls.get_ref().1);
                self.stream = Stream::Tls(Box::new(tls));
                self.session.tls_started();
                self.chunk_error = None;
                self.handler.reset();
                self.handler.tls_established(&info);
                Ok(Flow::Go)
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                self.handler.tls_failed();
                Ok(Flow::Stop)
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                self.handler.tls_failed();
                Ok(Flow::Stop)
            }
        }
    }
}
