//! Every daemon's metrics endpoint on `mailroomctl up` (each scrape parsed by Python's
//! prometheus_client, Debian's python3-prometheus-client, whose OpenMetrics parser refuses
//! malformed output) moves by exactly the traffic sent: testsaslauthd, swaks, imaplib, poplib.
//! `mailroomctl report` on the same run's log counts the same traffic. The Grafana dashboard
//! and the alert rules in contrib/ name only metrics the daemons export, and promtool accepts
//! their queries and passes the rules' unit tests.

use std::collections::BTreeMap;
use std::time::Duration;

use std::collections::BTreeSet;
use std::path::Path;

use mailroom_e2e::{Up, exclusive, run, submit, swaks, text};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// Each daemon's endpoint as `up` configures it.
const SASLAUTHD: u16 = 2981;
const MTA: u16 = 2982;
const MDA: u16 = 2983;
const MRA: u16 = 2984;

/// Fetch `/metrics` and parse it strictly; print each sample as `name{k="v",...} value`, labels
/// sorted, and fail when the content type is not OpenMetrics' or a label holds an address.
const SCRAPE: &str = r##"
import sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=30) as r:
    ctype = r.headers["Content-Type"]
    body = r.read().decode()
if not ctype.startswith("application/openmetrics-text"):
    sys.exit("content type %r" % ctype)
for family in text_string_to_metric_families(body):
    if not family.name.startswith("mailroom_"):
        sys.exit("unprefixed family %s" % family.name)
    print("#family %s" % family.name)
    for s in family.samples:
        if any("@" in v for v in s.labels.values()):
            sys.exit("an address in a label: %s %r" % (s.name, s.labels))
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %s" % (s.name, labels, s.value))
"##;

