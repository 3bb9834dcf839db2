//! The IMAP extensions of issue 7's second part against the real mailroom-mra binary over a
//! socket: QUOTA with `maildirsize` kept as Dovecot keeps it, RENAME INBOX, LIST-EXTENDED and
//! LIST-STATUS, STATUS SIZE/DELETED, ESEARCH and SEARCHRES, BINARY, IMAP4rev2; malformed
//! variants of each answered BAD; Python imaplib's quota calls.

mod common;

use std::fs;
use std::path::Path;

use common::{Imap, Mra, database, deliver, maildir, python};

/// Each of `cmds` is answered BAD, with its tag.
fn all_bad(c: &mut Imap, cmds: &[&str]) {
    for cmd in cmds {
        let r = c.tagged(cmd);
        assert!(r.starts_with("BAD "), "{cmd}: {r}");
    }
}

fn maildirsize(root: &Path) -> Option<String> {
    fs::read_to_string(root.join("maildirsize")).ok()
}

/// A message of `n` bytes on the wire (CRLF), `n - 3` on disk (LF).
fn message(subject: &str, body_lines: usize) -> String {
    let mut m = format!("From: a@x.test\r\nSubject: {subject}\r\n\r\n");
    for i in 0..body_lines {
        m.push_str(&format!("line {i:04} of the body of the message\r\n"));
    }
    m
}

async fn quota_db(bytes: u64) -> testsupport::TestDb {
    let db = database().await;
    db.sql(&format!("UPDATE mailbox SET quota = {bytes} WHERE username = 'carol@b.test'")).await;
    db
}

#[tokio::test]
async fn quota_roots_usage_and_maildirsize_bookkeeping() {
    let db = quota_db(10 * 1024).await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "carol");
    let mut c = Imap::login(mra.imap, "carol");
    let caps = c.ok("CAPABILITY");
    assert!(caps[0].contains(" QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE"), "{caps:?}");
    let r = c.ok("GETQUOTAROOT INBOX");
    assert_eq!(r, ["* QUOTAROOT \"INBOX\" \"User quota\"", "* QUOTA \"User quota\" (STORAGE 0 10)"]);
    // The first look rebuilt the file, as Dovecot's first look does.
    assert_eq!(maildirsize(&root).unwrap(), "10240S\n0 0\n");

    // APPEND: a delta line of the size on disk (LF line ends).
    let m = message("one", 40);
    let disk = m.len() - m.matches("\r\n").count();
    assert!(c.append("INBOX", &m).contains("OK [APPENDUID"));
    assert_eq!(maildirsize(&root).unwrap(), format!("10240S\n0 0\n{disk} 1\n"));
    let r = c.ok("GETQUOTA \"User quota\"");
    assert_eq!(r, [format!("* QUOTA \"User quota\" (STORAGE {} 10)", disk.div_ceil(1024))]);

    // COPY adds, MOVE adds to one mailbox and takes from the other (two lines), EXPUNGE takes.
    c.ok("SELECT INBOX");
    assert!(c.tagged("COPY 1 Archive").starts_with("OK [COPYUID"));
    assert!(c.tagged("MOVE 1 Trash").starts_with("OK"));
    c.ok("SELECT Trash");
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    let lines = format!("10240S\n0 0\n{disk} 1\n{disk} 1\n{disk} 1\n-{disk} -1\n-{disk} -1\n");
    assert_eq!(maildirsize(&root).unwrap(), lines);
    let r = c.ok("GETQUOTAROOT Archive");
    assert_eq!(r[1], format!("* QUOTA \"User quota\" (STORAGE {} 10)", disk.div_ceil(1024)));

    // Over the limit: APPEND and COPY are refused and change nothing.
    let big = message("big", 300);
    assert!(c.append("INBOX", &big).contains("NO [OVERQUOTA]"));
    for _ in 0..3 {
        assert!(c.append("Archive", &m).contains("OK"));
    }
    c.ok("SELECT Archive");
    let before = maildirsize(&root).unwrap();
    let r = c.tagged("COPY 1:* Archive");
    assert!(r.starts_with("NO [OVERQUOTA]"), "{r}");
    assert_eq!(maildirsize(&root).unwrap(), before);
    assert_eq!(c.ok("STATUS Archive (MESSAGES)")[0], "* STATUS \"Archive\" (MESSAGES 4)");
    // MOVE stays under the one root: allowed even when full.
    assert!(c.tagged("MOVE 4 Sent").starts_with("OK"));
    // DELETE of a folder takes its messages off.
    assert!(c.tagged("DELETE Sent").starts_with("OK"));
    let r = c.ok("GETQUOTAROOT INBOX");
    assert_eq!(r[1], format!("* QUOTA \"User quota\" (STORAGE {} 10)", (3 * disk).div_ceil(1024)));

    // Users may not set their own quota; unknown roots do not exist.
    assert!(c.tagged("SETQUOTA \"User quota\" (STORAGE 99999)").starts_with("NO"));
    assert!(c.tagged("GETQUOTA \"\"").starts_with("NO [NONEXISTENT]"));
    assert!(c.tagged("GETQUOTAROOT Nowhere").starts_with("NO [NONEXISTENT]"));
    all_bad(&mut c, &["GETQUOTAROOT", "GETQUOTA", "SETQUOTA \"User quota\" STORAGE 1", "GETQUOTA (x)"]);
}

