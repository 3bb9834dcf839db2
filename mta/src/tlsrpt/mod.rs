//! SMTP TLS reporting (RFC 8460): what each outbound session to a recipient domain's MX
//! hosts came to under the policy that applied (DANE's TLSA records, an MTA-STS policy, or
//! none), counted per day and policy domain, and once a day sent to the addresses the domain
//! publishes in its `_smtp._tls` TXT record (`v=TLSRPTv1; rua=mailto:...,https://...`).
//!
//! The SMTP transport hands each session's result to a [`Recorder`], which passes it to one
//! thread off the async runtime ([`store`]): it adds it to the day's counts and rewrites
//! `<spool>/tlsrpt/current.json` (temporary file, fsync, rename), so a crash loses at most
//! the sessions not yet written and never leaves a half-written file. At midnight UTC, or
//! when `mailroomctl tls report --send` asks, the period is closed into its own file, which
//! [`send::Reporter`] turns into one gzipped JSON report per domain ([`report`]), queued as
//! mail through our own queue or POSTed over HTTPS, then removes.

pub mod report;
pub mod send;
pub mod store;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use store::Recorder;

/// Why a session failed (RFC 8460 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultType {
    /// The host did not offer STARTTLS (§4.3.1).
    StarttlsNotSupported,
    /// The certificate does not name the host.
    CertificateHostMismatch,
    /// The certificate has expired.
    CertificateExpired,
    /// The certificate does not chain to a trusted root.
    CertificateNotTrusted,
    /// Anything else that failed the policy.
    ValidationFailure,
    /// DANE: no TLSA record of the RRset is usable (§4.3.2.1).
    TlsaInvalid,
    /// DANE: the DNSSEC validation of the records failed.
    DnssecInvalid,
    /// DANE was required and no secure TLSA records were found.
    DaneRequired,
    /// MTA-STS: the policy could not be fetched (§4.3.2.2).
    StsPolicyFetchError,
    /// MTA-STS: the policy fetched is not valid.
    StsPolicyInvalid,
    /// MTA-STS: the policy host's certificate is not valid.
    StsWebpkiInvalid,
}

impl ResultType {
    /// Its name in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::DaneRequired => "dane-required",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
            ResultType::StsWebpkiInvalid => "sts-webpki-invalid",
        }
    }

    /// The result type of a certificate check that failed with `e`.
    pub fn of_certificate(e: &rustls::Error) -> ResultType {
        use rustls::CertificateError as C;
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                C::Expired | C::ExpiredContext { .. } => ResultType::CertificateExpired,
                C::NotValidForName | C::NotValidForNameContext { .. } => ResultType::CertificateHostMismatch,
                C::UnknownIssuer
                | C::BadSignature
                | C::BadEncoding
                | C::NotValidYet
                | C::NotValidYetContext { .. }
                | C::Revoked
                | C::InvalidPurpose
                | C::InvalidPurposeContext { .. } => ResultType::CertificateNotTrusted,
                _ => ResultType::ValidationFailure,
            },
            _ => ResultType::ValidationFailure,
        }
    }
}

