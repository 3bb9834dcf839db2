//! Postfix delivers into mailroom-mda over LMTP (`virtual_transport = lmtp:unix:...`), the
//! seam of DESIGN §3: a private Postfix instance takes mail from swaks on 127.0.0.1 for the
//! virtual domain b.test and hands it to mailroom-mda, which writes the Maildirs.
//!
//! Needs root (Postfix's daemons start as root and switch to user `postfix`), the Debian packages
//! `postfix` and `swaks`; there is no silent skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Mda, files, wait_until};
use testsupport::postfix::{PostfixInstance, PostfixOptions};
use testsupport::{Backend, TestDb};

/// Postfix queues: how long a message may take from swaks to the Maildir.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long swaks may take for one message (its own timeout per command is 20 s).
const SWAKS_TIMEOUT: Duration = Duration::from_secs(60);

/// bob and carol have mailboxes; dave only exists in Postfix's map (a directory out of step).
const FIXTURES: [&str; 2] = [
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('bob@b.test', '{PLAIN}x', 'b.test/bob/', 0, 'bob', 'b.test'), \
     ('carol@b.test', '{PLAIN}x', 'b.test/carol/', 0, 'carol', 'b.test')",
];

/// A database, mailroom-mda on it (as root, detail folders on) and a Postfix that delivers
/// b.test into it.
struct Stack {
    db: TestDb,
    mda: Mda,
    postfix: PostfixInstance,
}

impl Stack {
    async fn start() -> Stack {
        common::require("swaks", &["--version"], "swaks");
        let db = common::database(Backend::Sqlite, &FIXTURES).await;
        let mda = Mda::start(&db, "save_to_detail_mailbox = true");
        let opts = PostfixOptions::default()
            .main("virtual_mailbox_domains", "b.test")
            .main("virtual_mailbox_maps", "inline:{ bob@b.test=ok, carol@b.test=ok, dave@b.test=ok }")
            .main("virtual_transport", &format!("lmtp:unix:{}", mda.socket.display()))
            .main("recipient_delimiter", "+")
            // Nothing leaves the machine: mail for other domains bounces at once.
            .main("default_transport", "error:no outbound mail in tests")
            .main("relay_transport", "error:no outbound mail in tests");
        let postfix = PostfixInstance::start(opts);
        Stack { db, mda, postfix }
    }

    fn maildir(&self, user: &str) -> PathBuf {
        self.db.mail_root().join("b.test").join(user).join("Maildir")
    }