/// One scrape of the daemon on `port`: sample → value.
fn scrape(port: u16) -> BTreeMap<String, f64> {
    // Debian's interpreter, where python3-prometheus-client is installed.
    let out = run("/usr/bin/python3", &["-c", SCRAPE, &port.to_string()]);
    assert!(out.status.success(), "scraping :{port}: {}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            // `#family NAME`: a family, present even before it has samples.
            if l.starts_with("#family ") {
                return (l.to_string(), 0.0);
            }
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

/// How much `sample` grew between two scrapes (absent counts as 0).
fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, sample: &str) -> f64 {
    after.get(sample).copied().unwrap_or(0.0) - before.get(sample).copied().unwrap_or(0.0)
}

/// Poll the daemon on `port` until `sample` reaches `value` (deliveries finish after the 250).
fn wait_for(port: u16, sample: &str, value: f64) -> BTreeMap<String, f64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = scrape(port);
        if now.get(sample).copied().unwrap_or(0.0) >= value || std::time::Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn counters_move_with_exactly_the_traffic_sent() {
    let _one = exclusive();
    let up = Up::start();
    let out = up.output();
    for port in [SASLAUTHD, MTA, MDA, MRA] {
        assert!(out.contains(&format!("http://127.0.0.1:{port}/metrics")), "banner: {out}");
    }
    let (alice, bob) = (up.password(ALICE), up.password(BOB));
    let dir = up.config().parent().unwrap().to_path_buf();
    let mux = dir.join("run/saslauthd/mux").display().to_string();
    let before = [SASLAUTHD, MTA, MDA, MRA].map(scrape);

    // saslauthd: one right and one wrong password over its cyrus socket.
    let ok = run("testsaslauthd", &["-u", ALICE, "-p", &alice, "-s", "smtp", "-f", &mux]);
    assert!(text(&ok).contains("0: OK"), "{}", text(&ok));
    let no = run("testsaslauthd", &["-u", ALICE, "-p", "wrong", "-s", "smtp", "-f", &mux]);
    assert!(text(&no).contains("0: NO"), "{}", text(&no));
    // The MTA: one message queued and delivered, one unknown recipient refused.
    let sent = submit(ALICE, &alice, BOB, "metrics", "counted");
    assert!(sent.status.success(), "{}", text(&sent));
    let refused = swaks("PLAIN", ALICE, &alice, &["--from", ALICE, "--to", "nobody@example.test"]);
    assert!(text(&refused).contains("550 5.1.1"), "{}", text(&refused));
    // The MRA: an IMAPS login and a POP3 login over STLS, and a failed IMAPS login.
    let cert = up.cert().display().to_string();
    let logins = r#"
import imaplib, poplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
imap = imaplib.IMAP4_SSL("127.0.0.1", 2993, ssl_context=ctx)
imap.login(sys.argv[2], sys.argv[3]); imap.logout()
pop = poplib.POP3("127.0.0.1", 2110); pop.stls(context=ctx)
pop.user(sys.argv[2]); pop.pass_(sys.argv[3]); pop.quit()
imap = imaplib.IMAP4_SSL("127.0.0.1", 2993, ssl_context=ctx)
try:
    imap.login(sys.argv[2], "wrong"); sys.exit("a wrong password was accepted")
except imaplib.IMAP4.error:
    pass
imap.logout()
"#;
    let py = run("python3", &["-c", logins, &cert, BOB, &bob]);
    assert!(py.status.success(), "{}", text(&py));

    let mda = wait_for(MDA, "mailroom_mda_deliveries_total{outcome=\"delivered\"}", 1.0);
    let after = [SASLAUTHD, MTA, MDA, MRA].map(scrape);
    let [s0, t0, d0, r0] = &before;
    let [s1, t1, _, r1] = &after;
    let expect =
        |what: &str, b: &BTreeMap<String, f64>, a: &BTreeMap<String, f64>, sample: &str, want: f64| {
            assert_eq!(delta(b, a, sample), want, "{what} {sample}\nbefore: {b:#?}\nafter: {a:#?}");
        };
    // Logins: testsaslauthd's, swaks's two AUTHs, IMAP and POP3: five right, two wrong.
    expect(
        "saslauthd",
        s0,
        s1,
        "mailroom_saslauthd_authentications_total{protocol=\"cyrus\",result=\"ok\"}",
        5.0,
    );
    expect(
        "saslauthd",
        s0,
        s1,
        "mailroom_saslauthd_authentications_total{protocol=\"cyrus\",result=\"failed\"}",
        2.0,
    );
    expect(
        "saslauthd",
        s0,
        s1,
        "mailroom_saslauthd_connections_accepted_total{listener=\"cyrus saslauthd protocol\"}",
        7.0,
    );
    expect("mta", t0, t1, "mailroom_mta_smtp_replies_total{class=\"2xx\",command=\"auth\"}", 2.0);
    expect("mta", t0, t1, "mailroom_mta_smtp_replies_total{class=\"2xx\",command=\"mail\"}", 2.0);
    expect("mta", t0, t1, "mailroom_mta_smtp_replies_total{class=\"2xx\",command=\"rcpt\"}", 1.0);
    expect("mta", t0, t1, "mailroom_mta_smtp_replies_total{class=\"5xx\",command=\"rcpt\"}", 1.0);
    expect("mta", t0, t1, "mailroom_mta_smtp_replies_total{class=\"2xx\",command=\"data\"}", 1.0);
    expect("mta", t0, t1, "mailroom_mta_messages_queued_total{role=\"submission\"}", 1.0);
    expect("mta", t0, t1, "mailroom_mta_connections_accepted_total{listener=\"SMTP submission\"}", 2.0);
    expect("mda", d0, &mda, "mailroom_mda_deliveries_total{outcome=\"delivered\"}", 1.0);
    expect("mda", d0, &mda, "mailroom_mda_maildir_write_seconds_count{}", 1.0);
    expect("mra", r0, r1, "mailroom_mra_connections_accepted_total{listener=\"IMAP over TLS\"}", 2.0);
    expect("mra", r0, r1, "mailroom_mra_connections_accepted_total{listener=\"POP3\"}", 1.0);
    expect("mra", r0, r1, "mailroom_mra_logins_total{protocol=\"imap\",result=\"ok\"}", 1.0);
    expect("mra", r0, r1, "mailroom_mra_logins_total{protocol=\"imap\",result=\"failed\"}", 1.0);
    expect("mra", r0, r1, "mailroom_mra_logins_total{protocol=\"pop3\",result=\"ok\"}", 1.0);
    expect("mra", r0, r1, "mailroom_mra_command_seconds_count{command=\"LOGIN\",protocol=\"imap\"}", 2.0);
    expect("mra", r0, r1, "mailroom_mra_command_seconds_count{command=\"LOGOUT\",protocol=\"imap\"}", 2.0);
    expect("mra", r0, r1, "mailroom_mra_command_seconds_count{command=\"PASS\",protocol=\"pop3\"}", 1.0);
    expect("mra", r0, r1, "mailroom_mra_command_seconds_count{command=\"STLS\",protocol=\"pop3\"}", 1.0);
    // Every connection has ended: none counted open.
    for (name, value) in r1.iter().chain(t1.iter()) {
        if name.contains("_connections{") {
            assert_eq!(*value, 0.0, "{name} still open");
        }
    }
    // The directory lookups of the MTA's recipient checks were timed.
    assert!(delta(t0, t1, "mailroom_mta_directory_query_seconds_count{}") >= 2.0, "{t1:#?}");
    // TLS: swaks's two STARTTLS, the two IMAPS connections and POP3's STLS.
    expect("mta", t0, t1, "mailroom_mta_tls_handshakes_total{result=\"ok\"}", 2.0);
    expect("mra", r0, r1, "mailroom_mra_tls_handshakes_total{result=\"ok\"}", 3.0);
    // The delivery: one LMTP attempt, sent, timed from acceptance; the queue is empty again.
    let t2 = wait_for(MTA, "mailroom_mta_deliveries_total{status=\"sent\",transport=\"lmtp\"}", 1.0);
    expect("mta", t0, &t2, "mailroom_mta_deliveries_total{status=\"sent\",transport=\"lmtp\"}", 1.0);
    expect("mta", t0, &t2, "mailroom_mta_delivery_seconds_count{}", 1.0);
    let t2 = wait_for_zero(MTA, "mailroom_mta_queue_messages{}");
    assert_eq!(t2.get("mailroom_mta_queue_oldest_age_seconds{}"), Some(&0.0), "{t2:#?}");

    // Every metric the dashboard and the alert rules name is exported by some daemon.
    let families: BTreeSet<String> = after
        .iter()
        .flat_map(|m| m.keys())
        .filter_map(|k| k.strip_prefix("#family ").map(str::to_string))
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for file in ["contrib/grafana/mailroom.json", "contrib/prometheus/mailroom.rules.yml"] {
        let body = std::fs::read_to_string(root.join(file)).unwrap();
        for name in metric_names(&body) {
            let family = ["_bucket", "_count", "_sum", "_total"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(families.contains(family), "{file} names {name}, which no daemon exports: {families:#?}");
        }
    }

    // `mailroomctl report` on this run's log: the message, its delivery, the refusal, the
    // failed logins (IMAP's and swaks's none: only the wrong IMAP password) by address.
    let report = up.ctl(&["report", "--json", up.log.to_str().unwrap()], "");
    assert!(report.status.success(), "{}", text(&report));
    let r: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let want = serde_json::json!({
        "received": 1, "delivered": 1, "deferred": 0, "bounced": 0, "rejected": 1, "failed_logins": 1,
        "top_senders": [[ALICE, 1]],
        "top_recipients": [[BOB, 1]],
        "reject_reasons": [["550 5.1.1 <...>: Recipient address rejected: User unknown", 1]],
        "failed_logins_by_client": [["127.0.0.1", 1]],
    });
    for (key, value) in want.as_object().unwrap() {
        assert_eq!(&r[key], value, "report's {key}: {r:#}");
    }
    // One hour (or two, across an hour's turn) holds the message and its delivery.
    let hours = r["per_hour"].as_object().unwrap();
    let sum = |k: &str| hours.values().map(|h| h[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("received"), sum("delivered")), (1, 1), "{r:#}");
}

/// Poll until `sample` is 0 (the queue empties after the delivery's state is recorded).
fn wait_for_zero(port: u16, sample: &str) -> BTreeMap<String, f64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = scrape(port);
        if now.get(sample) == Some(&0.0) || std::time::Instant::now() > deadline {
            assert_eq!(now.get(sample), Some(&0.0), "{now:#?}");
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `mailroom_...` names in a dashboard or rule file.
fn metric_names(body: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = body;
    while let Some(at) = rest.find("mailroom_") {
        let name: String =
            rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        // The metric name, not a label value or prose ("mailroom_..." in a description).
        if name.matches('_').count() >= 2 {
            names.insert(name.clone());
        }
        rest = &rest[at + name.len()..];
    }
    names
}

/// promtool (Debian's `prometheus`) runs the alert rules' unit tests and parses every query of
/// the dashboard, as a recording rule of a scratch rule file.
#[test]
fn promtool_accepts_the_rules_and_the_dashboards_queries() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let prom = root.join("contrib/prometheus");
    let tested = run("promtool", &["test", "rules", prom.join("mailroom.rules.test.yml").to_str().unwrap()]);
    assert!(tested.status.success() && text(&tested).contains("SUCCESS"), "{}", text(&tested));

    let dashboard = std::fs::read_to_string(root.join("contrib/grafana/mailroom.json")).unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut n = 0;
    for line in dashboard.lines() {
        let Some(expr) = line.trim().strip_prefix("\"expr\": ") else { continue };
        // Grafana's variables as Prometheus would see them once substituted.
        let expr = expr.trim_end_matches(',').replace("$__rate_interval", "5m").replace("$instance", ".*");
        rules.push_str(&format!("      - record: dashboard:query{n}\n        expr: {expr}\n"));
        n += 1;
    }
    assert!(n >= 14, "{n} queries in the dashboard");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.rules.yml");
    std::fs::write(&file, &rules).unwrap();
    let checked = run("promtool", &["check", "rules", file.to_str().unwrap()]);
    assert!(
        checked.status.success() && text(&checked).contains(&format!("SUCCESS: {n} rules found")),
        "{}\n{rules}",
        text(&checked)
    );
}
