//! `maildirsize` shared with Dovecot: what mailroom-mra wrote while serving APPEND, COPY, MOVE
//! and EXPUNGE is what a private Dovecot (quota plugin, maildir backend, `User quota`) reads as
//! its own, with the same usage and without recalculating; Dovecot counting the Maildir afresh
//! finds that usage too; and what Dovecot then appends, mailroom-mra reads back.
//!
//! As root, both run as `nobody` (uid 65534), as both run as `vmail` in production.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Mra, PASSWORD, database, free_port, is_root, maildir, require};

/// The limit both servers apply: 100 KiB.
const LIMIT: u64 = 100 * 1024;

/// A private Dovecot with the quota plugin serving one Maildir.
struct Dovecot {
    child: Child,
    imap: u16,
    dir: tempfile::TempDir,
}

impl Dovecot {
    fn start(maildir: &Path, uid: u32) -> Dovecot {
        let dir = testsupport::postfix::reachable_tempdir();
        let imap = free_port();
        let (login_user, internal_user) = if is_root() {
            ("dovenull".to_string(), "dovecot".to_string())
        } else {
            let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
            (me.trim().to_string(), me.trim().to_string())
        };
        let d = dir.path().display();
        let home = maildir.parent().unwrap().display();
        let conf = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
             log_path = {d}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain\n\
             mail_location = maildir:{maildir}\nmail_uid = {uid}\nmail_gid = {uid}\n\
             first_valid_uid = 0\nfirst_valid_gid = 0\n\
             default_login_user = {login_user}\ndefault_internal_user = {internal_user}\n\
             mail_plugins = quota\nprotocol imap {{\n  mail_plugins = $mail_plugins imap_quota\n}}\n\
             plugin {{\n  quota = maildir:User quota\n  quota_rule = *:storage={kib}K\n}}\n\
             passdb {{\n  driver = static\n  args = password={PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={uid} home={home}\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n",
            maildir = maildir.display(),
            kib = LIMIT / 1024,
        );
        let path = dir.path().join("dovecot.conf");
        fs::write(&path, conf).unwrap();
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot (apt-get install dovecot-core dovecot-imapd)");
        let dc = Dovecot { child, imap, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", imap)).is_err() {
            assert!(Instant::now() < deadline, "Dovecot did not listen: {}", dc.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        dc
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let (user, uid) = if is_root() {
        ("nobody".to_string(), 65534)
    } else {
        (String::new(), fs::metadata("/proc/self").unwrap().uid())
    };
    fs::set_permissions(db.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for d in [db.mail_root(), db.mail_root().join("b.test"), db.mail_root().join("b.test/carol")] {
        fs::create_dir_all(&d).unwrap();
        chown(&d, Some(uid), Some(uid)).unwrap();
    }
    let root = maildir(&db, "carol");

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
    let dovecot = Dovecot::start(&root, uid);
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
