//! The server side of the SASL mechanisms we offer, PLAIN (RFC 4616) and LOGIN
//! (draft-murchison-sasl-login), as a state machine with no I/O. SMTP AUTH, POP3 AUTH, IMAP
//! AUTHENTICATE and the Dovecot auth protocol all frame it the same way: base64 lines, `*`
//! cancels, `=` is an empty initial response (RFC 4954 §4).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::Secret;

/// The mechanisms offered, as advertised (`AUTH PLAIN LOGIN`).
pub const OFFERED: &str = "PLAIN LOGIN";

/// A mechanism we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616: `authzid NUL authcid NUL password` in one response.
    Plain,
    /// Username and password in two responses, each after a prompt.
    Login,
}

impl Mechanism {
    /// The mechanism named `name` (case-insensitive), if we offer it.
    pub fn parse(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            _ => None,
        }
    }
}

/// A login and password the client sent; authlib's `Directory::authenticate` or
/// `Authenticator` checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Authentication identity as sent.
    pub login: String,
    /// The password.
    pub password: Secret,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (raw; base64-encode it for the wire) and wait for a response.
    Challenge(&'static [u8]),
    /// The exchange is complete: check these.
    Done(Credentials),
    /// The exchange failed; this text says why (a 501 / `-ERR` / `BAD`).
    Fail(&'static str),
}

/// One client response line, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `*`: the client gave up.
    Cancel,
    /// The decoded bytes (`=` as an initial response is empty).
    Data(Vec<u8>),
}

/// Decode a response line (without its line end): `*`, `=`, or base64.
pub fn decode_response(line: &str) -> Result<Response, &'static str> {
    match line.trim() {
        "*" => Ok(Response::Cancel),
        "=" => Ok(Response::Data(Vec::new())),
        s => B64.decode(s).map(Response::Data).map_err(|_| "Invalid base64 data"),
    }
}

/// Encode a challenge for the wire.
pub fn encode_challenge(challenge: &[u8]) -> String {
    B64.encode(challenge)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Plain,
    LoginUser,
    LoginPassword(String),
    Finished,
}

/// One authentication exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    state: State,
}

impl Exchange {
    /// Begin `mech`, with the client's initial response if it sent one.
    pub fn start(mech: Mechanism, initial: Option<Vec<u8>>) -> (Exchange, Step) {
        let mut ex =
            Exchange { state: if mech == Mechanism::Plain { State::Plain } else { State::LoginUser } };
        let step = match initial {
            Some(data) => ex.respond(data),
            None => ex.prompt(),
        };
        (ex, step)
    }

    /// The challenge for the current state; PLAIN's is empty, as Dovecot and Postfix send.
    fn prompt(&self) -> Step {
        match self.state {
            State::Plain => Step::Challenge(b""),
            State::LoginUser => Step::Challenge(b"Username:"),
            State::LoginPassword(_) => Step::Challenge(b"Password:"),
            State::Finished => Step::Fail("Authentication already finished"),
        }
    }

    /// Feed the client's next (decoded) response.
    pub fn respond(&mut self, data: Vec<u8>) -> Step {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Plain => plain(&data),
            State::LoginUser => match String::from_utf8(data) {
                Ok(user) if !user.is_empty() => {
                    self.state = State::LoginPassword(user);
                    self.prompt()
                }
                _ => Step::Fail("Invalid user name"),
            },
            State::LoginPassword(login) if !data.is_empty() => {
                Step::Done(Credentials { login, password: Secret::new(data) })
            }
            State::LoginPassword(_) => Step::Fail("Empty password"),
            State::Finished => Step::Fail("Authentication already finished"),
        }
    }
}

/// RFC 4616: `[authzid] NUL authcid NUL passwd`. Acting as someone else (an authzid that is
/// not the login itself) is not supported.
fn plain(data: &[u8]) -> Step {
    let parts: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let [authzid, authcid, password] = parts[..] else { return Step::Fail("Invalid PLAIN response") };
    if !authzid.is_empty() && authzid != authcid {
        return Step::Fail("Authorization identity not supported");
    }
    let Ok(login) = String::from_utf8(authcid.to_vec()) else { return Step::Fail("Invalid user name") };
    if login.is_empty() || password.is_empty() {
        return Step::Fail("Empty user name or password");
    }
    Step::Done(Credentials { login, password: Secret::new(password) })
}

/// `s` with control characters replaced by `?`: a login name as it may appear in a log line.
/// A name decoded from AUTH PLAIN or a saslauthd request may hold anything, a newline too,
/// and must not be able to write a line of its own for fail2ban to believe.
pub fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(login: &str, pw: &str) -> Step {
        Step::Done(Credentials { login: login.into(), password: Secret::new(pw) })
    }

    #[test]
    fn logged_logins_cannot_forge_lines() {
        assert_eq!(printable("bob\nWARN authentication failed\r"), "bob?WARN authentication failed?");
        assert_eq!(printable("bob@example.org"), "bob@example.org");
    }

    #[test]
    fn plain_in_one_or_two_steps() {
        let (_, s) = Exchange::start(Mechanism::Plain, Some(b"\0bob@b.test\0pw".to_vec()));
        assert_eq!(s, done("bob@b.test", "pw"));
        let (_, s) = Exchange::start(Mechanism::Plain, Some(b"bob\0bob\0pw".to_vec()));
        assert_eq!(s, done("bob", "pw"));
        let (mut ex, s) = Exchange::start(Mechanism::Plain, None);
        assert_eq!(s, Step::Challenge(b""));
        assert_eq!(ex.respond(b"\0bob\0pw".to_vec()), done("bob", "pw"));
        assert!(matches!(ex.respond(b"\0bob\0pw".to_vec()), Step::Fail(_)));
    }

    #[test]
    fn plain_refusals() {
        for bad in
            [&b"admin\0bob\0pw"[..], b"bob\0pw", b"\0bob\0", b"\0\0pw", b"\0b\xffob\0pw", b"", b"\0a\0b\0c"]
        {
            let (_, s) = Exchange::start(Mechanism::Plain, Some(bad.to_vec()));
            assert!(matches!(s, Step::Fail(_)), "{bad:?}");
        }
    }

    #[test]
    fn login_prompts_for_user_then_password() {
        let (mut ex, s) = Exchange::start(Mechanism::Login, None);
        assert_eq!(s, Step::Challenge(b"Username:"));
        assert_eq!(ex.respond(b"bob@b.test".to_vec()), Step::Challenge(b"Password:"));
        assert_eq!(ex.respond(b"pw".to_vec()), done("bob@b.test", "pw"));
        // The initial response is the user name (RFC 4954 clients such as swaks send it).
        let (mut ex, s) = Exchange::start(Mechanism::Login, Some(b"bob".to_vec()));
        assert_eq!(s, Step::Challenge(b"Password:"));
        assert!(matches!(ex.respond(Vec::new()), Step::Fail(_)));
    }

    #[test]
    fn responses_and_names() {
        assert_eq!(decode_response("*"), Ok(Response::Cancel));
        assert_eq!(decode_response("="), Ok(Response::Data(vec![])));
        assert_eq!(decode_response("AGJvYgBwdw==\r"), Ok(Response::Data(b"\0bob\0pw".to_vec())));
        assert!(decode_response("!!").is_err());
        assert_eq!(encode_challenge(b"Username:"), "VXNlcm5hbWU6");
        assert_eq!(Mechanism::parse("plain"), Some(Mechanism::Plain));
        assert_eq!(Mechanism::parse("CRAM-MD5"), None);
    }
}
