//! The connection stage over real sessions, what postscreen and anvil do in front of
//! Postfix's smtpd: DNS blocklists and allowlists served by a real NSD on loopback (clients
//! come from several 127.0.0.x addresses, which the zones list or not), their weights,
//! threshold and actions; a DNS server that never answers; the per-client connection, message
//! and recipient rate limits with Postfix's replies, and their reset once the time unit has
//! passed; a client the allowlist vouches for is not greylisted. Each test then checks the
//! metrics its sessions moved, exactly.

mod common;

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use base64::Engine as _;
use common::{Options, PASSWORD, Smtp, Stack, TIMEOUT, database, delta, wait_until};
use testsupport::Backend;
use testsupport::nsd::Nsd;

/// 127.0.0.`n`.
fn client(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// The lists: bl.test answers 127.0.0.2 for .2 and .4, 127.0.0.10 for .3 and .8, 127.0.0.20
/// (outside the filter) for .5; bl2.test lists .3 and .5; the allowlist wl.test lists .4
/// and .6. Nobody lists .1.
fn lists() -> Nsd {
    let mut nsd = Nsd::new();
    let a = |n: u8, zone: &str, reply: &str| format!("{n}.0.0.127.{zone} IN A {reply}\n");
    let bl = [(2, "127.0.0.2"), (3, "127.0.0.10"), (4, "127.0.0.2"), (5, "127.0.0.20"), (8, "127.0.0.10")]
        .iter()
        .map(|(n, r)| a(*n, "bl.test.", r))
        .collect::<String>();
    nsd.zone("bl.test.", &bl, None);
    nsd.zone("bl2.test.", &(a(3, "bl2.test.", "127.0.0.2") + &a(5, "bl2.test.", "127.0.0.2")), None);
    nsd.zone("wl.test.", &(a(4, "wl.test.", "127.0.5.2") + &a(6, "wl.test.", "127.0.9.1")), None);
    nsd.start();
    nsd
}

/// `dnsbl_sites` in TOML: bl.test weighs 2 for replies in 127.0.0.2..11, bl2.test 1 for any
/// reply, wl.test -2; unserved.test is a zone the server refuses (a DNS error).
const SITES: &str =
    r#"["bl.test=127.0.0.[2..11]*2", "bl2.test", "wl.test=127.0.[0..255].[1;2..3]*-2", "unserved.test"]"#;

/// A message to bob@b.test from `source`: the reply to RCPT when it is not 250, else to the
/// end of DATA.
fn send_from(stack: &Stack, source: Ipv4Addr, subject: &str) -> common::Reply {
    let mut c = Smtp::connect_from(source, stack.smtp);
    c.expect("EHLO client.test", 250);
    let r =
        c.message("a@client.test", &["bob@b.test"], &format!("Subject: {subject}\r\n\r\nbody\r\n")).unwrap();
    c.expect("QUIT", 221);
    r
}

fn blocked(n: u8, list: &str) -> String {
    format!("5.7.1 Service unavailable; client [127.0.0.{n}] blocked using {list}")
}

/// `mailroom_mta_NAME_total{LABEL="value"}`, as scraped.
fn sample(name: &str, label: &str, value: &str) -> String {
    format!("mailroom_mta_{name}_total{{{label}=\"{value}\"}}")
}

/// Check that each `(name, label, value)` sample grew by exactly `n` from `before` to now.
fn assert_deltas(
    stack: &Stack,
    before: &std::collections::BTreeMap<String, f64>,
    want: &[(&str, &str, &str, f64)],
) {
    let after = stack.scrape();
    for (name, label, value, n) in want {
        let s = sample(name, label, value);
        assert_eq!(delta(before, &after, &s), *n, "{s}\n{after:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dnsbl_weights_threshold_and_enforce() {
    let nsd = lists();
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(
        &db,
        Options::default()
            .mta("dns_servers", &format!("[\"{}\"]", nsd.addr()))
            .mta("dnsbl_sites", SITES)
            .mta("dnsbl_threshold", "2")
            .mta("mynetworks", "[\"127.0.0.8/32\"]")
            .mta("plaintext_auth_on_loopback", "true"),
    );
    let before = stack.scrape();

    // Listed by bl.test (2 = the threshold): every RCPT TO refused with Postfix's text.
    let mut c = Smtp::connect_from(client(2), stack.smtp);
    c.expect("EHLO client.test", 250);
    c.expect("MAIL FROM:<a@client.test>", 250);
    let r = c.expect("RCPT TO:<bob@b.test>", 550);
    assert_eq!(r.text, format!("550 {}", blocked(2, "bl.test")));
    c.expect("RCPT TO:<carol@b.test>", 550);
    c.expect("QUIT", 221);
    // bl.test (2) and bl2.test (1): 3, named after the list that weighs most.
    let r = send_from(&stack, client(3), "three");
    assert_eq!(r.text, format!("550 {}", blocked(3, "bl.test")), "{}", stack.mta.log());

    // Listed (2) and allowlisted (-2): 0. A reply outside the filter counts for nothing, so .5
    // scores 1 (bl2.test only), under the threshold. Nobody lists .1, and the refused zone
    // counts as not listing anyone.
    for (n, subject) in [(4, "dnswl-cancels"), (5, "under-threshold"), (1, "unlisted")] {
        let r = send_from(&stack, client(n), subject);
        assert_eq!(r.code, 250, "127.0.0.{n}: {}\n{}", r.text, stack.mta.log());
    }
    // A listed client that authenticates may send; one in mynetworks is not looked up.
    let mut c = Smtp::connect_from(client(2), stack.smtp);
    c.expect("EHLO client.test", 250);
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0bob@b.test\0{PASSWORD}"));
    c.expect(&format!("AUTH PLAIN {plain}"), 235);
    // Nothing awaits this client's verdict: let it come before the session ends, to count it.
    let verdicts = || stack.mta.log().matches("DNSBL rank 2 for [127.0.0.2]").count();
    assert!(wait_until(TIMEOUT, || verdicts() == 2), "{}", stack.mta.log());
    let r = c.message("bob@b.test", &["bob@b.test"], "Subject: authenticated\r\n\r\nbody\r\n").unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    c.expect("QUIT", 221);
    let r = send_from(&stack, client(8), "mynetworks");
    assert_eq!(r.code, 250, "{}", r.text);

    stack.wait_messages("bob", 5);
    stack.wait_queue_empty();
    let log = stack.mta.log();
    assert!(log.contains("DNSBL rank 2 for [127.0.0.2]"), "{log}");
    assert!(log.contains("DNSBL rank 3 for [127.0.0.3]"), "{log}");
    assert!(log.contains("DNSBL lookup error for 1.0.0.127.unserved.test."), "{log}");
    assert!(!log.contains("8.0.0.127.unserved.test"), "mynetworks are not looked up: {log}");
    // Six lookups (.2 twice, .3, .4, .5, .1), each with a refused zone.
    assert_deltas(
        &stack,
        &before,
        &[
            ("dnsbl_verdicts", "result", "listed", 3.0),
            ("dnsbl_verdicts", "result", "pass", 3.0),
            ("dnsbl_verdicts", "result", "allowlisted", 0.0),
            ("dnsbl_lookup_failures", "reason", "error", 6.0),
            ("dnsbl_lookup_failures", "reason", "timeout", 0.0),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dnsbl_drop_and_allowlist() {
    let nsd = lists();
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(
        &db,
        Options::default()
            .mta("dns_servers", &format!("[\"{}\"]", nsd.addr()))
            .mta("dnsbl_sites", SITES)
            .mta("dnsbl_threshold", "2")
            .mta("dnsbl_action", "\"drop\"")
            .mta("dnsbl_allowlist_threshold", "-2")
            .mta("greet_pause_ms", "10000"),
    );
    let before = stack.scrape();

    // drop: 521 in place of the greeting, and the connection is closed.
    let mut c = Smtp::connect_raw_from(client(2), stack.smtp).unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.text, format!("521 {}", blocked(2, "bl.test")));
    assert!(c.closed());

    // Allowlisted (-2): no greeting pause, so talking first is no fault.
    let mut c = Smtp::connect_raw_from(client(6), stack.smtp).unwrap();
    c.send(b"EHLO early.test\r\n").unwrap();
    assert_eq!(c.reply().unwrap().code, 220);
    assert_eq!(c.reply().unwrap().code, 250);
    c.expect("MAIL FROM:<a@client.test>", 250);
    c.expect("RCPT TO:<bob@b.test>", 250);
    c.expect("QUIT", 221);
    // Anyone else who talks first gets the pregreet refusal.
    let mut c = Smtp::connect_raw_from(client(1), stack.smtp).unwrap();
    c.send(b"EHLO early.test\r\n").unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.code, 554, "{}", r.text);
    assert!(c.closed());

    let log = stack.mta.log();
    assert!(log.contains("DNSBL allowlisted, rank -2 for [127.0.0.6]"), "{log}");
    assert_deltas(
        &stack,
        &before,
        &[
            ("dnsbl_verdicts", "result", "listed", 1.0),
            ("dnsbl_verdicts", "result", "allowlisted", 1.0),
            ("dnsbl_verdicts", "result", "pass", 1.0),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dnswl_allowlisted_clients_skip_greylisting() {
    let nsd = lists();
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(
        &db,
        Options::default()
            .mta("dns_servers", &format!("[\"{}\"]", nsd.addr()))
            .mta("dnsbl_sites", SITES)
            .mta("dnsbl_threshold", "2")
            .mta("dnsbl_allowlist_threshold", "-2")
            // Under ignore nothing else waits for the verdict: greylisting does.
            .mta("dnsbl_action", "\"ignore\"")
            .mta("greylist", "true")
            .mta("greylist_delay", "3600"),
    );
    let before = stack.scrape();

    // Allowlisted (-2): its first attempt is delivered, and the database never hears of it.
    let r = send_from(&stack, client(6), "vouched for");
    assert_eq!(r.code, 250, "{}\n{}", r.text, stack.mta.log());
    assert!(stack.wait_messages("bob", 1)[0].contains("Subject: vouched for"));
    let rows = sqlx::query("SELECT count(*) FROM mailroom_greylist").fetch_one(&db.pool).await.unwrap();
    assert_eq!(sqlx::Row::get::<i64, _>(&rows, 0), 0);
    // Listed and allowlisted (0), unlisted, and listed under ignore: greylisted.
    for n in [4, 1, 2] {
        let r = send_from(&stack, client(n), "greylisted");
        assert_eq!(r.code, 450, "127.0.0.{n}: {}", r.text);
        assert!(r.text.contains("Greylisted"), "{}", r.text);
    }
    let log = stack.mta.log();
    assert!(
        log.contains(
            "greylist: action=pass, reason=DNSWL, client=127.0.0.6, from=<a@client.test>, to=<bob@b.test>"
        ),
        "{log}"
    );
    assert_deltas(
        &stack,
        &before,
        &[
            ("greylist", "result", "allowlisted", 1.0),
            ("greylist", "result", "greylisted", 3.0),
            ("greylist", "result", "passed", 0.0),
            ("dnsbl_verdicts", "result", "allowlisted", 1.0),
            ("dnsbl_verdicts", "result", "listed", 1.0),
            ("dnsbl_verdicts", "result", "pass", 2.0),
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dnsbl_ignore_only_logs() {
    let nsd = lists();
    let db = database(Backend::Sqlite).await;
    let mut opts = Options::default()
        .mta("dns_servers", &format!("[\"{}\"]", nsd.addr()))
        .mta("dnsbl_sites", SITES)
        .mta("dnsbl_action", "\"ignore\"")
        .without_mda();
    opts.with_saslauthd = false;
    let stack = Stack::start(&db, opts);
    let mut c = Smtp::connect_from(client(3), stack.smtp);
    c.expect("EHLO client.test", 250);
    let r = c.message("a@client.test", &["bob@b.test"], "Subject: ignored\r\n\r\nbody\r\n").unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    assert_eq!(stack.queued(), 1);
    // Under ignore nothing waits for the lookup: its log line may come after the message, and
    // a client gone before the answers stops the lookup, so the session waits for it.
    let logged = wait_until(TIMEOUT, || stack.mta.log().contains("DNSBL rank 3 for [127.0.0.3]"));
    assert!(logged, "{}", stack.mta.log());
    c.expect("QUIT", 221);
    assert_deltas(&stack, &Default::default(), &[("dnsbl_verdicts", "result", "listed", 1.0)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn dnsbl_timeout_counts_as_not_listed() {
    // A name server that never answers, over UDP or TCP (the TCP connection is queued, never
    // read).
    let (udp, tcp) = std::iter::repeat_with(|| {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        TcpListener::bind(("127.0.0.1", port)).ok().map(|tcp| (udp, tcp))
    })
    .take(20)
    .flatten()
    .next()
    .expect("a port free for UDP and TCP");
    let db = database(Backend::Sqlite).await;
    let mut opts = Options::default()
        .mta("dns_servers", &format!("[\"{}\"]", udp.local_addr().unwrap()))
        .mta("dnsbl_sites", "[\"bl.test\"]")
        .mta("dnsbl_timeout", "1")
        .without_mda();
    opts.with_saslauthd = false;
    let stack = Stack::start(&db, opts);
    let r = send_from(&stack, client(2), "timeout");
    assert_eq!(r.code, 250, "{}", r.text);
    let log = stack.mta.log();
    assert!(log.contains("DNSBL lookup timeout (1s) for 2.0.0.127.bl.test."), "{log}");
    assert_deltas(
        &stack,
        &Default::default(),
        &[
            ("dnsbl_lookup_failures", "reason", "timeout", 1.0),
            ("dnsbl_lookup_failures", "reason", "error", 0.0),
            ("dnsbl_verdicts", "result", "pass", 1.0),
        ],
    );
    drop((udp, tcp));
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_answer_as_postfix_and_reset() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(
        &db,
        Options::default()
            .mta("smtpd_client_connection_rate_limit", "2")
            .mta("smtpd_client_message_rate_limit", "2")
            .mta("smtpd_client_recipient_rate_limit", "3")
            .mta("anvil_rate_time_unit", "10")
            .mta("smtpd_client_event_limit_exceptions", "[\"127.0.0.10\"]"),
    );
    let before = stack.scrape();

    // Connections: the third in the window gets 421 and is closed; the submission port
    // counts on its own; the exception is never counted.
    for _ in 0..2 {
        Smtp::connect_from(client(7), stack.smtp).expect("QUIT", 221);
    }
    let mut c = Smtp::connect_raw_from(client(7), stack.smtp).unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.text, "421 4.7.0 mx.b.test Error: too many connections from 127.0.0.7");
    assert!(c.closed());
    Smtp::connect_from(client(7), stack.submission).expect("QUIT", 221);
    for _ in 0..5 {
        Smtp::connect_from(client(10), stack.smtp).expect("QUIT", 221);
    }

    // Messages: the third MAIL FROM in the window gets 450 4.7.1.
    let mut c = Smtp::connect_from(client(8), stack.smtp);
    c.expect("EHLO client.test", 250);
    for _ in 0..2 {
        c.expect("MAIL FROM:<a@client.test>", 250);
        c.expect("RSET", 250);
    }
    let r = c.expect("MAIL FROM:<a@client.test>", 450);
    assert_eq!(r.text, "450 4.7.1 Error: too much mail from 127.0.0.8");
    c.expect("QUIT", 221);

    // Recipients: the fourth RCPT TO gets 450 4.7.1; the three accepted are delivered.
    let mut c = Smtp::connect_from(client(9), stack.smtp);
    c.expect("EHLO client.test", 250);
    let to = ["bob@b.test", "carol@b.test", "info@b.test"];
    c.expect("MAIL FROM:<a@client.test>", 250);
    for t in to {
        c.expect(&format!("RCPT TO:<{t}>"), 250);
    }
    let r = c.expect("RCPT TO:<full@b.test>", 450);
    assert_eq!(r.text, "450 4.7.1 Error: too many recipients from 127.0.0.9");
    c.expect("DATA", 354);
    c.send(b"Subject: three\r\n\r\nbody\r\n.\r\n").unwrap();
    assert_eq!(c.reply().unwrap().code, 250);
    c.expect("QUIT", 221);
    stack.wait_messages("carol", 1);
    // Before the retries below, which may be refused a few times more.
    assert_deltas(
        &stack,
        &before,
        &[
            ("rate_limited", "limit", "connection", 1.0),
            ("rate_limited", "limit", "message", 1.0),
            ("rate_limited", "limit", "recipient", 1.0),
            ("rate_limited", "limit", "concurrency", 0.0),
        ],
    );

    // Once the time unit has passed, the counts start again.
    let greeted = |n: u8| {
        Smtp::connect_raw_from(client(n), stack.smtp).and_then(|mut c| c.reply()).is_ok_and(|r| r.code == 220)
    };
    assert!(wait_until(TIMEOUT, || greeted(7)), "{}", stack.mta.log());
    let mail_ok = || {
        let Ok(mut c) = Smtp::connect_raw_from(client(8), stack.smtp) else { return false };
        matches!(c.reply(), Ok(r) if r.code == 220)
            && c.cmd("EHLO client.test").is_ok_and(|r| r.code == 250)
            && c.cmd("MAIL FROM:<a@client.test>").is_ok_and(|r| r.code == 250)
    };
    assert!(wait_until(TIMEOUT, mail_ok), "{}", stack.mta.log());
    let log = stack.mta.log();
    assert!(log.contains("Too frequent connections: 3 from [127.0.0.7] for service smtp"), "{log}");
}
