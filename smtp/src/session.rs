//! The server side of an SMTP or LMTP session as a state machine that does no I/O: feed it the
//! bytes received, get back events. Commands are parsed by smtp-proto, one complete line at a
//! time; this module owns line framing and its limits, sequencing (RFC 5321 §4.1.4), the
//! pipelining rules (RFC 2920), STARTTLS sequencing (RFC 3207), the AUTH exchange (RFC 4954,
//! `auth`), DATA and BDAT framing (RFC 3030, `body`), and the replies the protocol itself
//! dictates. Decisions that need the outside world (is this recipient ours? is this password
//! right?) come out as events, which the driver answers with [`Session::mail_result`] and
//! friends.

mod auth;
mod body;
mod hello;
mod params;

use proto::sasl::Credentials;
use smtp_proto::{Error as ProtoError, MailFrom, RcptTo, Request};

use crate::data::{BareLf, ChunkDecoder};
use crate::reply::Reply;

/// Longest command line, CRLF included. RFC 5321 §4.5.3.1.4 says 512; clients with many ESMTP
/// parameters exceed that, so we allow what smtp-proto and Postfix's `line_length_limit` allow.
pub const MAX_COMMAND_LINE: usize = 4096;

/// Longest AUTH response line, CRLF included (RFC 4954 §4: 12288 octets of base64).
pub const MAX_AUTH_LINE: usize = 12288 + 2;

/// Which protocol the session speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// RFC 5321 ESMTP (EHLO/HELO).
    Smtp,
    /// RFC 2033 LMTP (LHLO only; one reply per recipient after the body).
    Lmtp,
}

/// Fixed settings of a session.
#[derive(Debug, Clone)]
pub struct Config {
    /// SMTP or LMTP.
    pub mode: Mode,
    /// Our host name, for the greeting and EHLO/LHLO.
    pub hostname: String,
    /// Largest message in bytes (0 = no limit); advertised as SIZE.
    pub max_message_size: u64,
    /// Most recipients per transaction.
    pub max_recipients: usize,
    /// Most protocol errors before the session is closed.
    pub max_errors: u32,
    /// Offer SMTPUTF8 (RFC 6531); without it the SMTPUTF8 parameter is refused.
    pub smtputf8: bool,
    /// Offer STARTTLS (the driver was given a TLS acceptor and the connection is not TLS yet).
    pub starttls: bool,
    /// The connection is already TLS (port 465, or after STARTTLS): no STARTTLS offered.
    pub tls_active: bool,
    /// Offer AUTH PLAIN LOGIN (`proto::sasl::OFFERED`).
    pub auth: bool,
    /// Offer and allow AUTH only under TLS (Postfix `smtpd_tls_auth_only`).
    pub auth_requires_tls: bool,
    /// Offer DSN (RFC 3461); without it RET, ENVID, NOTIFY and ORCPT are refused.
    pub dsn: bool,
    /// Offer REQUIRETLS (RFC 8689) once TLS is active; without it the parameter is refused.
    pub requiretls: bool,
    /// Answer VRFY with 252 (else 502, Postfix `disable_vrfy_command`).
    pub vrfy: bool,
    /// Bare LF or CR in message content (Postfix 3.9 `smtpd_forbid_bare_newline`).
    pub bare_lf: BareLf,
    /// Close on a client that sends more after a command that must end a pipelined group,
    /// unless it has authenticated (Postfix 3.9 `smtpd_forbid_unauth_pipelining`).
    pub forbid_unauth_pipelining: bool,
    /// Most commands per session (0 = no limit), then 421 and close.
    pub max_commands: u32,
    /// HELO/EHLO must name a valid host or an address literal (Postfix
    /// `reject_invalid_helo_hostname`).
    pub strict_helo: bool,
}

