//! Delivery status notifications (RFC 3464, RFC 3461): the multipart/report a sender gets when
//! delivery failed (or succeeded, when NOTIFY=SUCCESS asked for it), with one
//! message/delivery-status block per recipient and the original message or its headers.

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

use crate::queue::{Envelope, Recipient, Ret};

/// Most bytes of the original message returned in full (Postfix's bounce_size_limit); above
/// it, or with RET=HDRS, only the headers come back.
pub const RETURN_LIMIT: u64 = 50_000;

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Action: failed.
    Failed,
    /// Action: delivered.
    Delivered,
}

/// One recipient's line in the report.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    /// The recipient.
    pub rcpt: &'a Recipient,
    /// Status, e.g. `5.1.1`.
    pub status: String,
    /// What the server said (`550 5.1.1 ...`), or our own reason.
    pub diagnostic: String,
}

/// The report's contents.
pub struct Report<'a> {
    /// Failed or delivered (all items share it).
    pub action: Action,
    /// Our host name (Reporting-MTA).
    pub reporting_mta: &'a str,
    /// The original envelope.
    pub envelope: &'a Envelope,
    /// Recipients reported.
    pub items: Vec<Item<'a>>,
    /// The original message (whole, when small enough and RET allows) or its headers.
    pub original: Vec<u8>,
    /// `original` is the whole message.
    pub original_is_full: bool,
    /// Seconds since the epoch.
    pub now: i64,
}

/// Whether the whole original goes back: RET=FULL or unspecified, and small enough. Postfix
/// returns the full message by default too.
pub fn return_full(env: &Envelope, size: u64) -> bool {
    env.ret != Some(Ret::Headers) && size <= RETURN_LIMIT
}

/// The status code in a reply such as `550 5.1.1 text`, or one derived from its class.
pub fn status_of(reply: &str) -> String {
    let mut words = reply.split_whitespace();
    let class =
        words.next().and_then(|c| c.chars().next()).filter(|c| matches!(c, '2' | '4' | '5')).unwrap_or('4');
    match words.next() {
        Some(s) if s.split('.').count() == 3 && s.split('.').all(|p| p.parse::<u16>().is_ok()) => {
            s.to_string()
        }
        _ => format!("{class}.0.0"),
    }
}

/// Build the DSN message (CRLF line ends), addressed to the original sender.
pub fn build(report: &Report<'_>) -> std::io::Result<Vec<u8>> {
    let env = report.envelope;
    let (subject, intro) = match report.action {
        Action::Failed => (
            "Undelivered Mail Returned to Sender",
            "I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients. It's attached below.",
        ),
        Action::Delivered => (
            "Successful Mail Delivery Report",
            "Your message was successfully delivered to the destination(s)\r\nlisted below.",
        ),
    };
    let mut text =
        format!("This is the mail system at host {}.\r\n\r\n{intro}\r\n\r\n", report.reporting_mta);
    for item in &report.items {
        text.push_str(&format!("<{}>: {}\r\n", item.rcpt.address, one_line(&item.diagnostic)));
    }

    let mut status = format!(
        "Reporting-MTA: dns; {}\r\nX-Mailroom-Queue-ID: {}\r\nX-Mailroom-Sender: rfc822; {}\r\n",
        report.reporting_mta, env.id, env.sender
    );
    if let Some(envid) = &env.envid {
        status.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(envid)));
    }
    status.push_str(&format!("Arrival-Date: {}\r\n", Date::new(env.arrival as i64).to_rfc822()));
    for item in &report.items {
        status.push_str(&format!("\r\nFinal-Recipient: rfc822; {}\r\n", item.rcpt.address));
        if let Some(o) = &item.rcpt.orcpt {
            status.push_str(&format!("Original-Recipient: {}\r\n", one_line(o)));
        }
        let action = if report.action == Action::Failed { "failed" } else { "delivered" };
        status.push_str(&format!("Action: {action}\r\nStatus: {}\r\n", item.status));
        status.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(&item.diagnostic)));
    }

    let (orig_type, orig_desc) = if report.original_is_full {
        ("message/rfc822", "Undelivered Message")
    } else {
        ("text/rfc822-headers", "Message Headers")
    };
    let orig_desc = if report.action == Action::Delivered { "Delivered Message Headers" } else { orig_desc };
    let encoding = if env.body_8bit || env.smtputf8 { "8bit" } else { "7bit" };
    let parts = vec![
        MimePart::new(
            ContentType::new("text/plain").attribute("charset", "us-ascii"),
            BodyPart::Text(text.into()),
        )
        .header("Content-Description", Raw::new("Notification")),
        MimePart::new(ContentType::new("message/delivery-status"), BodyPart::Text(status.into()))
            .header("Content-Description", Raw::new("Delivery report"))
            .transfer_encoding("7bit"),
        MimePart::new(ContentType::new(orig_type), BodyPart::Binary(report.original.clone().into()))
            .header("Content-Description", Raw::new(orig_desc))
            .transfer_encoding(encoding),
    ];
    let body = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        BodyPart::Multipart(parts),
    );
    MessageBuilder::new()
        .from(("Mail Delivery System".to_string(), format!("MAILER-DAEMON@{}", report.reporting_mta)))
        .to(env.sender.as_str())
        .subject(subject)
        .date(Date::new(report.now))
        .message_id(format!("{}.{}@{}", env.id, report.now, report.reporting_mta))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(body)
        .write_to_vec()
}

