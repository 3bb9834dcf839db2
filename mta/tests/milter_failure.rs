//! A filter that fails never costs a message: killed in the middle of a message, the client
//! gets 4xx and nothing is queued; down from the start, MAIL gets 451 4.7.1 under the default
//! `milter_default_action = "tempfail"`, and with `"accept"` mail flows without it.

mod common;
mod milter_support;

use common::{Options, Smtp, Stack, database};
use milter_support::Clamav;
use testsupport::Backend;

#[tokio::test(flavor = "multi_thread")]
async fn milter_killed_mid_message_gives_4xx_and_nothing_queued() {
    let mut clamav = Clamav::start("Reject");
    let db = database(Backend::Sqlite).await;
    let stack =
        Stack::start(&db, Options::default().mta("smtpd_milters", &format!("[\"{}\"]", clamav.endpoint())));

    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.expect("RCPT TO:<bob@b.test>", 250);
    c.expect("DATA", 354);
    c.send(b"From: a@remote.example\r\nTo: bob@b.test\r\nSubject: half\r\n\r\nfirst half\r\n").unwrap();
    // The filter dies while the message is on its way.
    clamav.milter.kill9();
    c.send(b"second half\r\n.\r\n").unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.code / 100, 4, "{}\n{}", r.text, stack.logs());
    assert!(r.text.starts_with("451 4.7.1"), "{}", r.text);
    assert_eq!(stack.queued(), 0, "nothing queued");
    // The next transaction finds the filter still gone: 4xx again, never an unfiltered 250.
    let r = c.cmd("MAIL FROM:<a@remote.example>").unwrap();
    assert_eq!(r.code, 451, "{}", r.text);
    c.expect("QUIT", 221);
    assert!(stack.logs().contains("milter failed"), "{}", stack.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn milter_down_tempfails_or_is_skipped_by_default_action() {
    let db = database(Backend::Sqlite).await;
    let nowhere = format!("[\"inet:127.0.0.1:{}\"]", common::free_port());
    let stack = Stack::start(&db, Options::default().mta("smtpd_milters", &nowhere));
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let r = c.expect("MAIL FROM:<a@remote.example>", 451);
    assert!(r.text.starts_with("451 4.7.1"), "{}", r.text);
    c.expect("QUIT", 221);
    assert_eq!(stack.queued(), 0);
    drop(stack);

    let stack = Stack::start(
        &db,
        Options::default().mta("smtpd_milters", &nowhere).mta("milter_default_action", "\"accept\""),
    );
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let r = c.message("a@remote.example", &["bob@b.test"], "Subject: hi\r\n\r\nhello\r\n").unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    c.expect("QUIT", 221);
    stack.wait_messages("bob", 1);
}
