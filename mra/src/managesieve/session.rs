//! The ManageSieve session state machine (RFC 5804 §2), with no I/O: it takes framed commands
//! and answers with [`Action`]s. The socket layer sends what it is told to and does the outside
//! work, giving the result back: the TLS handshake ([`Session::tls_started`]), the password
//! check ([`Session::login_result`]) and the script commands ([`Action::Script`], carried out by
//! [`super::scripts::execute`]).

use proto::sasl::{self, Credentials, Exchange, Mechanism, Response, Step};

use super::command::{self, Command, ParseError, Refusal};
use super::response::{Code, bye, no, ok, string};
use super::scripts::Op;

/// What a connection allows, decided by the socket layer.
#[derive(Debug, Clone)]
pub struct Config {
    /// A certificate is configured: STARTTLS can be offered.
    pub tls_available: bool,
    /// The connection is inside TLS.
    pub tls_active: bool,
    /// Passwords may be sent on this connection (TLS, or loopback when configured).
    pub plaintext_ok: bool,
    /// Failed logins before the connection is closed.
    pub max_auth_failures: u32,
    /// Bad commands before the connection is closed.
    pub max_bad_commands: u32,
    /// The MAXREDIRECTS capability: redirects one script run may do.
    pub max_redirects: usize,
}

/// One input: a framed command or a refusal from the framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete command (literals included).
    Command(&'a [u8]),
    /// A command refused while it arrived.
    Refused(Refusal),
}

/// What the socket layer must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Start the TLS handshake now (the OK was sent just before); drop any input received
    /// before it, then call [`Session::tls_started`].
    StartTls,
    /// Check these credentials; answer with [`Session::login_result`].
    CheckLogin(Credentials),
    /// Run this script command for the logged-in user and send its answer.
    Script(Op),
    /// Close the connection (after sending everything before it).
    Close,
}

/// The outcome of a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    Ok,
    Rejected,
    TempFail,
}

#[derive(Debug)]
enum State {
    NonAuth,
    Sasl(Exchange),
    CheckingLogin,
    Auth,
    Closed,
}

/// One ManageSieve session.
#[derive(Debug)]
pub struct Session {
    cfg: Config,
    state: State,
    login: Option<String>,
    auth_failures: u32,
    bad_commands: u32,
}

const IMPLEMENTATION: &str = "mailroom";

fn send(bytes: Vec<u8>) -> Action {
    Action::Send(bytes)
}

impl Session {
    /// A session before authentication; send [`Session::greeting`] first.
    pub fn new(cfg: Config) -> Session {
        Session { cfg, state: State::NonAuth, login: None, auth_failures: 0, bad_commands: 0 }
    }