#[tokio::test]
async fn no_quota_means_no_root_and_no_maildirsize() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    let mut c = Imap::login(mra.imap, "bob");
    assert_eq!(c.ok("GETQUOTAROOT INBOX"), ["* QUOTAROOT \"INBOX\""]);
    assert!(c.tagged("GETQUOTA \"User quota\"").starts_with("NO [NONEXISTENT]"));
    assert!(c.append("INBOX", &message("x", 3)).contains("OK"));
    c.ok("SELECT INBOX");
    c.ok("COPY 1 Trash");
    c.ok("STORE 1 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    assert_eq!(maildirsize(&root), None);
}

#[tokio::test]
async fn imaplib_reads_quota() {
    let db = quota_db(50 * 1024).await;
    let mra = Mra::start(&db, "");
    let script = r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("carol@b.test", "pw")
m.append("INBOX", None, None, b"Subject: q\r\n\r\n" + b"x" * 3000 + b"\r\n")
typ, data = m.getquotaroot("INBOX")
print(typ, [d.decode() for d in data[0]], [d.decode() for d in data[1]])
typ, data = m.getquota('"User quota"')
print(typ, data[0].decode())
m.logout()
"#;
    let out = python(script, &[&mra.imap.to_string()]);
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), "OK ['\"INBOX\" \"User quota\"'] ['\"User quota\" (STORAGE 3 50)']");
    assert_eq!(lines.next().unwrap(), "OK \"User quota\" (STORAGE 3 50)");
}

#[tokio::test]
async fn rename_inbox_moves_its_messages() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    mailstore::Maildir::new(&root).create().unwrap();
    for s in ["one", "two", "three"] {
        deliver(&root, s, "body\n");
    }
    let mut a = Imap::login(mra.imap, "bob");
    let mut b = Imap::login(mra.imap, "bob");
    a.ok("SELECT INBOX");
    a.ok("STORE 2 +FLAGS (\\Flagged $Work)");
    a.ok("UID FETCH 1:* (FLAGS)");
    let before = a.ok("STATUS INBOX (UIDNEXT UIDVALIDITY)");
    assert!(b.tagged("RENAME INBOX Old/Inbox").starts_with("OK"));
    // INBOX stays, empty, with its UIDVALIDITY; the new mailbox numbers the messages afresh.
    assert_eq!(b.ok("STATUS INBOX (MESSAGES)")[0], "* STATUS \"INBOX\" (MESSAGES 0)");
    assert_eq!(b.ok("STATUS INBOX (UIDNEXT UIDVALIDITY)"), before);
    assert_eq!(
        b.ok("STATUS Old/Inbox (MESSAGES UIDNEXT)")[0],
        "* STATUS \"Old/Inbox\" (MESSAGES 3 UIDNEXT 4)"
    );
    b.ok("EXAMINE Old/Inbox");
    let f = b.ok("FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(f.iter().any(|l| l.contains("UID 2 FLAGS (\\Flagged $Work)")), "{f:?}");
    assert!(f.iter().any(|l| l == "Subject: three"), "{f:?}");
    // The session that had INBOX open sees the messages go.
    let n = a.ok("NOOP");
    assert_eq!(n, ["* 3 EXPUNGE", "* 2 EXPUNGE", "* 1 EXPUNGE"]);
    assert!(b.tagged("RENAME INBOX Old/Inbox").starts_with("NO [ALREADYEXISTS]"));
    assert!(b.tagged("RENAME INBOX INBOX").starts_with("NO [ALREADYEXISTS]"));
    deliver(&root, "four", "body\n");
    assert_eq!(b.ok("STATUS INBOX (MESSAGES)")[0], "* STATUS \"INBOX\" (MESSAGES 1)");
    all_bad(&mut b, &["RENAME INBOX", "RENAME", "RENAME INBOX a b"]);
}

