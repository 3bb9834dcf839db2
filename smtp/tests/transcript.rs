//! Byte transcripts through the real driver over an in-memory socket.

use std::time::Duration;

use smtp::{Config, Handler, Limits, MailFrom, Mode, RcptTo, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct Recorder {
    rcpts: Vec<String>,
    body: Vec<u8>,
    delivered: Vec<Vec<u8>>,
    resets: usize,
}

impl Handler for Recorder {
    async fn mail(&mut self, _from: &MailFrom<String>) -> Reply {
        Reply::new(250, "2.1.0", "Ok")
    }

    async fn rcpt(&mut self, to: &RcptTo<String>) -> Reply {
        match to.address.as_str() {
            a if a.starts_with("bad@") => Reply::new(550, "5.1.1", "User unknown"),
            a if a.starts_with("temp@") => Reply::new(451, "4.3.0", "Try later"),
            a => {
                self.rcpts.push(a.to_string());
                Reply::new(250, "2.1.5", "Ok")
            }
        }
    }

    async fn data_start(&mut self) -> Result<(), Reply> {
        self.body.clear();
        Ok(())
    }

    async fn data_chunk(&mut self, chunk: &[u8]) -> Result<(), Reply> {
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    async fn data_end(&mut self) -> Vec<Reply> {
        self.delivered.push(std::mem::take(&mut self.body));
        let replies = self.rcpts.iter().map(|r| Reply::new(250, "2.0.0", format!("<{r}> Saved"))).collect();
        self.rcpts.clear();
        replies
    }

    fn reset(&mut self) {
        self.rcpts.clear();
        self.body.clear();
        self.resets += 1;
    }
}

fn config(mode: Mode) -> Config {
    Config { mode, max_message_size: 1000, max_recipients: 3, max_errors: 5, ..Config::lmtp("mx.test") }
}

/// Send everything at once (pipelined), half-close, collect every reply line.
async fn transcript(mode: Mode, input: &[u8]) -> (Vec<String>, Recorder) {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let mut h = Recorder::default();
    let limits = Limits { idle_timeout: Duration::from_secs(5), ..Limits::default() };
    let input = input.to_vec();
    let writer = tokio::spawn(async move {
        client.write_all(&input).await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        out
    });
    smtp::run(server, config(mode), &limits, None, &mut h).await.unwrap();
    let out = writer.await.unwrap();
    let lines = String::from_utf8(out).unwrap().lines().map(str::to_string).collect();
    (lines, h)
}

fn codes(lines: &[String]) -> Vec<&str> {
    lines.iter().filter(|l| l.as_bytes().get(3) == Some(&b' ')).map(|l| &l[..3]).collect()
}

#[tokio::test]
async fn lmtp_one_reply_per_recipient_after_data() {
    let (lines, h) = transcript(
        Mode::Lmtp,
        b"LHLO client.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<bob@b.test>\r\nRCPT TO:<bad@b.test>\r\n\
          RCPT TO:<carol@b.test>\r\nDATA\r\nSubject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(
        codes(&lines),
        ["220", "250", "250", "250", "550", "250", "354", "250", "250", "221"],
        "{lines:#?}"
    );
    assert!(lines[0].starts_with("220 mx.test LMTP"));
    for cap in ["PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE 1000", "CHUNKING"] {
        assert!(
            lines.iter().any(|l| l == &format!("250-{cap}") || l == &format!("250 {cap}")),
            "{cap}: {lines:#?}"
        );
    }
    assert!(lines.contains(&"250 2.0.0 <bob@b.test> Saved".to_string()));
    assert!(lines.contains(&"550 5.1.1 User unknown".to_string()));
    assert_eq!(h.delivered, vec![b"Subject: hi\r\n\r\n.leading dot\r\nbody\r\n".to_vec()]);
}

#[tokio::test]
async fn sequencing_errors() {
    let (lines, _) = transcript(
        Mode::Lmtp,
        b"MAIL FROM:<a@x.test>\r\nEHLO x\r\nLHLO x\r\nRCPT TO:<b@b.test>\r\nDATA\r\nMAIL FROM:<a@x.test>\r\n\
          MAIL FROM:<a@x.test>\r\nDATA\r\nRCPT TO:<temp@b.test>\r\nQUIT\r\n",
    )
    .await;
    // The sixth error (max_errors = 5) closes the session instead of a sixth 503.
    assert_eq!(codes(&lines), ["220", "503", "500", "250", "503", "503", "250", "503", "421"], "{lines:#?}");
    let (lines, _) =
        transcript(Mode::Lmtp, b"LHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<bad@b.test>\r\nDATA\r\nQUIT\r\n")
            .await;
    assert!(lines.contains(&"503 5.5.1 No valid recipients".to_string()), "{lines:#?}");
    let (lines, _) = transcript(Mode::Smtp, b"LHLO x\r\nHELO x\r\nQUIT\r\n").await;
    assert_eq!(codes(&lines), ["220", "500", "250", "221"]);
}

#[tokio::test]
async fn oversize_data_is_refused_after_reading_it() {
    let mut input = b"LHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<bob@b.test>\r\nDATA\r\n".to_vec();
    input.extend(std::iter::repeat_n(b"0123456789012345678901234567890123456789\r\n", 50).flatten());
    input.extend(b".\r\nNOOP\r\nQUIT\r\n");
    let (lines, h) = transcript(Mode::Lmtp, &input).await;
    assert_eq!(codes(&lines), ["220", "250", "250", "250", "354", "552", "250", "221"], "{lines:#?}");
    assert!(h.delivered.is_empty() && h.resets >= 1);
    let (lines, _) = transcript(Mode::Lmtp, b"LHLO x\r\nMAIL FROM:<a@x.test> SIZE=5000\r\nQUIT\r\n").await;
    assert_eq!(codes(&lines), ["220", "250", "552", "221"]);
}

#[tokio::test]
async fn bdat_chunks() {
    let (lines, h) = transcript(
        Mode::Lmtp,
        b"LHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<bob@b.test>\r\nBDAT 7\r\nHello, BDAT 9 LAST\r\nworld\r\n\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(codes(&lines), ["220", "250", "250", "250", "250", "250", "221"], "{lines:#?}");
    assert_eq!(lines[lines.len() - 3], "250 2.0.0 7 octets received");
    assert_eq!(h.delivered, vec![b"Hello, world\r\n\r\n".to_vec()]);
    // LMTP: BDAT LAST with no valid recipients gets no reply at all (RFC 2033 §4.2).
    let (lines, h) = transcript(
        Mode::Lmtp,
        b"LHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<bad@b.test>\r\nBDAT 3 LAST\r\nabcNOOP\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(codes(&lines), ["220", "250", "250", "550", "250", "221"], "{lines:#?}");
    assert!(h.delivered.is_empty());
}

#[tokio::test]
async fn only_crlf_dot_crlf_ends_data() {
    // Smuggling attempts from protocols.md §7: none of them ends the body.
    let body = b"a\n.\nMAIL FROM:<evil@x.test>\r\nb\r.\rc\r\n.\rd\n.\r\ne\r\n\x00.\r\nf\r\n";
    let mut input = b"LHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<bob@b.test>\r\nDATA\r\n".to_vec();
    input.extend(body);
    input.extend(b".\r\nQUIT\r\n");
    let (lines, h) = transcript(Mode::Lmtp, &input).await;
    assert_eq!(codes(&lines), ["220", "250", "250", "250", "354", "250", "221"], "{lines:#?}");
    assert_eq!(h.delivered.len(), 1, "exactly one message");
    assert!(h.delivered[0].windows(4).any(|w| w == b"MAIL"), "the fake command stayed in the body");
}

#[tokio::test]
async fn garbage_overlong_lines_and_error_limit() {
    let mut input = b"LHLO x\r\n".to_vec();
    input.extend(vec![b'A'; 5000]);
    input.extend(b"\r\nNOOP\r\n\xff\xfe\r\nFOO\r\nBAR\r\nBAZ\r\nQUX\r\nNOOP\r\n");
    let (lines, _) = transcript(Mode::Lmtp, &input).await;
    let c = codes(&lines);
    assert_eq!(c[..4], ["220", "250", "500", "250"], "{lines:#?}");
    assert_eq!(c.last(), Some(&"421"), "closed after too many errors: {lines:#?}");
}

#[tokio::test]
async fn too_many_recipients_is_temporary() {
    let (lines, _) = transcript(
        Mode::Lmtp,
        b"LHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<temp@b.test>\r\nRCPT TO:<a@b.test>\r\nRCPT TO:<b@b.test>\r\n\
          RCPT TO:<c@b.test>\r\nRCPT TO:<d@b.test>\r\nRSET\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(
        codes(&lines),
        ["220", "250", "250", "451", "250", "250", "250", "452", "250", "221"],
        "{lines:#?}"
    );
}

#[tokio::test]
async fn empty_body_and_stuffed_first_line() {
    let (lines, h) = transcript(
        Mode::Lmtp,
        b"LHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<bob@b.test>\r\nDATA\r\n.\r\nMAIL FROM:<a@x.test>\r\n\
          RCPT TO:<bob@b.test>\r\nDATA\r\n..first\r\n.\r\nQUIT\r\n",
    )
    .await;
    assert_eq!(
        codes(&lines),
        ["220", "250", "250", "250", "354", "250", "250", "250", "354", "250", "221"],
        "{lines:#?}"
    );
    assert_eq!(h.delivered, vec![b"".to_vec(), b".first\r\n".to_vec()]);
}
