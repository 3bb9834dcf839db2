//! One ManageSieve connection: the socket loop around [`crate::managesieve::Session`]. It reads
//! lines and literals through the [`Framer`] (a literal over its limit is skipped unread, never
//! buffered), sends what the session says, and does its outside work: STARTTLS, logins (the
//! same path as IMAP, service `sieve`), and the script commands on the user's
//! [`SieveScripts`] on the blocking pool.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use daemon::listen::{Peer, Stream};
use mailstore::SieveScripts;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::lines::{Input, LineReader};
use super::{Context, client_ip, handshake, login};
use crate::managesieve::command::{MAX_LINE, Refusal};
use crate::managesieve::response::Code;
use crate::managesieve::{Action, Config, Event, Frame, Framer, Limits, LoginResult, Session, scripts};

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
    framer: Framer,
    out: Vec<u8>,
    /// The logged-in user's scripts.
    scripts: Option<SieveScripts>,
    limits: Limits,
    commands: usize,
}

/// Serves one ManageSieve connection (STARTTLS when `[tls]` is set).
pub async fn serve(ctx: Arc<Context>, mut stream: Stream, peer: Peer) {
    let refusal = b"BYE (TRYLATER) \"Too many connections, try again later.\"\r\n";
    let Some(_permit) = super::admit(&ctx, &mut stream, &peer, "managesieve", refusal).await else {
        return;
    };
    let cfg = Config {
        tls_available: ctx.tls.is_some(),
        tls_active: false,
        plaintext_ok: ctx.plaintext_ok(&peer),
        max_auth_failures: ctx.cfg.max_auth_failures.get(),
        max_bad_commands: ctx.cfg.max_bad_commands.get(),
        max_redirects: sieve::Limits::default().max_redirects,
    };
    let limits = Limits {
        max_scripts: ctx.cfg.managesieve_max_scripts,
        max_script_size: ctx.cfg.managesieve_max_script_size.get().min(sieve::check::MAX_SCRIPT_SIZE as u64),
    };
    let session = Session::new(cfg);
    let mut conn = Conn {
        ctx: ctx.clone(),
        peer: peer.clone(),
        out: session.greeting(),
        session,
        lines: LineReader::new(),
        framer: Framer::new(limits.max_script_size),
        scripts: None,
        limits,
        commands: 0,
    };
    if let Err(e) = serve_plain(&mut conn, stream).await {
        tracing::debug!("managesieve connection client={} ended: {e}", client_ip(&peer));
    }
    if let Some(user) = conn.session.login() {
        tracing::info!(
            "managesieve logout user={user} client={} commands={}",
            client_ip(&peer),
            conn.commands
        );
    }
}

async fn serve_plain(conn: &mut Conn, mut stream: Stream) -> io::Result<()> {
    match conn.run(&mut stream).await? {
        Flow::Close => Ok(()),
        Flow::StartTls => {
            let tls = conn.ctx.tls.clone().expect("STARTTLS is offered only with TLS configured");
            conn.lines.clear();
            let mut s = handshake(&tls, stream, &conn.ctx).await?;
            let actions = conn.session.tls_started();
            if let Some(flow) = conn.execute(actions).await {
                conn.flush(&mut s).await?;
                if matches!(flow, Flow::Close) {
                    return Ok(());
                }
            }
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
                    Err(_) => {
                        let bye = self.session.goodbye(None, "Disconnected for inactivity.");
                        return self.goodbye(io, bye).await;
                    }
                    Ok(Ok(None)) => return Ok(Flow::Close),
                    Ok(Err(e)) => return Err(e),
                    Ok(Ok(Some(i))) => i,
                },
                // Between commands only: a script being written is finished first.
                () = self.ctx.shutdown.triggered(), if !self.framer.in_command() => {
                    let bye = self.session.goodbye(Some(Code::TryLater), "Server shutting down.");
                    return self.goodbye(io, bye).await;
                }
            };
            let frame = match &input {
                Input::Line(l) => self.framer.line(Some(l)),
                Input::TooLong => self.framer.line(None),
            };
            let started = std::time::Instant::now();
            let (actions, name) = match frame {
                Frame::Literal { len, keep } => {
                    let mut bytes = Vec::new();
                    if !self.lines.bytes(io, len as usize, keep, &mut bytes).await? {
                        return Ok(Flow::Close);
                    }
                    if keep {
                        self.framer.literal(&bytes);
                    }
                    continue;
                }
                Frame::Command(buf) => (self.session.handle(Event::Command(&buf)), command_name(&buf)),
                Frame::Refused(r) => {
                    let name = if r == Refusal::ScriptTooLarge { "PUTSCRIPT" } else { "" };
                    (self.session.handle(Event::Refused(r)), name.to_string())
                }
            };
            self.commands += 1;
            let flow = self.execute(actions).await;
            crate::metrics::command("managesieve", &name, started);
            if let Some(flow) = flow {
                self.flush(io).await?;
                return Ok(flow);
            }
        }
    }

    async fn goodbye<S: AsyncWrite + Unpin>(&mut self, io: &mut S, bye: Vec<u8>) -> io::Result<Flow> {
        self.out.extend_from_slice(&bye);
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
    async fn execute(&mut self, actions: Vec<Action>) -> Option<Flow> {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Send(bytes) => self.out.extend_from_slice(&bytes),
                Action::StartTls => return Some(Flow::StartTls),
                Action::Close => return Some(Flow::Close),
                Action::CheckLogin(creds) => {
                    let (name, result) = self.login(&creds).await;
                    queue.extend(self.session.login_result(&name, result));
                    if result != LoginResult::Ok {
                        self.scripts = None;
                    }
                }
                Action::Script(op) => {
                    let reply = match (&self.scripts, self.session.login()) {
                        (Some(store), Some(user)) => {
                            let (store, limits, user) = (store.clone(), self.limits, user.to_string());
                            let run = move || scripts::execute(&op, &store, &limits, &user);
                            match tokio::task::spawn_blocking(run).await {
                                Ok(reply) => reply,
                                Err(e) => {
                                    tracing::error!("managesieve: {e}");
                                    crate::managesieve::response::no(Some(Code::TryLater), "Internal error.")
                                }
                            }
                        }
                        _ => crate::managesieve::response::no(None, "Authenticate first."),
                    };
                    self.out.extend(reply);
                }
            }
        }
        None
    }

    async fn login(&mut self, creds: &proto::sasl::Credentials) -> (String, LoginResult) {
        let client = client_ip(&self.peer);
        match login::check(&self.ctx, creds, "sieve", &client).await {
            Ok(user) => {
                let home = mailstore::sieve_scripts::home(&user.maildir);
                tracing::info!("managesieve login user={} client={client}", user.name);
                self.scripts = Some(SieveScripts::new(home));
                (user.name, LoginResult::Ok)
            }
            Err(login::Failure::Rejected) => (creds.login.clone(), LoginResult::Rejected),
            Err(login::Failure::TempFail) => (creds.login.clone(), LoginResult::TempFail),
        }
    }
}

/// The command word of a command, upper case, for metrics.
fn command_name(buf: &[u8]) -> String {
    let word = buf.split(|b| *b == b' ' || *b == b'\r' || *b == b'\n').next().unwrap_or(b"");
    String::from_utf8_lossy(&word[..word.len().min(16)]).to_ascii_uppercase()
}