    /// The logged-in user.
    pub fn login(&self) -> Option<&str> {
        self.login.as_deref()
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The greeting: the capabilities and OK (RFC 5804 §1.7).
    pub fn greeting(&self) -> Vec<u8> {
        let mut out = self.capabilities();
        out.extend(ok(None, "mailroom ManageSieve ready."));
        out
    }

    /// The capability lines, without the final OK.
    fn capabilities(&self) -> Vec<u8> {
        let mut out = String::new();
        let mut cap = |name: &str, value: Option<&str>| {
            string(&mut out, name);
            if let Some(v) = value {
                out.push(' ');
                string(&mut out, v);
            }
            out.push_str("\r\n");
        };
        cap("IMPLEMENTATION", Some(IMPLEMENTATION));
        cap("SIEVE", Some(sieve::EXTENSIONS.join(" ").as_str()));
        let authenticated = matches!(self.state, State::Auth);
        if !authenticated {
            cap("SASL", Some(if self.cfg.plaintext_ok { sasl::OFFERED } else { "" }));
            if self.cfg.tls_available && !self.cfg.tls_active {
                cap("STARTTLS", None);
            }
        }
        cap("MAXREDIRECTS", Some(self.cfg.max_redirects.to_string().as_str()));
        if let (true, Some(user)) = (authenticated, &self.login) {
            cap("OWNER", Some(user.as_str()));
        }
        cap("VERSION", Some("1.0"));
        out.into_bytes()
    }

    /// Feeds one input event.
    pub fn handle(&mut self, event: Event<'_>) -> Vec<Action> {
        match (&mut self.state, event) {
            (State::Closed | State::CheckingLogin, _) => Vec::new(),
            (State::Sasl(_), Event::Refused(_)) => {
                self.state = State::NonAuth;
                self.auth_failed("Authentication response too long.")
            }
            (State::Sasl(ex), Event::Command(buf)) => {
                let step = match command::sasl_response(buf) {
                    Err(_) => Step::Fail("Invalid SASL response"),
                    Ok(r) => match sasl::decode_response(&r) {
                        Ok(Response::Cancel) => {
                            self.state = State::NonAuth;
                            return vec![send(no(None, "Authentication cancelled."))];
                        }
                        Ok(Response::Data(d)) => ex.respond(d),
                        Err(e) => Step::Fail(e),
                    },
                };
                self.sasl_step(step)
            }
            (_, Event::Refused(Refusal::ScriptTooLarge)) => {
                vec![send(no(Some(Code::MaxSize), "Script is too large."))]
            }
            (_, Event::Refused(Refusal::TooLong)) => self.bad("Command line or literal too long."),
            (_, Event::Command(buf)) => match command::parse(buf) {
                Ok(c) => self.command(c),
                Err(ParseError::Empty) => self.bad("Empty command."),
                Err(ParseError::Unknown(_)) => self.bad("Unknown command."),
                Err(ParseError::Syntax(usage)) => self.bad(&format!("Syntax: {usage}")),
                Err(ParseError::NotUtf8) => self.bad("Strings must be UTF-8."),
            },
        }
    }

    fn bad(&mut self, text: &str) -> Vec<Action> {
        self.bad_commands += 1;
        if self.bad_commands >= self.cfg.max_bad_commands {
            self.state = State::Closed;
            return vec![send(bye(None, "Too many bad commands, closing.")), Action::Close];
        }
        vec![send(no(None, text))]
    }

    fn command(&mut self, c: Command) -> Vec<Action> {
        let authenticated = matches!(self.state, State::Auth);
        match c {
            Command::Capability => {
                let mut out = self.capabilities();
                out.extend(ok(None, "Capability completed."));
                vec![send(out)]
            }
            Command::Logout => {
                self.state = State::Closed;
                vec![send(ok(None, "Logout completed.")), Action::Close]
            }
            Command::Noop(tag) => vec![send(ok(tag.map(Code::Tag), "Done"))],
            Command::StartTls if authenticated => self.bad("STARTTLS is only allowed before authentication."),
            Command::StartTls if self.cfg.tls_active => self.bad("TLS is already active."),
            Command::StartTls if !self.cfg.tls_available => self.bad("TLS is not available."),
            Command::StartTls => vec![send(ok(None, "Begin TLS negotiation now.")), Action::StartTls],
            Command::Authenticate { .. } if authenticated => self.bad("Already authenticated."),
            Command::Authenticate { mechanism, initial } => self.authenticate(&mechanism, initial),
            Command::Unauthenticate if authenticated => {
                self.state = State::NonAuth;
                self.login = None;
                vec![send(ok(None, "Unauthenticate completed."))]
            }
            _ if !authenticated => self.bad("Authenticate first."),
            Command::HaveSpace(name, size) => vec![Action::Script(Op::HaveSpace(name, size))],
            Command::PutScript(name, source) => vec![Action::Script(Op::Put(name, source))],
            Command::CheckScript(source) => vec![Action::Script(Op::Check(source))],
            Command::ListScripts => vec![Action::Script(Op::List)],
            Command::SetActive(name) => vec![Action::Script(Op::SetActive(name))],
            Command::GetScript(name) => vec![Action::Script(Op::Get(name))],
            Command::DeleteScript(name) => vec![Action::Script(Op::Delete(name))],
            Command::RenameScript(old, new) => vec![Action::Script(Op::Rename(old, new))],
            Command::Unauthenticate => self.bad("Not authenticated."),
        }
    }

    fn authenticate(&mut self, mechanism: &str, initial: Option<String>) -> Vec<Action> {
        let Some(mech) = Mechanism::parse(mechanism) else {
            return self.bad("Unsupported authentication mechanism.");
        };
        if !self.cfg.plaintext_ok {
            return vec![send(no(
                Some(Code::EncryptNeeded),
                "Plaintext authentication disallowed on non-secure connections.",
            ))];
        }
        let initial = match initial.as_deref().map(sasl::decode_response) {
            None => None,
            Some(Ok(Response::Data(d))) => Some(d),
            Some(Ok(Response::Cancel)) => return vec![send(no(None, "Authentication cancelled."))],
            Some(Err(e)) => return self.auth_failed(e),
        };
        let (ex, step) = Exchange::start(mech, initial);
        self.state = State::Sasl(ex);
        self.sasl_step(step)
    }

    fn sasl_step(&mut self, step: Step) -> Vec<Action> {
        match step {
            Step::Challenge(c) => {
                let mut out = String::new();
                string(&mut out, &sasl::encode_challenge(c));
                out.push_str("\r\n");
                vec![send(out.into_bytes())]
            }
            Step::Done(creds) => {
                self.state = State::CheckingLogin;
                vec![Action::CheckLogin(creds)]
            }
            Step::Fail(why) => {
                self.state = State::NonAuth;
                self.auth_failed(why)
            }
        }
    }

    fn auth_failed(&mut self, text: &str) -> Vec<Action> {
        self.auth_failures += 1;
        if self.auth_failures >= self.cfg.max_auth_failures {
            self.state = State::Closed;
            return vec![send(bye(None, "Too many authentication failures.")), Action::Close];
        }
        vec![send(no(None, text))]
    }

    /// The answer to [`Action::CheckLogin`]; `login` is the canonical user name.
    pub fn login_result(&mut self, login: &str, result: LoginResult) -> Vec<Action> {
        if !matches!(self.state, State::CheckingLogin) {
            return Vec::new();
        }
        match result {
            LoginResult::Ok => {
                self.state = State::Auth;
                self.login = Some(login.to_string());
                vec![send(ok(None, "Logged in."))]
            }
            LoginResult::Rejected => {
                self.state = State::NonAuth;
                self.auth_failed("Authentication failed.")
            }
            LoginResult::TempFail => {
                self.state = State::NonAuth;
                vec![send(no(Some(Code::TryLater), "Temporary authentication failure, try again later."))]
            }
        }
    }

    /// The TLS handshake succeeded: the capabilities again (RFC 5804 §2.2).
    pub fn tls_started(&mut self) -> Vec<Action> {
        self.cfg.tls_active = true;
        self.cfg.plaintext_ok = true;
        let mut out = self.capabilities();
        out.extend(ok(None, "TLS negotiation successful."));
        vec![send(out)]
    }

    /// The connection ends for `reason` (idle time, shutdown): the BYE to send.
    pub fn goodbye(&mut self, code: Option<Code>, reason: &str) -> Vec<u8> {
        self.state = State::Closed;
        bye(code, reason)
    }
}
