//! The server side of an SMTP or LMTP session as a state machine that does no I/O: feed it the
//! bytes received, get back events. Commands are parsed by smtp-proto; this module owns
//! sequencing (RFC 5321 §4.1.4), limits, DATA and BDAT framing (RFC 3030), and the replies the
//! protocol itself dictates. Decisions that need the outside world (is this recipient ours?)
//! come out as events, which the driver answers with [`Session::mail_result`] and friends.

use smtp_proto::request::receiver::RequestReceiver;
use smtp_proto::{Error as ProtoError, MailFrom, RcptTo, Request};

use crate::data::DataDecoder;
use crate::reply::Reply;

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
    /// Offer SMTPUTF8.
    pub smtputf8: bool,
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
    /// Body bytes, dot-unstuffed, line ends as received.
    DataChunk(Vec<u8>),
    /// The body is complete: deliver, send one reply (SMTP) or one per accepted recipient
    /// (LMTP; none when there is none, as after BDAT LAST), then call [`Session::transaction_done`].
    DataEnd,
    /// The body was refused while it arrived (too big): drop the spool, send this reply.
    DataAbort(Reply),
    /// The transaction is gone (RSET, a new greeting): forget sender, recipients and spool.
    Reset,
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
}

enum Body {
    Data(DataDecoder),
    /// A BDAT chunk with this many bytes still to read.
    Bdat {
        left: usize,
        last: bool,
    },
    /// Refused (too big): read to the end of the body, then send the reply.
    DiscardData(DataDecoder, Reply),
    /// A refused BDAT chunk: read it, then send `reply` (none: LMTP's silent BDAT LAST); with
    /// `abort` the transaction's spool is dropped when the LAST chunk is through.
    DiscardBdat {
        left: usize,
        last: bool,
        reply: Option<Reply>,
        abort: bool,
    },
}

/// One session's protocol state.
pub struct Session {
    cfg: Config,
    phase: Phase,
    receiver: RequestReceiver,
    body: Option<Body>,
    /// BDAT chunks have started this transaction's body.
    bdat_open: bool,
    /// The transaction's body was refused; later BDAT chunks are thrown away.
    bdat_refused: Option<Reply>,
    size: u64,
    recipients: usize,
    errors: u32,
    pending: Option<Pending>,
    closed: bool,
}

