//! CONDSTORE and QRESYNC (RFC 7162) as byte transcripts against the session layer
//! ([`common::transcript`]; mod-sequences and UIDVALIDITY are time-based, so `<name>` binds the
//! number seen first and must recur): MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE within one session
//! and between two, SEARCH MODSEQ, STATUS HIGHESTMODSEQ, a flag change by another program,
//! QRESYNC's SELECT after expunges (exact and conservative), UID FETCH VANISHED, VANISHED for
//! expunges, the modseq file deleted, NOMODSEQ, IMAP4rev2 together with QRESYNC, and
//! malformed syntax answered BAD. Then the same against the real binary with Python imaplib.

mod common;

use std::fs;
use std::path::Path;

use common::transcript::{Vars, deliver, play, play_with, session};
use common::{Mra, database, maildir, python};

const FLAGS: &str = r"S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)] Flags permitted.";

fn inbox(n: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    mailstore::Maildir::new(&root).create().unwrap();
    let names = (0..n).map(|i| deliver(&root, &format!("m{i}"))).collect();
    (tmp, root, names)
}

#[test]
fn condstore_transcript() {
    let (_tmp, root, _) = inbox(3);
    let mut s = session(&root, 0);
    let mut v = Vars::new();
    play_with(
        &mut s,
        &format!(
            r#"
        C: t1 ENABLE CONDSTORE
        S: * ENABLED CONDSTORE
        S: t1 OK Enabled.
        C: t2 SELECT INBOX
        {FLAGS}
        S: * 3 EXISTS
        S: * 3 RECENT
        S: * OK [UNSEEN 1] First unseen.
        S: * OK [UIDVALIDITY <v>] UIDs valid.
        S: * OK [UIDNEXT 4] Predicted next UID.
        S: * OK [HIGHESTMODSEQ <h0>] Highest.
        S: t2 OK [READ-WRITE] Select completed.
        C: t3 FETCH 1:* (UID MODSEQ)
        S: * 1 FETCH (UID 1 MODSEQ (<h0>))
        S: * 2 FETCH (UID 2 MODSEQ (<h0>))
        S: * 3 FETCH (UID 3 MODSEQ (<h0>))
        S: t3 OK Fetch completed.
        C: t4 STORE 1 +FLAGS (\Seen)
        S: * 1 FETCH (FLAGS (\Seen \Recent) MODSEQ (<m1>))
        S: t4 OK Store completed.
        C: t5 STORE 2 +FLAGS.SILENT (\Flagged)
        S: * 2 FETCH (MODSEQ (<m2>))
        S: t5 OK Store completed.
        C: t6 FETCH 1:* (FLAGS) (CHANGEDSINCE <h0>)
        S: * 1 FETCH (FLAGS (\Seen \Recent) MODSEQ (<m1>))
        S: * 2 FETCH (FLAGS (\Flagged \Recent) MODSEQ (<m2>))
        S: t6 OK Fetch completed.
        C: t7 UID FETCH 1:* (FLAGS) (CHANGEDSINCE <m1>)
        S: * 2 FETCH (UID 2 FLAGS (\Flagged \Recent) MODSEQ (<m2>))
        S: t7 OK Fetch completed.
        C: t8 STORE 1:3 (UNCHANGEDSINCE <m1>) +FLAGS (\Deleted)
        S: * 1 FETCH (FLAGS (\Seen \Deleted \Recent) MODSEQ (<m3>))
        S: * 3 FETCH (FLAGS (\Deleted \Recent) MODSEQ (<m3>))
        S: t8 OK [MODIFIED 2] Conditional STORE failed.
        C: t9 UID STORE 2 (UNCHANGEDSINCE 0) -FLAGS (\Flagged)
        S: t9 OK [MODIFIED 2] Conditional STORE failed.
        C: t10 SEARCH MODSEQ <m3>
        S: * SEARCH 1 3 (MODSEQ <m3>)
        S: t10 OK Search completed.
        C: t11 UID SEARCH MODSEQ "/flags/\\deleted" all <m2> NOT DELETED
        S: * SEARCH 2 (MODSEQ <m2>)
        S: t11 OK Search completed.
        C: t12 SEARCH RETURN (COUNT MIN) MODSEQ <m2>
        S: * ESEARCH (TAG "t12") MIN 1 COUNT 3 MODSEQ <m3>
        S: t12 OK Search completed.
        C: t13 SEARCH RETURN (MIN) MODSEQ <m2>
        S: * ESEARCH (TAG "t13") MIN 1 MODSEQ <m3>
        S: t13 OK Search completed.
        C: t14 SEARCH MODSEQ 9000000000000000000
        S: * SEARCH
        S: t14 OK Search completed.
        C: t15 STATUS INBOX (HIGHESTMODSEQ MESSAGES)
        S: * STATUS "INBOX" (HIGHESTMODSEQ <m3> MESSAGES 3)
        S: t15 OK Status completed.
        C: t16 FETCH 2 (BODY[TEXT])
        S: * 2 FETCH (BODY[TEXT] {{6}}
        S: body
        S:  FLAGS (\Flagged \Seen \Recent) MODSEQ (<m4>))
        S: t16 OK Fetch completed.
        C: t17 STORE 3 FLAGS (\Deleted)
        S: * 3 FETCH (FLAGS (\Deleted \Recent) MODSEQ (<m3>))
        S: t17 OK Store completed.
        "#
        ),
        &mut v,
    );
    assert!(v["h0"] < v["m1"] && v["m1"] < v["m2"] && v["m2"] < v["m3"] && v["m3"] < v["m4"], "{v:?}");
    // A change made by another program (a rename in cur/ behind our back) gets a new one.
    let cur = root.join("cur");
    let name = fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(":2,ST"))
        .unwrap();
    let base = name.split(':').next().unwrap();
    fs::rename(cur.join(&name), cur.join(format!("{base}:2,FS"))).unwrap();
    play_with(
        &mut s,
        r#"
        C: t18 NOOP
        S: * 1 FETCH (UID 1 FLAGS (\Flagged \Seen \Recent) MODSEQ (<m5>))
        S: t18 OK NOOP completed.
        C: t19 FETCH 1:* (FLAGS) (CHANGEDSINCE <m4>)
        S: * 1 FETCH (FLAGS (\Flagged \Seen \Recent) MODSEQ (<m5>))
        S: t19 OK Fetch completed.
        "#,
        &mut v,
    );
    assert!(v["m5"] > v["m4"], "{v:?}");
}

