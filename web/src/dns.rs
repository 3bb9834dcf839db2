//! Per domain, the DNS records to publish for mail (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT,
//! the RFC 6186 SRV records and the autoconfig/autodiscover names), each with what DNS
//! answers now: asked through the MTA's resolver (`[mta] dns_servers`, else the system's).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use maud::html;
use proto::Domain;

use crate::admin::{admin, managed_domain};
use crate::app::{App, Req};
use crate::discovery::Endpoint;
use crate::page::{self, Page};

/// What the page needs beyond the discovery settings.
pub struct Dns {
    /// The MTA's resolver.
    pub resolver: mailroom_mta::qmgr::mx::Dns,
    /// `[mta.dkim]`: signing keys by domain.
    pub dkim: BTreeMap<String, config::DkimKey>,
}

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub kind: RecordType,
    /// The value as a zone file writes it (TXT without quotes).
    pub value: String,
    /// Why it is there.
    pub why: &'static str,
}

/// What DNS says about a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// It answers the value.
    Published,
    /// It answers other values.
    Differs(Vec<String>),
    /// No such name or no record of the type.
    Missing,
    /// The lookup failed (timeout, SERVFAIL): try again later.
    Failed(String),
}

/// The records `domain` needs for this server.
pub fn records(app: &App, domain: &Domain) -> (Vec<Record>, Vec<String>) {
    let d = domain.as_str();
    let s = &app.discovery;
    let host = format!("{}.", s.hostname);
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let mut add = |name: String, kind, value: String, why| out.push(Record { name, kind, value, why });
    add(d.into(), RecordType::MX, format!("10 {host}"), "Mail for the domain comes here.");
    add(d.into(), RecordType::TXT, "v=spf1 mx -all".into(), "SPF: only the MX hosts send the domain's mail.");
    match app.dns.dkim.iter().find(|(k, _)| k.eq_ignore_ascii_case(d)) {
        Some((_, key)) => match mailroom_mta::qmgr::dkim::key_file_record(key.key_file.as_str()) {
            Ok(v) => add(format!("{}._domainkey.{d}", key.selector), RecordType::TXT, v, "DKIM: the key mail is signed with."),
            Err(e) => {
                tracing::warn!(error = %e, domain = d, "DKIM key");
                notes.push(format!("The DKIM key of [mta.dkim.\"{d}\"] cannot be read: {e}"));
            }
        },
        None => notes.push(format!(
            "No DKIM key signs this domain's mail: `mailroomctl dkim keygen {d}` makes one and prints its record."
        )),
    }
    add(
        format!("_dmarc.{d}"),
        RecordType::TXT,
        format!("v=DMARC1; p=quarantine; rua=mailto:postmaster@{d}"),
        "DMARC: what receivers do with mail that fails SPF and DKIM, and where they report.",
    );
    add(
        format!("_mta-sts.{d}"),
        RecordType::TXT,
        format!("v=STSv1; id={}", s.mta_sts_id()),
        "MTA-STS: senders fetch the policy from https://mta-sts.<domain>/.well-known/mta-sts.txt.",
    );
    add(
        format!("mta-sts.{d}"),
        RecordType::CNAME,
        host.clone(),
        "The host serving the MTA-STS policy (this one).",
    );
    add(
        format!("_smtp._tls.{d}"),
        RecordType::TXT,
        format!("v=TLSRPTv1; rua=mailto:postmaster@{d}"),
        "TLS-RPT: where senders report TLS failures.",
    );
    let srv = |e: Option<Endpoint>, implicit: &str, plain: &str| {
        e.map(|e| {
            (
                format!("_{}._tcp.{d}", if e.implicit { implicit } else { plain }),
                format!("0 1 {} {host}", e.port),
            )
        })
    };
    for (name, value) in
        [srv(s.imap, "imaps", "imap"), srv(s.pop3, "pop3s", "pop3"), srv(s.smtp, "submissions", "submission")]
            .into_iter()
            .flatten()
    {
        add(name, RecordType::SRV, value, "RFC 6186: mail clients find the server.");
    }
    add(
        format!("autoconfig.{d}"),
        RecordType::CNAME,
        host.clone(),
        "Thunderbird's autoconfig (this server).",
    );
    add(
        format!("_autodiscover._tcp.{d}"),
        RecordType::SRV,
        format!("0 1 443 {host}"),
        "Outlook's autodiscover (this server).",
    );
    (out, notes)
}

