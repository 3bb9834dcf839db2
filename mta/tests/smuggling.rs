//! SMTP smuggling (../shared/reference/protocols.md §7, DESIGN §6) against the real binary:
//! for every fake end-of-data sequence of the SEC Consult scanner, a message whose content
//! carries the fake terminator followed by a whole smuggled transaction (MAIL, RCPT, DATA, a
//! second message), then the real `<CR><LF>.<CR><LF>`, yields at most one message: the first,
//! with the smuggled commands as its content (`bare_lf = "normalize"`), or none, refused
//! 550 5.5.2 (`bare_lf = "reject"`). Also Postfix 3.9's pipelining rules: a client that talks
//! before the greeting (greet_pause_ms) or does not wait for the 354 is dropped with 554.

mod common;

use common::{Options, Smtp, Stack, database, header};
use testsupport::Backend;

/// The fake terminators: the scanner's inbound set, the outbound extras, and the main case
/// `<LF>.<CR><LF>` (also in the first set as `\n.\r\n`).
const SEQUENCES: &[(&str, &[u8])] = &[
    ("lf-dot-lf", b"\n.\n"),
    ("lf-dot-cr", b"\n.\r"),
    ("cr-dot-lf", b"\r.\n"),
    ("cr-dot-cr", b"\r.\r"),
    ("lf-dot-crlf", b"\n.\r\n"),
    ("cr-dot-crlf", b"\r.\r\n"),
    ("crlf-nul-dot-crlf", b"\r\n\x00.\r\n"),
    ("crlf-dot-cr-crlf", b"\r\n.\r\r\n"),
    ("cr-crlf-dot-cr-crlf", b"\r\r\n.\r\r\n"),
    ("text-lf-dot-crlf", b"\n.\r\n"),
];

/// The DATA content for sequence `tag`: a first message, the fake terminator, a smuggled
/// transaction with a second message to carol, and the real end.
fn payload(tag: &str, fake: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(
        format!(
            "From: a@remote.example\r\nTo: bob@b.test\r\nSubject: first-{tag}\r\n\r\nfirst message {tag}"
        )
        .as_bytes(),
    );
    v.extend_from_slice(fake);
    v.extend_from_slice(
        format!(
            "MAIL FROM:<evil@remote.example>\r\nRCPT TO:<carol@b.test>\r\nDATA\r\n\
             From: evil@remote.example\r\nTo: carol@b.test\r\nSubject: smuggled-{tag}\r\n\r\nsmuggled {tag}\r\n"
        )
        .as_bytes(),
    );
    v.extend_from_slice(b"\r\n.\r\n");
    v
}

/// One connection: the transaction with `payload(tag, fake)`; returns the reply to the real end,
/// after checking that the session answers QUIT with 221 (no reply belongs to smuggled commands).
fn smuggle(stack: &Stack, tag: &str, fake: &[u8]) -> common::Reply {
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.expect("RCPT TO:<bob@b.test>", 250);
    c.expect("DATA", 354);
    c.send(&payload(tag, fake)).unwrap();
    let r = c.reply().unwrap();
    let q = c.cmd("QUIT").unwrap();
    assert_eq!(q.code, 221, "{tag}: after the message the next reply is QUIT's: {}", q.text);
    r
}

/// A LF without a CR before it, or a CR without a LF after it.
fn has_bare_line_end(b: &[u8]) -> bool {
    (0..b.len()).any(|i| {
        (b[i] == b'\n' && (i == 0 || b[i - 1] != b'\r')) || (b[i] == b'\r' && b.get(i + 1) != Some(&b'\n'))
    })
}