#[test]
fn unchangedsince_between_two_sessions() {
    let (_tmp, root, _) = inbox(2);
    let (mut a, mut b) = (session(&root, 0), session(&root, 0));
    let mut v = Vars::new();
    play_with(
        &mut a,
        r#"
        C! a1 SELECT INBOX (CONDSTORE)
        C: a2 FETCH 1 (MODSEQ)
        S: * 1 FETCH (MODSEQ (<h>))
        S: a2 OK Fetch completed.
        "#,
        &mut v,
    );
    play_with(&mut b, "C! b1 SELECT INBOX (CONDSTORE)", &mut v);
    play_with(
        &mut a,
        r#"
        C: a3 STORE 1 (UNCHANGEDSINCE <h>) +FLAGS (\Answered)
        S: * 1 FETCH (FLAGS (\Answered \Recent) MODSEQ (<ma>))
        S: a3 OK Store completed.
        "#,
        &mut v,
    );
    // b has not seen a's change: the conditional store of message 1 fails, that of 2 succeeds.
    play_with(
        &mut b,
        r#"
        C: b2 STORE 1,2 (UNCHANGEDSINCE <h>) +FLAGS (\Deleted)
        S: * 2 FETCH (FLAGS (\Deleted) MODSEQ (<mb>))
        S: b2 OK [MODIFIED 1] Conditional STORE failed.
        C: b3 NOOP
        S: * 1 FETCH (UID 1 FLAGS (\Answered) MODSEQ (<ma>))
        S: b3 OK NOOP completed.
        C: b4 UID STORE 1 (UNCHANGEDSINCE <ma>) +FLAGS (\Deleted)
        S: * 1 FETCH (FLAGS (\Answered \Deleted) UID 1 MODSEQ (<mc>))
        S: b4 OK Store completed.
        "#,
        &mut v,
    );
    play_with(
        &mut a,
        r#"
        C: a4 NOOP
        S: * 1 FETCH (UID 1 FLAGS (\Answered \Deleted \Recent) MODSEQ (<mc>))
        S: * 2 FETCH (UID 2 FLAGS (\Deleted \Recent) MODSEQ (<mb>))
        S: a4 OK NOOP completed.
        C: a5 STORE 1 (UNCHANGEDSINCE <mb>) -FLAGS (\Deleted)
        S: a5 OK [MODIFIED 1] Conditional STORE failed.
        "#,
        &mut v,
    );
    assert!(v["h"] < v["ma"] && v["ma"] < v["mb"] && v["mb"] < v["mc"], "{v:?}");
}

