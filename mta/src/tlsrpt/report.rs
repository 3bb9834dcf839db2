//! One policy domain's report (RFC 8460 §4): the JSON, gzipped (§5.1), and the mail that
//! carries it (§5.3): `multipart/report; report-type="tlsrpt"` with a text part and the
//! `application/tlsrpt+gzip` attachment, `TLS-Report-Domain:`, `TLS-Report-Submitter:` and
//! the subject `Report Domain: D Submitter: S Report-ID: <ID>`.

use std::io::Write;

use mail_builder::MessageBuilder;
use mail_builder::headers::HeaderType;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};
use serde::Serialize;

use super::store::{Counts, Period};

/// Who reports.
#[derive(Debug, Clone)]
pub struct Reporter {
    /// `organization-name`.
    pub organization: String,
    /// `contact-info` and the report mail's From: address.
    pub contact: String,
    /// The submitter domain (§5.3: the From: address's domain).
    pub submitter: String,
}

#[derive(Serialize)]
struct Json<'a> {
    #[serde(rename = "organization-name")]
    organization_name: &'a str,
    #[serde(rename = "date-range")]
    date_range: DateRange,
    #[serde(rename = "contact-info")]
    contact_info: &'a str,
    #[serde(rename = "report-id")]
    report_id: &'a str,
    policies: Vec<PolicyJson<'a>>,
}

#[derive(Serialize)]
struct DateRange {
    #[serde(rename = "start-datetime")]
    start: String,
    #[serde(rename = "end-datetime")]
    end: String,
}

#[derive(Serialize)]
struct PolicyJson<'a> {
    policy: PolicyDetails<'a>,
    summary: Summary,
    #[serde(rename = "failure-details", skip_serializing_if = "Vec::is_empty")]
    failure_details: Vec<FailureJson<'a>>,
}

#[derive(Serialize)]
struct PolicyDetails<'a> {
    #[serde(rename = "policy-type")]
    policy_type: &'static str,
    #[serde(rename = "policy-string")]
    policy_string: &'a [String],
    #[serde(rename = "policy-domain")]
    policy_domain: &'a str,
    #[serde(rename = "mx-host", skip_serializing_if = "<[String]>::is_empty")]
    mx_host: &'a [String],
}

#[derive(Serialize)]
struct Summary {
    #[serde(rename = "total-successful-session-count")]
    successes: u64,
    #[serde(rename = "total-failure-session-count")]
    failures: u64,
}

#[derive(Serialize)]
struct FailureJson<'a> {
    #[serde(rename = "result-type")]
    result_type: &'static str,
    #[serde(rename = "sending-mta-ip", skip_serializing_if = "Option::is_none")]
    sending_mta_ip: Option<String>,
    #[serde(rename = "receiving-mx-hostname")]
    receiving_mx_hostname: &'a str,
    #[serde(rename = "receiving-ip", skip_serializing_if = "Option::is_none")]
    receiving_ip: Option<String>,
    #[serde(rename = "failed-session-count")]
    failed_session_count: u64,
    #[serde(rename = "failure-reason-code", skip_serializing_if = "str::is_empty")]
    failure_reason_code: &'a str,
}

/// RFC 3339 in UTC (`2026-12-07T00:00:00Z`).
fn datetime(t: u64) -> String {
    mail_parser::DateTime::from_timestamp(t as i64).to_rfc3339()
}

/// The report id: `START.DOMAIN@SUBMITTER`, unique per period, domain and submitter, and
/// the `<id-left "@" id-right>` the subject needs.
pub fn report_id(period: &Period, domain: &str, submitter: &str) -> String {
    format!("{}-{}.{domain}@{submitter}", period.start, period.end.unwrap_or(period.start))
}

/// The report JSON for `domain`'s entries `counts` of `period`.
pub fn json(period: &Period, domain: &str, counts: &[&Counts], who: &Reporter) -> Vec<u8> {
    let report_id = report_id(period, domain, &who.submitter);
    let policies = counts
        .iter()
        .map(|c| PolicyJson {
            policy: PolicyDetails {
                policy_type: c.policy.kind.as_str(),
                policy_string: &c.policy.strings,
                policy_domain: domain,
                mx_host: &c.policy.mx_hosts,
            },
            summary: Summary { successes: c.successes, failures: c.failures },
            failure_details: c
                .details
                .iter()
                .map(|d| FailureJson {
                    result_type: d.failure.result.as_str(),
                    sending_mta_ip: d.failure.sending_ip.map(|ip| ip.to_string()),
                    receiving_mx_hostname: &d.failure.mx_host,
                    receiving_ip: d.failure.receiving_ip.map(|ip| ip.to_string()),
                    failed_session_count: d.count,
                    failure_reason_code: &d.failure.info,
                })
                .collect(),
        })
        .collect();
    let json = Json {
        organization_name: &who.organization,
        date_range: DateRange {
            start: datetime(period.start),
            end: datetime(period.end.unwrap_or(period.start)),
        },
        contact_info: &who.contact,
        report_id: &report_id,
        policies,
    };
    serde_json::to_vec(&json).expect("plain structs serialise")
}

/// gzip (RFC 1952), as §5.1 asks.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes)?;
    e.finish()
}