#[tokio::test]
async fn list_extended_and_list_status() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    let mut c = Imap::login(mra.imap, "bob");
    for f in ["Lists/Rust", "Lists/Go", "Deep/A/B", "Work"] {
        c.ok(&format!("CREATE {f}"));
    }
    assert!(c.append("Work", &message("w", 2)).contains("OK"));
    c.ok("UNSUBSCRIBE Trash");
    for f in ["Lists/Rust", "Deep/A/B", "Gone", "GoneP/Child"] {
        c.ok(&format!("SUBSCRIBE {f}"));
    }
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (CHILDREN)")),
        sorted(
            [
                "* LIST (\\Subscribed \\HasNoChildren) \"/\" \"Archive\"",
                "* LIST (\\NonExistent \\HasChildren) \"/\" \"Deep\" (CHILDINFO (\"SUBSCRIBED\"))",
                "* LIST (\\Subscribed \\HasNoChildren) \"/\" \"Drafts\"",
                "* LIST (\\Subscribed \\NonExistent \\HasNoChildren) \"/\" \"Gone\"",
                "* LIST (\\NonExistent \\HasChildren) \"/\" \"GoneP\" (CHILDINFO (\"SUBSCRIBED\"))",
                "* LIST (\\Subscribed \\HasNoChildren) \"/\" \"Junk\"",
                "* LIST (\\NonExistent \\HasChildren) \"/\" \"Lists\" (CHILDINFO (\"SUBSCRIBED\"))",
                "* LIST (\\Subscribed \\HasNoChildren) \"/\" \"Sent\"",
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(
        c.ok("LIST (SPECIAL-USE) \"\" *"),
        [
            "* LIST (\\Archive) \"/\" \"Archive\"",
            "* LIST (\\Drafts) \"/\" \"Drafts\"",
            "* LIST (\\Junk) \"/\" \"Junk\"",
            "* LIST (\\Sent) \"/\" \"Sent\"",
            "* LIST (\\Trash) \"/\" \"Trash\"",
        ]
    );
    // Several patterns, a STATUS after each selectable mailbox (none for a \NonExistent one).
    let size = message("w", 2).len();
    assert_eq!(
        c.ok("LIST \"\" (Work Lists Deep/A/%) RETURN (STATUS (MESSAGES UIDNEXT SIZE))"),
        [
            "* LIST () \"/\" \"Deep/A/B\"".to_string(),
            "* STATUS \"Deep/A/B\" (MESSAGES 0 UIDNEXT 1 SIZE 0)".into(),
            "* LIST (\\NonExistent) \"/\" \"Lists\"".into(),
            "* LIST () \"/\" \"Work\"".into(),
            format!("* STATUS \"Work\" (MESSAGES 1 UIDNEXT 2 SIZE {size})"),
        ]
    );
    let l = c.ok("LIST \"\" % RETURN (SUBSCRIBED SPECIAL-USE)");
    assert!(l.contains(&"* LIST (\\Subscribed \\Sent) \"/\" \"Sent\"".to_string()), "{l:?}");
    assert!(l.contains(&"* LIST (\\Trash) \"/\" \"Trash\"".to_string()), "{l:?}");
    // The basic form is unchanged.
    let l = c.ok("LIST \"\" *");
    assert!(l.contains(&"* LIST (\\Noselect \\HasChildren) \"/\" \"Deep/A\"".to_string()), "{l:?}");
    assert!(c.ok("LIST () \"\" \"\"").is_empty());
    assert!(root.join(".Deep.A.B").is_dir());
    all_bad(
        &mut c,
        &[
            "LIST (FOO) \"\" *",
            "LIST \"\" * RETURN (FOO)",
            "LIST (RECURSIVEMATCH) \"\" *",
            "LIST (SUBSCRIBED \"\" *",
            "LIST \"\" ()",
            "LIST \"\" * RETURN (STATUS (BOGUS))",
            "LIST \"\" * RETURN",
            "LIST \"\" * RETURN (STATUS)",
        ],
    );
}

#[tokio::test]
async fn status_size_deleted_and_deleted_storage() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let mut c = Imap::login(mra.imap, "bob");
    let m = message("s", 100);
    let disk = m.len() - m.matches("\r\n").count();
    c.append("INBOX", &m);
    c.append("INBOX", &m);
    c.ok("SELECT INBOX");
    c.ok("STORE 2 +FLAGS (\\Deleted)");
    let st = c.ok("STATUS INBOX (SIZE DELETED DELETED-STORAGE MESSAGES)");
    assert_eq!(
        st,
        [format!(
            "* STATUS \"INBOX\" (SIZE {} DELETED 1 DELETED-STORAGE {} MESSAGES 2)",
            2 * m.len(),
            disk.div_ceil(1024)
        )]
    );
    all_bad(&mut c, &["STATUS INBOX (SIZE", "STATUS INBOX (BOGUS)", "STATUS INBOX ()", "STATUS INBOX SIZE"]);
}

