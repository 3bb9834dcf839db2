//! Transcripts through the framer, the session and the script commands: bob@b.test's password
//! is `pw`, dave@b.test's directory is down; scripts live in a temporary home with at most two
//! scripts of 100 bytes.

use mailstore::SieveScripts;

use super::command::{Frame, Framer, MAX_LINE};
use super::*;

fn config(plaintext_ok: bool) -> Config {
    Config {
        tls_available: true,
        tls_active: false,
        plaintext_ok,
        max_auth_failures: 2,
        max_bad_commands: 5,
        max_redirects: 4,
    }
}

const LIMITS: Limits = Limits { max_scripts: 2, max_script_size: 100 };

struct World {
    session: Session,
    framer: Framer,
    store: SieveScripts,
    out: Vec<u8>,
    closed: bool,
    tls: usize,
    _home: tempfile::TempDir,
}

impl World {
    fn new(plaintext_ok: bool) -> World {
        let home = tempfile::tempdir().unwrap();
        let session = Session::new(config(plaintext_ok));
        let out = session.greeting();
        World {
            session,
            framer: Framer::new(LIMITS.max_script_size),
            store: SieveScripts::new(home.path()),
            out,
            closed: false,
            tls: 0,
            _home: home,
        }
    }

    fn run(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(b) => self.out.extend_from_slice(&b),
                Action::StartTls => {
                    self.tls += 1;
                    let more = self.session.tls_started();
                    self.run(more);
                }
                Action::CheckLogin(c) => {
                    let result = match (c.login.as_str(), c.password.expose()) {
                        ("bob@b.test", b"pw") => LoginResult::Ok,
                        ("dave@b.test", _) => LoginResult::TempFail,
                        _ => LoginResult::Rejected,
                    };
                    let more = self.session.login_result(&c.login, result);
                    self.run(more);
                }
                Action::Script(op) => {
                    let reply = scripts::execute(&op, &self.store, &LIMITS, "bob@b.test");
                    self.out.extend(reply);
                }
                Action::Close => self.closed = true,
            }
        }
    }

    /// Feeds client bytes (CRLF lines, literal bytes after their line); returns what the
    /// server sent since the last call.
    fn client(&mut self, mut input: &[u8]) -> String {
        while let Some(p) = input.windows(2).position(|w| w == b"\r\n") {
            let line = &input[..p];
            input = &input[p + 2..];
            let frame = self.framer.line(if line.len() > MAX_LINE { None } else { Some(line) });
            let actions = match frame {
                Frame::Literal { len, keep } => {
                    let (lit, rest) = input.split_at(len as usize);
                    if keep {
                        self.framer.literal(lit);
                    }
                    input = rest;
                    continue;
                }
                Frame::Command(buf) => self.session.handle(Event::Command(&buf)),
                Frame::Refused(r) => self.session.handle(Event::Refused(r)),
            };
            self.run(actions);
        }
        String::from_utf8(std::mem::take(&mut self.out)).unwrap()
    }
}

/// Runs `C:`/`S:` lines: each `C:` line is sent with CRLF (`\n` inside a line stands for
/// CRLF), and the `S:` lines after it must be exactly the server's output.
fn transcript(w: &mut World, script: &str) {
    let mut expected = String::new();
    let mut pending: Option<String> = None;
    let check = |w: &mut World, pending: &mut Option<String>, expected: &mut String| {
        if let Some(c) = pending.take() {
            let got = w.client(c.as_bytes());
            assert_eq!(got, *expected, "after C: {c:?}");
        }
        expected.clear();
    };
    for line in script.lines().map(str::trim_start).filter(|l| !l.is_empty()) {
        if let Some(c) = line.strip_prefix("C: ") {
            check(w, &mut pending, &mut expected);
            pending = Some(format!("{}\r\n", c.replace("\\n", "\r\n")));
        } else if let Some(s) = line.strip_prefix("S: ") {
            expected.push_str(s);
            expected.push_str("\r\n");
        } else {
            panic!("bad transcript line {line:?}");
        }
    }
    check(w, &mut pending, &mut expected);
}