impl Session {
    /// A new session; send [`Session::greeting`] first.
    pub fn new(cfg: Config) -> Session {
        Session {
            cfg,
            phase: Phase::Connected,
            receiver: RequestReceiver::default(),
            body: None,
            bdat_open: false,
            bdat_refused: None,
            size: 0,
            recipients: 0,
            errors: 0,
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

    /// Consume bytes from `input`; returns how many were used and the events they produced.
    /// Stops early at a decision the driver must answer; call again with the rest. An empty
    /// event list with nothing consumed means "read more".
    pub fn step(&mut self, input: &[u8]) -> (usize, Vec<Event>) {
        if self.pending.is_some() || self.closed {
            return (0, Vec::new());
        }
        let mut it = input.iter();
        let mut out = Vec::new();
        match self.body.take() {
            Some(body) => self.body_step(body, &mut it, &mut out),
            None => self.command_step(&mut it, &mut out),
        }
        (input.len() - it.as_slice().len(), out)
    }

    fn body_step(&mut self, body: Body, it: &mut std::slice::Iter<'_, u8>, out: &mut Vec<Event>) {
        match body {
            Body::Data(mut rx) => {
                let mut chunk = Vec::new();
                let (used, done) = rx.decode(it.as_slice(), &mut chunk);
                *it = it.as_slice()[used..].iter();
                self.size += chunk.len() as u64;
                if self.too_big() {
                    let reply = size_reply();
                    if done {
                        self.abort(reply, out);
                    } else {
                        self.body = Some(Body::DiscardData(rx, reply));
                    }
                    return;
                }
                if !chunk.is_empty() {
                    out.push(Event::DataChunk(chunk));
                }
                if done {
                    out.push(Event::DataEnd);
                } else {
                    self.body = Some(Body::Data(rx));
                }
            }
            Body::Bdat { left, last } => {
                let rest = it.as_slice();
                let n = rest.len().min(left);
                let (chunk, tail) = rest.split_at(n);
                *it = tail.iter();
                self.size += n as u64;
                let left = left - n;
                if self.too_big() {
                    self.bdat_refused = Some(size_reply());
                    self.body =
                        Some(Body::DiscardBdat { left, last, reply: Some(size_reply()), abort: true });
                    if left == 0 {
                        let body = self.body.take().expect("body just set");
                        self.body_step(body, it, out);
                    }
                    return;
                }
                if !chunk.is_empty() {
                    out.push(Event::DataChunk(chunk.to_vec()));
                }
                if left > 0 {
                    self.body = Some(Body::Bdat { left, last });
                } else if last {
                    out.push(Event::DataEnd);
                } else {
                    out.push(Event::Reply(Reply::new(
                        250,
                        "2.0.0",
                        format!("{} octets received", self.size),
                    )));
                }
            }
            Body::DiscardData(mut rx, reply) => {
                let mut sink = Vec::new();
                let (used, done) = rx.decode(it.as_slice(), &mut sink);
                *it = it.as_slice()[used..].iter();
                if done {
                    self.abort(reply, out);
                } else {
                    self.body = Some(Body::DiscardData(rx, reply));
                }
            }
            Body::DiscardBdat { left, last, reply, abort } => {
                let rest = it.as_slice();
                let n = rest.len().min(left);
                *it = rest[n..].iter();
                if left > n {
                    self.body = Some(Body::DiscardBdat { left: left - n, last, reply, abort });
                } else if abort && last {
                    // The transaction's body was refused: one final reply, then it is over.
                    let reply = reply.unwrap_or_else(size_reply);
                    self.abort(reply, out);
                } else {
                    if last {
                        self.end_transaction();
                    }
                    if let Some(r) = reply {
                        out.push(Event::Reply(r));
                    }
                }
            }
        }
    }

    fn abort(&mut self, reply: Reply, out: &mut Vec<Event>) {
        out.push(Event::DataAbort(reply));
        self.end_transaction();
    }

    fn too_big(&self) -> bool {
        self.cfg.max_message_size > 0 && self.size > self.cfg.max_message_size
    }

    fn command_step(&mut self, it: &mut std::slice::Iter<'_, u8>, out: &mut Vec<Event>) {
        let req = match self.receiver.ingest(it) {
            Ok(r) => r.into_owned(),
            Err(ProtoError::NeedsMoreData { .. }) => return,
            Err(e) => return self.error(syntax_reply(&e), out),
        };
        match req {
            Request::Lhlo { host } if self.cfg.mode == Mode::Lmtp => self.hello(host, true, out),
            Request::Ehlo { host } if self.cfg.mode == Mode::Smtp => self.hello(host, true, out),
            Request::Helo { host } if self.cfg.mode == Mode::Smtp => self.hello(host, false, out),
            Request::Lhlo { .. } | Request::Ehlo { .. } | Request::Helo { .. } => {
                let want = if self.cfg.mode == Mode::Lmtp { "LHLO" } else { "EHLO or HELO" };
                self.error(Reply::new(500, "5.5.1", format!("Command unrecognized; use {want}")), out)
            }
            Request::Mail { from } => {
                if self.phase == Phase::Connected {
                    return self.error(bad_sequence("Send LHLO/EHLO first"), out);
                }
                if self.phase != Phase::Ready {
                    return self.error(bad_sequence("Nested MAIL command"), out);
                }
                if self.cfg.max_message_size > 0 && from.size as u64 > self.cfg.max_message_size {
                    return self.error(size_reply(), out);
                }
                self.pending = Some(Pending::Mail);
                out.push(Event::Mail(from));
            }
            Request::Rcpt { to } => {
                if !matches!(self.phase, Phase::Mail | Phase::Rcpt) {
                    return self.error(bad_sequence("Need MAIL before RCPT"), out);
                }
                if self.recipients >= self.cfg.max_recipients {
                    return out.push(Event::Reply(Reply::new(452, "4.5.3", "Too many recipients")));
                }
                self.pending = Some(Pending::Rcpt);
                out.push(Event::Rcpt(to));
            }
            Request::Data => {
                if self.bdat_open {
                    return self.error(bad_sequence("DATA after BDAT"), out);
                }
                if self.phase != Phase::Rcpt {
                    let why = if self.phase == Phase::Mail {
                        "No valid recipients"
                    } else {
                        "Need RCPT before DATA"
                    };
                    return self.error(Reply::new(503, "5.5.1", why), out);
                }
                self.pending = Some(Pending::Data);
                out.push(Event::DataStart);
            }
            Request::Bdat { chunk_size, is_last } => self.bdat(chunk_size, is_last, out),
            Request::Rset => {
                self.end_transaction();
                out.push(Event::Reset);
                out.push(Event::Reply(Reply::new(250, "2.0.0", "Ok")));
            }
            Request::Noop { .. } => out.push(Event::Reply(Reply::new(250, "2.0.0", "Ok"))),
            Request::Quit => {
                self.closed = true;
                out.push(Event::Close(Reply::new(221, "2.0.0", "Bye")));
            }
            Request::Vrfy { .. } => out.push(Event::Reply(Reply::new(252, "2.5.0", "Cannot VRFY user"))),
            Request::Help { .. } => {
                out.push(Event::Reply(Reply::new(214, "2.0.0", "See RFC 5321 and RFC 2033")))
            }
            _ => self.error(Reply::new(502, "5.5.1", "Command not implemented"), out),
        }
    }

    fn hello(&mut self, host: String, extended: bool, out: &mut Vec<Event>) {
        if self.phase != Phase::Connected {
            self.end_transaction();
            out.push(Event::Reset);
        }
        self.phase = Phase::Ready;
        out.push(Event::Hello(host.clone()));
        let mut lines = vec![format!("{} Hello {host}", self.cfg.hostname)];
        if extended {
            lines.push("PIPELINING".into());
            lines.push("ENHANCEDSTATUSCODES".into());
            lines.push("8BITMIME".into());
            if self.cfg.max_message_size > 0 {
                lines.push(format!("SIZE {}", self.cfg.max_message_size));
            } else {
                lines.push("SIZE".into());
            }
            lines.push("CHUNKING".into());
            if self.cfg.smtputf8 {
                lines.push("SMTPUTF8".into());
            }
        }
        out.push(Event::Reply(Reply { code: 250, enhanced: "", lines }));
    }

    fn bdat(&mut self, size: usize, last: bool, out: &mut Vec<Event>) {
        // The chunk's bytes follow the command whatever we answer: a refused chunk is read and dropped.
        let refusal = match self.phase {
            Phase::Connected | Phase::Ready => Some(Some(bad_sequence("Need MAIL and RCPT before BDAT"))),
            // RFC 2033 §4.2: BDAT LAST with no valid recipients gets no reply at all in LMTP.
            Phase::Mail if last && self.cfg.mode == Mode::Lmtp => Some(None),
            Phase::Mail => Some(Some(Reply::new(503, "5.5.1", "No valid recipients"))),
            Phase::Rcpt => self.bdat_refused.clone().map(Some),
        };
        if let Some(reply) = refusal {
            if reply.as_ref().is_some_and(|r| r.code >= 500 && self.bdat_refused.is_none()) {
                self.errors += 1;
            }
            let abort = self.bdat_refused.is_some();
            self.body = Some(Body::DiscardBdat { left: size, last, reply, abort });
        } else {
            self.body = Some(Body::Bdat { left: size, last });
            if !self.bdat_open {
                self.bdat_open = true;
                self.pending = Some(Pending::Data);
                out.push(Event::DataStart);
                return;
            }
        }
        if size == 0 {
            let body = self.body.take().expect("body just set");
            self.body_step(body, &mut [].iter(), out);
        }
    }

    fn error(&mut self, reply: Reply, out: &mut Vec<Event>) {
        self.errors += 1;
        if self.errors > self.cfg.max_errors {
            self.closed = true;
            out.push(Event::Close(Reply::new(421, "4.7.0", "Too many errors, closing connection")));
        } else {
            out.push(Event::Reply(reply));
        }
    }

    fn end_transaction(&mut self) {
        if self.phase != Phase::Connected {
            self.phase = Phase::Ready;
        }
        self.recipients = 0;
        self.size = 0;
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

    /// The driver opened a spool (`Ok`) or could not (`Err(reply)`). Returns the reply to send
    /// now: 354 for DATA, nothing for BDAT (its reply comes when the chunk is read), or the
    /// refusal.
    pub fn data_result(&mut self, spool: Result<(), Reply>) -> Option<Reply> {
        debug_assert_eq!(self.pending, Some(Pending::Data));
        self.pending = None;
        match (spool, self.body.take()) {
            (Ok(()), None) => {
                self.body = Some(Body::Data(DataDecoder::default()));
                Some(Reply::new(354, "", "End data with <CR><LF>.<CR><LF>"))
            }
            (Ok(()), Some(body)) => {
                self.body = Some(body);
                None
            }
            (Err(reply), None) => Some(reply),
            (Err(reply), Some(Body::Bdat { left, last })) => {
                self.bdat_refused = Some(reply.clone());
                self.body = Some(Body::DiscardBdat { left, last, reply: Some(reply), abort: true });
                None
            }
            (Err(reply), Some(other)) => {
                self.body = Some(other);
                Some(reply)
            }
        }
    }

    /// The driver has delivered and replied after [`Event::DataEnd`]: the transaction is over.
    pub fn transaction_done(&mut self) {
        self.end_transaction();
    }
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