fn same(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace().collect::<Vec<_>>().join(" ").trim_end_matches('.').to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

fn text(data: &RData) -> Option<String> {
    Some(match data {
        RData::MX(mx) => format!("{} {}", mx.preference, mx.exchange.to_ascii()),
        RData::TXT(t) => {
            t.txt_data.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<String>()
        }
        RData::SRV(s) => format!("{} {} {} {}", s.priority, s.weight, s.port, s.target.to_ascii()),
        RData::CNAME(c) => c.0.to_ascii(),
        _ => return None,
    })
}

/// Ask DNS for `r`.
pub async fn check(app: &App, r: &Record) -> Check {
    let Ok(name) = Name::from_ascii(format!("{}.", r.name)) else { return Check::Missing };
    match app.dns.resolver.resolver().lookup(name, r.kind).await {
        Ok(l) => {
            let found: Vec<String> = l
                .answers()
                .iter()
                .filter(|a| a.record_type() == r.kind)
                .filter_map(|a| text(&a.data))
                .collect();
            // MX and SRV: the preference, priority and weight are the admin's to choose.
            let matches = |f: &String| match r.kind {
                RecordType::MX | RecordType::SRV => {
                    let tail = |s: &str, n: usize| s.split_whitespace().skip(n).collect::<Vec<_>>().join(" ");
                    let n = if r.kind == RecordType::MX { 1 } else { 2 };
                    same(&tail(f, n), &tail(&r.value, n))
                }
                _ => same(f, &r.value),
            };
            if found.iter().any(matches) {
                Check::Published
            } else if found.is_empty() {
                Check::Missing
            } else {
                Check::Differs(found)
            }
        }
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Check::Missing,
        Err(e) => Check::Failed(e.to_string()),
    }
}

fn zone_line(r: &Record) -> String {
    let value = if r.kind == RecordType::TXT { format!("\"{}\"", r.value) } else { r.value.clone() };
    format!("{}. IN {} {value}", r.name, r.kind)
}

/// `/admin/domains/{domain}/dns`: the records and what DNS answers.
pub async fn page(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
) -> Page {
    let (s, a) = admin(&app, &req).await?;
    let dom = managed_domain(&a, &raw)?;
    let (records, notes) = records(&app, &dom);
    let mut checks = Vec::with_capacity(records.len());
    for r in &records {
        checks.push(check(&app, r).await);
    }
    let body = html! {
        p { a href=(format!("/admin/domains/{dom}")) { "Back to " (dom) } }
        @for n in &notes { p.error { (n) } }
        table {
            thead { tr { th { "Name" } th { "Type" } th { "Publish" } th { "DNS answers now" } } }
            tbody {
                @for (r, c) in records.iter().zip(&checks) {
                    tr {
                        td { (r.name) }
                        td { (r.kind.to_string()) }
                        td { code { (r.value) } br; small { (r.why) } }
                        td.check {
                            @match c {
                                Check::Published => { "published" }
                                Check::Missing => { "missing" }
                                Check::Differs(f) => { "differs: " @for v in f { br; code { (v) } } }
                                Check::Failed(e) => { "lookup failed (try again): " (e) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "As zone file lines" }
        pre { @for r in &records { (zone_line(r)) "\n" } }
    };
    Ok(page::ok(page::layout(&format!("DNS records of {dom}"), Some(&s), Some(a.superadmin), None, body)))
}
