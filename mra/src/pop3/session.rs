//! The POP3 session state machine (RFC 1939 §3-§6, RFC 2449, RFC 2595, RFC 5034, RFC 3206),
//! with no I/O: it takes command lines and answers with [`Action`]s. The socket layer sends
//! what it is told to, and carries out the three things that need the outside world, giving
//! the result back: checking a login ([`Session::login_result`]), sending a message
//! ([`Action::Retrieve`]) and the UPDATE state's changes ([`Session::update_result`]).

use proto::sasl::{self, Credentials, Exchange, Mechanism, Response, Step};

use super::command::{self, Command, ParseError};
use super::maildrop::{Maildrop, Unusable};

/// What a connection allows, decided by the socket layer.
#[derive(Debug, Clone)]
pub struct Config {
    /// A certificate is configured: STLS can be offered.
    pub tls_available: bool,
    /// The connection is already inside TLS (port 995, or after STLS).
    pub tls_active: bool,
    /// Passwords may be sent on this connection (TLS, or loopback when configured).
    pub plaintext_ok: bool,
    /// Failed logins before the connection is closed.
    pub max_auth_failures: u32,
    /// Bad commands before the connection is closed.
    pub max_bad_commands: u32,
}

/// One input event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A line, without CRLF.
    Line(&'a [u8]),
    /// A line longer than [`command::MAX_LINE`] was discarded.
    TooLong,
}

/// What the socket layer must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes (complete CRLF-terminated lines).
    Send(Vec<u8>),
    /// Start the TLS handshake now (the `+OK` was sent just before); discard any input
    /// received before the handshake, then call [`Session::tls_started`].
    StartTls,
    /// Check these credentials and open the maildrop; answer with [`Session::login_result`].
    CheckLogin(Credentials),
    /// Open message `uid`; if it opens, send `ok` then the message through
    /// [`super::body::Encoder`] (`top` body lines for TOP); otherwise send `-ERR [SYS/TEMP]`.
    Retrieve {
        /// The message's mailbox UID.
        uid: u32,
        /// TOP's line count.
        top: Option<u64>,
        /// The `+OK` line to send first.
        ok: Vec<u8>,
    },
    /// The UPDATE state: expunge these UIDs, mark these seen; answer with
    /// [`Session::update_result`].
    Update {
        /// Marked deleted.
        expunge: Vec<u32>,
        /// Retrieved and kept.
        seen: Vec<u32>,
    },
    /// Close the connection (after sending everything before it).
    Close,
}

/// The outcome of a login check and maildrop open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginResult {
    /// Logged in; the maildrop is locked for this session.
    Ok(Maildrop),
    /// Wrong password or unknown user.
    Rejected,
    /// Another POP3 session holds the maildrop.
    InUse,
    /// The directory, saslauthd or the mailbox is unavailable now.
    TempFail,
}

#[derive(Debug)]
enum State {
    /// Before login; the name given by USER.
    Authorization(Option<String>),
    /// Inside an AUTH exchange.
    Sasl(Exchange),
    /// Waiting for [`Session::login_result`].
    CheckingLogin,
    /// Logged in.
    Transaction(Maildrop),
    /// Waiting for [`Session::update_result`].
    Updating,
    /// Closed; every further line is ignored.
    Closed,
}

/// One POP3 session.
#[derive(Debug)]
pub struct Session {
    cfg: Config,
    state: State,
    login: Option<String>,
    auth_failures: u32,
    bad_commands: u32,
}

/// The greeting.
pub const GREETING: &[u8] = b"+OK mailroom ready.\r\n";

const NO_PLAINTEXT: &str =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";

fn line(text: impl AsRef<str>) -> Action {
    let mut bytes = text.as_ref().as_bytes().to_vec();
    bytes.extend_from_slice(b"\r\n");
    Action::Send(bytes)
}

impl Session {
    /// A session at the AUTHORIZATION state (send [`GREETING`] first).
    pub fn new(cfg: Config) -> Session {
        Session { cfg, state: State::Authorization(None), login: None, auth_failures: 0, bad_commands: 0 }
    }

    /// The logged-in user, once there is one (the login as the checker named it).
    pub fn login(&self) -> Option<&str> {
        self.login.as_deref()
    }

