//! One POP3 connection: the socket loop around [`crate::pop3::Session`]. It reads lines (with
//! the idle timeout and the line limit), sends what the session says, and does the session's
//! outside work: logins, reading messages, the UPDATE state, the STLS handshake.
//!
//! Replies are buffered and written when no further pipelined command is waiting, so a client
//! that pipelines (RFC 2449 PIPELINING) gets its replies in few packets.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use daemon::listen::{Peer, Stream};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::lines::{Input, LineReader};
use super::store::{self, Store};
use super::{Context, client_ip, handshake, login};
use crate::pop3::body::Encoder;
use crate::pop3::command::MAX_LINE;
use crate::pop3::{Action, Config, Event, GREETING, LoginResult, Session};

/// Bytes of a message read per blocking call.
const CHUNK: usize = 128 * 1024;
/// Output is written once this much is buffered.
const FLUSH_AT: usize = 64 * 1024;

/// How a run of the loop ended.
enum Flow {
    Close,
    StartTls,
}

/// The state of one connection besides the socket.
struct Conn {
    ctx: Arc<Context>,
    peer: Peer,
    session: Session,
    lines: LineReader,
    out: Vec<u8>,
    store: Option<Store>,
    stats: Stats,
}

/// What the logout line reports.
#[derive(Default)]
struct Stats {
    retr: usize,
    top: usize,
    bytes: u64,
    deleted: usize,
}

/// Serves one POP3 connection; `implicit_tls` for port 995.
pub async fn serve(ctx: Arc<Context>, mut stream: Stream, peer: Peer, implicit_tls: bool) {
    let refusal = b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n";
    let Some(_permit) = super::admit(&ctx, &mut stream, &peer, "pop3", refusal).await else { return };
    let tls_active = implicit_tls;
    let cfg = Config {
        tls_available: ctx.tls.is_some(),
        tls_active,
        plaintext_ok: tls_active || ctx.plaintext_ok(&peer),
        max_auth_failures: ctx.cfg.max_auth_failures.get(),
        max_bad_commands: ctx.cfg.max_bad_commands.get(),
    };
    let mut conn = Conn {
        ctx: ctx.clone(),
        peer: peer.clone(),
        session: Session::new(cfg),
        lines: LineReader::new(),
        out: GREETING.to_vec(),
        store: None,
        stats: Stats::default(),
    };
    let result = match (implicit_tls, &ctx.tls) {
        (true, Some(tls)) => match handshake(tls, stream, &ctx).await {
            Ok(mut s) => conn.run(&mut s).await.map(|_| ()),
            Err(e) => Err(e),
        },
        (true, None) => Ok(()),
        (false, _) => serve_plain(&mut conn, stream).await,
    };
    if let Err(e) = result {
        tracing::debug!("pop3 connection client={} ended: {e}", client_ip(&peer));
    }
    conn.log_out();
}

async fn serve_plain(conn: &mut Conn, mut stream: Stream) -> io::Result<()> {
    match conn.run(&mut stream).await? {
        Flow::Close => Ok(()),
        Flow::StartTls => {
            let tls = conn.ctx.tls.clone().expect("STLS is offered only with TLS configured");
            conn.lines.clear();
            let mut s = handshake(&tls, stream, &conn.ctx).await?;
            conn.session.tls_started();
            conn.run(&mut s).await.map(|_| ())
        }
    }
}

