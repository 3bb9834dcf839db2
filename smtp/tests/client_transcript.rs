//! The SMTP/LMTP client against scripted servers on `tokio::io::duplex`: each script is the
//! exact bytes the client must send and the replies it gets, in order. A server step that
//! waits for a whole pipelined group before replying proves the group was sent in one go.

use std::time::Duration;

use smtp::client::{Client, ClientError, Envelope, Outcome, Protocol, Recipient, ServerReply, Timeouts};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};

/// One step of a scripted server.
enum Step {
    /// Write these bytes.
    Send(&'static [u8]),
    /// The client's next bytes are exactly these.
    Expect(&'static [u8]),
    /// Like `Send`/`Expect`, with owned bytes.
    SendOwned(Vec<u8>),
    ExpectOwned(Vec<u8>),
    /// Close the connection.
    Close,
}
use Step::*;

/// Timeouts short enough that a client waiting for a reply that never comes fails the test
/// instead of hanging it; nothing here is timed.
fn timeouts() -> Timeouts {
    let t = Duration::from_secs(10);
    Timeouts { connect: t, greeting: t, command: t, data_block: t, data_done: t }
}

/// Play `script`; after it, the client may send nothing more before closing.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, script: Vec<Step>) {
    let mut got: Vec<u8> = Vec::new();
    let mut at = 0;
    for step in script {
        let want: Vec<u8> = match step {
            Send(b) => {
                s.write_all(b).await.unwrap();
                continue;
            }
            SendOwned(b) => {
                s.write_all(&b).await.unwrap();
                continue;
            }
            Close => return,
            Expect(b) => b.to_vec(),
            ExpectOwned(b) => b,
        };
        while got.len() < at + want.len() {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "client closed; expected {:?}, got {:?}",
                want.escape_ascii(),
                got[at..].escape_ascii()
            );
            got.extend_from_slice(&buf[..n]);
        }
        let next = &got[at..at + want.len()];
        assert_eq!(next.escape_ascii().to_string(), want.escape_ascii().to_string());
        at += want.len();
    }
    let _ = s.read_to_end(&mut got).await;
    assert!(got[at..].is_empty(), "client sent more: {:?}", got[at..].escape_ascii());
}

/// Run `client` against a server playing `script`; both must finish.
async fn transcript<T, F>(script: Vec<Step>, client: impl FnOnce(DuplexStream) -> F) -> T
where
    F: Future<Output = T>,
{
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(serve(theirs, script));
    let result = client(ours).await;
    server.await.expect("server script");
    result
}

const GREETING: &[u8] = b"220 mx.test ESMTP\r\n";
const EHLO: &[u8] = b"EHLO client.test\r\n";
const EHLO_ALL: &[u8] = b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n\
    250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n";
const EHLO_PLAIN: &[u8] = b"250-mx.test\r\n250 HELP\r\n";
const LHLO: &[u8] = b"LHLO client.test\r\n";
const LHLO_REPLY: &[u8] = b"250-mda.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n";
const QUIT: &[u8] = b"QUIT\r\n";
const BYE: &[u8] = b"221 2.0.0 Bye\r\n";

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope {
        sender: "a@x.test".into(),
        recipients: rcpts.iter().map(|r| Recipient::new(*r)).collect(),
        ..Default::default()
    }
}

/// The full envelope: DSN requests, size, 8-bit body.
fn dsn_envelope() -> Envelope {
    Envelope {
        sender: "a@x.test".into(),
        ret: Some("HDRS".into()),
        envid: Some("q1".into()),
        body_8bit: true,
        smtputf8: false,
        requiretls: false,
        size: Some(42),
        recipients: vec![
            Recipient { address: "b@y.test".into(), notify: Some("NEVER".into()), orcpt: None },
            Recipient {
                address: "c@y.test".into(),
                notify: Some("SUCCESS,FAILURE".into()),
                orcpt: Some("rfc822;c@y.test".into()),
            },
        ],
    }
}

fn reply(code: u16, enhanced: Option<&str>, text: &str) -> ServerReply {
    ServerReply::new(code, enhanced, text)
}

fn codes(o: &Outcome) -> Vec<String> {
    o.recipients.iter().map(ToString::to_string).collect()
}

async fn greet(s: DuplexStream, protocol: Protocol) -> Client<DuplexStream> {
    Client::greet(s, protocol, "client.test", timeouts()).await.expect("greet")
}

