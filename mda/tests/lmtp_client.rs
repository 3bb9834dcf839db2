//! The smtp crate's LMTP client (what mailroom-mta's queue manager delivers with) against the
//! two LMTP servers it must work with: the real `mailroom-mda` on its Unix socket, over a
//! fresh MariaDB, and a private Dovecot LMTP (`dovecot-lmtpd`). Per-recipient replies come
//! back in order, and the Maildirs hold the messages, dot-unstuffed, with normalised line ends.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Mda, files, is_root, wait_until};
use smtp::client::{Client, Envelope, Outcome, Protocol, Recipient, Timeouts, connect_unix};
use testsupport::Backend;

const FIXTURES: [&str; 2] = [
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('bob@b.test', '{PLAIN}x', 'b.test/bob/', 0, 'bob', 'b.test'), \
     ('carol@b.test', '{PLAIN}x', 'b.test/carol/', 600, 'carol', 'b.test')",
];

/// A message with what a client must take care of: a line that starts with a dot, a bare LF
/// line end, 8-bit text, and no line end at the very end.
fn message(subject: &str, filler: usize) -> Vec<u8> {
    let filler = "x".repeat(filler);
    format!("From: a@x.test\r\nSubject: {subject}\r\n\r\n.dotted\r\nbare\nlf\r\nmé\r\n{filler}\r\n.\r\nend")
        .into_bytes()
}

/// What a Maildir holds for [`message`] (mailroom-mda and Dovecot both store LF line ends).
fn stored_body(filler: usize) -> String {
    format!("\n.dotted\nbare\nlf\nmé\n{}\n.\nend\n", "x".repeat(filler))
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope {
        sender: "a@x.test".into(),
        body_8bit: true,
        recipients: rcpts.iter().map(|r| Recipient::new(*r)).collect(),
        ..Default::default()
    }
}

fn replies(o: &Outcome) -> Vec<String> {
    o.recipients.iter().map(ToString::to_string).collect()
}

async fn lmtp(socket: &Path) -> Client<tokio::net::UnixStream> {
    let t = Timeouts::default();
    let stream = connect_unix(socket, t.connect).await.unwrap();
    Client::greet(stream, Protocol::Lmtp, "mta.test", t).await.unwrap()
}

/// The one message file in `dir`.
fn only_message(dir: &Path) -> String {
    let got = files(dir);
    assert_eq!(got.len(), 1, "{}: {got:?}", dir.display());
    fs::read_to_string(&got[0]).unwrap()
}

#[tokio::test]
async fn delivers_into_mailroom_mda() {
    let db = common::database(Backend::MariaDb, &FIXTURES).await;
    let mda = Mda::start(&db, "");
    let mut c = lmtp(&mda.socket).await;
    let caps = c.capabilities().clone();
    assert!(caps.pipelining && caps.enhanced_status_codes && caps.eightbitmime, "{caps:?}");

    // bob takes it, nobody is unknown (at RCPT), carol's quota is too small (after the data).
    let env = envelope(&["bob@b.test", "nobody@b.test", "carol@b.test", "bob+lists@b.test"]);
    let outcome = c.send(&env, &message("one", 700)[..]).await.unwrap();
    assert_eq!(outcome.mail, None);
    assert_eq!(
        replies(&outcome),
        [
            "250 2.0.0 <bob@b.test> Saved",
            "550 5.1.1 <nobody@b.test> User unknown",
            "552 5.2.2 <carol@b.test> Mailbox is full",
            "250 2.0.0 <bob+lists@b.test> Saved",
        ],
        "{}",
        mda.log()
    );
    let maildir = db.mail_root().join("b.test/bob/Maildir");
    assert_eq!(files(&maildir.join("new")).len(), 2, "{}", mda.log());
    assert!(files(&db.mail_root().join("b.test/carol/Maildir/new")).is_empty());

    // The same session, the next message: nobody accepted means no data, then one more.
    let outcome = c.send(&envelope(&["nobody@b.test"]), &b"never sent"[..]).await.unwrap();
    assert_eq!(replies(&outcome), ["550 5.1.1 <nobody@b.test> User unknown"]);
    let outcome = c.send(&envelope(&["carol@b.test"]), &message("two", 10)[..]).await.unwrap();
    assert_eq!(replies(&outcome), ["250 2.0.0 <carol@b.test> Saved"]);
    c.quit().await.unwrap();

    let carol = only_message(&db.mail_root().join("b.test/carol/Maildir/new"));
    assert!(carol.starts_with("Return-Path: <a@x.test>\nDelivered-To: carol@b.test\n"), "{carol}");
    assert!(carol.ends_with(&format!("Subject: two\n{}", stored_body(10))), "{carol:?}");
    for f in files(&maildir.join("new")) {
        let text = fs::read_to_string(f).unwrap();
        assert!(text.ends_with(&format!("Subject: one\n{}", stored_body(700))), "{text:?}");
    }
}