#[tokio::test]
async fn esearch_and_searchres() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    mailstore::Maildir::new(&root).create().unwrap();
    for s in ["alpha", "beta", "gamma", "delta", "$money"] {
        deliver(&root, s, "body\n");
    }
    let mut c = Imap::login(mra.imap, "bob");
    c.ok("SELECT INBOX");
    c.ok("STORE 2,4 +FLAGS (\\Seen)");
    c.ok("STORE 1 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    // UIDs 2..5 are now sequence numbers 1..4.
    assert_eq!(
        c.ok("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN"),
        [format!("* ESEARCH (TAG \"a{}\") MIN 2 MAX 4 ALL 2,4 COUNT 2", c.n)]
    );
    assert_eq!(c.ok("UID SEARCH RETURN () ALL"), [format!("* ESEARCH (TAG \"a{}\") UID ALL 2:5", c.n)]);
    assert_eq!(c.ok("SEARCH RETURN (MIN) DELETED"), [format!("* ESEARCH (TAG \"a{}\")", c.n)]);
    assert_eq!(c.ok("SEARCH RETURN (COUNT) DELETED"), [format!("* ESEARCH (TAG \"a{}\") COUNT 0", c.n)]);
    // SAVE alone answers nothing; `$` then names those messages in any command.
    assert!(c.ok("SEARCH RETURN (SAVE) SEEN").is_empty());
    assert_eq!(c.ok("FETCH $ (UID)"), ["* 1 FETCH (UID 2)", "* 3 FETCH (UID 4)"]);
    assert_eq!(c.ok("UID SEARCH UID $"), ["* SEARCH 2 4"]);
    assert_eq!(c.ok("SEARCH OR $ SUBJECT gamma"), ["* SEARCH 1 2 3"]);
    // "$" as a string argument is a string.
    assert_eq!(c.ok("SEARCH SUBJECT $"), ["* SEARCH 4"]);
    c.ok("UID STORE $ +FLAGS.SILENT (\\Flagged)");
    assert_eq!(c.ok("SEARCH FLAGGED"), ["* SEARCH 1 3"]);
    assert!(c.tagged("COPY $ Archive").starts_with("OK [COPYUID"));
    assert_eq!(c.ok("STATUS Archive (MESSAGES)")[0], "* STATUS \"Archive\" (MESSAGES 2)");
    assert_eq!(c.ok("SEARCH RETURN (SAVE MAX) ALL"), [format!("* ESEARCH (TAG \"a{}\") MAX 4", c.n)]);
    assert_eq!(c.ok("FETCH $ (UID)"), ["* 4 FETCH (UID 5)"]);
    c.ok("STORE $ +FLAGS.SILENT (\\Deleted)");
    c.ok("UID EXPUNGE $");
    assert_eq!(c.ok("SEARCH ALL"), ["* SEARCH 1 2 3"]);
    // A saved message that is gone leaves an empty result; a new SELECT forgets it.
    assert!(c.ok("FETCH $ (UID)").is_empty());
    c.ok("SEARCH RETURN (SAVE) ALL");
    c.ok("SELECT INBOX");
    assert!(c.ok("FETCH $ (UID)").is_empty());
    all_bad(
        &mut c,
        &[
            "SEARCH RETURN (FOO) ALL",
            "SEARCH RETURN ALL",
            "SEARCH RETURN (MIN",
            "SEARCH RETURN (MIN)",
            "UID SEARCH RETURN (ALL) UID",
            "FETCH $",
            "SEARCH $$",
        ],
    );
}