#[test]
fn qresync_transcript() {
    let (_tmp, root, _) = inbox(5);
    let mut s1 = session(&root, 0);
    let mut v = Vars::new();
    play_with(
        &mut s1,
        &format!(
            r#"
        C: t1 ENABLE QRESYNC
        S: * ENABLED QRESYNC
        S: t1 OK Enabled.
        C: t2 SELECT INBOX
        {FLAGS}
        S: * 5 EXISTS
        S: * 5 RECENT
        S: * OK [UNSEEN 1] First unseen.
        S: * OK [UIDVALIDITY <v>] UIDs valid.
        S: * OK [UIDNEXT 6] Predicted next UID.
        S: * OK [HIGHESTMODSEQ <h0>] Highest.
        S: t2 OK [READ-WRITE] Select completed.
        C: t3 STORE 2,4 +FLAGS.SILENT (\Deleted)
        S: * 2 FETCH (UID 2 MODSEQ (<m1>))
        S: * 4 FETCH (UID 4 MODSEQ (<m1>))
        S: t3 OK Store completed.
        C: t4 EXPUNGE
        S: * VANISHED 2,4
        S: t4 OK [HIGHESTMODSEQ <m2>] Expunge completed.
        C: t5 STORE 1 +FLAGS (\Seen)
        S: * 1 FETCH (FLAGS (\Seen \Recent) UID 1 MODSEQ (<m3>))
        S: t5 OK Store completed.
        "#
        ),
        &mut v,
    );
    // A client that knew UIDs 1:5 at h0 learns exactly what happened since.
    let mut s2 = session(&root, 0);
    play_with(
        &mut s2,
        &format!(
            r#"
        C! u1 ENABLE QRESYNC
        C: u2 SELECT INBOX (QRESYNC (<v> <h0> 1:5))
        {FLAGS}
        S: * 3 EXISTS
        S: * 0 RECENT
        S: * OK [UNSEEN 2] First unseen.
        S: * OK [UIDVALIDITY <v>] UIDs valid.
        S: * OK [UIDNEXT 6] Predicted next UID.
        S: * OK [HIGHESTMODSEQ <m3>] Highest.
        S: * VANISHED (EARLIER) 2,4
        S: * 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (<m3>))
        S: u2 OK [READ-WRITE] Select completed.
        C: u3 UID FETCH 1:* (FLAGS) (CHANGEDSINCE <h0> VANISHED)
        S: * VANISHED (EARLIER) 2,4
        S: * 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (<m3>))
        S: u3 OK Fetch completed.
        C: u4 UID FETCH 3:4 (FLAGS) (CHANGEDSINCE <h0> VANISHED)
        S: * VANISHED (EARLIER) 4
        S: u4 OK Fetch completed.
        C: u5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE <m3> VANISHED)
        S: u5 OK Fetch completed.
        "#
        ),
        &mut v,
    );
    // A mod-sequence older than the file: every known UID that is gone, narrowed by the
    // sequence-match data (message 3 still being UID 5 shows 2 and 4 were gone already).
    play_with(
        &mut s2,
        &format!(
            r#"
        C: u6 EXAMINE INBOX (QRESYNC (<v> 1 1:5))
        S: * OK [CLOSED] Previous mailbox closed.
        {FLAGS}
        S: * 3 EXISTS
        S: * 0 RECENT
        S: * OK [UNSEEN 2] First unseen.
        S: * OK [UIDVALIDITY <v>] UIDs valid.
        S: * OK [UIDNEXT 6] Predicted next UID.
        S: * OK [HIGHESTMODSEQ <m3>] Highest.
        S: * VANISHED (EARLIER) 2,4
        S: * 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (<m3>))
        S: * 2 FETCH (UID 3 FLAGS () MODSEQ (<h0>))
        S: * 3 FETCH (UID 5 FLAGS () MODSEQ (<h0>))
        S: u6 OK [READ-ONLY] Select completed.
        C! u7 EXAMINE INBOX (QRESYNC (<v> <m3> 1:5 (1,3 1,5)))
        C: u8 UID FETCH 1:9 (UID) (CHANGEDSINCE 1 VANISHED)
        S: * VANISHED (EARLIER) 2,4
        S: * 1 FETCH (UID 1 MODSEQ (<m3>))
        S: * 2 FETCH (UID 3 MODSEQ (<h0>))
        S: * 3 FETCH (UID 5 MODSEQ (<h0>))
        S: u8 OK Fetch completed.
        "#
        ),
        &mut v,
    );
    // The seq-match data of u7 left nothing to report.
    let mut s3 = session(&root, 0);
    let out = common::transcript::answer(&mut s3, "w1 ENABLE QRESYNC");
    assert!(out.contains("ENABLED QRESYNC"));
    let sel = common::transcript::answer(
        &mut s3,
        &format!("w2 EXAMINE INBOX (QRESYNC ({} 1 1:5 (1,3 1,5)))", v["v"]),
    );
    assert!(!sel.contains("VANISHED"), "{sel}");
    assert_eq!(sel.matches(" FETCH (").count(), 3, "{sel}");
    // A UIDVALIDITY that does not match: a plain SELECT.
    let sel = common::transcript::answer(&mut s3, "w3 EXAMINE INBOX (QRESYNC (1 1 1:5))");
    assert!(!sel.contains("VANISHED") && !sel.contains(" FETCH ("), "{sel}");

    // Expunged by another session: VANISHED, then the HIGHESTMODSEQ that raised.
    play_with(
        &mut s1,
        r#"
        C: t6 UID STORE 5 +FLAGS.SILENT (\Deleted)
        S: * 3 FETCH (UID 5 MODSEQ (<m4>))
        S: t6 OK Store completed.
        C: t7 UID EXPUNGE 5
        S: * VANISHED 5
        S: t7 OK [HIGHESTMODSEQ <m5>] Expunge completed.
        "#,
        &mut v,
    );
    play_with(
        &mut s2,
        r#"
        C: u9 NOOP
        S: * VANISHED 5
        S: * OK [HIGHESTMODSEQ <m5>] Highest.
        S: u9 OK NOOP completed.
        "#,
        &mut v,
    );
    assert!(v["h0"] < v["m1"] && v["m1"] < v["m2"] && v["m2"] < v["m3"] && v["m4"] < v["m5"], "{v:?}");

    // The modseq file deleted: rebuilt with larger values; every message reported changed,
    // the expunges it forgot reported conservatively.
    fs::remove_file(root.join(mailstore::modseq::FILE)).unwrap();
    let mut s4 = session(&root, 0);
    play_with(
        &mut s4,
        &format!(
            r#"
        C! x1 ENABLE QRESYNC
        C: x2 EXAMINE INBOX (QRESYNC (<v> <m5>))
        {FLAGS}
        S: * 2 EXISTS
        S: * 0 RECENT
        S: * OK [UNSEEN 2] First unseen.
        S: * OK [UIDVALIDITY <v>] UIDs valid.
        S: * OK [UIDNEXT 6] Predicted next UID.
        S: * OK [HIGHESTMODSEQ <r>] Highest.
        S: * VANISHED (EARLIER) 2,4:5
        S: * 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (<r>))
        S: * 2 FETCH (UID 3 FLAGS () MODSEQ (<r>))
        S: x2 OK [READ-ONLY] Select completed.
        "#
        ),
        &mut v,
    );
    assert!(v["r"] > v["m5"], "{v:?}");
    // A session that had the mailbox open sees the new values as changes.
    play_with(
        &mut s1,
        r#"
        C: t8 NOOP
        S: * 1 FETCH (UID 1 MODSEQ (<r>))
        S: * 2 FETCH (UID 3 MODSEQ (<r>))
        S: t8 OK NOOP completed.
        "#,
        &mut v,
    );
}

