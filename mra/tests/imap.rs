//! mailroom-mra's IMAP server as a real binary: per-command transcripts over a raw socket
//! (C: lines sent, S: lines checked), deliveries and a second session changing the selected
//! mailbox, malformed and oversized input, and Python's imaplib (plain, STARTTLS, port 993).

mod common;

use std::time::{Duration, Instant};

use common::{Imap, Mra, database, deliver, maildir, python};

fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[tokio::test]
async fn capability_login_logout() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let (mut c, greeting) = Imap::connect(mra.imap);
    assert!(greeting.starts_with("* OK [CAPABILITY IMAP4rev1 "), "{greeting}");
    assert!(greeting.contains("STARTTLS") && greeting.contains("AUTH=PLAIN"), "{greeting}");
    let caps = c.cmd("CAPABILITY");
    assert!(
        caps[0].starts_with("* CAPABILITY IMAP4rev1")
            && ["IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE"].iter().all(|c| caps[0].contains(c)),
        "{caps:?}"
    );
    assert!(caps[1].starts_with("a1 OK"), "{caps:?}");
    assert!(c.status("NOOP").starts_with("a2 OK"));
    assert!(c.status("SELECT INBOX").starts_with("a3 BAD"));
    assert!(c.status("LOGIN bob@b.test wrong").starts_with("a4 NO [AUTHENTICATIONFAILED]"));
    let ok = c.status("LOGIN bob@b.test pw");
    assert!(ok.starts_with("a5 OK [CAPABILITY") && !ok.contains("AUTH=PLAIN"), "{ok}");
    assert!(c.status("LOGIN bob@b.test pw").starts_with("a6 BAD"));
    // Every state takes NOOP (RFC 3501 §6.1.2), the authenticated one too.
    assert!(c.status("NOOP").starts_with("a7 OK"));
    let out = c.cmd("LOGOUT");
    assert_eq!(out[0], "* BYE Logging out.");
    assert!(out[1].starts_with("a8 OK"));
    assert_eq!(c.c.line(), "<closed>");
    // The special-use folders exist now, on disk as Dovecot names them.
    for f in [".Drafts", ".Sent", ".Trash", ".Junk", ".Archive"] {
        assert!(maildir(&db, "bob").join(f).join("cur").is_dir(), "{f}");
    }
}

#[tokio::test]
async fn authenticate_plain_with_and_without_initial_response() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let (mut c, _) = Imap::connect(mra.imap);
    // "\0bob@b.test\0pw"
    assert!(c.status("AUTHENTICATE PLAIN AGJvYkBiLnRlc3QAcHc=").starts_with("a1 OK"));
    let (mut c, _) = Imap::connect(mra.imap);
    c.c.send(b"t1 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.c.line(), "+ ");
    c.c.send(b"AGJvYkBiLnRlc3QAcHc=\r\n");
    assert!(c.c.line().starts_with("t1 OK"));
    let (mut c, _) = Imap::connect(mra.imap);
    c.c.send(b"t2 AUTHENTICATE LOGIN\r\n");
    assert_eq!(c.c.line(), "+ VXNlcm5hbWU6");
    c.c.send(b"*\r\n");
    assert!(c.c.line().starts_with("t2 BAD"));
}

#[tokio::test]
async fn logindisabled_without_tls_off_loopback_rule() {
    let db = database().await;
    let mra = Mra::start(&db, "plaintext_auth_on_loopback = false");
    let (mut c, greeting) = Imap::connect(mra.imap);
    assert!(greeting.contains("LOGINDISABLED") && !greeting.contains("AUTH=PLAIN"), "{greeting}");
    assert!(c.status("LOGIN bob@b.test pw").starts_with("a1 NO [PRIVACYREQUIRED]"));
    // After STARTTLS (imaplib), the same login works.
    let script = r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.starttls(ssl_context=ctx)
print(m.login("bob@b.test", "pw")[0])
m.logout()
"#;
    let out = python(script, &[&mra.imap.to_string(), mra.cert.to_str().unwrap()]);
    assert_eq!(out.trim(), "OK");
}

