//! SORT (RFC 5256 §3), with DISPLAYFROM and DISPLAYTO (RFC 5957) and ESORT's result options
//! (RFC 5267 §3): the sort criteria, the keys a message offers them (from its header and
//! INTERNALDATE, no body), RFC 5256's base subject and the order. No I/O: the session gathers
//! the [`Facts`] of each message from mailstore's cache.
//!
//! Strings compare by i;unicode-casemap (RFC 5051): titlecase, approximated by upper case (which
//! puts `_` after the letters, as titlecase does), then NFKD, so `É` sorts beside `E`; ties keep
//! mailbox order (RFC 5256 §3).

use std::cmp::Ordering;

use mail_parser::{Address, HeaderName, MessageParser};
use unicode_normalization::UnicodeNormalization;

use super::args::Arg;
use super::esearch::Return;

/// One sort key (RFC 5256 §3, RFC 5957).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// INTERNALDATE.
    Arrival,
    /// The mailbox of the first Cc address.
    Cc,
    /// The sent date: Date:, else INTERNALDATE.
    Date,
    /// The mailbox of the first From address.
    From,
    /// RFC822.SIZE.
    Size,
    /// The base subject.
    Subject,
    /// The mailbox of the first To address.
    To,
    /// The display name of the first From address, else its address (RFC 5957).
    DisplayFrom,
    /// The display name of the first To address, else its address (RFC 5957).
    DisplayTo,
}

/// A sort key, maybe reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Criterion {
    /// The key.
    pub key: SortKey,
    /// REVERSE: descending.
    pub reverse: bool,
}

/// Parses `(REVERSE SUBJECT DATE ...)`.
pub fn parse_criteria(arg: &Arg) -> Result<Vec<Criterion>, &'static str> {
    let Arg::List(items) = arg else { return Err("SORT needs a list of criteria") };
    let mut out = Vec::new();
    let mut reverse = false;
    for item in items {
        let key = match item.keyword().as_deref() {
            Some("REVERSE") if !reverse => {
                reverse = true;
                continue;
            }
            Some("ARRIVAL") => SortKey::Arrival,
            Some("CC") => SortKey::Cc,
            Some("DATE") => SortKey::Date,
            Some("FROM") => SortKey::From,
            Some("SIZE") => SortKey::Size,
            Some("SUBJECT") => SortKey::Subject,
            Some("TO") => SortKey::To,
            Some("DISPLAYFROM") => SortKey::DisplayFrom,
            Some("DISPLAYTO") => SortKey::DisplayTo,
            _ => return Err("Invalid sort criterion"),
        };
        out.push(Criterion { key, reverse });
        reverse = false;
    }
    if out.is_empty() || reverse {
        return Err("Invalid sort criteria");
    }
    Ok(out)
}

/// What one message offers SORT and THREAD.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Its sequence number.
    pub seq: u32,
    /// INTERNALDATE, seconds since the epoch.
    pub arrival: i64,
    /// The sent date (Date: in UTC), else INTERNALDATE.
    pub sent: i64,
    /// The header has a valid Date: (else `sent` is `arrival`).
    pub dated: bool,
    /// RFC822.SIZE.
    pub size: u64,
    /// The base subject, case-folded.
    pub subject: String,
    /// The subject was a reply or a forward (RFC 5256 §2.1's extraction removed something).
    pub reply: bool,
    /// The sort keys of From, To and Cc (first mailbox, case-folded).
    pub from: String,
    /// See `from`.
    pub to: String,
    /// See `from`.
    pub cc: String,
    /// DISPLAYFROM's key (case-folded).
    pub display_from: String,
    /// DISPLAYTO's key (case-folded).
    pub display_to: String,
    /// The Message-ID, without its angle brackets.
    pub message_id: Option<String>,
    /// The message IDs of References, else the first of In-Reply-To.
    pub references: Vec<String>,
}