/// Messages with header Subject equal to `subject` in `msgs`.
fn with_subject(msgs: &[String], subject: &str) -> usize {
    msgs.iter().filter(|m| header(m, "Subject").as_deref() == Some(subject)).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn fake_terminators_are_content_when_normalized() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default().mta("bare_lf", "\"normalize\""));
    let mut accepted = 0;
    for (tag, fake) in SEQUENCES {
        let r = smuggle(&stack, tag, fake);
        match r.code {
            250 => accepted += 1,
            550 => assert!(r.text.starts_with("550 5.5.2"), "{tag}: {}", r.text),
            _ => panic!("{tag}: {}", r.text),
        }
    }
    let bob = stack.wait_messages("bob", accepted);
    stack.wait_queue_empty();
    let bob_now = stack.messages("bob");
    let carol = stack.messages("carol");
    assert_eq!(bob_now.len(), accepted, "one message per accepted DATA");
    assert!(carol.is_empty(), "a smuggled message reached carol: {carol:?}");
    for (tag, _) in SEQUENCES {
        let first = format!("first-{tag}");
        let n = with_subject(&bob, &first);
        assert!(n <= 1, "{tag}: {n} copies");
        assert_eq!(with_subject(&bob, &format!("smuggled-{tag}")), 0, "{tag}: smuggled message split off");
        if n == 1 {
            // The smuggled transaction is inside the first message's body.
            let m = bob.iter().find(|m| header(m, "Subject").as_deref() == Some(first.as_str())).unwrap();
            assert!(
                m.contains("MAIL FROM:<evil@remote.example>") && m.contains(&format!("smuggled {tag}")),
                "{m}"
            );
        }
    }
    // Normalising keeps every message (Postfix 3.9's default): all of them were accepted.
    assert_eq!(accepted, SEQUENCES.len(), "{}", stack.logs());
    // Nothing but CRLF line ends, no bare CR left in what was stored (stored with LF).
    for m in &bob_now {
        assert!(!m.contains('\r'), "a bare CR was stored: {m:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fake_terminators_are_refused_with_bare_lf_reject() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default().mta("bare_lf", "\"reject\""));
    let mut accepted = Vec::new();
    for (tag, fake) in SEQUENCES {
        let r = smuggle(&stack, tag, fake);
        let bare = has_bare_line_end(&payload(tag, fake));
        if bare {
            assert_eq!(r.code, 550, "{tag}: {}", r.text);
            assert!(r.text.starts_with("550 5.5.2"), "{tag}: {}", r.text);
        } else {
            // `\r\n\0.\r\n` has no bare line end: a line with a NUL and a dot is content.
            assert!(matches!(r.code, 250 | 550 | 554), "{tag}: {}", r.text);
            if r.code == 250 {
                accepted.push(*tag);
            }
        }
    }
    // A clean message still goes through.
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let r = c.message("a@remote.example", &["bob@b.test"], "Subject: clean\r\n\r\nclean\r\n").unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    c.expect("QUIT", 221);

    let bob = stack.wait_messages("bob", accepted.len() + 1);
    stack.wait_queue_empty();
    assert_eq!(stack.messages("bob").len(), accepted.len() + 1, "refused messages are not delivered");
    assert!(stack.messages("carol").is_empty());
    for (tag, _) in SEQUENCES {
        assert_eq!(with_subject(&bob, &format!("smuggled-{tag}")), 0, "{tag}");
        let want = usize::from(accepted.contains(tag));
        assert_eq!(with_subject(&bob, &format!("first-{tag}")), want, "{tag}");
    }
    assert_eq!(stack.queued(), 0, "refused messages leave nothing behind in the queue");
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_pipelining_is_dropped() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default().mta("greet_pause_ms", "700"));

    // Talking before the greeting: 554 and the connection is closed.
    let mut c = Smtp::connect_raw(stack.smtp).unwrap();
    c.send(b"EHLO early.example\r\n").unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.code, 554, "{}", r.text);
    assert!(c.closed(), "the connection stays open after a pregreet");

    // A client that waits gets the greeting; DATA pipelined with the content: 554, closed,
    // nothing queued or delivered.
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.expect("RCPT TO:<bob@b.test>", 250);
    c.send(b"DATA\r\nSubject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n").unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.code, 554, "{}", r.text);
    assert!(c.closed());
    // EHLO pipelined with MAIL: the same.
    let mut c = Smtp::connect(stack.smtp);
    c.send(b"EHLO client.example\r\nMAIL FROM:<a@remote.example>\r\n").unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.code, 554, "{}", r.text);
    assert!(c.closed());

    // Pipelining where RFC 2920 allows it (MAIL, RCPT, then wait at DATA) is fine.
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    c.send(b"MAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@b.test>\r\nDATA\r\n").unwrap();
    for want in [250, 250, 354] {
        let r = c.reply().unwrap();
        assert_eq!(r.code, want, "{}", r.text);
    }
    c.send(b"Subject: allowed\r\n\r\nok\r\n.\r\n").unwrap();
    assert_eq!(c.reply().unwrap().code, 250);
    c.expect("QUIT", 221);

    let msgs = stack.wait_messages("bob", 1);
    stack.wait_queue_empty();
    assert_eq!(stack.messages("bob").len(), 1);
    assert_eq!(header(&msgs[0], "Subject").as_deref(), Some("allowed"));
}