/// The multipart message Dovecot's BINARY answers were taken from.
const BINARY_MESSAGE: &str = "From: a@x.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\n\
    Content-Type: multipart/mixed; boundary=XX\r\n\r\n\
    --XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nh=C3=A9llo=\r\n world\r\n\
    --XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwRoaQ==\r\n\
    --XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--XX--\r\n";

#[tokio::test]
async fn binary_fetch_and_literal8_append() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let mut c = Imap::login(mra.imap, "bob");
    assert!(c.append("INBOX", BINARY_MESSAGE).contains("OK"));
    c.ok("SELECT INBOX");
    let f = c.ok("FETCH 1 (BINARY.SIZE[1] BINARY.SIZE[2] BINARY.PEEK[1] FLAGS)");
    assert_eq!(f[0], "* 1 FETCH (BINARY.SIZE[1] 12 BINARY.SIZE[2] 7 BINARY[1] {12}");
    assert_eq!(f[1], "héllo world FLAGS (\\Recent))");
    // A NUL travels in a literal8 (Dovecot uses one for any 8-bit data, RFC 3516 only asks it
    // for NUL); the partial range counts decoded bytes.
    c.c.send(b"b1 FETCH 1 (BINARY.PEEK[2] BINARY.PEEK[2]<1.3> BINARY.PEEK[9])\r\n");
    let mut got = Vec::new();
    while !got.ends_with(b"b1 OK Fetch completed.\r\n") {
        got.extend_from_slice(c.c.line().as_bytes());
        got.extend_from_slice(b"\r\n");
    }
    assert_eq!(
        got,
        b"* 1 FETCH (BINARY[2] ~{7}\r\n\0\x01\x02\x03\x04hi BINARY[2]<1> {3}\r\n\x01\x02\x03 BINARY[9] {0}\r\n)\r\nb1 OK Fetch completed.\r\n"
    );
    assert!(c.tagged("FETCH 1 (BINARY.PEEK[3])").starts_with("NO [UNKNOWN-CTE]"));
    // Not PEEK: \Seen is set and reported.
    let f = c.ok("FETCH 1 (BINARY[1])");
    assert!(f[1].ends_with("FLAGS (\\Seen \\Recent))"), "{f:?}");
    // The whole message and multiparts go as they are.
    let f = c.ok("FETCH 1 (BINARY.SIZE[])");
    assert_eq!(f[0], format!("* 1 FETCH (BINARY.SIZE[] {})", BINARY_MESSAGE.len()));
    // APPEND with a literal8 (RFC 3516 §4.4).
    let plain = "Subject: l8\r\n\r\nbin\r\n";
    let r = c.raw("b2", format!("b2 APPEND INBOX ~{{{}+}}\r\n{plain}\r\n", plain.len()).as_bytes());
    assert!(r.last().unwrap().starts_with("b2 OK [APPENDUID"), "{r:?}");
    // A binary part with a NUL is stored as base64, as Dovecot does: BINARY gives the bytes back.
    let mut m =
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n".to_vec();
    m.extend_from_slice(b"a\0b");
    let mut cmd = format!("b3 APPEND INBOX ~{{{}+}}\r\n", m.len()).into_bytes();
    cmd.extend_from_slice(&m);
    cmd.extend_from_slice(b"\r\n");
    let r = c.raw("b3", &cmd);
    assert!(r.last().unwrap().starts_with("b3 OK [APPENDUID"), "{r:?}");
    let f = c.ok("FETCH * (BINARY.PEEK[1] BODY.PEEK[1])");
    assert!(f[0].ends_with(" FETCH (BINARY[1] ~{3}"), "{f:?}");
    assert_eq!(f[1..], ["a\0b BODY[1] {4}", "YQBi)"], "{f:?}");
    all_bad(
        &mut c,
        &[
            "FETCH 1 (BINARY[0])",
            "FETCH 1 (BINARY[1.x])",
            "FETCH 1 BINARY.SIZE[1]<0.5>",
            "FETCH 1 (BINARY[TEXT])",
            "FETCH 1 (BINARY[1]<x>)",
            "FETCH 1 BINARY",
        ],
    );
}

