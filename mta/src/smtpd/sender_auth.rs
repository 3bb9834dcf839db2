//! Sender authentication of mail from other MTAs, with mail-auth, in the place of policyd-spf,
//! opendkim and opendmarc behind Postfix: SPF (RFC 7208) for the HELO name and MAIL FROM when
//! MAIL arrives, DKIM (RFC 6376), ARC (RFC 8617) and DMARC (RFC 7489) once the whole message
//! is in, and one `Authentication-Results:` header (RFC 8601) under our authserv-id. A DNS
//! failure is a `temperror` result, never a refusal.

use std::net::IpAddr;

use config::{DmarcPolicy, SpfFail};
use mail_auth::dkim::DkimError;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    Error, MessageAuthenticator, SpfOutput, SpfResult,
};
use smtp::Reply;

use crate::milter::message::{Field, Message};

/// The header that marks a message for the Junk folder (DMARC `p=quarantine`).
pub const QUARANTINE_HEADER: &str = "X-Mailroom-Quarantine";

/// What every session's checks share.
pub struct Checker {
    dns: MessageAuthenticator,
    authserv_id: String,
    /// Our host name (SPF's `%{r}`).
    hostname: String,
    spf_fail: SpfFail,
    dmarc_policy: DmarcPolicy,
}

/// SPF's verdicts on one transaction, taken at MAIL FROM.
pub struct Spf {
    ip: IpAddr,
    helo: String,
    sender: String,
    helo_result: SpfOutput,
    mail_from: SpfOutput,
}

/// The verdict on a message.
pub struct Verdict {
    /// `Authentication-Results: ...`, folded, CRLF-terminated.
    pub header: String,
    /// The sender domain's DMARC policy refuses it (and we honour it).
    pub reject: Option<Reply>,
    /// Why it goes to the Junk folder (DMARC quarantine), the quarantine header's value.
    pub quarantine: Option<String>,
}

impl Checker {
    /// Checks that resolve through `resolver` and write `authserv_id`.
    pub fn new(
        resolver: mail_auth::hickory_resolver::TokioResolver,
        authserv_id: String,
        hostname: String,
        spf_fail: SpfFail,
        dmarc_policy: DmarcPolicy,
    ) -> Checker {
        Checker { dns: MessageAuthenticator(resolver), authserv_id, hostname, spf_fail, dmarc_policy }
    }

    /// SPF for the HELO name and MAIL FROM of a client at `ip` (a null sender is checked as
    /// postmaster@HELO, RFC 7208 §2.4); `Err` when `spf_fail = "reject"` refuses it.
    pub async fn spf(&self, ip: IpAddr, helo: &str, sender: &str) -> Result<Spf, Reply> {
        let helo_result = self.dns.verify_spf(SpfParameters::verify_ehlo(ip, helo, &self.hostname)).await;
        let mail_from = if sender.is_empty() {
            helo_result.clone()
        } else {
            self.dns.verify_spf(SpfParameters::verify_mail_from(ip, helo, &self.hostname, sender)).await
        };
        if self.spf_fail == SpfFail::Reject && mail_from.result() == SpfResult::Fail {
            return Err(Reply::new(
                550,
                "5.7.23",
                format!("SPF: {} does not allow {ip} to send its mail", sanitize(mail_from.domain())),
            ));
        }
        Ok(Spf { ip, helo: helo.to_string(), sender: sender.to_string(), helo_result, mail_from })
    }