#[tokio::test]
async fn pipelined_smtp_with_dsn_parameters_and_reuse() {
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_ALL),
        // One group up to DATA, before any reply.
        Expect(
            b"MAIL FROM:<a@x.test> SIZE=42 BODY=8BITMIME RET=HDRS ENVID=q1\r\n\
              RCPT TO:<b@y.test> NOTIFY=NEVER\r\n\
              RCPT TO:<c@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@y.test\r\n\
              DATA\r\n",
        ),
        Send(b"250 2.1.0 Ok\r\n550-5.1.1 No such\r\n550 5.1.1 user\r\n250 2.1.5 Ok\r\n354 End data\r\n"),
        Expect(b"Subject: x\r\n\r\n..dot\r\nend\r\n.\r\n"),
        Send(b"250 2.0.0 Ok: queued as 123\r\n"),
        // The next transaction on the same session needs no RSET.
        Expect(b"MAIL FROM:<> SIZE=42\r\nRCPT TO:<d@y.test>\r\nDATA\r\n"),
        Send(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
        Expect(b"x\r\n.\r\n"),
        Send(b"250 2.0.0 Ok: queued as 124\r\n"),
        Expect(QUIT),
        Send(BYE),
    ];
    let (first, second, caps) = transcript(script, |s| async move {
        let mut c = greet(s, Protocol::Smtp).await;
        assert_eq!(c.greeting(), &reply(220, None, "mx.test ESMTP"));
        let caps = c.capabilities().clone();
        let first = c.send(&dsn_envelope(), &b"Subject: x\r\n\r\n.dot\r\nend\r\n"[..]).await.unwrap();
        let null = Envelope { sender: String::new(), size: Some(42), ..envelope(&["d@y.test"]) };
        let second = c.send(&null, &b"x\r\n"[..]).await.unwrap();
        c.quit().await.unwrap();
        (first, second, caps)
    })
    .await;
    assert!(caps.pipelining && caps.dsn && caps.eightbitmime && caps.smtputf8);
    assert_eq!(caps.size, Some(100_000));
    assert_eq!(first.mail, None);
    assert_eq!(codes(&first), ["550 5.1.1 No such user", "250 2.0.0 Ok: queued as 123"]);
    assert_eq!(codes(&second), ["250 2.0.0 Ok: queued as 124"]);
}

#[tokio::test]
async fn lockstep_without_pipelining_and_no_unoffered_parameters() {
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_PLAIN),
        Expect(b"MAIL FROM:<a@x.test>\r\n"),
        Send(b"250 Ok\r\n"),
        Expect(b"RCPT TO:<b@y.test>\r\n"),
        Send(b"250 Ok\r\n"),
        Expect(b"RCPT TO:<c@y.test>\r\n"),
        Send(b"451 4.3.0 try later\r\n"),
        Expect(b"DATA\r\n"),
        Send(b"354 go\r\n"),
        Expect(b"body\r\n.\r\n"),
        Send(b"250 queued\r\n"),
    ];
    let outcome = transcript(script, |s| async move {
        let mut c = greet(s, Protocol::Smtp).await;
        // 8-bit content would be refused without 8BITMIME (RFC 6152): this body is 7-bit.
        c.send(&Envelope { body_8bit: false, ..dsn_envelope() }, &b"body\r\n"[..]).await.unwrap()
    })
    .await;
    assert_eq!(codes(&outcome), ["250 queued", "451 4.3.0 try later"]);
}

#[tokio::test]
async fn ehlo_refused_falls_back_to_helo() {
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(b"502 5.5.2 Error: command not recognized\r\n"),
        Expect(b"HELO client.test\r\n"),
        Send(b"250 mx.test\r\n"),
        Expect(b"MAIL FROM:<a@x.test>\r\n"),
        Send(b"250 Ok\r\n"),
        Expect(b"RCPT TO:<b@y.test>\r\n"),
        Send(b"250 Ok\r\n"),
        Expect(b"DATA\r\n"),
        Send(b"354 go\r\n"),
        Expect(b"hi\r\n.\r\n"),
        Send(b"250 Ok\r\n"),
    ];
    let outcome = transcript(script, |s| async move {
        let mut c = greet(s, Protocol::Smtp).await;
        assert_eq!(c.capabilities(), &Default::default());
        c.send(&envelope(&["b@y.test"]), &b"hi"[..]).await.unwrap()
    })
    .await;
    assert_eq!(codes(&outcome), ["250 Ok"]);
}

