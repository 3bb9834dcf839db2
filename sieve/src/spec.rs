//! The signature of every command and test: the extension it needs, its tags and its
//! positional arguments. The checker reads this table; adding a command starts here.

/// Command or test: the same name may not be both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Command,
    Test,
}

/// The type of an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Str,
    /// A string list (a single string is a list of one).
    List,
    Num,
}

/// How many tests a command or test takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tests {
    None,
    One,
    List,
}

/// A tag a command or test accepts.
#[derive(Debug)]
pub struct Tag {
    pub name: &'static str,
    pub arg: Option<ArgKind>,
    /// The extension the tag itself needs beyond the command's.
    pub ext: Option<&'static str>,
    /// Tags of one group exclude each other (match types, address parts, ...).
    pub group: Option<&'static str>,
}

/// The signature of one command or test.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub kind: Kind,
    /// Any one of these extensions enables it; empty for RFC 5228 core.
    pub ext: &'static [&'static str],
    pub tags: &'static [&'static [Tag]],
    pub args: &'static [ArgKind],
    /// One more string list may come first (the variable list of imap4flags).
    pub optional_first: bool,
    pub tests: Tests,
}

const fn tag(name: &'static str) -> Tag {
    Tag { name, arg: None, ext: None, group: None }
}

const fn grouped(name: &'static str, group: &'static str, ext: Option<&'static str>) -> Tag {
    Tag { name, arg: None, ext, group: Some(group) }
}

const COMPARATOR: &[Tag] = &[Tag { name: "comparator", arg: Some(ArgKind::Str), ext: None, group: None }];

const MATCH: &[Tag] = &[
    grouped("is", "match", None),
    grouped("contains", "match", None),
    grouped("matches", "match", None),
    grouped("regex", "match", Some("regex")),
    Tag { name: "value", arg: Some(ArgKind::Str), ext: Some("relational"), group: Some("match") },
    Tag { name: "count", arg: Some(ArgKind::Str), ext: Some("relational"), group: Some("match") },
];

const ADDRESS_PART: &[Tag] = &[
    grouped("all", "addrpart", None),
    grouped("localpart", "addrpart", None),
    grouped("domain", "addrpart", None),
    grouped("user", "addrpart", Some("subaddress")),
    grouped("detail", "addrpart", Some("subaddress")),
];

const INDEX: &[Tag] = &[
    Tag { name: "index", arg: Some(ArgKind::Num), ext: Some("index"), group: None },
    Tag { name: "last", arg: None, ext: Some("index"), group: None },
];

const FLAGS: &[Tag] =
    &[Tag { name: "flags", arg: Some(ArgKind::List), ext: Some("imap4flags"), group: None }];

const COPY: &[Tag] = &[Tag { name: "copy", arg: None, ext: Some("copy"), group: None }];

const CREATE: &[Tag] = &[Tag { name: "create", arg: None, ext: Some("mailbox"), group: None }];

const BODY_TRANSFORM: &[Tag] = &[
    grouped("raw", "transform", None),
    Tag { name: "content", arg: Some(ArgKind::List), ext: None, group: Some("transform") },
    grouped("text", "transform", None),
];

const ZONE: &[Tag] = &[
    Tag { name: "zone", arg: Some(ArgKind::Str), ext: None, group: Some("zone") },
    grouped("originalzone", "zone", None),
];

const SET_MODIFIERS: &[Tag] = &[
    grouped("lower", "case", None),
    grouped("upper", "case", None),
    grouped("lowerfirst", "first", None),
    grouped("upperfirst", "first", None),
    grouped("quotewildcard", "quote", None),
    grouped("length", "length", None),
];

const VACATION: &[Tag] = &[
    Tag { name: "days", arg: Some(ArgKind::Num), ext: None, group: None },
    Tag { name: "seconds", arg: Some(ArgKind::Num), ext: Some("vacation-seconds"), group: None },
    Tag { name: "subject", arg: Some(ArgKind::Str), ext: None, group: None },
    Tag { name: "from", arg: Some(ArgKind::Str), ext: None, group: None },
    Tag { name: "addresses", arg: Some(ArgKind::List), ext: None, group: None },
    tag("mime"),
    Tag { name: "handle", arg: Some(ArgKind::Str), ext: None, group: None },
];

const INCLUDE: &[Tag] = &[
    grouped("personal", "location", None),
    grouped("global", "location", None),
    tag("once"),
    tag("optional"),
];

const DUPLICATE: &[Tag] = &[
    Tag { name: "handle", arg: Some(ArgKind::Str), ext: None, group: None },
    Tag { name: "header", arg: Some(ArgKind::Str), ext: None, group: Some("id") },
    Tag { name: "uniqueid", arg: Some(ArgKind::Str), ext: None, group: Some("id") },
    Tag { name: "seconds", arg: Some(ArgKind::Num), ext: None, group: None },
    tag("last"),
];

const LAST: &[Tag] = &[tag("last")];