/// A private Dovecot serving LMTP on a socket in its own directory: passwd-file users bob and
/// carol (as `nobody`), Maildirs under `root`. Stopped by its pid on drop.
struct Dovecot {
    child: Child,
    socket: PathBuf,
    root: PathBuf,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Dovecot {
    fn start() -> Dovecot {
        common::require("/usr/sbin/dovecot", &["--version"], "dovecot-core");
        assert!(Path::new("/usr/lib/dovecot/lmtp").exists(), "apt-get install dovecot-lmtpd");
        assert!(is_root(), "Dovecot's master must start as root to deliver as the mail user");
        let tmp = testsupport::postfix::reachable_tempdir();
        let dir = tmp.path();
        let root = dir.join("vmail");
        fs::create_dir(&root).unwrap();
        chown(&root, Some(65534), Some(65534)).unwrap();
        let users = dir.join("users");
        let line = |u: &str| format!("{u}@b.test:{{PLAIN}}x:65534:65534::{}/b.test/{u}::\n", root.display());
        fs::write(&users, line("bob") + &line("carol")).unwrap();
        fs::set_permissions(&users, fs::Permissions::from_mode(0o644)).unwrap();
        let (d, u, r) = (dir.display(), users.display(), root.display());
        let conf = dir.join("dovecot.conf");
        fs::write(
            &conf,
            format!(
                "instance_name = mailroom-test-{pid}\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
                 log_path = {d}/dovecot.log\nprotocols = lmtp\nssl = no\n\
                 passdb {{\n  driver = passwd-file\n  args = {u}\n}}\n\
                 userdb {{\n  driver = passwd-file\n  args = {u}\n}}\n\
                 mail_location = maildir:{r}/%d/%n/Maildir\n\
                 service lmtp {{\n  unix_listener lmtp {{\n    mode = 0666\n  }}\n}}\n",
                pid = std::process::id(),
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let d =
            Dovecot { child, socket: dir.join("run/lmtp"), root, log: dir.join("dovecot.log"), _tmp: tmp };
        let up = wait_until(Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&d.socket).is_ok()
        });
        assert!(up, "Dovecot's LMTP socket did not appear: {}", d.log());
        d
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        if !wait_until(Duration::from_secs(10), || matches!(self.child.try_wait(), Ok(Some(_)))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn delivers_into_dovecot_lmtp() {
    let dovecot = Dovecot::start();
    let mut c = lmtp(&dovecot.socket).await;
    let caps = c.capabilities().clone();
    assert!(caps.pipelining && caps.enhanced_status_codes && caps.eightbitmime, "{caps:?}");

    let env = envelope(&["bob@b.test", "nobody@b.test", "carol@b.test"]);
    let outcome = c.send(&env, &message("one", 700)[..]).await.unwrap();
    let got = replies(&outcome);
    assert_eq!(got.len(), 3);
    // Dovecot: "250 2.0.0 <rcpt> <session-id> Saved", "550 5.1.1 <rcpt> User doesn't exist: ...".
    for (i, rcpt) in [(0, "bob@b.test"), (2, "carol@b.test")] {
        let r = &outcome.recipients[i];
        assert!(r.code == 250 && r.enhanced.as_deref() == Some("2.0.0"), "{got:?}\n{}", dovecot.log());
        assert!(r.text.starts_with(&format!("<{rcpt}> ")) && r.text.ends_with(" Saved"), "{got:?}");
    }
    let unknown = &outcome.recipients[1];
    assert_eq!((unknown.code, unknown.enhanced.as_deref()), (550, Some("5.1.1")), "{got:?}");
    assert!(unknown.text.contains("nobody@b.test"), "{got:?}");

    // Reused for a second message, to bob only.
    let outcome = c.send(&envelope(&["bob@b.test"]), &message("two", 10)[..]).await.unwrap();
    assert!(outcome.recipients[0].is_positive(), "{outcome:?}");
    c.quit().await.unwrap();

    let carol = only_message(&dovecot.root.join("b.test/carol/Maildir/new"));
    assert!(carol.ends_with(&format!("Subject: one\n{}", stored_body(700))), "{carol:?}");
    let bob = files(&dovecot.root.join("b.test/bob/Maildir/new"));
    let mut subjects: Vec<String> = bob
        .iter()
        .map(|f| fs::read_to_string(f).unwrap())
        .map(|m| if m.contains("\nSubject: two\n") { "two" } else { "one" }.to_string())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["one", "two"]);
    assert!(!dovecot.root.join("b.test/nobody").exists());
}