    /// Submit with swaks; panics unless the SMTP dialogue succeeds.
    fn swaks(&self, from: &str, to: &str, subject: &str, body: &str) {
        let mut cmd = Command::new("swaks");
        cmd.args(["--server", &format!("127.0.0.1:{}", self.postfix.port())])
            .args(["--from", from, "--to", to, "--helo", "client.test", "--timeout", "20"])
            .args(["--header", &format!("Subject: {subject}"), "--body", body]);
        let out = common::output_within(&mut cmd, b"", SWAKS_TIMEOUT);
        assert!(
            out.status.success(),
            "swaks --to {to}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Wait until `dir` holds `n` files; panics with both logs when it does not in time.
    fn wait_files(&self, dir: &Path, n: usize) -> Vec<PathBuf> {
        let ok = wait_until(DELIVERY_TIMEOUT, || files(dir).len() >= n);
        let got = files(dir);
        assert!(ok && got.len() == n, "{} holds {got:?}, want {n} files\n{}", dir.display(), self.logs());
        got
    }

    fn logs(&self) -> String {
        format!("--- Postfix ---\n{}\n--- mailroom-mda ---\n{}", self.postfix.log(), self.mda.log())
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn postfix_delivers_through_lmtp() {
    let s = Stack::start().await;
    let (bob, carol) = (s.maildir("bob"), s.maildir("carol"));

    // One recipient: Return-Path from the envelope, Delivered-To, Postfix's Received line.
    s.swaks("a@x.test", "bob@b.test", "one", "first body");
    let got = s.wait_files(&bob.join("new"), 1);
    let msg = read(&got[0]);
    assert!(msg.starts_with("Return-Path: <a@x.test>\nDelivered-To: bob@b.test\nReceived: "), "{msg}");
    assert!(msg.contains("by mx.mailroom.test (Postfix) with ESMTP"), "{msg}");
    assert!(msg.contains("\nSubject: one\n") && msg.contains("\n\nfirst body\n"), "{msg:?}");
    assert!(!msg.contains('\r'), "stored with LF line ends: {msg:?}");
    assert!(
        s.postfix.wait_for_log("status=sent (250 2.0.0 <bob@b.test> Saved)", DELIVERY_TIMEOUT),
        "{}",
        s.logs()
    );

    // Two recipients in one message: both copies stored, each with its own Delivered-To.
    s.swaks("a@x.test", "bob@b.test,carol@b.test", "two", "second body");
    let got = s.wait_files(&bob.join("new"), 2);
    let to_carol = s.wait_files(&carol.join("new"), 1);
    let msg = read(&to_carol[0]);
    assert!(msg.starts_with("Return-Path: <a@x.test>\nDelivered-To: carol@b.test\n"), "{msg}");
    assert!(msg.contains("\nSubject: two\n"), "{msg}");
    assert!(got.iter().any(|p| read(p).contains("\nSubject: two\n")), "{got:?}");
    assert!(
        s.postfix.wait_for_log("status=sent (250 2.0.0 <carol@b.test> Saved)", DELIVERY_TIMEOUT),
        "{}",
        s.logs()
    );

    // A detail address: Postfix finds bob in its map (recipient_delimiter), passes the address
    // on as it came, and mailroom-mda files it in the existing folder "lists".
    let md = mailstore::Maildir::new(&bob);
    md.create_folder(&mailstore::FolderName::new("lists").unwrap()).unwrap();
    s.swaks("a@x.test", "bob+lists@b.test", "three", "third body");
    let got = s.wait_files(&bob.join(".lists/new"), 1);
    let msg = read(&got[0]);
    assert!(msg.starts_with("Return-Path: <a@x.test>\nDelivered-To: bob+lists@b.test\n"), "{msg}");
    assert_eq!(files(&bob.join("new")).len(), 2, "not in INBOX as well");

    // Nothing was left in tmp/, and Postfix delivered every copy at the first attempt.
    for dir in [bob.join("tmp"), carol.join("tmp"), bob.join(".lists/tmp")] {
        assert!(files(&dir).is_empty(), "{}: {:?}", dir.display(), files(&dir));
    }
    // Postfix logs through postlogd: a line may come a moment after the file is in new/.
    let sent = || s.postfix.log().matches("status=sent").count();
    assert!(wait_until(DELIVERY_TIMEOUT, || sent() >= 4) && sent() == 4, "{}", s.logs());
    let log = s.postfix.log();
    assert!(!log.contains("status=deferred") && !log.contains("status=bounced"), "{}", s.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn recipient_unknown_to_mda_bounces() {
    let s = Stack::start().await;
    let (bob, carol) = (s.maildir("bob"), s.maildir("carol"));

    // dave is in Postfix's map but not in the database: mailroom-mda answers RCPT with 550,
    // Postfix bounces that recipient only; bob in the same message gets it.
    s.swaks("carol@b.test", "bob@b.test,dave@b.test", "partly", "for bob and dave");
    s.wait_files(&bob.join("new"), 1);
    let bounced = "status=bounced (host";
    assert!(s.postfix.wait_for_log(bounced, DELIVERY_TIMEOUT), "{}", s.logs());
    let log = s.postfix.log();
    let line = log.lines().find(|l| l.contains(bounced)).unwrap();
    assert!(line.contains("to=<dave@b.test>"), "{line}");
    assert!(
        line.contains("said: 550 5.1.1 <dave@b.test> User unknown (in reply to RCPT TO command)"),
        "{line}"
    );
    assert!(
        s.postfix.wait_for_log("status=sent (250 2.0.0 <bob@b.test> Saved)", DELIVERY_TIMEOUT),
        "{}",
        s.logs()
    );

    // The bounce goes to the sender, carol, through mailroom-mda again, with the null sender.
    let got = s.wait_files(&carol.join("new"), 1);
    let dsn = read(&got[0]);
    assert!(dsn.starts_with("Return-Path: <>\nDelivered-To: carol@b.test\n"), "{dsn}");
    assert!(dsn.contains("Content-Type: multipart/report; report-type=delivery-status;"), "{dsn}");
    assert!(dsn.contains("Final-Recipient: rfc822; dave@b.test"), "{dsn}");
    assert!(dsn.contains("Status: 5.1.1"), "{dsn}");
    assert!(dsn.contains("550 5.1.1 <dave@b.test> User unknown"), "{dsn}");
    assert!(
        s.mda.log().contains("unknown user") && s.mda.log().contains("dave@b.test"),
        "mailroom-mda logs the unknown user:\n{}",
        s.mda.log()
    );
}
