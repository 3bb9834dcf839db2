//! Sender authentication over real SMTP sessions: the real mailroom-mta with
//! `sender_auth = true` resolves through an authoritative DNS server on loopback
//! (`outbound_support/dns.rs`) that publishes SPF, DKIM and DMARC records, or answers SERVFAIL
//! for the broken ones. Test messages are DKIM-signed and ARC-sealed by dkimpy (Debian
//! python3-dkim) with a key from `mailroomctl dkim keygen`, so our verdicts are checked against
//! an independent signer. The client is on 127.0.0.1, which is not in the tests' mynetworks.

mod common;
#[path = "outbound_support/dns.rs"]
mod dns;

use std::path::Path;
use std::process::Command;

use common::{Options, Smtp, Stack, TIMEOUT, database, header, output_within, text};
use dns::Rr;
use testsupport::Backend;

/// The zone: SPF records of every kind, a DKIM key for pass.test (`txt`), DMARC policies.
fn zone(dkim_txt: &str) -> Vec<(&'static str, Rr)> {
    let txt = |s: &str| Rr::Txt(s.to_string());
    vec![
        ("client.test", txt("v=spf1 ip4:127.0.0.1 -all")),
        ("pass.test", txt("v=spf1 ip4:127.0.0.1 -all")),
        ("_dmarc.pass.test", txt("v=DMARC1; p=reject")),
        ("s1._domainkey.pass.test", txt(dkim_txt)),
        ("fail.test", txt("v=spf1 ip4:192.0.2.1 -all")),
        ("soft.test", txt("v=spf1 ip4:192.0.2.1 ~all")),
        ("temp.test", Rr::ServFail),
        // An include: of a name without an SPF record: permerror (RFC 7208 §5.2).
        ("perm.test", txt("v=spf1 include:none.test -all")),
        ("none.test", Rr::A("192.0.2.1".parse().unwrap())),
        // SPF fails for all three; the DMARC policies differ.
        ("reject.test", txt("v=spf1 ip4:192.0.2.1 -all")),
        ("_dmarc.reject.test", txt("v=DMARC1; p=reject")),
        ("quarantine.test", txt("v=spf1 ip4:192.0.2.1 -all")),
        ("_dmarc.quarantine.test", txt("v=DMARC1; p=quarantine")),
        ("monitor.test", txt("v=spf1 ip4:192.0.2.1 -all")),
        ("_dmarc.monitor.test", txt("v=DMARC1; p=none")),
        // SPF passes but its DMARC record cannot be fetched.
        ("dmarctemp.test", txt("v=spf1 ip4:127.0.0.1 -all")),
        ("_dmarc.dmarctemp.test", Rr::ServFail),
    ]
}

/// A key for pass.test, selector s1: the key file and its TXT record.
fn dkim_key(dir: &Path) -> (String, String) {
    let key = dir.join("pass.test.s1.pem");
    let mut cmd = Command::new(testsupport::bin::path("mailroomctl"));
    cmd.args(["dkim", "keygen", "pass.test", "--selector", "s1", "--out"]).arg(&key);
    let out = output_within(&mut cmd, b"", TIMEOUT);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().find(|l| l.starts_with("s1._domainkey.pass.test. IN TXT ")).expect(&stdout);
    let txt = line.split_once('"').unwrap().1.trim_end_matches('"').to_string();
    (key.display().to_string(), txt)
}

