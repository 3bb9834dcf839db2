//! One IMAP connection: the socket loop. It frames commands (lines and literals, within
//! [`command::MAX_LINE`] and the literal limits), parses them with [`crate::imap::command`],
//! and answers the not-authenticated state itself (CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE,
//! LOGOUT) and IDLE. Everything that touches mail is [`Session`]'s work, run on the blocking
//! pool since mailstore is synchronous file I/O.
//!
//! Replies are buffered and written when no further pipelined command is waiting.

mod condstore;
mod extended;
mod fetch;
mod folders;
mod list;
mod metadata;
mod output;
mod quota;
mod recent;
mod search;
mod selected;
mod session;
mod sort;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use daemon::listen::{Peer, Stream};
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::CommandBody;
use proto::sasl::{self, Credentials, Exchange, Mechanism, Response, Step};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

pub use self::session::Session;
use super::lines::{Input, LineReader};
use super::{Context, client_ip, handshake, login};
use crate::imap::command::{self, MAX_APPEND, MAX_LINE, MAX_OTHER_LITERALS, Parsed};
use crate::imap::response::capabilities;

/// How often a session in IDLE looks at its mailbox for changes.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// How a run of the loop ended.
enum Flow {
    Close,
    StartTls,
    /// COMPRESS=DEFLATE was answered OK: the rest is compressed.
    Compress,
}

/// One framed command, or why there is none.
enum Framed {
    Command(Vec<u8>),
    /// The line was too long, or a literal over its limit; `tag` if known.
    Refused(String, &'static str),
    Eof,
}

struct Conn {
    ctx: Arc<Context>,
    peer: Peer,
    tls_active: bool,
    compressed: bool,
    lines: LineReader,
    out: Vec<u8>,
    session: Option<Box<Session>>,
    auth_failures: u32,
    bad_commands: u32,
    /// This session's place in `max_user_ip_connections`, once logged in.
    user_ip: Option<super::userip::Slot>,
}

/// Serves one IMAP connection; `implicit_tls` for port 993.
pub async fn serve(ctx: Arc<Context>, mut stream: Stream, peer: Peer, implicit_tls: bool) {
    let refusal = b"* BYE [UNAVAILABLE] Too many connections, try again later.\r\n";
    let Some(_permit) = super::admit(&ctx, &mut stream, &peer, "imap", refusal).await else { return };
    let mut conn = Conn {
        ctx: ctx.clone(),
        peer: peer.clone(),
        tls_active: implicit_tls,
        compressed: false,
        lines: LineReader::new(),
        out: Vec::new(),
        session: None,
        auth_failures: 0,
        bad_commands: 0,
        user_ip: None,
    };
    conn.out = format!("* OK [CAPABILITY {}] mailroom ready.\r\n", conn.capabilities()).into_bytes();
    let result = match (implicit_tls, &ctx.tls) {
        (true, Some(tls)) => match handshake(tls, stream, &ctx).await {
            Ok(mut s) => conn.run_on(&mut s).await,
            Err(e) => Err(e),
        },
        (true, None) => Ok(()),
        (false, _) => serve_plain(&mut conn, stream).await,
    };
    if let Err(e) = result {
        tracing::debug!("imap connection client={} ended: {e}", client_ip(&peer));
    }
    if let Some(s) = &conn.session {
        tracing::info!("imap logout user={} client={}", s.user, client_ip(&peer));
    }
}

async fn serve_plain(conn: &mut Conn, mut stream: Stream) -> io::Result<()> {
    match conn.run(&mut stream).await? {
        Flow::Close => Ok(()),
        Flow::StartTls => {
            let tls = conn.ctx.tls.clone().expect("STARTTLS is offered only with TLS configured");
            conn.lines.clear();
            let mut s = handshake(&tls, stream, &conn.ctx).await?;
            conn.tls_active = true;
            conn.run_on(&mut s).await
        }
        Flow::Compress => conn.compressed(&mut stream).await,
    }
}

impl Conn {
    /// Serves on `io` (plain after STARTTLS was refused or done, or TLS) to the end.
    async fn run_on<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut S) -> io::Result<()> {
        match self.run(io).await? {
            Flow::Compress => self.compressed(io).await,
            // STARTTLS is refused on TLS.
            Flow::Close | Flow::StartTls => Ok(()),
        }
    }

