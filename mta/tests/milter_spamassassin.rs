//! SpamAssassin behind mailroom-mta: spamd with Debian's rules (local tests only) and
//! spamass-milter on a loopback port. GTUBE is accepted but arrives marked: spamass-milter's
//! header changes (X-Spam-Flag: YES, X-Spam-Status) are in the delivered message, because the
//! queued file carries them. With `-b carol@b.test` (spam to a bucket) spamass-milter deletes
//! the recipient and adds the bucket: the envelope changes reach the queue too.

mod common;
mod milter_support;

use common::{Options, Smtp, Stack, database, header};
use milter_support::{GTUBE, SpamAssassin};
use testsupport::Backend;

#[tokio::test(flavor = "multi_thread")]
async fn spamassassin_marks_gtube() {
    let sa = SpamAssassin::start();
    let db = database(Backend::Sqlite).await;
    let stack =
        Stack::start(&db, Options::default().mta("smtpd_milters", &format!("[\"{}\"]", sa.endpoint())));

    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let spam = format!(
        "From: a@remote.example\r\nTo: bob@b.test\r\nSubject: offer\r\nMessage-ID: <gtube@remote.example>\r\n\
         Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n\r\n{GTUBE}\r\n"
    );
    let r = c.message("a@remote.example", &["bob@b.test"], &spam).unwrap();
    assert_eq!(r.code, 250, "GTUBE: {}\n{}\n{}", r.text, stack.logs(), sa.log());
    let clean = "From: a@remote.example\r\nTo: carol@b.test\r\nSubject: lunch\r\nMessage-ID: <lunch@remote.example>\r\n\
                 Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n\r\nLunch at noon?\r\n";
    let r = c.message("a@remote.example", &["carol@b.test"], clean).unwrap();
    assert_eq!(r.code, 250, "clean: {}\n{}\n{}", r.text, stack.logs(), sa.log());
    c.expect("QUIT", 221);

    let got = stack.wait_messages("bob", 1);
    assert_eq!(header(&got[0], "X-Spam-Flag").as_deref(), Some("YES"), "{}\n{}", got[0], sa.log());
    assert!(
        header(&got[0], "X-Spam-Status").is_some_and(|v| v.starts_with("Yes") && v.contains("GTUBE")),
        "{}",
        got[0]
    );
    let got = stack.wait_messages("carol", 1);
    assert_eq!(header(&got[0], "X-Spam-Flag"), None, "{}", got[0]);
    assert!(header(&got[0], "X-Spam-Status").is_some_and(|v| v.starts_with("No")), "{}", got[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn spamassassin_bucket_changes_the_recipients() {
    let sa = SpamAssassin::start_with(&["-b", "carol@b.test"]);
    let db = database(Backend::Sqlite).await;
    let stack =
        Stack::start(&db, Options::default().mta("smtpd_milters", &format!("[\"{}\"]", sa.endpoint())));

    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let spam = format!(
        "From: a@remote.example\r\nTo: bob@b.test\r\nSubject: offer\r\nMessage-ID: <bucket@remote.example>\r\n\
         Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n\r\n{GTUBE}\r\n"
    );
    let r = c.message("a@remote.example", &["bob@b.test"], &spam).unwrap();
    assert_eq!(r.code, 250, "GTUBE: {}\n{}\n{}", r.text, stack.logs(), sa.log());
    c.expect("QUIT", 221);
    let got = stack.wait_messages("carol", 1);
    assert_eq!(header(&got[0], "X-Spam-Flag").as_deref(), Some("YES"), "{}", got[0]);
    stack.wait_queue_empty();
    assert!(stack.messages("bob").is_empty(), "the original recipient gets nothing\n{}", stack.logs());
    let logs = stack.logs();
    assert!(
        logs.contains("milter deletes a recipient") && logs.contains("milter adds a recipient"),
        "{logs}"
    );
}