#[tokio::test]
async fn select_fetch_store_expunge() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    std::fs::create_dir_all(&root).unwrap();
    mailstore::Maildir::new(&root).create().unwrap();
    for i in 1..=3 {
        deliver(&root, &format!("message {i}"), &format!("body {i}\n"));
    }
    let (mut c, _) = Imap::connect(mra.imap);
    c.log_in("bob");
    let sel = c.cmd("SELECT INBOX");
    assert!(has(&sel, "* 3 EXISTS") && has(&sel, "* 3 RECENT") && has(&sel, "[UIDVALIDITY "), "{sel:?}");
    assert!(has(&sel, "[UIDNEXT 4]") && has(&sel, "[UNSEEN 1]") && has(&sel, "PERMANENTFLAGS"), "{sel:?}");
    assert!(sel.last().unwrap().starts_with("a2 OK [READ-WRITE]"), "{sel:?}");

    let f = c.cmd("FETCH 1:* (UID FLAGS RFC822.SIZE)");
    assert_eq!(f[0], "* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE 62)", "{f:?}");
    assert_eq!(f.len(), 4);
    let f = c.cmd("FETCH 2 (ENVELOPE)");
    assert!(f[0].starts_with("* 2 FETCH (ENVELOPE (NIL \"message 2\" ((NIL NIL \"a\" \"x.test\"))"), "{f:?}");
    let f = c.cmd("FETCH 2 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert_eq!(f[0], "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {22}", "{f:?}");
    assert_eq!(f[1], "Subject: message 2");
    let f = c.cmd("FETCH 3 (BODYSTRUCTURE BODY[TEXT]<0.4>)");
    assert!(f[0].starts_with("* 3 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1 NIL NIL NIL NIL) BODY[TEXT]<0> {4}"), "{f:?}");
    assert_eq!(f[1], "body FLAGS (\\Seen \\Recent))");

    let s = c.cmd("STORE 1 +FLAGS (\\Deleted $Junk)");
    // A new keyword is announced before a FETCH shows it.
    assert_eq!(s[0], "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $Junk)", "{s:?}");
    assert!(s[1].starts_with("* OK [PERMANENTFLAGS (") && s[1].contains(" $Junk \\*)]"), "{s:?}");
    assert_eq!(s[2], "* 1 FETCH (FLAGS (\\Deleted $Junk \\Recent))", "{s:?}");
    assert!(c.status("STORE 2 +FLAGS.SILENT (\\Flagged)").starts_with("a8 OK"));
    let s = c.cmd("UID STORE 2 -FLAGS (\\Flagged)");
    assert_eq!(s[0], "* 2 FETCH (FLAGS (\\Recent) UID 2)", "{s:?}");
    let e = c.cmd("EXPUNGE");
    assert_eq!(e[0], "* 1 EXPUNGE", "{e:?}");
    let f = c.cmd("UID FETCH 1:* (FLAGS)");
    assert_eq!(f[0], "* 1 FETCH (UID 2 FLAGS (\\Recent))", "{f:?}");
    assert_eq!(f[1], "* 2 FETCH (UID 3 FLAGS (\\Seen \\Recent))", "{f:?}");
    let s = c.cmd("SEARCH UNSEEN");
    assert_eq!(s[0], "* SEARCH 1");
    let s = c.cmd("UID SEARCH SUBJECT \"message 3\" BODY body");
    assert_eq!(s[0], "* SEARCH 3");
    assert!(c.status("SEARCH CHARSET KOI8-R ALL").contains("NO [BADCHARSET"));
    assert!(c.status("CLOSE").contains("OK"));
    // Dovecot's names on disk: cur/ with the flags.
    let cur = common::names(&root.join("cur"));
    assert_eq!(cur.len(), 2, "{cur:?}");
    assert!(cur.iter().any(|n| n.ends_with(":2,S")), "{cur:?}");
    // EXAMINE is read-only and \Recent was claimed by the first session.
    let ex = c.cmd("EXAMINE INBOX");
    assert!(has(&ex, "* 0 RECENT") && ex.last().unwrap().contains("[READ-ONLY]"), "{ex:?}");
    assert!(c.status("STORE 1 +FLAGS (\\Seen)").contains("NO [READ-ONLY]"));
    assert!(c.status("UNSELECT").contains("OK"));
}

