//! The expectations are what Dovecot 2.3 (Maildir++, separator '/') answered for the same
//! folders and subscriptions, compared as sets since Dovecot's order is its own.

use super::*;
use crate::imap::args::{after_name, plain};

fn view() -> View {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    View {
        existing: set(&["INBOX", "Sent", "Trash", "Work", "Lists/Go", "Lists/Rust", "Deep/A/B"]),
        subscribed: set(&["INBOX", "Sent", "Lists", "Lists/Rust", "Deep/A/B", "Gone", "GoneP/Child"]),
    }
}

fn parse(cmd: &str) -> Result<ListCommand, &'static str> {
    ListCommand::parse(&plain(after_name(format!("t {cmd}\r\n").as_bytes(), 1)?))
}

/// The responses to `cmd`, one string per name, sorted.
fn run(cmd: &str) -> Vec<String> {
    let c = parse(cmd).unwrap();
    let mut lines: Vec<String> = view()
        .list(&c, &c.full_patterns(false), false)
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            response("LIST", e, false, &mut out);
            String::from_utf8(out).unwrap().trim_start_matches("* LIST ").replace(" \"/\" ", " ")
        })
        .collect();
    lines.sort();
    lines
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn subscribed_selection() {
    assert_eq!(
        run("LIST (SUBSCRIBED) \"\" *"),
        sorted(&[
            "(\\Subscribed) \"INBOX\"",
            "(\\Subscribed) \"Sent\"",
            "(\\Subscribed \\NonExistent) \"Lists\"",
            "(\\Subscribed) \"Lists/Rust\"",
            "(\\Subscribed) \"Deep/A/B\"",
            "(\\Subscribed \\NonExistent) \"Gone\"",
            "(\\Subscribed \\NonExistent) \"GoneP/Child\"",
        ])
    );
    assert_eq!(
        run("LIST (SUBSCRIBED) \"\" %"),
        sorted(&[
            "(\\Subscribed) \"INBOX\"",
            "(\\Subscribed) \"Sent\"",
            "(\\Subscribed \\NonExistent) \"Lists\"",
            "(\\Subscribed \\NonExistent) \"Gone\"",
        ])
    );
}

#[test]
fn recursive_match_gives_childinfo() {
    assert_eq!(
        run("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (CHILDREN)"),
        sorted(&[
            "(\\Subscribed \\HasNoChildren) \"INBOX\"",
            "(\\Subscribed \\HasNoChildren) \"Sent\"",
            "(\\Subscribed \\NonExistent \\HasChildren) \"Lists\" (CHILDINFO (\"SUBSCRIBED\"))",
            "(\\NonExistent \\HasChildren) \"Deep\" (CHILDINFO (\"SUBSCRIBED\"))",
            "(\\Subscribed \\NonExistent \\HasNoChildren) \"Gone\"",
            "(\\NonExistent \\HasChildren) \"GoneP\" (CHILDINFO (\"SUBSCRIBED\"))",
        ])
    );
    assert_eq!(
        run("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" Deep/%"),
        sorted(&["(\\NonExistent) \"Deep/A\" (CHILDINFO (\"SUBSCRIBED\"))"])
    );
}

#[test]
fn return_options() {
    assert_eq!(
        run("LIST \"\" % RETURN (SUBSCRIBED CHILDREN)"),
        sorted(&[
            "(\\NonExistent \\HasChildren) \"Deep\"",
            "(\\Subscribed \\NonExistent \\HasChildren) \"Lists\"",
            "(\\HasNoChildren) \"Trash\"",
            "(\\Subscribed \\HasNoChildren) \"Sent\"",
            "(\\HasNoChildren) \"Work\"",
            "(\\Subscribed \\HasNoChildren) \"INBOX\"",
        ])
    );
    assert_eq!(run("LIST (SPECIAL-USE) \"\" *"), sorted(&["(\\Trash) \"Trash\"", "(\\Sent) \"Sent\""]));
    assert_eq!(
        run("LIST \"\" (Lists/% Deep)"),
        sorted(&["(\\NonExistent) \"Deep\"", "() \"Lists/Go\"", "() \"Lists/Rust\""])
    );
    assert_eq!(run("LIST \"Lists/\" % RETURN (CHILDREN)").len(), 2);
}

#[test]
fn basic_list_keeps_rfc3501_attributes() {
    let got = run("LIST \"\" *");
    assert!(got.contains(&"(\\Noselect \\HasChildren) \"Deep/A\"".to_string()), "{got:?}");
    assert!(got.contains(&"(\\HasNoChildren \\Trash) \"Trash\"".to_string()), "{got:?}");
    assert_eq!(got.len(), 10);
    assert!(parse("LIST \"\" \"\"").unwrap().asks_delimiter());
    assert!(!parse("LIST () \"\" \"\"").unwrap().asks_delimiter());
}

#[test]
fn lsub_lists_subscriptions_and_percent_parents() {
    let v = view();
    let names = |p: &str| v.lsub(&[p.to_string()]).into_iter().map(|e| (e.name, e.attrs)).collect::<Vec<_>>();
    let all = names("*");
    assert_eq!(all.len(), 7);
    assert!(all.iter().all(|(_, a)| a.is_empty()));
    let top = names("%");
    assert!(top.contains(&("Deep".to_string(), vec!["\\Noselect"])), "{top:?}");
    assert!(top.contains(&("Gone".to_string(), vec![])), "{top:?}");
}

#[test]
fn status_return_option() {
    let c = parse("LIST \"\" * RETURN (STATUS (MESSAGES SIZE) CHILDREN)").unwrap();
    assert_eq!(c.returns.status, Some(vec![StatusItem::Messages, StatusItem::Size]));
    assert!(c.returns.children);
    let e = view().list(&c, &c.full_patterns(false), false);
    assert!(e.iter().all(|e| e.selectable == (e.name != "Deep" && e.name != "Deep/A" && e.name != "Lists")));
}

#[test]
fn malformed_list_commands() {
    for bad in [
        "LIST (FOO) \"\" *",
        "LIST \"\" * RETURN (FOO)",
        "LIST (RECURSIVEMATCH) \"\" %",
        "LIST (REMOTE RECURSIVEMATCH) \"\" %",
        "LIST \"\" ()",
        "LIST \"\"",
        "LIST \"\" * RETURN",
        "LIST \"\" * RETURN CHILDREN",
        "LIST \"\" * RETURN (STATUS)",
        "LIST \"\" * RETURN (STATUS (FOO))",
        "LIST \"\" * RETURN (STATUS ())",
        "LIST \"\" * EXTRA (x)",
        "LIST (SUBSCRIBED) \"\" (* (x))",
        "LIST () (x) *",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn utf8_and_mutf7_patterns() {
    let c = ListCommand::basic(b"", b"Entw&APw-rfe/*");
    assert_eq!(c.full_patterns(false), ["Entwürfe/*"]);
    let c = ListCommand::basic(b"", "Entwürfe/*".as_bytes());
    assert_eq!(c.full_patterns(true), ["Entwürfe/*"]);
    let mut out = Vec::new();
    let e = Entry { name: "Entwürfe".into(), attrs: vec![], child_subscribed: false, selectable: true };
    response("LIST", &e, false, &mut out);
    assert_eq!(out, b"* LIST () \"/\" \"Entw&APw-rfe\"");
}