/// dkimpy signs `msg` as pass.test (`dkim`), or seals it as an ARC set of relay.pass.test
/// (`arc`; `msg` must carry that relay's Authentication-Results); the headers go on top.
fn dkimpy_sign(mode: &str, key: &str, msg: &str) -> String {
    let script = "import sys, dkim\n\
                  mode, key = sys.argv[1:3]\n\
                  msg = sys.stdin.buffer.read()\n\
                  priv = open(key, 'rb').read()\n\
                  hs = [b'from', b'to', b'subject', b'date', b'message-id']\n\
                  if mode == 'dkim':\n\
                  \x20   out = dkim.sign(msg, b's1', b'pass.test', priv, include_headers=hs)\n\
                  else:\n\
                  \x20   out = b''.join(dkim.arc_sign(msg, b's1', b'pass.test', priv, b'relay.pass.test', include_headers=hs))\n\
                  sys.stdout.buffer.write(out + msg)\n";
    // Debian's interpreter, where python3-dkim is installed.
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", script, mode, key]);
    let out = output_within(&mut cmd, msg.as_bytes(), TIMEOUT);
    assert!(out.status.success(), "dkimpy: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// dkimpy's verdict on `msg` (line ends made CRLF), with `txt` as s1._domainkey.pass.test.
fn dkimpy_verify(msg: &str, txt: &str) -> String {
    let script = "import sys, dkim\n\
                  msg = sys.stdin.buffer.read().replace(b'\\r\\n', b'\\n').replace(b'\\n', b'\\r\\n')\n\
                  txt = sys.argv[1].encode()\n\
                  def dns(name, timeout=5):\n\
                  \x20   return txt if name.rstrip(b'.') == b's1._domainkey.pass.test' else None\n\
                  print(dkim.verify(msg, dnsfunc=dns))\n";
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", script, txt]);
    let out = output_within(&mut cmd, msg.as_bytes(), TIMEOUT);
    format!("{}{}", String::from_utf8_lossy(&out.stdout).trim(), String::from_utf8_lossy(&out.stderr))
}

/// A message from `from` to bob@b.test with `subject`, CRLF lines.
fn message(from: &str, subject: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <bob@b.test>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@client.test>\r\n\
         Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n\r\nbody of {subject}\r\n"
    )
}

/// One session from client.test: MAIL FROM `sender`, RCPT bob@b.test, `msg`; the reply to
/// MAIL FROM when it is not 250, else the reply to the end of DATA.
fn send(stack: &Stack, sender: &str, msg: &str) -> common::Reply {
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.test", 250);
    let r = c.message(sender, &["bob@b.test"], msg).unwrap();
    c.expect("QUIT", 221);
    r
}

/// `send`, asserting 250.
fn deliver(stack: &Stack, sender: &str, msg: &str) {
    let r = send(stack, sender, msg);
    assert_eq!(r.code, 250, "{sender}: {}\n{}", r.text, stack.mta.log());
}

/// The delivered message whose Subject is `subject`.
fn delivered(stack: &Stack, n: usize, subject: &str) -> String {
    let all = stack.wait_messages("bob", n);
    all.into_iter()
        .find(|m| header(m, "Subject").as_deref() == Some(subject))
        .unwrap_or_else(|| panic!("no message {subject:?}\n{}", stack.logs()))
}

/// Our Authentication-Results header of `msg`, unfolded, split into its results
/// (`["mx.b.test", "spf=pass ...", ...]`); asserts there is exactly one under our name.
fn our_results(msg: &str) -> Vec<String> {
    let ours: Vec<String> = all_headers(msg, "Authentication-Results")
        .into_iter()
        .filter(|v| v.starts_with("mx.b.test;"))
        .collect();
    assert_eq!(ours.len(), 1, "one Authentication-Results of ours:\n{msg}");
    ours[0].split(';').map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

/// The result for `what` (`smtp.mailfrom`, `smtp.helo`, `dkim=`, `dmarc=`, `arc=`): its
/// method=result word, e.g. `spf=fail`.
fn result(results: &[String], what: &str) -> String {
    let r = results.iter().find(|r| r.contains(what)).unwrap_or_else(|| panic!("no {what} in {results:?}"));
    r.split_whitespace().next().unwrap().to_string()
}

/// Every value of header `name` in `msg`'s header section, unfolded.
fn all_headers(msg: &str, name: &str) -> Vec<String> {
    let head = msg.replace("\r\n", "\n");
    let head = head.split("\n\n").next().unwrap_or("").to_string();
    let mut out: Vec<String> = Vec::new();
    let mut in_it = false;
    for l in head.lines() {
        if l.starts_with([' ', '\t']) {
            if in_it {
                out.last_mut().unwrap().push_str(l);
            }
            continue;
        }
        in_it = l.len() > name.len()
            && l[..name.len()].eq_ignore_ascii_case(name)
            && l.as_bytes()[name.len()] == b':';
        if in_it {
            out.push(l[name.len() + 1..].trim().to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn spf_dkim_dmarc_arc_verdicts_and_policies() {
    let keys = tempfile::tempdir().unwrap();
    let (key, txt) = dkim_key(keys.path());
    let dns = dns::serve(&zone(&txt));
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(
        &db,
        Options::default()
            .mta("sender_auth", "true")
            .mta("dns_servers", &format!("[\"{dns}\"]"))
            .mta("plaintext_auth_on_loopback", "true"),
    );
    let mut n = 0;

    // SPF for MAIL FROM, each result; the HELO name passes. No DMARC record: dmarc=none.
    for (domain, want) in [
        ("pass.test", "spf=pass"),
        ("fail.test", "spf=fail"),
        ("soft.test", "spf=softfail"),
        ("temp.test", "spf=temperror"),
        ("perm.test", "spf=permerror"),
        ("none.test", "spf=none"),
    ] {
        let subject = format!("spf-{domain}");
        let from = format!("a@{domain}");
        // pass.test's own DMARC record would apply to its From: header; use a neutral one.
        deliver(&stack, &from, &message("a@none.test", &subject));
        n += 1;
        let msg = delivered(&stack, n, &subject);
        let results = our_results(&msg);
        assert_eq!(result(&results, "smtp.mailfrom"), want, "{domain}: {results:?}");
        assert_eq!(result(&results, "smtp.helo"), "spf=pass", "{results:?}");
        assert_eq!(result(&results, "dkim="), "dkim=none", "{results:?}");
        assert_eq!(result(&results, "dmarc="), "dmarc=none", "{results:?}");
        // Ours is above our Received:.
        let ours = msg.find("Authentication-Results: mx.b.test;").unwrap();
        assert!(msg.find("Received: from client.test").is_some_and(|r| ours < r), "{msg}");
    }

    // DKIM pass, aligned with From: pass.test, while SPF fails (another envelope domain):
    // DMARC passes through DKIM alone, p=reject does not apply.
    let signed = dkimpy_sign("dkim", &key, &message("a@pass.test", "dkim-pass"));
    deliver(&stack, "bounce@fail.test", &signed);
    n += 1;
    let msg = delivered(&stack, n, "dkim-pass");
    let results = our_results(&msg);
    assert_eq!(result(&results, "dkim="), "dkim=pass", "{results:?}");
    assert!(
        results.iter().any(|r| r.contains("header.i=@pass.test") && r.contains("header.s=s1")),
        "{results:?}"
    );
    // dkimpy agrees, on the message as delivered (our headers on top break nothing).
    assert_eq!(dkimpy_verify(&msg, &txt), "True", "{msg}");
    assert_eq!(result(&results, "smtp.mailfrom"), "spf=fail", "{results:?}");
    assert_eq!(result(&results, "dmarc="), "dmarc=pass", "{results:?}");

    // The same signature over a changed body: dkim=fail, nothing else aligns, p=reject is
    // honoured at the end of DATA and nothing is queued.
    let tampered = signed.replace("body of dkim-pass", "body of dkim-pass, changed");
    let r = send(&stack, "bounce@fail.test", &tampered);
    assert_eq!(r.code, 550, "{}\n{}", r.text, stack.mta.log());
    assert!(r.text.contains("5.7.1") && r.text.contains("pass.test"), "{}", r.text);
    assert_eq!(stack.queued(), 0);
    assert!(stack.mta.log().contains("reject: client=[127.0.0.1]"), "{}", stack.mta.log());

    // DMARC fail under p=reject (SPF-only domain): 550 5.7.1.
    let r = send(&stack, "a@reject.test", &message("a@reject.test", "dmarc-reject"));
    assert_eq!(r.code, 550, "{}", r.text);
    assert!(r.text.contains("5.7.1"), "{}", r.text);

    // p=quarantine: delivered with the quarantine header for Sieve; p=none: only marked.
    deliver(&stack, "a@quarantine.test", &message("a@quarantine.test", "dmarc-quarantine"));
    n += 1;
    let msg = delivered(&stack, n, "dmarc-quarantine");
    assert_eq!(result(&our_results(&msg), "dmarc="), "dmarc=fail", "{msg}");
    let q = header(&msg, "X-Mailroom-Quarantine").unwrap_or_else(|| panic!("not marked:\n{msg}"));
    assert!(q.contains("policy.dmarc=quarantine") && q.contains("quarantine.test"), "{q}");

    deliver(&stack, "a@monitor.test", &message("a@monitor.test", "dmarc-none"));
    n += 1;
    let msg = delivered(&stack, n, "dmarc-none");
    let results = our_results(&msg);
    assert_eq!(result(&results, "dmarc="), "dmarc=fail", "{results:?}");
    assert!(results.iter().any(|r| r.contains("policy.dmarc=none")), "{results:?}");
    assert!(header(&msg, "X-Mailroom-Quarantine").is_none(), "{msg}");

    // The DMARC record's server fails: temperror, accepted.
    deliver(&stack, "a@dmarctemp.test", &message("a@dmarctemp.test", "dmarc-temp"));
    n += 1;
    let results = our_results(&delivered(&stack, n, "dmarc-temp"));
    assert_eq!(result(&results, "dmarc="), "dmarc=temperror", "{results:?}");

    // Forged results under our name (and a quarantine mark) are removed; another
    // server's results stay.
    let forged = format!(
        "Authentication-Results: mx.b.test; spf=pass smtp.mailfrom=a@fail.test; dmarc=pass\r\n\
         Authentication-Results: (comment) MX.B.TEST; dkim=pass\r\n\
         Authentication-Results: other.example; spf=pass\r\n\
         X-Mailroom-Quarantine: none\r\n{}",
        message("a@none.test", "forged")
    );
    deliver(&stack, "a@fail.test", &forged);
    n += 1;
    let msg = delivered(&stack, n, "forged");
    let results = our_results(&msg);
    assert_eq!(result(&results, "smtp.mailfrom"), "spf=fail", "{results:?}");
    assert_eq!(all_headers(&msg, "Authentication-Results").len(), 2, "{msg}");
    assert!(
        all_headers(&msg, "Authentication-Results").contains(&"other.example; spf=pass".to_string()),
        "{msg}"
    );
    assert!(header(&msg, "X-Mailroom-Quarantine").is_none(), "{msg}");

    // An ARC set sealed by relay.pass.test (dkimpy) verifies.
    let relayed = format!(
        "Authentication-Results: relay.pass.test; spf=pass smtp.mailfrom=a@pass.test\r\n{}",
        message("a@pass.test", "arc")
    );
    let sealed = dkimpy_sign("arc", &key, &relayed);
    assert!(sealed.starts_with("ARC-Seal: i=1;"), "{sealed}");
    deliver(&stack, "a@pass.test", &sealed);
    n += 1;
    let results = our_results(&delivered(&stack, n, "arc"));
    assert_eq!(result(&results, "arc="), "arc=pass", "{results:?}");
    assert_eq!(result(&results, "dmarc="), "dmarc=pass", "{results:?}");

    // An authenticated client is not judged: no Authentication-Results at all.
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.test", 250);
    c.expect("AUTH PLAIN AGJvYkBiLnRlc3QAYm9icGFzcw==", 235);
    let r = c.message("bob@b.test", &["bob@b.test"], &message("bob@b.test", "authenticated")).unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    n += 1;
    let msg = delivered(&stack, n, "authenticated");
    assert!(all_headers(&msg, "Authentication-Results").is_empty(), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn spf_reject_and_dmarc_mark() {
    let dns = dns::serve(&zone("v=DKIM1; p="));
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(
        &db,
        Options::default()
            .mta("sender_auth", "true")
            .mta("authserv_id", "\"auth.b.test\"")
            .mta("spf_fail", "\"reject\"")
            .mta("dmarc_policy", "\"mark\"")
            .mta("dns_servers", &format!("[\"{dns}\"]")),
    );
    // A hard SPF fail is refused at MAIL FROM; a soft fail and a DNS failure are not.
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.test", 250);
    let r = c.cmd("MAIL FROM:<a@fail.test>").unwrap();
    assert_eq!(r.code, 550, "{}", r.text);
    assert!(r.text.contains("5.7.23") && r.text.contains("fail.test"), "{}", r.text);
    c.expect("MAIL FROM:<a@soft.test>", 250);
    c.expect("RSET", 250);
    c.expect("MAIL FROM:<a@temp.test>", 250);
    c.expect("QUIT", 221);

    // p=reject is only marked under dmarc_policy = "mark" (the MAIL FROM domain passes SPF,
    // the From: domain's policy rejects): the quarantine header, under our authserv_id.
    deliver(&stack, "a@pass.test", &message("a@reject.test", "marked"));
    let msg = delivered(&stack, 1, "marked");
    let ours: Vec<_> = all_headers(&msg, "Authentication-Results")
        .into_iter()
        .filter(|v| v.starts_with("auth.b.test;"))
        .collect();
    assert_eq!(ours.len(), 1, "{msg}");
    assert!(ours[0].contains("dmarc=fail") && ours[0].contains("policy.dmarc=reject"), "{}", ours[0]);
    let q = header(&msg, "X-Mailroom-Quarantine").unwrap_or_else(|| panic!("not marked:\n{msg}"));
    assert!(q.contains("policy.dmarc=reject"), "{q}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mynetworks_are_not_judged() {
    let dns = dns::serve(&zone("v=DKIM1; p="));
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(
        &db,
        Options::default()
            .mta("sender_auth", "true")
            .mta("spf_fail", "\"reject\"")
            .mta("mynetworks", "[\"127.0.0.0/8\"]")
            .mta("dns_servers", &format!("[\"{dns}\"]")),
    );
    // SPF would refuse it and DMARC p=reject too, but our own network is trusted.
    deliver(&stack, "a@reject.test", &message("a@reject.test", "trusted"));
    let msg = delivered(&stack, 1, "trusted");
    assert!(all_headers(&msg, "Authentication-Results").is_empty(), "{msg}");
}