#[test]
fn qresync_with_imap4rev2() {
    let (_tmp, root, _) = inbox(2);
    let mut s = session(&root, 0);
    play_with(
        &mut s,
        &format!(
            r#"
        C: t1 ENABLE IMAP4rev2 QRESYNC
        S: * ENABLED IMAP4rev2 QRESYNC
        S: t1 OK Enabled.
        C: t2 SELECT INBOX
        {FLAGS}
        S: * 2 EXISTS
        S: * LIST (\HasNoChildren) "/" "INBOX"
        S: * OK [UIDVALIDITY <v>] UIDs valid.
        S: * OK [UIDNEXT 3] Predicted next UID.
        S: * OK [HIGHESTMODSEQ <h>] Highest.
        S: t2 OK [READ-WRITE] Select completed.
        C: t3 STORE 1 +FLAGS (\Deleted)
        S: * 1 FETCH (FLAGS (\Deleted) UID 1 MODSEQ (<m1>))
        S: t3 OK Store completed.
        C: t4 SEARCH MODSEQ <m1>
        S: * ESEARCH (TAG "t4") ALL 1 MODSEQ <m1>
        S: t4 OK Search completed.
        C: t5 EXPUNGE
        S: * VANISHED 1
        S: t5 OK [HIGHESTMODSEQ <m2>] Expunge completed.
        C: t6 SELECT INBOX (QRESYNC (<v> <h> 1:2))
        S: * OK [CLOSED] Previous mailbox closed.
        {FLAGS}
        S: * 1 EXISTS
        S: * LIST (\HasNoChildren) "/" "INBOX"
        S: * OK [UIDVALIDITY <v>] UIDs valid.
        S: * OK [UIDNEXT 3] Predicted next UID.
        S: * OK [HIGHESTMODSEQ <m2>] Highest.
        S: * VANISHED (EARLIER) 1
        S: t6 OK [READ-WRITE] Select completed.
        "#
        ),
        &mut Vars::new(),
    );
}

