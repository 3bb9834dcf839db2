//! `dovecot-uidlist`: the file that gives each Maildir message its IMAP UID, so that Dovecot and
//! mailroom agree on UIDs, UIDVALIDITY and (through them) POP3 UIDLs.
//!
//! Version 3, as Dovecot 2.x writes it:
//!
//! ```text
//! 3 V1700000000 N4 G0123456789abcdef0123456789abcdef
//! 1 :1700000000.M1P2.host,S=120,W=123
//! 2 P0000000200000001 W300 :1700000001.M5P2.host
//! ```
//!
//! The header has the version, then letter-value items: `V` UIDVALIDITY, `N` the next UID, `G`
//! the mailbox GUID. Each record is a UID, optional letter-value extensions (`P` POP3 UIDL, `O`
//! POP3 order, `G` message GUID, `S`/`W` sizes), and after ` :` the file's base name (older
//! Dovecots wrote the whole name with `:2,` flags; [`Record::base`] strips it). Version 1 is
//! `1 <uidvalidity> <nextuid>` with `<uid> <name>` records. Unknown items are kept verbatim.
//!
//! Writers append records under the dotlock, or rewrite the file into the lock and rename it.
//! The header's `N` of an appended file is stale, so the next UID is the larger of `N` and the
//! last UID + 1; it never goes down.

use std::fmt::Write as _;

use crate::flags::base_name;

/// The file's name in a mailbox directory.
pub const FILE: &str = "dovecot-uidlist";

/// One message's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its UID.
    pub uid: u32,
    /// Extensions as written, each a letter and its value (`P0000000100000001`).
    pub ext: Vec<String>,
    /// The file's base name (without the `:2,` info).
    pub base: String,
}

impl Record {
    /// The value of extension `letter`, if present.
    pub fn ext(&self, letter: char) -> Option<&str> {
        self.ext.iter().find_map(|e| e.strip_prefix(letter))
    }
}

/// A parsed `dovecot-uidlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidList {
    /// The mailbox's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The UID the next new message gets.
    pub next_uid: u32,
    /// The mailbox GUID (32 hex digits), when the header has one.
    pub guid: Option<String>,
    /// Other header items, kept for rewrites.
    pub header_extra: Vec<String>,
    /// Records in ascending UID order.
    pub records: Vec<Record>,
}

/// A file we cannot read at all (its header); bad records are only skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dovecot-uidlist: unreadable header {0:?}")]
pub struct BadHeader(pub String);

impl UidList {
    /// An empty list for a new mailbox.
    pub fn new(uidvalidity: u32, guid: String) -> UidList {
        UidList { uidvalidity, next_uid: 1, guid: Some(guid), header_extra: Vec::new(), records: Vec::new() }
    }

    /// Parses the file's text. Records that are malformed or whose UID does not ascend are
    /// skipped (their messages get new UIDs), as Dovecot does with a damaged file.
    pub fn parse(text: &str) -> Result<UidList, BadHeader> {
        let mut lines = text.split('\n');
        let header = lines.next().unwrap_or_default();
        let mut list = parse_header(header).ok_or_else(|| BadHeader(header.chars().take(80).collect()))?;
        let mut last = 0;
        for line in lines {
            let Some(rec) = parse_record(line) else { continue };
            if rec.uid <= last {
                continue;
            }
            last = rec.uid;
            list.records.push(rec);
        }
        list.next_uid = list.next_uid.max(last.saturating_add(1));
        Ok(list)
    }

    /// The file's text, version 3.
    pub fn to_text(&self) -> String {
        let mut out = format!("3 V{} N{}", self.uidvalidity, self.next_uid);
        if let Some(g) = &self.guid {
            let _ = write!(out, " G{g}");
        }
        for item in &self.header_extra {
            let _ = write!(out, " {item}");
        }
        out.push('\n');
        for r in &self.records {
            out.push_str(&record_line(r));
        }
        out
    }

    /// The record of `uid`.
    pub fn get(&self, uid: u32) -> Option<&Record> {
        self.records.binary_search_by_key(&uid, |r| r.uid).ok().map(|i| &self.records[i])
    }
}

/// One record as a line, for appending.
pub fn record_line(r: &Record) -> String {
    let mut line = r.uid.to_string();
    for e in &r.ext {
        line.push(' ');
        line.push_str(e);
    }
    line.push_str(" :");
    line.push_str(&r.base);
    line.push('\n');
    line
}

