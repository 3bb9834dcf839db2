//! RFC 5230 section 4: whether a vacation action may answer this message. The interpreter
//! always returns the action (as Pigeonhole's result does); the delivery side asks here
//! before sending, then records the sender in its per-user store.

use crate::address;
use crate::editheader::Headers;
use crate::interp::{Envelope, decode_header};

/// Why no reply is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReply {
    NullSender,
    /// MAILER-DAEMON, owner-*, *-request and the like.
    SystemSender,
    AutoSubmitted,
    /// Precedence: bulk, list or junk.
    Bulk,
    /// List-Id and the other RFC 2369 list headers.
    MailingList,
    /// None of the user's addresses is among the recipients in To, Cc, Bcc and Resent-*.
    NotAddressed,
    /// The sender is the user.
    OwnMessage,
}

/// `None` when a reply may go to the envelope sender; `user` are the user's addresses (the
/// recipient and the vacation's `:addresses`).
pub fn should_reply(headers: &Headers, envelope: &Envelope, user: &[String]) -> Option<NoReply> {
    let sender = envelope.from.to_ascii_lowercase();
    if sender.is_empty() {
        return Some(NoReply::NullSender);
    }
    let local = sender.rsplit_once('@').map(|(l, _)| l).unwrap_or(&sender);
    if ["mailer-daemon", "listserv", "majordomo", "postmaster"].contains(&local)
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.starts_with("mailer-daemon")
    {
        return Some(NoReply::SystemSender);
    }
    if headers.raw("auto-submitted").any(|v| !decode_header(v).eq_ignore_ascii_case("no")) {
        return Some(NoReply::AutoSubmitted);
    }
    if headers.raw("precedence").any(|v| {
        let v = decode_header(v).to_ascii_lowercase();
        v == "bulk" || v == "list" || v == "junk"
    }) {
        return Some(NoReply::Bulk);
    }
    const LIST: &[&str] = &[
        "list-id",
        "list-owner",
        "list-subscribe",
        "list-post",
        "list-unsubscribe",
        "list-help",
        "list-archive",
    ];
    if LIST.iter().any(|h| headers.raw(h).next().is_some()) {
        return Some(NoReply::MailingList);
    }
    let mine = |a: &str| user.iter().any(|u| u.eq_ignore_ascii_case(a));
    if mine(&sender) {
        return Some(NoReply::OwnMessage);
    }
    let addressed = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]
        .iter()
        .flat_map(|h| headers.raw(h))
        .flat_map(address::parse_list)
        .any(|a| mine(&a));
    if !addressed {
        return Some(NoReply::NotAddressed);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(fields: &[(&str, &str)]) -> Headers {
        Headers {
            fields: fields.iter().map(|(n, v)| (n.to_string(), format!(" {v}"))).collect(),
            changed: false,
        }
    }

    #[test]
    fn rules() {
        let env = Envelope { from: "a@example.com".into(), to: "me@example.net".into(), orig_to: None };
        let me = vec!["me@example.net".to_string()];
        assert_eq!(should_reply(&h(&[("To", "Me <me@example.net>")]), &env, &me), None);
        assert_eq!(should_reply(&h(&[("To", "other@example.net")]), &env, &me), Some(NoReply::NotAddressed));
        assert_eq!(
            should_reply(&h(&[("To", "me@example.net"), ("List-Id", "<l.x>")]), &env, &me),
            Some(NoReply::MailingList)
        );
        assert_eq!(
            should_reply(&h(&[("To", "me@example.net"), ("Auto-Submitted", "auto-replied")]), &env, &me),
            Some(NoReply::AutoSubmitted)
        );
        assert_eq!(should_reply(&h(&[("To", "me@example.net"), ("Auto-Submitted", "no")]), &env, &me), None);
        assert_eq!(should_reply(&h(&[("Precedence", "bulk")]), &env, &me), Some(NoReply::Bulk));
        let null = Envelope { from: String::new(), ..env.clone() };
        assert_eq!(should_reply(&h(&[]), &null, &me), Some(NoReply::NullSender));
        let daemon = Envelope { from: "MAILER-DAEMON@x.org".into(), ..env };
        assert_eq!(should_reply(&h(&[]), &daemon, &me), Some(NoReply::SystemSender));
    }
}
