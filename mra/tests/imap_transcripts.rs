//! Byte transcripts of the IMAP extensions against the session layer itself, without a socket
//! ([`common::transcript`]): each `C:` line's answer must be exactly the `S:` lines that follow;
//! `C!` runs a command whose output is not compared (SELECT prints a UIDVALIDITY that varies).

mod common;

use std::path::Path;

use common::transcript::{play, session};

fn deliver(root: &Path, subject: &str) {
    common::transcript::deliver(root, subject);
}

#[test]
fn list_extended_transcript() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    let mut s = session(&root, 0);
    play(
        &mut s,
        r#"
        C: t1 CREATE Lists/Rust
        S: t1 OK Create completed.
        C: t2 SUBSCRIBE Lists/Rust
        S: t2 OK Subscribe completed.
        C: t3 UNSUBSCRIBE Junk
        S: t3 OK Unsubscribe completed.
        C: t4 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (CHILDREN)
        S: * LIST (\Subscribed \HasNoChildren) "/" "Archive"
        S: * LIST (\Subscribed \HasNoChildren) "/" "Drafts"
        S: * LIST (\NonExistent \HasChildren) "/" "Lists" (CHILDINFO ("SUBSCRIBED"))
        S: * LIST (\Subscribed \HasNoChildren) "/" "Sent"
        S: * LIST (\Subscribed \HasNoChildren) "/" "Trash"
        S: t4 OK List completed.
        C: t5 LIST "" (Lists/* Junk) RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))
        S: * LIST (\Junk) "/" "Junk"
        S: * STATUS "Junk" (MESSAGES 0 UNSEEN 0)
        S: * LIST () "/" "Lists/Rust"
        S: * STATUS "Lists/Rust" (MESSAGES 0 UNSEEN 0)
        S: t5 OK List completed.
        C: t6 LIST (SPECIAL-USE) "" S*
        S: * LIST (\Sent) "/" "Sent"
        S: t6 OK List completed.
        C: t7 LSUB "" %
        S: * LSUB () "/" "Archive"
        S: * LSUB () "/" "Drafts"
        S: * LSUB (\Noselect) "/" "Lists"
        S: * LSUB () "/" "Sent"
        S: * LSUB () "/" "Trash"
        S: t7 OK Lsub completed.
        C: t8 LIST (SUBSCRIBED REMOTE) "" Lists/%
        S: * LIST (\Subscribed) "/" "Lists/Rust"
        S: t8 OK List completed.
        C: t9 LIST (RECURSIVEMATCH) "" %
        S: t9 BAD RECURSIVEMATCH needs another selection option
        C: t10 LIST "" % RETURN (STATUS (MESSAGES) STATUS (UNSEEN))
        S: t10 BAD Unknown LIST return option
        C: t11 LIST (SUBSCRIBED) "" (%
        S: t11 BAD Missing ')'
        "#,
    );
}

#[test]
fn esearch_searchres_transcript() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    mailstore::Maildir::new(&root).create().unwrap();
    for s in ["a", "b", "c", "d"] {
        deliver(&root, s);
    }
    let mut s = session(&root, 0);
    play(
        &mut s,
        r#"
        C! t1 SELECT INBOX
        C: t2 STORE 1,3 +FLAGS.SILENT (\Seen)
        S: t2 OK Store completed.
        C: t3 SEARCH RETURN (MIN MAX COUNT) UNSEEN
        S: * ESEARCH (TAG "t3") MIN 2 MAX 4 COUNT 2
        S: t3 OK Search completed.
        C: t4 UID SEARCH RETURN (SAVE ALL) SEEN
        S: * ESEARCH (TAG "t4") UID ALL 1,3
        S: t4 OK Search completed.
        C: t5 FETCH $ (FLAGS)
        S: * 1 FETCH (FLAGS (\Seen \Recent))
        S: * 3 FETCH (FLAGS (\Seen \Recent))
        S: t5 OK Fetch completed.
        C: t6 SEARCH NOT $
        S: * SEARCH 2 4
        S: t6 OK Search completed.
        C: t7 SEARCH RETURN (COUNT) SUBJECT zzz
        S: * ESEARCH (TAG "t7") COUNT 0
        S: t7 OK Search completed.
        C: t8 SEARCH RETURN (MIN) (
        S: t8 BAD Missing ')'
        C: t9 SEARCH RETURN (ALL SOME) ALL
        S: t9 BAD Unknown SEARCH return option
        "#,
    );
}

#[test]
fn quota_transcript() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    mailstore::Maildir::new(&root).create().unwrap();
    deliver(&root, "x");
    let mut s = session(&root, 4096);
    play(
        &mut s,
        r#"
        C: t1 GETQUOTAROOT INBOX
        S: * QUOTAROOT "INBOX" "User quota"
        S: * QUOTA "User quota" (STORAGE 1 4)
        S: t1 OK Getquotaroot completed.
        C: t2 GETQUOTA "User quota"
        S: * QUOTA "User quota" (STORAGE 1 4)
        S: t2 OK Getquota completed.
        C: t3 SETQUOTA "User quota" (STORAGE 8)
        S: t3 NO [NOPERM] Quota can be changed only by the administrator.
        C: t4 GETQUOTA "other"
        S: t4 NO [NONEXISTENT] Quota root doesn't exist.
        C: t5 GETQUOTAROOT
        S: t5 BAD Invalid arguments
        "#,
    );
    // The 32 bytes of "From: a@x.test\nSubject: x\n\nbody\n", counted by the rebuild.
    assert_eq!(std::fs::read_to_string(root.join("maildirsize")).unwrap(), "4096S\n32 1\n");
}

#[test]
fn imap4rev2_transcript() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("Maildir");
    mailstore::Maildir::new(&root).create().unwrap();
    deliver(&root, "one");
    let mut s = session(&root, 0);
    play(
        &mut s,
        r#"
        C: t1 ENABLE IMAP4rev2 FROB
        S: * ENABLED IMAP4rev2
        S: t1 OK Enabled.
        C! t2 SELECT INBOX
        C: t3 FETCH 1 (FLAGS)
        S: * 1 FETCH (FLAGS ())
        S: t3 OK Fetch completed.
        C: t4 SEARCH RETURN () ALL
        S: * ESEARCH (TAG "t4") ALL 1
        S: t4 OK Search completed.
        C: t5 UID SEARCH SUBJECT one
        S: * ESEARCH (TAG "t5") UID ALL 1
        S: t5 OK Search completed.
        C: t6 STATUS INBOX (MESSAGES DELETED SIZE)
        S: * STATUS "INBOX" (MESSAGES 1 DELETED 0 SIZE 38)
        S: t6 OK Status completed.
        C: t7 STATUS INBOX (RECENT)
        S: t7 BAD RECENT is not an IMAP4rev2 STATUS item.
        C: t8 LIST "" INBOX RETURN (STATUS (RECENT))
        S: t8 BAD RECENT is not an IMAP4rev2 STATUS item.
        C: t9 LIST "" "" RETURN (CHILDREN)
        S: t9 OK List completed.
        C: t10 LIST "" ""
        S: * LIST (\Noselect) "/" ""
        S: t10 OK List completed.
        "#,
    );
}
