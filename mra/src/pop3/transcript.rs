//! C:/S: transcripts through the session, with a scripted outside world: bob@b.test's password
//! is `pw`, carol@b.test's maildrop is in use, dave@b.test's directory is down.

use super::body;
use super::*;

const MESSAGES: [&[u8]; 3] = [
    b"Subject: one\n\nfirst\n.dot\n",
    b"Subject: two\n\nsecond\nline 2\nline 3\n",
    b"Subject: three\n\nthird\n",
];

fn maildrop() -> Maildrop {
    Maildrop::new(
        MESSAGES
            .iter()
            .enumerate()
            .map(|(i, m)| Entry::new(i as u32 + 10, format!("UID{}", i + 10), vsize(m)))
            .collect(),
    )
}

/// Size with CRLF line ends.
fn vsize(m: &[u8]) -> u64 {
    (m.len() + m.iter().filter(|&&b| b == b'\n').count()) as u64
}

fn config(plaintext_ok: bool) -> Config {
    Config { tls_available: true, tls_active: false, plaintext_ok, max_auth_failures: 3, max_bad_commands: 5 }
}

/// What the world did: updates and the TLS start.
#[derive(Debug, Default)]
struct World {
    updates: Vec<(Vec<u32>, Vec<u32>)>,
    tls: usize,
    closed: bool,
}

fn run_actions(s: &mut Session, actions: Vec<Action>, out: &mut Vec<u8>, w: &mut World) {
    for a in actions {
        match a {
            Action::Send(b) => out.extend_from_slice(&b),
            Action::StartTls => {
                w.tls += 1;
                s.tls_started();
            }
            Action::CheckLogin(c) => {
                let result = match (c.login.as_str(), c.password.expose()) {
                    ("bob@b.test", b"pw") => LoginResult::Ok(maildrop()),
                    ("carol@b.test", _) => LoginResult::InUse,
                    ("dave@b.test", _) => LoginResult::TempFail,
                    _ => LoginResult::Rejected,
                };
                let more = s.login_result(&c.login, result);
                run_actions(s, more, out, w);
            }
            Action::Retrieve { uid, top, ok } => {
                out.extend_from_slice(&ok);
                out.extend_from_slice(&body::encode(MESSAGES[uid as usize - 10], top));
            }
            Action::Update { expunge, seen } => {
                w.updates.push((expunge, seen));
                let more = s.update_result(true);
                run_actions(s, more, out, w);
            }
            Action::Close => w.closed = true,
        }
    }
}

