//! mailroom-mra's POP3 server as a real binary: Python's poplib (plain on loopback, STLS,
//! implicit TLS, AUTH PLAIN), UPDATE state on disk, `[IN-USE]`, `[SYS/TEMP]` (saslauthd or
//! the database down), passwords checked through a saslauthd socket by default, deliveries
//! during a session, idle clients, and malformed or overlong input that must not disturb
//! other clients.

mod common;

use common::{Client, Mra, PASSWORD, database, deliver, maildir, names, python};

/// poplib session: prints STAT, LIST, UIDL, RETR 1 and TOP 2 0, deletes message 2, quits.
const POPLIB_BASIC: &str = r#"
import poplib, ssl, sys
port, mode, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if mode == "ssl":
    p = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=30)
else:
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    if mode == "stls":
        print("CAPA-before", sorted(p.capa().keys()))
        p.stls(context=ctx)
caps = p.capa()
print("CAPA", sorted(caps.keys()))
if mode == "auth":
    import base64
    print(p._shortcmd("AUTH PLAIN " + base64.b64encode(("\0" + user + "\0" + pw).encode()).decode()).decode())
else:
    p.user(user)
    print(p.pass_(pw).decode())
print("STAT", p.stat())
resp, lines, _ = p.list()
print("LIST", [l.decode() for l in lines])
resp, lines, _ = p.uidl()
print("UIDL", [l.decode() for l in lines])
resp, lines, octets = p.retr(1)
print("RETR", octets, [l.decode() for l in lines])
resp, lines, _ = p.top(2, 0)
print("TOP", [l.decode() for l in lines])
print(p.dele(2).decode())
print(p.quit().decode())
"#;

