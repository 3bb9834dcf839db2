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
    let Ext::Search(body, Some(ret), false) = e.ext else { panic!("{e:?}") };
    assert!(ret.min && ret.count && !ret.all);
    assert!(matches!(*body, CommandBody::Search { criteria: SearchKey::Unseen, uid: false, .. }));
    assert!(!e.uses_saved);

    let e = ext("t UID SEARCH RETURN () OR $ UID $ SUBJECT $").unwrap();
    let Ext::Search(body, Some(ret), false) = e.ext else { panic!() };
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
    let Ext::Fetch(body, binary, mods) = e.ext else { panic!() };
    assert_eq!(mods, FetchMods::default());
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
    assert!(matches!(e.ext, Ext::Fetch(_, b, _) if b == [(0, Binary::Content { peek: false })]));
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
fn condstore_and_qresync_syntax() {
    // SELECT parameters.
    let e = ext("t SELECT INBOX (CONDSTORE)").unwrap();
    let Ext::Select { mailbox, read_only: false, params } = e.ext else { panic!("{e:?}") };
    assert!(mailbox == b"INBOX" && params.condstore);
    let e = ext("t EXAMINE \"A b\" (QRESYNC (7 100 1:9 (2 3)))").unwrap();
    let Ext::Select { mailbox, read_only: true, params } = e.ext else { panic!("{e:?}") };
    assert_eq!(mailbox, b"A b");
    assert_eq!(params.qresync.unwrap().seq_match, [(2, 3)]);

    // FETCH: MODSEQ items become UID ones at their index; the modifiers are taken off.
    let e = ext("t UID FETCH 1:* (FLAGS MODSEQ BODY[HEADER.FIELDS (A B)]) (CHANGEDSINCE 12345 VANISHED)")
        .unwrap();
    let Ext::Fetch(body, binary, mods) = e.ext else { panic!("{e:?}") };
    assert!(binary.is_empty());
    assert_eq!(mods.modseq_at, [1]);
    assert_eq!((mods.modifiers.changed_since, mods.modifiers.vanished), (Some(12345), true));
    let CommandBody::Fetch { macro_or_item_names, uid: true, .. } = *body else { panic!() };
    let MacroOrMessageDataItemNames::MessageDataItemNames(items) = macro_or_item_names else { panic!() };
    assert_eq!(items[1], MessageDataItemName::Uid);
    let e = ext("t FETCH 1 modseq").unwrap();
    assert!(
        matches!(e.ext, Ext::Fetch(_, _, m) if m.modseq_at == [0] && m.modifiers.changed_since.is_none())
    );
    let e = ext("t FETCH $ FLAGS (CHANGEDSINCE 0)").unwrap();
    assert!(e.uses_saved && matches!(e.ext, Ext::Fetch(_, _, m) if m.modifiers.changed_since == Some(0)));
    let e = ext("t FETCH 1 (BINARY.SIZE[1] MODSEQ)").unwrap();
    assert!(matches!(e.ext, Ext::Fetch(_, b, m) if b == [(0, Binary::Size)] && m.modseq_at == [1]));

    // STORE with UNCHANGEDSINCE, with and without `$`.
    let e = ext("t STORE 1:3 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)").unwrap();
    assert!(!e.uses_saved);
    let Ext::Store(body, 320_162_338) = e.ext else { panic!("{e:?}") };
    assert!(matches!(*body, CommandBody::Store { uid: false, .. }));
    let e = ext("t UID STORE $ (UNCHANGEDSINCE 0) FLAGS ()").unwrap();
    assert!(e.uses_saved && matches!(e.ext, Ext::Store(_, 0)));

    // SEARCH: MODSEQ keys become the placeholder header; "MODSEQ" as a string stays one.
    let e = ext("t SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338 SUBJECT MODSEQ").unwrap();
    let Ext::Search(body, None, true) = e.ext else { panic!("{e:?}") };
    let CommandBody::Search { criteria: SearchKey::And(keys), .. } = *body else { panic!("{body:?}") };
    let keys = keys.as_ref();
    assert!(
        matches!(&keys[0], SearchKey::Header(h, v) if h.as_ref() == b"X-Mailroom-Modseq" && v.as_ref() == b"620162338")
    );
    assert!(matches!(&keys[1], SearchKey::Subject(s) if s.as_ref() == b"MODSEQ"));
    let e = ext("t UID SEARCH RETURN (ALL) OR (MODSEQ 5) UID $").unwrap();
    assert!(e.uses_saved && matches!(e.ext, Ext::Search(_, Some(_), true)));
    let e = ext("t SEARCH HEADER X-Mailroom-Modseq 5 $").unwrap();
    assert!(matches!(e.ext, Ext::Search(_, None, false)), "a client's own header is no MODSEQ key");
}