#[test]
fn condstore_enabled_while_selected_tells_highestmodseq() {
    let (_tmp, root, _) = inbox(1);
    let mut s = session(&root, 0);
    play_with(
        &mut s,
        r#"
        C! t1 SELECT INBOX
        C: t2 FETCH 1 (FLAGS)
        S: * 1 FETCH (FLAGS (\Recent))
        S: t2 OK Fetch completed.
        C: t3 STORE 1 +FLAGS (\Seen)
        S: * 1 FETCH (FLAGS (\Seen \Recent))
        S: t3 OK Store completed.
        C: t4 FETCH 1 (MODSEQ)
        S: * OK [HIGHESTMODSEQ <h>] Highest
        S: * 1 FETCH (MODSEQ (<h>))
        S: t4 OK Fetch completed.
        C: t5 ENABLE CONDSTORE QRESYNC
        S: * ENABLED QRESYNC
        S: t5 OK Enabled.
        "#,
        &mut Vars::new(),
    );
    let mut s = session(&root, 0);
    play_with(
        &mut s,
        r#"
        C! u1 EXAMINE INBOX
        C: u2 ENABLE CONDSTORE
        S: * ENABLED CONDSTORE
        S: * OK [HIGHESTMODSEQ <h>] Highest
        S: u2 OK Enabled.
        C: u3 STATUS INBOX (HIGHESTMODSEQ)
        S: * STATUS "INBOX" (HIGHESTMODSEQ <h>)
        S: u3 OK Status completed.
        "#,
        &mut Vars::new(),
    );
}

