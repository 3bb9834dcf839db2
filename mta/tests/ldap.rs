//! The inbound stack (mailroom-mta, -mda, -saslauthd) and mailroomctl on `backend = "ldap"`
//! against a private slapd: recipients and aliases accepted, unknown users 550 5.1.1, AUTH and
//! sender rights from the directory, delivery into the LDAP user's Maildir; slapd stopped gives
//! 451 4.3.0 (never 5xx) and the same daemons answer again once it is back.

mod common;

use common::{Options, PASSWORD, Smtp, Stack, text};
use testsupport::ldap::Slapd;

/// slapd with b.test (bob, carol; info@ → bob) and c.test (catch-all → carol), and the stack on it.
fn start() -> (Slapd, Stack, tempfile::TempDir) {
    let slapd = Slapd::start();
    let pw = format!("{{PLAIN}}{PASSWORD}");
    slapd.add_mail_directory(
        &["b.test", "c.test"],
        &[("bob@b.test", &pw), ("carol@b.test", &pw)],
        &[("info@b.test", "bob@b.test"), ("@c.test", "carol@b.test")],
    );
    let root = tempfile::tempdir().unwrap();
    let stack = Stack::start_with_database(&slapd.database_toml(), root.path(), Options::default());
    (slapd, stack, root)
}

fn rcpt(stack: &Stack, to: &str) -> common::Reply {
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.cmd(&format!("RCPT TO:<{to}>")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn recipients_auth_and_delivery_from_ldap_and_slapd_down_is_4xx() {
    let (mut slapd, stack, _root) = start();

    for to in ["bob@b.test", "bob+lists@b.test", "info@b.test", "anyone@c.test"] {
        let r = rcpt(&stack, to);
        assert_eq!(r.code, 250, "{to}: {}\n{}", r.text, stack.logs());
    }
    let r = rcpt(&stack, "nobody@b.test");
    assert!(r.text.starts_with("550 5.1.1"), "{}", r.text);
    let r = rcpt(&stack, "x@elsewhere.example");
    assert!(r.text.starts_with("554 5.7.1"), "no relaying for strangers: {}", r.text);

    // Delivery through mailroom-mda, which finds bob's Maildir in LDAP too.
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let r = c.message("a@remote.example", &["info@b.test"], "Subject: over ldap\r\n\r\nhello\r\n").unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    let msgs = stack.wait_messages("bob", 1);
    assert!(msgs[0].contains("Subject: over ldap"), "{}", msgs[0]);

    // AUTH through mailroom-saslauthd on LDAP, and the sender check against the directory.
    let py = stack.smtplib(&[
        &stack.submission.to_string(),
        "starttls",
        "bob@b.test",
        PASSWORD,
        "bob@b.test",
        "far@elsewhere.example",
        "submitted",
    ]);
    assert!(py.contains("login 235\nsend ok"), "{py}\n{}", stack.logs());
    let py = stack.smtplib(&[
        &stack.submission.to_string(),
        "starttls",
        "bob@b.test",
        PASSWORD,
        "carol@b.test",
        "far@elsewhere.example",
        "forged",
    ]);
    assert!(py.contains("login 235\nerror SMTPSenderRefused 553"), "{py}");
    let py = stack.smtplib(&[
        &stack.submission.to_string(),
        "starttls",
        "bob@b.test",
        "wrong",
        "bob@b.test",
        "far@elsewhere.example",
        "wrong",
    ]);
    assert!(py.contains("535"), "{py}");

    // slapd goes away: temporary failures, for known and unknown recipients alike.
    slapd.stop();
    for to in ["bob@b.test", "nobody@b.test"] {
        let r = rcpt(&stack, to);
        assert!(r.text.starts_with("451 4.3.0"), "{to}: {}", r.text);
    }
    let py = stack.smtplib(&[
        &stack.submission.to_string(),
        "starttls",
        "bob@b.test",
        PASSWORD,
        "bob@b.test",
        "far@elsewhere.example",
        "while down",
    ]);
    assert!(py.contains("error SMTPAuthenticationError 454"), "{py}\n{}", stack.logs());

    // Back: the same daemons answer again.
    slapd.restart();
    let r = rcpt(&stack, "bob@b.test");
    assert_eq!(r.code, 250, "{}\n{}", r.text, stack.logs());
    assert!(rcpt(&stack, "nobody@b.test").text.starts_with("550 5.1.1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mailroomctl_auth_lookup_and_check_on_ldap() {
    let (mut slapd, stack, _root) = start();
    let run = |args: &[&str], stdin: &[u8]| {
        let out = stack.ctl(args, stdin);
        (out.status.code(), text(&out))
    };
    let pw = format!("{PASSWORD}\n");

    let (code, out) = run(&["auth", "test", "bob@b.test"], pw.as_bytes());
    assert_eq!((code, out.trim()), (Some(0), "accepted: bob@b.test"));
    let (code, out) = run(&["auth", "test", "bob@b.test"], b"wrong\n");
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = run(&["auth", "test", "nobody@b.test"], pw.as_bytes());
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = run(&["auth", "lookup", "info@b.test"], b"");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("mailbox: bob@b.test"), "{out}");
    let (code, out) = run(&["auth", "lookup", "nobody@b.test"], b"");
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = run(&["check"], b"");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("backend = \"ldap\"") && out.contains("[database.ldap]"), "{out}");

    // Admin writes say the directory is read-only for them.
    let (code, out) = run(&["domain", "add", "new.test"], b"");
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("the directory is LDAP: read-only here"), "{out}");

    slapd.stop();
    for args in [&["auth", "test", "bob@b.test"][..], &["auth", "lookup", "bob@b.test"]] {
        let (code, out) = run(args, pw.as_bytes());
        assert_eq!(code, Some(2), "down is a temporary failure, not a rejection: {args:?} {out}");
        assert!(out.contains("temporary failure"), "{out}");
    }
}