fn b64(s: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

const SIEVE: &str = "\"SIEVE\" \"fileinto reject ereject envelope encoded-character comparator-i;octet \
comparator-i;ascii-casemap comparator-i;ascii-numeric imap4flags variables body relational subaddress copy \
mailbox vacation vacation-seconds include date index duplicate vnd.dovecot.duplicate editheader environment \
spamtest spamtestplus virustest regex\"";

#[test]
fn greeting_starttls_capability() {
    let mut w = World::new(false);
    let greeting = w.client(b"");
    assert_eq!(
        greeting,
        format!(
            "\"IMPLEMENTATION\" \"mailroom\"\r\n{SIEVE}\r\n\"SASL\" \"\"\r\n\"STARTTLS\"\r\n\
             \"MAXREDIRECTS\" \"4\"\r\n\"VERSION\" \"1.0\"\r\nOK \"mailroom ManageSieve ready.\"\r\n"
        )
    );
    let plain = b64(b"\0bob@b.test\0pw");
    transcript(
        &mut w,
        &format!(
            "C: AUTHENTICATE \"PLAIN\" \"{plain}\"
             S: NO (ENCRYPT-NEEDED) \"Plaintext authentication disallowed on non-secure connections.\"
             C: LISTSCRIPTS
             S: NO \"Authenticate first.\""
        ),
    );
    let after = w.client(b"STARTTLS\r\n");
    assert_eq!(w.tls, 1);
    assert!(after.starts_with("OK \"Begin TLS negotiation now.\"\r\n\"IMPLEMENTATION\""), "{after}");
    assert!(after.contains("\"SASL\" \"PLAIN LOGIN\"\r\n") && !after.contains("STARTTLS\r\n"), "{after}");
    assert!(after.ends_with("OK \"TLS negotiation successful.\"\r\n"), "{after}");
    transcript(
        &mut w,
        &format!(
            "C: STARTTLS
             S: NO \"TLS is already active.\"
             C: AUTHENTICATE \"PLAIN\" \"{plain}\"
             S: OK \"Logged in.\""
        ),
    );
    let caps = w.client(b"CAPABILITY\r\n");
    assert!(caps.contains("\"OWNER\" \"bob@b.test\"\r\n") && !caps.contains("SASL"), "{caps}");
    transcript(
        &mut w,
        "C: NOOP \"abc\"
         S: OK (TAG \"abc\") \"Done\"
         C: UNAUTHENTICATE
         S: OK \"Unauthenticate completed.\"
         C: GETSCRIPT \"x\"
         S: NO \"Authenticate first.\"
         C: LOGOUT
         S: OK \"Logout completed.\"",
    );
    assert!(w.closed);
}

#[test]
fn sasl_exchanges() {
    let mut w = World::new(true);
    w.client(b"");
    transcript(
        &mut w,
        &format!(
            "C: AUTHENTICATE \"LOGIN\"
             S: \"{}\"
             C: \"{}\"
             S: \"{}\"
             C: {{4+}}\\n{}
             S: OK \"Logged in.\"",
            b64(b"Username:"),
            b64(b"bob@b.test"),
            b64(b"Password:"),
            b64(b"pw"),
        ),
    );
    let mut w = World::new(true);
    w.client(b"");
    transcript(
        &mut w,
        &format!(
            "C: AUTHENTICATE \"PLAIN\"
             S: \"\"
             C: \"*\"
             S: NO \"Authentication cancelled.\"
             C: AUTHENTICATE \"PLAIN\" \"{}\"
             S: NO (TRYLATER) \"Temporary authentication failure, try again later.\"
             C: AUTHENTICATE \"PLAIN\" \"{}\"
             S: NO \"Authentication failed.\"
             C: AUTHENTICATE \"PLAIN\" \"{}\"
             S: BYE \"Too many authentication failures.\"",
            b64(b"\0dave@b.test\0pw"),
            b64(b"\0bob@b.test\0wrong"),
            b64(b"\0bob@b.test\0wrong"),
        ),
    );
    assert!(w.closed);
}

fn logged_in() -> World {
    let mut w = World::new(true);
    w.client(b"");
    let ok = w.client(format!("AUTHENTICATE \"PLAIN\" \"{}\"\r\n", b64(b"\0bob@b.test\0pw")).as_bytes());
    assert_eq!(ok, "OK \"Logged in.\"\r\n");
    w
}

#[test]
fn scripts() {
    let mut w = logged_in();
    transcript(
        &mut w,
        "C: LISTSCRIPTS
         S: OK \"Listscripts completed.\"
         C: PUTSCRIPT \"main\" {22+}\\nkeep;\\nfileinto \"x\";\\n
         S: NO \"2:1: unknown command 'fileinto' (require \\\"fileinto\\\")\"
         C: PUTSCRIPT \"main\" {36+}\\nrequire \"fileinto\";\\nfileinto \"x\";\\n
         S: OK \"Putscript completed.\"
         C: PUTSCRIPT \"other\" \"keep;\"
         S: OK \"Putscript completed.\"
         C: HAVESPACE \"third\" 10
         S: NO (QUOTA/MAXSCRIPTS) \"Too many scripts, at most 2.\"
         C: HAVESPACE \"other\" 101
         S: NO (QUOTA/MAXSIZE) \"Script is too large, at most 100 bytes.\"
         C: HAVESPACE \"other\" 100
         S: OK \"Putscript would succeed.\"
         C: PUTSCRIPT \"third\" \"keep;\"
         S: NO (QUOTA/MAXSCRIPTS) \"Too many scripts, at most 2.\"
         C: PUTSCRIPT \"other\" {101+}\\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
         S: NO (QUOTA/MAXSIZE) \"Script is too large.\"
         C: CHECKSCRIPT \"frobnicate;\"
         S: NO \"1:1: unknown command 'frobnicate'\"
         C: CHECKSCRIPT \"keep;\"
         S: OK \"Script is valid.\"
         C: SETACTIVE \"nope\"
         S: NO (NONEXISTENT) \"There is no script by that name.\"
         C: SETACTIVE \"main\"
         S: OK \"Setactive completed.\"
         C: LISTSCRIPTS
         S: \"main\" ACTIVE
         S: \"other\"
         S: OK \"Listscripts completed.\"
         C: GETSCRIPT \"other\"
         S: {5}
         S: keep;
         S: OK \"Getscript completed.\"
         C: GETSCRIPT \"nope\"
         S: NO (NONEXISTENT) \"There is no script by that name.\"
         C: DELETESCRIPT \"main\"
         S: NO (ACTIVE) \"The active script cannot be deleted.\"
         C: RENAMESCRIPT \"main\" \"other\"
         S: NO (ALREADYEXISTS) \"A script with that name already exists.\"
         C: RENAMESCRIPT \"main\" \"renamed\"
         S: OK \"Renamescript completed.\"
         C: GETSCRIPT \".hidden\"
         S: NO \"Invalid script name.\"
         C: SETACTIVE \"\"
         S: OK \"Setactive completed.\"
         C: DELETESCRIPT \"renamed\"
         S: OK \"Deletescript completed.\"
         C: LISTSCRIPTS
         S: \"other\"
         S: OK \"Listscripts completed.\"",
    );
    assert_eq!(w.store.active().unwrap(), None);
}

#[test]
fn bad_commands_close() {
    let mut w = logged_in();
    transcript(
        &mut w,
        "C: FROB
         S: NO \"Unknown command.\"
         C: GETSCRIPT
         S: NO \"Syntax: GETSCRIPT \\\"name\\\"\"
         C: HAVESPACE \"a\" x
         S: NO \"Syntax: HAVESPACE \\\"name\\\" size\"
         C: STARTTLS
         S: NO \"STARTTLS is only allowed before authentication.\"
         C: AUTHENTICATE \"PLAIN\"
         S: BYE \"Too many bad commands, closing.\"",
    );
    assert!(w.closed);
}