#[test]
fn nomodseq_mailbox() {
    let (_tmp, root, _) = inbox(1);
    // A mailbox where mailroom.modseq cannot be a file.
    fs::create_dir(root.join(mailstore::modseq::FILE)).unwrap();
    let mut s = session(&root, 0);
    play_with(
        &mut s,
        &format!(
            r#"
        C: t1 SELECT INBOX (CONDSTORE)
        {FLAGS}
        S: * 1 EXISTS
        S: * 1 RECENT
        S: * OK [UNSEEN 1] First unseen.
        S: * OK [UIDVALIDITY <v>] UIDs valid.
        S: * OK [UIDNEXT 2] Predicted next UID.
        S: * OK [NOMODSEQ] No permanent modification sequences.
        S: t1 OK [READ-WRITE] Select completed.
        C: t2 FETCH 1 (MODSEQ)
        S: t2 BAD The mailbox has no mod-sequences (NOMODSEQ).
        C: t3 FETCH 1 (FLAGS) (CHANGEDSINCE 1)
        S: t3 BAD The mailbox has no mod-sequences (NOMODSEQ).
        C: t4 STORE 1 (UNCHANGEDSINCE 5) +FLAGS (\Seen)
        S: t4 BAD The mailbox has no mod-sequences (NOMODSEQ).
        C: t5 SEARCH MODSEQ 1
        S: t5 BAD The mailbox has no mod-sequences (NOMODSEQ).
        C: t6 STORE 1 +FLAGS (\Seen)
        S: * 1 FETCH (FLAGS (\Seen \Recent))
        S: t6 OK Store completed.
        C: t7 STATUS INBOX (HIGHESTMODSEQ)
        S: * STATUS "INBOX" (HIGHESTMODSEQ 0)
        S: t7 OK Status completed.
        "#
        ),
        &mut Vars::new(),
    );
}

#[test]
fn malformed_condstore_and_qresync_are_bad() {
    let (_tmp, root, _) = inbox(1);
    let mut s = session(&root, 0);
    play(
        &mut s,
        r#"
        C: t1 SELECT INBOX (QRESYNC (1 1))
        S: t1 BAD QRESYNC is not enabled.
        C: t2 SELECT INBOX (FOO)
        S: t2 BAD Unknown SELECT parameter
        C: t3 SELECT INBOX CONDSTORE
        S: t3 BAD SELECT takes a mailbox and a list of parameters
        C: t4 ENABLE QRESYNC
        S: * ENABLED QRESYNC
        S: t4 OK Enabled.
        C: t5 SELECT INBOX (QRESYNC (1 x))
        S: t5 BAD Invalid mod-sequence
        C: t6 SELECT INBOX (QRESYNC (1 1 1:*))
        S: t6 BAD Invalid number set (no * allowed)
        C: t7 SELECT INBOX (QRESYNC (1 1 1:3 (1 2:3)))
        S: t7 BAD QRESYNC sequence-match sets differ in size
        C: t8 SELECT INBOX (QRESYNC)
        S: t8 BAD QRESYNC needs its parameters
        C! t9 SELECT INBOX
        C: t10 FETCH 1 (FLAGS) (CHANGEDSINCE)
        S: t10 BAD CHANGEDSINCE needs a value
        C: t11 FETCH 1 (FLAGS) (VANISHED)
        S: t11 BAD VANISHED needs CHANGEDSINCE
        C: t12 FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)
        S: t12 BAD VANISHED needs UID FETCH.
        C: t13 FETCH 1 (MODSEQ) (CHANGEDSINCE 99999999999999999999)
        S: t13 BAD Invalid mod-sequence
        C: t14 FETCH 1 (FLAGS) CHANGEDSINCE 1
        S: t14 BAD Invalid arguments
        C: t15 STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\Seen)
        S: t15 BAD Invalid mod-sequence
        C: t16 STORE 1 (FOO 1) +FLAGS (\Seen)
        S: t16 BAD Unknown STORE modifier
        C: t17 STORE 1 (UNCHANGEDSINCE 1)
        S: t17 BAD Invalid arguments
        C: t18 SEARCH MODSEQ
        S: t18 BAD Missing MODSEQ argument
        C: t19 SEARCH MODSEQ "/flags/\\seen" 5
        S: t19 BAD Missing MODSEQ argument
        C: t20 SEARCH MODSEQ "/nope" all 5
        S: t20 BAD Invalid MODSEQ entry name
        C: t21 SEARCH MODSEQ x
        S: t21 BAD Invalid mod-sequence
        C: t22 STATUS INBOX (HIGHESTMODSEQ
        S: t22 BAD Missing ')'
        C: t23 FETCH 1 (MODSEQ FLAGS
        S: t23 BAD Invalid arguments
        "#,
    );
    // VANISHED needs QRESYNC enabled, not only CONDSTORE.
    let mut c = session(&root, 0);
    play(
        &mut c,
        r#"
        C! c1 SELECT INBOX (CONDSTORE)
        C: c2 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)
        S: c2 BAD VANISHED needs QRESYNC enabled.
        "#,
    );
}