impl Facts {
    /// The facts of message `seq` whose header (or envelope header fields) is `header`;
    /// `arrival` is its INTERNALDATE.
    pub fn from_header(seq: u32, header: &[u8], arrival: i64, size: u64) -> Facts {
        let mut f = Facts { seq, arrival, sent: arrival, size, ..Facts::default() };
        let Some(m) = MessageParser::new().parse_headers(header) else { return f };
        if let Some(d) = m.date().filter(|d| d.is_valid()) {
            f.sent = d.to_timestamp();
            f.dated = true;
        }
        let (subject, reply) = base_subject(m.subject().unwrap_or_default());
        (f.subject, f.reply) = (fold(&subject), reply);
        f.from = fold(&first_mailbox(m.from()));
        f.to = fold(&first_mailbox(m.to()));
        f.cc = fold(&first_mailbox(m.cc()));
        f.display_from = fold(&display(m.from()));
        f.display_to = fold(&display(m.to()));
        f.message_id = m.header_raw(HeaderName::MessageId).and_then(|v| msg_ids(v).into_iter().next());
        f.references = m.header_raw(HeaderName::References).map(msg_ids).unwrap_or_default();
        if f.references.is_empty()
            && let Some(first) =
                m.header_raw(HeaderName::InReplyTo).and_then(|v| msg_ids(v).into_iter().next())
        {
            f.references.push(first);
        }
        f
    }
}

/// The `<...>` message IDs in a header value, without brackets, in order.
pub fn msg_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(len) = rest[open + 1..].find('>') else { break };
        let id: String = rest[open + 1..open + 1 + len].chars().filter(|c| !c.is_whitespace()).collect();
        if !id.is_empty() {
            out.push(id);
        }
        rest = &rest[open + 1 + len + 1..];
    }
    out
}

/// i;unicode-casemap, approximated (upper case for titlecase).
pub fn fold(s: &str) -> String {
    s.to_uppercase().nfkd().collect()
}

/// The mailbox (local part) of the first address; a group's name for a group.
fn first_mailbox(a: Option<&Address<'_>>) -> String {
    let addr = match a {
        Some(Address::List(list)) => list.first(),
        Some(Address::Group(groups)) => match groups.first() {
            Some(g) if g.name.is_some() => return g.name.as_deref().unwrap_or_default().to_string(),
            Some(g) => g.addresses.first(),
            None => None,
        },
        None => None,
    };
    let address = addr.and_then(|a| a.address.as_deref()).unwrap_or_default();
    address.rsplit_once('@').map_or(address, |(local, _)| local).to_string()
}

/// RFC 5957: the display name of the first address, else its addr-spec.
fn display(a: Option<&Address<'_>>) -> String {
    let addr = match a {
        Some(Address::List(list)) => list.first(),
        Some(Address::Group(groups)) => match groups.first() {
            // A group is its name, as the group's ENVELOPE start marker is.
            Some(g) if g.name.is_some() => return g.name.as_deref().unwrap_or_default().to_string(),
            Some(g) => g.addresses.first(),
            None => None,
        },
        None => None,
    };
    let Some(addr) = addr else { return String::new() };
    match addr.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => name.to_string(),
        None => addr.address.as_deref().unwrap_or_default().to_string(),
    }
}

/// RFC 5256 §2.1's base subject of a decoded subject, and whether anything that marks a reply
/// or a forward was taken off (a `Re:`/`Fwd:` leader, a `(fwd)` trailer, a `[fwd: ...]`
/// wrapper).
pub fn base_subject(subject: &str) -> (String, bool) {
    // (1) Tabs and line breaks are spaces; runs of spaces are one.
    let mut s = String::with_capacity(subject.len());
    for c in subject.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') { ' ' } else { c };
        if !(c == ' ' && s.ends_with(' ')) {
            s.push(c);
        }
    }
    let mut reply = false;
    loop {
        // (2) Trailers: `(fwd)` and white space.
        loop {
            let t = s.trim_end();
            match strip_suffix_ci(t, "(fwd)") {
                Some(rest) => {
                    s = rest.to_string();
                    reply = true;
                }
                None => {
                    s = t.to_string();
                    break;
                }
            }
        }
        // (3)-(5) Leaders and blobs.
        loop {
            let mut changed = false;
            let t = s.trim_start();
            if t.len() != s.len() {
                s = t.to_string();
            }
            if let Some(rest) = strip_leader(&s) {
                s = rest.to_string();
                reply = true;
                changed = true;
            }
            if let Some(rest) = strip_blob(&s)
                && !rest.is_empty()
            {
                s = rest.to_string();
                changed = true;
            }
            if !changed {
                break;
            }
        }
        // (6) `[fwd: ...]`.
        if s.len() >= 6 && s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("[fwd:")) && s.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
            reply = true;
            continue;
        }
        return (s, reply);
    }
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let at = s.len().checked_sub(suffix.len())?;
    s.get(at..).filter(|t| t.eq_ignore_ascii_case(suffix)).map(|_| &s[..at])
}

