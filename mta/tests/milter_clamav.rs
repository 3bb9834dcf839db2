//! ClamAV behind mailroom-mta: clamd on a signature database built by the test (the EICAR
//! string only; no freshclam, no download) and clamav-milter on a Unix socket
//! (`smtpd_milters = ["unix:/path"]`). An EICAR attachment is rejected before our 250 and
//! nothing is queued; a clean one passes with clamav-milter's headers; with
//! `OnInfected Quarantine` the infected message is queued on hold (SMFIR_QUARANTINE), which
//! `mailroomctl queue list` shows. `non_smtpd_milters` filters `mailroomctl sendmail` the same way.

mod common;
mod milter_support;

use common::{Options, Smtp, Stack, database, header};
use milter_support::{Clamav, EICAR, with_attachment};
use testsupport::Backend;

#[tokio::test(flavor = "multi_thread")]
async fn clamav_rejects_eicar_and_passes_clean_mail() {
    let clamav = Clamav::start("Reject");
    let db = database(Backend::Sqlite).await;
    let milters = format!("[\"{}\"]", clamav.endpoint());
    let stack = Stack::start(
        &db,
        Options::default().mta("smtpd_milters", &milters).mta("non_smtpd_milters", &milters),
    );

    // Local submission (non_smtpd_milters): mailroomctl sendmail is refused too.
    let infected = with_attachment("invoice", "eicar.com", EICAR.as_bytes());
    let out = stack.ctl(&["sendmail", "-f", "bob@b.test", "carol@b.test"], infected.as_bytes());
    assert!(!out.status.success(), "sendmail: {}\n{}", common::text(&out), stack.logs());
    assert_eq!(stack.queued(), 0);

    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let r = c.message("a@remote.example", &["bob@b.test"], &infected).unwrap();
    assert!(r.code / 100 == 5, "EICAR: {}\n{}\n{}", r.text, stack.logs(), clamav.log());
    assert_eq!(stack.queued(), 0);
    c.expect("RSET", 250);

    let clean = with_attachment("report", "report.txt", b"quarterly numbers, all fine\n");
    let r = c.message("a@remote.example", &["bob@b.test"], &clean).unwrap();
    assert_eq!(r.code, 250, "clean: {}\n{}\n{}", r.text, stack.logs(), clamav.log());
    c.expect("QUIT", 221);
    let got = stack.wait_messages("bob", 1);
    assert_eq!(header(&got[0], "X-Virus-Status").as_deref(), Some("Clean"), "{}", got[0]);
    assert!(header(&got[0], "X-Virus-Scanned").is_some_and(|v| v.contains("clamav-milter")), "{}", got[0]);
    assert!(clamav.log().contains("Mailroom.Test.EICAR"), "{}", clamav.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn clamav_quarantine_holds_the_message() {
    let clamav = Clamav::start("Quarantine");
    let db = database(Backend::Sqlite).await;
    let stack =
        Stack::start(&db, Options::default().mta("smtpd_milters", &format!("[\"{}\"]", clamav.endpoint())));

    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let infected = with_attachment("invoice", "eicar.com", EICAR.as_bytes());
    let r = c.message("a@remote.example", &["bob@b.test"], &infected).unwrap();
    assert_eq!(r.code, 250, "quarantined: {}\n{}\n{}", r.text, stack.logs(), clamav.log());
    c.expect("QUIT", 221);
    assert_eq!(stack.queued(), 1);
    let list = stack.queue_list();
    // mailq's mark for a held message.
    assert!(list.lines().any(|l| l.contains('!') && l.contains("a@remote.example")), "{list}");
    stack.flush();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(stack.messages("bob").is_empty(), "a held message is not delivered");
    assert!(stack.logs().contains("milter-hold"), "{}", stack.logs());
}
