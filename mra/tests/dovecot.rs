//! A Maildir written and served by a private Dovecot instance (Debian `dovecot-core`,
//! `dovecot-pop3d`) is served by mailroom-mra with the same UIDLs, sizes and message bytes,
//! so a POP3 client moved from Dovecot downloads nothing again; and after mailroom-mra has
//! numbered a new delivery and expunged a message, Dovecot serves the result with the UIDs
//! mailroom-mra gave (DESIGN §3: the two take turns on one Maildir).
//!
//! As root, Dovecot's mail processes and mailroom-mra run as `nobody` (uid 65534), as both run
//! as `vmail` in production; unprivileged, everything runs as the invoking user.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::dovecot::{Dovecot, shared_maildir};
use common::{Mra, PASSWORD, database, python, require};

/// Lists what a POP3 server offers as JSON: UIDL, LIST and each message's RETR lines (hex).
/// With a fifth argument N, deletes message N before QUIT.
const SNAPSHOT: &str = r#"
import json, poplib, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]), timeout=30)
p.user(sys.argv[2])
p.pass_(sys.argv[3])
uidl = [l.decode() for l in p.uidl()[1]]
sizes = [l.decode() for l in p.list()[1]]
retr = [[l.hex() for l in p.retr(i + 1)[1]] for i in range(len(sizes))]
if len(sys.argv) > 4:
    p.dele(int(sys.argv[4]))
p.quit()
print(json.dumps({"uidl": uidl, "list": sizes, "retr": retr}))
"#;

/// UIDL, LIST and RETR of `port` as parsed JSON text (compared as strings).
fn snapshot(port: u16, dele: Option<u32>) -> String {
    let port = port.to_string();
    let mut args = vec![port.as_str(), "bob@b.test", PASSWORD];
    let dele = dele.map(|n| n.to_string());
    if let Some(d) = &dele {
        args.push(d);
    }
    python(SNAPSHOT, &args)
}

fn uidls(snapshot: &str) -> Vec<String> {
    let start = snapshot.find("\"uidl\": [").unwrap() + 9;
    let end = start + snapshot[start..].find(']').unwrap();
    snapshot[start..end].split(", ").map(|s| s.trim_matches('"').to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_maildir_keeps_its_uidls() {
    require("dovecot", &["--version"], "dovecot-core dovecot-pop3d");
    require("python3", &["--version"], "python3");
    let db = database().await;
    let (user, uid, root) = shared_maildir(&db, "bob");
    let mut dovecot = Dovecot::new(&root, uid);

    // Dovecot writes the Maildir: four messages (one with a dot line and CRLF ends), one
    // flagged \Seen, one expunged, so the UIDs are 1, 2 and 4.
    for (i, body) in
        ["first\n", "second\r\n.dot line\r\n", "third\n", "fourth\nlast line without end"].iter().enumerate()
    {
        let msg = format!("From: a@x.test\nSubject: dovecot {i}\n\n{body}");
        dovecot.doveadm(&["save"], &msg);
    }
    dovecot.doveadm(&["flags", "add", "\\Seen", "mailbox", "INBOX", "uid", "2"], "");
    dovecot.doveadm(&["expunge", "mailbox", "INBOX", "uid", "3"], "");
    dovecot.start();
    let from_dovecot = snapshot(dovecot.port, None);
    dovecot.stop();
    let uidlist = fs::read_to_string(root.join("dovecot-uidlist")).unwrap();
    let v: u32 = uidlist[3..].split(' ').next().unwrap().parse().unwrap();
    assert_eq!(uidls(&from_dovecot), [(1, 1), (2, 2), (3, 4)].map(|(n, u)| format!("{n} {u:08x}{v:08x}")));

    // mailroom-mra serves the same UIDLs, sizes and bytes.
    let mra = Mra::start_as(&db, &user, "auth = \"direct\"");
    let from_mra = snapshot(mra.pop3, Some(1));
    assert_eq!(from_mra, from_dovecot, "{}", mra.log());

    // mailroom-mda-style delivery, numbered by mailroom-mra; message 1 was deleted above.
    let owner = mailstore::Ownership { uid, gid: uid };
    let body = "From: a@x.test\nSubject: mailroom\n\nafter the move\n";
    mailstore::Maildir::new(&root).with_owner(owner).deliver(None, b"", &mut body.as_bytes()).unwrap();
    let after_mra = snapshot(mra.pop3, None);
    let want: Vec<String> =
        [2u32, 4, 5].iter().enumerate().map(|(i, u)| format!("{} {u:08x}{v:08x}", i + 1)).collect();
    assert_eq!(uidls(&after_mra), want);
    drop(mra);

    // Dovecot takes over again and agrees with every UID mailroom-mra gave.
    for p in walk(&root) {
        assert_eq!(fs::metadata(&p).unwrap().uid(), uid, "{} belongs to the mail user", p.display());
    }
    dovecot.start();
    let back = snapshot(dovecot.port, None);
    assert_eq!(back, after_mra, "{}", dovecot.log());
    let log = dovecot.log();
    assert!(!log.contains("Error") && !log.contains("Panic"), "{log}");
}

/// Every file and directory under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
