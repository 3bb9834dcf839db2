//! The messages delivery writes itself: vacation replies (RFC 5230 §5) and the notice a
//! `reject` sends when it cannot refuse in the protocol (an MDN, RFC 5429 §2.1 and RFC 8098).
//! Both are marked `Auto-Submitted: auto-replied` (RFC 3834) and go to the envelope sender
//! from the null sender, so they never start a mail loop.

use std::sync::atomic::{AtomicU64, Ordering};

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};
use sieve::editheader::Headers;
use sieve::interp::decode_header;

/// What a reply takes from the message it answers.
pub struct Original<'a> {
    pub headers: &'a Headers,
    /// The recipient whose script answers (the reply's default From:).
    pub recipient: &'a str,
    /// The envelope sender, who gets the reply.
    pub sender: &'a str,
    pub hostname: &'a str,
    pub now: i64,
}

impl Original<'_> {
    fn first(&self, name: &str) -> Option<String> {
        self.headers.raw(name).next().map(|v| decode_header(v).trim().to_string())
    }

    /// `<id>` of the answered message, without the brackets.
    fn message_id(&self) -> Option<String> {
        let id = self.first("message-id")?;
        let id = id.trim_start_matches('<').trim_end_matches('>').trim().to_string();
        (!id.is_empty() && !id.contains(char::is_whitespace)).then_some(id)
    }

    fn our_id(&self, what: &str) -> String {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        format!("{what}.{}.{}.{seq}@{}", self.now, std::process::id(), self.hostname)
    }
}

/// A vacation reply to `o.sender` for `v`.
pub fn vacation(v: &sieve::Vacation, o: &Original<'_>) -> std::io::Result<Vec<u8>> {
    let subject = v.subject.clone().unwrap_or_else(|| match o.first("subject") {
        Some(s) if !s.is_empty() => format!("Auto: {s}"),
        _ => "Automated reply".to_string(),
    });
    let mut m = MessageBuilder::new()
        .to(o.sender)
        .subject(subject)
        .date(Date::new(o.now))
        .message_id(o.our_id("vacation"))
        .header("Auto-Submitted", Raw::new("auto-replied (vacation)"))
        .header("Precedence", Raw::new("bulk"));
    m = match &v.from {
        // A full mailbox ("Name <addr>") goes in as the script wrote it.
        // A line break from the script must not start a header of its own.
        Some(from) if from.contains('<') => m.header("From", Raw::new(from.replace(char::is_control, " "))),
        Some(from) => m.from(from.as_str()),
        None => m.from(o.recipient),
    };
    if let Some(id) = o.message_id() {
        let mut refs: Vec<String> = o
            .first("references")
            .map(|r| r.split_whitespace().map(|x| x.trim_matches(['<', '>']).to_string()).collect())
            .unwrap_or_default();
        refs.push(id.clone());
        m = m.in_reply_to(id).references(refs);
    }
    // With :mime the reason is a MIME entity, header and body, taken as it is.
    let body = if v.mime {
        MimePart::raw(BodyPart::Text(crlf(&v.reason).into()))
    } else {
        MimePart::new(
            ContentType::new("text/plain").attribute("charset", "utf-8"),
            BodyPart::Text(v.reason.clone().into()),
        )
    };
    m.body(body).write_to_vec()
}