/// Runs a transcript: `C: ` lines are sent, `S: ` lines must be exactly what comes back
/// (trailing spaces count: the empty SASL challenge is `+ `).
fn transcript(cfg: Config, script: &str) -> World {
    let mut s = Session::new(cfg);
    let mut w = World::default();
    let mut got = GREETING.to_vec();
    let mut want = Vec::new();
    for l in script.lines().map(str::trim_start).filter(|l| !l.is_empty()) {
        if let Some(c) = l.strip_prefix("C:") {
            let c = c.strip_prefix(' ').unwrap_or(c);
            let actions = if c == "<too long>" {
                s.handle(Event::TooLong)
            } else {
                s.handle(Event::Line(c.as_bytes()))
            };
            run_actions(&mut s, actions, &mut got, &mut w);
        } else if let Some(r) = l.strip_prefix("S:") {
            want.extend_from_slice(r.strip_prefix(' ').unwrap_or(r).as_bytes());
            want.extend_from_slice(b"\r\n");
        } else {
            panic!("bad transcript line {l:?}");
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
    w
}

#[test]
fn rfc1939_session() {
    let w = transcript(
        config(true),
        "S: +OK mailroom ready.
         C: USER bob@b.test
         S: +OK
         C: PASS pw
         S: +OK Logged in.
         C: STAT
         S: +OK 3 94
         C: LIST
         S: +OK 3 messages:
         S: 1 29
         S: 2 40
         S: 3 25
         S: .
         C: LIST 2
         S: +OK 2 40
         C: UIDL
         S: +OK
         S: 1 UID10
         S: 2 UID11
         S: 3 UID12
         S: .
         C: UIDL 3
         S: +OK 3 UID12
         C: RETR 1
         S: +OK 29 octets
         S: Subject: one
         S:
         S: first
         S: ..dot
         S: .
         C: TOP 2 1
         S: +OK
         S: Subject: two
         S:
         S: second
         S: .
         C: DELE 2
         S: +OK Marked to be deleted.
         C: DELE 2
         S: -ERR Message is deleted.
         C: RETR 2
         S: -ERR Message is deleted.
         C: LIST 4
         S: -ERR There's no message 4.
         C: STAT
         S: +OK 2 54
         C: NOOP
         S: +OK
         C: QUIT
         S: +OK Logging out, messages deleted.",
    );
    assert_eq!(w.updates, [(vec![11], vec![10])]);
    assert!(w.closed);
}

#[test]
fn rset_undeletes() {
    let w = transcript(
        config(true),
        "S: +OK mailroom ready.
         C: USER bob@b.test
         S: +OK
         C: PASS pw
         S: +OK Logged in.
         C: DELE 1
         S: +OK Marked to be deleted.
         C: DELE 3
         S: +OK Marked to be deleted.
         C: RSET
         S: +OK 3 messages (94 octets).
         C: QUIT
         S: +OK Logging out, messages deleted.",
    );
    assert_eq!(w.updates, [(vec![], vec![])]);
}

#[test]
fn capa_and_stls() {
    let w = transcript(
        config(false),
        "S: +OK mailroom ready.
         C: CAPA
         S: +OK
         S: CAPA
         S: TOP
         S: UIDL
         S: RESP-CODES
         S: PIPELINING
         S: AUTH-RESP-CODE
         S: STLS
         S: IMPLEMENTATION mailroom
         S: .
         C: USER bob@b.test
         S: -ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.
         C: STLS
         S: +OK Begin TLS negotiation now.
         C: STLS
         S: -ERR TLS is already active.
         C: capa
         S: +OK
         S: CAPA
         S: TOP
         S: UIDL
         S: RESP-CODES
         S: PIPELINING
         S: AUTH-RESP-CODE
         S: USER
         S: SASL PLAIN LOGIN
         S: IMPLEMENTATION mailroom
         S: .
         C: USER bob@b.test
         S: +OK
         C: PASS pw
         S: +OK Logged in.
         C: STLS
         S: -ERR Already logged in.
         C: QUIT
         S: +OK Logging out, messages deleted.",
    );
    assert_eq!(w.tls, 1);
}

#[test]
fn sasl_plain_and_login() {
    // AGJvYkBiLnRlc3QAcHc= is "\0bob@b.test\0pw".
    transcript(
        config(true),
        "S: +OK mailroom ready.
         C: AUTH
         S: +OK
         S: PLAIN
         S: LOGIN
         S: .
         C: AUTH PLAIN AGJvYkBiLnRlc3QAcHc=
         S: +OK Logged in.
         C: QUIT
         S: +OK Logging out, messages deleted.",
    );
    transcript(
        config(true),
        "S: +OK mailroom ready.
         C: AUTH PLAIN
         S: + 
         C: AGJvYkBiLnRlc3QAcHc=
         S: +OK Logged in.",
    );
    transcript(
        config(true),
        "S: +OK mailroom ready.
         C: AUTH LOGIN
         S: + VXNlcm5hbWU6
         C: Ym9iQGIudGVzdA==
         S: + UGFzc3dvcmQ6
         C: cHc=
         S: +OK Logged in.",
    );
    transcript(
        config(true),
        "S: +OK mailroom ready.
         C: AUTH LOGIN
         S: + VXNlcm5hbWU6
         C: *
         S: -ERR Authentication cancelled.
         C: AUTH CRAM-MD5
         S: -ERR Unsupported authentication mechanism.
         C: AUTH PLAIN !!!
         S: -ERR Invalid base64 data.
         C: AUTH PLAIN
         S: + 
         C: <too long>
         S: -ERR Authentication response too long.
         C: AUTH LOGIN
         S: + VXNlcm5hbWU6
         C: Ym9iQGIudGVzdA==
         S: + UGFzc3dvcmQ6
         C: d3Jvbmc=
         S: -ERR [AUTH] Authentication failed.
         S: -ERR [AUTH] Too many authentication failures, closing.
         C: NOOP",
    );
}

#[test]
fn failures_and_response_codes() {
    let w = transcript(
        config(true),
        "S: +OK mailroom ready.
         C: PASS pw
         S: -ERR No username given.
         C: USER carol@b.test
         S: +OK
         C: PASS x
         S: -ERR [IN-USE] Mailbox is locked by another POP3 session.
         C: USER dave@b.test
         S: +OK
         C: PASS x
         S: -ERR [SYS/TEMP] Temporary authentication failure, try again later.
         C: STAT
         S: -ERR Unknown command in AUTHORIZATION state.
         C: USER bob@b.test
         S: +OK
         C: PASS wrong
         S: -ERR [AUTH] Authentication failed.
         C: USER bob@b.test
         S: +OK
         C: PASS wrong
         S: -ERR [AUTH] Authentication failed.
         C: USER bob@b.test
         S: +OK
         C: PASS wrong again
         S: -ERR [AUTH] Authentication failed.
         S: -ERR [AUTH] Too many authentication failures, closing.
         C: USER bob@b.test",
    );
    assert!(w.closed);
}

#[test]
fn malformed_and_overlong_commands() {
    let w = transcript(
        config(true),
        "S: +OK mailroom ready.
         C: <too long>
         S: -ERR Line too long.
         C: XYZZY 1
         S: -ERR Unknown command: XYZZY
         C:
         S: -ERR Empty command.
         C: USER
         S: -ERR Syntax: USER <name>
         C: NOOP
         S: -ERR Unknown command in AUTHORIZATION state.
         S: -ERR Too many bad commands, closing.
         C: QUIT",
    );
    assert!(w.closed);
    transcript(
        config(true),
        "S: +OK mailroom ready.
         C: USER bob@b.test
         S: +OK
         C: PASS pw
         S: +OK Logged in.
         C: RETR 0
         S: -ERR Syntax: RETR <message>
         C: TOP 1
         S: -ERR Syntax: TOP <message> <lines>
         C: RETR 4294967295
         S: -ERR There's no message 4294967295.
         C: QUIT
         S: +OK Logging out, messages deleted.",
    );
}
