//! `maildirsize` shared with Dovecot: what mailroom-mra wrote while serving APPEND, COPY, MOVE
//! and EXPUNGE is what a private Dovecot (quota plugin, maildir backend, `User quota`) reads as
//! its own, with the same usage and without recalculating; Dovecot counting the Maildir afresh
//! finds that usage too; and what Dovecot then appends, mailroom-mra reads back.
//!
//! As root, both run as `nobody` (uid 65534), as both run as `vmail` in production.

mod common;

use std::fs;

use common::dovecot::{Dovecot, shared_maildir};
use common::{Mra, PASSWORD, database, require};

/// The limit both servers apply: 100 KiB.
const LIMIT: u64 = 100 * 1024;

/// Dovecot's quota plugin, maildir backend, with the same limit.
fn quota_plugin() -> String {
    format!(
        "mail_plugins = quota\nprotocol imap {{\n  mail_plugins = $mail_plugins imap_quota\n}}\n\
         plugin {{\n  quota = maildir:User quota\n  quota_rule = *:storage={}K\n}}\n",
        LIMIT / 1024
    )
}

/// Runs `cmds` as carol on `port` (one line each, tagged here); returns every line.
fn session(port: u16, cmds: &[&str]) -> Vec<String> {
    let (mut c, _) = common::Client::connect(port);
    let mut all = Vec::new();
    let login = format!("LOGIN carol@b.test {PASSWORD}");
    for (n, cmd) in std::iter::once(login.as_str()).chain(cmds.iter().copied()).enumerate() {
        let tag = format!("q{n}");
        c.send(format!("{tag} {cmd}\r\n").as_bytes());
        loop {
            let l = c.line();
            let done = l.starts_with(&format!("{tag} ")) || l == "<closed>";
            assert!(!done || l.starts_with(&format!("{tag} OK")), "{cmd}: {l}");
            all.push(l);
            if done {
                break;
            }
        }
    }
    all
}

/// APPEND of a message with `lines` body lines, as a LITERAL+ command line and its literal.
fn append(lines: usize) -> String {
    let mut m = String::from("From: a@x.test\r\nSubject: quota\r\n\r\n");
    for i in 0..lines {
        m.push_str(&format!("body line {i:05} .........................................\r\n"));
    }
    format!("APPEND INBOX {{{}+}}\r\n{m}", m.len())
}

/// The `* QUOTA` line of a session's output.
fn quota_line(lines: &[String]) -> String {
    lines.iter().find(|l| l.starts_with("* QUOTA ")).cloned().unwrap_or_else(|| panic!("{lines:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_reads_the_maildirsize_mailroom_keeps() {
    require("dovecot", &["--version"], "dovecot-core dovecot-imapd");
    let db = database().await;
    db.sql(&format!("UPDATE mailbox SET quota = {LIMIT} WHERE username = 'carol@b.test'")).await;
    let (user, uid, root) = shared_maildir(&db, "carol");

    // mailroom-mra: two APPENDs, a COPY, a MOVE, an EXPUNGE: a delta line each (two for MOVE).
    let mra = Mra::start_as(&db, &user, "auth = \"direct\"");
    let (a, b) = (append(40), append(300));
    let ours = session(
        mra.imap,
        &[
            &a,
            &b,
            "SELECT INBOX",
            "COPY 1:2 Archive",
            "MOVE 1 Trash",
            "STORE 1 +FLAGS.SILENT (\\Deleted)",
            "EXPUNGE",
            "GETQUOTAROOT INBOX",
        ],
    );
    drop(mra);
    let file = fs::read_to_string(root.join("maildirsize")).unwrap();
    assert_eq!(file.lines().next(), Some("102400S"), "{file}");
    assert_eq!(file.lines().count(), 8, "limits, the first count and six deltas: {file}");
    let ours = quota_line(&ours);

    // Dovecot: the same usage, read from the file (a recalculation would rewrite it).
    let mut dovecot = Dovecot::with(&root, uid, &quota_plugin());
    dovecot.start();
    let theirs = session(dovecot.imap, &["GETQUOTAROOT INBOX"]);
    assert_eq!(quota_line(&theirs), ours, "{}", dovecot.log());
    assert_eq!(fs::read_to_string(root.join("maildirsize")).unwrap(), file, "Dovecot recalculated");
    // And the deltas add up to what is on disk: Dovecot counting afresh finds the same.
    fs::remove_file(root.join("maildirsize")).unwrap();
    let recount = session(dovecot.imap, &["GETQUOTAROOT INBOX"]);
    assert_eq!(quota_line(&recount), ours);
    let rebuilt = fs::read_to_string(root.join("maildirsize")).unwrap();
    assert_eq!(rebuilt.lines().count(), 2, "{rebuilt}");
    // Dovecot appends its own delta; mailroom-mra reads it back.
    let theirs = session(dovecot.imap, &[&append(20), "GETQUOTAROOT INBOX"]);
    drop(dovecot);
    let after = fs::read_to_string(root.join("maildirsize")).unwrap();
    assert!(after.starts_with(&rebuilt) && after.lines().count() == 3, "{after}");
    let mra = Mra::start_as(&db, &user, "auth = \"direct\"");
    let ours = session(mra.imap, &["GETQUOTA \"User quota\""]);
    assert_eq!(quota_line(&ours), quota_line(&theirs));
    assert_eq!(fs::read_to_string(root.join("maildirsize")).unwrap(), after, "mailroom recalculated");
}