    /// The maildrop, while logged in.
    pub fn maildrop(&self) -> Option<&Maildrop> {
        match &self.state {
            State::Transaction(m) => Some(m),
            _ => None,
        }
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Feeds one input event.
    pub fn handle(&mut self, event: Event<'_>) -> Vec<Action> {
        match (&mut self.state, event) {
            (State::Closed | State::CheckingLogin | State::Updating, _) => Vec::new(),
            (State::Sasl(_), Event::TooLong) => {
                self.state = State::Authorization(None);
                self.auth_failed("-ERR Authentication response too long.")
            }
            (State::Sasl(ex), Event::Line(l)) => {
                let step = match sasl::decode_response(&String::from_utf8_lossy(l)) {
                    Ok(Response::Cancel) => {
                        self.state = State::Authorization(None);
                        return vec![line("-ERR Authentication cancelled.")];
                    }
                    Ok(Response::Data(d)) => ex.respond(d),
                    Err(e) => Step::Fail(e),
                };
                self.sasl_step(step)
            }
            (_, Event::TooLong) => self.bad("-ERR Line too long."),
            (_, Event::Line(l)) => match command::parse(l) {
                Ok(c) => self.command(c),
                Err(ParseError::Empty) => self.bad("-ERR Empty command."),
                Err(ParseError::Unknown(k)) => self.bad(format!("-ERR Unknown command: {k}")),
                Err(ParseError::Syntax(usage)) => self.bad(format!("-ERR Syntax: {usage}")),
                Err(ParseError::NotText) => self.bad("-ERR Invalid characters in command."),
            },
        }
    }

    fn bad(&mut self, reply: impl AsRef<str>) -> Vec<Action> {
        self.bad_commands += 1;
        let mut out = vec![line(reply)];
        if self.bad_commands >= self.cfg.max_bad_commands {
            out.push(line("-ERR Too many bad commands, closing."));
            out.push(Action::Close);
            self.state = State::Closed;
        }
        out
    }

    fn command(&mut self, c: Command) -> Vec<Action> {
        match c {
            Command::Capa => vec![self.capa()],
            Command::Quit => self.quit(),
            Command::Noop if matches!(self.state, State::Transaction(_)) => vec![line("+OK")],
            _ => match &self.state {
                State::Authorization(_) => self.authorization(c),
                State::Transaction(_) => self.transaction(c),
                _ => Vec::new(),
            },
        }
    }

    fn capa(&self) -> Action {
        let mut caps = vec!["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"];
        let before_login = matches!(self.state, State::Authorization(_));
        if before_login && self.cfg.plaintext_ok {
            caps.extend(["USER", "SASL PLAIN LOGIN"]);
        }
        if before_login && self.cfg.tls_available && !self.cfg.tls_active {
            caps.push("STLS");
        }
        caps.push("IMPLEMENTATION mailroom");
        let mut text = String::from("+OK\r\n");
        for c in caps {
            text.push_str(c);
            text.push_str("\r\n");
        }
        text.push_str(".\r\n");
        Action::Send(text.into_bytes())
    }

    fn quit(&mut self) -> Vec<Action> {
        match std::mem::replace(&mut self.state, State::Updating) {
            State::Transaction(m) => {
                vec![Action::Update { expunge: m.deleted_uids(), seen: m.retrieved_uids() }]
            }
            _ => {
                self.state = State::Closed;
                vec![line("+OK Logging out."), Action::Close]
            }
        }
    }

    fn authorization(&mut self, c: Command) -> Vec<Action> {
        let plaintext = self.cfg.plaintext_ok;
        match c {
            Command::Stls if self.cfg.tls_active => vec![line("-ERR TLS is already active.")],
            Command::Stls if !self.cfg.tls_available => vec![line("-ERR TLS is not available.")],
            Command::Stls => {
                self.state = State::Authorization(None);
                vec![line("+OK Begin TLS negotiation now."), Action::StartTls]
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { mechanism: Some(_), .. } if !plaintext => {
                self.auth_failed(NO_PLAINTEXT)
            }
            Command::User(name) => {
                self.state = State::Authorization(Some(name));
                vec![line("+OK")]
            }
            Command::Pass(password) => match std::mem::replace(&mut self.state, State::CheckingLogin) {
                State::Authorization(Some(login)) => {
                    vec![Action::CheckLogin(Credentials { login, password })]
                }
                other => {
                    self.state = other;
                    self.bad("-ERR No username given.")
                }
            },
            Command::Auth { mechanism: None, .. } => {
                let list = if plaintext { "PLAIN\r\nLOGIN\r\n" } else { "" };
                vec![Action::Send(format!("+OK\r\n{list}.\r\n").into_bytes())]
            }
            Command::Auth { mechanism: Some(m), initial } => {
                let Some(mech) = Mechanism::parse(&m) else {
                    return self.bad("-ERR Unsupported authentication mechanism.");
                };
                let initial = match initial.as_deref().map(sasl::decode_response) {
                    None => None,
                    Some(Ok(Response::Data(d))) => Some(d),
                    Some(Ok(Response::Cancel)) => return vec![line("-ERR Authentication cancelled.")],
                    Some(Err(e)) => return self.auth_failed(&format!("-ERR {e}.")),
                };
                let (ex, step) = Exchange::start(mech, initial);
                self.state = State::Sasl(ex);
                self.sasl_step(step)
            }
            _ => self.bad("-ERR Unknown command in AUTHORIZATION state."),
        }
    }

    fn sasl_step(&mut self, step: Step) -> Vec<Action> {
        match step {
            Step::Challenge(c) => vec![line(format!("+ {}", sasl::encode_challenge(c)))],
            Step::Done(creds) => {
                self.state = State::CheckingLogin;
                vec![Action::CheckLogin(creds)]
            }
            Step::Fail(why) => {
                self.state = State::Authorization(None);
                self.auth_failed(&format!("-ERR [AUTH] {why}."))
            }
        }
    }

    fn auth_failed(&mut self, reply: &str) -> Vec<Action> {
        self.auth_failures += 1;
        let mut out = vec![line(reply)];
        if self.auth_failures >= self.cfg.max_auth_failures {
            out.push(line("-ERR [AUTH] Too many authentication failures, closing."));
            out.push(Action::Close);
            self.state = State::Closed;
        }
        out
    }

    /// The outcome of [`Action::CheckLogin`]; `login` is the user as the checker named it.
    pub fn login_result(&mut self, login: &str, result: LoginResult) -> Vec<Action> {
        if !matches!(self.state, State::CheckingLogin) {
            return Vec::new();
        }
        self.state = State::Authorization(None);
        match result {
            LoginResult::Ok(maildrop) => {
                self.login = Some(login.to_string());
                self.state = State::Transaction(maildrop);
                vec![line("+OK Logged in.")]
            }
            LoginResult::Rejected => self.auth_failed("-ERR [AUTH] Authentication failed."),
            LoginResult::InUse => vec![line("-ERR [IN-USE] Mailbox is locked by another POP3 session.")],
            LoginResult::TempFail => {
                vec![line("-ERR [SYS/TEMP] Temporary authentication failure, try again later.")]
            }
        }
    }

    /// The TLS handshake after STLS succeeded: passwords may now be sent.
    pub fn tls_started(&mut self) {
        self.cfg.tls_active = true;
        self.cfg.plaintext_ok = true;
    }

    fn transaction(&mut self, c: Command) -> Vec<Action> {
        let State::Transaction(m) = &mut self.state else { return Vec::new() };
        let unusable = |n: u32, u: Unusable| match u {
            Unusable::NoSuchMessage => line(format!("-ERR There's no message {n}.")),
            Unusable::Deleted => line("-ERR Message is deleted."),
        };
        match c {
            Command::Stat => {
                let (n, size) = m.stat();
                vec![line(format!("+OK {n} {size}"))]
            }
            Command::List(None) => {
                let (n, _) = m.stat();
                let mut text = format!("+OK {n} messages:\r\n");
                for (i, e) in m.live() {
                    text.push_str(&format!("{i} {}\r\n", e.size));
                }
                text.push_str(".\r\n");
                vec![Action::Send(text.into_bytes())]
            }
            Command::Uidl(None) => {
                let mut text = String::from("+OK\r\n");
                for (i, e) in m.live() {
                    text.push_str(&format!("{i} {}\r\n", e.uidl));
                }
                text.push_str(".\r\n");
                vec![Action::Send(text.into_bytes())]
            }
            Command::List(Some(n)) => match m.get(n) {
                Ok(e) => vec![line(format!("+OK {n} {}", e.size))],
                Err(u) => vec![unusable(n, u)],
            },
            Command::Uidl(Some(n)) => match m.get(n) {
                Ok(e) => vec![line(format!("+OK {n} {}", e.uidl))],
                Err(u) => vec![unusable(n, u)],
            },
            Command::Retr(n) => match m.get(n) {
                Ok(e) => {
                    let action = Action::Retrieve {
                        uid: e.uid,
                        top: None,
                        ok: format!("+OK {} octets\r\n", e.size).into_bytes(),
                    };
                    m.retrieved(n);
                    vec![action]
                }
                Err(u) => vec![unusable(n, u)],
            },
            Command::Top(n, lines) => match m.get(n) {
                Ok(e) => vec![Action::Retrieve { uid: e.uid, top: Some(lines), ok: b"+OK\r\n".to_vec() }],
                Err(u) => vec![unusable(n, u)],
            },
            Command::Dele(n) => match m.delete(n) {
                Ok(()) => vec![line("+OK Marked to be deleted.")],
                Err(u) => vec![unusable(n, u)],
            },
            Command::Rset => {
                m.reset();
                let (n, size) = m.stat();
                vec![line(format!("+OK {n} messages ({size} octets)."))]
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } | Command::Stls => {
                self.bad("-ERR Already logged in.")
            }
            _ => self.bad("-ERR Unknown command in TRANSACTION state."),
        }
    }

    /// The outcome of [`Action::Update`]: closes the session with the final reply.
    pub fn update_result(&mut self, ok: bool) -> Vec<Action> {
        if !matches!(self.state, State::Updating) {
            return Vec::new();
        }
        self.state = State::Closed;
        let reply = if ok {
            "+OK Logging out, messages deleted."
        } else {
            "-ERR [SYS/TEMP] Some deleted messages were not removed."
        };
        vec![line(reply), Action::Close]
    }
}