#[tokio::test]
async fn refused_greeting_ehlo_and_lhlo() {
    // (script, protocol, the refusal)
    let cases: Vec<(Vec<Step>, Protocol, &str)> = vec![
        (vec![Send(b"554 5.3.2 go away\r\n"), Expect(b"QUIT\r\n")], Protocol::Smtp, "554 5.3.2 go away"),
        (
            vec![Send(GREETING), Expect(EHLO), Send(b"421 4.3.2 shutting down\r\n")],
            Protocol::Smtp,
            "421 4.3.2 shutting down",
        ),
        (
            vec![
                Send(GREETING),
                Expect(EHLO),
                Send(b"550 no\r\n"),
                Expect(b"HELO client.test\r\n"),
                Send(b"550 no!\r\n"),
            ],
            Protocol::Smtp,
            "550 no!",
        ),
        // LMTP has no HELO.
        (vec![Send(GREETING), Expect(LHLO), Send(b"500 5.5.1 what\r\n")], Protocol::Lmtp, "500 5.5.1 what"),
    ];
    for (script, protocol, want) in cases {
        let got = transcript(script, |s| async move {
            Client::greet(s, protocol, "client.test", timeouts()).await.map(drop)
        })
        .await;
        match got {
            Err(ClientError::Refused(r)) => assert_eq!(r.to_string(), want),
            other => panic!("{want}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn mail_refused_pipelined_then_rset_before_the_next() {
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_ALL),
        Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n"),
        Send(b"553 5.7.1 Sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"),
        Expect(b"RSET\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"),
        Send(b"250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
        Expect(b"x\r\n.\r\n"),
        Send(b"250 2.0.0 queued\r\n"),
    ];
    let (first, second) = transcript(script, |s| async move {
        let mut c = greet(s, Protocol::Smtp).await;
        let first = c.send(&envelope(&["b@y.test", "c@y.test"]), &b"x\r\n"[..]).await.unwrap();
        let second = c.send(&envelope(&["b@y.test"]), &b"x\r\n"[..]).await.unwrap();
        (first, second)
    })
    .await;
    let refusal = reply(553, Some("5.7.1"), "Sender rejected");
    assert_eq!(first, Outcome { mail: Some(refusal.clone()), recipients: vec![refusal.clone(), refusal] });
    assert_eq!(codes(&second), ["250 2.0.0 queued"]);
}

#[tokio::test]
async fn mail_refused_in_lockstep_sends_no_rcpt() {
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_PLAIN),
        Expect(b"MAIL FROM:<a@x.test>\r\n"),
        Send(b"451 4.3.0 later\r\n"),
    ];
    let outcome = transcript(script, |s| async move {
        greet(s, Protocol::Smtp).await.send(&envelope(&["b@y.test", "c@y.test"]), &b"x"[..]).await.unwrap()
    })
    .await;
    assert_eq!(outcome.mail.as_ref().map(ToString::to_string).as_deref(), Some("451 4.3.0 later"));
    assert_eq!(codes(&outcome), ["451 4.3.0 later", "451 4.3.0 later"]);
}

