//! Outbound SMTP end to end, with real parts in place of the internet: a DNS server on
//! loopback (`outbound_support/dns.rs`) whose MX records point at other loopback addresses,
//! Postfix's smtp-sink on 127.0.0.2, .3 and .6 (accepting, refusing with 4xx, refusing with
//! 5xx), nothing on 127.0.0.5 (a dead best MX), and a second mailroom-mta (with its MDA) as
//! the STARTTLS peer with a self-signed certificate checked under `tls_policy = "verify"`.
//! DKIM signatures made with a key from `mailroomctl dkim keygen` are checked by Python's
//! dkimpy (Debian python3-dkim), an independent verifier.

mod common;
#[path = "outbound_support/dns.rs"]
mod dns;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use common::{
    Options, Sink, Smtp, Stack, TIMEOUT, messages_in, output_within, receiving_db, text, wait_until,
};
use dns::Rr;
use testsupport::{Backend, TestDb};

/// Send one message through `stack`'s port 25 (the test's address is in its mynetworks).
fn send(stack: &Stack, to: &[&str], subject: &str) {
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.b.test", 250);
    let body = format!(
        "From: Bob <bob@b.test>\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@b.test>\r\n\r\n\
         body of {subject}\r\n.leading dot\r\n",
        to.join(", ")
    );
    let r = c.message("bob@b.test", to, &body).unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    c.expect("QUIT", 221);
}

/// `mailroomctl dkim keygen` into `dir`; the key file and the TXT record's text.
fn dkim_key(dir: &Path) -> (String, String) {
    let key = dir.join("b.test.s1.pem");
    let mut cmd = Command::new(testsupport::bin::path("mailroomctl"));
    cmd.args(["dkim", "keygen", "b.test", "--selector", "s1", "--out"]).arg(&key);
    let out = output_within(&mut cmd, b"", TIMEOUT);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().find(|l| l.starts_with("s1._domainkey.b.test. IN TXT ")).expect(&stdout);
    let txt = line.split_once('"').unwrap().1.trim_end_matches('"').to_string();
    (key.display().to_string(), txt)
}

/// dkimpy's verdict on `message`, with `txt` as the only DNS record it may see.
fn dkimpy_verify(message: &str, txt: &str) -> String {
    let script = "import sys, dkim\n\
                  msg = sys.stdin.buffer.read()\n\
                  txt = sys.argv[1].encode()\n\
                  def dns(name, timeout=5):\n\
                  \x20   return txt if name.rstrip(b'.') == b's1._domainkey.b.test' else None\n\
                  print(dkim.verify(msg, dnsfunc=dns))\n";
    // Debian's interpreter, where python3-dkim is installed (not a pyenv one on PATH).
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", script, txt]);
    let out = output_within(&mut cmd, message.as_bytes(), TIMEOUT);
    format!("{}{}", String::from_utf8_lossy(&out.stdout).trim(), String::from_utf8_lossy(&out.stderr))
}

/// The receiving side: mailroom-mta + mda for r.test (mailbox rob, password "x") and r2.test
/// (mailbox ann), on 127.0.0.1, with `opts`.
async fn receiver(opts: Options) -> (TestDb, Stack) {
    let db = receiving_db(&[("r.test", "rob"), ("r2.test", "ann")]).await;
    let stack = Stack::start(&db, opts);
    (db, stack)
}

