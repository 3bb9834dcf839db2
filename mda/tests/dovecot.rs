//! Dovecot reads what mailroom-mda delivered (DESIGN §3: "Dovecot can serve what mailroom
//! wrote"): messages stored over LMTP and by `mailroom-mda deliver`, in INBOX, a detail folder,
//! a nested folder and a folder with a non-ASCII name, are listed, counted and fetched by the
//! installed `doveadm` (Debian `dovecot-core`), and Dovecot's quota agrees with `maildirsize`.
//!
//! As root, mailroom-mda runs as `nobody` (uid 65534), as it runs as `vmail` in production, so
//! the Maildir belongs to nobody, and doveadm opens it with `mail_uid = 65534` (Dovecot refuses
//! to touch mail as root). Unprivileged, everything runs as the invoking user. No Dovecot
//! service runs: doveadm reads a private config for one static user.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Mda, MdaOptions, files, is_root, lmtp_message, output_within};
use testsupport::{Backend, TestDb};

/// bob's quota in bytes (postfixadmin's `mailbox.quota`); Dovecot's quota_rule says the same.
const QUOTA: u64 = 10 * 1024 * 1024;
/// How long one doveadm command may take.
const DOVEADM_TIMEOUT: Duration = Duration::from_secs(30);

fn fixtures() -> [String; 2] {
    [
        "INSERT INTO domain (domain) VALUES ('b.test')".into(),
        format!(
            "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
             ('bob@b.test', '{{PLAIN}}x', 'b.test/bob/', {QUOTA}, 'bob', 'b.test')"
        ),
    ]
}

/// doveadm for bob's Maildir with a private config; no Dovecot service involved.
struct Doveadm {
    conf: PathBuf,
    home: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Doveadm {
    fn new(maildir: &Path, uid: u32, gid: u32) -> Doveadm {
        let tmp = testsupport::postfix::reachable_tempdir();
        let d = tmp.path().display();
        let conf = tmp.path().join("dovecot.conf");
        fs::write(
            &conf,
            format!(
                "mail_location = maildir:{}\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
                 log_path = /dev/stderr\nssl = no\nmail_uid = {uid}\nmail_gid = {gid}\n\
                 first_valid_uid = 0\nfirst_valid_gid = 0\n\
                 namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
                 mail_plugins = quota\nplugin {{\n  quota = maildir:User quota\n  \
                 quota_rule = *:storage={QUOTA}B\n}}\n",
                maildir.display()
            ),
        )
        .unwrap();
        let home = maildir.parent().unwrap().to_path_buf();
        Doveadm { conf, home, _tmp: tmp }
    }

    /// `doveadm -c CONF ARGS` for the static user; returns stdout, panics on any error output.
    fn run(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("doveadm");
        cmd.arg("-c").arg(&self.conf).args(args).env("USER", "bob@b.test").env("HOME", &self.home);
        let out = output_within(&mut cmd, b"", DOVEADM_TIMEOUT);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.is_empty(), "doveadm {args:?}: {}\n{stderr}", out.status);
        String::from_utf8(out.stdout).unwrap()
    }

    /// `doveadm -f tab ARGS` as rows mapping column names to values.
    fn table(&self, args: &[&str]) -> Vec<HashMap<String, String>> {
        let text = self.run(&[&["-f", "tab"], args].concat());
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        lines
            .map(|l| head.iter().map(|h| h.to_string()).zip(l.split('\t').map(String::from)).collect())
            .collect()
    }

    /// Messages in each mailbox, by Dovecot's count.
    fn counts(&self) -> BTreeMap<String, String> {
        self.table(&["mailbox", "status", "messages", "*"])
            .into_iter()
            .map(|r| (r["mailbox"].clone(), r["messages"].clone()))
            .collect()
    }
}

/// Totals of a `maildirsize` file: the limit line, then the sum of the bytes and counts.
fn maildirsize(root: &Path) -> (String, i64, i64) {
    let text = fs::read_to_string(root.join("maildirsize")).unwrap();
    let mut lines = text.lines();
    let limits = lines.next().unwrap().to_string();
    let (mut bytes, mut count) = (0, 0);
    for l in lines {
        let (b, c) = l.split_once(' ').unwrap_or_else(|| panic!("maildirsize line {l:?}"));
        bytes += b.parse::<i64>().unwrap();
        count += c.parse::<i64>().unwrap();
    }
    (limits, bytes, count)
}