/// The report mail to `to`, with the gzipped report `gz` attached.
pub fn message(
    period: &Period,
    domain: &str,
    who: &Reporter,
    to: &[String],
    gz: &[u8],
) -> std::io::Result<Vec<u8>> {
    let id = report_id(period, domain, &who.submitter);
    let end = period.end.unwrap_or(period.start);
    // §5.1: submitter!policy-domain!begin!end.json.gz
    let filename = format!("{}!{domain}!{}!{end}.json.gz", who.submitter, period.start);
    let text = format!(
        "This is an aggregate TLS report (RFC 8460) from {}.\r\n\r\n\
         Report Domain: {domain}\r\nSubmitter: {}\r\nReport-ID: <{id}>\r\n\
         Period: {} to {}\r\n",
        who.organization,
        who.submitter,
        datetime(period.start),
        datetime(end),
    );
    MessageBuilder::new()
        .from(Address::new_address(None::<&str>, who.contact.as_str()))
        .to(Address::new_list(to.iter().map(|a| Address::new_address(None::<&str>, a.as_str())).collect()))
        .subject(format!("Report Domain: {domain} Submitter: {} Report-ID: <{id}>", who.submitter))
        .date(Date::new(end as i64))
        .message_id(format!("tlsrpt.{}.{}.{domain}@{}", period.start, end, who.submitter))
        .header("TLS-Report-Domain", HeaderType::Text(Text::new(domain.to_string())))
        .header("TLS-Report-Submitter", HeaderType::Text(Text::new(who.submitter.clone())))
        .header("Auto-Submitted", HeaderType::Text(Text::new("auto-generated")))
        .body(MimePart::new(
            ContentType::new("multipart/report").attribute("report-type", "tlsrpt"),
            BodyPart::Multipart(vec![
                MimePart::new(ContentType::new("text/plain"), BodyPart::Text(text.into())),
                MimePart::new(
                    ContentType::new("application/tlsrpt+gzip"),
                    BodyPart::Binary(gz.to_vec().into()),
                )
                .attachment(filename),
            ]),
        ))
        .write_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlsrpt::{Failure, Outcome, Policy, PolicyType, ResultType, Session};

    fn period() -> Period {
        let mut p = Period::new(1_796_601_600);
        p.end = Some(1_796_601_600 + 86_400);
        let sts = Policy {
            kind: PolicyType::Sts,
            strings: vec!["version: STSv1".into(), "mode: testing".into()],
            mx_hosts: vec!["*.x.test".into()],
        };
        p.add(Session { domain: "x.test".into(), policy: sts.clone(), outcome: Outcome::Success });
        p.add(Session {
            domain: "x.test".into(),
            policy: sts,
            outcome: Outcome::Failure(Failure {
                result: ResultType::CertificateHostMismatch,
                mx_host: "mx.x.test".into(),
                receiving_ip: Some("192.0.2.7".parse().unwrap()),
                sending_ip: Some("192.0.2.1".parse().unwrap()),
                info: "certificate not valid for name".into(),
            }),
        });
        p
    }

    fn who() -> Reporter {
        Reporter { organization: "Org".into(), contact: "tlsrpt@s.test".into(), submitter: "s.test".into() }
    }

    #[test]
    fn json_has_the_rfc_fields() {
        let p = period();
        let counts = p.by_domain()["x.test"].clone();
        let v: serde_json::Value = serde_json::from_slice(&json(&p, "x.test", &counts, &who())).unwrap();
        assert_eq!(v["date-range"]["start-datetime"], "2026-12-07T00:00:00Z");
        assert_eq!(v["date-range"]["end-datetime"], "2026-12-08T00:00:00Z");
        assert_eq!(v["report-id"], "1796601600-1796688000.x.test@s.test");
        let pol = &v["policies"][0];
        assert_eq!(pol["policy"]["policy-type"], "sts");
        assert_eq!(pol["policy"]["mx-host"][0], "*.x.test");
        assert_eq!(pol["summary"]["total-successful-session-count"], 1);
        assert_eq!(pol["summary"]["total-failure-session-count"], 1);
        let f = &pol["failure-details"][0];
        assert_eq!(f["result-type"], "certificate-host-mismatch");
        assert_eq!(f["receiving-ip"], "192.0.2.7");
        assert_eq!(f["sending-mta-ip"], "192.0.2.1");
        assert_eq!(f["failed-session-count"], 1);
    }

    #[test]
    fn message_headers_and_attachment() {
        let p = period();
        let gz = gzip(b"{}").unwrap();
        let m = message(&p, "x.test", &who(), &["r@x.test".into()], &gz).unwrap();
        let m = mail_parser::MessageParser::new().parse(&m).unwrap();
        assert_eq!(
            m.subject(),
            Some("Report Domain: x.test Submitter: s.test Report-ID: <1796601600-1796688000.x.test@s.test>")
        );
        assert_eq!(m.header_raw("TLS-Report-Domain").map(str::trim), Some("x.test"));
        assert_eq!(m.header_raw("TLS-Report-Submitter").map(str::trim), Some("s.test"));
        let att = m.attachment(0).unwrap();
        use mail_parser::MimeHeaders;
        assert_eq!(att.content_type().unwrap().subtype(), Some("tlsrpt+gzip"));
        assert_eq!(att.attachment_name(), Some("s.test!x.test!1796601600!1796688000.json.gz"));
        assert_eq!(att.contents(), &gz[..]);
    }
}