#[tokio::test]
async fn folders_append_copy_move() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let (mut c, _) = Imap::connect(mra.imap);
    c.log_in("bob");
    assert!(c.status("CREATE Lists/Rust").contains("OK"));
    assert!(c.status("CREATE Entw&APw-rfe").contains("OK"));
    assert!(c.status("CREATE Lists/Rust").contains("NO [ALREADYEXISTS]"));
    assert!(c.status("CREATE ../../etc").contains("NO"));
    assert!(c.status("CREATE a.b").contains("NO"));
    let root = maildir(&db, "bob");
    assert!(root.join(".Lists.Rust/maildirfolder").exists() && root.join(".Entw&APw-rfe/cur").is_dir());
    let l = c.cmd("LIST \"\" *");
    assert!(has(&l, "* LIST (\\HasNoChildren) \"/\" \"INBOX\""), "{l:?}");
    assert!(has(&l, "* LIST (\\Noselect \\HasChildren) \"/\" \"Lists\""), "{l:?}");
    assert!(has(&l, "* LIST (\\HasNoChildren) \"/\" \"Lists/Rust\""), "{l:?}");
    assert!(has(&l, "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\""), "{l:?}");
    assert!(has(&l, "\"Entw&APw-rfe\""), "{l:?}");
    let l = c.cmd("LIST \"\" %");
    assert!(!has(&l, "Lists/Rust") && has(&l, "\"Lists\""), "{l:?}");
    let l = c.cmd("LIST \"\" \"\"");
    assert_eq!(l[0], "* LIST (\\Noselect) \"/\" \"\"");
    assert!(c.status("RENAME Lists Old").contains("OK"));
    assert!(c.status("SUBSCRIBE Old/Rust").contains("OK"));
    let l = c.cmd("LSUB \"\" *");
    assert!(has(&l, "\"Old/Rust\"") && has(&l, "\"Sent\""), "{l:?}");
    assert!(c.status("UNSUBSCRIBE Old/Rust").contains("OK"));
    assert!(!has(&c.cmd("LSUB \"\" *"), "Old/Rust"));
    assert!(c.status("DELETE Old/Rust").contains("OK"));
    assert!(c.status("DELETE INBOX").contains("NO"));
    assert!(!root.join(".Old.Rust").exists());

    // APPEND with a synchronising literal, flags and a date.
    let msg = "From: a@x.test\r\nSubject: appended\r\n\r\nhello\r\n";
    c.c.send(
        format!("p1 APPEND Sent (\\Seen) \"05-Jan-2024 10:00:00 +0000\" {{{}}}\r\n", msg.len()).as_bytes(),
    );
    assert!(c.c.line().starts_with('+'));
    c.c.send(format!("{msg}\r\n").as_bytes());
    let r = c.until("p1");
    assert!(
        r.last().unwrap().contains("OK [APPENDUID ") && r.last().unwrap().ends_with(" 1] Append completed."),
        "{r:?}"
    );
    // LITERAL+: no continuation.
    c.c.send(format!("p2 APPEND INBOX {{{}+}}\r\n{msg}\r\n", msg.len()).as_bytes());
    assert!(c.until("p2").last().unwrap().contains("OK [APPENDUID"));
    let st = c.cmd("STATUS Sent (MESSAGES UNSEEN UIDNEXT)");
    assert_eq!(st[0], "* STATUS \"Sent\" (MESSAGES 1 UNSEEN 0 UIDNEXT 2)", "{st:?}");

    c.cmd("SELECT Sent");
    let f = c.cmd("FETCH 1 (INTERNALDATE FLAGS)");
    // Appended with flags, it is still \Recent for the first session that selects it.
    assert_eq!(
        f[0], "* 1 FETCH (INTERNALDATE \"05-Jan-2024 10:00:00 +0000\" FLAGS (\\Seen \\Recent))",
        "{f:?}"
    );
    let cp = c.cmd("COPY 1 Trash");
    assert!(cp.last().unwrap().contains("OK [COPYUID ") && cp.last().unwrap().contains(" 1 1]"), "{cp:?}");
    assert!(c.status("COPY 1 Nowhere").contains("NO [TRYCREATE]"));
    let mv = c.cmd("UID MOVE 1 Archive");
    assert!(mv[0].starts_with("* OK [COPYUID ") && mv[1] == "* 1 EXPUNGE", "{mv:?}");
    let st = c.cmd("STATUS Archive (MESSAGES)");
    assert_eq!(st[0], "* STATUS \"Archive\" (MESSAGES 1)");
    c.cmd("SELECT Trash");
    let f = c.cmd("FETCH 1 (FLAGS BODY[])");
    // A copy is \Recent in its mailbox, as a delivery is.
    assert!(f[0].starts_with("* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[] {"), "{f:?}");
    assert_eq!(c.cmd("NAMESPACE")[0], "* NAMESPACE ((\"\" \"/\")) NIL NIL");
    assert_eq!(c.cmd("ID NIL")[0], "* ID (\"name\" \"mailroom\")");
}

