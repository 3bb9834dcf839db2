//! DANE (RFC 7672) end to end with `tls_policy = "dane"`: NSD on loopback serves the zone
//! `test.`, signed by ldns-signzone with a key made for the test (its DNSKEY is the sender's
//! only trust anchor), with a delegation to an unsigned `insecure.test.` (no DS: provably
//! insecure) and one to `bogus.test.`, whose DS names a key that signs nothing. Every MX is
//! a second mailroom-mta on 127.0.0.1 offering STARTTLS with a self-signed certificate.

mod common;

use std::path::Path;

use common::{Options, Stack, TIMEOUT, messages_in, receiving_db, send_from_bob as send, wait_until};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use testsupport::Backend;
use testsupport::nsd::Nsd;

/// SHA-256 of the certificate's SubjectPublicKeyInfo, hex: a `3 1 1` TLSA record's data.
fn spki_sha256(pem: &Path) -> String {
    let der = CertificateDer::from_pem_file(pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    hex(&Sha256::digest(cert.tbs_certificate.subject_pki.raw))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dane_pass_mismatch_unusable_insecure_and_bogus() {
    const DOMAINS: [&str; 6] = ["ok", "bad", "unusable", "notlsa", "insecure", "bogus"];
    let domains: Vec<String> = DOMAINS.iter().map(|d| format!("{d}.test")).collect();
    let rdb = receiving_db(&domains.iter().map(|d| (d.as_str(), "u")).collect::<Vec<_>>()).await;
    let receiver = Stack::start(&rdb, Options::default());
    let port = receiver.smtp;
    let good = spki_sha256(&receiver.cert);
    let wrong = hex(&Sha256::digest(b"some other key"));

    let mut nsd = Nsd::new();
    let key = nsd.key("test.");
    let stray = nsd.key("bogus.test.");
    let host = |d: &str, tlsa: Option<String>| {
        let mut rr = format!("{d}.test. IN MX 10 mx.{d}.test.\nmx.{d}.test. IN A 127.0.0.1\n");
        if let Some(t) = tlsa {
            rr += &format!("_{port}._tcp.mx.{d}.test. IN TLSA {t}\n");
        }
        rr
    };
    let mut test = String::new();
    test += &host("ok", Some(format!("3 1 1 {good}")));
    test += &host("bad", Some(format!("3 1 1 {wrong}")));
    // PKIX-EE (usage 1) is not for SMTP (RFC 7672 §3.1.3): unusable, so TLS without checks.
    test += &host("unusable", Some(format!("1 1 1 {good}")));
    test += &host("notlsa", None);
    test += "insecure.test. IN NS ns.test.\nbogus.test. IN NS ns.test.\n";
    test += &stray.ds();
    nsd.zone("test.", &test, Some(&key));
    // Not signed, so its TLSA record proves nothing and is ignored.
    let insecure = host("insecure", Some(format!("3 1 1 {wrong}")));
    nsd.zone("insecure.test.", &insecure, None);
    nsd.zone("bogus.test.", &host("bogus", Some(format!("3 1 1 {good}"))), None);
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
            .mta("dnssec_trust_anchor_file", &format!("{:?}", anchor.display().to_string())),
    );
    for d in DOMAINS {
        send(&sender, &format!("u@{d}.test"));
    }

    let inbox = |d: &str| messages_in(&rdb.mail_root().join(format!("{d}.test/u/Maildir")));
    let log = || sender.mta.log();
    let line = |d: &str, status: &str| {
        log()
            .lines()
            .find(|l| l.contains(&format!("to=<u@{d}.test>")) && l.contains(status))
            .map(str::to_string)
    };
    let delivered = ["ok", "unusable", "notlsa", "insecure"];
    let all_in = wait_until(TIMEOUT, || delivered.iter().all(|d| inbox(d).len() == 1));
    assert!(all_in, "{}\n{}\n{}", sender.logs(), receiver.logs(), nsd.log());
    for d in delivered {
        let msg = inbox(d).remove(0);
        assert!(msg.contains("with ESMTPS id"), "{d}: not received over TLS:\n{msg}");
    }
    assert!(wait_until(TIMEOUT, || sender.queued() == 2), "{}", log());
    let relay = |d: &str| format!("relay=mx.{d}.test[127.0.0.1]:{port}");
    // Authenticated by the TLSA record.
    let ok = line("ok", "status=sent").unwrap_or_else(|| panic!("{}", log()));
    assert!(ok.contains(&relay("ok")) && ok.contains("tls=dane,"), "{ok}");
    // Unusable records and no records: encrypted, not authenticated; an insecure zone's
    // records do not count.
    // The log says why: `tls=encrypted (dane: ...)`.
    for (d, why) in [("unusable", "unusable TLSA"), ("notlsa", "no TLSA"), ("insecure", "DNS not signed")] {
        let l = line(d, "status=sent").unwrap_or_else(|| panic!("{}", log()));
        assert!(l.contains(&relay(d)) && l.contains(&format!("tls=encrypted (dane: {why}),")), "{l}");
    }
    assert!(log().contains("mx.unusable.test: DANE: no usable TLSA record; TLS required"), "{}", log());
    // A certificate the records do not match: deferred, never sent without them.
    let bad = line("bad", "status=deferred").unwrap_or_else(|| panic!("{}", log()));
    assert!(bad.contains("4.7.5") && bad.contains("TLSA records do not authenticate"), "{bad}");
    assert!(inbox("bad").is_empty());
    // A DS for keys that sign nothing: bogus, so the MX lookup fails and the mail waits.
    let bogus = line("bogus", "status=deferred").unwrap_or_else(|| panic!("{}", log()));
    assert!(bogus.contains("4.4.3") && bogus.contains("DNSSEC"), "{bogus}");
    assert!(inbox("bogus").is_empty());
    let listing = sender.queue_list();
    assert!(
        listing.contains("u@bad.test") && listing.contains("TLSA records do not authenticate"),
        "{listing}"
    );
    assert!(wait_until(TIMEOUT, || sender.queued() == 2), "{}", log());
}
