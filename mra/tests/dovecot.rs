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
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Mra, PASSWORD, database, free_port, is_root, maildir, python, require};

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

/// A private Dovecot serving POP3 for one static user whose Maildir is `maildir`.
struct Dovecot {
    child: Option<Child>,
    port: u16,
    conf: PathBuf,
    home: PathBuf,
    dir: tempfile::TempDir,
}

impl Dovecot {
    fn config(maildir: &Path, uid: u32, dir: &Path, port: u16) -> String {
        let (login_user, internal_user) = if is_root() {
            ("dovenull".to_string(), "dovecot".to_string())
        } else {
            let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
            (me.trim().to_string(), me.trim().to_string())
        };
        let d = dir.display();
        let home = maildir.parent().unwrap().display();
        format!(
            "protocols = pop3\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
             log_path = {d}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain\n\
             mail_location = maildir:{maildir}\nmail_uid = {uid}\nmail_gid = {uid}\n\
             first_valid_uid = 0\nfirst_valid_gid = 0\n\
             default_login_user = {login_user}\ndefault_internal_user = {internal_user}\n\
             passdb {{\n  driver = static\n  args = password={PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={uid} home={home}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = {port}\n  }}\n  \
             inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
             namespace inbox {{\n  inbox = yes\n}}\n",
            maildir = maildir.display(),
        )
    }

    /// Writes the config; the daemon is not started yet.
    fn new(maildir: &Path, uid: u32) -> Dovecot {
        let dir = testsupport::postfix::reachable_tempdir();
        let port = free_port();
        let conf = dir.path().join("dovecot.conf");
        fs::write(&conf, Dovecot::config(maildir, uid, dir.path(), port)).unwrap();
        Dovecot { child: None, port, conf, home: maildir.parent().unwrap().to_path_buf(), dir }
    }

    /// `doveadm ARGS` for bob@b.test with `input` on stdin; panics on failure.
    fn doveadm(&self, args: &[&str], input: &str) {
        let mut child = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .env("USER", "bob@b.test")
            .env("HOME", &self.home)
            .current_dir(&self.home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("doveadm (apt-get install dovecot-core)");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.is_empty(), "doveadm {args:?}: {}\n{stderr}", out.status);
    }

    /// Starts the daemon in the foreground and waits for its POP3 port.
    fn start(&mut self) {
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot (apt-get install dovecot-core dovecot-pop3d)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "Dovecot did not listen: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after 20 s) and waits for it.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

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
    let (user, uid) = if is_root() {
        ("nobody".to_string(), 65534)
    } else {
        let uid = fs::metadata("/proc/self").unwrap().uid();
        eprintln!("NOTE: not root: Dovecot and mailroom-mra run as the invoking user (uid {uid})");
        (String::new(), uid)
    };
    fs::set_permissions(db.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(db.mail_root()).unwrap();
    for d in [db.mail_root(), db.mail_root().join("b.test"), db.mail_root().join("b.test/bob")] {
        fs::create_dir_all(&d).unwrap();
        chown(&d, Some(uid), Some(uid)).unwrap();
    }
    let root = maildir(&db, "bob");
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