impl std::fmt::Display for ResultType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of policy a session was held to (RFC 8460 §4.4 `policy-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    /// DANE: the MX host's TLSA records.
    Tlsa,
    /// The domain's MTA-STS policy.
    Sts,
    /// Neither: opportunistic TLS.
    NoPolicyFound,
}

impl PolicyType {
    /// Its name in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::Tlsa => "tlsa",
            PolicyType::Sts => "sts",
            PolicyType::NoPolicyFound => "no-policy-found",
        }
    }
}

/// The policy a session was held to, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Policy {
    /// Its kind.
    pub kind: PolicyType,
    /// The policy itself: TLSA records in presentation form (`3 1 1 ab12...`), or the
    /// MTA-STS policy's lines; empty for none.
    pub strings: Vec<String>,
    /// The MX host patterns of an MTA-STS policy.
    pub mx_hosts: Vec<String>,
}

impl Policy {
    /// No policy found.
    pub fn none() -> Policy {
        Policy { kind: PolicyType::NoPolicyFound, strings: Vec::new(), mx_hosts: Vec::new() }
    }
}

/// A failed session, as the report's `failure-details` count them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Failure {
    /// Why.
    pub result: ResultType,
    /// The MX host's name.
    pub mx_host: String,
    /// The address we connected to, when there was a connection.
    pub receiving_ip: Option<IpAddr>,
    /// Our own address on that connection.
    pub sending_ip: Option<IpAddr>,
    /// A short explanation (the TLS library's error).
    pub info: String,
}

/// What one session came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// TLS negotiated and the policy satisfied.
    Success,
    /// The policy was not satisfied.
    Failure(Failure),
}

/// One session's record: to which domain, under which policy, with what result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The policy domain (the recipient domain).
    pub domain: String,
    /// The policy that applied.
    pub policy: Policy,
    /// The result.
    pub outcome: Outcome,
}

/// The `rua` destinations of a `_smtp._tls` TXT RRset (RFC 8460 §3): of the records that
/// start `v=TLSRPTv1`, exactly one; its `rua=` is a comma-separated list of `mailto:` and
/// `https:` URIs. `None` when there is no valid record.
pub fn rua(records: &[String]) -> Option<Vec<Destination>> {
    let matching: Vec<&String> = records.iter().filter(|r| r.starts_with("v=TLSRPTv1")).collect();
    let [record] = matching[..] else { return None };
    let mut fields = record.split(';').map(str::trim);
    if fields.next() != Some("v=TLSRPTv1") {
        return None;
    }
    let value = fields.find_map(|f| {
        let (k, v) = f.split_once('=')?;
        (k.trim() == "rua").then(|| v.trim())
    })?;
    let list: Vec<Destination> = value.split(',').filter_map(|u| Destination::parse(u.trim())).collect();
    (!list.is_empty()).then_some(list)
}

/// Where a report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// By mail to this address.
    Mail(String),
    /// POSTed to this URL.
    Https(String),
}

impl Destination {
    fn parse(uri: &str) -> Option<Destination> {
        let (scheme, rest) = uri.split_once(':')?;
        if scheme.eq_ignore_ascii_case("mailto") {
            // Percent-escapes (RFC 6068) only matter for odd addresses; `?` starts headers.
            let addr = rest.split('?').next()?;
            let addr = percent_decode(addr)?;
            let (local, domain) = addr.rsplit_once('@')?;
            (!local.is_empty() && !domain.is_empty() && !addr.contains([' ', '<', '>', ',']))
                .then_some(Destination::Mail(addr))
        } else if scheme.eq_ignore_ascii_case("https") {
            rest.starts_with("//").then(|| Destination::Https(uri.to_string()))
        } else {
            None
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut b = s.bytes();
    while let Some(c) = b.next() {
        if c == b'%' {
            let h = [b.next()?, b.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&h).ok()?, 16).ok()?);
        } else {
            out.push(c);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rua_of(r: &[&str]) -> Option<Vec<Destination>> {
        rua(&r.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn rua_records() {
        assert_eq!(
            rua_of(&["v=TLSRPTv1; rua=mailto:reports@example.com"]),
            Some(vec![Destination::Mail("reports@example.com".into())])
        );
        assert_eq!(
            rua_of(&["v=TLSRPTv1;rua=mailto:a%2Bb@example.com, https://reporting.example.com/v1/tlsrpt"]),
            Some(vec![
                Destination::Mail("a+b@example.com".into()),
                Destination::Https("https://reporting.example.com/v1/tlsrpt".into())
            ])
        );
        // Two records, none, no rua, only unknown schemes, not first.
        assert_eq!(rua_of(&["v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1; rua=mailto:b@x.test"]), None);
        assert_eq!(rua_of(&["v=spf1 -all"]), None);
        assert_eq!(rua_of(&["v=TLSRPTv1;"]), None);
        assert_eq!(rua_of(&["v=TLSRPTv1; rua=http://x.test/, ftp://x.test"]), None);
        assert_eq!(rua_of(&["rua=mailto:a@x.test; v=TLSRPTv1"]), None);
        assert_eq!(rua_of(&["v=TLSRPTv10; rua=mailto:a@x.test"]), None);
    }

    #[test]
    fn certificate_errors_map_to_result_types() {
        use rustls::CertificateError as C;
        let of = |c: C| ResultType::of_certificate(&rustls::Error::InvalidCertificate(c));
        assert_eq!(of(C::Expired), ResultType::CertificateExpired);
        assert_eq!(of(C::NotValidForName), ResultType::CertificateHostMismatch);
        assert_eq!(of(C::UnknownIssuer), ResultType::CertificateNotTrusted);
        assert_eq!(
            ResultType::of_certificate(&rustls::Error::General("x".into())),
            ResultType::ValidationFailure
        );
        let json = serde_json::to_string(&ResultType::StarttlsNotSupported).unwrap();
        assert_eq!(json, "\"starttls-not-supported\"");
    }
}
