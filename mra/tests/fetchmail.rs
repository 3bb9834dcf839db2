//! fetchmail (Debian `fetchmail`) downloads through mailroom-mra: in plain POP3 on loopback
//! and over implicit TLS, keeping mail on the server and remembering UIDLs, so that a second
//! run downloads only what arrived since; then without `keep`, emptying the maildrop.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{Mra, PASSWORD, REPLY_TIMEOUT, database, deliver, maildir, names, output_within, require};

/// Runs fetchmail with `rc` (a poll entry); returns its exit status and output.
fn fetchmail(dir: &Path, rc: &str) -> (i32, String) {
    let rcfile = dir.join("fetchmailrc");
    fs::write(&rcfile, rc).unwrap();
    fs::set_permissions(&rcfile, fs::Permissions::from_mode(0o600)).unwrap();
    let out = output_within(
        Command::new("fetchmail")
            .arg("-f")
            .arg(&rcfile)
            .arg("--idfile")
            .arg(dir.join("fetchids"))
            .args(["--nodetach", "--nosyslog", "-v"])
            .env("HOME", dir)
            .env("FETCHMAILHOME", dir),
        b"",
        REPLY_TIMEOUT,
    );
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// A poll entry for bob on `port`; messages go to files in `out`.
fn poll(port: u16, out: &Path, options: &str) -> String {
    format!(
        "poll 127.0.0.1 service {port} protocol pop3 uidl:\n  \
         user \"bob@b.test\" there with password \"{PASSWORD}\" is root here\n  \
         {options}\n  mda \"/bin/sh -c 'cat > {}/msg.$$'\"\n",
        out.display()
    )
}

fn downloaded(out: &Path) -> Vec<String> {
    names(out)
        .iter()
        .map(|n| fs::read_to_string(out.join(n)).unwrap())
        .map(|m| m.lines().find(|l| l.starts_with("Subject: ")).unwrap_or("?").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn fetchmail_downloads_once_then_only_new_mail() {
    require("fetchmail", &["--version"], "fetchmail");
    let db = database().await;
    let root = maildir(&db, "bob");
    deliver(&root, "one", "first\n");
    deliver(&root, "two", ".dot\nsecond\n");
    let mra = Mra::start(&db, "");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();

    // Plain POP3 on loopback (no STLS: sslproto ''), mail kept on the server.
    let rc = poll(mra.pop3, &out, "keep\n  sslproto ''");
    let (code, log) = fetchmail(tmp.path(), &rc);
    assert_eq!(code, 0, "{log}\n{}", mra.log());
    let mut got = downloaded(&out);
    got.sort();
    assert_eq!(got, ["Subject: one", "Subject: two"], "{log}");
    let two = names(&out)
        .iter()
        .map(|n| fs::read_to_string(out.join(n)).unwrap())
        .find(|m| m.contains("two"))
        .unwrap();
    assert!(two.contains("\n.dot\nsecond\n"), "dot-unstuffed: {two:?}");
    assert_eq!(mailstore::Mailbox::open(&root).unwrap().messages().len(), 2, "kept on the server");

    // Nothing new: fetchmail's exit status 1 means "no mail".
    let (code, log) = fetchmail(tmp.path(), &rc);
    assert_eq!(code, 1, "{log}");
    assert_eq!(names(&out).len(), 2);

    // One new message, over implicit TLS: only it is downloaded.
    deliver(&root, "three", "third\n");
    let rc_tls = poll(mra.pop3s, &out, "keep\n  ssl\n  no sslcertck");
    let (code, log) = fetchmail(tmp.path(), &rc_tls);
    assert_eq!(code, 0, "{log}\n{}", mra.log());
    assert_eq!(names(&out).len(), 3, "{log}");
    assert!(downloaded(&out).contains(&"Subject: three".to_string()));

    // Without keep, fetchmail deletes what it downloaded (all seen before, so it fetches all
    // again with --all).
    let (code, log) = fetchmail(tmp.path(), &poll(mra.pop3, &out, "fetchall\n  sslproto ''"));
    assert_eq!(code, 0, "{log}");
    assert_eq!(mailstore::Mailbox::open(&root).unwrap().messages().len(), 0, "{log}");
    assert!(names(&root.join("new")).is_empty() && names(&root.join("cur")).is_empty());
}
