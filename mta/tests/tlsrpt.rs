//! TLS reporting (RFC 8460) end to end: NSD on loopback serves `test.`, signed with a key made
//! for the test (the sender's only DNSSEC trust anchor), with three recipient domains whose
//! MX is a second mailroom-mta on 127.0.0.1 (self-signed certificate for `mx.b.test`):
//! `ok.test` (a DANE-EE record that matches it), `bad.test` (one that does not) and
//! `testing.test` (no TLSA, an MTA-STS policy in `testing` mode naming `mx.testing.test`,
//! which the certificate does not name) and `nofetch.test` (an `_mta-sts` record, but the
//! policy host's certificate does not name `mta-sts.nofetch.test`). Each publishes `_smtp._tls` with
//! `rua=mailto:bob@b.test`, a mailbox of the sender itself. After one message to each,
//! `mailroomctl tls report` shows the counts, `mailroomctl queue show` names DANE as what
//! holds the `bad.test` message, and `mailroomctl tls report --send` has the reports queued
//! and delivered to bob, where they are checked against RFC 8460's JSON schema (§4.4) and
//! parsed by mail-auth.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use common::policy_host::PolicyHost;
use common::{
    Options, Stack, TIMEOUT, header, messages_in, receiving_db, send_from_bob as send, text, wait_until,
};
use mail_parser::{MessageParser, MimeHeaders};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use sha2::{Digest, Sha256};
use testsupport::Backend;
use testsupport::nsd::Nsd;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of the certificate's SubjectPublicKeyInfo, hex: a `3 1 1` TLSA record's data.
fn spki_sha256(pem: &Path) -> String {
    let der = CertificateDer::from_pem_file(pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    hex(&Sha256::digest(cert.tbs_certificate.subject_pki.raw))
}

const RESULT_TYPES: [&str; 11] = [
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
];

/// RFC 8460 §4.4's schema, as checks: the required fields with their types, the enumerated
/// policy and result types, RFC 3339 date-times. Every violation is listed.
fn schema_violations(r: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let mut want = |ok: bool, what: &str| {
        if !ok {
            bad.push(what.to_string());
        }
    };
    let string = |v: &Value| v.is_string();
    let count = |v: &Value| v.as_u64().is_some();
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    let datetime = |v: &Value| {
        v.as_str().is_some_and(|s| {
            let b = s.as_bytes();
            b.len() >= 20
                && b[4] == b'-'
                && b[7] == b'-'
                && b[10] == b'T'
                && b[13] == b':'
                && b[16] == b':'
                && (s.ends_with('Z') || s[19..].contains(['+', '-']))
        })
    };
    want(r.is_object(), "report is an object");
    want(string(&r["organization-name"]), "organization-name: string");
    want(datetime(&r["date-range"]["start-datetime"]), "date-range.start-datetime: date-time");
    want(datetime(&r["date-range"]["end-datetime"]), "date-range.end-datetime: date-time");
    want(string(&r["contact-info"]), "contact-info: string");
    want(string(&r["report-id"]), "report-id: string");
    let Some(policies) = r["policies"].as_array() else {
        want(false, "policies: array");
        return bad;
    };
    for p in policies {
        let pol = &p["policy"];
        let kind = pol["policy-type"].as_str().unwrap_or("");
        want(["tlsa", "sts", "no-policy-found"].contains(&kind), "policy-type: tlsa, sts or no-policy-found");
        want(pol.get("policy-string").is_none_or(strings), "policy-string: array of strings");
        want(string(&pol["policy-domain"]), "policy-domain: string");
        want(pol.get("mx-host").is_none_or(strings), "mx-host: array of strings");
        want(
            count(&p["summary"]["total-successful-session-count"]),
            "total-successful-session-count: integer",
        );
        want(count(&p["summary"]["total-failure-session-count"]), "total-failure-session-count: integer");
        let details = p.get("failure-details").map(|d| d.as_array());
        want(details.is_none_or(|d| d.is_some()), "failure-details: array");
        for d in details.flatten().into_iter().flatten() {
            let result = d["result-type"].as_str().unwrap_or("");
            want(RESULT_TYPES.contains(&result), "result-type: one of §4.3's");
            want(count(&d["failed-session-count"]), "failed-session-count: integer");
            for opt in [
                "sending-mta-ip",
                "receiving-mx-hostname",
                "receiving-mx-helo",
                "receiving-ip",
                "additional-information",
                "failure-reason-code",
            ] {
                want(d.get(opt).is_none_or(string), &format!("{opt}: string"));
            }
            for ip in ["sending-mta-ip", "receiving-ip"] {
                want(
                    d.get(ip)
                        .is_none_or(|v| v.as_str().is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok())),
                    &format!("{ip}: an IP address"),
                );
            }
        }
    }
    bad
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_dane_pass_and_mismatch_and_sts_testing_failure() {
    const DOMAINS: [&str; 4] = ["ok", "bad", "testing", "nofetch"];
    let domains: Vec<String> = DOMAINS.iter().map(|d| format!("{d}.test")).collect();
    let rdb = receiving_db(&domains.iter().map(|d| (d.as_str(), "u")).collect::<Vec<_>>()).await;
    let receiver = Stack::start(&rdb, Options::default());
    let port = receiver.smtp;
    let good = spki_sha256(&receiver.cert);
    let wrong = hex(&Sha256::digest(b"some other key"));

    // The policy host's certificate, from a CA the sender trusts beside the receiver's
    // certificate (so the testing failure is the name, not the issuer).
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let host_key = rcgen::KeyPair::generate().unwrap();
    let host_cert = rcgen::CertificateParams::new(vec!["mta-sts.testing.test".to_string()])
        .unwrap()
        .signed_by(&host_key, &ca)
        .unwrap();
    let anchors = tempfile::tempdir().unwrap();
    let ca_file = anchors.path().join("anchors.pem");
    let receiver_cert = std::fs::read_to_string(&receiver.cert).unwrap();
    std::fs::write(&ca_file, format!("{}{receiver_cert}", ca.pem())).unwrap();
    let sts_policy = "version: STSv1\r\nmode: testing\r\nmx: mx.testing.test\r\nmax_age: 86400\r\n";
    let policies = HashMap::from([("mta-sts.testing.test".to_string(), sts_policy.to_string())]);
    let https = PolicyHost::start(&host_cert.pem(), &host_key.serialize_pem(), policies);

    let mut nsd = Nsd::new();
    let key = nsd.key("test.");
    let mut zone = String::new();
    for d in DOMAINS {
        zone += &format!("{d}.test. IN MX 10 mx.{d}.test.\nmx.{d}.test. IN A 127.0.0.1\n");
        zone += &format!("_smtp._tls.{d}.test. IN TXT \"v=TLSRPTv1; rua=mailto:bob@b.test\"\n");
    }
    zone += &format!("_{port}._tcp.mx.ok.test. IN TLSA 3 1 1 {good}\n");
    zone += &format!("_{port}._tcp.mx.bad.test. IN TLSA 3 1 1 {wrong}\n");
    for d in ["testing", "nofetch"] {
        zone += &format!("_mta-sts.{d}.test. IN TXT \"v=STSv1; id=1\"\nmta-sts.{d}.test. IN A 127.0.0.1\n");
    }
    nsd.zone("test.", &zone, Some(&key));
    nsd.start();
    let anchor = nsd.dir.path().join("anchor.key");
    std::fs::write(&anchor, key.dnskey()).unwrap();

    let db = common::database(Backend::Sqlite).await;
    let sender = Stack::start(
        &db,
        Options::default()
            .mta("mynetworks", "[\"127.0.0.0/8\"]")
            .mta("dns_servers", &format!("[\"{}\"]", nsd.addr()))
            .mta("smtp_port", &port.to_string())
            .mta("tls_policy", "\"dane\"")
            .mta("dnssec_trust_anchor_file", &format!("{:?}", anchor.display().to_string()))
            .mta("mta_sts_port", &https.port.to_string())
            .mta("tls_ca_file", &format!("{:?}", ca_file.display().to_string()))
            .mta("tls_report_organization", "\"Test Org\"")
            .mta("tls_report_sender", "\"tlsrpt@b.test\""),
    );
    for d in DOMAINS {
        send(&sender, &format!("u@{d}.test"));
    }
    let inbox = |d: &str| messages_in(&rdb.mail_root().join(format!("{d}.test/u/Maildir")));
    let ok = wait_until(TIMEOUT, || ["ok", "testing", "nofetch"].iter().all(|d| inbox(d).len() == 1));
    assert!(ok, "{}\n{}\n{}", sender.logs(), receiver.logs(), nsd.log());
    assert!(wait_until(TIMEOUT, || sender.queued() == 1), "{}", sender.logs());
    let log = sender.mta.log();
    assert!(log.contains("tls=encrypted (mta-sts testing: certificate-host-mismatch),"), "{log}");

    // Today's counts, as the recorder wrote them (it may lag the log by a write).
    let report = || {
        let out = sender.ctl(&["tls", "report"], b"");
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let row = |out: &str, d: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{d}.test ")))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    let want = [
        ("ok", "ok.test tlsa 1 0"),
        ("bad", "bad.test tlsa 0 1 validation-failure=1"),
        ("testing", "testing.test sts 0 1 certificate-host-mismatch=1"),
        ("nofetch", "nofetch.test sts 0 1 sts-webpki-invalid=1"),
    ];
    let counted = wait_until(TIMEOUT, || {
        let out = report();
        want.iter().all(|(d, r)| row(&out, d).as_deref() == Some(*r))
    });
    assert!(counted, "{}\n{}", report(), sender.logs());

    // The deferred message says which policy holds it.
    let id =
        common::files(&sender.spool.join("queue"))[0].file_name().unwrap().to_string_lossy().into_owned();
    let show = sender.ctl(&["queue", "show", &id], b"");
    let show = text(&show);
    assert!(show.contains("recipient: u@bad.test (pending) 451 4.7.5"), "{show}");
    assert!(show.contains("held back by: DANE"), "{show}");

    // Send now: one report per domain, queued to bob.
    let out = sender.ctl(&["tls", "report", "--send"], b"");
    assert!(out.status.success(), "{}", text(&out));
    let reports = sender.wait_messages("bob", 4);
    let mut seen = Vec::new();
    for m in &reports {
        let parsed = MessageParser::new().parse(m.as_bytes()).unwrap();
        let raw = |name: &str| parsed.header_raw(name).map(|v| v.trim().to_string());
        let domain = raw("TLS-Report-Domain").unwrap_or_else(|| panic!("no TLS-Report-Domain:\n{m}"));
        assert_eq!(raw("TLS-Report-Submitter").as_deref(), Some("b.test"), "{m}");
        assert_eq!(raw("Auto-Submitted").as_deref(), Some("auto-generated"), "{m}");
        assert!(header(m, "Return-Path").is_none_or(|r| r == "<>"), "{m}");
        let subject = parsed.subject().unwrap();
        assert!(
            subject.starts_with(&format!("Report Domain: {domain} Submitter: b.test Report-ID: <"))
                && subject.ends_with(&format!(".{domain}@b.test>")),
            "{subject}"
        );
        let ct = parsed.content_type().unwrap();
        assert_eq!(
            (ct.ctype(), ct.subtype(), ct.attribute("report-type")),
            ("multipart", Some("report"), Some("tlsrpt"))
        );
        let att = parsed.attachment(0).unwrap_or_else(|| panic!("no attachment:\n{m}"));
        assert_eq!(att.content_type().and_then(|c| c.subtype()), Some("tlsrpt+gzip"), "{m}");
        let name = att.attachment_name().unwrap();
        assert!(name.starts_with(&format!("b.test!{domain}!")) && name.ends_with(".json.gz"), "{name}");
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(att.contents()).read_to_end(&mut json).unwrap();
        let v: Value = serde_json::from_slice(&json).unwrap();
        let bad = schema_violations(&v);
        assert!(bad.is_empty(), "{bad:?}\n{v:#}");
        assert_eq!(v["organization-name"], "Test Org");
        assert_eq!(v["contact-info"], "tlsrpt@b.test");
        // mail-auth reads it, from the JSON and from the whole mail.
        let r = mail_auth::report::tlsrpt::TlsReport::parse_json(&json).unwrap();
        let from_mail = mail_auth::report::tlsrpt::TlsReport::parse_rfc5322(m.as_bytes(), 1 << 20).unwrap();
        assert_eq!(r, from_mail);
        assert_eq!(r.policies.len(), 1, "{v:#}");
        let p = &r.policies[0];
        assert_eq!(p.policy.policy_domain, domain);
        use mail_auth::report::tlsrpt::{PolicyType, ResultType};
        let counts = (p.summary.total_success, p.summary.total_failure);
        let failures: Vec<(ResultType, Option<&str>, u32)> = p
            .failure_details
            .iter()
            .map(|f| (f.result_type, f.receiving_mx_hostname.as_deref(), f.failed_session_count))
            .collect();
        match domain.as_str() {
            "ok.test" => {
                assert_eq!((p.policy.policy_type, counts), (PolicyType::Tlsa, (1, 0)), "{v:#}");
                assert_eq!(p.policy.policy_string, [format!("3 1 1 {good}")]);
                assert!(failures.is_empty());
            }
            "bad.test" => {
                assert_eq!((p.policy.policy_type, counts), (PolicyType::Tlsa, (0, 1)), "{v:#}");
                assert_eq!(p.policy.policy_string, [format!("3 1 1 {wrong}")]);
                assert_eq!(failures, [(ResultType::ValidationFailure, Some("mx.bad.test"), 1)]);
                let ip = p.failure_details[0].receiving_ip.map(|ip| ip.to_string());
                assert_eq!(ip.as_deref(), Some("127.0.0.1"));
            }
            "testing.test" => {
                assert_eq!((p.policy.policy_type, counts), (PolicyType::Sts, (0, 1)), "{v:#}");
                assert_eq!(p.policy.mx_host, ["mx.testing.test"]);
                assert!(p.policy.policy_string.iter().any(|l| l == "mode: testing"), "{v:#}");
                assert_eq!(failures, [(ResultType::CertificateHostMismatch, Some("mx.testing.test"), 1)]);
            }
            "nofetch.test" => {
                // No policy to be had: reported as an MTA-STS failure, the mail sent anyway.
                assert_eq!((p.policy.policy_type, counts), (PolicyType::Sts, (0, 1)), "{v:#}");
                assert!(p.policy.policy_string.is_empty(), "{v:#}");
                assert_eq!(failures, [(ResultType::StsWebpkiInvalid, Some("mx.nofetch.test"), 1)]);
            }
            other => panic!("report for {other}"),
        }
        seen.push(domain);
    }
    seen.sort();
    assert_eq!(seen, ["bad.test", "nofetch.test", "ok.test", "testing.test"]);
    // Sent means forgotten: the new period has nothing yet, and no closed one waits.
    let after = report();
    assert!(after.contains("(no sessions)") && !after.contains("closed, not sent"), "{after}");
    assert!(sender.mta.log().contains("TLS report "), "{}", sender.mta.log());
}