#[tokio::test]
async fn imap4rev2_when_enabled() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    mailstore::Maildir::new(&root).create().unwrap();
    deliver(&root, "one", "body\n");
    deliver(&root, "two", "body\n");
    let mut c = Imap::login(mra.imap, "bob");
    assert!(c.ok("CAPABILITY")[0].starts_with("* CAPABILITY IMAP4rev1 IMAP4rev2 "));
    assert_eq!(c.ok("ENABLE IMAP4rev2"), ["* ENABLED IMAP4rev2"]);
    assert_eq!(c.ok("ENABLE IMAP4rev2"), ["* ENABLED"]);
    let sel = c.ok("SELECT INBOX");
    assert!(!sel.iter().any(|l| l.contains("RECENT") || l.contains("[UNSEEN")), "{sel:?}");
    assert!(sel.contains(&"* LIST (\\HasNoChildren) \"/\" \"INBOX\"".to_string()), "{sel:?}");
    assert_eq!(c.ok("FETCH 1 (FLAGS)"), ["* 1 FETCH (FLAGS ())"]);
    assert_eq!(c.ok("SEARCH ALL"), [format!("* ESEARCH (TAG \"a{}\") ALL 1:2", c.n)]);
    assert_eq!(c.ok("UID SEARCH SUBJECT two"), [format!("* ESEARCH (TAG \"a{}\") UID ALL 2", c.n)]);
    assert_eq!(c.ok("SEARCH SUBJECT nothing"), [format!("* ESEARCH (TAG \"a{}\")", c.n)]);
    deliver(&root, "three", "body\n");
    assert_eq!(c.ok("NOOP"), ["* 3 EXISTS"]);
    // UTF-8 names, quoted or literal, and UTF-8 in LIST and STATUS.
    c.ok("CREATE \"Entwürfe\"");
    assert!(root.join(".Entw&APw-rfe").is_dir());
    assert_eq!(c.ok("LIST \"\" Entw*"), ["* LIST (\\HasNoChildren) \"/\" {9}", "Entwürfe"]);
    assert_eq!(
        c.ok("STATUS \"Entwürfe\" (MESSAGES SIZE DELETED)"),
        ["* STATUS {9}", "Entwürfe (MESSAGES 0 SIZE 0 DELETED 0)"]
    );
    assert!(c.tagged("STATUS INBOX (RECENT)").starts_with("BAD"));
    // Selecting another mailbox first closes this one.
    let sel = c.ok("EXAMINE Archive");
    assert_eq!(sel[0], "* OK [CLOSED] Previous mailbox closed.");
    assert!(c.tagged("CREATE Archive").starts_with("NO [ALREADYEXISTS]"));
    assert!(c.tagged("SELECT Nowhere").starts_with("NO [NONEXISTENT]"));
    assert!(c.tagged("COPY 1 Nowhere").starts_with("BAD"), "no mailbox is selected after a failed SELECT");
}

#[tokio::test]
async fn appendlimit_is_announced_and_kept() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    // imaplib sees the limit after login (RFC 7889, as Dovecot announces it) and appends under it.
    let script = r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
print("APPENDLIMIT" in " ".join(m.capabilities))
m.login("bob@b.test", "pw")
typ, data = m.capability()
print([c for c in data[0].decode().split() if c.startswith("APPENDLIMIT=")])
print(m.append("INBOX", None, None, b"Subject: l\r\n\r\nbody\r\n")[0])
m.logout()
"#;
    let out = python(script, &[&mra.imap.to_string()]);
    assert_eq!(out, "False\n['APPENDLIMIT=67108864']\nOK\n");
    // One byte more is refused before the client sends it.
    let mut c = Imap::login(mra.imap, "bob");
    let r = c.raw("t1", b"t1 APPEND INBOX {67108865}\r\n");
    assert!(r.last().unwrap().contains(" [TOOBIG] "), "{r:?}");
    assert!(c.tagged("NOOP").starts_with("OK"), "the session goes on");
}