/// Dovecot's quota equals what maildirsize says (STORAGE is in KiB, rounded up).
fn assert_quota_agrees(doveadm: &Doveadm, root: &Path) {
    let (limits, bytes, count) = maildirsize(root);
    let rows = doveadm.table(&["quota", "get"]);
    let storage = rows.iter().find(|r| r["Type"] == "STORAGE").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(storage["Value"], (bytes as u64).div_ceil(1024).to_string(), "{limits} {bytes} {rows:?}");
    assert_eq!(storage["Limit"], (QUOTA / 1024).to_string(), "{rows:?}");
    let messages = rows.iter().find(|r| r["Type"] == "MESSAGE").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(messages["Value"], count.to_string(), "{rows:?}");
}

/// Gives the database and the mail root to `uid`, so the daemon can use them after it drops
/// root: the test's temporary directory becomes traversable, the SQLite file readable.
fn hand_over(db: &TestDb, uid: u32) {
    fs::set_permissions(db.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(db.mail_root()).unwrap();
    chown(db.mail_root(), Some(uid), Some(uid)).unwrap();
}

fn send(mda: &Mda, rcpt: &str, subject: &str, body: &str) {
    let msg = format!("From: a@x.test\nTo: {rcpt}\nSubject: {subject}\n\n{body}\n");
    let replies = lmtp_message(&mda.socket, "a@x.test", &[rcpt], 1, &msg);
    assert_eq!(replies, [format!("250 2.0.0 <{rcpt}> Saved")], "{}", mda.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_reads_what_mda_delivered() {
    common::require("doveadm", &["-c", "/dev/null", "help"], "dovecot-core");
    let fixtures = fixtures();
    let fixtures: Vec<&str> = fixtures.iter().map(String::as_str).collect();
    let db = common::database(Backend::Sqlite, &fixtures).await;
    let (user, uid) = if is_root() {
        ("nobody".to_string(), 65534)
    } else {
        let uid = fs::metadata("/proc/self").unwrap().uid();
        eprintln!("NOTE: not root: mailroom-mda and doveadm run as the invoking user (uid {uid})");
        (String::new(), uid)
    };
    hand_over(&db, uid);
    let mda = Mda::start_with(
        &db,
        MdaOptions { user, extra: "save_to_detail_mailbox = true".into(), ..Default::default() },
    );
    let root = db.mail_root().join("b.test/bob/Maildir");
    let doveadm = Doveadm::new(&root, uid, uid);

    // Over LMTP into INBOX, which mailroom-mda creates.
    send(&mda, "bob@b.test", "one", "first body\n.leading dot");
    send(&mda, "bob@b.test", "two", "second body");
    for p in [root.clone(), root.join("new"), files(&root.join("new"))[0].clone(), root.join("maildirsize")] {
        assert_eq!(fs::metadata(&p).unwrap().uid(), uid, "{} belongs to the daemon's user", p.display());
    }
    // File names sort by time only roughly (the microseconds are not zero-padded).
    let first = files(&root.join("new"))
        .iter()
        .map(|f| fs::read_to_string(f).unwrap())
        .find(|m| m.contains("\nSubject: one\n"))
        .expect("message one in new/");
    assert!(first.starts_with("Return-Path: <a@x.test>\nDelivered-To: bob@b.test\n"), "{first}");

    // A folder Dovecot creates, filled by a detail address.
    doveadm.run(&["mailbox", "create", "lists"]);
    send(&mda, "bob+lists@b.test", "three", "for the list");
    assert_eq!(files(&root.join(".lists/new")).len(), 1, "{}", mda.log());

    // The deliver command, as Postfix's pipe(8) runs it (user=nobody), into folders it creates.
    let as_uid = is_root().then_some(uid);
    for (folder, subject) in [("Archive/2026", "archived"), ("Entwürfe", "draft")] {
        let msg = format!("From: a@x.test\nSubject: {subject}\n\nfiled\n");
        let (code, stderr) = mda.deliver(as_uid, "a@x.test", "bob@b.test", &["-m", folder], &msg);
        assert_eq!(code, 0, "deliver -m {folder}: {stderr}");
    }
    assert_eq!(files(&root.join(".Archive.2026/new")).len(), 1);
    assert_eq!(files(&root.join(".Entw&APw-rfe/new")).len(), 1, "modified UTF-7 on disk");
    assert!(root.join(".Entw&APw-rfe/maildirfolder").is_file());
    for p in [root.join(".Archive.2026"), files(&root.join(".Archive.2026/new"))[0].clone()] {
        assert_eq!(fs::metadata(&p).unwrap().uid(), uid, "{} belongs to the mail user", p.display());
    }

    // Dovecot sees every folder, under its Unicode name, with the right counts.
    let list = doveadm.run(&["mailbox", "list"]);
    let list: Vec<&str> = list.lines().collect();
    for name in ["INBOX", "lists", "Archive/2026", "Entwürfe"] {
        assert!(list.contains(&name), "{name} not in {list:?}");
    }
    let want = |inbox: &str| {
        BTreeMap::from(
            [("INBOX", inbox), ("lists", "1"), ("Archive/2026", "1"), ("Entwürfe", "1")]
                .map(|(k, v)| (k.to_string(), v.to_string())),
        )
    };
    let mut counts = doveadm.counts();
    counts.retain(|_, n| n != "0"); // the parent "Archive" is listed as a mailbox without mail
    assert_eq!(counts, want("2"));

    // Each message where it belongs, and Dovecot agrees with the sizes in the file names.
    let rows = doveadm.table(&["fetch", "mailbox hdr.subject guid size.physical size.virtual", "all"]);
    let mut placed: Vec<(String, String)> =
        rows.iter().map(|r| (r["mailbox"].clone(), r["hdr.subject"].clone())).collect();
    placed.sort();
    let mut want_placed = [
        ("Archive/2026", "archived"),
        ("Entwürfe", "draft"),
        ("INBOX", "one"),
        ("INBOX", "two"),
        ("lists", "three"),
    ]
    .map(|(m, s)| (m.to_string(), s.to_string()));
    want_placed.sort();
    assert_eq!(placed, want_placed);
    for r in &rows {
        let file = find_message(&root, &r["guid"]);
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.contains(&format!(",S={},W={}", r["size.physical"], r["size.virtual"])), "{name} {r:?}");
        assert_eq!(fs::metadata(&file).unwrap().len().to_string(), r["size.physical"], "{name}");
    }

    // The content Dovecot serves is what was stored, headers and dot-unstuffed body included.
    let text = doveadm.run(&["fetch", "text", "mailbox", "INBOX", "header", "Subject", "one"]);
    assert_eq!(text.strip_prefix("text:\n"), Some(first.as_str()));
    assert!(first.ends_with("\n\nfirst body\n.leading dot\n"), "{first:?}");

    // Dovecot's quota agrees with maildirsize, which it accepts as it is.
    let before = fs::read_to_string(root.join("maildirsize")).unwrap();
    assert!(before.starts_with(&format!("{QUOTA}S\n")), "{before}");
    assert_quota_agrees(&doveadm, &root);
    assert_eq!(fs::read_to_string(root.join("maildirsize")).unwrap(), before, "Dovecot rebuilt it");
    let (_, bytes, count) = maildirsize(&root);
    assert_eq!(count, 5);

    // Dovecot recounts from the messages themselves: the same totals.
    doveadm.run(&["quota", "recalc"]);
    assert_eq!(maildirsize(&root).1, bytes, "Dovecot's recount");

    // After Dovecot has indexed the Maildir (dovecot-uidlist, cur/), mailroom-mda delivers
    // into it again: Dovecot sees the new message with the next UID, and the quota still agrees.
    let uids = |d: &Doveadm| {
        let rows = d.table(&["fetch", "uid", "mailbox", "INBOX", "all"]);
        rows.iter().map(|r| r["uid"].parse::<u32>().unwrap()).collect::<Vec<_>>()
    };
    let old = uids(&doveadm);
    assert!(root.join("dovecot-uidlist").is_file());
    send(&mda, "bob@b.test", "four", "after Dovecot");
    let mut counts = doveadm.counts();
    counts.retain(|_, n| n != "0");
    assert_eq!(counts, want("3"));
    let new = uids(&doveadm);
    assert_eq!(new.len(), 3);
    assert!(new[2] > *old.iter().max().unwrap(), "{old:?} then {new:?}");
    assert_quota_agrees(&doveadm, &root);
    assert_eq!(maildirsize(&root).2, 6);
}

/// The message file whose name up to the `:2,` info is `guid`: Dovecot's GUID for Maildir mail
/// that has none in dovecot-uidlist.
fn find_message(root: &Path, guid: &str) -> PathBuf {
    let mut dirs = vec![root.to_path_buf()];
    for e in fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with('.') && p.is_dir() {
            dirs.push(p);
        }
    }
    dirs.iter()
        .flat_map(|d| [d.join("new"), d.join("cur")])
        .flat_map(|d| files(&d))
        .find(|f| f.file_name().unwrap().to_str().unwrap().split(':').next() == Some(guid))
        .unwrap_or_else(|| panic!("no message file for GUID {guid} under {}", root.display()))
}
