use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section};
use imap_codec::imap_types::search::SearchKey;

use super::*;

fn ext(cmd: &str) -> Result<Extended, &'static str> {
    let buf = format!("{cmd}\r\n");
    let (_, name) = crate::imap::command::tag_and_name(buf.as_bytes());
    parse(buf.as_bytes(), &name).expect("one of ours")
}

fn saved() -> SequenceSet {
    SequenceSet::try_from(SAVED).unwrap()
}

#[test]
fn search_return_options_and_saved_sets() {
    let e = ext("t SEARCH RETURN (MIN COUNT) UNSEEN").unwrap();
    let Ext::Search(body, Some(ret)) = e.ext else { panic!("{e:?}") };
    assert!(ret.min && ret.count && !ret.all);
    assert!(matches!(*body, CommandBody::Search { criteria: SearchKey::Unseen, uid: false, .. }));
    assert!(!e.uses_saved);

    let e = ext("t UID SEARCH RETURN () OR $ UID $ SUBJECT $").unwrap();
    let Ext::Search(body, Some(ret)) = e.ext else { panic!() };
    assert_eq!(ret, Return::ALL);
    let CommandBody::Search { criteria: SearchKey::And(keys), uid: true, .. } = *body else {
        panic!("{body:?}")
    };
    let keys = keys.as_ref();
    let SearchKey::Or(a, b) = &keys[0] else { panic!("{keys:?}") };
    assert_eq!(**a, SearchKey::SequenceSet(saved()));
    assert_eq!(**b, SearchKey::Uid(saved()));
    // The subject "$" stays a string.
    assert!(matches!(&keys[1], SearchKey::Subject(s) if s.as_ref() == b"$"));
    assert!(e.uses_saved);

    let e = ext("t SEARCH (NOT $) HEADER X-Y $").unwrap();
    assert!(e.uses_saved);
}

#[test]
fn fetch_binary_items() {
    let e =
        ext("t UID FETCH $ (UID BINARY.PEEK[1.2]<0.10> BODY[HEADER.FIELDS (A B)] binary.size[1] BINARY[])")
            .unwrap();
    assert!(e.uses_saved);
    let Ext::Fetch(body, binary) = e.ext else { panic!() };
    assert_eq!(
        binary,
        [(1, Binary::Content { peek: true }), (3, Binary::Size), (4, Binary::Content { peek: false })]
    );
    let CommandBody::Fetch { sequence_set, macro_or_item_names, uid: true } = *body else { panic!() };
    assert!(is_saved(&sequence_set));
    let MacroOrMessageDataItemNames::MessageDataItemNames(items) = macro_or_item_names else { panic!() };
    assert!(matches!(
        &items[1],
        MessageDataItemName::BodyExt { peek: true, partial: Some((0, _)), section: Some(Section::Part(_)) }
    ));
    assert!(matches!(&items[2], MessageDataItemName::BodyExt { peek: false, .. }));
    assert!(matches!(&items[4], MessageDataItemName::BodyExt { section: None, peek: true, .. }));
    let e = ext("t FETCH 1:2 BINARY[1]").unwrap();
    assert!(matches!(e.ext, Ext::Fetch(_, b) if b == [(0, Binary::Content { peek: false })]));
}

#[test]
fn saved_sets_in_other_commands() {
    for cmd in ["t STORE $ +FLAGS (\\Seen)", "t UID COPY $ Trash", "t MOVE $ Trash"] {
        let e = ext(cmd).unwrap();
        assert!(e.uses_saved && matches!(e.ext, Ext::Codec(_)), "{cmd}");
    }
    assert_eq!(ext("t UID EXPUNGE $").unwrap().ext, Ext::UidExpunge(saved()));
}

#[test]
fn list_and_status() {
    assert!(matches!(ext("t LIST (SUBSCRIBED) \"\" *").unwrap().ext, Ext::List(_)));
    let e = ext("t STATUS INBOX (SIZE UNSEEN)").unwrap();
    assert_eq!(
        e.ext,
        Ext::Status { mailbox: b"INBOX".to_vec(), items: vec![StatusItem::Size, StatusItem::Unseen] }
    );
}