#[tokio::test]
async fn logins_per_user_and_address_are_limited() {
    let db = database().await;
    let mra = Mra::start(&db, "max_user_ip_connections = 2");
    let script = r#"
import imaplib, sys
port = int(sys.argv[1])
def login(user="bob@b.test"):
    m = imaplib.IMAP4("127.0.0.1", port)
    try:
        m.login(user, "pw")
        return m, "OK"
    except imaplib.IMAP4.error as e:
        return m, str(e)
a, r1 = login()
b, r2 = login()
c, r3 = login()
d, r4 = login("carol@b.test")
print(r1, r2, r4)
print(r3)
a.logout()
print(c.login("bob@b.test", "pw")[0])
for m in (b, c, d):
    m.logout()
"#;
    let out = python(script, &[&mra.imap.to_string()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "OK OK OK", "{out}");
    assert!(lines[1].contains("[LIMIT]"), "{out}");
    assert_eq!(lines[2], "OK", "a slot is given back at LOGOUT: {out}");
    assert!(mra.log().contains("max_user_ip_connections=2 reached"), "{}", mra.log());
}

#[tokio::test]
async fn unauthenticate_returns_to_the_login_state() {
    let db = database().await;
    let mra = Mra::start(&db, "max_user_ip_connections = 1");
    // imaplib does not know UNAUTHENTICATE (RFC 8437): it is taught the command.
    let script = r#"
import imaplib, sys
imaplib.Commands["UNAUTHENTICATE"] = ("AUTH", "SELECTED")
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
print("UNAUTHENTICATE" in m.capabilities)
m.login("bob@b.test", "pw")
print("UNAUTHENTICATE" in m.capability()[1][0].decode().split())
m.select("INBOX")
print(m._simple_command("UNAUTHENTICATE")[0])
m.state = "NONAUTH"
try:
    m.select("INBOX")
except imaplib.IMAP4.error as e:
    print("refused")
print(m.login("carol@b.test", "pw")[0])
# bob's slot was given back: with a limit of one, bob can log in elsewhere.
print(imaplib.IMAP4("127.0.0.1", int(sys.argv[1])).login("bob@b.test", "pw")[0])
print(m.select("INBOX")[0])
m.logout()
"#;
    let out = python(script, &[&mra.imap.to_string()]);
    assert_eq!(out, "False\nTrue\nOK\nrefused\nOK\nOK\nOK\n");
    let mut c = Imap::connect(mra.imap).0;
    assert!(c.tagged("UNAUTHENTICATE").starts_with("BAD "), "not logged in");
}

#[tokio::test]
async fn compress_deflate_for_the_rest_of_the_session() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    // imaplib has no COMPRESS (RFC 4978): it is taught one with zlib's raw DEFLATE, a sync flush
    // after each command as Thunderbird does.
    let script = r#"
import imaplib, sys, zlib
imaplib.Commands["COMPRESS"] = ("AUTH", "SELECTED")
class Z(imaplib.IMAP4):
    z = None
    def compress(self):
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        if typ == "OK" and self.z is None:
            self.z, self.unz, self.buf = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15), b""
        return typ, data
    def send(self, data):
        if self.z:
            data = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)
    def fill(self, done):
        while not done():
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += self.unz.decompress(chunk)
    def readline(self):
        if not self.z:
            return super().readline()
        self.fill(lambda: b"\n" in self.buf)
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line
    def read(self, size):
        if not self.z:
            return super().read(size)
        self.fill(lambda: len(self.buf) >= size)
        out, self.buf = self.buf[:size], self.buf[size:]
        return out
port = int(sys.argv[1])
m = Z("127.0.0.1", port)
print("COMPRESS=DEFLATE" in m.capabilities)
m.login("bob@b.test", "pw")
print("COMPRESS=DEFLATE" in m.capability()[1][0].decode().split())
print(m.compress()[0])
body = b"Subject: squeezed\r\n\r\n" + b"the same line again\r\n" * 5000
print(m.append("INBOX", None, None, body)[0])
m.select("INBOX")
typ, data = m.fetch("1", "(BODY.PEEK[])")
print(typ, data[0][1] == body)
typ, data = m.compress()
print(typ, data[0].decode().split()[0])
print(m.logout()[0])
# A client that sends garbage once compressed loses its connection; the server goes on.
g = Z("127.0.0.1", port)
g.login("bob@b.test", "pw")
g.compress()
g.sock.sendall(b"\xff" * 64)
try:
    g.readline()
    print("answered garbage")
except (EOFError, ConnectionError, zlib.error):
    print("closed")
