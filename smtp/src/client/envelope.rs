//! The envelope and its commands: MAIL FROM and RCPT TO lines with only the parameters the
//! server offered (SIZE RFC 1870, BODY RFC 6152, SMTPUTF8 RFC 6531, RET/ENVID/NOTIFY/ORCPT
//! RFC 3461), and the refusals decided before anything is sent. No I/O.

use super::reply::{Capabilities, ServerReply};

/// One recipient with its DSN requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipient {
    /// The address, without angle brackets.
    pub address: String,
    /// DSN NOTIFY: "NEVER" or a comma list of SUCCESS, FAILURE, DELAY.
    pub notify: Option<String>,
    /// DSN ORCPT, decoded: "rfc822;bob@b.test".
    pub orcpt: Option<String>,
}

impl Recipient {
    /// A recipient without DSN requests.
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient { address: address.into(), notify: None, orcpt: None }
    }
}

/// One message's envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path without angle brackets; "" is the null sender `<>`.
    pub sender: String,
    /// DSN RET: FULL or HDRS.
    pub ret: Option<String>,
    /// DSN ENVID, decoded (it is xtext-encoded here).
    pub envid: Option<String>,
    /// The body has 8-bit bytes (BODY=8BITMIME).
    pub body_8bit: bool,
    /// The sender asked for SMTPUTF8.
    pub smtputf8: bool,
    /// REQUIRETLS (RFC 8689): the server must offer it, and MAIL FROM carries it. That the
    /// session is TLS, verified, is the caller's to ensure.
    pub requiretls: bool,
    /// The message size in bytes, for SIZE=.
    pub size: Option<u64>,
    /// The recipients, in order; [`super::Outcome`] answers them in this order.
    pub recipients: Vec<Recipient>,
}

/// What can be decided about an envelope before talking: refusals that would be the same on
/// every try (so they are permanent), and whether to ask for SMTPUTF8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The whole message is refused.
    pub mail: Option<ServerReply>,
    /// Per recipient: refused here, or `None` to send it.
    pub recipients: Vec<Option<ServerReply>>,
    /// Send the SMTPUTF8 parameter.
    pub smtputf8: bool,
}

/// A command line may carry no CR, LF or other control character (they would end it early and
/// smuggle a command), nor angle brackets inside the path.
fn sendable(address: &str) -> bool {
    !address.chars().any(|c| c.is_control() || c == '<' || c == '>')
}

const NEED_UTF8: &str = "SMTPUTF8 is required, but was not offered by host";

/// Decide what the server's capabilities already rule out; Postfix's smtp client bounces the
/// same cases (5.3.4 size, 5.6.7 SMTPUTF8).
pub(crate) fn plan(env: &Envelope, caps: &Capabilities) -> Plan {
    let utf8 = |a: &str| !a.is_ascii();
    let needs_utf8 = utf8(&env.sender) || env.recipients.iter().any(|r| utf8(&r.address));
    let mail = if !sendable(&env.sender) {
        Some(ServerReply::new(553, Some("5.1.7"), "bad sender address syntax"))
    } else if utf8(&env.sender) && !caps.smtputf8 {
        Some(ServerReply::new(553, Some("5.6.7"), NEED_UTF8))
    } else if env.requiretls && !caps.requiretls {
        // RFC 8689 §5: a next hop without REQUIRETLS fails the message, for good.
        Some(ServerReply::new(550, Some("5.7.10"), "REQUIRETLS needed, but was not offered by host"))
    } else if env.body_8bit && !caps.eightbitmime {
        // RFC 6152 §3: without 8BITMIME, convert or return it; mailroom does not convert.
        Some(ServerReply::new(554, Some("5.6.3"), "8-bit content, but the host does not offer 8BITMIME"))
    } else {
        match (env.size, caps.size) {
            (Some(size), Some(limit)) if limit > 0 && size > limit => Some(ServerReply::new(
                552,
                Some("5.3.4"),
                format!("message size {size} exceeds size limit {limit} of server"),
            )),
            _ => None,
        }
    };
    let recipients = env
        .recipients
        .iter()
        .map(|r| {
            if !sendable(&r.address) || r.address.is_empty() {
                Some(ServerReply::new(553, Some("5.1.3"), "bad recipient address syntax"))
            } else if utf8(&r.address) && !caps.smtputf8 {
                Some(ServerReply::new(553, Some("5.6.7"), NEED_UTF8))
            } else {
                None
            }
        })
        .collect();
    Plan { mail, recipients, smtputf8: caps.smtputf8 && (env.smtputf8 || needs_utf8) }
}

