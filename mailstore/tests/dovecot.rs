//! Dovecot reads what we write: folder names, message files with `,S=` and `,W=`, `maildirsize`.
//!
//! Runs the installed `doveadm` (Debian `dovecot-core`) against a private config with a static
//! user, no running Dovecot needed. As root the Maildir belongs to nobody (65534), which also
//! tests [`Ownership`]: Dovecot refuses to touch mail as root.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::Path;
use std::process::Command;

use mailstore::{Delivered, FolderName, Maildir, Ownership, Quota, quota};
use support::{Lines, is_root};

const LIMIT: Quota = Quota { bytes: 10 * 1024 * 1024, messages: 100 };

/// Runs `doveadm -c <conf> <args>` for the static user and returns stdout; fails on any error.
fn doveadm(home: &Path, args: &[&str]) -> String {
    let out = Command::new("doveadm")
        .arg("-c")
        .arg(home.join("dovecot.conf"))
        .args(args)
        .env("USER", "test")
        .env("HOME", home)
        .output()
        .unwrap_or_else(|e| panic!("cannot run doveadm ({e}): install Debian's dovecot-core"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "doveadm {args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// A Dovecot config for one static user whose Maildir is `home/Maildir`, with Maildir++ quota.
fn write_config(home: &Path, uid: u32, gid: u32) {
    let h = home.display();
    let conf = format!(
        "mail_location = maildir:{h}/Maildir\nbase_dir = {h}/run\nstate_dir = {h}/state\n\
         log_path = /dev/stderr\nssl = no\nmail_uid = {uid}\nmail_gid = {gid}\n\
         first_valid_uid = 0\nfirst_valid_gid = 0\n\
         namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
         mail_plugins = quota\nplugin {{\n  quota = maildir:User quota\n  \
         quota_rule = *:storage={}B:messages={}\n}}\n",
        LIMIT.bytes, LIMIT.messages
    );
    fs::write(home.join("dovecot.conf"), conf).unwrap();
}

/// Rows of a `doveadm -f tab` table as maps from column name to value.
fn table(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines.map(|l| head.iter().map(|h| h.to_string()).zip(l.split('\t').map(String::from)).collect()).collect()
}

/// Delivers and records the message in `maildirsize`, as the MDA will.
fn deliver(md: &Maildir, folder: Option<&str>, prefix: &[u8], body: &mut dyn std::io::Read) -> Delivered {
    let folder = folder.map(|f| FolderName::new(f).unwrap());
    quota::check(md, LIMIT, 0).unwrap();
    let d = md.deliver(folder.as_ref(), prefix, body).unwrap();
    quota::add(md, LIMIT, d.size as i64, 1).unwrap();
    d
}

#[test]
fn dovecot_reads_our_maildir() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let (mut md, uid, gid) =
        (Maildir::new(home.join("Maildir")), nix::unistd::geteuid(), nix::unistd::getegid());
    let (uid, gid) = if is_root() {
        fs::set_permissions(home, fs::Permissions::from_mode(0o755)).unwrap();
        md = md.with_owner(Ownership { uid: 65534, gid: 65534 });
        (65534, 65534)
    } else {
        (uid.as_raw(), gid.as_raw())
    };
    write_config(home, uid, gid);

    let prefix = b"Return-Path: <a@example.org>\r\nDelivered-To: b@example.net\r\n";
    let mut ours = vec![
        deliver(&md, None, prefix, &mut &b"Subject: one\r\n\r\nbare\rCR, bare\nLF, CR CR LF\r\r\n"[..]),
        deliver(&md, None, b"", &mut Lines::new(3000)),
        deliver(&md, Some("Lists/Rust"), prefix, &mut &b"Subject: rust\r\n\r\nfearless\r\n"[..]),
        deliver(&md, Some("Entwürfe"), b"", &mut &b"Subject: draft\r\n\r\n\r\n"[..]),
    ];
    assert_eq!(fs::metadata(&ours[0].path).unwrap().uid(), uid, "owner");

    let list: BTreeSet<String> = doveadm(home, &["mailbox", "list"]).lines().map(String::from).collect();
    for name in ["INBOX", "Lists/Rust", "Entwürfe"] {
        assert!(list.contains(name), "{name} not in {list:?}");
    }

    // Copies without ,S= and ,W= make Dovecot count both sizes itself from the content.
    let plain = FolderName::new("Plain").unwrap();
    md.create_folder(&plain).unwrap();
    for d in ours.clone() {
        let name = d.path.file_name().unwrap().to_str().unwrap();
        let base = name.split(',').next().unwrap();
        let copy = md.folder_path(Some(&plain)).join("cur").join(format!("{base}P:2,"));
        fs::copy(&d.path, &copy).unwrap();
        chown(&copy, Some(uid), Some(gid)).unwrap();
        ours.push(Delivered { path: copy, ..d });
    }

    let rows = table(&doveadm(home, &["-f", "tab", "fetch", "guid size.physical size.virtual", "all"]));
    assert_eq!(rows.len(), ours.len(), "{rows:?}");
    for d in &ours {
        let guid = d.path.file_name().unwrap().to_str().unwrap().split(':').next().unwrap();
        let row = rows.iter().find(|r| r["guid"] == guid).unwrap_or_else(|| panic!("{guid} not in {rows:?}"));
        assert_eq!(row["size.physical"], d.size.to_string(), "{guid}");
        assert_eq!(row["size.virtual"], d.vsize.to_string(), "{guid}");
    }

    let text = doveadm(home, &["fetch", "text", "mailbox", "Lists/Rust", "all"]);
    assert_eq!(text.strip_prefix("text:\n"), Some(fs::read_to_string(&ours[2].path).unwrap().as_str()));

    check_quota(home, &md);
}

/// Dovecot agrees with our `maildirsize`, and its rebuild equals ours byte for byte.
fn check_quota(home: &Path, md: &Maildir) {
    let usage = quota::usage(md, LIMIT).unwrap(); // the Plain copies are not in it yet
    let rows = table(&doveadm(home, &["-f", "tab", "quota", "get"]));
    let messages = rows.iter().find(|r| r["Type"] == "MESSAGE").unwrap();
    assert_eq!(messages["Value"], usage.messages.to_string(), "{rows:?}");
    let storage = rows.iter().find(|r| r["Type"] == "STORAGE").unwrap();
    assert_eq!(storage["Value"], usage.bytes.div_ceil(1024).to_string(), "{rows:?}");

    let file = md.root().join("maildirsize");
    fs::remove_file(&file).unwrap();
    let rebuilt = quota::usage(md, LIMIT).unwrap();
    assert_eq!(rebuilt.messages, usage.messages * 2);
    let ours = fs::read_to_string(&file).unwrap();
    fs::remove_file(&file).unwrap();
    doveadm(home, &["quota", "recalc"]);
    assert_eq!(fs::read_to_string(&file).unwrap(), ours);
}
