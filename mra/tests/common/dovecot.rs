//! A private Dovecot instance (Debian `dovecot-core`, `dovecot-pop3d`, `dovecot-imapd`) on
//! free loopback ports, for the tests that check Dovecot and mailroom-mra take turns on one
//! Maildir.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{PASSWORD, free_port, is_root, maildir};

/// A private Dovecot serving POP3 and IMAP for one static user whose Maildir is `maildir`.
pub struct Dovecot {
    child: Option<Child>,
    /// Its POP3 port.
    pub port: u16,
    /// Its IMAP port.
    pub imap: u16,
    conf: PathBuf,
    home: PathBuf,
    dir: tempfile::TempDir,
}

impl Dovecot {
    fn config(maildir: &Path, uid: u32, dir: &Path, port: u16, imap: u16, extra: &str) -> String {
        let (login_user, internal_user) = if is_root() {
            ("dovenull".to_string(), "dovecot".to_string())
        } else {
            let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
            (me.trim().to_string(), me.trim().to_string())
        };
        let d = dir.display();
        let home = maildir.parent().unwrap().display();
        format!(
            "protocols = pop3 imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
             log_path = {d}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain\n\
             mail_location = maildir:{maildir}\nmail_uid = {uid}\nmail_gid = {uid}\n\
             first_valid_uid = 0\nfirst_valid_gid = 0\n\
             default_login_user = {login_user}\ndefault_internal_user = {internal_user}\n\
             passdb {{\n  driver = static\n  args = password={PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={uid} home={home}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = {port}\n  }}\n  \
             inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n{extra}",
            maildir = maildir.display(),
        )
    }

    /// Writes the config; the daemon is not started yet.
    pub fn new(maildir: &Path, uid: u32) -> Dovecot {
        Dovecot::with(maildir, uid, "")
    }

    /// The same with `extra` configuration lines at the end (plugins, say).
    pub fn with(maildir: &Path, uid: u32, extra: &str) -> Dovecot {
        let dir = testsupport::postfix::reachable_tempdir();
        let (port, imap) = (free_port(), free_port());
        let conf = dir.path().join("dovecot.conf");
        fs::write(&conf, Dovecot::config(maildir, uid, dir.path(), port, imap, extra)).unwrap();
        Dovecot { child: None, port, imap, conf, home: maildir.parent().unwrap().to_path_buf(), dir }
    }

    /// `doveadm ARGS` for bob@b.test with `input` on stdin; panics on failure.
    pub fn doveadm(&self, args: &[&str], input: &str) {
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
    pub fn start(&mut self) {
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot (apt-get install dovecot-core dovecot-pop3d dovecot-imapd)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", self.imap)).is_err()
        {
            assert!(Instant::now() < deadline, "Dovecot did not listen: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after 20 s) and waits for it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

/// The Maildir of `user`@b.test made ready for a private Dovecot and mailroom-mra to take
/// turns on: as root both run as `nobody` (as both run as `vmail` in production), else as
/// ourselves. The user to give mailroom-mra (`""`: stay), the uid, the Maildir.
pub fn shared_maildir(db: &testsupport::TestDb, user: &str) -> (String, u32, PathBuf) {
    let (name, uid) = if is_root() {
        ("nobody".to_string(), 65534)
    } else {
        (String::new(), fs::metadata("/proc/self").unwrap().uid())
    };
    fs::set_permissions(db.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for d in [db.mail_root(), db.mail_root().join("b.test"), db.mail_root().join(format!("b.test/{user}"))] {
        fs::create_dir_all(&d).unwrap();
        chown(&d, Some(uid), Some(uid)).unwrap();
    }
    (name, uid, maildir(db, user))
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}
