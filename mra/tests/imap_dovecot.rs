//! A Maildir written and served over IMAP by a private Dovecot instance is served by
//! mailroom-mra with the same UIDVALIDITY, UIDs, UIDNEXT, flags, sizes and bytes in INBOX and a
//! folder; then mailroom-mra changes it (flags, a move, an expunge, a new nested folder with an
//! appended message) and Dovecot serves exactly what mailroom-mra served (DESIGN §3).
//!
//! As root, both run as `nobody` (uid 65534), as both run as `vmail` in production.

mod common;

use common::dovecot::{Dovecot, shared_maildir};
use common::{Mra, PASSWORD, database, python, require};

/// Everything an IMAP server offers for the mailboxes in argv[4] (comma-separated), as JSON:
/// the LIST names, and per mailbox STATUS and each message's UID, flags (without \Recent),
/// RFC822.SIZE and bytes. With argv[5], runs mailroom's changes first.
const SNAPSHOT: &str = r#"
import imaplib, json, re, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
if len(sys.argv) > 5:
    m.select("INBOX")
    m.uid("STORE", "1", "+FLAGS", "(\\Flagged $Label1)")
    m.uid("MOVE", "2", "Work")
    m.uid("STORE", "4", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.create("Projects/Alpha")
    m.append("Projects/Alpha", "(\\Seen)", None, b"From: a@x.test\r\nSubject: new\r\n\r\nnew folder\r\n")
    m.close()
out = {"list": sorted(l.decode().rsplit(" ", 1)[1].strip('"') for l in m.list()[1])}
for name in sys.argv[4].split(","):
    st = m.status(name, "(MESSAGES UIDNEXT UIDVALIDITY)")[1][0].decode()
    st = dict(re.findall(r"([A-Z]+) (\d+)", st.split("(", 1)[1]))
    m.select(name, readonly=True)
    msgs = []
    typ, data = m.uid("FETCH", "1:*", "(FLAGS RFC822.SIZE BODY.PEEK[])")
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0].decode()
        flags = sorted(f for f in re.search(r"FLAGS \(([^)]*)\)", head).group(1).split() if f != "\\Recent")
        msgs.append({"uid": re.search(r"UID (\d+)", head).group(1), "flags": flags,
                     "size": re.search(r"RFC822.SIZE (\d+)", head).group(1), "body": item[1].hex()})
    out[name] = {"status": st, "messages": msgs}
m.logout()
print(json.dumps(out, sort_keys=True))
"#;

fn snapshot(port: u16, boxes: &str, change: bool) -> String {
    let port = port.to_string();
    let mut args = vec![port.as_str(), "bob@b.test", PASSWORD, boxes];
    if change {
        args.push("change");
    }
    python(SNAPSHOT, &args)
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_maildir_keeps_its_uids_both_ways() {
    require("dovecot", &["--version"], "dovecot-core dovecot-imapd");
    require("python3", &["--version"], "python3");
    let db = database().await;
    let (user, uid, root) = shared_maildir(&db, "bob");
    let mut dovecot = Dovecot::new(&root, uid);
    for i in 0..4 {
        let msg = format!("From: a@x.test\nSubject: dovecot {i}\n\nbody {i}\n");
        dovecot.doveadm(&["save"], &msg);
    }
    dovecot.doveadm(&["flags", "add", "\\Seen $Label1", "mailbox", "INBOX", "uid", "2"], "");
    dovecot.doveadm(&["expunge", "mailbox", "INBOX", "uid", "3"], "");
    dovecot.doveadm(&["mailbox", "create", "Work"], "");
    dovecot.doveadm(&["save", "-m", "Work"], "From: b@x.test\nSubject: work\n\nwork\n");
    dovecot.start();
    let from_dovecot = snapshot(dovecot.imap, "INBOX,Work", false);
    dovecot.stop();
    assert!(from_dovecot.contains("\"uid\": \"4\"") && from_dovecot.contains("$Label1"), "{from_dovecot}");

    // mailroom-mra: the same mailbox data (the folder list gains the special-use folders).
    let mra = Mra::start_as(&db, &user, "auth = \"direct\"");
    let from_mra = snapshot(mra.imap, "INBOX,Work", false);
    let data = |s: &str| s[s.find("\"INBOX\"").unwrap()..s.find("\"list\"").unwrap()].to_string();
    assert_eq!(data(&from_mra), data(&from_dovecot), "{}", mra.log());

    // mailroom-mra changes it; Dovecot then serves exactly what mailroom-mra serves.
    snapshot(mra.imap, "INBOX", true);
    let boxes = "INBOX,Work,Projects/Alpha,Sent";
    let after_mra = snapshot(mra.imap, boxes, false);
    assert!(after_mra.contains("Projects/Alpha") && after_mra.contains("\\\\Flagged"), "{after_mra}");
    drop(mra);
    dovecot.start();
    let back = snapshot(dovecot.imap, boxes, false);
    assert_eq!(back, after_mra, "{}", dovecot.log());
    let log = dovecot.log();
    assert!(!log.contains("Error") && !log.contains("Panic"), "{log}");
}