#[tokio::test]
async fn no_recipient_accepted_sends_no_data() {
    // Lockstep: no DATA at all; the next transaction starts with RSET.
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_PLAIN),
        Expect(b"MAIL FROM:<a@x.test>\r\n"),
        Send(b"250 Ok\r\n"),
        Expect(b"RCPT TO:<b@y.test>\r\n"),
        Send(b"550 5.1.1 unknown\r\n"),
        Expect(b"RCPT TO:<c@y.test>\r\n"),
        Send(b"450 4.2.0 greylisted\r\n"),
        Expect(b"RSET\r\n"),
        Send(b"250 Ok\r\n"),
        Expect(b"MAIL FROM:<a@x.test>\r\n"),
        Send(b"250 Ok\r\n"),
        Expect(b"RCPT TO:<b@y.test>\r\n"),
        Send(b"550 5.1.1 unknown\r\n"),
        Expect(QUIT),
        Send(BYE),
    ];
    let (first, second) = transcript(script, |s| async move {
        let mut c = greet(s, Protocol::Smtp).await;
        let first = c.send(&envelope(&["b@y.test", "c@y.test"]), &b"never sent"[..]).await.unwrap();
        let second = c.send(&envelope(&["b@y.test"]), &b"never sent"[..]).await.unwrap();
        c.quit().await.unwrap();
        (first, second)
    })
    .await;
    assert_eq!(codes(&first), ["550 5.1.1 unknown", "450 4.2.0 greylisted"]);
    assert_eq!(codes(&second), ["550 5.1.1 unknown"]);

    // Pipelined: DATA went with the group and is refused; no body follows.
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_ALL),
        Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"),
        Send(b"250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n554 5.5.1 Error: no valid recipients\r\n"),
        Expect(QUIT),
        Send(BYE),
    ];
    let outcome = transcript(script, |s| async move {
        let mut c = greet(s, Protocol::Smtp).await;
        let o = c.send(&envelope(&["b@y.test"]), &b"never sent"[..]).await.unwrap();
        c.quit().await.unwrap();
        o
    })
    .await;
    assert_eq!(codes(&outcome), ["550 5.1.1 unknown"]);

    // A server that takes DATA anyway gets a lone dot (RFC 2920 §3.1).
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_ALL),
        Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"),
        Send(b"250 2.1.0 Ok\r\n550 5.1.1 unknown\r\n354 go ahead anyway\r\n"),
        Expect(b".\r\n"),
        Send(b"554 5.5.1 no recipients\r\n"),
    ];
    let outcome = transcript(script, |s| async move {
        greet(s, Protocol::Smtp).await.send(&envelope(&["b@y.test"]), &b"never sent"[..]).await.unwrap()
    })
    .await;
    assert_eq!(codes(&outcome), ["550 5.1.1 unknown"]);
}

#[tokio::test]
async fn data_refused_answers_every_accepted_recipient() {
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_ALL),
        Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n"),
        Send(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 unknown\r\n451 4.3.0 no spool\r\n"),
    ];
    let outcome = transcript(script, |s| async move {
        greet(s, Protocol::Smtp).await.send(&envelope(&["b@y.test", "c@y.test"]), &b"x"[..]).await.unwrap()
    })
    .await;
    assert_eq!(codes(&outcome), ["451 4.3.0 no spool", "550 5.1.1 unknown"]);
}