const PERCENT: &[Tag] = &[Tag { name: "percent", arg: None, ext: Some("spamtestplus"), group: None }];

const SIZE: &[Tag] = &[grouped("over", "size", None), grouped("under", "size", None)];

use ArgKind::{List, Num, Str};

macro_rules! spec {
    ($name:literal, $kind:ident, [$($ext:literal),*], [$($tags:ident),*], [$($arg:ident),*], $opt:literal, $tests:ident) => {
        Spec {
            name: $name,
            kind: Kind::$kind,
            ext: &[$($ext),*],
            tags: &[$($tags),*],
            args: &[$($arg),*],
            optional_first: $opt,
            tests: Tests::$tests,
        }
    };
}

/// Every command and test.
pub static SPECS: &[Spec] = &[
    // RFC 5228 commands (if/elsif/else and require are the checker's).
    spec!("stop", Command, [], [], [], false, None),
    spec!("keep", Command, [], [FLAGS], [], false, None),
    spec!("discard", Command, [], [], [], false, None),
    spec!("redirect", Command, [], [COPY], [Str], false, None),
    spec!("fileinto", Command, ["fileinto"], [FLAGS, COPY, CREATE], [Str], false, None),
    spec!("reject", Command, ["reject"], [], [Str], false, None),
    spec!("ereject", Command, ["ereject"], [], [Str], false, None),
    spec!("setflag", Command, ["imap4flags"], [], [List], true, None),
    spec!("addflag", Command, ["imap4flags"], [], [List], true, None),
    spec!("removeflag", Command, ["imap4flags"], [], [List], true, None),
    spec!("set", Command, ["variables"], [SET_MODIFIERS], [Str, Str], false, None),
    spec!("vacation", Command, ["vacation"], [VACATION], [Str], false, None),
    spec!("include", Command, ["include"], [INCLUDE], [Str], false, None),
    spec!("return", Command, ["include"], [], [], false, None),
    spec!("global", Command, ["include"], [], [List], false, None),
    spec!("addheader", Command, ["editheader"], [LAST], [Str, Str], false, None),
    spec!("deleteheader", Command, ["editheader"], [INDEX_DEL, COMPARATOR, MATCH], [Str], true, None),
    // RFC 5228 tests.
    spec!("address", Test, [], [COMPARATOR, ADDRESS_PART, MATCH, INDEX], [List, List], false, None),
    spec!("envelope", Test, ["envelope"], [COMPARATOR, ADDRESS_PART, MATCH], [List, List], false, None),
    spec!("header", Test, [], [COMPARATOR, MATCH, INDEX], [List, List], false, None),
    spec!("exists", Test, [], [], [List], false, None),
    spec!("size", Test, [], [SIZE], [Num], false, None),
    spec!("true", Test, [], [], [], false, None),
    spec!("false", Test, [], [], [], false, None),
    spec!("not", Test, [], [], [], false, One),
    spec!("allof", Test, [], [], [], false, List),
    spec!("anyof", Test, [], [], [], false, List),
    // Extensions.
    spec!("body", Test, ["body"], [COMPARATOR, MATCH, BODY_TRANSFORM], [List], false, None),
    spec!("string", Test, ["variables"], [COMPARATOR, MATCH], [List, List], false, None),
    spec!("hasflag", Test, ["imap4flags"], [COMPARATOR, MATCH], [List], true, None),
    spec!("date", Test, ["date"], [ZONE, COMPARATOR, MATCH, INDEX], [Str, Str, List], false, None),
    spec!("currentdate", Test, ["date"], [ZONE_ONLY, COMPARATOR, MATCH], [Str, List], false, None),
    spec!("mailboxexists", Test, ["mailbox"], [], [List], false, None),
    spec!("duplicate", Test, ["duplicate", "vnd.dovecot.duplicate"], [DUPLICATE], [], false, None),
    spec!("environment", Test, ["environment"], [COMPARATOR, MATCH], [Str, List], false, None),
    spec!("spamtest", Test, ["spamtest", "spamtestplus"], [PERCENT, COMPARATOR, MATCH], [Str], false, None),
    spec!("virustest", Test, ["virustest"], [COMPARATOR, MATCH], [Str], false, None),
];

const INDEX_DEL: &[Tag] = &[
    Tag { name: "index", arg: Some(ArgKind::Num), ext: None, group: None },
    Tag { name: "last", arg: None, ext: None, group: None },
];

const ZONE_ONLY: &[Tag] = &[Tag { name: "zone", arg: Some(ArgKind::Str), ext: None, group: None }];

/// The signature of a command or test by name.
pub fn find(name: &str, kind: Kind) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name && s.kind == kind)
}

/// The group of a tag of `spec`.
pub fn group_of(spec: &Spec, tag: &str) -> Option<&'static str> {
    spec.tags.iter().flat_map(|s| s.iter()).find(|t| t.name == tag).and_then(|t| t.group)
}