#[test]
fn malformed_condstore_syntax() {
    for bad in [
        "t SELECT INBOX (FOO)",
        "t SELECT INBOX (QRESYNC)",
        "t SELECT INBOX (QRESYNC (1 x))",
        "t SELECT INBOX (QRESYNC (1 2 1:*))",
        "t EXAMINE INBOX (CONDSTORE",
        "t FETCH 1 (FLAGS) (CHANGEDSINCE)",
        "t FETCH 1 (FLAGS) (CHANGEDSINCE x)",
        "t FETCH 1 (FLAGS) (VANISHED)",
        "t FETCH 1 (FLAGS) (FOO 1)",
        "t FETCH 1 (FLAGS) CHANGEDSINCE 1",
        "t FETCH 1 (FLAGS) (CHANGEDSINCE 1) x",
        "t FETCH 1 (MODSEQS)",
        "t STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)",
        "t STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)",
        "t STORE 1 (FOO 1) +FLAGS (\\Seen)",
        "t STORE 1 (UNCHANGEDSINCE 1)",
        "t STORE 1 (UNCHANGEDSINCE 99999999999999999999) +FLAGS (\\Seen)",
        "t SEARCH MODSEQ",
        "t SEARCH MODSEQ x",
        "t SEARCH MODSEQ \"/flags/a\" 5",
        "t SEARCH MODSEQ \"/nope\" all 5",
        "t SEARCH MODSEQ -1",
    ] {
        assert!(ext(bad).is_err(), "{bad}");
    }
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
    let r = super::append_literal8(b"t APPEND INBOX ~{5}\r\nab\r\nc\r\n").unwrap();
    assert_eq!(r, (b"t APPEND INBOX {5}\r\nab\r\nc\r\n".to_vec(), None));
    // NUL travels beside the command imap-codec parses.
    let r = super::append_literal8(b"t APPEND INBOX ~{3}\r\na\0b\r\n").unwrap();
    assert_eq!(r, (b"t APPEND INBOX {3}\r\na\x01b\r\n".to_vec(), Some(b"a\0b".to_vec())));
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
        "t UID SEARCH RETURN (MIN) MODSEQ \"/flags/\\\\seen\" all 5 (MODSEQ {1}\r\n6) CHARSET MODSEQ",
        "t UID FETCH 1:* (FLAGS MODSEQ BODY[HEADER.FIELDS (A)]) (CHANGEDSINCE 5 VANISHED)",
        "t STORE $ (UNCHANGEDSINCE 5) +FLAGS (\\Seen)",
        "t SELECT INBOX (QRESYNC (1 2 1:5 (1,2 3,4)) CONDSTORE)",
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

#[test]
fn hostile_nesting_and_brace_floods_are_refused_not_fatal() {
    // 20,000 ORs fit a 64 KiB line; walking them must not overflow the stack.
    let deep = format!("t SEARCH RETURN (ALL) {}ALL ALL", "OR ".repeat(20_000));
    assert_eq!(ext(&deep).unwrap_err(), "Search keys nested too deep");
    let nots = format!("t SEARCH RETURN (ALL) {}ALL", "NOT ".repeat(20_000));
    assert_eq!(ext(&nots).unwrap_err(), "Search keys nested too deep");
    // Moderate nesting still parses.
    assert!(ext("t SEARCH RETURN (ALL) OR OR NOT SEEN ANSWERED (NOT DELETED)").is_ok());

    // A literal8 APPEND whose message is a flood of `~{`: every candidate announcement is
    // checked in constant time (this took minutes when each scanned to the end).
    let body = "~{".repeat(512 * 1024);
    let cmd = format!("t APPEND x ~{{{}}}\r\n{body}\r\n", body.len());
    let (rewritten, binary) = super::append_literal8(cmd.as_bytes()).expect("a literal8");
    assert!(binary.is_none());
    assert!(rewritten.starts_with(format!("t APPEND x {{{}}}\r\n~{{", body.len()).as_bytes()));
    let braces = format!("t LIST \"\" {}\r\n", "{".repeat(60_000));
    assert!(utf8_quoted_as_literals(braces.as_bytes()).is_none());
}

#[test]
fn sort_and_thread_commands() {
    use crate::imap::sort::{Criterion, SortKey};
    use crate::imap::thread::Algorithm;
    let e = ext("t UID SORT (REVERSE DATE subject) UTF-8 SUBJECT \"x\" UNSEEN").unwrap();
    let Ext::SortThread(Order::Sort(criteria, None), body, false) = e.ext else { panic!("{e:?}") };
    assert_eq!(
        criteria,
        [
            Criterion { key: SortKey::Date, reverse: true },
            Criterion { key: SortKey::Subject, reverse: false }
        ]
    );
    let CommandBody::Search { charset: Some(_), criteria: SearchKey::And(_), uid: true } = *body else {
        panic!("{body:?}")
    };
    let e = ext("t SORT RETURN (MIN COUNT) (ARRIVAL) us-ascii 1:5").unwrap();
    let Ext::SortThread(Order::Sort(_, Some(ret)), _, false) = e.ext else { panic!("{e:?}") };
    assert!(ret.min && ret.count && !ret.max);
    let e = ext("t THREAD references \"UTF-8\" ALL").unwrap();
    let Ext::SortThread(Order::Thread(Algorithm::References), body, false) = e.ext else { panic!("{e:?}") };
    assert!(matches!(*body, CommandBody::Search { criteria: SearchKey::All, uid: false, .. }));
    let e = ext("t UID THREAD ORDEREDSUBJECT UTF-8 UID $").unwrap();
    assert!(e.uses_saved);
    let e = ext("t SORT (SIZE) UTF-8 MODSEQ 5").unwrap();
    assert!(matches!(e.ext, Ext::SortThread(_, _, true)));
    for bad in [
        "t SORT (SIZE) UTF-8",
        "t SORT SIZE UTF-8 ALL",
        "t SORT () UTF-8 ALL",
        "t SORT (REVERSE) UTF-8 ALL",
        "t SORT (SIZE) UTF-8 BOGUS",
        "t THREAD BOGUS UTF-8 ALL",
        "t THREAD REFERENCES UTF-8",
        "t SORT RETURN (FOO) (SIZE) UTF-8 ALL",
    ] {
        assert!(ext(bad).is_err(), "{bad}");
    }
}