fn field<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn poplib_reads_deletes_and_marks_seen() {
    let db = database().await;
    let root = maildir(&db, "bob");
    let one = deliver(&root, "one", "first\n.leading dot\n");
    let two = deliver(&root, "two", "second\n");
    deliver(&root, "three", "third\n");
    let mra = Mra::start(&db, "");
    let sizes: Vec<u64> = [&one, &two]
        .iter()
        .map(|p| {
            let text = std::fs::read(p).unwrap();
            (text.len() + text.iter().filter(|&&b| b == b'\n').count()) as u64
        })
        .collect();

    let out = python(POPLIB_BASIC, &[&mra.pop3.to_string(), "plain", "bob@b.test", PASSWORD]);
    assert!(field(&out, "CAPA").contains("'UIDL'") && field(&out, "CAPA").contains("'STLS'"), "{out}");
    assert_eq!(field(&out, "+OK"), "Logged in.");
    assert!(field(&out, "STAT").starts_with("(3, "), "{out}");
    assert!(field(&out, "LIST").starts_with(&format!("['1 {}', '2 {}', ", sizes[0], sizes[1])), "{out}");

    // UIDLs are Dovecot's default format: UID then UIDVALIDITY, 8 lower-case hex digits each.
    let mb = mailstore::Mailbox::open(&root).unwrap();
    let v = mb.uidvalidity();
    assert_eq!(
        field(&out, "UIDL"),
        format!("['1 00000001{v:08x}', '2 00000002{v:08x}', '3 00000003{v:08x}']")
    );
    assert_eq!(
        field(&out, "RETR"),
        format!(
            "{} ['From: a@x.test', 'To: bob@b.test', 'Subject: one', '', 'first', '.leading dot']",
            sizes[0]
        )
    );
    assert_eq!(field(&out, "TOP"), "['From: a@x.test', 'To: bob@b.test', 'Subject: two', '']");
    assert!(out.contains("+OK Logging out, messages deleted."), "{out}");

    // UPDATE: message 2 is gone, message 1 (retrieved) is \Seen in cur/, 3 untouched in new/.
    assert!(!two.exists());
    let cur = names(&root.join("cur"));
    let base1 = one.file_name().unwrap().to_str().unwrap();
    assert_eq!(cur, [format!("{base1}:2,S")]);
    assert_eq!(names(&root.join("new")).len(), 1);
    let mb = mailstore::Mailbox::open(&root).unwrap();
    assert_eq!(mb.messages().iter().map(|m| m.uid()).collect::<Vec<_>>(), [1, 3]);
    let log = mra.log();
    assert!(log.contains("pop3 login user=bob@b.test client=127.0.0.1 messages=3"), "{log}");
    assert!(log.contains("pop3 logout user=bob@b.test client=127.0.0.1 retr=1 top=1"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn poplib_over_stls_implicit_tls_and_auth_plain() {
    let db = database().await;
    let root = maildir(&db, "bob");
    for i in 0..4 {
        deliver(&root, &format!("m{i}"), "body\n");
    }
    // Passwords only inside TLS, even on loopback.
    let mra = Mra::start(&db, "plaintext_auth_on_loopback = false");
    let (mut c, _) = Client::connect(mra.pop3);
    assert_eq!(
        c.cmd("USER bob@b.test"),
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    );
    drop(c);

    let out = python(POPLIB_BASIC, &[&mra.pop3.to_string(), "stls", "bob@b.test", PASSWORD]);
    assert!(field(&out, "CAPA-before").contains("'STLS'") && !field(&out, "CAPA-before").contains("'USER'"));
    assert!(field(&out, "CAPA").contains("'USER'") && !field(&out, "CAPA").contains("'STLS'"), "{out}");
    assert!(field(&out, "STAT").starts_with("(4, "), "{out}");

    let out = python(POPLIB_BASIC, &[&mra.pop3s.to_string(), "ssl", "bob@b.test", PASSWORD]);
    assert!(field(&out, "STAT").starts_with("(3, "), "{out}");
    assert!(field(&out, "CAPA").contains("'SASL'"), "{out}");

    // AUTH PLAIN with an initial response.
    let mra2 = Mra::start(&db, "");
    let out = python(POPLIB_BASIC, &[&mra2.pop3.to_string(), "auth", "bob@b.test", PASSWORD]);
    assert_eq!(field(&out, "+OK"), "Logged in.");
    assert!(field(&out, "STAT").starts_with("(2, "), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn second_session_is_in_use_and_wrong_passwords_fail() {
    let db = database().await;
    deliver(&maildir(&db, "bob"), "x", "y\n");
    let mra = Mra::start(&db, "");
    let (mut a, greeting) = Client::connect(mra.pop3);
    assert_eq!(greeting, "+OK mailroom ready.");
    assert_eq!(a.login("bob@b.test", PASSWORD), "+OK Logged in.");
    let (mut b, _) = Client::connect(mra.pop3);
    assert_eq!(b.login("bob@b.test", PASSWORD), "-ERR [IN-USE] Mailbox is locked by another POP3 session.");
    // Another user is not affected.
    let (mut c, _) = Client::connect(mra.pop3);
    assert_eq!(c.login("carol@b.test", PASSWORD), "+OK Logged in.");
    assert_eq!(a.cmd("QUIT"), "+OK Logging out, messages deleted.");
    assert_eq!(b.login("bob@b.test", PASSWORD), "+OK Logged in.");

    let (mut d, _) = Client::connect(mra.pop3);
    assert_eq!(d.login("bob@b.test", "wrong"), "-ERR [AUTH] Authentication failed.");
    assert_eq!(d.login("nobody@b.test", "wrong"), "-ERR [AUTH] Authentication failed.");
    assert_eq!(d.login("bob@b.test", "wrong"), "-ERR [AUTH] Authentication failed.");
    assert_eq!(d.line(), "-ERR [AUTH] Too many authentication failures, closing.");
    assert_eq!(d.line(), "<closed>");
    assert!(mra.log().contains("authentication failed user=bob@b.test service=pop client=127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_failures_are_sys_temp() {
    let db = database().await;
    // saslauthd is not running: the check cannot be made.
    let mra = Mra::start_as(&db, "root", "auth = \"saslauthd\"\nsaslauthd_socket = \"/nonexistent/mux\"");
    let (mut c, _) = Client::connect(mra.pop3);
    assert_eq!(
        c.login("bob@b.test", PASSWORD),
        "-ERR [SYS/TEMP] Temporary authentication failure, try again later."
    );
    // The session goes on: the client may try again.
    assert_eq!(c.cmd("QUIT"), "+OK Logging out.");

    // The database is down (nothing listens on port 1): the same answer, never "failed".
    let down = Mra::start_with_url(&db, "mysql://root@127.0.0.1:1/mailroom", "root", "auth = \"direct\"");
    let (mut c, _) = Client::connect(down.pop3);
    assert_eq!(
        c.login("bob@b.test", PASSWORD),
        "-ERR [SYS/TEMP] Temporary authentication failure, try again later."
    );
    assert!(down.log().contains("authentication unavailable user=bob@b.test service=pop client=127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_waiting_sessions_without_update() {
    let db = database().await;
    let root = maildir(&db, "bob");
    deliver(&root, "x", "y\n");
    let mut mra = Mra::start(&db, "");
    let (mut c, _) = Client::connect(mra.pop3);
    assert_eq!(c.login("bob@b.test", PASSWORD), "+OK Logged in.");
    assert_eq!(c.cmd("DELE 1"), "+OK Marked to be deleted.");
    assert!(mra.terminate(), "mailroom-mra did not exit: {}", mra.log());
    assert_eq!(c.line(), "-ERR [SYS/TEMP] Server shutting down.");
    assert_eq!(c.line(), "<closed>");
    // No QUIT, no UPDATE: the message is still there.
    assert_eq!(mailstore::Mailbox::open(&root).unwrap().messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_clients_are_disconnected() {
    let db = database().await;
    let mra = Mra::start(&db, "idle_timeout = 1");
    let (mut c, _) = Client::connect(mra.pop3);
    assert_eq!(c.login("bob@b.test", PASSWORD), "+OK Logged in.");
    // Silent from here on: the server ends the session and releases the maildrop.
    assert_eq!(c.line(), "-ERR Disconnected for inactivity.");
    assert_eq!(c.line(), "<closed>");
    let (mut again, _) = Client::connect(mra.pop3);
    assert_eq!(again.login("bob@b.test", PASSWORD), "+OK Logged in.");
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_during_a_session_wait_for_the_next_one() {
    let db = database().await;
    let root = maildir(&db, "bob");
    deliver(&root, "before", "x\n");
    let mra = Mra::start(&db, "");
    let (mut c, _) = Client::connect(mra.pop3);
    assert_eq!(c.login("bob@b.test", PASSWORD), "+OK Logged in.");
    let (_, uidls) = c.multi("UIDL");
    for i in 0..5 {
        deliver(&root, &format!("during {i}"), "y\n");
    }
    assert!(c.cmd("STAT").starts_with("+OK 1 "));
    let (status, body) = c.multi("RETR 1");
    assert!(status.starts_with("+OK"), "{status}");
    assert!(body.contains(&"Subject: before".to_string()), "{body:?}");
    assert_eq!(c.cmd("DELE 1"), "+OK Marked to be deleted.");
    assert_eq!(c.cmd("QUIT"), "+OK Logging out, messages deleted.");

    let (mut c, _) = Client::connect(mra.pop3);
    assert_eq!(c.login("bob@b.test", PASSWORD), "+OK Logged in.");
    let (_, after) = c.multi("UIDL");
    assert_eq!(after.len(), 5, "{after:?}");
    let old_uidl = uidls[0].split_once(' ').unwrap().1;
    assert!(after.iter().all(|l| !l.ends_with(old_uidl)), "UIDL reused: {uidls:?} {after:?}");
    // UIDs 2..6 in delivery order.
    let v = mailstore::Mailbox::open(&root).unwrap().uidvalidity();
    assert_eq!(after[0], format!("1 00000002{v:08x}"));
    assert_eq!(after[4], format!("5 00000006{v:08x}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_overlong_commands_leave_the_daemon_serving() {
    let db = database().await;
    deliver(&maildir(&db, "bob"), "x", "y\n");
    let mut mra = Mra::start(&db, "max_bad_commands = 4");
    let (mut c, _) = Client::connect(mra.pop3);
    c.send(&vec![b'A'; 100_000]);
    c.send(b"\r\n");
    assert_eq!(c.line(), "-ERR Line too long.");
    assert_eq!(c.cmd("\u{1}\u{2}BINARY"), "-ERR Invalid characters in command.");
    c.send(b"USER \xff\xfe\r\n");
    assert_eq!(c.line(), "-ERR Invalid characters in command.");
    assert_eq!(c.login("bob@b.test", PASSWORD), "+OK Logged in.");
    assert_eq!(c.cmd("RETR 99999999999999999999"), "-ERR Syntax: RETR <message>");
    assert_eq!(c.line(), "-ERR Too many bad commands, closing.");
    assert_eq!(c.line(), "<closed>");

    // Pipelined commands in one packet, answered in order.
    let (mut p, _) = Client::connect(mra.pop3);
    p.send(b"USER bob@b.test\r\nPASS pw\r\nSTAT\r\nLIST 1\r\nNOOP\r\nQUIT\r\n");
    let rest = p.rest();
    let lines: Vec<&str> = rest.lines().collect();
    assert_eq!(lines.len(), 6, "{rest}");
    assert!(lines[2].starts_with("+OK 1 ") && lines[3].starts_with("+OK 1 "), "{rest}");

    // A client that vanishes mid-session releases the maildrop.
    let (mut gone, _) = Client::connect(mra.pop3);
    assert_eq!(gone.login("bob@b.test", PASSWORD), "+OK Logged in.");
    drop(gone);
    let mut ok = false;
    for _ in 0..100 {
        let (mut again, _) = Client::connect(mra.pop3);
        if again.login("bob@b.test", PASSWORD) == "+OK Logged in." {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ok, "the lock of a vanished session was not released");
    assert!(mra.is_running());
}

/// A saslauthd on `socket` answering the cyrus protocol: `OK` when the password is `pw`.
/// Returns the requests it saw (login, service, realm).
fn fake_saslauthd(socket: &std::path::Path) -> std::sync::Arc<std::sync::Mutex<Vec<[String; 3]>>> {
    use std::io::{Read, Write};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut field = || {
                let mut len = [0u8; 2];
                conn.read_exact(&mut len).ok()?;
                let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
                conn.read_exact(&mut buf).ok()?;
                Some(String::from_utf8_lossy(&buf).into_owned())
            };
            let (Some(login), Some(password), Some(service), Some(realm)) =
                (field(), field(), field(), field())
            else {
                continue;
            };
            let reply: &[u8] = if password == PASSWORD { b"OK" } else { b"NO authentication failed" };
            log.lock().unwrap().push([login, service, realm]);
            let mut out = (reply.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(reply);
            let _ = conn.write_all(&out);
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn passwords_are_checked_by_saslauthd_by_default() {
    let db = database().await;
    deliver(&maildir(&db, "bob"), "x", "y\n");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mux");
    let seen = fake_saslauthd(&socket);
    // No `auth` line: the default is saslauthd.
    let mra = Mra::start_as(&db, "root", &format!("saslauthd_socket = \"{}\"", socket.display()));
    let (mut c, _) = Client::connect(mra.pop3);
    assert_eq!(c.login("bob@b.test", "wrong"), "-ERR [AUTH] Authentication failed.");
    assert_eq!(c.login("bob@b.test", PASSWORD), "+OK Logged in.");
    assert!(c.cmd("STAT").starts_with("+OK 1 "));
    assert_eq!(c.cmd("QUIT"), "+OK Logging out, messages deleted.");
    // As libsasl sends it: the login split at its last '@' into user and realm, service "pop".
    let want = ["bob".to_string(), "pop".to_string(), "b.test".to_string()];
    assert_eq!(*seen.lock().unwrap(), [want.clone(), want]);
}

#[tokio::test]
async fn deletions_are_taken_off_maildirsize() {
    let db = database().await;
    db.sql("UPDATE mailbox SET quota = 1000000 WHERE username = 'bob@b.test'").await;
    let root = maildir(&db, "bob");
    let sizes: Vec<u64> = ["one", "two", "three"]
        .iter()
        .map(|s| std::fs::metadata(deliver(&root, s, "text\n")).unwrap().len())
        .collect();
    let md = mailstore::Maildir::new(&root);
    let limit = mailstore::Quota { bytes: 1_000_000, messages: 0 };
    // maildirsize as the MDA leaves it: counted once, with all three messages.
    let before = mailstore::quota::usage(&md, limit).unwrap();
    assert_eq!((before.bytes, before.messages), (sizes.iter().sum::<u64>(), 3));
    let mra = Mra::start(&db, "");

    let out = python(POPLIB_BASIC, &[&mra.pop3.to_string(), "plain", "bob@b.test", PASSWORD]);
    assert!(out.contains("+OK Logging out, messages deleted."), "{out}");
    let text = std::fs::read_to_string(root.join(mailstore::quota::MAILDIRSIZE)).unwrap();
    assert!(text.ends_with(&format!("-{} -1\n", sizes[1])), "a delta line for DELE 2:\n{text}");
    let after = mailstore::quota::usage(&md, limit).unwrap();
    assert_eq!((after.bytes, after.messages), (sizes[0] + sizes[2], 2));
}