#[tokio::test]
async fn lmtp_answers_each_recipient_in_order() {
    let script = vec![
        Send(b"220 mda.test LMTP\r\n"),
        Expect(LHLO),
        Send(LHLO_REPLY),
        Expect(
            b"MAIL FROM:<a@x.test> BODY=8BITMIME\r\nRCPT TO:<a@b.test>\r\nRCPT TO:<gone@b.test>\r\n\
              RCPT TO:<full@b.test>\r\nRCPT TO:<c@b.test>\r\nDATA\r\n",
        ),
        Send(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <gone@b.test> User unknown\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
        Expect(b"m\xc3\xa9\r\n.\r\n"),
        Send(b"250 2.0.0 <a@b.test> Saved\r\n452 4.2.2 <full@b.test> Quota exceeded\r\n"),
        Send(b"550 5.2.0 <c@b.test> Refused by filter\r\n"),
        Expect(QUIT),
        Send(BYE),
    ];
    let outcome = transcript(script, |s| async move {
        let mut c = greet(s, Protocol::Lmtp).await;
        let env =
            Envelope { body_8bit: true, ..envelope(&["a@b.test", "gone@b.test", "full@b.test", "c@b.test"]) };
        let o = c.send(&env, "mé\r\n".as_bytes()).await.unwrap();
        c.quit().await.unwrap();
        o
    })
    .await;
    assert_eq!(
        codes(&outcome),
        [
            "250 2.0.0 <a@b.test> Saved",
            "550 5.1.1 <gone@b.test> User unknown",
            "452 4.2.2 <full@b.test> Quota exceeded",
            "550 5.2.0 <c@b.test> Refused by filter",
        ]
    );
    assert!(outcome.recipients[0].is_positive() && outcome.recipients[2].is_transient());
}

#[tokio::test]
async fn lmtp_connection_lost_between_replies_is_an_error() {
    let script = vec![
        Send(b"220 mda.test LMTP\r\n"),
        Expect(LHLO),
        Send(LHLO_REPLY),
        Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<a@b.test>\r\nRCPT TO:<c@b.test>\r\nDATA\r\n"),
        Send(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
        Expect(b"x\r\n.\r\n"),
        Send(b"250 2.0.0 <a@b.test> Saved\r\n"),
        Close,
    ];
    let (first, second) = transcript(script, |s| async move {
        let mut c = greet(s, Protocol::Lmtp).await;
        let first = c.send(&envelope(&["a@b.test", "c@b.test"]), &b"x\r\n"[..]).await;
        let second = c.send(&envelope(&["a@b.test"]), &b"x\r\n"[..]).await;
        (first, second)
    })
    .await;
    assert!(matches!(first, Err(ClientError::Io(_))), "{first:?}");
    assert!(matches!(second, Err(ClientError::Protocol(_))), "no reuse after an error: {second:?}");
}

#[tokio::test]
async fn body_is_dot_stuffed_crlf_terminated_and_normalised() {
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_ALL),
        Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"),
        Send(b"250 Ok\r\n250 Ok\r\n354 go\r\n"),
        Expect(b"..leading\r\nbare lf\r\n..\r\nbare\r\ncr\r\n...two\r\nlast line\r\n.\r\n"),
        Send(b"250 Ok\r\n"),
    ];
    transcript(script, |s| async move {
        let msg: &[u8] = b".leading\nbare lf\r\n.\nbare\rcr\r\n..two\r\nlast line";
        greet(s, Protocol::Smtp).await.send(&envelope(&["b@y.test"]), msg).await.unwrap()
    })
    .await;

    // A body larger than the client's blocks, streamed through a small pipe.
    let line = b"0123456789 .abcdefghij\r\n.starts with a dot\r\n";
    let msg: Vec<u8> = line.repeat(10_000);
    let wire: Vec<u8> =
        [b"0123456789 .abcdefghij\r\n..starts with a dot\r\n".repeat(10_000), b".\r\n".to_vec()].concat();
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_ALL),
        Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"),
        Send(b"250 Ok\r\n250 Ok\r\n354 go\r\n"),
        ExpectOwned(wire),
        Send(b"250 Ok\r\n"),
    ];
    let outcome = transcript(script, |s| async move {
        greet(s, Protocol::Smtp).await.send(&envelope(&["b@y.test"]), &msg[..]).await.unwrap()
    })
    .await;
    assert_eq!(codes(&outcome), ["250 Ok"]);
}

#[tokio::test]
async fn refusals_decided_before_sending() {
    // SMTPUTF8 not offered: the non-ASCII recipient is refused here; a command-line injection
    // attempt in an address never reaches the wire; a message too big for SIZE is not sent.
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(b"250-mx.test\r\n250-SIZE 1000\r\n250 PIPELINING\r\n"),
        Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"),
        Send(b"250 Ok\r\n250 Ok\r\n354 go\r\n"),
        Expect(b"x\r\n.\r\n"),
        Send(b"250 Ok\r\n"),
        Expect(QUIT),
        Send(BYE),
    ];
    let (first, big) = transcript(script, |s| async move {
        let mut c = greet(s, Protocol::Smtp).await;
        let env = envelope(&["jøran@y.test", "b@y.test", "c@y.test>\r\nRCPT TO:<evil@z.test"]);
        let first = c.send(&env, &b"x"[..]).await.unwrap();
        let big = Envelope { size: Some(1001), ..envelope(&["b@y.test"]) };
        let big = c.send(&big, &b"x"[..]).await.unwrap();
        c.quit().await.unwrap();
        (first, big)
    })
    .await;
    assert_eq!(
        codes(&first),
        [
            "553 5.6.7 SMTPUTF8 is required, but was not offered by host",
            "250 Ok",
            "553 5.1.3 bad recipient address syntax"
        ]
    );
    assert_eq!(
        big.mail.map(|r| r.to_string()).as_deref(),
        Some("552 5.3.4 message size 1001 exceeds size limit 1000 of server")
    );
}