    /// Serves the rest of the connection under DEFLATE (RFC 4978).
    async fn compressed<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut S) -> io::Result<()> {
        // The client waits for the OK before it compresses: nothing read ahead is owed.
        self.lines.clear();
        self.compressed = true;
        let mut z = super::deflate::Deflate::new(io);
        self.run(&mut z).await.map(|_| ())
    }

    fn plaintext_ok(&self) -> bool {
        self.tls_active || self.ctx.plaintext_ok(&self.peer)
    }

    fn capabilities(&self) -> String {
        let starttls = self.ctx.tls.is_some() && !self.tls_active;
        capabilities(starttls, self.session.is_some(), self.plaintext_ok())
    }

    fn send(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, io: &mut S) -> io::Result<()> {
        if !self.out.is_empty() {
            io.write_all(&self.out).await?;
            io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Reads and answers commands until the client logs out or asks for TLS.
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut S) -> io::Result<Flow> {
        loop {
            if !self.lines.has_line() {
                self.flush(io).await?;
            }
            let shutdown = self.ctx.shutdown.clone();
            let next = tokio::time::timeout(self.ctx.idle_timeout(), self.frame(io));
            let framed = tokio::select! {
                r = next => Some(r),
                () = shutdown.triggered() => None,
            };
            let framed = match framed {
                None => return self.bye(io, "* BYE Server shutting down.").await,
                Some(Err(_)) => return self.bye(io, "* BYE Disconnected for inactivity.").await,
                Some(Ok(r)) => r?,
            };
            let buf = match framed {
                Framed::Eof => return Ok(Flow::Close),
                Framed::Refused(tag, why) => {
                    self.send(&format!("{tag} BAD {why}"));
                    if self.bad_command() {
                        return self.bye(io, "* BYE Too many invalid commands.").await;
                    }
                    continue;
                }
                Framed::Command(buf) => buf,
            };
            let started = std::time::Instant::now();
            let flow = self.dispatch(io, command::parse(&buf)).await?;
            crate::metrics::command("imap", &command::tag_and_name(&buf).1, started);
            if let Some(flow) = flow {
                self.flush(io).await?;
                return Ok(flow);
            }
        }
    }

    async fn bye<S: AsyncWrite + Unpin>(&mut self, io: &mut S, line: &str) -> io::Result<Flow> {
        self.send(line);
        self.flush(io).await?;
        Ok(Flow::Close)
    }

    /// Counts a bad command; true when the client has had too many.
    fn bad_command(&mut self) -> bool {
        self.bad_commands += 1;
        self.bad_commands >= self.ctx.cfg.max_bad_commands.get()
    }

    /// Reads one command with its literals. A literal over the limit is refused: a synchronising
    /// one before the client sends it, a LITERAL+ one by reading and dropping its bytes.
    async fn frame<S: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut S) -> io::Result<Framed> {
        let mut buf = Vec::new();
        let mut literals = 0u64;
        let mut refused: Option<&'static str> = None;
        loop {
            let line = match self.lines.next(io, MAX_LINE).await? {
                None => return Ok(Framed::Eof),
                Some(Input::TooLong) => {
                    let (tag, _) = command::tag_and_name(&buf);
                    return Ok(Framed::Refused(command::safe_tag(&tag).to_string(), "Line too long"));
                }
                Some(Input::Line(l)) => l,
            };
            buf.extend_from_slice(&line);
            buf.extend_from_slice(b"\r\n");
            let Some(lit) = command::literal_at_end(&line) else {
                return Ok(match refused {
                    None => Framed::Command(buf),
                    Some(why) => {
                        let (tag, _) = command::tag_and_name(&buf);
                        Framed::Refused(command::safe_tag(&tag).to_string(), why)
                    }
                });
            };
            let (tag, name) = command::tag_and_name(&buf);
            let limit = if name == "APPEND" { MAX_APPEND } else { MAX_OTHER_LITERALS };
            literals += lit.len;
            if literals > limit || buf.len() > MAX_LINE {
                if !lit.non_sync {
                    // The client waits for "+"; it gets the refusal instead and sends nothing.
                    let tag = command::safe_tag(&tag).to_string();
                    return Ok(Framed::Refused(tag, "[TOOBIG] Literal too large"));
                }
                refused = Some("[TOOBIG] Literal too large");
            } else if !lit.non_sync {
                self.out.extend_from_slice(b"+ OK\r\n");
                self.flush(io).await?;
            }
            let keep = refused.is_none();
            if !self.lines.bytes(io, lit.len as usize, keep, &mut buf).await? {
                return Ok(Framed::Eof);
            }
        }
    }

    /// Answers one parsed command; `Some` when the connection must end or start TLS.
    async fn dispatch<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        parsed: Parsed,
    ) -> io::Result<Option<Flow>> {
        let cmd = match parsed {
            Parsed::Bad(tag, why) => {
                self.send(&format!("{tag} BAD {why}"));
                if self.bad_command() {
                    return self.bye(io, "* BYE Too many invalid commands.").await.map(Some);
                }
                return Ok(None);
            }
            Parsed::Id(tag, args) => {
                tracing::debug!("imap ID client={} {}", client_ip(&self.peer), args.escape_debug());
                self.send("* ID (\"name\" \"mailroom\")");
                self.send(&format!("{tag} OK ID completed."));
                return Ok(None);
            }
            Parsed::Namespace(tag) if self.session.is_some() => {
                self.send("* NAMESPACE ((\"\" \"/\")) NIL NIL");
                self.send(&format!("{tag} OK Namespace completed."));
                return Ok(None);
            }
            Parsed::Unauthenticate(tag) if self.session.is_some() => {
                // RFC 8437: back to the not-authenticated state on the same connection (and
                // TLS); the mailbox is closed without expunging, the user's slot given back.
                if let Some(s) = &self.session {
                    tracing::info!("imap unauthenticate user={} client={}", s.user, client_ip(&self.peer));
                }
                self.session = None;
                self.user_ip = None;
                self.send(&format!("{tag} OK Unauthenticate completed."));
                return Ok(None);
            }
            Parsed::Namespace(tag)
            | Parsed::UidExpunge(tag, _)
            | Parsed::Ext(tag, _)
            | Parsed::Unauthenticate(tag)
                if self.session.is_none() =>
            {
                self.send(&format!("{tag} BAD Log in first."));
                return Ok(None);
            }
            Parsed::Namespace(_) | Parsed::Unauthenticate(_) => unreachable!("handled above"),
            Parsed::UidExpunge(tag, set) => {
                self.blocking(io, move |s, out| s.uid_expunge(&tag, &set, out)).await?;
                return Ok(None);
            }
            Parsed::Ext(tag, ext) => {
                self.blocking(io, move |s, out| s.execute_ext(&tag, *ext, out)).await?;
                return Ok(None);
            }
            Parsed::Codec(cmd) => cmd,
        };
        let tag = cmd.tag.inner().to_string();
        match cmd.body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.send(&format!("* CAPABILITY {caps}"));
                self.send(&format!("{tag} OK Capability completed."));
            }
            CommandBody::Logout => {
                // Given back before the answer: the client may log in again at once.
                self.user_ip = None;
                self.send("* BYE Logging out.");
                self.send(&format!("{tag} OK Logout completed."));
                return Ok(Some(Flow::Close));
            }
            CommandBody::Noop if self.session.is_none() => self.send(&format!("{tag} OK NOOP completed.")),
            CommandBody::StartTLS => {
                if self.tls_active || self.ctx.tls.is_none() || self.session.is_some() {
                    self.send(&format!("{tag} BAD STARTTLS not available."));
                } else {
                    self.send(&format!("{tag} OK Begin TLS negotiation now."));
                    return Ok(Some(Flow::StartTls));
                }
            }
            CommandBody::Login { username, password } if self.session.is_none() => {
                if !self.plaintext_ok() {
                    self.send(&format!("{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed."));
                    return Ok(None);
                }
                let login = String::from_utf8_lossy(username.as_ref()).into_owned();
                let password = proto::Secret::new(password.declassify().as_ref().to_vec());
                return self.login(io, &tag, Credentials { login, password }).await;
            }
            CommandBody::Authenticate { mechanism, initial_response } if self.session.is_none() => {
                let mech = match mechanism {
                    AuthMechanism::Plain => Mechanism::Plain,
                    AuthMechanism::Login => Mechanism::Login,
                    _ => {
                        self.send(&format!("{tag} NO Unsupported authentication mechanism."));
                        return Ok(None);
                    }
                };
                if !self.plaintext_ok() {
                    self.send(&format!("{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed."));
                    return Ok(None);
                }
                let initial = initial_response.map(|r| r.declassify().to_vec());
                return self.authenticate(io, &tag, mech, initial).await;
            }
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } => {
                self.send(&format!("{tag} BAD Already logged in."));
            }
            _ if self.session.is_none() => self.send(&format!("{tag} BAD Log in first.")),
            CommandBody::Compress { .. } if self.compressed => {
                self.send(&format!("{tag} NO [COMPRESSIONACTIVE] DEFLATE is active already."));
            }
            CommandBody::Compress { .. } => {
                // imap-codec knows DEFLATE only; any other name was a parse error.
                self.send(&format!("{tag} OK DEFLATE active."));
                return Ok(Some(Flow::Compress));
            }
            CommandBody::Idle => return self.idle(io, &tag).await,
            body => self.blocking(io, move |s, out| s.execute(&tag, body, out)).await?,
        }
        Ok(None)
    }

    /// Runs `f` on the session on the blocking pool, with the output buffer; what it spills
    /// ([`output`]) is written to `io` meanwhile, and the rest stays buffered.
    async fn blocking<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        f: impl FnOnce(&mut Session, &mut Vec<u8>) + Send + 'static,
    ) -> io::Result<()> {
        let mut session = self.session.take().expect("logged in");
        let mut out = std::mem::take(&mut self.out);
        let (tx, mut rx) = tokio::sync::mpsc::channel(output::CHANNEL);
        session.spill = Some(tx);
        let task = tokio::task::spawn_blocking(move || {
            f(&mut session, &mut out);
            session.spill = None;
            (session, out)
        });
        // The channel ends when the task drops its sender. A write that fails or stalls
        // closes it: the command's sends fail from then on, and FETCH stops early.
        let mut written = Ok(());
        while let Some(chunk) = rx.recv().await {
            let write = async {
                io.write_all(&chunk).await?;
                io.flush().await
            };
            let limit = output::WRITE_TIMEOUT.min(self.ctx.idle_timeout());
            written = match tokio::time::timeout(limit, write).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")),
            };
            if written.is_err() {
                rx.close();
                while rx.recv().await.is_some() {}
                break;
            }
        }
        let (session, out) = task.await.map_err(io::Error::other)?;
        self.session = Some(session);
        self.out = out;
        written
    }

    /// AUTHENTICATE: challenges and responses until the mechanism has the credentials.
    async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        tag: &str,
        mech: Mechanism,
        initial: Option<Vec<u8>>,
    ) -> io::Result<Option<Flow>> {
        let (mut ex, mut step): (Exchange, Step) = Exchange::start(mech, initial);
        loop {
            match step {
                Step::Done(creds) => return self.login(io, tag, creds).await,
                Step::Fail(why) => {
                    self.send(&format!("{tag} BAD {why}"));
                    return Ok(None);
                }
                Step::Challenge(c) => {
                    self.send(&format!("+ {}", sasl::encode_challenge(c)));
                    self.flush(io).await?;
                    let line = match self.lines.next(io, MAX_LINE).await? {
                        None => return Ok(Some(Flow::Close)),
                        Some(Input::TooLong) => {
                            self.send(&format!("{tag} BAD Response too long."));
                            return Ok(None);
                        }
                        Some(Input::Line(l)) => l,
                    };
                    step = match sasl::decode_response(&String::from_utf8_lossy(&line)) {
                        Ok(Response::Cancel) => {
                            self.send(&format!("{tag} BAD Authentication cancelled."));
                            return Ok(None);
                        }
                        Ok(Response::Data(d)) => ex.respond(d),
                        Err(why) => Step::Fail(why),
                    };
                }
            }
        }
    }

    /// Checks credentials, opens the Maildir (creating the special-use folders), answers.
    async fn login<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        tag: &str,
        creds: Credentials,
    ) -> io::Result<Option<Flow>> {
        let client = client_ip(&self.peer);
        let user = match login::check(&self.ctx, &creds, "imap", &client).await {
            Ok(u) => u,
            Err(login::Failure::Rejected) => {
                self.send(&format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed."));
                self.auth_failures += 1;
                if self.auth_failures >= self.ctx.cfg.max_auth_failures.get() {
                    return self.bye(io, "* BYE Too many failed logins.").await.map(Some);
                }
                return Ok(None);
            }
            Err(login::Failure::TempFail) => {
                self.send(&format!("{tag} NO [UNAVAILABLE] Temporary failure, try again later."));
                return Ok(None);
            }
        };
        let name = user.name.clone();
        let limit = self.ctx.cfg.max_user_ip_connections.get();
        let Some(slot) = self.ctx.user_ip.take(&name, &client, limit) else {
            tracing::warn!("imap login user={name} client={client}: max_user_ip_connections={limit} reached");
            self.send(&format!("{tag} NO [LIMIT] Too many connections from this user and address."));
            return Ok(None);
        };
        let opened =
            tokio::task::spawn_blocking(move || Session::open(user)).await.map_err(io::Error::other)?;
        match opened {
            Ok(s) => {
                tracing::info!("imap login user={name} client={client}");
                self.session = Some(Box::new(s));
                self.user_ip = Some(slot);
                let caps = self.capabilities();
                self.send(&format!("{tag} OK [CAPABILITY {caps}] Logged in."));
            }
            Err(e) => {
                tracing::error!("imap login user={name} client={client}: cannot open mailbox: {e}");
                self.send(&format!("{tag} NO [UNAVAILABLE] Cannot open the mailbox, try again later."));
            }
        }
        Ok(None)
    }

    /// IDLE (RFC 2177): changes are looked for every [`IDLE_POLL`] and sent at once, until DONE.
    async fn idle<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        tag: &str,
    ) -> io::Result<Option<Flow>> {
        self.blocking(io, |s, _| s.release_memory()).await?;
        self.send("+ idling");
        self.flush(io).await?;
        // An idle session keeps no buffer a big response left behind.
        self.out = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30 * 60);
        loop {
            let line = tokio::select! {
                l = self.lines.next(io, MAX_LINE) => l?,
                () = tokio::time::sleep(IDLE_POLL) => {
                    if tokio::time::Instant::now() > deadline {
                        return self.bye(io, "* BYE Disconnected for inactivity.").await.map(Some);
                    }
                    if self.session.as_ref().is_some_and(|s| s.changed_on_disk()) {
                        self.blocking(io, |s, out| s.report_changes(out)).await?;
                        self.flush(io).await?;
                    }
                    continue;
                }
                () = self.ctx.shutdown.triggered() => {
                    return self.bye(io, "* BYE Server shutting down.").await.map(Some);
                }
            };
            match line {
                None => return Ok(Some(Flow::Close)),
                Some(Input::Line(l)) if l.eq_ignore_ascii_case(b"DONE") => {
                    self.blocking(io, |s, out| s.report_changes(out)).await?;
                    self.send(&format!("{tag} OK Idle completed."));
                    return Ok(None);
                }
                Some(_) => {
                    self.send(&format!("{tag} BAD Expected DONE."));
                    return Ok(None);
                }
            }
        }
    }
}
