//! The Dovecot auth client protocol, server side (protocols.md §2), as Postfix's
//! `smtpd_sasl_type = dovecot` speaks it: TAB-separated lines, PLAIN and LOGIN, several
//! authentications in flight on one connection. No I/O: lines in, events out.

use std::collections::HashMap;

use crate::Secret;
use crate::sasl::{self, Exchange, Mechanism, Step};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Longest line either side may send.
pub const MAX_LINE: usize = 16384;
/// Most authentications one connection may have in progress.
pub const MAX_PENDING: usize = 64;

/// What the connection must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send this line (without the trailing LF).
    Send(String),
    /// Check these credentials, then send [`ok`] or [`fail`] for `id`.
    Check(Attempt),
    /// Protocol violation: log the reason and close the connection.
    Close(&'static str),
}

/// Credentials gathered by a mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The client's request id.
    pub id: u32,
    /// Authentication identity.
    pub login: String,
    /// Password (never printed).
    pub password: Secret,
    /// `service=` (smtp, imap, ...).
    pub service: String,
    /// `rip=`: the remote client's address.
    pub rip: Option<String>,
}

/// An authentication in progress: the shared PLAIN/LOGIN exchange and what the request said.
#[derive(Debug)]
struct Pending {
    exchange: Exchange,
    service: String,
    rip: Option<String>,
}

/// One client connection's protocol state.
#[derive(Debug, Default)]
pub struct Server {
    versioned: bool,
    pending: HashMap<u32, Pending>,
}

/// The handshake the server sends as soon as a client connects; MECH lines come before SPID,
/// or Postfix takes us for an auth-master socket.
pub fn handshake(pid: u32, cuid: u64, cookie: &str) -> String {
    format!(
        "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t{pid}\nCUID\t{cuid}\nCOOKIE\t{cookie}\nDONE\n"
    )
}

/// `OK` for a successful authentication; `user=` is required by Postfix.
pub fn ok(id: u32, user: &str) -> String {
    format!("OK\t{id}\tuser={}", escape(user))
}

/// `FAIL`, with `code=temp_fail` (and the older `temp` flag) for temporary trouble.
pub fn fail(id: u32, user: Option<&str>, temp: bool, reason: &str) -> String {
    let mut s = format!("FAIL\t{id}");
    if let Some(u) = user {
        s.push_str(&format!("\tuser={}", escape(u)));
    }
    if temp {
        s.push_str("\tcode=temp_fail\ttemp");
    }
    s.push_str(&format!("\treason={}", escape(reason)));
    s
}