/// Python imaplib against the real binary: raw CONDSTORE/QRESYNC commands over a socket,
/// two connections, the untagged responses as imaplib collects them.
#[tokio::test]
async fn imaplib_condstore_and_qresync() {
    let db = database().await;
    let mra = Mra::start(&db, "");
    let root = maildir(&db, "bob");
    mailstore::Maildir::new(&root).create().unwrap();
    for i in 0..4 {
        common::deliver(&root, &format!("m{i}"), "body\n");
    }
    let script = r#"
import imaplib, re, sys
def connect():
    m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
    m.login("bob@b.test", "pw")
    return m
a = connect()
assert "CONDSTORE" in a.capabilities and "QRESYNC" in a.capabilities, a.capabilities
typ, data = a.enable("QRESYNC")
print("enable", typ, [d.decode() for d in a.untagged_responses.pop("ENABLED")])
typ, data = a.select("INBOX")
highest = int(a.untagged_responses["HIGHESTMODSEQ"][-1])
validity = int(a.untagged_responses["UIDVALIDITY"][-1])
typ, data = a.uid("STORE", "2", "(UNCHANGEDSINCE %d)" % highest, "+FLAGS", "(\\Deleted)")
print("store", typ, re.sub(rb"MODSEQ \(\d+\)", b"MODSEQ (n)", data[0]).decode())
typ, data = a.uid("STORE", "2", "(UNCHANGEDSINCE %d)" % highest, "+FLAGS", "(\\Seen)")
print("again", typ, data, [d.decode() for d in a.untagged_responses.pop("MODIFIED", [])])
a.expunge()
print("vanished", [d.decode() for d in a.untagged_responses.pop("VANISHED", [])])
a.uid("STORE", "3", "+FLAGS.SILENT", "(\\Flagged)")
b = connect()
b.enable("QRESYNC")
typ, data = b._simple_command("SELECT", "INBOX", "(QRESYNC (%d %d 1:4))" % (validity, highest))
print("select", typ, [d.decode() for d in b.untagged_responses.get("VANISHED", [])])
fetches = [d.decode() for d in b.untagged_responses.get("FETCH", [])]
print("fetch", len(fetches), all("MODSEQ" in f for f in fetches))
a.logout(); b.logout()
"#;
    let out = python(script, &[&mra.imap.to_string()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "enable OK ['QRESYNC']", "{out}");
    assert_eq!(lines[1], "store OK 2 (FLAGS (\\Deleted \\Recent) UID 2 MODSEQ (n))", "{out}");
    assert_eq!(lines[2], "again OK [None] ['2']", "{out}");
    assert_eq!(lines[3], "vanished ['2']", "{out}");
    assert_eq!(lines[4], "select OK ['(EARLIER) 2']", "{out}");
    assert_eq!(lines[5], "fetch 1 True", "{out}");
    assert!(!Path::new(&root.join(format!("{}.lock", mailstore::modseq::FILE))).exists());
}