impl Config {
    /// LMTP as an MDA serves it: no TLS, no AUTH, no DSN, VRFY answered, no command limit.
    pub fn lmtp(hostname: impl Into<String>) -> Config {
        Config {
            mode: Mode::Lmtp,
            hostname: hostname.into(),
            max_message_size: 0,
            max_recipients: 1000,
            max_errors: 20,
            smtputf8: true,
            starttls: false,
            tls_active: false,
            auth: false,
            auth_requires_tls: false,
            dsn: false,
            requiretls: false,
            vrfy: true,
            bare_lf: BareLf::Normalize,
            forbid_unauth_pipelining: false,
            max_commands: 0,
            strict_helo: false,
        }
    }

    /// ESMTP with Postfix 3.9's defaults (message_size_limit, smtpd_recipient_limit,
    /// smtpd_hard_error_limit, smtpd_forbid_unauth_pipelining); STARTTLS and AUTH are off
    /// until the caller has a TLS acceptor and a password checker.
    pub fn smtp(hostname: impl Into<String>) -> Config {
        Config {
            mode: Mode::Smtp,
            max_message_size: 10_240_000,
            auth_requires_tls: true,
            dsn: true,
            forbid_unauth_pipelining: true,
            max_commands: 10_000,
            ..Config::lmtp(hostname)
        }
    }
}

/// Something the driver must do, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Send this reply.
    Reply(Reply),
    /// The client greeted with this name (the reply follows as its own event).
    Hello(String),
    /// Decide on this sender; answer with [`Session::mail_result`].
    Mail(MailFrom<String>),
    /// Decide on this recipient; answer with [`Session::rcpt_result`].
    Rcpt(RcptTo<String>),
    /// A message body begins: open a spool; answer with [`Session::data_result`].
    DataStart,
    /// Body bytes, dot-unstuffed, CRLF line ends only.
    DataChunk(Vec<u8>),
    /// The body is complete: deliver, send one reply (SMTP) or one per accepted recipient
    /// (LMTP; none when there is none, as after BDAT LAST), then call [`Session::transaction_done`].
    DataEnd,
    /// The body was refused (too big, bare LF): drop the spool, send this reply. In LMTP
    /// [`Event::Reply`]s with the same reply follow, one per further accepted recipient.
    DataAbort(Reply),
    /// The transaction is gone (RSET, a new greeting): forget sender, recipients and spool.
    Reset,
    /// The AUTH exchange is complete: check these; answer with [`Session::auth_result`].
    Auth(Credentials),
    /// Send this reply (220), drop every byte already received after the STARTTLS line, do
    /// the TLS handshake, then call [`Session::tls_started`] (or close if it failed).
    StartTls(Reply),
    /// Send this reply, then close the connection.
    Close(Reply),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connected,
    Ready,
    Mail,
    Rcpt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Mail,
    Rcpt,
    Data,
    Auth,
    StartTls,
}

/// One session's protocol state.
pub struct Session {
    cfg: Config,
    phase: Phase,
    /// The command (or AUTH response) line read so far.
    line: Vec<u8>,
    /// The current line is over the limit: drop it up to its LF, then refuse it.
    overlong: bool,
    body: Option<body::Body>,
    /// BDAT content line ends, carried across the transaction's chunks.
    chunks: ChunkDecoder,
    /// BDAT chunks have started this transaction's body.
    bdat_open: bool,
    /// The transaction's body was refused; later BDAT chunks are thrown away.
    bdat_refused: Option<Reply>,
    /// An AUTH exchange waiting for the client's next response line.
    auth: Option<proto::sasl::Exchange>,
    authenticated: bool,
    tls_active: bool,
    size: u64,
    recipients: usize,
    errors: u32,
    commands: u32,
    pending: Option<Pending>,
    closed: bool,
}

impl Session {
    /// A new session; send [`Session::greeting`] first.
    pub fn new(cfg: Config) -> Session {
        Session {
            tls_active: cfg.tls_active,
            cfg,
            phase: Phase::Connected,
            line: Vec::new(),
            overlong: false,
            body: None,
            chunks: ChunkDecoder::default(),
            bdat_open: false,
            bdat_refused: None,
            auth: None,
            authenticated: false,
            size: 0,
            recipients: 0,
            errors: 0,
            commands: 0,
            pending: None,
            closed: false,
        }
    }