print(imaplib.IMAP4("127.0.0.1", port).login("bob@b.test", "pw")[0])
"#;
    let out = python(script, &[&mra.imap.to_string()]);
    assert_eq!(
        out,
        "False\nTrue\nOK\nOK\nOK True\nNO [COMPRESSIONACTIVE]\nBYE\nclosed\nOK\n",
        "{}",
        mra.log()
    );
    let mut c = Imap::connect(mra.imap).0;
    assert!(c.tagged("COMPRESS DEFLATE").starts_with("BAD "), "not before login");
    assert!(c.tagged("NOOP").starts_with("OK"), "and uncompressed after the refusal");
}

#[tokio::test]
async fn metadata_on_mailboxes_and_the_server() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let mut c = Imap::login(mra.imap, "bob");
    let caps = c.ok("CAPABILITY").join(" ");
    assert!(caps.contains(" METADATA METADATA-SERVER"), "{caps}");
    // Unset and asked for by name: NIL (RFC 5464 §4.2).
    assert_eq!(c.ok("GETMETADATA INBOX /private/comment"), ["* METADATA \"INBOX\" (/private/comment NIL)"]);
    assert!(
        c.tagged("SETMETADATA INBOX (/private/comment \"my inbox\" /shared/vendor/x/y {3+}\r\na\"b)")
            .starts_with("OK")
    );
    assert_eq!(
        c.ok("GETMETADATA inbox /PRIVATE/Comment"),
        ["* METADATA \"inbox\" (/PRIVATE/Comment \"my inbox\")"]
    );
    assert_eq!(
        c.ok("GETMETADATA (DEPTH infinity) INBOX (/shared /private/comment)"),
        ["* METADATA \"INBOX\" (/shared/vendor/x/y \"a\\\"b\" /private/comment \"my inbox\")"]
    );
    assert!(c.ok("GETMETADATA (DEPTH 1) INBOX /shared/vendor").is_empty(), "a grandchild is below depth 1");
    let r = c.cmd("GETMETADATA (MAXSIZE 4) INBOX (/private/comment)");
    assert!(r.last().unwrap().contains("OK [METADATA LONGENTRIES 8]"), "{r:?}");
    // Another session, another mailbox, the server.
    assert!(c.tagged("CREATE Lists").starts_with("OK"));
    let mut d = Imap::login(mra.imap, "bob");
    assert!(d.tagged("SETMETADATA Lists (/private/comment {5+}\r\nx\r\ny!)").starts_with("OK"));
    assert_eq!(
        d.ok("GETMETADATA Lists /private/comment"),
        ["* METADATA \"Lists\" (/private/comment {5}", "x", "y!)"]
    );
    assert!(d.tagged("SETMETADATA \"\" (/private/vendor/client/theme \"dark\")").starts_with("OK"));
    assert_eq!(
        c.ok("GETMETADATA \"\" /private/vendor/client/theme"),
        ["* METADATA \"\" (/private/vendor/client/theme \"dark\")"]
    );
    assert!(d.tagged("SETMETADATA \"\" (/shared/admin \"mailto:me\")").starts_with("NO [NOPERM]"));
    // Removal, refusals, and the session goes on.
    assert!(c.tagged("SETMETADATA INBOX (/private/comment NIL)").starts_with("OK"));
    assert_eq!(c.ok("GETMETADATA INBOX /private/comment"), ["* METADATA \"INBOX\" (/private/comment NIL)"]);
    assert!(c.tagged("GETMETADATA Nowhere /private/comment").starts_with("NO [NONEXISTENT]"));
    assert!(c.tagged("SETMETADATA INBOX (/elsewhere/x \"v\")").starts_with("BAD"));
    assert!(c.tagged("SETMETADATA INBOX (/private/x*y \"v\")").starts_with("BAD"));
    assert!(c.tagged("GETMETADATA (DEPTH 7) INBOX /private/x").starts_with("BAD"));
    let big = "x".repeat(mailstore::metadata::MAX_VALUE + 1);
    let r = c.raw(
        "big",
        format!("big SETMETADATA INBOX (/private/big {{{}+}}\r\n{big})\r\n", big.len()).as_bytes(),
    );
    assert!(r.last().unwrap().starts_with("big NO [METADATA MAXSIZE 16384]"), "{r:?}");
    assert!(c.tagged("NOOP").starts_with("OK"));
    assert!(mra.log().lines().all(|l| !l.contains("WARN") || l.contains("root")), "{}", mra.log());
}
