//! Queue files left by an older mailroom-mta: `tests/data/format1` holds a queue file and its
//! delivery state exactly as format 1 wrote them (the reply per recipient as text, expiry as a
//! suffix): bob@ and full@ deferred while the MDA was down, carol@ sent, far@ deferred at a
//! remote MX, gone@ expired under an earlier, shorter lifetime. A new mailroom-mta picks them
//! up: it delivers bob@, bounces full@ to the sender (carol@) and leaves carol@ and gone@
//! alone, then rewrites the state in format 2 with each outcome typed; `mailroomctl queue`
//! shows each recipient's code and enhanced status. When the message is past its lifetime the
//! remote recipient expires instead, reported as 4.4.7.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Options, Stack, TIMEOUT, database, text, wait_until};
use testsupport::Backend;

const ID: &str = "6AB13B800001A000";

/// A stack whose spool holds the format 1 message, its MTA started on it with `opts`.
fn start_on_format_1(db: &testsupport::TestDb, opts: Options) -> Stack {
    let mut stack = Stack::start(db, opts.without_mda());
    stack.mta.stop();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format1");
    for dir in ["queue", "state"] {
        fs::copy(data.join(dir).join(ID), stack.spool.join(dir).join(ID)).unwrap();
    }
    // Accepted: the owner-execute mark.
    fs::set_permissions(stack.spool.join("queue").join(ID), fs::Permissions::from_mode(0o700)).unwrap();
    stack.start_mda();
    stack.restart_mta();
    stack
}

#[tokio::test(flavor = "multi_thread")]
async fn format_1_state_is_delivered_and_rewritten() {
    let db = database(Backend::Sqlite).await;
    // A lifetime long enough that the arrival date in the data never expires.
    let stack = start_on_format_1(&db, Options::default().mta("max_queue_lifetime", "3153600000"));
    let state = stack.spool.join("state").join(ID);
    let rewritten =
        wait_until(TIMEOUT, || fs::read_to_string(&state).is_ok_and(|s| s.starts_with("MAILROOM-STATE 2\n")));
    assert!(rewritten, "{}\n{}", fs::read_to_string(&state).unwrap_or_default(), stack.logs());

    // bob@ gets the message, carol@ (sent before) only the report about full@.
    let bob = stack.wait_messages("bob", 1);
    assert!(bob[0].contains("Subject: queued by format 1"), "{}", bob[0]);
    let carol = stack.wait_messages("carol", 1);
    let dsn = &carol[0];
    for want in [
        "Final-Recipient: rfc822; full@b.test\r\nAction: failed\r\nStatus: 5.2.2\r\n",
        "Diagnostic-Code: smtp; 552 5.2.2 ",
        "Subject: queued by format 1",
    ] {
        assert!(dsn.replace("\r\n", "\n").contains(&want.replace("\r\n", "\n")), "{want:?} missing:\n{dsn}");
    }
    for not in
        ["Final-Recipient: rfc822; far@", "Final-Recipient: rfc822; gone@", "Final-Recipient: rfc822; bob@"]
    {
        assert!(!dsn.contains(not), "{not} reported:\n{dsn}");
    }
    assert!(stack.messages("full").is_empty());

    let st = fs::read_to_string(&state).unwrap();
    let lines: Vec<&str> = st.lines().collect();
    assert!(lines.contains(&"attempts 3"), "{st}");
    let rcpt = |i: usize| lines.iter().find(|l| l.starts_with(&format!("rcpt {i} "))).copied().unwrap_or("");
    assert!(rcpt(0).starts_with("rcpt 0 sent 250 2.0.0 unix:"), "{st}");
    assert_eq!(rcpt(1), "rcpt 1 sent 250 2.0.0 - <carol@b.test> Saved", "{st}");
    assert!(rcpt(2).starts_with("rcpt 2 bounced 552 5.2.2 unix:"), "{st}");
    assert!(rcpt(3).starts_with("rcpt 3 deferred 451 4.4.1 "), "{st}");
    assert_eq!(
        rcpt(4),
        "rcpt 4 expired 451 4.4.1 - connect to 192.0.2.26:25: Connection refused (os error 111)",
        "{st}"
    );

    // mailq: only far@ is pending, after its last reply.
    let list = stack.queue_list();
    let pending: Vec<&str> = list.lines().skip(2).map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(pending.len(), 3, "{list}");
    assert!(pending[0].starts_with("(451 4.4.1 ") && pending[1] == "far@elsewhere.example", "{list}");
    // show: every recipient, its state, code, enhanced status and relay.
    let show = text(&stack.ctl(&["queue", "show", ID], b""));
    for want in [
        "recipient: bob@b.test (sent) 250 2.0.0 [unix:",
        "recipient: carol@b.test (sent) 250 2.0.0 <carol@b.test> Saved\n",
        "recipient: full@b.test (bounced) 552 5.2.2 [unix:",
        "recipient: far@elsewhere.example (pending) 451 4.4.1 [",
        "recipient: gone@elsewhere.example (expired) 451 4.4.1 connect to 192.0.2.26:25",
    ] {
        assert!(show.contains(want), "{want:?} missing:\n{show}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn format_1_message_past_its_lifetime_expires() {
    let db = database(Backend::Sqlite).await;
    // The default lifetime (5 days) ended long after the data's arrival date.
    let stack = start_on_format_1(&db, Options::default());
    stack.wait_messages("bob", 1);
    let carol = stack.wait_messages("carol", 1);
    stack.wait_queue_empty();
    assert_eq!(stack.messages("carol").len(), 1, "one report for both failures");
    let dsn = carol[0].replace("\r\n", "\n");
    for want in [
        "Final-Recipient: rfc822; full@b.test\nAction: failed\nStatus: 5.2.2\n",
        "Final-Recipient: rfc822; far@elsewhere.example\nAction: failed\nStatus: 4.4.7\n\
         Diagnostic-Code: smtp; 451 4.4.1 ",
        "<far@elsewhere.example>: delivery time expired; last reply: 451 4.4.1 ",
    ] {
        assert!(dsn.contains(want), "{want:?} missing:\n{dsn}");
    }
    assert!(!dsn.contains("Final-Recipient: rfc822; gone@"), "expired before, reported again:\n{dsn}");
    let log = stack.mta.log();
    assert!(
        log.lines()
            .any(|l| l.contains("to=<far@elsewhere.example>") && l.contains("dsn=4.4.7, status=expired")),
        "{log}"
    );
}