    /// The 220 greeting.
    pub fn greeting(&self) -> Reply {
        let proto = if self.cfg.mode == Mode::Lmtp { "LMTP" } else { "ESMTP" };
        Reply { code: 220, enhanced: "", lines: vec![format!("{} {proto} mailroom", self.cfg.hostname)] }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Recipients accepted in the current transaction.
    pub fn recipients(&self) -> usize {
        self.recipients
    }

    /// The client has authenticated (AUTH answered 235).
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// The connection is TLS (from the start, or since STARTTLS).
    pub fn tls_active(&self) -> bool {
        self.tls_active
    }

    /// Consume bytes from `input`, everything received and not yet consumed; returns how many
    /// were used and the events they produced. Stops early at a decision the driver must
    /// answer; call again with the rest. An empty event list with nothing consumed means
    /// "read more". Whether more bytes follow a command matters (pipelining rules), so pass
    /// all that is buffered, not one line.
    pub fn step(&mut self, input: &[u8]) -> (usize, Vec<Event>) {
        if self.pending.is_some() || self.closed {
            return (0, Vec::new());
        }
        let mut out = Vec::new();
        let used = match self.body.take() {
            Some(body) => self.body_step(body, input, &mut out),
            None => self.line_step(input, &mut out),
        };
        (used, out)
    }

    /// Frame one line: never more than the limit is buffered; an overlong line is dropped up
    /// to its LF and refused once.
    fn line_step(&mut self, input: &[u8], out: &mut Vec<Event>) -> usize {
        let limit = if self.auth.is_some() { MAX_AUTH_LINE } else { MAX_COMMAND_LINE };
        let Some(lf) = input.iter().position(|&b| b == b'\n') else {
            if !self.overlong && self.line.len() + input.len() > limit {
                self.overlong = true;
                self.line.clear();
            } else if !self.overlong {
                self.line.extend_from_slice(input);
            }
            return input.len();
        };
        let used = lf + 1;
        let more = used < input.len();
        if std::mem::take(&mut self.overlong) || self.line.len() + used > limit {
            self.line.clear();
            self.line_too_long(out);
            return used;
        }
        self.line.extend_from_slice(&input[..used]);
        let line = std::mem::take(&mut self.line);
        if self.auth.is_some() {
            self.auth_line(&line, more, out);
        } else {
            self.command(&line, more, out);
        }
        // Keep the allocation for the next line.
        self.line = line;
        self.line.clear();
        used
    }

    fn line_too_long(&mut self, out: &mut Vec<Event>) {
        if self.auth.take().is_some() {
            return self.error(Reply::new(500, "5.5.6", "Authentication Exchange line is too long"), out);
        }
        self.commands += 1;
        self.error(Reply::new(500, "5.5.2", "Line too long"), out);
    }

    /// One complete command line (LF included); `more`: the client has already sent more.
    fn command(&mut self, line: &[u8], more: bool, out: &mut Vec<Event>) {
        self.commands += 1;
        if self.cfg.max_commands > 0 && self.commands > self.cfg.max_commands {
            return self.close(Reply::new(421, "4.7.0", "Too many commands, closing connection"), out);
        }
        // Errors the driver reported (refused MAIL, RCPT, AUTH) count too.
        if self.errors > self.cfg.max_errors {
            return self.close(too_many_errors(), out);
        }
        if self.cfg.bare_lf == BareLf::Reject && !line.ends_with(b"\r\n") {
            return self.error(crate::data::Bare::Lf.reply(), out);
        }
        let req = match Request::parse(&mut line.iter()) {
            Ok(r) => r.into_owned(),
            Err(e) => return self.error(syntax_reply(&e), out),
        };
        if more && self.forbids_pipelining_after(&req) {
            return self.close(pipelining_reply(), out);
        }
        self.dispatch(req, out);
    }

    /// RFC 2920 §3.1, RFC 3207 §4, RFC 4954 §4: after these the client must wait for our
    /// reply; Postfix 3.9 closes on an unauthenticated client that does not.
    fn forbids_pipelining_after(&self, req: &Request<String>) -> bool {
        let last = match req {
            Request::Ehlo { .. } | Request::Helo { .. } | Request::Lhlo { .. } => true,
            Request::Data | Request::Noop { .. } | Request::Vrfy { .. } | Request::Expn { .. } => true,
            Request::StartTls | Request::Etrn { .. } | Request::Atrn { .. } => true,
            // With an initial response PLAIN completes in one round trip and may be pipelined.
            Request::Auth { initial_response, .. } => initial_response.is_empty(),
            _ => false,
        };
        last && self.cfg.forbid_unauth_pipelining && !self.authenticated
    }

    /// The one dispatch on the command.
    fn dispatch(&mut self, req: Request<String>, out: &mut Vec<Event>) {
        let lmtp = self.cfg.mode == Mode::Lmtp;
        match req {
            Request::Lhlo { host } if lmtp => self.hello(host, true, out),
            Request::Ehlo { host } if !lmtp => self.hello(host, true, out),
            Request::Helo { host } if !lmtp => self.hello(host, false, out),
            Request::Lhlo { .. } | Request::Ehlo { .. } | Request::Helo { .. } => {
                let want = if lmtp { "LHLO" } else { "EHLO or HELO" };
                self.error(Reply::new(500, "5.5.1", format!("Command unrecognized; use {want}")), out)
            }
            Request::Mail { from } => self.mail(from, out),
            Request::Rcpt { to } => self.rcpt(to, out),
            Request::Data => self.data(out),
            Request::Bdat { chunk_size, is_last } => self.bdat(chunk_size, is_last, out),
            Request::Auth { mechanism, initial_response } => self.auth(mechanism, &initial_response, out),
            Request::StartTls => self.starttls(out),
            Request::Rset => {
                self.end_transaction();
                out.push(Event::Reset);
                out.push(Event::Reply(Reply::new(250, "2.0.0", "Ok")));
            }
            Request::Noop { .. } => out.push(Event::Reply(Reply::new(250, "2.0.0", "Ok"))),
            Request::Quit => self.close(Reply::new(221, "2.0.0", "Bye"), out),
            Request::Vrfy { .. } if self.cfg.vrfy => {
                out.push(Event::Reply(Reply::new(252, "2.5.0", "Cannot VRFY user")))
            }
            Request::Vrfy { .. } => self.error(Reply::new(502, "5.5.1", "VRFY command is disabled"), out),
            Request::Help { .. } => {
                out.push(Event::Reply(Reply::new(214, "2.0.0", "See RFC 5321 and RFC 2033")))
            }
            _ => self.error(Reply::new(502, "5.5.1", "Command not implemented"), out),
        }
    }

    fn mail(&mut self, from: MailFrom<String>, out: &mut Vec<Event>) {
        if self.phase == Phase::Connected {
            let text =
                if self.cfg.mode == Mode::Lmtp { "Send LHLO/EHLO first" } else { "Send HELO/EHLO first" };
            return self.error(bad_sequence(text), out);
        }
        if self.phase != Phase::Ready {
            return self.error(bad_sequence("Nested MAIL command"), out);
        }
        if let Err(reply) = self.check_mail_params(&from) {
            return self.error(reply, out);
        }
        if self.cfg.max_message_size > 0 && from.size as u64 > self.cfg.max_message_size {
            return self.error(size_reply(), out);
        }
        self.pending = Some(Pending::Mail);
        out.push(Event::Mail(from));
    }

    fn rcpt(&mut self, to: RcptTo<String>, out: &mut Vec<Event>) {
        if !matches!(self.phase, Phase::Mail | Phase::Rcpt) {
            return self.error(bad_sequence("Need MAIL before RCPT"), out);
        }
        if let Err(reply) = self.check_rcpt_params(&to) {
            return self.error(reply, out);
        }
        if self.recipients >= self.cfg.max_recipients {
            return out.push(Event::Reply(Reply::new(452, "4.5.3", "Too many recipients")));
        }
        self.pending = Some(Pending::Rcpt);
        out.push(Event::Rcpt(to));
    }

    fn starttls(&mut self, out: &mut Vec<Event>) {
        if self.tls_active {
            return self.error(Reply::new(554, "5.5.1", "Error: TLS already active"), out);
        }
        if !self.cfg.starttls {
            return self.error(Reply::new(502, "5.5.1", "Error: command not implemented"), out);
        }
        self.pending = Some(Pending::StartTls);
        out.push(Event::StartTls(Reply::new(220, "2.0.0", "Ready to start TLS")));
    }

    fn error(&mut self, reply: Reply, out: &mut Vec<Event>) {
        self.errors += 1;
        if self.errors > self.cfg.max_errors {
            self.close(too_many_errors(), out);
        } else {
            out.push(Event::Reply(reply));
        }
    }

    fn close(&mut self, reply: Reply, out: &mut Vec<Event>) {
        self.closed = true;
        out.push(Event::Close(reply));
    }

    fn end_transaction(&mut self) {
        if self.phase != Phase::Connected {
            self.phase = Phase::Ready;
        }
        self.recipients = 0;
        self.size = 0;
        self.chunks = ChunkDecoder::default();
        self.bdat_open = false;
        self.bdat_refused = None;
        self.body = None;
        self.pending = None;
    }

    /// The driver's verdict on the pending MAIL; send `reply` yourself.
    pub fn mail_result(&mut self, reply: &Reply) {
        debug_assert_eq!(self.pending, Some(Pending::Mail));
        self.pending = None;
        if reply.is_positive() {
            self.phase = Phase::Mail;
        } else if reply.code >= 500 {
            self.errors += 1;
        }
    }

    /// The driver's verdict on the pending RCPT; send `reply` yourself.
    pub fn rcpt_result(&mut self, reply: &Reply) {
        debug_assert_eq!(self.pending, Some(Pending::Rcpt));
        self.pending = None;
        if reply.is_positive() {
            self.recipients += 1;
            self.phase = Phase::Rcpt;
        } else if reply.code >= 500 {
            self.errors += 1;
        }
    }

    /// The driver has delivered and replied after [`Event::DataEnd`]: the transaction is over.
    pub fn transaction_done(&mut self) {
        self.end_transaction();
    }

    /// The TLS handshake after [`Event::StartTls`] succeeded: back to the state just after
    /// the greeting (RFC 3207 §4.2): a new EHLO is needed, and the transaction, the AUTH state
    /// and anything received before the handshake are forgotten.
    pub fn tls_started(&mut self) {
        debug_assert_eq!(self.pending, Some(Pending::StartTls));
        self.end_transaction();
        self.phase = Phase::Connected;
        self.tls_active = true;
        self.auth = None;
        self.authenticated = false;
        self.line.clear();
        self.overlong = false;
    }
}

fn too_many_errors() -> Reply {
    Reply::new(421, "4.7.0", "Too many errors, closing connection")
}

/// Postfix's answer to a client that does not wait for a reply it must wait for.
fn pipelining_reply() -> Reply {
    Reply::new(554, "5.5.0", "Error: I can break rules, too. Goodbye.")
}

fn size_reply() -> Reply {
    Reply::new(552, "5.3.4", "Message size exceeds fixed maximum message size")
}

fn bad_sequence(text: &str) -> Reply {
    Reply::new(503, "5.5.1", text)
}

/// smtp-proto's syntax errors as replies.
fn syntax_reply(e: &ProtoError) -> Reply {
    match e {
        ProtoError::UnknownCommand => Reply::new(500, "5.5.1", "Command unrecognized"),
        ProtoError::InvalidSenderAddress => Reply::new(501, "5.1.7", "Bad sender address syntax"),
        ProtoError::InvalidRecipientAddress => Reply::new(501, "5.1.3", "Bad recipient address syntax"),
        ProtoError::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("Syntax: {syntax}")),
        ProtoError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("Invalid parameter {param}"))
        }
        ProtoError::UnsupportedParameter { param } => {
            Reply::new(555, "5.5.4", format!("Unsupported parameter {param}"))
        }
        ProtoError::ResponseTooLong => Reply::new(500, "5.5.2", "Line too long"),
        ProtoError::NeedsMoreData { .. } | ProtoError::InvalidResponse { .. } => {
            Reply::new(500, "5.5.2", "Syntax error")
        }
    }
}
