//! opendkim (Debian) as a cross-check of our DKIM verification: a private opendkim verifies
//! behind mailroom-mta as a milter (`Mode v`, no keys of its own), both resolve through one
//! NSD on loopback that publishes pass.test's key, and each writes an `Authentication-Results:`
//! under its own authserv-id into the delivered message. For a message signed right, one whose
//! body or a signed header changed on the way, and one signed with a selector that has no key,
//! both name the same signature (`header.s`, `header.b`) and give the same verdict.
//!
//! Where RFC 8601 leaves a choice the two words differ, and both are pinned here: a signature
//! whose key is not in the DNS is RFC 6376's PERMFAIL ("no key for signature", §6.1.2), which
//! opendkim writes `dkim=fail` and we, with mail-auth, `dkim=permerror` ("could not be verified
//! due to some error that is unrecoverable", RFC 8601 §2.7.1). Neither is a pass and neither
//! asks for a retry, so DMARC and Sieve rules that test for `pass` treat them alike.

mod common;
mod milter_support;

use std::path::Path;
use std::process::Command;

use common::{Options, Smtp, Stack, TIMEOUT, database, output_within, text};
use milter_support::Opendkim;
use testsupport::Backend;
use testsupport::nsd::Nsd;

/// Our authserv-id (the MTA's host name) and opendkim's.
const OURS: &str = "mx.b.test";
const OPENDKIM: &str = "opendkim.b.test";

/// A key for pass.test from `mailroomctl dkim keygen`: the key file and its TXT record's text.
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

/// The zone `test.`: SPF for pass.test (the client is 127.0.0.1) and its DKIM key under
/// selector s1; no DMARC record, so no verdict here refuses a message.
fn zone(txt: &str) -> String {
    // A zone file's strings hold at most 255 bytes each.
    let strings: Vec<String> =
        txt.as_bytes().chunks(255).map(|c| format!("\"{}\"", String::from_utf8_lossy(c))).collect();
    format!(
        "pass.test. IN TXT \"v=spf1 ip4:127.0.0.1 -all\"\n\
         s1._domainkey.pass.test. IN TXT ( {} )\n",
        strings.join(" ")
    )
}

