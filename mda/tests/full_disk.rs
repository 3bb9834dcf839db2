//! A full disk is temporary trouble (DESIGN §5): mailroom-mda answers 452 4.3.1 for each
//! recipient whose copy does not fit, leaves no partial file behind, and delivers again once
//! there is room.
//!
//! As root the mail root is a 512 KiB tmpfs, so the kernel's ENOSPC comes from a real
//! filesystem. Unprivileged, no tmpfs can be mounted: the test says so on stderr and checks the
//! other write failure every user can provoke, a file size limit that the spool hits
//! ([`failed_spool_write_is_a_temporary_failure`] runs that in any case).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Mda, MdaOptions, files, is_root, lmtp_message};
use testsupport::{Backend, TestDb};

const FIXTURES: [&str; 2] = [
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('bob@b.test', '{PLAIN}x', 'b.test/bob/', 0, 'bob', 'b.test'), \
     ('carol@b.test', '{PLAIN}x', 'b.test/carol/', 0, 'carol', 'b.test')",
];

/// The tmpfs size: room for one 300 KiB message, not for two, nor for one of 1 MiB.
const TMPFS_SIZE: &str = "512k";

/// A tmpfs mounted for one test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` at `dir`; panics when that fails.
    fn tmpfs(dir: &Path, size: &str) -> Mount {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount ({e}): apt-get install mount"));
        assert!(
            out.status.success(),
            "mount -t tmpfs {}: {} (root without CAP_SYS_ADMIN?)",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Mount(dir.to_owned())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !ok {
            // Busy (a process still in there): detach it so the temporary directory can go.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// A message of about `bytes` on the wire: headers and 76-character lines.
fn message(subject: &str, bytes: usize) -> String {
    let line = "x".repeat(76);
    let mut m = format!("From: a@x.test\nSubject: {subject}\n\n");
    while m.len() < bytes {
        m.push_str(&line);
        m.push('\n');
    }
    m
}

fn maildir(db: &TestDb, user: &str) -> PathBuf {
    db.mail_root().join("b.test").join(user).join("Maildir")
}

/// Neither new/ nor tmp/ of `user`'s Maildir holds anything.
fn assert_empty(db: &TestDb, user: &str, mda: &Mda) {
    for sub in ["new", "tmp"] {
        let dir = maildir(db, user).join(sub);
        assert!(files(&dir).is_empty(), "{}: {:?}\n{}", dir.display(), files(&dir), mda.log());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn full_mail_root_is_a_temporary_failure() {
    if !is_root() {
        eprintln!(
            "NOTE: not root, so no tmpfs can be mounted as the mail root: testing a write that \
             fails on a file size limit (the spool) instead of a full filesystem"
        );
        return spool_write_fails().await;
    }
    let db = common::database(Backend::Sqlite, &FIXTURES).await;
    fs::create_dir_all(db.mail_root()).unwrap();
    let _mount = Mount::tmpfs(&db.mail_root(), TMPFS_SIZE);
    // Declared after the mount: the daemon stops before the unmount.
    let mda = Mda::start(&db, "");

    // 1 MiB cannot fit: 452 4.3.1, and nothing left behind.
    let big = message("big", 1024 * 1024);
    let replies = lmtp_message(&mda.socket, "a@x.test", &["bob@b.test"], 1, &big);
    assert_eq!(replies, ["452 4.3.1 <bob@b.test> Mail system full, try again later"], "{}", mda.log());
    assert_empty(&db, "bob", &mda);

    // 300 KiB for two: the first copy fits, the second does not; one reply each.
    let mid = message("mid", 300 * 1024);
    let replies = lmtp_message(&mda.socket, "a@x.test", &["bob@b.test", "carol@b.test"], 2, &mid);
    assert_eq!(
        replies,
        ["250 2.0.0 <bob@b.test> Saved", "452 4.3.1 <carol@b.test> Mail system full, try again later"],
        "{}",
        mda.log()
    );
    assert_eq!(files(&maildir(&db, "bob").join("new")).len(), 1);
    assert_empty(&db, "carol", &mda);

    // The space the failed copy took came back: a small message still fits.
    let small = message("small", 20 * 1024);
    let replies = lmtp_message(&mda.socket, "a@x.test", &["carol@b.test"], 1, &small);
    assert_eq!(replies, ["250 2.0.0 <carol@b.test> Saved"], "{}", mda.log());
    let got = files(&maildir(&db, "carol").join("new"));
    assert_eq!(got.len(), 1);
    assert!(fs::read_to_string(&got[0]).unwrap().contains("Subject: small\n"));
    assert!(files(&maildir(&db, "carol").join("tmp")).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_spool_write_is_a_temporary_failure() {
    spool_write_fails().await;
}

/// mailroom-mda under `ulimit -f` (128 KiB): a 300 KiB message fails while it is spooled, so
/// every recipient gets 452 4.3.1 and nothing reaches a Maildir; a small message goes through.
async fn spool_write_fails() {
    let db = common::database(Backend::Sqlite, &FIXTURES).await;
    let mda = Mda::start_with(&db, MdaOptions { file_size_blocks: Some(256), ..Default::default() });

    let big = message("big", 300 * 1024);
    let replies = lmtp_message(&mda.socket, "a@x.test", &["bob@b.test", "carol@b.test"], 2, &big);
    let full = "452 4.3.1 Temporary failure writing the message";
    assert_eq!(replies, [full, full], "{}", mda.log());
    assert_empty(&db, "bob", &mda);
    assert_empty(&db, "carol", &mda);

    // The session and the daemon go on.
    let small = message("small", 8 * 1024);
    let replies = lmtp_message(&mda.socket, "a@x.test", &["bob@b.test"], 1, &small);
    assert_eq!(replies, ["250 2.0.0 <bob@b.test> Saved"], "{}", mda.log());
    assert_eq!(files(&maildir(&db, "bob").join("new")).len(), 1);
}