#[test]
fn malformed_extended_commands() {
    for bad in [
        "t SEARCH RETURN (FOO) ALL",
        "t SEARCH RETURN ALL",
        "t SEARCH RETURN (MIN",
        "t SEARCH RETURN (MIN)",
        "t SEARCH FROBNICATE",
        "t SEARCH UID",
        "t SEARCH NOT",
        "t SEARCH \"x\"",
        "t UID SEARCH RETURN (ALL) $$",
        "t FETCH $ (BINARY[0])",
        "t FETCH 1 (BINARY[1.x])",
        "t FETCH 1 BINARY.SIZE[1]<0.5>",
        "t FETCH 1 (BINARY[1]X)",
        "t FETCH 1 (BINARY[1] FROB)",
        "t FETCH 1 (FROB)",
        "t FETCH $",
        "t STORE $ FROB",
        "t STATUS INBOX (SIZE",
        "t LIST (SUBSCRIBED \"\" *",
    ] {
        assert!(ext(bad).is_err(), "{bad}");
    }
    assert!(parse(b"t STORE 1 +FLAGS (x\r\n", "STORE").is_none());
    assert!(parse(b"t UID EXPUNGE 1:x\r\n", "UID EXPUNGE").is_none());
    assert!(parse(b"t FROB\r\n", "FROB").is_none());
}

#[test]
fn append_literal8() {
    let r = super::append_literal8(b"t APPEND INBOX ~{5}\r\nab\r\nc\r\n").unwrap().unwrap();
    assert_eq!(r, b"t APPEND INBOX {5}\r\nab\r\nc\r\n");
    assert!(super::append_literal8(b"t APPEND INBOX ~{3}\r\na\0b\r\n").unwrap().is_err());
    assert!(super::append_literal8(b"t APPEND INBOX {3}\r\nabc\r\n").is_none());
    // A literal8 that is not the message (wrong length) is not rewritten.
    assert!(super::append_literal8(b"t APPEND INBOX ~{9}\r\nabc\r\n").is_none());
}

#[test]
fn utf8_quoted_strings_become_literals() {
    let got = utf8_quoted_as_literals("t SELECT \"Entwürfe \\\"x\\\"\"\r\n".as_bytes()).unwrap();
    assert_eq!(got, "t SELECT {13+}\r\nEntwürfe \"x\"\r\n".as_bytes());
    assert_eq!(utf8_quoted_as_literals(b"t SELECT \"ascii\"\r\n"), None);
    // A literal's bytes are left alone, quotes in them included.
    let lit = "t APPEND x {4}\r\n\"ü\"\r\n".as_bytes();
    assert_eq!(utf8_quoted_as_literals(lit), None);
}

#[test]
fn truncated_and_mangled_commands_never_panic() {
    let cmds = [
        "t UID FETCH $ (UID BINARY.PEEK[1.2]<0.10> BODY[HEADER.FIELDS (A {1}\r\nB)] BINARY.SIZE[1])",
        "t SEARCH RETURN (MIN SAVE) CHARSET UTF-8 OR (NOT $) HEADER {2}\r\nX- \"ü\" UID $",
        "t LIST (SUBSCRIBED RECURSIVEMATCH) \"ref\" (% \"Entwürfe\") RETURN (CHILDREN STATUS (SIZE))",
        "t APPEND INBOX (\\Seen) ~{3+}\r\nabc",
        "t STATUS {5}\r\nINBOX (SIZE DELETED-STORAGE)",
    ];
    for cmd in cmds {
        let bytes = cmd.as_bytes();
        for end in 0..=bytes.len() {
            for tail in [&b"\r\n"[..], b"\"\r\n", b"{9}\r\n", b")\r\n", b"~{\r\n"] {
                let mut buf = bytes[..end].to_vec();
                buf.extend_from_slice(tail);
                let _ = crate::imap::command::parse(&buf);
                let mut swapped = buf.clone();
                if end < swapped.len() {
                    swapped[end] = b'$';
                    let _ = crate::imap::command::parse(&swapped);
                }
            }
        }
    }
}
