//! End to end through mailroom-mta: into the Maildir through mailroom-mda (trace headers), and
//! through Dovecot's own LMTP server (`dovecot-lmtpd`); permanent LMTP failures bounce as RFC
//! 3464 reports to a local sender and never to the null sender; an unreachable MDA defers
//! (4xx) until `mailroomctl queue flush`; a restarted MTA resumes its queue; `mailroomctl queue
//! hold/release/delete`; `mailroomctl sendmail -t` and the `sendmail`/`mailq` links.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Options, PASSWORD, Smtp, Stack, TIMEOUT, database, header, messages_in, output_within, text};
use testsupport::Backend;

/// Send one message on port 25 as a stranger; asserts the 250.
fn send(stack: &Stack, from: &str, to: &[&str], subject: &str) {
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let body = format!("From: {from}\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n");
    let r = c.message(from, to, &body).unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    c.expect("QUIT", 221);
}

/// The ids in the queue.
fn queue_ids(stack: &Stack) -> Vec<String> {
    common::files(&stack.spool.join("queue"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Wait until every queued message has been tried and deferred (has a state file).
fn wait_deferred(stack: &Stack, n: usize) {
    let ok = common::wait_until(TIMEOUT, || {
        let ids = queue_ids(stack);
        ids.len() == n && ids.iter().all(|id| stack.spool.join("state").join(id).exists())
    });
    assert!(ok, "want {n} deferred:\n{}\n{}", stack.queue_list(), stack.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn delivered_through_mda_with_trace_headers() {
    let db = database(Backend::MariaDb).await;
    let stack = Stack::start(&db, Options::default());
    // Authenticated over STARTTLS on submission, to a local user.
    let out = stack.swaks(
        stack.submission,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "bob@b.test",
            "--auth-password",
            PASSWORD,
            "--from",
            "bob@b.test",
            "--to",
            "carol@b.test",
            "--header",
            "Subject: e2e",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // From a stranger on port 25, no TLS.
    send(&stack, "a@remote.example", &["carol@b.test"], "plain");
    let msgs = stack.wait_messages("carol", 2);
    stack.wait_queue_empty();
    let e2e = msgs.iter().find(|m| header(m, "Subject").as_deref() == Some("e2e")).unwrap();
    assert!(e2e.starts_with("Return-Path: <bob@b.test>\nDelivered-To: carol@b.test\n"), "{e2e}");
    // Ours is the first Received: after the MDA's own trace lines.
    let received: Vec<&str> = e2e.split("\nReceived: ").skip(1).collect();
    let ours =
        received.iter().find(|r| r.contains("by mx.b.test (mailroom)")).unwrap_or_else(|| panic!("{e2e}"));
    assert!(ours.starts_with("from "), "{ours}");
    assert!(ours.contains("([127.0.0.1])"), "{ours}");
    assert!(
        ours.contains("(using TLSv1.3 with cipher") || ours.contains("(using TLSv1_3 with cipher"),
        "{ours}"
    );
    assert!(ours.contains("(Authenticated sender: bob@b.test)"), "{ours}");
    assert!(ours.contains("with ESMTPSA id "), "{ours}");
    assert!(ours.contains("for <carol@b.test>;"), "{ours}");
    let plain = msgs.iter().find(|m| header(m, "Subject").as_deref() == Some("plain")).unwrap();
    assert!(plain.starts_with("Return-Path: <a@remote.example>\nDelivered-To: carol@b.test\n"), "{plain}");
    assert!(plain.contains("with ESMTP id ") && !plain.contains("Authenticated sender"), "{plain}");
}

/// A private Dovecot serving LMTP only (bench/lib.sh's start_dovecot_lmtp), mail stored as
/// `nobody` under `root/%d/%n/Maildir`; SIGTERM on drop.
struct DovecotLmtp {
    child: Child,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl DovecotLmtp {
    fn start(root: &Path) -> DovecotLmtp {
        let dovecot = Path::new("/usr/sbin/dovecot");
        assert!(dovecot.exists(), "/usr/sbin/dovecot missing: apt-get install dovecot-core dovecot-lmtpd");
        assert!(
            Path::new("/usr/lib/dovecot/lmtp").exists(),
            "/usr/lib/dovecot/lmtp missing: apt-get install dovecot-lmtpd"
        );
        let dir = testsupport::postfix::reachable_tempdir();
        let d = dir.path();
        fs::create_dir_all(d.join("run")).unwrap();
        fs::create_dir_all(d.join("state")).unwrap();
        let conf = d.join("dovecot.conf");
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        fs::write(
            &conf,
            format!(
                "instance_name = mta-test-{name}\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
                 log_path = {d}/dovecot.log\nprotocols = lmtp\nssl = no\n\
                 passdb {{\n  driver = static\n  args = nopassword=y\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={root}/%d/%n\n}}\n\
                 mail_location = maildir:{root}/%d/%n/Maildir\nlmtp_save_to_detail_mailbox = no\n\
                 service lmtp {{\n  unix_listener lmtp {{\n    mode = 0666\n  }}\n}}\n",
                d = d.display(),
                root = root.display()
            ),
        )
        .unwrap();
        let child = Command::new(dovecot)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(fs::File::create(d.join("stdout.log")).unwrap())
            .stderr(fs::File::create(d.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let socket = d.join("run/lmtp");
        let mut dv = DovecotLmtp { child, socket, dir };
        let deadline = Instant::now() + common::START_TIMEOUT;
        while std::os::unix::net::UnixStream::connect(&dv.socket).is_err() {
            assert!(matches!(dv.child.try_wait(), Ok(None)), "dovecot exited: {}", dv.log());
            assert!(Instant::now() < deadline, "dovecot's LMTP socket did not appear: {}", dv.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        dv
    }

    fn log(&self) -> String {
        ["stdout.log", "stderr.log", "dovecot.log"]
            .iter()
            .map(|f| fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect()
    }
}

impl Drop for DovecotLmtp {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn delivered_through_dovecot_lmtp() {
    let db = database(Backend::Sqlite).await;
    let root = testsupport::postfix::reachable_tempdir();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    chown(root.path(), Some(65534), Some(65534)).unwrap();
    let dovecot = DovecotLmtp::start(root.path());
    let lmtp = format!("\"unix:{}\"", dovecot.socket.display());
    let stack = Stack::start(&db, Options::default().without_mda().mta("lmtp", &lmtp));

    send(&stack, "a@remote.example", &["bob@b.test"], "via dovecot");
    // An alias with two mailboxes: one LMTP transaction, one reply per recipient.
    send(&stack, "a@remote.example", &["info@b.test"], "alias via dovecot");
    stack.wait_queue_empty();
    let bob = root.path().join("b.test/bob/Maildir");
    let carol = root.path().join("b.test/carol/Maildir");
    let ok = common::wait_until(TIMEOUT, || messages_in(&bob).len() == 2 && messages_in(&carol).len() == 1);
    assert!(ok, "{}\n{}", stack.logs(), dovecot.log());
    let msgs = messages_in(&bob);
    let m = msgs.iter().find(|m| m.contains("Subject: via dovecot")).unwrap();
    assert!(m.contains("Return-Path: <a@remote.example>") && m.contains("Delivered-To: bob@b.test"), "{m}");
    assert!(m.contains("by mx.b.test (mailroom) with ESMTP id "), "{m}");
    let log = stack.mta.log();
    assert!(log.contains("status=sent (250 2.0.0 <bob@b.test>"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_failure_bounces_to_local_sender_never_to_null_sender() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default());

    // full@ is over its quota: the MDA answers 552 5.2.2. From the null sender: no report.
    send(&stack, "", &["full@b.test"], "from the null sender");
    stack.wait_queue_empty();
    assert!(stack.mta.log().contains("status=bounced"), "{}", stack.logs());
    assert!(stack.messages("bob").is_empty() && stack.messages("full").is_empty());

    // From bob: a multipart/report comes back to his Maildir, from the null sender.
    send(&stack, "bob@b.test", &["full@b.test"], "too big for full");
    let msgs = stack.wait_messages("bob", 1);
    stack.wait_queue_empty();
    assert_eq!(stack.messages("bob").len(), 1, "one report");
    let dsn = &msgs[0];
    assert!(dsn.starts_with("Return-Path: <>\nDelivered-To: bob@b.test\n"), "{dsn}");
    let ct = header(dsn, "Content-Type").unwrap_or_default();
    assert!(ct.contains("multipart/report") && ct.contains("delivery-status"), "{ct}");
    for want in [
        "Content-Type: message/delivery-status",
        "Reporting-MTA: dns; mx.b.test",
        "Final-Recipient: rfc822; full@b.test",
        "Action: failed",
        "Status: 5.2.2",
        "Subject: too big for full",
    ] {
        assert!(dsn.contains(want), "{want} missing:\n{dsn}");
    }
    assert!(stack.messages("full").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_mda_defers_until_flush() {
    let db = database(Backend::Sqlite).await;
    let mut stack = Stack::start(&db, Options::default().without_mda());
    send(&stack, "a@remote.example", &["bob@b.test"], "deferred");
    wait_deferred(&stack, 1);
    let list = stack.queue_list();
    assert!(list.contains("451 4.4.2") && list.contains("bob@b.test"), "{list}");
    assert!(stack.mta.log().contains("status=deferred"), "{}", stack.logs());
    stack.start_mda();
    // min_backoff is an hour: only the flush makes it go now.
    stack.flush();
    let msgs = stack.wait_messages("bob", 1);
    stack.wait_queue_empty();
    assert!(msgs[0].contains("Subject: deferred"));
    assert!(stack.queue_list().contains("Mail queue is empty"));
}

#[tokio::test(flavor = "multi_thread")]
async fn restarted_mta_resumes_its_queue() {
    let db = database(Backend::Sqlite).await;
    let opts = Options::default().without_mda().mta("min_backoff", "1").mta("max_backoff", "1");
    let mut stack = Stack::start(&db, opts);
    for i in 0..3 {
        send(&stack, "a@remote.example", &["bob@b.test"], &format!("resume-{i}"));
    }
    wait_deferred(&stack, 3);
    stack.mta.stop();
    stack.start_mda();
    assert!(stack.messages("bob").is_empty());
    // No flush: the restarted MTA finds the deferred messages on disk and retries them.
    stack.restart_mta();
    stack.wait_messages("bob", 3);
    stack.wait_queue_empty();
    assert_eq!(stack.messages("bob").len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_hold_release_delete() {
    let db = database(Backend::Sqlite).await;
    let mut stack = Stack::start(&db, Options::default().without_mda());
    send(&stack, "a@remote.example", &["bob@b.test"], "held");
    wait_deferred(&stack, 1);
    let held = queue_ids(&stack).remove(0);
    send(&stack, "a@remote.example", &["bob@b.test"], "free");
    wait_deferred(&stack, 2);

    let out = stack.ctl(&["queue", "hold", &held], b"");
    assert!(out.status.success(), "{}", text(&out));
    assert!(stack.queue_list().contains(&format!("{held}!")), "{}", stack.queue_list());
    stack.start_mda();
    stack.flush();
    let msgs = stack.wait_messages("bob", 1);
    assert!(msgs[0].contains("Subject: free"));
    // The held one stays, through another flush.
    stack.flush();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(queue_ids(&stack), std::slice::from_ref(&held));
    assert_eq!(stack.messages("bob").len(), 1);
    let out = stack.ctl(&["queue", "release", &held], b"");
    assert!(out.status.success(), "{}", text(&out));
    stack.wait_messages("bob", 2);
    stack.wait_queue_empty();

    // A relayed message waits (the test relayhost refuses connections); delete removes it, no
    // bounce.
    let out =
        stack.ctl(&["sendmail", "-f", "bob@b.test", "far@elsewhere.example"], b"Subject: to delete\n\nbye\n");
    assert!(out.status.success(), "{}", text(&out));
    wait_deferred(&stack, 1);
    let id = queue_ids(&stack).remove(0);
    let show = text(&stack.ctl(&["queue", "show", &id], b""));
    assert!(
        show.contains("recipient: far@elsewhere.example (pending)") && show.contains("Subject: to delete"),
        "{show}"
    );
    let out = stack.ctl(&["queue", "delete", &id], b"");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stack.queued(), 0);
    assert!(!stack.spool.join("state").join(&id).exists(), "state of a deleted message left behind");
    let out = stack.ctl(&["queue", "delete", &id], b"");
    assert_eq!(out.status.code(), Some(1), "deleting a missing message: {}", text(&out));
    stack.flush();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stack.messages("bob").len(), 2, "a deleted message bounces to nobody");
}

#[tokio::test(flavor = "multi_thread")]
async fn sendmail_and_links_deliver() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default());

    // -t: recipients from To:/Cc:/Bcc:, Bcc: removed.
    let msg = b"To: Bob <bob@b.test>\nCc: carol@b.test\nBcc: info@c.test\nSubject: dash-t\n\nfrom cron\n";
    let out = stack.ctl(&["sendmail", "-t", "-f", "bob@b.test"], msg);
    assert!(out.status.success(), "{}", text(&out));

    // Installed as `sendmail` and `mailq` (symlinks), configured by MAILROOM_CONFIG.
    let bin = stack.dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let ctl = testsupport::bin::path("mailroomctl");
    for name in ["sendmail", "mailq"] {
        std::os::unix::fs::symlink(&ctl, bin.join(name)).unwrap();
    }
    let mut cmd = Command::new(bin.join("sendmail"));
    cmd.env("MAILROOM_CONFIG", &stack.config).args(["-oi", "carol@b.test"]);
    let out = output_within(&mut cmd, b"Subject: as sendmail\n\n.\nstill the body\n", TIMEOUT);
    assert!(out.status.success(), "{}", text(&out));
    // An unknown local recipient: sendmail's EX_NOUSER.
    let mut cmd = Command::new(bin.join("sendmail"));
    cmd.env("MAILROOM_CONFIG", &stack.config).arg("nobody@b.test");
    let out = output_within(&mut cmd, b"Subject: lost\n\nx\n", TIMEOUT);
    assert_eq!(out.status.code(), Some(67), "{}", text(&out));

    let bob = stack.wait_messages("bob", 1);
    let carol = stack.wait_messages("carol", 2);
    stack.wait_queue_empty();
    let mut cmd = Command::new(bin.join("mailq"));
    cmd.env("MAILROOM_CONFIG", &stack.config);
    let out = output_within(&mut cmd, b"", TIMEOUT);
    assert!(out.status.success() && text(&out).contains("Mail queue is empty"), "{}", text(&out));

    let t = &bob[0];
    assert!(t.starts_with("Return-Path: <bob@b.test>\n") && t.contains("Subject: dash-t"), "{t}");
    assert!(!t.contains("Bcc"), "Bcc: kept: {t}");
    assert!(t.contains(" (local)\n") && t.contains("by mx.b.test (mailroom) with ESMTP id "), "{t}");
    // carol: as Cc: and through c.test's catch-all (Bcc:) in one transaction: stored once;
    // and as sendmail's argument.
    let subjects: Vec<String> = carol.iter().filter_map(|m| header(m, "Subject")).collect();
    assert_eq!(subjects.iter().filter(|s| *s == "dash-t").count(), 1, "{subjects:?}");
    assert_eq!(carol.len(), 2, "{subjects:?}");
    let as_sendmail = carol.iter().find(|m| m.contains("Subject: as sendmail")).unwrap();
    assert!(as_sendmail.contains("\n.\nstill the body\n"), "-oi keeps a lone dot: {as_sendmail}");
    for h in ["From", "Date", "Message-ID"] {
        assert!(header(as_sendmail, h).is_some(), "{h}: added for a local submission: {as_sendmail}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dsn_parameters_are_honoured() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default());
    let transaction = |mail: &str, rcpts: &[&str], subject: &str| {
        let mut c = Smtp::connect(stack.smtp);
        c.expect("EHLO client.example", 250);
        c.expect(mail, 250);
        for r in rcpts {
            c.expect(r, 250);
        }
        c.expect("DATA", 354);
        c.send(format!("Subject: {subject}\r\n\r\nsecret body of {subject}\r\n.\r\n").as_bytes()).unwrap();
        assert_eq!(c.reply().unwrap().code, 250);
        c.expect("QUIT", 221);
    };
    // NOTIFY=NEVER: a failure is not reported.
    transaction("MAIL FROM:<carol@b.test>", &["RCPT TO:<full@b.test> NOTIFY=NEVER"], "never");
    stack.wait_queue_empty();
    assert!(stack.messages("carol").is_empty(), "NOTIFY=NEVER reported");

    // NOTIFY=SUCCESS with ENVID and ORCPT: a "delivered" report, headers only (RFC 3461 §4.3:
    // RET applies to failures; a success report does not return the content).
    transaction(
        "MAIL FROM:<carol@b.test> ENVID=env-42",
        &["RCPT TO:<bob@b.test> NOTIFY=SUCCESS ORCPT=rfc822;bob-orig@b.test"],
        "success",
    );
    let reports = stack.wait_messages("carol", 1);
    stack.wait_queue_empty();
    assert_eq!(stack.messages("bob").len(), 1);
    let r = &reports[0];
    for want in [
        "Action: delivered",
        "Status: 2.",
        "Original-Envelope-Id: env-42",
        "Original-Recipient: rfc822;bob-orig@b.test",
        "Subject: success",
    ] {
        assert!(r.contains(want), "{want} missing:\n{r}");
    }
    assert!(!r.contains("secret body of success"), "a success report returned the content:\n{r}");

    // RET=HDRS on a failure: the headers come back, not the body.
    transaction("MAIL FROM:<carol@b.test> RET=HDRS", &["RCPT TO:<full@b.test>"], "hdrs");
    let reports = stack.wait_messages("carol", 2);
    stack.wait_queue_empty();
    let r = reports.iter().find(|m| m.contains("Action: failed")).unwrap_or_else(|| panic!("{reports:?}"));
    assert!(r.contains("text/rfc822-headers") && r.contains("Subject: hdrs"), "{r}");
    assert!(!r.contains("secret body of hdrs"), "RET=HDRS returned the body:\n{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_per_client_are_limited() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default().mta("max_connections_per_client", "2"));
    let a = Smtp::connect(stack.smtp);
    let b = Smtp::connect(stack.smtp);
    let mut third = Smtp::connect_raw(stack.smtp).unwrap();
    let r = third.reply().unwrap();
    assert!(r.text.starts_with("421 4.7.0"), "{}", r.text);
    assert!(third.closed());
    let refused = stack.scrape();
    assert_eq!(refused.get("mailroom_mta_rate_limited_total{limit=\"concurrency\"}"), Some(&1.0));
    drop(a);
    // The slot comes back once the server has seen the close.
    let ok = common::wait_until(TIMEOUT, || {
        let Ok(mut c) = Smtp::connect_raw(stack.smtp) else { return false };
        c.reply().is_ok_and(|r| r.code == 220)
    });
    assert!(ok, "{}", stack.logs());
    drop(b);
}