#[tokio::test]
async fn deliveries_and_other_sessions_show_up() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    mailstore::Maildir::new(&root).create().unwrap();
    deliver(&root, "one", "1\n");
    deliver(&root, "two", "2\n");
    let (mut a, _) = Imap::connect(mra.imap);
    let (mut b, _) = Imap::connect(mra.imap);
    a.log_in("bob");
    b.log_in("bob");
    a.cmd("SELECT INBOX");
    b.cmd("SELECT INBOX");
    // b deletes message 1; a sees the expunge and b's flag change at NOOP.
    b.cmd("STORE 2 +FLAGS (\\Flagged)");
    b.cmd("STORE 1 +FLAGS (\\Deleted)");
    b.cmd("EXPUNGE");
    let n = a.cmd("NOOP");
    assert!(has(&n, "* 1 EXPUNGE"), "{n:?}");
    assert!(has(&n, "FETCH (UID 2 FLAGS (\\Flagged"), "{n:?}");
    // IDLE: a delivery arrives as EXISTS without any command.
    a.c.send(b"i1 IDLE\r\n");
    assert_eq!(a.c.line(), "+ idling");
    let start = Instant::now();
    deliver(&root, "three", "3\n");
    assert_eq!(a.c.line(), "* 2 EXISTS");
    assert_eq!(a.c.line(), "* 2 RECENT");
    assert!(start.elapsed() < Duration::from_secs(10));
    a.c.send(b"DONE\r\n");
    let done = a.until("i1");
    assert_eq!(done, ["i1 OK Idle completed."]);
    let f = a.cmd("FETCH 2 (UID)");
    assert_eq!(f[0], "* 2 FETCH (UID 3)");
}

#[tokio::test]
async fn malformed_huge_and_overlong_input_is_refused() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let (mut c, _) = Imap::connect(mra.imap);
    assert!(c.status("FROB").starts_with("a1 BAD"));
    assert!(c.status("FETCH (((").starts_with("a2 BAD"));
    c.c.send(b"\r\n");
    assert!(c.c.line().starts_with("* BAD"));
    // A synchronising literal over the limit is refused before it is sent.
    c.c.send(b"x1 LOGIN {999999999}\r\n");
    assert!(c.c.line().starts_with("x1 BAD [TOOBIG]"));
    // A LITERAL+ one over the limit is read and dropped, then refused.
    let big = vec![b'a'; 70 * 1024];
    c.c.send(format!("x2 LOGIN {{{}+}}\r\n", big.len()).as_bytes());
    c.c.send(&big);
    c.c.send(b" pw\r\n");
    assert!(c.c.line().starts_with("x2 BAD [TOOBIG]"));
    // An overlong line.
    c.c.send(format!("x3 NOOP {}\r\n", "y".repeat(100 * 1024)).as_bytes());
    // The tag went with the line: the answer is untagged.
    assert!(c.c.line().starts_with("* BAD Line too long"));
    c.log_in("bob");
    assert!(c.status("SELECT \"../../../etc\"").contains("NO"));
    assert!(c.status("FETCH 1 FLAGS").contains("BAD"));
}

#[tokio::test]
async fn imaplib_end_to_end() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    mailstore::Maildir::new(&root).create().unwrap();
    deliver(&root, "hello imaplib", "first line\n");
    let script = r#"
import imaplib, ssl, sys
port, sport, cafile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
m = imaplib.IMAP4("127.0.0.1", port)
assert m.login("bob@b.test", "pw")[0] == "OK"
typ, data = m.select("INBOX")
print("exists", data[0].decode())
typ, data = m.search(None, "SUBJECT", "imaplib")
print("search", data[0].decode())
typ, data = m.fetch("1", "(RFC822)")
print("body", b"first line" in data[0][1])
typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
print("flags", data[0].decode())
m.store("1", "+FLAGS", "\\Flagged")
m.create("Kept")
typ, data = m.copy("1", "Kept")
print("copy", typ)
typ, data = m.append("Kept", "(\\Draft)", None, b"Subject: draft\r\n\r\nx\r\n")
print("append", typ, data[0].decode().split("]")[0])
print("list", len(m.list()[1]))
typ, data = m.status("Kept", "(MESSAGES)")
print("status", data[0].decode())
m.logout()
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
s = imaplib.IMAP4_SSL("127.0.0.1", sport, ssl_context=ctx)
s.login("bob@b.test", "pw")
print("ssl", s.select("Kept")[1][0].decode())
s.logout()
"#;
    let out = python(script, &[&mra.imap.to_string(), &mra.imaps.to_string(), mra.cert.to_str().unwrap()]);
    let expect = [
        "exists 1",
        "search 1",
        "body True",
        "flags 1 (UID 1 FLAGS (\\Seen \\Recent))",
        "copy OK",
        "list 7",
        "status \"Kept\" (MESSAGES 2)",
        "ssl 2",
    ];
    for e in expect {
        assert!(out.lines().any(|l| l == e), "missing {e:?} in:\n{out}");
    }
    assert!(out.contains("append OK [APPENDUID"), "{out}");
}

