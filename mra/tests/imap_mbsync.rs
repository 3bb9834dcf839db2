//! mbsync (Debian `isync`) syncs a mailroom-mra mailbox both ways over STARTTLS: the server's
//! messages and folders reach a local Maildir; a flag set, a deletion and a new message made
//! locally reach the server; a second run changes nothing.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Mra, REPLY_TIMEOUT, database, deliver, maildir, names, output_within, require};

fn mbsync(config: &Path) -> String {
    let out = output_within(Command::new("mbsync").arg("-c").arg(config).arg("-a"), b"", REPLY_TIMEOUT);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "mbsync failed ({}):\n{text}", out.status);
    text
}

/// The local messages of a Maildir folder, new/ and cur/.
fn local(dir: &Path) -> Vec<String> {
    let mut v = names(&dir.join("new"));
    v.extend(names(&dir.join("cur")));
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn mbsync_syncs_both_ways() {
    require("mbsync", &["--version"], "isync");
    let db = database().await;
    let mra = Mra::start(&db, "");
    let server = maildir(&db, "bob");
    mailstore::Maildir::new(&server).create().unwrap();
    for i in 1..=3 {
        deliver(&server, &format!("server {i}"), &format!("body {i}\n"));
    }
    let tmp = tempfile::tempdir().unwrap();
    let near = tmp.path().join("mail");
    fs::create_dir_all(&near).unwrap();
    let config = tmp.path().join("mbsyncrc");
    fs::write(
        &config,
        format!(
            "IMAPAccount mr\nHost 127.0.0.1\nPort {port}\nUser bob@b.test\nPass pw\nSSLType STARTTLS\n\
             CertificateFile {cert}\nAuthMechs PLAIN\n\n\
             IMAPStore remote\nAccount mr\n\n\
             MaildirStore local\nPath {near}/\nInbox {near}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\n\
             SyncState *\nSync All\n",
            port = mra.imap,
            cert = mra.cert.display(),
            near = near.display(),
        ),
    )
    .unwrap();

    // Server to local: three messages and the special-use folders.
    mbsync(&config);
    let inbox = near.join("INBOX");
    let files = local(&inbox);
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(near.join("Sent/cur").is_dir() && near.join("Trash/cur").is_dir());

    // Local changes: one message seen, one deleted, one new.
    let cur = inbox.join("cur");
    let mut it = files.iter();
    let seen = it.next().unwrap();
    let gone = it.next().unwrap();
    let at = |n: &str| if cur.join(n).exists() { cur.join(n) } else { inbox.join("new").join(n) };
    let with = |n: &str, f: &str| {
        let base = n.split(":2,").next().unwrap();
        let old = n.split(":2,").nth(1).unwrap_or("");
        let mut flags: Vec<char> = old.chars().chain(f.chars()).collect();
        flags.sort();
        cur.join(format!("{base}:2,{}", flags.into_iter().collect::<String>()))
    };
    fs::rename(at(seen), with(seen, "S")).unwrap();
    fs::rename(at(gone), with(gone, "T")).unwrap();
    fs::write(inbox.join("new/1700000000.local.host"), "From: me@x.test\nSubject: local\n\nfrom mbsync\n")
        .unwrap();
    mbsync(&config);

    let mb = mailstore::Mailbox::open(&server).unwrap();
    let msgs = mb.messages();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(msgs.iter().filter(|m| m.flags().has(mailstore::Flag::Seen)).count(), 1, "{msgs:?}");
    assert_eq!(msgs.last().unwrap().uid(), 4, "the local message was appended");
    let appended = fs::read_to_string(server.join("new").join(msgs[2].file_name()))
        .or_else(|_| fs::read_to_string(server.join("cur").join(msgs[2].file_name())))
        .unwrap();
    assert!(appended.contains("from mbsync"));

    // Nothing left to do: a second run changes neither side (the server only moves what was
    // in new/ to cur/ when mbsync selects INBOX, as Dovecot does for \Recent).
    let state = || {
        let mb = mailstore::Mailbox::open(&server).unwrap();
        mb.messages().iter().map(|m| (m.uid(), m.flags().to_info())).collect::<Vec<_>>()
    };
    let before = (local(&inbox), state());
    mbsync(&config);
    assert_eq!(before, (local(&inbox), state()));
    assert!(mra.log().contains("imap login user=bob@b.test"));
}