/// `s` after a `subj-blob` (`[...]` and white space), if it starts with one.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let close = rest.find([']', '['])?;
    (rest.as_bytes()[close] == b']').then(|| rest[close + 1..].trim_start_matches(' '))
}

/// `s` after a `subj-leader`'s `*subj-blob subj-refwd`, if it starts with one.
fn strip_leader(s: &str) -> Option<&str> {
    let mut rest = s;
    loop {
        if let Some(after) = strip_refwd(rest) {
            return Some(after);
        }
        rest = strip_blob(rest)?;
    }
}

/// `s` after a `subj-refwd` (`re`, `fw` or `fwd`, white space, an optional blob, `:`).
fn strip_refwd(s: &str) -> Option<&str> {
    let lower = s.get(..3).map(str::to_ascii_lowercase).unwrap_or_else(|| s.to_ascii_lowercase());
    let word = if lower.starts_with("fwd") {
        3
    } else if lower.starts_with("fw") || lower.starts_with("re") {
        2
    } else {
        return None;
    };
    let mut rest = s[word..].trim_start_matches(' ');
    if let Some(after) = strip_blob(rest) {
        rest = after;
    }
    rest.strip_prefix(':')
}

/// Compares two messages by the criteria, then by sequence number.
pub fn compare(a: &Facts, b: &Facts, criteria: &[Criterion]) -> Ordering {
    for c in criteria {
        let o = match c.key {
            SortKey::Arrival => a.arrival.cmp(&b.arrival),
            SortKey::Cc => a.cc.cmp(&b.cc),
            SortKey::Date => a.sent.cmp(&b.sent),
            SortKey::From => a.from.cmp(&b.from),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Subject => a.subject.cmp(&b.subject),
            SortKey::To => a.to.cmp(&b.to),
            SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
            SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
        };
        let o = if c.reverse { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.seq.cmp(&b.seq)
}

/// The messages in sort order (their indexes in `facts`).
pub fn sort(facts: &[Facts], criteria: &[Criterion]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..facts.len()).collect();
    order.sort_by(|&x, &y| compare(&facts[x], &facts[y], criteria));
    order
}

/// `* ESEARCH (TAG "t") [UID] MIN n MAX n ALL set COUNT n` for sorted `found` (RFC 5267 §3.2:
/// MIN and MAX are the first and last in sort order, ALL keeps the order).
pub fn esort_response(ret: &Return, tag: &str, uid: bool, found: &[u32]) -> String {
    let mut s = format!("* ESEARCH (TAG \"{tag}\")");
    if uid {
        s.push_str(" UID");
    }
    if let (Some(first), Some(last)) = (found.first(), found.last()) {
        if ret.min {
            s.push_str(&format!(" MIN {first}"));
        }
        if ret.max {
            s.push_str(&format!(" MAX {last}"));
        }
        if ret.all {
            s.push_str(&format!(" ALL {}", ordered_set(found)));
        }
    }
    if ret.count {
        s.push_str(&format!(" COUNT {}", found.len()));
    }
    s
}

/// A sequence set keeping the order of `numbers`: ascending runs become ranges.
fn ordered_set(numbers: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let mut j = i;
        while j + 1 < numbers.len() && numbers[j + 1] == numbers[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}:{}", numbers[i], numbers[j]) } else { numbers[i].to_string() });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> (String, bool) {
        let (b, r) = base_subject(s);
        (b, r)
    }

    #[test]
    fn base_subjects_per_rfc_5256() {
        assert_eq!(base("Hello"), ("Hello".into(), false));
        assert_eq!(base("Re: Hello"), ("Hello".into(), true));
        assert_eq!(base("RE: re: Fwd: Hello"), ("Hello".into(), true));
        assert_eq!(base("Re[2]: Hello"), ("Hello".into(), true));
        assert_eq!(base("Fw:Hello"), ("Hello".into(), true));
        assert_eq!(base("Hello (fwd)"), ("Hello".into(), true));
        assert_eq!(base("Hello (fwd) (FWD)  "), ("Hello".into(), true));
        assert_eq!(base("[list] Re: Hello"), ("Hello".into(), true));
        assert_eq!(base("[list] Hello"), ("Hello".into(), false));
        // A blob that is the whole subject stays.
        assert_eq!(base("[list]"), ("[list]".into(), false));
        assert_eq!(base("Re: [list]"), ("[list]".into(), true));
        assert_eq!(base("[Fwd: Re: Hello]"), ("Hello".into(), true));
        assert_eq!(base("[fwd: [fwd: Hello (fwd)]]"), ("Hello".into(), true));
        assert_eq!(base("  Hello \t\r\n  world  "), ("Hello world".into(), false));
        assert_eq!(base("Reply: x"), ("Reply: x".into(), false));
        assert_eq!(base("Re : x"), ("x".into(), true));
        assert_eq!(base(""), ("".into(), false));
        assert_eq!(base("Re:"), ("".into(), true));
    }

    #[test]
    fn criteria() {
        let list = |w: &[&str]| Arg::List(w.iter().map(|s| Arg::Atom(s.to_string())).collect());
        assert_eq!(
            parse_criteria(&list(&["reverse", "DATE", "subject"])).unwrap(),
            [
                Criterion { key: SortKey::Date, reverse: true },
                Criterion { key: SortKey::Subject, reverse: false }
            ]
        );
        assert!(parse_criteria(&list(&[])).is_err());
        assert!(parse_criteria(&list(&["REVERSE"])).is_err());
        assert!(parse_criteria(&list(&["REVERSE", "REVERSE", "DATE"])).is_err());
        assert!(parse_criteria(&list(&["BOGUS"])).is_err());
        assert!(parse_criteria(&Arg::Atom("DATE".into())).is_err());
    }

    #[test]
    fn facts_from_headers() {
        let h = b"From: \"Zed\" <alice@example.org>\r\nTo: bob@example.org, c@d\r\n\
                  Subject: Re: [x] Fwd: Topic\r\nDate: Fri, 22 Feb 2008 02:00:00 +0200\r\n\
                  Message-ID: <m1@h>\r\nIn-Reply-To: <p@h> (comment) <q@h>\r\n\r\n";
        let f = Facts::from_header(3, h, 7, 10);
        assert_eq!((f.from.as_str(), f.to.as_str(), f.cc.as_str()), ("ALICE", "BOB", ""));
        assert_eq!((f.display_from.as_str(), f.display_to.as_str()), ("ZED", "BOB@EXAMPLE.ORG"));
        assert_eq!((f.subject.as_str(), f.reply), ("TOPIC", true));
        assert_eq!(f.sent, 1_203_638_400);
        assert!(fold("Émile") > fold("Erin") && fold("Émile") < fold("frank"));
        assert_eq!(f.message_id.as_deref(), Some("m1@h"));
        assert_eq!(f.references, ["p@h"]);
        let f = Facts::from_header(2, b"To: z: aa@aa.org, bb@bb.org;\r\n\r\n", 0, 0);
        assert_eq!((f.to.as_str(), f.display_to.as_str()), ("Z", "Z"));
        let f = Facts::from_header(1, b"Subject: x\r\nReferences: <a@b> <c@d>\r\n\r\n", 99, 1);
        assert_eq!((f.sent, f.references.len()), (99, 2));
    }

    #[test]
    fn order_with_reverse_and_ties() {
        let f = |seq, sent, size| Facts { seq, sent, size, ..Facts::default() };
        let facts = [f(1, 5, 10), f(2, 3, 10), f(3, 5, 30), f(4, 3, 20)];
        let by = |c: &[Criterion]| sort(&facts, c).into_iter().map(|i| facts[i].seq).collect::<Vec<_>>();
        let date = Criterion { key: SortKey::Date, reverse: false };
        let rsize = Criterion { key: SortKey::Size, reverse: true };
        assert_eq!(by(&[date]), [2, 4, 1, 3]);
        assert_eq!(by(&[Criterion { reverse: true, ..date }]), [1, 3, 2, 4]);
        assert_eq!(by(&[rsize, date]), [3, 4, 2, 1]);
    }

    #[test]
    fn esort_keeps_order() {
        let r = Return { min: true, max: true, all: true, count: true, save: false };
        assert_eq!(
            esort_response(&r, "t", true, &[5, 3, 4, 9]),
            "* ESEARCH (TAG \"t\") UID MIN 5 MAX 9 ALL 5,3:4,9 COUNT 4"
        );
        assert_eq!(esort_response(&Return::ALL, "t", false, &[]), "* ESEARCH (TAG \"t\")");
    }
}