/// `MAIL FROM:<sender> params` with CRLF.
pub(crate) fn mail_from(env: &Envelope, caps: &Capabilities, smtputf8: bool) -> String {
    let mut line = format!("MAIL FROM:<{}>", env.sender);
    if let (Some(size), Some(_)) = (env.size, caps.size) {
        line.push_str(&format!(" SIZE={size}"));
    }
    if env.body_8bit && caps.eightbitmime {
        line.push_str(" BODY=8BITMIME");
    }
    if smtputf8 {
        line.push_str(" SMTPUTF8");
    }
    if env.requiretls && caps.requiretls {
        line.push_str(" REQUIRETLS");
    }
    if caps.dsn {
        if let Some(ret) =
            env.ret.as_deref().filter(|r| r.eq_ignore_ascii_case("FULL") || r.eq_ignore_ascii_case("HDRS"))
        {
            line.push_str(&format!(" RET={}", ret.to_ascii_uppercase()));
        }
        // RFC 3461 §4.4: at most 100 characters.
        if let Some(envid) = env.envid.as_deref().filter(|e| !e.is_empty() && e.len() <= 100) {
            line.push_str(&format!(" ENVID={}", proto::xtext::encode(envid)));
        }
    }
    line.push_str("\r\n");
    line
}

/// `RCPT TO:<address> params` with CRLF.
pub(crate) fn rcpt_to(rcpt: &Recipient, caps: &Capabilities) -> String {
    let mut line = format!("RCPT TO:<{}>", rcpt.address);
    if caps.dsn {
        if let Some(notify) = rcpt.notify.as_deref().and_then(notify) {
            line.push_str(&format!(" NOTIFY={notify}"));
        }
        if let Some(orcpt) = rcpt.orcpt.as_deref().and_then(orcpt) {
            line.push_str(&format!(" ORCPT={orcpt}"));
        }
    }
    line.push_str("\r\n");
    line
}

/// A NOTIFY value in canonical form, or `None` when it is not one (RFC 3461 §4.1: NEVER alone,
/// or any of SUCCESS, FAILURE, DELAY); a bad one is dropped rather than sent to be refused.
fn notify(value: &str) -> Option<String> {
    let words: Vec<String> = value.split(',').map(|w| w.trim().to_ascii_uppercase()).collect();
    let never = words.len() == 1 && words[0] == "NEVER";
    let list = words.iter().all(|w| matches!(w.as_str(), "SUCCESS" | "FAILURE" | "DELAY"));
    (never || list).then(|| words.join(","))
}

