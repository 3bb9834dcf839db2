//! MTA-STS (RFC 8461) and REQUIRETLS (RFC 8689) end to end: NSD on loopback serves `test.`
//! with the `_mta-sts` TXT records, MX and policy host addresses; a small HTTPS server on
//! loopback (rustls, a certificate made for the test) serves each domain's policy by Host;
//! the MX hosts are a second mailroom-mta on 127.0.0.1 whose self-signed certificate names
//! `mx.b.test` and is one of the sender's trust anchors (`tls_ca_file`), so `mx.b.test`
//! verifies and other MX names do not, and Postfix's smtp-sink, which offers no STARTTLS.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use common::policy_host::PolicyHost;
use common::{
    Options, PASSWORD, Sink, Stack, TIMEOUT, messages_in, receiving_db, send_from_bob as send, wait_until,
};
use testsupport::Backend;
use testsupport::nsd::Nsd;

fn policy(mode: &str, mx: &str) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn enforce_testing_wrong_mx_bad_certificate_and_cache() {
    // Domain, policy mode, policy mx pattern, the domain's MX host.
    const DOMAINS: [(&str, &str, &str, &str); 5] = [
        ("enforce", "enforce", "*.b.test", "mx.b.test"),
        ("wrongmx", "enforce", "mx.elsewhere.test", "mx.b.test"),
        ("badcert", "enforce", "mx.badcert.test", "mx.badcert.test"),
        ("testing", "testing", "mx.testing.test", "mx.testing.test"),
        ("nopolicy", "", "", "mx.b.test"),
    ];
    let domains: Vec<String> = DOMAINS.iter().map(|(d, ..)| format!("{d}.test")).collect();
    let rdb = receiving_db(&domains.iter().map(|d| (d.as_str(), "u")).collect::<Vec<_>>()).await;
    let receiver = Stack::start(&rdb, Options::default());
    let port = receiver.smtp;

    // The policy hosts' certificate, issued by a CA the sender trusts.
    let names: Vec<String> = DOMAINS.iter().map(|(d, ..)| format!("mta-sts.{d}.test")).collect();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let host_key = rcgen::KeyPair::generate().unwrap();
    let host_cert = rcgen::CertificateParams::new(names.clone()).unwrap().signed_by(&host_key, &ca).unwrap();
    let anchors = tempfile::tempdir().unwrap();
    let ca_file = anchors.path().join("anchors.pem");
    let receiver_cert = std::fs::read_to_string(&receiver.cert).unwrap();
    std::fs::write(&ca_file, format!("{}{receiver_cert}", ca.pem())).unwrap();

    let policies: HashMap<String, String> = DOMAINS
        .iter()
        .filter(|(_, mode, ..)| !mode.is_empty())
        .map(|(d, mode, mx, _)| (format!("mta-sts.{d}.test"), policy(mode, mx)))
        .collect();
    let https = PolicyHost::start(&host_cert.pem(), &host_key.serialize_pem(), policies);

    let mut nsd = Nsd::new();
    let mut zone = "mx.b.test. IN A 127.0.0.1\n".to_string();
    for (d, mode, _, mx) in DOMAINS {
        zone += &format!("{d}.test. IN MX 10 {mx}.\nmta-sts.{d}.test. IN A 127.0.0.1\n");
        if mx != "mx.b.test" {
            zone += &format!("{mx}. IN A 127.0.0.1\n");
        }
        if !mode.is_empty() {
            zone += &format!("_mta-sts.{d}.test. IN TXT \"v=STSv1; id=20261207T1\"\n");
        }
    }
    nsd.zone("test.", &zone, None);
    nsd.start();

    let db = common::database(Backend::Sqlite).await;
    let mut sender = Stack::start(
        &db,
        Options::default()
            .mta("mynetworks", "[\"127.0.0.0/8\"]")
            .mta("dns_servers", &format!("[\"{}\"]", nsd.addr()))
            .mta("smtp_port", &port.to_string())
            .mta("mta_sts_port", &https.port.to_string())
            .mta("tls_ca_file", &format!("{:?}", ca_file.display().to_string())),
    );
    for (d, ..) in DOMAINS {
        send(&sender, &format!("u@{d}.test"));
    }

    let inbox = |d: &str| messages_in(&rdb.mail_root().join(format!("{d}.test/u/Maildir")));
    let log = |s: &Stack| s.mta.log();
    let lines = |s: &Stack, d: &str, status: &str| {
        log(s)
            .lines()
            .filter(|l| l.contains(&format!("to=<u@{d}.test>")) && l.contains(status))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let delivered = ["enforce", "testing", "nopolicy"];
    let all_in = wait_until(TIMEOUT, || delivered.iter().all(|d| inbox(d).len() == 1));
    assert!(all_in, "{}\n{}\n{}", sender.logs(), receiver.logs(), nsd.log());
    assert!(wait_until(TIMEOUT, || sender.queued() == 2), "{}", log(&sender));
    // The policy's MX with a certificate valid for its name: verified TLS.
    let l = lines(&sender, "enforce", "status=sent").remove(0);
    assert!(
        l.contains(&format!("relay=mx.b.test[127.0.0.1]:{port}")) && l.contains("tls=verified (mta-sts),"),
        "{l}"
    );
    // No policy: opportunistic TLS, the certificate unchecked.
    let l = lines(&sender, "nopolicy", "status=sent").remove(0);
    assert!(l.contains("tls=encrypted,"), "{l}");
    // Testing: the certificate does not name the MX host; sent anyway, the failure logged.
    let l = lines(&sender, "testing", "status=sent").remove(0);
    assert!(l.contains("tls=encrypted (mta-sts testing: certificate-host-mismatch),"), "{l}");
    let testing = format!("mx.testing.test[127.0.0.1]:{port}: MTA-STS testing: certificate not valid");
    assert!(log(&sender).contains(&testing), "{}", log(&sender));
    // Enforce: an MX host the policy does not name, or one without a valid certificate, is
    // not used; the mail waits.
    let l = lines(&sender, "wrongmx", "status=deferred").remove(0);
    assert!(
        l.contains("4.7.5") && l.contains("MX host mx.b.test is not in the policy of wrongmx.test"),
        "{l}"
    );
    let l = lines(&sender, "badcert", "status=deferred").remove(0);
    assert!(
        l.contains("4.7.5")
            && l.contains(&format!("MTA-STS: mx.badcert.test[127.0.0.1]:{port}: certificate not valid")),
        "{l}"
    );
    assert!(inbox("wrongmx").is_empty() && inbox("badcert").is_empty());
    let listing = sender.queue_list();
    assert!(listing.contains("u@wrongmx.test") && listing.contains("is not in the policy"), "{listing}");
    // The policies are cached under the spool.
    let cached = std::fs::read_to_string(sender.spool.join("sts/enforce.test")).unwrap();
    assert!(cached.contains("id 20261207T1") && cached.contains("mx: *.b.test"), "{cached}");
    let fetched = https.requests.load(Ordering::SeqCst);
    assert_eq!(fetched, 4, "one fetch per domain with a policy");

    // The policy host goes away: the cached policies still hold, without a fetch.
    drop(https);
    sender.restart_mta();
    send(&sender, "u@enforce.test");
    send(&sender, "u@wrongmx.test");
    assert!(wait_until(TIMEOUT, || inbox("enforce").len() == 2), "{}", log(&sender));
    assert!(wait_until(TIMEOUT, || lines(&sender, "enforce", "status=sent").len() == 2), "{}", log(&sender));
    assert!(
        lines(&sender, "enforce", "status=sent")[1].contains("tls=verified (mta-sts),"),
        "{}",
        log(&sender)
    );
    assert!(
        wait_until(TIMEOUT, || lines(&sender, "wrongmx", "status=deferred").len() == 2),
        "{}",
        log(&sender)
    );
    assert!(inbox("wrongmx").is_empty());
    assert!(wait_until(TIMEOUT, || sender.queued() == 3), "{}", log(&sender));
}

#[tokio::test(flavor = "multi_thread")]
async fn requiretls_only_over_verified_tls_to_a_host_that_offers_it() {
    // ok: the receiver as mx.b.test, which its certificate names; wrongname: the receiver
    // under a name its certificate does not have; clear: smtp-sink, no STARTTLS at all.
    const DOMAINS: [&str; 3] = ["ok", "wrongname", "clear"];
    let domains: Vec<String> = DOMAINS.iter().map(|d| format!("{d}.test")).collect();
    let rdb = receiving_db(&domains.iter().map(|d| (d.as_str(), "u")).collect::<Vec<_>>()).await;
    let receiver = Stack::start(&rdb, Options::default());
    let port = receiver.smtp;
    let _sink = Sink::start("127.0.0.2", port, &[]);
    let mut nsd = Nsd::new();
    let zone = "mx.b.test. IN A 127.0.0.1\nok.test. IN MX 10 mx.b.test.\n\
                wrongname.test. IN MX 10 mx.wrongname.test.\nmx.wrongname.test. IN A 127.0.0.1\n\
                clear.test. IN MX 10 mx.clear.test.\nmx.clear.test. IN A 127.0.0.2\n";
    nsd.zone("test.", zone, None);
    nsd.start();
    let db = common::database(Backend::Sqlite).await;
    let sender = Stack::start(
        &db,
        Options::default()
            .mta("dns_servers", &format!("[\"{}\"]", nsd.addr()))
            .mta("smtp_port", &port.to_string())
            .mta("tls_ca_file", &format!("{:?}", receiver.cert.display().to_string())),
    );

    // Submission: STARTTLS, AUTH, MAIL FROM with REQUIRETLS.
    let rcpts = DOMAINS.map(|d| format!("u@{d}.test")).join(",");
    let sub = sender.submission.to_string();
    let py =
        sender.smtplib(&[&sub, "starttls", "bob@b.test", PASSWORD, "bob@b.test", &rcpts, "rt", "REQUIRETLS"]);
    assert!(py.contains("send ok"), "{py}");
    // Without TLS the parameter is not taken.
    let py = sender.smtplib(&[&sub, "plain", "-", "-", "bob@b.test", "u@ok.test", "clear", "REQUIRETLS"]);
    assert!(py.contains("error SMTPSenderRefused 555"), "{py}");

    let inbox = |d: &str| messages_in(&rdb.mail_root().join(format!("{d}.test/u/Maildir")));
    assert!(wait_until(TIMEOUT, || inbox("ok").len() == 1), "{}\n{}", sender.logs(), receiver.logs());
    let log = sender.mta.log();
    let line = |d: &str| log.lines().find(|l| l.contains(&format!("to=<u@{d}.test>"))).unwrap_or_default();
    assert!(line("ok").contains("tls=verified (requiretls),") && line("ok").contains("status=sent"), "{log}");
    // Never in clear, never unverified: bounced with RFC 8689's code.
    let bounces = sender.wait_messages("bob", 1);
    let report = &bounces[0];
    for d in ["wrongname", "clear"] {
        assert!(report.contains(&format!("u@{d}.test")), "{report}");
    }
    assert!(report.contains("Status: 5.7.10") && report.contains("REQUIRETLS needed"), "{report}");
    assert!(inbox("wrongname").is_empty());
    sender.wait_queue_empty();
}