#[tokio::test]
async fn hostile_and_broken_servers_are_errors() {
    let long = [b"250-mx.test\r\n250 ".as_slice(), &[b'A'; 10_000], b"\r\n"].concat();
    let many = [b"250-x\r\n".repeat(1000), b"250 x\r\n".to_vec()].concat();
    let cases: Vec<(Vec<Step>, &str)> = vec![
        (vec![Send(GREETING), Expect(EHLO), SendOwned(long)], "overlong line"),
        (vec![Send(GREETING), Expect(EHLO), SendOwned(many)], "too many lines"),
        (vec![Send(b"HTTP/1.1 400 Bad Request\r\n")], "not SMTP"),
        (vec![Send(GREETING), Expect(EHLO), Send(b"999 what\r\n")], "code out of range"),
    ];
    for (script, what) in cases {
        let got = transcript(script, |s| async move {
            Client::greet(s, Protocol::Smtp, "client.test", timeouts()).await.map(drop)
        })
        .await;
        assert!(matches!(got, Err(ClientError::Protocol(_))), "{what}: {got:?}");
    }

    // A 354 to RCPT means client and server are out of step.
    let script = vec![
        Send(GREETING),
        Expect(EHLO),
        Send(EHLO_ALL),
        Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"),
        Send(b"250 Ok\r\n354 what\r\n354 go\r\n"),
    ];
    let got = transcript(script, |s| async move {
        greet(s, Protocol::Smtp).await.send(&envelope(&["b@y.test"]), &b"x"[..]).await
    })
    .await;
    assert!(matches!(got, Err(ClientError::Protocol(_))), "{got:?}");

    // Silence: the stage that timed out is named.
    let t = Timeouts { greeting: Duration::from_millis(50), ..timeouts() };
    let (ours, _theirs) = tokio::io::duplex(1024);
    let got = Client::greet(ours, Protocol::Smtp, "client.test", t).await.map(drop);
    assert!(matches!(got, Err(ClientError::Timeout("greeting"))), "{got:?}");

    // Our own name must fit on a command line.
    let (ours, _theirs) = tokio::io::duplex(1024);
    let got = Client::greet(ours, Protocol::Smtp, "bad name\r\nRSET", timeouts()).await.map(drop);
    assert!(matches!(got, Err(ClientError::Protocol(_))), "{got:?}");
}

/// A server that answers each line as soon as it reads it, through a pipe smaller than the
/// replies to a pipelined group: the client must read while it writes (RFC 2920 §3.1), or both
/// sides block writing and the command timeout ends the test.
#[tokio::test]
async fn large_pipelined_group_through_a_small_pipe() {
    let (ours, theirs) = tokio::io::duplex(256);
    let server = tokio::spawn(async move {
        let (r, mut w) = tokio::io::split(theirs);
        let mut lines = BufReader::new(r);
        w.write_all(GREETING).await.unwrap();
        let (mut in_data, mut rcpts) = (false, 0);
        loop {
            let mut line = Vec::new();
            if lines.read_until(b'\n', &mut line).await.unwrap() == 0 {
                return rcpts;
            }
            let reply: &[u8] = match (in_data, line.as_slice()) {
                (true, b".\r\n") => {
                    in_data = false;
                    b"250 2.0.0 Ok\r\n"
                }
                (true, _) => continue,
                (_, l) if l.starts_with(b"EHLO") => EHLO_ALL,
                (_, l) if l.starts_with(b"RCPT") => {
                    rcpts += 1;
                    b"250 2.1.5 Recipient address is fine, thank you for asking\r\n"
                }
                (_, b"DATA\r\n") => {
                    in_data = true;
                    b"354 go\r\n"
                }
                (_, b"QUIT\r\n") => b"221 Bye\r\n",
                _ => b"250 2.0.0 Ok\r\n",
            };
            w.write_all(reply).await.unwrap();
        }
    });
    let rcpts: Vec<String> = (0..500).map(|i| format!("user{i}@y.test")).collect();
    let env = envelope(&rcpts.iter().map(String::as_str).collect::<Vec<_>>());
    let mut c = greet(ours, Protocol::Smtp).await;
    let outcome = c.send(&env, &b"x\r\n"[..]).await.unwrap();
    c.quit().await.unwrap();
    assert_eq!(server.await.unwrap(), 500);
    assert_eq!(outcome.recipients.len(), 500);
    assert!(outcome.recipients.iter().all(|r| r.to_string() == "250 2.0.0 Ok"));
}

/// The first half of a STARTTLS session, in plain text: up to our 220 to STARTTLS, which is
/// sent together with `after` (a server injecting a reply there must be refused).
async fn plain_until_starttls(s: &mut DuplexStream, after: &[u8]) {
    s.write_all(GREETING).await.unwrap();
    let mut buf = vec![0u8; EHLO.len()];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf, EHLO);
    s.write_all(b"250-mx.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n").await.unwrap();
    let mut buf = [0u8; 10];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"STARTTLS\r\n");
    s.write_all(&[b"220 2.0.0 Ready to start TLS\r\n".as_slice(), after].concat()).await.unwrap();
}