    /// DKIM, ARC and DMARC of `raw` (the message as the client sent it), with `spf`'s results.
    pub async fn message(&self, spf: &Spf, raw: &[u8]) -> Verdict {
        let mut header = format!(
            "Authentication-Results: {}",
            AuthenticationResults::new(&self.authserv_id)
                .with_spf_ehlo_result(&spf.helo_result, spf.ip, &spf.helo)
                .with_spf_mailfrom_result(&spf.mail_from, spf.ip, &spf.sender, &spf.helo)
        );
        let Some(msg) = AuthenticatedMessage::parse(raw) else {
            // No header section: nothing signed, no author domain.
            header.push_str(";\r\n\tdkim=none;\r\n\tdmarc=none\r\n");
            return Verdict { header, reject: None, quarantine: None };
        };
        let dkim: Vec<DkimOutput<'_>> =
            self.dns.verify_dkim(&msg).await.into_iter().map(|d| body_hash_fails(&msg, d)).collect();
        let arc: ArcOutput<'_> = self.dns.verify_arc(&msg).await;
        let mail_from_domain = match spf.sender.rsplit_once('@') {
            Some((_, d)) => d,
            None => spf.helo.as_str(),
        };
        let dmarc =
            self.dns.verify_dmarc(DmarcParameters::new(&msg, &dkim, mail_from_domain, &spf.mail_from)).await;
        // One builder per run of results: mail-auth has no `dkim=none` of its own.
        header.push_str(&AuthenticationResults::new("").with_dkim_results(&dkim, dmarc.domain()).to_string());
        if dkim.is_empty() {
            header.push_str(";\r\n\tdkim=none");
        }
        header.push_str(
            &AuthenticationResults::new("")
                .with_arc_result(&arc, spf.ip)
                .with_dmarc_result(&dmarc)
                .to_string(),
        );
        header.push_str("\r\n");
        let (reject, quarantine) = self.dmarc_action(&dmarc);
        Verdict { header, reject, quarantine }
    }

    /// What a DMARC result asks of us under `dmarc_policy`.
    fn dmarc_action(&self, dmarc: &DmarcOutput) -> (Option<Reply>, Option<String>) {
        if !matches!(dmarc.result(), DmarcResult::Fail(_)) {
            return (None, None);
        }
        let domain = sanitize(dmarc.domain());
        match (dmarc.policy(), self.dmarc_policy) {
            (Policy::Reject, DmarcPolicy::Honour) => (
                Some(Reply::new(550, "5.7.1", format!("Message refused by the DMARC policy of {domain}"))),
                None,
            ),
            (Policy::Reject, DmarcPolicy::Mark) => {
                (None, Some(format!("dmarc=fail policy.dmarc=reject header.from={domain}")))
            }
            (Policy::Quarantine, _) => {
                (None, Some(format!("dmarc=fail policy.dmarc=quarantine header.from={domain}")))
            }
            _ => (None, None),
        }
    }

    /// Puts the verdict on top of `msg`; see [`mark`].
    pub fn mark(&self, msg: &mut Message, verdict: &Verdict) -> usize {
        mark(msg, verdict, &self.authserv_id)
    }
}

/// A body that does not match its signature's body hash is a signature that failed
/// verification (RFC 6376 §6.1.3, PERMFAIL), which RFC 8601 calls `fail`; mail-auth says
/// `neutral`, which is for signatures that could not be processed. opendkim says `fail` too
/// (`tests/sender_auth_opendkim.rs`).
fn body_hash_fails<'x>(msg: &'x AuthenticatedMessage<'x>, dkim: DkimOutput<'x>) -> DkimOutput<'x> {
    let DkimResult::Neutral(err @ Error::Dkim(DkimError::FailedBodyHashMatch)) = dkim.result() else {
        return dkim;
    };
    // The output borrows its signature from `msg`; find that one to keep it.
    let signature = msg
        .dkim_headers
        .iter()
        .map(|h| &h.header)
        .find(|s| dkim.signature().is_some_and(|d| std::ptr::eq(d, *s)));
    match signature {
        Some(signature) => DkimOutput::fail(err.clone()).with_signature(signature),
        None => DkimOutput::fail(err.clone()),
    }
}