impl Conn {
    /// Reads and answers commands until the session closes or asks for TLS.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut S) -> io::Result<Flow> {
        loop {
            if !self.lines.has_line() {
                self.flush(io).await?;
            }
            let next = tokio::time::timeout(self.ctx.idle_timeout(), self.lines.next(io, MAX_LINE));
            let input = tokio::select! {
                r = next => match r {
                    Err(_) => return self.goodbye(io, b"-ERR Disconnected for inactivity.\r\n").await,
                    Ok(Ok(None)) => return Ok(Flow::Close),
                    Ok(Err(e)) => return Err(e),
                    Ok(Ok(Some(i))) => i,
                },
                // Between commands only: a RETR or an UPDATE in progress is finished first. No
                // QUIT, so no UPDATE: messages marked deleted stay (RFC 1939 §6).
                () = self.ctx.shutdown.triggered() => {
                    return self.goodbye(io, b"-ERR [SYS/TEMP] Server shutting down.\r\n").await;
                }
            };
            let started = std::time::Instant::now();
            let (actions, name) = match &input {
                Input::Line(l) => (self.session.handle(Event::Line(l)), command_name(l)),
                Input::TooLong => (self.session.handle(Event::TooLong), String::new()),
            };
            let flow = self.execute(io, actions).await?;
            crate::metrics::command("pop3", &name, started);
            if let Some(flow) = flow {
                self.flush(io).await?;
                return Ok(flow);
            }
        }
    }

    /// Sends a last line and ends the connection.
    async fn goodbye<S: AsyncWrite + Unpin>(&mut self, io: &mut S, line: &[u8]) -> io::Result<Flow> {
        self.out.extend_from_slice(line);
        self.flush(io).await?;
        Ok(Flow::Close)
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, io: &mut S) -> io::Result<()> {
        if !self.out.is_empty() {
            io.write_all(&self.out).await?;
            io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Carries out the session's actions; `Some` when the loop must stop.
    async fn execute<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        actions: Vec<Action>,
    ) -> io::Result<Option<Flow>> {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Send(bytes) => self.out.extend_from_slice(&bytes),
                Action::StartTls => return Ok(Some(Flow::StartTls)),
                Action::Close => return Ok(Some(Flow::Close)),
                Action::CheckLogin(creds) => {
                    let (name, result) = self.login(&creds).await;
                    queue.extend(self.session.login_result(&name, result));
                }
                Action::Retrieve { uid, top, ok } => self.retrieve(io, uid, top, ok).await?,
                Action::Update { expunge, seen } => {
                    let ok = self.update(expunge, seen).await;
                    queue.extend(self.session.update_result(ok));
                }
            }
        }
        Ok(None)
    }

    async fn login(&mut self, creds: &proto::sasl::Credentials) -> (String, LoginResult) {
        let client = client_ip(&self.peer);
        let user = match login::check(&self.ctx, creds, "pop", &client).await {
            Ok(u) => u,
            Err(login::Failure::Rejected) => return (creds.login.clone(), LoginResult::Rejected),
            Err(login::Failure::TempFail) => return (creds.login.clone(), LoginResult::TempFail),
        };
        let format = self.ctx.cfg.pop3_uidl_format.0.clone();
        let (root, quota) = (user.maildir.clone(), user.quota);
        let opened = tokio::task::spawn_blocking(move || store::open_pop3(&root, &format, quota)).await;
        let result = match opened {
            Ok(Ok(Some((st, maildrop)))) => {
                let (n, size) = maildrop.stat();
                tracing::info!("pop3 login user={} client={client} messages={n} size={size}", user.name);
                self.store = Some(st);
                LoginResult::Ok(maildrop)
            }
            Ok(Ok(None)) => {
                tracing::info!("pop3 login refused user={} client={client}: mailbox in use", user.name);
                LoginResult::InUse
            }
            Ok(Err(e)) => {
                tracing::error!("pop3 login user={} client={client}: cannot open mailbox: {e}", user.name);
                LoginResult::TempFail
            }
            Err(e) => {
                tracing::error!("pop3 login user={} client={client}: {e}", user.name);
                LoginResult::TempFail
            }
        };
        (user.name, result)
    }

    /// Sends one message (RETR) or its top (TOP): `ok`, the dot-stuffed CRLF text, `.`.
    async fn retrieve<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        uid: u32,
        top: Option<u64>,
        ok: Vec<u8>,
    ) -> io::Result<()> {
        let Some(st) = self.store.as_mut() else {
            self.out.extend_from_slice(b"-ERR [SYS/TEMP] Mailbox not open.\r\n");
            return Ok(());
        };
        // The first CHUNK is read here, on the runtime thread: a message file is read from the
        // page cache in microseconds, less than handing it to the blocking pool costs, and that
        // handoff per RETR was a third of the server's CPU per session. Larger messages go on
        // on the blocking pool.
        let first = st.mailbox.open_message(uid).map_err(io::Error::other).and_then(|(mut f, _)| {
            let (chunk, eof) = store::read_chunk(&mut f, CHUNK)?;
            Ok((f, chunk, eof))
        });
        let (mut file, chunk, mut eof) = match first {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("pop3 user={} UID {uid}: {e}", self.session.login().unwrap_or("-"));
                self.out.extend_from_slice(b"-ERR [SYS/TEMP] Cannot read the message, try again later.\r\n");
                return Ok(());
            }
        };
        self.out.extend_from_slice(&ok);
        let mut enc = Encoder::new(top);
        let before = self.out.len();
        enc.feed(&chunk, &mut self.out);
        let mut sent = (self.out.len() - before) as u64;
        while !eof && !enc.is_done() {
            if self.out.len() >= FLUSH_AT {
                self.flush(io).await?;
            }
            // Once +OK is out there is no way to report an error but closing the connection.
            let (f, next) = blocking(move || {
                let r = store::read_chunk(&mut file, CHUNK);
                (file, r)
            })
            .await?;
            file = f;
            let (chunk, at_end) = next?;
            eof = at_end;
            let before = self.out.len();
            enc.feed(&chunk, &mut self.out);
            sent += (self.out.len() - before) as u64;
        }
        enc.finish(&mut self.out);
        match top {
            None => self.stats.retr += 1,
            Some(_) => self.stats.top += 1,
        }
        self.stats.bytes += sent;
        Ok(())
    }

    async fn update(&mut self, expunge: Vec<u32>, seen: Vec<u32>) -> bool {
        let Some(mut st) = self.store.take() else { return true };
        self.stats.deleted = expunge.len();
        match tokio::task::spawn_blocking(move || store::update(&mut st, &expunge, &seen)).await {
            Ok(ok) => ok,
            Err(e) => {
                tracing::error!("pop3 update: {e}");
                false
            }
        }
    }

    fn log_out(&self) {
        if let Some(user) = self.session.login() {
            let s = &self.stats;
            tracing::info!(
                "pop3 logout user={user} client={} retr={} top={} bytes={} deleted={}",
                client_ip(&self.peer),
                s.retr,
                s.top,
                s.bytes,
                s.deleted
            );
        }
    }
}

/// Runs `f` on the blocking pool; a panic there becomes an I/O error.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)
}

/// The command word of a POP3 line, upper case (a password line's other words are not read).
fn command_name(line: &[u8]) -> String {
    let word = line.split(|b| *b == b' ' || *b == b'\r' || *b == b'\n').next().unwrap_or(b"");
    String::from_utf8_lossy(&word[..word.len().min(8)]).to_ascii_uppercase()
}