/// A server certificate for "mx.test", and a connector that trusts only it.
fn tls_pair() -> (tokio_rustls::TlsAcceptor, tokio_rustls::TlsConnector) {
    use std::sync::Arc;
    let ck = rcgen::generate_simple_self_signed(vec!["mx.test".to_string()]).unwrap();
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (tokio_rustls::TlsAcceptor::from(Arc::new(server)), tokio_rustls::TlsConnector::from(Arc::new(client)))
}

#[tokio::test]
async fn starttls_then_ehlo_again_with_new_capabilities() {
    let (acceptor, connector) = tls_pair();
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        plain_until_starttls(&mut theirs, b"").await;
        let tls = acceptor.accept(theirs).await.unwrap();
        let script = vec![
            Expect(EHLO),
            Send(b"250-mx.test\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"),
            Expect(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"),
            Send(b"250 Ok\r\n250 Ok\r\n354 go\r\n"),
            Expect(b"secret\r\n.\r\n"),
            Send(b"250 Ok\r\n"),
            Expect(QUIT),
            Send(BYE),
        ];
        serve(tls, script).await;
    });
    let c = greet(ours, Protocol::Smtp).await;
    assert!(c.capabilities().starttls && c.capabilities().auth.is_empty());
    let name = rustls::pki_types::ServerName::try_from("mx.test").unwrap();
    let mut c = c.starttls(&connector, name, "client.test").await.unwrap();
    assert!(!c.capabilities().starttls, "capabilities from the EHLO after TLS");
    assert_eq!(c.capabilities().auth, ["PLAIN", "LOGIN"]);
    assert_eq!(c.greeting().code, 220);
    let outcome = c.send(&envelope(&["b@y.test"]), &b"secret"[..]).await.unwrap();
    assert_eq!(codes(&outcome), ["250 Ok"]);
    c.quit().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn starttls_refuses_replies_injected_before_the_handshake() {
    let (_, connector) = tls_pair();
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        plain_until_starttls(&mut theirs, b"250-mx.test\r\n250 AUTH PLAIN\r\n").await;
        theirs
    });
    let c = greet(ours, Protocol::Smtp).await;
    let name = rustls::pki_types::ServerName::try_from("mx.test").unwrap();
    let got = c.starttls(&connector, name, "client.test").await.map(drop);
    assert!(matches!(got, Err(ClientError::Protocol(_))), "{got:?}");
    drop(server.await.unwrap());

    // A refusal is a refusal.
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        theirs.write_all(GREETING).await.unwrap();
        let mut lines = BufReader::new(theirs);
        let mut line = String::new();
        lines.read_line(&mut line).await.unwrap();
        lines.get_mut().write_all(b"250-mx.test\r\n250 STARTTLS\r\n").await.unwrap();
        lines.read_line(&mut line).await.unwrap();
        lines.get_mut().write_all(b"454 4.7.0 TLS not available due to local problem\r\n").await.unwrap();
        line
    });
    let c = greet(ours, Protocol::Smtp).await;
    let name = rustls::pki_types::ServerName::try_from("mx.test").unwrap();
    let got = c.starttls(&connector, name, "client.test").await.map(drop);
    assert!(matches!(&got, Err(ClientError::Refused(r)) if r.code == 454), "{got:?}");
    assert_eq!(server.await.unwrap(), "EHLO client.test\r\nSTARTTLS\r\n");
}

/// The queue manager spawns deliveries on the runtime: every future here must be `Send`.
/// Checked by the compiler; there is nothing to run.
#[allow(dead_code)]
fn futures_are_send(
    plain: Client<DuplexStream>,
    mut tls: Client<tokio_rustls::client::TlsStream<DuplexStream>>,
    stream: DuplexStream,
    connector: &tokio_rustls::TlsConnector,
    env: &Envelope,
) {
    fn send<T: std::marker::Send>(_: T) {}
    send(tls.send(env, &b""[..]));
    send(tls.quit());
    send(Client::greet(stream, Protocol::Smtp, "client.test", timeouts()));
    let name = rustls::pki_types::ServerName::try_from("mx.test").unwrap();
    send(plain.starttls(connector, name, "client.test"));
}