/// `type;proto::xtext::encode(address)` from a decoded ORCPT (RFC 3461 §4.2); "rfc822" when no type is given.
fn orcpt(value: &str) -> Option<String> {
    let (kind, address) = value.split_once(';').unwrap_or(("rfc822", value));
    let atom = !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (atom && !address.is_empty()).then(|| format!("{kind};{}", proto::xtext::encode(address)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Capabilities {
        Capabilities {
            pipelining: true,
            size: Some(1000),
            eightbitmime: true,
            smtputf8: true,
            dsn: true,
            ..Default::default()
        }
    }

    fn env() -> Envelope {
        Envelope {
            sender: "a@x.test".into(),
            ret: Some("hdrs".into()),
            envid: Some("Q+1 x=y".into()),
            body_8bit: true,
            smtputf8: true,
            requiretls: false,
            size: Some(500),
            recipients: vec![Recipient {
                address: "b@y.test".into(),
                notify: Some("success, failure".into()),
                orcpt: Some("rfc822;B@Y.test".into()),
            }],
        }
    }

    #[test]
    fn parameters_only_when_offered() {
        let e = env();
        let cases: [(Capabilities, &str, &str); 3] = [
            (
                all(),
                "MAIL FROM:<a@x.test> SIZE=500 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=Q+2B1+20x+3Dy\r\n",
                "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B@Y.test\r\n",
            ),
            (Capabilities::default(), "MAIL FROM:<a@x.test>\r\n", "RCPT TO:<b@y.test>\r\n"),
            (
                Capabilities { size: Some(0), ..Default::default() },
                "MAIL FROM:<a@x.test> SIZE=500\r\n",
                "RCPT TO:<b@y.test>\r\n",
            ),
        ];
        for (caps, mail, rcpt) in cases {
            let p = plan(&e, &caps);
            assert_eq!(mail_from(&e, &caps, p.smtputf8), mail, "{caps:?}");
            assert_eq!(rcpt_to(&e.recipients[0], &caps), rcpt, "{caps:?}");
        }
        let null = Envelope { sender: String::new(), ..Default::default() };
        assert_eq!(mail_from(&null, &all(), false), "MAIL FROM:<>\r\n");
    }

    #[test]
    fn dsn_values_are_checked_and_encoded() {
        for (value, want) in [
            ("NEVER", Some("NEVER")),
            ("delay", Some("DELAY")),
            ("NEVER,SUCCESS", None),
            ("SOMETIMES", None),
            ("", None),
        ] {
            assert_eq!(notify(value).as_deref(), want, "{value}");
        }
        for (value, want) in [
            ("rfc822;bob@b.test", Some("rfc822;bob@b.test")),
            ("bob@b.test", Some("rfc822;bob@b.test")),
            ("utf-8;jøran@b.test", Some("utf-8;j+C3+B8ran@b.test")),
            ("bad type;x@y", None),
            ("rfc822;", None),
        ] {
            assert_eq!(orcpt(value).as_deref(), want, "{value}");
        }
        assert_eq!(proto::xtext::encode("a+b=c d\r\n"), "a+2Bb+3Dc+20d+0D+0A");
    }

    #[test]
    fn refusals_decided_before_sending() {
        let mut e = env();
        e.size = Some(2000);
        let p = plan(&e, &all());
        assert_eq!(p.mail.as_ref().map(|r| (r.code, r.enhanced.as_deref())), Some((552, Some("5.3.4"))));

        let ascii = Capabilities { smtputf8: false, ..all() };
        let mut e = env();
        e.recipients.push(Recipient::new("jøran@y.test"));
        e.recipients.push(Recipient::new("x@y.test>\r\nRSET"));
        let p = plan(&e, &ascii);
        assert_eq!(p.mail, None);
        let codes: Vec<_> =
            p.recipients.iter().map(|r| r.as_ref().and_then(|r| r.enhanced.clone())).collect();
        assert_eq!(codes, [None, Some("5.6.7".into()), Some("5.1.3".into())]);
        assert!(!p.smtputf8, "not offered, so never sent");
        assert!(plan(&e, &all()).smtputf8, "non-ASCII recipient: asked for when offered");

        e.sender = "jøran@x.test".into();
        assert_eq!(plan(&e, &ascii).mail.and_then(|r| r.enhanced), Some("5.6.7".into()));
        e.sender = "a@x.test\r\nDATA".into();
        assert_eq!(plan(&e, &all()).mail.and_then(|r| r.enhanced), Some("5.1.7".into()));

        let seven = Capabilities { eightbitmime: false, ..all() };
        let mut e = Envelope { body_8bit: false, ..env() };
        assert_eq!(plan(&e, &seven).mail, None, "7-bit content goes anywhere");
        e.body_8bit = true;
        assert_eq!(plan(&e, &seven).mail.and_then(|r| r.enhanced), Some("5.6.3".into()));
        assert_eq!(plan(&e, &all()).mail, None);

        // REQUIRETLS: refused for good where not offered; sent where it is.
        let e = Envelope { requiretls: true, ..env() };
        assert_eq!(plan(&e, &all()).mail.map(|r| (r.code, r.enhanced)), Some((550, Some("5.7.10".into()))));
        let tls = Capabilities { requiretls: true, ..all() };
        assert_eq!(plan(&e, &tls).mail, None);
        assert!(mail_from(&e, &tls, false).ends_with(" REQUIRETLS RET=HDRS ENVID=Q+2B1+20x+3Dy\r\n"));
        assert!(!mail_from(&env(), &tls, false).contains("REQUIRETLS"));
    }
}