impl Server {
    /// Handle one line from the client (without its LF).
    pub fn line(&mut self, line: &[u8]) -> Vec<Event> {
        if line.len() > MAX_LINE {
            return vec![Event::Close("line too long")];
        }
        let Ok(line) = std::str::from_utf8(line) else {
            return vec![Event::Close("line is not UTF-8")];
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let fields: Vec<String> = line.split('\t').map(unescape).collect();
        match (fields[0].as_str(), self.versioned) {
            ("VERSION", _) => {
                if fields.get(1).map(String::as_str) != Some("1") {
                    return vec![Event::Close("unsupported protocol major version")];
                }
                self.versioned = true;
                vec![]
            }
            (_, false) => vec![Event::Close("no VERSION line first")],
            ("CPID", true) => vec![],
            ("AUTH", true) => self.auth(&fields),
            ("CONT", true) => self.cont(&fields),
            _ => vec![Event::Close("unknown command")],
        }
    }

    fn auth(&mut self, f: &[String]) -> Vec<Event> {
        let Some(id) = f.get(1).and_then(|s| s.parse::<u32>().ok()) else {
            return vec![Event::Close("AUTH without a numeric id")];
        };
        let Some(mech) = f.get(2) else { return vec![Event::Close("AUTH without a mechanism")] };
        if self.pending.contains_key(&id) {
            return vec![Event::Close("AUTH id already in use")];
        }
        if self.pending.len() >= MAX_PENDING {
            return vec![Event::Send(fail(id, None, true, "Too many authentications in progress"))];
        }
        let mut service = String::new();
        let mut rip = None;
        let mut resp = None;
        for p in &f[3..] {
            match p.split_once('=') {
                Some(("service", v)) => service = v.to_string(),
                Some(("rip", v)) => rip = Some(v.to_string()),
                Some(("resp", v)) => resp = Some(v.to_string()),
                _ => {}
            }
        }
        let Some(mech) = Mechanism::parse(mech) else {
            return vec![Event::Send(fail(id, None, false, "Unsupported authentication mechanism"))];
        };
        let initial = match resp.map(|r| decode(id, &r)).transpose() {
            Ok(initial) => initial,
            Err(e) => return vec![e],
        };
        let (exchange, step) = Exchange::start(mech, initial);
        self.step(id, Pending { exchange, service, rip }, step)
    }

    fn cont(&mut self, f: &[String]) -> Vec<Event> {
        let Some(id) = f.get(1).and_then(|s| s.parse::<u32>().ok()) else {
            return vec![Event::Close("CONT without a numeric id")];
        };
        let Some(mut p) = self.pending.remove(&id) else {
            return vec![Event::Send(fail(id, None, false, "Unknown authentication id"))];
        };
        match decode(id, f.get(2).map(String::as_str).unwrap_or("")) {
            Ok(data) => {
                let step = p.exchange.respond(data);
                self.step(id, p, step)
            }
            Err(e) => vec![e],
        }
    }

    /// Send the mechanism's next challenge (PLAIN's is empty, as Dovecot sends), or hand
    /// over the credentials, or fail the request.
    fn step(&mut self, id: u32, p: Pending, step: Step) -> Vec<Event> {
        match step {
            Step::Challenge(c) => {
                self.pending.insert(id, p);
                vec![Event::Send(format!("CONT\t{id}\t{}", sasl::encode_challenge(c)))]
            }
            Step::Done(creds) => vec![Event::Check(Attempt {
                id,
                login: creds.login,
                password: creds.password,
                service: p.service,
                rip: p.rip,
            })],
            Step::Fail(why) => vec![Event::Send(fail(id, None, false, why))],
        }
    }
}

/// Client data: plain base64 (Dovecot's protocol has no `*` or `=` conventions).
fn decode(id: u32, b64: &str) -> Result<Vec<u8>, Event> {
    B64.decode(b64.trim()).map_err(|_| Event::Send(fail(id, None, false, "Invalid base64 data")))
}

/// Dovecot's escaping: 0x01 then `0`=NUL, `1`=0x01, `t`=TAB, `r`=CR, `n`=LF.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\u{1}0"),
            '\u{1}' => out.push_str("\u{1}1"),
            '\t' => out.push_str("\u{1}t"),
            '\r' => out.push_str("\u{1}r"),
            '\n' => out.push_str("\u{1}n"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`]; an unknown escape keeps its character.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\u{1}' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('0') => out.push('\0'),
            Some('1') => out.push('\u{1}'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        B64.encode(s)
    }

    fn session() -> Server {
        let mut s = Server::default();
        assert!(s.line(b"VERSION\t1\t0").is_empty());
        assert!(s.line(b"CPID\t4242").is_empty());
        s
    }

    fn check(login: &str, pw: &str, id: u32) -> Event {
        Event::Check(Attempt {
            id,
            login: login.into(),
            password: Secret::from(pw),
            service: "smtp".into(),
            rip: Some("192.0.2.7".into()),
        })
    }

    #[test]
    fn handshake_sends_mechs_before_spid() {
        let h = handshake(7, 1, "00112233445566778899aabbccddeeff");
        let mech = h.find("MECH\tPLAIN").unwrap();
        assert!(mech < h.find("SPID").unwrap() && h.starts_with("VERSION\t1\t") && h.ends_with("DONE\n"));
    }

    #[test]
    fn plain_with_initial_response() {
        let mut s = session();
        let line = format!(
            "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=192.0.2.7\tresp={}",
            b64(b"\0bob@b.test\0pw")
        );
        assert_eq!(s.line(line.as_bytes()), vec![check("bob@b.test", "pw", 1)]);
    }

    #[test]
    fn plain_without_initial_response_gets_an_empty_challenge() {
        let mut s = session();
        assert_eq!(
            s.line(b"AUTH\t2\tPLAIN\tservice=smtp\trip=192.0.2.7"),
            vec![Event::Send("CONT\t2\t".into())]
        );
        let cont = format!("CONT\t2\t{}", b64(b"bob@b.test\0bob@b.test\0pw"));
        assert_eq!(s.line(cont.as_bytes()), vec![check("bob@b.test", "pw", 2)]);
    }

    #[test]
    fn login_prompts_for_user_then_password() {
        let mut s = session();
        assert_eq!(
            s.line(b"AUTH\t3\tLOGIN\tservice=smtp\trip=192.0.2.7"),
            vec![Event::Send("CONT\t3\tVXNlcm5hbWU6".into())]
        );
        let user = format!("CONT\t3\t{}", b64(b"bob@b.test"));
        assert_eq!(s.line(user.as_bytes()), vec![Event::Send("CONT\t3\tUGFzc3dvcmQ6".into())]);
        let pw = format!("CONT\t3\t{}", b64(b"pw"));
        assert_eq!(s.line(pw.as_bytes()), vec![check("bob@b.test", "pw", 3)]);
        // With the user name as initial response, straight to the password.
        let line = format!("AUTH\t4\tLOGIN\tservice=smtp\trip=192.0.2.7\tresp={}", b64(b"bob@b.test"));
        assert_eq!(s.line(line.as_bytes()), vec![Event::Send("CONT\t4\tUGFzc3dvcmQ6".into())]);
    }

    #[test]
    fn bad_input_fails_the_request_or_closes() {
        let mut s = Server::default();
        assert_eq!(s.line(b"AUTH\t1\tPLAIN"), vec![Event::Close("no VERSION line first")]);
        assert_eq!(s.line(b"VERSION\t2\t0"), vec![Event::Close("unsupported protocol major version")]);
        let mut s = session();
        assert!(
            matches!(&s.line(b"AUTH\t1\tCRAM-MD5\tservice=smtp")[..], [Event::Send(f)] if f.starts_with("FAIL\t1\t"))
        );
        assert!(matches!(&s.line(b"AUTH\t2\tPLAIN\tresp=!!!")[..], [Event::Send(f)] if f.contains("base64")));
        let authz = format!("AUTH\t3\tPLAIN\tresp={}", b64(b"admin\0bob\0pw"));
        assert!(matches!(&s.line(authz.as_bytes())[..], [Event::Send(f)] if f.contains("Authorization")));
        let two = format!("AUTH\t4\tPLAIN\tresp={}", b64(b"bob\0pw"));
        assert!(matches!(&s.line(two.as_bytes())[..], [Event::Send(f)] if f.starts_with("FAIL\t4")));
        let empty = format!("AUTH\t5\tPLAIN\tresp={}", b64(b"\0bob\0"));
        assert!(matches!(&s.line(empty.as_bytes())[..], [Event::Send(f)] if f.starts_with("FAIL\t5")));
        assert!(matches!(&s.line(b"CONT\t99\tAAAA")[..], [Event::Send(f)] if f.starts_with("FAIL\t99")));
        assert_eq!(s.line(b"AUTH\tx\tPLAIN"), vec![Event::Close("AUTH without a numeric id")]);
        assert_eq!(s.line(b"BOGUS"), vec![Event::Close("unknown command")]);
        assert_eq!(s.line(b"\xff\xfe"), vec![Event::Close("line is not UTF-8")]);
        assert_eq!(s.line(&vec![b'A'; MAX_LINE + 1]), vec![Event::Close("line too long")]);
        assert!(s.line(b"AUTH\t6\tPLAIN").len() == 1);
        assert_eq!(s.line(b"AUTH\t6\tPLAIN"), vec![Event::Close("AUTH id already in use")]);
    }

    #[test]
    fn replies_and_escaping() {
        assert_eq!(ok(1, "bob@b.test"), "OK\t1\tuser=bob@b.test");
        assert_eq!(
            fail(2, Some("bob"), false, "Authentication failed"),
            "FAIL\t2\tuser=bob\treason=Authentication failed"
        );
        assert_eq!(fail(3, None, true, "x"), "FAIL\t3\tcode=temp_fail\ttemp\treason=x");
        let nasty = "a\tb\nc\0d\u{1}e\rf";
        assert_eq!(unescape(&escape(nasty)), nasty);
        assert!(!escape(nasty).contains(['\t', '\n', '\r', '\0']));
    }
}
