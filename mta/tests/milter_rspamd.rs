//! rspamd behind mailroom-mta, as behind Postfix: its proxy worker in milter mode
//! (`smtpd_milters = ["inet:127.0.0.1:PORT"]`) rejects GTUBE before our reply to the end of
//! DATA, so nothing is queued, and lets a clean message through to the mailbox.

mod common;
mod milter_support;

use common::{Options, Smtp, Stack, database};
use milter_support::{GTUBE, Rspamd};
use testsupport::Backend;

#[tokio::test(flavor = "multi_thread")]
async fn rspamd_rejects_gtube_and_passes_clean_mail() {
    let rspamd = Rspamd::start();
    let db = database(Backend::Sqlite).await;
    let stack =
        Stack::start(&db, Options::default().mta("smtpd_milters", &format!("[\"{}\"]", rspamd.endpoint())));

    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let spam = format!(
        "From: a@remote.example\r\nTo: bob@b.test\r\nSubject: offer\r\nMessage-ID: <gtube@remote.example>\r\n\
         Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n\r\n{GTUBE}\r\n"
    );
    let r = c.message("a@remote.example", &["bob@b.test"], &spam).unwrap();
    assert!(r.code / 100 == 5, "GTUBE: {}\n{}\n{}", r.text, stack.logs(), rspamd.log());
    assert!(r.text.contains("5.7.1"), "{}", r.text);
    assert_eq!(stack.queued(), 0, "a rejected message is not queued");

    // The same session goes on: the next message is clean and delivered.
    c.expect("RSET", 250);
    let clean = "From: a@remote.example\r\nTo: bob@b.test\r\nSubject: lunch\r\nMessage-ID: <lunch@remote.example>\r\n\
                 Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n\r\nLunch at noon?\r\n";
    let r = c.message("a@remote.example", &["bob@b.test"], clean).unwrap();
    assert_eq!(r.code, 250, "clean: {}\n{}\n{}", r.text, stack.logs(), rspamd.log());
    c.expect("QUIT", 221);
    let got = stack.wait_messages("bob", 1);
    assert!(got[0].contains("Lunch at noon?"), "{}", got[0]);
    // rspamd saw both with our queue ids and envelope (its log names them).
    let log = rspamd.log();
    assert!(log.contains("GTUBE"), "{log}");
}