#[tokio::test(flavor = "multi_thread")]
async fn mx_delivery_with_tls_dkim_retry_and_bounces() {
    let (rdb, receiver) = receiver(Options::default()).await;
    // Every MX host listens on the receiver's port, each on its own loopback address.
    let port = receiver.smtp;
    let ip = |s: &str| Rr::A(s.parse::<Ipv4Addr>().unwrap());
    let dns = dns::serve(&[
        ("r.test", Rr::Mx(10, "mx.b.test.")),
        ("mx.b.test", ip("127.0.0.1")),
        ("multi.test", Rr::Mx(10, "sink.test.")),
        ("multi.test", Rr::Mx(5, "down.test.")),
        ("down.test", ip("127.0.0.5")),
        ("sink.test", ip("127.0.0.2")),
        ("implicit.test", ip("127.0.0.2")),
        ("soft.test", Rr::Mx(10, "soft.test.")),
        ("soft.test", ip("127.0.0.3")),
        ("hard.test", Rr::Mx(10, "hard-mx.test.")),
        ("hard-mx.test", ip("127.0.0.6")),
        ("nullmx.test", Rr::Mx(0, ".")),
    ]);
    let _sink = Sink::start("127.0.0.2", port, &[]);
    let soft = Sink::start("127.0.0.3", port, &["-r", "RCPT"]);
    let _hard = Sink::start("127.0.0.6", port, &["-f", "RCPT"]);

    let keys = tempfile::tempdir().unwrap();
    let (key_file, txt) = dkim_key(keys.path());
    let db = common::database(Backend::Sqlite).await;
    let sender = Stack::start(
        &db,
        Options::default()
            .mta("mynetworks", "[\"127.0.0.0/8\"]")
            .mta("dns_servers", &format!("[\"{dns}\"]"))
            .mta("smtp_port", &port.to_string())
            .mta("tls_policy_map", "{ \"r.test\" = \"verify\" }")
            .mta("tls_ca_file", &format!("{:?}", receiver.cert.display().to_string()))
            .mta("dkim", &format!("{{ \"b.test\" = {{ selector = \"s1\", key_file = {key_file:?} }} }}")),
    );

    send(&sender, &["rob@r.test"], "tls");
    send(&sender, &["a@multi.test", "b@implicit.test"], "mx");
    send(&sender, &["c@soft.test"], "soft");
    send(&sender, &["d@hard.test"], "hard");
    send(&sender, &["e@nullmx.test"], "nullmx");

    // TLS with a verified certificate, and a DKIM signature dkimpy accepts.
    let rob = rdb.mail_root().join("r.test/rob/Maildir");
    assert!(wait_until(TIMEOUT, || messages_in(&rob).len() == 1), "{}\n{}", sender.logs(), receiver.logs());
    let msg = messages_in(&rob).remove(0);
    assert!(msg.contains("with ESMTPS id"), "not received over TLS:\n{msg}");
    assert!(msg.contains("DKIM-Signature: v=1; a=rsa-sha256;"), "not signed:\n{msg}");
    assert_eq!(dkimpy_verify(&msg, &txt), "True", "dkimpy rejects:\n{msg}");

    // The 5xx and the null MX bounce to bob's mailbox at once.
    let bounces = sender.wait_messages("bob", 2);
    let all = bounces.join("\n");
    assert!(all.contains("d@hard.test") && all.contains("Status: 5."), "{all}");
    assert!(all.contains("e@nullmx.test") && all.contains("Status: 5.1.10"), "{all}");

    // Best MX down: the next one took it; no MX: the domain's own address.
    let log = |s: &Stack| s.mta.log();
    let sent = |rcpt: &str, relay: &str| {
        log(&sender)
            .lines()
            .any(|l| l.contains(&format!("to=<{rcpt}>, relay={relay}")) && l.contains("status=sent"))
    };
    assert!(
        wait_until(TIMEOUT, || sent("a@multi.test", &format!("sink.test[127.0.0.2]:{port}"))),
        "{}",
        log(&sender)
    );
    assert!(sent("b@implicit.test", &format!("implicit.test[127.0.0.2]:{port}")), "{}", log(&sender));

    // 4xx: deferred, with the reason in the queue listing; delivered after a retry.
    assert!(wait_until(TIMEOUT, || sender.queue_list().contains("c@soft.test") && sender.queued() == 1));
    let listing = sender.queue_list();
    assert!(listing.contains("(450 4.3.0 Error: command failed)"), "no reason shown:\n{listing}");
    assert!(log(&sender).contains("status=deferred"), "{}", log(&sender));
    drop(soft);
    let _soft_ok = Sink::start("127.0.0.3", port, &[]);
    sender.flush();
    sender.wait_queue_empty();
    assert!(sent("c@soft.test", &format!("soft.test[127.0.0.3]:{port}")), "{}", log(&sender));
    assert_eq!(sender.messages("bob").len(), 2, "no bounce for mail delivered late");
}

#[tokio::test(flavor = "multi_thread")]
async fn relayhost_with_auth_over_tls_and_lmtp_transport_map() {
    // The relayhost is the receiver's submission port: STARTTLS, then AUTH as rob@r.test.
    let (rdb, receiver) = receiver(Options::default().mta("sender_login_check", "false")).await;
    let dns = dns::serve(&[("mx.b.test", Rr::A("127.0.0.1".parse().unwrap()))]);
    let keys = tempfile::tempdir().unwrap();
    let password = keys.path().join("relay-password");
    std::fs::write(&password, "x\n").unwrap();
    let db = common::database(Backend::Sqlite).await;
    let lmtp = format!("\"lmtp:unix:{}\"", receiver.lmtp_socket.display());
    let sender = Stack::start(
        &db,
        Options::default()
            .mta("mynetworks", "[\"127.0.0.0/8\"]")
            .mta("dns_servers", &format!("[\"{dns}\"]"))
            .mta("relayhost", &format!("\"[mx.b.test]:{}\"", receiver.submission))
            .mta("relayhost_username", "\"rob@r.test\"")
            // Long enough that the second message surely finds the first one's session.
            .mta("smtp_connection_cache_time", "60")
            .mta("relayhost_password_file", &format!("{:?}", password.display().to_string()))
            .mta("tls_policy_map", "{ \"mx.b.test\" = \"verify\" }")
            .mta("tls_ca_file", &format!("{:?}", receiver.cert.display().to_string()))
            .mta("transport_map", &format!("{{ \"r2.test\" = {lmtp} }}")),
    );
    send(&sender, &["rob@r.test"], "relayed");
    send(&sender, &["ann@r2.test"], "lmtp");

    let rob = rdb.mail_root().join("r.test/rob/Maildir");
    assert!(wait_until(TIMEOUT, || messages_in(&rob).len() == 1), "{}\n{}", sender.logs(), receiver.logs());
    let msg = messages_in(&rob).remove(0);
    assert!(msg.contains("with ESMTPSA id"), "not authenticated over TLS:\n{msg}");
    assert!(msg.contains("(Authenticated sender: rob@r.test)"), "{msg}");
    let ann = rdb.mail_root().join("r2.test/ann/Maildir");
    assert!(wait_until(TIMEOUT, || messages_in(&ann).len() == 1), "{}\n{}", sender.logs(), receiver.logs());
    let log = sender.mta.log();
    assert!(
        log.contains(&format!("to=<rob@r.test>, relay=mx.b.test[127.0.0.1]:{}", receiver.submission)),
        "{log}"
    );
    assert!(
        log.contains(&format!("to=<ann@r2.test>, relay=unix:{}", receiver.lmtp_socket.display())),
        "{log}"
    );
    sender.wait_queue_empty();

    // The next message to the relayhost reuses the authenticated session: one AUTH in all.
    send(&sender, &["rob@r.test"], "reused");
    assert!(wait_until(TIMEOUT, || messages_in(&rob).len() == 2), "{}\n{}", sender.logs(), receiver.logs());
    let auths = receiver.mta.log().matches("authenticated").count();
    assert_eq!(auths, 1, "{}", receiver.mta.log());
}