/// dkimpy (Debian python3-dkim) signs `msg` for pass.test under `selector`; the signature goes
/// on top.
fn sign(key: &str, selector: &str, msg: &str) -> String {
    let script = "import sys, dkim\n\
                  key, selector = sys.argv[1:3]\n\
                  msg = sys.stdin.buffer.read()\n\
                  hs = [b'from', b'to', b'subject', b'date', b'message-id']\n\
                  sig = dkim.sign(msg, selector.encode(), b'pass.test', open(key, 'rb').read(), include_headers=hs)\n\
                  sys.stdout.buffer.write(sig + msg)\n";
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", script, key, selector]);
    let out = output_within(&mut cmd, msg.as_bytes(), TIMEOUT);
    assert!(out.status.success(), "dkimpy: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// A message from a@pass.test to bob@b.test with `subject`, CRLF lines.
fn message(subject: &str) -> String {
    format!(
        "From: <a@pass.test>\r\nTo: <bob@b.test>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@pass.test>\r\n\
         Date: Mon, 7 Dec 2026 12:00:00 +0000\r\n\r\nbody of {subject}\r\n"
    )
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
                out.last_mut().unwrap().push(' ');
                out.last_mut().unwrap().push_str(l.trim());
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

/// One verifier's word on the message's one signature.
#[derive(Debug, PartialEq, Eq)]
struct Dkim {
    /// `pass`, `fail`, `permerror`, ...
    result: String,
    /// `header.s`: the selector.
    selector: String,
    /// `header.b`: the signature's first eight base64 characters (RFC 6008).
    b: String,
}

/// The `dkim=` result that `authserv_id` wrote into `msg` (exactly one header of its own, with
/// exactly one `dkim=` result).
fn dkim_result(msg: &str, authserv_id: &str) -> Dkim {
    let mine: Vec<String> = all_headers(msg, "Authentication-Results")
        .into_iter()
        .filter(|v| v.split(';').next().is_some_and(|id| id.trim().eq_ignore_ascii_case(authserv_id)))
        .collect();
    assert_eq!(mine.len(), 1, "one Authentication-Results of {authserv_id}:\n{msg}");
    // opendkim's comments hold semicolons: "dkim=pass (2048-bit key; unprotected) header.d=...".
    let results = without_comments(&mine[0]);
    let dkim: Vec<&str> = results.split(';').map(str::trim).filter(|r| r.starts_with("dkim=")).collect();
    assert_eq!(dkim.len(), 1, "one dkim= result of {authserv_id}: {}", mine[0]);
    let words: Vec<&str> = dkim[0].split_whitespace().collect();
    let property = |name: &str| {
        words
            .iter()
            .find_map(|w| w.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {}", dkim[0]))
            .to_string()
    };
    Dkim {
        result: words[0]["dkim=".len()..].to_string(),
        selector: property("header.s="),
        b: property("header.b="),
    }
}

/// `value` without its comments (RFC 5322 CFWS; quoted strings kept as they are).
fn without_comments(value: &str) -> String {
    let (mut out, mut depth, mut quoted, mut escaped) = (String::new(), 0usize, false, false);
    for ch in value.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            out.push(ch);
        }
    }
    out
}

/// RFC 6376's outcome (§3.9) of an RFC 8601 `dkim=` result: what both verifiers must share.
fn outcome(result: &str) -> &'static str {
    match result {
        "pass" => "SUCCESS",
        "fail" | "permerror" | "neutral" | "policy" => "PERMFAIL",
        "temperror" => "TEMPFAIL",
        other => panic!("not a DKIM result for a signed message: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn opendkim_agrees_with_our_dkim_verdicts() {
    let keys = tempfile::tempdir().unwrap();
    let (key, txt) = dkim_key(keys.path());
    let mut nsd = Nsd::new();
    nsd.zone("test.", &zone(&txt), None);
    nsd.start();
    let opendkim = Opendkim::start(OPENDKIM, "test.", &nsd.addr());
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(
        &db,
        Options::default()
            .mta("sender_auth", "true")
            .mta("authserv_id", &format!("\"{OURS}\""))
            .mta("dns_servers", &format!("[\"{}\"]", nsd.addr()))
            .mta("smtpd_milters", &format!("[\"{}\"]", opendkim.endpoint())),
    );

    let signed = |subject: &str, selector: &str| sign(&key, selector, &message(subject));
    let cases = [
        ("signed", signed("signed", "s1"), "pass", "pass"),
        (
            "body",
            signed("body", "s1").replace("body of body", "body of body, changed on the way"),
            "fail",
            "fail",
        ),
        (
            "header",
            signed("header", "s1").replace("Subject: header", "Subject: header changed"),
            "fail",
            "fail",
        ),
        ("selector", signed("selector", "s9"), "permerror", "fail"),
    ];
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.test", 250);
    for (n, (case, msg, ours_want, opendkim_want)) in cases.iter().enumerate() {
        let r = c.message("a@pass.test", &["bob@b.test"], msg).unwrap();
        assert_eq!(r.code, 250, "{case}: {}\n{}", r.text, stack.logs());
        let got = stack.wait_messages("bob", n + 1);
        // The delivered copy of this case: its Message-ID is the case's name.
        let id = format!("Message-ID: <{case}@pass.test>");
        let delivered = got.iter().find(|m| m.contains(&id)).unwrap_or_else(|| panic!("{case}: no {id}"));
        let ours = dkim_result(delivered, OURS);
        let theirs = dkim_result(delivered, OPENDKIM);
        // The same signature judged.
        assert_eq!((&ours.selector, &ours.b), (&theirs.selector, &theirs.b), "{case}:\n{delivered}");
        assert_eq!(
            outcome(&ours.result),
            outcome(&theirs.result),
            "{case}: {ours:?} {theirs:?}\n{delivered}"
        );
        assert_eq!((ours.result.as_str(), theirs.result.as_str()), (*ours_want, *opendkim_want), "{case}");
    }
    c.expect("QUIT", 221);
}
