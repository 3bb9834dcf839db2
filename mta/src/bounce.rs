//! Delivery status notifications (RFC 3464, RFC 3461): the multipart/report a sender gets when
//! delivery failed (or succeeded, when NOTIFY=SUCCESS asked for it), with one
//! message/delivery-status block per recipient and the original message or its headers.
//! Built from the recipients' typed outcomes: Status and Diagnostic-Code come from the reply
//! that decided each one, an expiry is reported as 4.4.7 with the last reply as diagnostic.

use std::io::Read;

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

use crate::queue::{Envelope, Outcome, Queued, Rcpt, Recipient, Ret};

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

impl Action {
    /// The report `outcome` belongs in, if any (a deferral is not reported: no DELAY DSNs).
    pub fn of(outcome: &Outcome) -> Option<Action> {
        match outcome {
            Outcome::Sent(_) => Some(Action::Delivered),
            Outcome::Bounced(_) | Outcome::Expired(_) => Some(Action::Failed),
            Outcome::Deferred(_) => None,
        }
    }
}

/// One recipient's part of the report.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    /// The recipient.
    pub rcpt: &'a Recipient,
    /// What happened to it.
    pub outcome: &'a Outcome,
}

impl Item<'_> {
    /// The human-readable line: the reply, and for an expiry why we gave up.
    fn line(&self) -> String {
        let reply = &self.outcome.attempt().reply;
        match self.outcome {
            Outcome::Expired(_) => format!("delivery time expired; last reply: {reply}"),
            _ => reply.to_string(),
        }
    }
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

