//! What the Pigeonhole corpus cannot compare: extensions sieve-test lacks or prints nothing
//! for (ereject, the duplicate store, edited headers, vacation's answering rules), the null
//! sender, and the hard limits.

use mail_parser::MessageParser;
use sieve::editheader::Headers;
use sieve::spamtest::{StatusType, TestConfig};
use sieve::vacation::{NoReply, should_reply};
use sieve::{Action, Envelope, Host, Limits, NoHost, Outcome, Settings, compile, run};

const MESSAGE: &str = "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: Hello\r\n\
    Message-ID: <m1@example.com>\r\nX-Spam-Level: ****\r\n\r\nHi Bob\r\n";

fn envelope() -> Envelope {
    Envelope { from: "alice@example.com".into(), to: "bob@example.net".into(), orig_to: None }
}

fn outcome_with(src: &str, env: &Envelope, settings: &Settings, host: &mut dyn Host) -> Outcome {
    let script = compile(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let msg = MessageParser::default().parse(MESSAGE.as_bytes()).unwrap();
    run(&script, &msg, env, settings, host)
}

fn outcome(src: &str) -> Outcome {
    outcome_with(src, &envelope(), &Settings::default(), &mut NoHost)
}

#[test]
fn ereject_is_a_protocol_refusal() {
    let o = outcome("require \"ereject\"; ereject \"no thanks\";");
    assert_eq!(o.actions, vec![Action::Reject { reason: "no thanks".into(), extended: true }]);
    assert_eq!(o.implicit_keep, None);
    let o = outcome("require [\"ereject\", \"fileinto\"]; fileinto \"x\"; ereject \"no\";");
    assert!(o.error.unwrap().message.contains("conflicts"));
    assert_eq!(o.implicit_keep, Some(vec![]));
    assert!(o.actions.is_empty(), "a failed run keeps only");
}

#[test]
fn null_sender_is_seen_only_by_all() {
    let null = Envelope { from: String::new(), ..envelope() };
    let src = "require \"envelope\"; if envelope :all :is \"from\" \"\" { discard; }";
    assert_eq!(outcome_with(src, &null, &Settings::default(), &mut NoHost).actions, vec![Action::Discard]);
    let src = "require \"envelope\"; if envelope :domain :contains \"from\" \"\" { discard; }";
    assert!(outcome_with(src, &null, &Settings::default(), &mut NoHost).actions.is_empty());
}

struct Seen(Vec<String>);

impl Host for Seen {
    fn duplicate(&mut self, id: &str, _seconds: u64) -> bool {
        self.0.iter().any(|s| s == id)
    }
    fn mailbox_exists(&mut self, name: &str) -> bool {
        name == "Work"
    }
    fn include(&mut self, _global: bool, name: &str) -> Option<String> {
        match name {
            "loop" => Some("require \"include\"; include \"loop\";".into()),
            "bad" => Some("frobnicate;".into()),
            _ => None,
        }
    }
    fn environment(&mut self, name: &str) -> Option<String> {
        (name == "phase").then(|| "during".into())
    }
}

#[test]
fn duplicate_asks_the_host_and_tracks_on_success() {
    let src = "require \"duplicate\"; if duplicate { discard; }";
    let mut host = Seen(vec![]);
    let first = outcome_with(src, &envelope(), &Settings::default(), &mut host);
    let Some(Action::Duplicate { id, seconds, last: false, handle: None }) = first.actions.first().cloned()
    else {
        panic!("{first:?}")
    };
    assert_eq!(seconds, 14 * 86_400);
    assert!(id.ends_with("<m1@example.com>"));
    assert_eq!(first.implicit_keep, Some(vec![]));
    let mut host = Seen(vec![id]);
    let again = outcome_with(src, &envelope(), &Settings::default(), &mut host);
    assert!(again.actions.contains(&Action::Discard));
    assert_eq!(again.implicit_keep, None);
}

#[test]
fn mailbox_environment_and_includes_go_through_the_host() {
    let mut host = Seen(vec![]);
    let s = Settings::default();
    let src = "require [\"mailbox\", \"environment\"]; if allof (mailboxexists \"Work\", environment \"phase\" \"during\") { discard; }";
    assert_eq!(outcome_with(src, &envelope(), &s, &mut host).actions, vec![Action::Discard]);
    let o = outcome_with("require \"include\"; include \"loop\";", &envelope(), &s, &mut host);
    assert!(o.error.unwrap().message.contains("include nesting"));
    let o = outcome_with("require \"include\"; include \"missing\";", &envelope(), &s, &mut host);
    assert!(o.error.unwrap().message.contains("does not exist"));
    let o = outcome_with("require \"include\"; include \"bad\";", &envelope(), &s, &mut host);
    assert!(o.error.unwrap().message.contains("unknown command"));
}

#[test]
fn edited_header_is_returned() {
    let o = outcome(
        "require \"editheader\"; addheader \"X-Filed\" \"yes\"; deleteheader \"x-spam-level\"; deleteheader \"received\";",
    );
    let h = o.edited_header.expect("changed");
    assert_eq!(h[0], ("X-Filed".to_string(), " yes".to_string()));
    assert!(!h.iter().any(|(n, _)| n.eq_ignore_ascii_case("x-spam-level")));
    assert!(outcome("keep;").edited_header.is_none());
}

#[test]
fn encoded_characters_only_when_required() {
    let o = outcome("require [\"encoded-character\", \"fileinto\"]; fileinto \"${unicode:263A}\";");
    assert!(matches!(&o.actions[0], Action::Store { mailbox, .. } if mailbox == "\u{263a}"));
    let o = outcome("require \"fileinto\"; fileinto \"${unicode:263A}\";");
    assert!(matches!(&o.actions[0], Action::Store { mailbox, .. } if mailbox == "${unicode:263A}"));
}

#[test]
fn spamtest_strlen_and_text() {
    let strlen = TestConfig {
        status_type: StatusType::Strlen,
        status_header: "X-Spam-Level".into(),
        status_regex: None,
        max_header: None,
        max_value: 5.0,
    };
    let s = Settings { spamtest: Some(strlen), ..Settings::default() };
    // Four stars of five: 1 + 0.8 * 9 = 8.
    let src = "require \"spamtest\"; if spamtest :is \"8\" { discard; }";
    assert_eq!(outcome_with(src, &envelope(), &s, &mut NoHost).actions, vec![Action::Discard]);
    let text = TestConfig {
        status_type: StatusType::Text(vec![None, None, None, None, Some("****".into())]),
        ..s.spamtest.clone().unwrap()
    };
    let s = Settings { spamtest: Some(text), ..Settings::default() };
    // Text value 4 of 10: 1 + 0.4 * 9 = 4.6, truncated.
    let src = "require \"spamtestplus\"; if spamtest :percent :is \"40\" { discard; }";
    assert_eq!(outcome_with(src, &envelope(), &s, &mut NoHost).actions, vec![Action::Discard]);
}

#[test]
fn vacation_answers_only_where_rfc_5230_allows() {
    let o = outcome("require \"vacation\"; vacation :addresses \"robert@example.net\" \"away\";");
    let Action::Vacation(v) = &o.actions[0] else { panic!() };
    assert_eq!(v.seconds, 7 * 86_400);
    assert_eq!(v.handle, "away<default-subject><default-from><NO-MIME>");
    let msg = MessageParser::default().parse(MESSAGE.as_bytes()).unwrap();
    let headers = Headers {
        fields: msg.headers_raw().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        changed: false,
    };
    let mut me = vec!["bob@example.net".to_string()];
    me.extend(v.addresses.iter().cloned());
    assert_eq!(should_reply(&headers, &envelope(), &me), None);
    assert_eq!(
        should_reply(&headers, &envelope(), &["robert@example.net".into()]),
        Some(NoReply::NotAddressed)
    );
    let null = Envelope { from: String::new(), ..envelope() };
    assert_eq!(should_reply(&headers, &null, &me), Some(NoReply::NullSender));
}

#[test]
fn limits_end_runs_with_an_error() {
    let tight = Settings { limits: Limits { max_steps: 50, ..Limits::default() }, ..Settings::default() };
    let many = "if true { keep; }\n".repeat(100);
    let o = outcome_with(&many, &envelope(), &tight, &mut NoHost);
    assert!(o.error.unwrap().message.contains("step limit"));
    assert_eq!(o.implicit_keep, Some(vec![]));
    let few = Settings { limits: Limits { max_actions: 2, ..Limits::default() }, ..Settings::default() };
    let o = outcome_with(
        "require \"fileinto\"; fileinto \"a\"; fileinto \"b\"; fileinto \"c\";",
        &envelope(),
        &few,
        &mut NoHost,
    );
    assert!(o.error.unwrap().message.contains("exceeds policy limit"));
    // Too big, too deep: refused at compile time with a position.
    let big = format!("# {}\nkeep;", "x".repeat(sieve::check::MAX_SCRIPT_SIZE));
    assert!(compile(&big).is_err());
    let deep = format!("{}keep;{}", "if true {".repeat(100), "}".repeat(100));
    let e = compile(&deep).unwrap_err();
    assert!(e.message.contains("nesting") && e.pos.line == 1, "{e}");
    // Pathological wildcards and regexes stay linear.
    let long = format!(
        "require [\"variables\", \"regex\"]; set \"x\" \"{}\";\n\
        if string :matches \"${{x}}\" \"*a*a*a*a*a*a*a*a*a*a*b\" {{ discard; }}\n\
        if string :regex \"${{x}}\" \"(a|aa)*b\" {{ discard; }}",
        "a".repeat(4000)
    );
    let o = outcome(&long);
    assert!(o.error.is_none() && o.actions.is_empty(), "{o:?}");
}

#[test]
fn errors_have_line_and_column() {
    let e = compile("require \"fileinto\";\nif true {\n  fileinto :flags \"x\" \"y\";\n}").unwrap_err();
    assert_eq!((e.pos.line, e.pos.col), (3, 12), "{e}");
    let e = compile("keep;\n\n   bogus;").unwrap_err();
    assert_eq!(e.to_string(), "3:4: unknown command 'bogus'");
    let e = compile("if header :is \"a\" \"b\" {\n keep;\n").unwrap_err();
    assert_eq!(e.pos.line, 2, "{e}");
}
