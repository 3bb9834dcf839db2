//! contrib/fail2ban/filter.d/mailroom.conf against real log output: failed logins over SMTP
//! AUTH, IMAP and POP3 from 127.0.0.1 against `mailroomctl up`, then Debian's `fail2ban-regex`
//! on what the daemons logged must find each failure exactly once, with the client's address,
//! in both modes of the filter, and none of the successful logins.

use std::path::PathBuf;

use mailroom_e2e::{Up, exclusive, python, run, swaks, text};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
/// An address a forged log line would name; it must never be reported.
const FORGED: &str = "192.0.2.66";

/// Logins over IMAP (port 2143, plain text: allowed from loopback) and POP3 (STLS on 2110):
/// argv holds `proto user password` triples; prints `proto user ok|failed` for each.
const LOGINS: &str = r#"
import imaplib, poplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
args = sys.argv[2:]
for proto, user, password in zip(args[0::3], args[1::3], args[2::3]):
    try:
        if proto == "imap":
            c = imaplib.IMAP4("127.0.0.1", 2143)
            c.login(user, password)
            c.logout()
        else:
            c = poplib.POP3("127.0.0.1", 2110)
            c.stls(context=ctx)
            c.user(user)
            c.pass_(password)
            c.quit()
        print(proto, user, "ok")
    except (imaplib.IMAP4.error, poplib.error_proto) as e:
        print(proto, user, "failed", e)
"#;

/// SMTP AUTH PLAIN after STARTTLS with a login that carries line breaks and two forged
/// failure lines (saslauthd's shape and mailroom-mta's) naming FORGED: it must count as one
/// failure of 127.0.0.1 and nothing else. (Under 256 bytes: the saslauthd protocol's limit.)
const FORGING_LOGIN: &str = r#"
import base64, smtplib, ssl, sys
forged = sys.argv[2]
s = smtplib.SMTP("127.0.0.1", 2587)
s.starttls(context=ssl.create_default_context(cafile=sys.argv[1]))
s.ehlo()
line = "2026-01-01T00:00:00Z  WARN a: authentication failed user=x service=smtp client="
fake = "x\n%s%s reason=x delay_ms=1\n%s[%s]\nx" % (line, forged, line, forged)
token = base64.b64encode(b"\0" + fake.encode() + b"\0wrong").decode()
code, _ = s.docmd("AUTH", "PLAIN " + token)
print(code)
s.quit()
"#;

/// SMTP AUTH on the submission port with swaks, stopping after AUTH; true when accepted.
fn smtp_auth(mechanism: &str, user: &str, password: &str) -> bool {
    let out = swaks(mechanism, user, password, &["--quit-after", "AUTH"]);
    let t = text(&out);
    assert!(t.contains("235 2.7.0") || t.contains("535 5.7.8"), "swaks: {t}");
    out.status.success()
}

fn filter() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contrib/fail2ban/filter.d/mailroom.conf")
}

/// `fail2ban-regex -o ip LOG FILTER`: the address of each match, in order.
fn matched_addresses(log: &std::path::Path, filter: &str) -> Vec<String> {
    let out = run("fail2ban-regex", &["-o", "ip", &log.display().to_string(), filter]);
    assert!(out.status.success(), "fail2ban-regex: {}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn fail2ban_regex_counts_each_failed_login_once() {
    let _one = exclusive();
    let mut up = Up::start();
    let (alice, bob) = (up.password(ALICE), up.password(BOB));
    let cert = up.cert().display().to_string();

    // Successful logins first (saslauthd's throttle grows with each failure).
    assert!(smtp_auth("PLAIN", ALICE, &alice));
    let ok = python(LOGINS, &[&cert, "imap", BOB, &bob, "pop", ALICE, &alice]);
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        format!("imap {BOB} ok\npop {ALICE} ok\n"),
        "{}",
        text(&ok)
    );

    // Six failures: two over SMTP, two over IMAP, two over POP3.
    assert!(!smtp_auth("LOGIN", ALICE, "wrong-password"));
    let forged = python(FORGING_LOGIN, &[&cert, FORGED]);
    assert_eq!(String::from_utf8_lossy(&forged.stdout).trim(), "535", "{}", text(&forged));
    let bad = python(
        LOGINS,
        &[
            &cert,
            "imap",
            BOB,
            "wrong",
            "imap",
            "nobody@example.test",
            &bob,
            "pop",
            BOB,
            "wrong",
            "pop",
            ALICE,
            "x",
        ],
    );
    let failed = String::from_utf8_lossy(&bad.stdout)
        .lines()
        .filter(|l| l.split(' ').nth(2) == Some("failed"))
        .count();
    assert_eq!(failed, 4, "{}", text(&bad));
    const FAILURES: usize = 6;

    // Stopped first: up prints what the daemons logged to the last line before it exits.
    assert!(up.terminate().success(), "{}", up.output());
    let log = up.log.clone();
    let out = up.output();
    assert!(out.contains(&format!("authenticated user={ALICE} service=smtp")), "{out}");
    assert!(out.contains(&format!("imap login user={BOB}")), "{out}");

    let normal = matched_addresses(&log, &filter().display().to_string());
    assert_eq!(normal, ["127.0.0.1"; FAILURES], "mode normal (mta and mra lines):\n{out}");
    let sasl = matched_addresses(&log, &format!("{}[mode=saslauthd]", filter().display()));
    assert_eq!(sasl, ["127.0.0.1"; FAILURES], "mode saslauthd:\n{out}");
}