/// The MDN `reject` sends to `o.sender`, with `original` attached whole.
pub fn reject_notice(reason: &str, original: &[u8], o: &Original<'_>) -> std::io::Result<Vec<u8>> {
    let subject = match o.first("subject") {
        Some(s) if !s.is_empty() => format!("Rejected: {s}"),
        _ => "Rejected: your message".to_string(),
    };
    let human = format!(
        "Your message to <{}> was automatically rejected:\r\n{}\r\n",
        o.recipient,
        crlf(reason).trim_end()
    );
    let mut report =
        format!("Reporting-UA: {}; mailroom-mda\r\nFinal-Recipient: rfc822; {}\r\n", o.hostname, o.recipient);
    if let Some(id) = o.message_id() {
        report.push_str(&format!("Original-Message-ID: <{id}>\r\n"));
    }
    report.push_str("Disposition: automatic-action/MDN-sent-automatically; deleted\r\n");
    let body = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "disposition-notification"),
        vec![
            MimePart::new(
                ContentType::new("text/plain").attribute("charset", "utf-8"),
                BodyPart::Text(human.into()),
            ),
            MimePart::new(
                ContentType::new("message/disposition-notification"),
                BodyPart::Text(report.into()),
            )
            .transfer_encoding("7bit"),
            // message/rfc822 may not be encoded (RFC 2046 §5.2.1): 8bit when it has 8-bit bytes.
            MimePart::new(ContentType::new("message/rfc822"), BodyPart::Binary(original.to_vec().into()))
                .transfer_encoding(if original.is_ascii() { "7bit" } else { "8bit" }),
        ],
    );
    MessageBuilder::new()
        .from(("Mail Delivery Subsystem", format!("MAILER-DAEMON@{}", o.hostname).as_str()))
        .to(o.sender)
        .subject(subject)
        .date(Date::new(o.now))
        .message_id(o.our_id("reject"))
        .header("Auto-Submitted", Raw::new("auto-replied (rejected)"))
        .body(body)
        .write_to_vec()
}

/// `s` with CRLF line ends (scripts carry LF or CRLF).
fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn original(raw: &[u8]) -> Headers {
        Headers::of(&MessageParser::default().parse(raw).unwrap())
    }

    /// a@x.test's message to bob@b.test, answered at a fixed time.
    fn from_a_to_bob(headers: &Headers) -> Original<'_> {
        Original {
            headers,
            recipient: "bob@b.test",
            sender: "a@x.test",
            hostname: "mx.b.test",
            now: 1_700_000_000,
        }
    }

    #[test]
    fn vacation_reply_threads_and_is_marked() {
        let h = original(b"From: a@x.test\r\nSubject: Lunch?\r\nMessage-ID: <m1@x.test>\r\nReferences: <m0@x.test>\r\n\r\nhi\r\n");
        let o = from_a_to_bob(&h);
        let v = sieve::Vacation {
            reason: "I am away.".into(),
            subject: None,
            from: None,
            addresses: vec![],
            mime: false,
            handle: String::new(),
            seconds: 86400,
        };
        let out = String::from_utf8(vacation(&v, &o).unwrap()).unwrap();
        let parsed = MessageParser::default().parse(out.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some("Auto: Lunch?"));
        assert_eq!(parsed.in_reply_to().as_text(), Some("m1@x.test"));
        assert!(out.contains("Auto-Submitted: auto-replied"), "{out}");
        assert!(out.contains("References: <m0@x.test> <m1@x.test>"), "{out}");
        assert_eq!(parsed.body_text(0).unwrap().trim(), "I am away.");
        assert_eq!(parsed.from().unwrap().first().unwrap().address(), Some("bob@b.test"));
        let mime = sieve::Vacation {
            reason: "Content-Type: text/plain; charset=us-ascii\n\nAway (mime).\n".into(),
            mime: true,
            from: Some("Bob <bob@b.test>".into()),
            subject: Some("Out".into()),
            ..v
        };
        let out = vacation(&mime, &o).unwrap();
        let parsed = MessageParser::default().parse(&out).unwrap();
        assert_eq!(parsed.body_text(0).unwrap().trim(), "Away (mime).");
        assert_eq!(parsed.subject(), Some("Out"));
        assert_eq!(parsed.from().unwrap().first().unwrap().name(), Some("Bob"));
    }

    #[test]
    fn reject_notice_is_an_mdn_with_the_original() {
        let raw = b"From: a@x.test\r\nSubject: Buy now\r\nMessage-ID: <s1@x.test>\r\n\r\nspam\r\n";
        let h = original(raw);
        let o = from_a_to_bob(&h);
        let out = String::from_utf8(reject_notice("No spam, thanks.", raw, &o).unwrap()).unwrap();
        assert!(
            out.contains("report-type=\"disposition-notification\"")
                || out.contains("report-type=disposition-notification"),
            "{out}"
        );
        assert!(out.contains("Disposition: automatic-action/MDN-sent-automatically; deleted"), "{out}");
        assert!(out.contains("Original-Message-ID: <s1@x.test>"), "{out}");
        assert!(out.contains("No spam, thanks."), "{out}");
        assert!(out.contains("Subject: Buy now"), "the original is attached: {out}");
    }
}