/// The `action` report about recipients `rcpts` of `q` (those just tried), or `None` when
/// none of them ended that way and asked for it (RFC 3461 NOTIFY; without NOTIFY, failures
/// only) or the sender is the null sender (a bounce that bounced: nobody to tell, RFC 5321
/// §4.5.5; the log keeps the record).
pub fn notification(
    q: &Queued,
    action: Action,
    rcpts: &[Rcpt],
    reporting_mta: &str,
    now: i64,
) -> std::io::Result<Option<Vec<u8>>> {
    let env = &q.envelope;
    let items: Vec<Item<'_>> = rcpts
        .iter()
        .filter_map(|&r| Some(Item { rcpt: env.recipient(r), outcome: q.state.outcomes.get(&r)? }))
        .filter(|i| Action::of(i.outcome) == Some(action))
        .filter(|i| if action == Action::Failed { i.rcpt.notify.failure } else { i.rcpt.notify.success })
        .collect();
    if items.is_empty() {
        return Ok(None);
    }
    if env.sender.is_empty() {
        tracing::warn!("{}: undeliverable notification discarded", env.id);
        return Ok(None);
    }
    let size = q.size()?;
    let full = action == Action::Failed && return_full(env, size);
    let original = if full {
        let mut buf = Vec::with_capacity(size as usize);
        q.message()?.read_to_end(&mut buf)?;
        buf
    } else {
        q.headers(RETURN_LIMIT as usize)?
    };
    let report =
        Report { action, reporting_mta, envelope: env, items, original, original_is_full: full, now };
    build(&report).map(Some)
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
        text.push_str(&format!("<{}>: {}\r\n", item.rcpt.address, one_line(&item.line())));
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
        status.push_str(&format!("Action: {action}\r\nStatus: {}\r\n", item.outcome.status()));
        let diagnostic = item.outcome.attempt().reply.to_string();
        status.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(&diagnostic)));
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
    use crate::queue::{Attempt, Notify, QueueId, Reply, Spool, Transport};

    fn rcpt(address: &str, notify: Notify) -> Recipient {
        Recipient { address: address.into(), transport: Transport::Local, orcpt: None, notify }
    }

    fn env() -> Envelope {
        let mut nobody = rcpt("nobody@b.test", Notify::DEFAULT);
        nobody.orcpt = Some("rfc822;team@b.test".into());
        let never = Notify { explicit: true, ..Notify::default() };
        Envelope {
            id: QueueId::parse("0123456789ABCDEF").unwrap(),
            arrival: 1_790_000_000,
            sender: "alice@a.test".into(),
            ret: None,
            envid: Some("abc123".into()),
            body_8bit: false,
            smtputf8: false,
            requiretls: false,
            client: "[192.0.2.7]".into(),
            helo: "a.test".into(),
            auth: None,
            recipients: vec![
                nobody,
                rcpt("late@c.test", Notify::DEFAULT),
                rcpt("quiet@b.test", never),
                rcpt("bob@b.test", Notify::DEFAULT),
            ],
        }
    }

    fn tried(reply: &str) -> Attempt {
        Attempt { reply: Reply::parse(reply).unwrap(), relay: Some("unix:/run/lmtp".into()) }
    }

    /// The queued message of [`env`], each recipient with an outcome.
    async fn queued(dir: &std::path::Path) -> Queued {
        let spool = Spool::open(dir).unwrap();
        let mut inc = spool.create(env()).unwrap();
        inc.write(b"Subject: hello\r\n\r\nbody\r\n").unwrap();
        let id = spool.commit(inc).await.unwrap();
        let mut q = spool.lock(&id, false).unwrap().unwrap();
        let r: Vec<Rcpt> = q.envelope.rcpts().collect();
        let outcomes = [
            Outcome::Bounced(tried("550 5.1.1 <nobody@b.test> User unknown")),
            Outcome::Expired(tried("451 4.4.1 connect to 192.0.2.1:25: refused")),
            Outcome::Bounced(tried("550 5.1.1 no")),
            Outcome::Sent(tried("250 2.0.0 Saved")),
        ];
        q.state.outcomes = r.into_iter().zip(outcomes).collect();
        q
    }

    #[tokio::test]
    async fn failure_report_has_the_rfc3464_parts() {
        let dir = tempfile::tempdir().unwrap();
        let q = queued(dir.path()).await;
        let all: Vec<Rcpt> = q.envelope.rcpts().collect();
        let msg = notification(&q, Action::Failed, &all, "mx.b.test", 1_790_000_100).unwrap().unwrap();
        let msg = String::from_utf8(msg).unwrap();
        for want in [
            "To: <alice@a.test>",
            "Auto-Submitted: auto-replied",
            "multipart/report",
            "report-type=\"delivery-status\"",
            "Content-Type: message/delivery-status",
            "Reporting-MTA: dns; mx.b.test",
            "Original-Envelope-Id: abc123",
            "<nobody@b.test>: 550 5.1.1 <nobody@b.test> User unknown\r\n",
            "Final-Recipient: rfc822; nobody@b.test\r\nOriginal-Recipient: rfc822;team@b.test\r\n\
             Action: failed\r\nStatus: 5.1.1\r\n\
             Diagnostic-Code: smtp; 550 5.1.1 <nobody@b.test> User unknown\r\n",
            "<late@c.test>: delivery time expired; last reply: 451 4.4.1 connect to",
            "Final-Recipient: rfc822; late@c.test\r\nAction: failed\r\nStatus: 4.4.7\r\n\
             Diagnostic-Code: smtp; 451 4.4.1 connect to 192.0.2.1:25: refused\r\n",
            "Content-Type: message/rfc822",
            "Subject: hello\r\n\r\nbody\r\n",
        ] {
            assert!(msg.contains(want), "missing {want:?} in\n{msg}");
        }
        // NOTIFY=NEVER and a delivered recipient are not in a failure report.
        assert!(!msg.contains("quiet@b.test") && !msg.contains("bob@b.test"), "{msg}");
        assert!(!msg.replace("\r\n", "").contains('\n'), "bare LF in the report");

        // Only the recipients just tried; nobody who asked for a success report.
        assert_eq!(notification(&q, Action::Failed, &all[2..], "mx.b.test", 0).unwrap(), None);
        assert_eq!(notification(&q, Action::Delivered, &all, "mx.b.test", 0).unwrap(), None);
    }

    #[tokio::test]
    async fn the_null_sender_gets_no_report() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = queued(dir.path()).await;
        q.envelope.sender.clear();
        let all: Vec<Rcpt> = q.envelope.rcpts().collect();
        assert_eq!(notification(&q, Action::Failed, &all, "mx.b.test", 0).unwrap(), None);
    }

    #[test]
    fn what_is_returned() {
        let mut e = env();
        assert!(return_full(&e, 1000));
        assert!(!return_full(&e, RETURN_LIMIT + 1));
        e.ret = Some(Ret::Headers);
        assert!(!return_full(&e, 10));
    }
}