/// Puts `verdict` on top of `msg`, after removing the `Authentication-Results:` that claim
/// `authserv_id` and any quarantine mark that came from outside (RFC 8601 §5); returns how
/// many were removed.
pub fn mark(msg: &mut Message, verdict: &Verdict, authserv_id: &str) -> usize {
    let before = msg.fields.len();
    msg.fields.retain(|f| {
        !(f.name.eq_ignore_ascii_case(QUARANTINE_HEADER)
            || f.name.eq_ignore_ascii_case("Authentication-Results")
                && claimed_id(&f.raw).is_some_and(|id| id.eq_ignore_ascii_case(authserv_id)))
    });
    let removed = before - msg.fields.len();
    if let Some(why) = &verdict.quarantine {
        msg.fields.insert(0, Field { name: QUARANTINE_HEADER.into(), raw: format!(" {why}").into_bytes() });
    }
    let (name, value) = verdict.header.trim_end().split_once(':').expect("our header has a name");
    msg.fields.insert(0, Field { name: name.into(), raw: value.as_bytes().to_vec() });
    removed
}

/// The authserv-id an `Authentication-Results:` value starts with (after CFWS): a token or
/// a quoted string (RFC 8601 §2.2).
pub fn claimed_id(value: &[u8]) -> Option<String> {
    let mut rest = value;
    // Folding whitespace and (nested) comments.
    loop {
        match rest.first()? {
            b' ' | b'\t' | b'\r' | b'\n' => rest = &rest[1..],
            b'(' => {
                let mut depth = 0usize;
                let mut i = 0;
                loop {
                    match rest.get(i)? {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
                rest = &rest[i..];
            }
            _ => break,
        }
    }
    let id = if rest[0] == b'"' {
        let end = rest[1..].iter().position(|&b| b == b'"')?;
        rest[1..=end].iter().filter(|&&b| b != b'\\').copied().collect::<Vec<u8>>()
    } else {
        let end = rest
            .iter()
            .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'('))
            .unwrap_or(rest.len());
        rest[..end].to_vec()
    };
    String::from_utf8(id).ok().filter(|s| !s.is_empty())
}

/// Domain names from DNS or the message in our replies and headers: printable ASCII, no
/// delimiters.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_graphic() && !matches!(c, '(' | ')' | ';' | '\\' | '"') { c } else { '_' })
        .take(255)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authserv_id_after_comments_and_quotes() {
        assert_eq!(claimed_id(b" mx.b.test; spf=pass").as_deref(), Some("mx.b.test"));
        assert_eq!(claimed_id(b" (forged (nested)) MX.B.TEST 1; none").as_deref(), Some("MX.B.TEST"));
        assert_eq!(claimed_id(b"\r\n\t\"mx.b.test\"; dkim=pass").as_deref(), Some("mx.b.test"));
        assert_eq!(claimed_id(b" mx.b.test(c); none").as_deref(), Some("mx.b.test"));
        assert_eq!(claimed_id(b" (unterminated").as_deref(), None);
        assert_eq!(claimed_id(b"  ").as_deref(), None);
    }

    #[test]
    fn mark_removes_our_claims_and_keeps_others() {
        let mut msg = Message::parse(
            b"Authentication-Results: (x) Mx.B.Test; dkim=pass\r\n\
              Authentication-Results: other.example; spf=pass\r\n\
              X-Mailroom-Quarantine: no\r\n\
              Subject: hi\r\n\r\nbody\r\n",
        );
        let verdict = Verdict {
            header: "Authentication-Results: mx.b.test;\r\n\tspf=fail\r\n".into(),
            reject: None,
            quarantine: Some("dmarc=fail".into()),
        };
        assert_eq!(mark(&mut msg, &verdict, "mx.b.test"), 2);
        let out = String::from_utf8(msg.to_bytes()).unwrap();
        assert_eq!(
            out,
            "Authentication-Results: mx.b.test;\r\n\tspf=fail\r\nX-Mailroom-Quarantine: dmarc=fail\r\n\
             Authentication-Results: other.example; spf=pass\r\nSubject: hi\r\n\r\nbody\r\n"
        );
    }
}