#[tokio::test]
async fn big_responses_stream_whole_and_in_order() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    mailstore::Maildir::new(&root).create().unwrap();
    // 300 messages of about 2 KiB: FETCH 1:* BODY[] is ~600 KiB, several spilled chunks.
    for i in 0..300 {
        deliver(&root, &format!("m{i}"), &format!("message {i} says {}\n", "x".repeat(2000)));
    }
    let script = r#"
import imaplib, ssl, sys, os
port, sport, cafile, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def check(m, label):
    m.login("bob@b.test", "pw")
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1:*", "(UID BODY.PEEK[])")
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    files = {}
    for sub in ("new", "cur"):
        for n in os.listdir(os.path.join(root, sub)):
            files[n.split(":")[0]] = open(os.path.join(root, sub, n), "rb").read().replace(b"\n", b"\r\n")
    want = sorted(files.values(), key=lambda b: int(b.split(b"Subject: m")[1].split(b"\r")[0]))
    print(label, typ, len(bodies), bodies == want)
    m.logout()
check(imaplib.IMAP4("127.0.0.1", port), "plain")
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
check(imaplib.IMAP4_SSL("127.0.0.1", sport, ssl_context=ctx), "tls")
"#;
    let out = python(
        script,
        &[&mra.imap.to_string(), &mra.imaps.to_string(), mra.cert.to_str().unwrap(), root.to_str().unwrap()],
    );
    assert!(out.lines().any(|l| l == "plain OK 300 True"), "{out}");
    assert!(out.lines().any(|l| l == "tls OK 300 True"), "{out}");

    // A command pipelined behind the big one is answered after it, not inside it.
    let (mut a, _) = Imap::connect(mra.imap);
    a.log_in("bob");
    a.cmd("EXAMINE INBOX");
    a.c.send(b"f1 FETCH 1:* (BODY.PEEK[])\r\nf2 NOOP\r\n");
    let mut fetches = 0;
    let mut order = Vec::new();
    loop {
        let l = a.c.line();
        if l.starts_with("* ") && l.contains(" FETCH (BODY[] {") {
            fetches += 1;
        }
        if l.starts_with("f1 ") || l.starts_with("f2 ") || l == "<closed>" {
            order.push(l.clone());
        }
        if l.starts_with("f2 ") || l == "<closed>" {
            break;
        }
    }
    assert_eq!(fetches, 300);
    assert_eq!(order, ["f1 OK Fetch completed.", "f2 OK NOOP completed."]);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_others_are_served() {
    let db = database().await;
    // idle_timeout also bounds how long one chunk of output may wait for the client.
    let mra = Mra::start(&db, "idle_timeout = 2");
    let root = maildir(&db, "bob");
    mailstore::Maildir::new(&root).create().unwrap();
    // About 30 MB of answer: far more than the sockets on both sides buffer.
    let body = "y".repeat(99) + "\n";
    for i in 0..300 {
        deliver(&root, &format!("m{i}"), &body.repeat(1000));
    }
    let (mut stalled, _) = Imap::connect(mra.imap);
    stalled.log_in("bob");
    stalled.cmd("EXAMINE INBOX");
    stalled.c.send(b"f1 FETCH 1:* (BODY.PEEK[])\r\n");
    std::thread::sleep(Duration::from_secs(5));
    // Meanwhile another client is served.
    let (mut other, _) = Imap::connect(mra.imap);
    other.log_in("bob");
    assert!(other.status("NOOP").contains("OK"));
    // The stalled one gets what the sockets held, then the end: never the tagged OK.
    let mut tagged = false;
    loop {
        let l = stalled.c.line();
        if l == "<closed>" {
            break;
        }
        tagged |= l.starts_with("f1 ");
    }
    assert!(!tagged, "the whole answer was sent to a client that did not read");
}