fn parse_header(line: &str) -> Option<UidList> {
    let mut items = line.split(' ');
    match items.next()? {
        "1" | "2" => {
            let uidvalidity = items.next()?.parse().ok()?;
            let next_uid = items.next()?.parse().ok()?;
            Some(UidList { uidvalidity, next_uid, guid: None, header_extra: Vec::new(), records: Vec::new() })
        }
        "3" => {
            let mut list = UidList::new(0, String::new());
            list.guid = None;
            for item in items.filter(|i| !i.is_empty()) {
                let (letter, value) = item.split_at(1);
                match letter {
                    "V" => list.uidvalidity = value.parse().ok()?,
                    "N" => list.next_uid = value.parse().ok()?,
                    "G" => list.guid = Some(value.to_string()),
                    _ => list.header_extra.push(item.to_string()),
                }
            }
            (list.uidvalidity != 0).then_some(list)
        }
        _ => None,
    }
}

fn parse_record(line: &str) -> Option<Record> {
    let (uid, rest) = line.split_once(' ')?;
    let uid: u32 = uid.parse().ok().filter(|&u| u > 0)?;
    let (ext, name) = match rest.strip_prefix(':') {
        Some(name) => ("", name),
        None => match rest.split_once(" :") {
            Some((ext, name)) => (ext, name),
            // Version 1: `<uid> <name>`.
            None if !rest.contains(' ') => ("", rest),
            None => return None,
        },
    };
    let base = base_name(name);
    if base.is_empty() || base.contains('/') {
        return None;
    }
    let ext = ext.split(' ').filter(|e| !e.is_empty()).map(String::from).collect();
    Some(Record { uid, ext, base: base.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOVECOT: &str = "3 V1700000000 N5 G00112233445566778899aabbccddeeff\n\
        1 :1700000000.M1P2.host,S=120,W=123\n\
        2 P0000000200000001 W300 :1700000001.M5P2.host\n\
        4 :1700000004.M9P2.host,S=9:2,S\n";

    #[test]
    fn parses_version_3() {
        let l = UidList::parse(DOVECOT).unwrap();
        assert_eq!((l.uidvalidity, l.next_uid), (1_700_000_000, 5));
        assert_eq!(l.guid.as_deref(), Some("00112233445566778899aabbccddeeff"));
        assert_eq!(l.records.len(), 3);
        assert_eq!(l.get(2).unwrap().ext('P'), Some("0000000200000001"));
        assert_eq!(l.get(2).unwrap().ext('W'), Some("300"));
        assert_eq!(l.get(4).unwrap().base, "1700000004.M9P2.host,S=9");
        assert!(l.get(3).is_none());
    }

    #[test]
    fn round_trips() {
        let l = UidList::parse(DOVECOT).unwrap();
        let text = l.to_text();
        assert_eq!(UidList::parse(&text).unwrap(), l);
        assert!(text.starts_with("3 V1700000000 N5 G00112233445566778899aabbccddeeff\n1 :"));
        assert!(text.contains("\n2 P0000000200000001 W300 :1700000001.M5P2.host\n"));
    }

    #[test]
    fn version_1_and_stale_next_uid() {
        let l = UidList::parse("1 1234 3\n1 a.host:2,S\n7 b.host\n").unwrap();
        assert_eq!((l.uidvalidity, l.next_uid), (1234, 8));
        assert_eq!(l.records.iter().map(|r| r.base.as_str()).collect::<Vec<_>>(), ["a.host", "b.host"]);
    }

    #[test]
    fn damage_is_skipped_not_fatal() {
        let l = UidList::parse("3 V9 N2 X1\nnonsense\n0 :zero\n5 :five\n3 :three\n6 :a/b\n\n6 :six").unwrap();
        assert_eq!(l.records.iter().map(|r| r.uid).collect::<Vec<_>>(), [5, 6]);
        assert_eq!(l.next_uid, 7);
        assert_eq!(l.header_extra, ["X1"]);
        for bad in ["", "3 N2", "9 V1", "3 Vx N1", "1 x 2"] {
            assert!(UidList::parse(bad).is_err(), "{bad:?}");
        }
    }
}