/// Server text in a header field: one line, no control characters.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Notify, QueueId, Transport};

    fn env() -> Envelope {
        Envelope {
            id: QueueId::parse("0123456789ABCDEF").unwrap(),
            arrival: 1_790_000_000,
            sender: "alice@a.test".into(),
            ret: None,
            envid: Some("abc123".into()),
            body_8bit: false,
            smtputf8: false,
            client: "[192.0.2.7]".into(),
            helo: "a.test".into(),
            auth: None,
            recipients: vec![Recipient {
                address: "nobody@b.test".into(),
                transport: Transport::Local,
                orcpt: Some("rfc822;team@b.test".into()),
                notify: Notify::DEFAULT,
            }],
        }
    }

    #[test]
    fn failure_report_has_the_rfc3464_parts() {
        let e = env();
        let report = Report {
            action: Action::Failed,
            reporting_mta: "mx.b.test",
            envelope: &e,
            items: vec![Item {
                rcpt: &e.recipients[0],
                status: status_of("550 5.1.1 <nobody@b.test> User unknown"),
                diagnostic: "550 5.1.1 <nobody@b.test> User unknown".into(),
            }],
            original: b"Subject: hello\r\n\r\nbody\r\n".to_vec(),
            original_is_full: true,
            now: 1_790_000_100,
        };
        let msg = String::from_utf8(build(&report).unwrap()).unwrap();
        for want in [
            "To: <alice@a.test>",
            "Auto-Submitted: auto-replied",
            "multipart/report",
            "report-type=\"delivery-status\"",
            "Content-Type: message/delivery-status",
            "Reporting-MTA: dns; mx.b.test",
            "Original-Envelope-Id: abc123",
            "Final-Recipient: rfc822; nobody@b.test",
            "Original-Recipient: rfc822;team@b.test",
            "Action: failed",
            "Status: 5.1.1",
            "Diagnostic-Code: smtp; 550 5.1.1 <nobody@b.test> User unknown",
            "Content-Type: message/rfc822",
            "Subject: hello\r\n\r\nbody\r\n",
        ] {
            assert!(msg.contains(want), "missing {want:?} in\n{msg}");
        }
        assert!(!msg.replace("\r\n", "").contains('\n'), "bare LF in the report");
    }

    #[test]
    fn status_codes_and_what_is_returned() {
        assert_eq!(status_of("452 4.2.2 full"), "4.2.2");
        assert_eq!(status_of("550 User unknown"), "5.0.0");
        assert_eq!(status_of("garbage"), "4.0.0");
        let mut e = env();
        assert!(return_full(&e, 1000));
        assert!(!return_full(&e, RETURN_LIMIT + 1));
        e.ret = Some(Ret::Headers);
        assert!(!return_full(&e, 10));
    }
}
