//! The syntax imap-codec 1.0 refuses and we speak: LIST-EXTENDED and LIST-STATUS options
//! ([`list`](super::list)), STATUS SIZE, DELETED-STORAGE and HIGHESTMODSEQ
//! ([`status`](super::status)), SEARCH RETURN ([`esearch`](super::esearch)), SEARCHRES's `$` in
//! place of a sequence set, FETCH BINARY items, APPEND's `~{n}` literal8 (RFC 3516), and
//! CONDSTORE/QRESYNC's parameters, modifiers, FETCH item and search key
//! ([`condstore`]).
//!
//! Where the rest of the command is plain RFC 3501, it is rewritten into what imap-codec reads
//! and parsed by it: `$` becomes [`SAVED`], a sequence number no mailbox reaches, which the
//! session swaps for the saved result; `BINARY[1]<0.9>` becomes `BODY.PEEK[1]<0.9>` and the
//! FETCH item `MODSEQ` becomes `UID`, each with its index among the items remembered so that
//! FETCH answers what was asked; SELECT's parameters, FETCH's and STORE's modifiers are taken
//! off; the search key `MODSEQ n` becomes `HEADER X-Mailroom-Modseq n`
//! ([`MODSEQ_KEY`]), read back as MODSEQ only in a
//! command rewritten here.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use super::args::{self, Arg};
use super::condstore::{self, FetchModifiers, MODSEQ_KEY, SelectParams};
use super::esearch::Return;
use super::list::ListCommand;
use super::metadata;
use super::sort::{self as sorting, Criterion};
use super::status::{self, StatusItem};
use super::thread::Algorithm;

/// The sequence number that stands for `$` once rewritten.
pub const SAVED: u32 = u32::MAX;

/// A command we parsed (partly) by hand.
#[derive(Debug, Clone, PartialEq)]
pub enum Ext {
    /// LIST with RFC 5258 syntax.
    List(ListCommand),
    /// STATUS with items imap-codec does not know.
    Status {
        /// The mailbox name as sent.
        mailbox: Vec<u8>,
        /// The items.
        items: Vec<StatusItem>,
    },
    /// SEARCH or UID SEARCH (a `CommandBody::Search`), with RETURN options if given, and
    /// whether MODSEQ keys were rewritten into it.
    Search(Box<CommandBody<'static>>, Option<Return>, bool),
    /// FETCH or UID FETCH: the items at these indexes were BINARY ones; CONDSTORE's parts.
    Fetch(Box<CommandBody<'static>>, Vec<(usize, Binary)>, FetchMods),
    /// STORE, COPY or MOVE on `$`.
    Codec(Box<CommandBody<'static>>),
    /// STORE or UID STORE with UNCHANGEDSINCE (RFC 7162).
    Store(Box<CommandBody<'static>>, u64),
    /// SELECT or EXAMINE with parameters (RFC 7162 CONDSTORE, QRESYNC).
    Select {
        /// The mailbox name as sent.
        mailbox: Vec<u8>,
        /// EXAMINE.
        read_only: bool,
        /// The parameters.
        params: SelectParams,
    },
    /// UID EXPUNGE on `$`.
    UidExpunge(SequenceSet),
    /// APPEND (a `CommandBody::Append`) of binary content with NUL bytes: the message to store.
    AppendBinary(Box<CommandBody<'static>>, Vec<u8>),
    /// SORT or THREAD (RFC 5256) and their UID forms: how to order, and the charset and search
    /// keys as a `CommandBody::Search` (UID for the UID forms), whose keys hold MODSEQ if the
    /// flag says so.
    SortThread(Order, Box<CommandBody<'static>>, bool),
    /// GETMETADATA (RFC 5464).
    GetMetadata(metadata::Get),
    /// SETMETADATA (RFC 5464).
    SetMetadata(metadata::Set),
}

/// What SORT or THREAD does with the messages found.
#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    /// SORT, with ESORT's RETURN options if given (RFC 5267).
    Sort(Vec<Criterion>, Option<Return>),
    /// THREAD.
    Thread(Algorithm),
}

/// What a BINARY FETCH item asks (RFC 3516).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// BINARY[...] (`peek`: BINARY.PEEK), the decoded content.
    Content {
        /// Does not set `\Seen`.
        peek: bool,
    },
    /// BINARY.SIZE[...], the decoded size.
    Size,
}

/// What FETCH asks of CONDSTORE and QRESYNC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchMods {
    /// The indexes of the items that were `MODSEQ` (rewritten as `UID`).
    pub modseq_at: Vec<usize>,
    /// The modifiers (`CHANGEDSINCE`, `VANISHED`).
    pub modifiers: FetchModifiers,
}

/// A hand-parsed command and whether it used `$`.
#[derive(Debug, Clone, PartialEq)]
pub struct Extended {
    /// The command.
    pub ext: Ext,
    /// Some sequence set in it is [`SAVED`] standing for `$`.
    pub uses_saved: bool,
}

/// Whether `set` is the stand-in for `$`.
pub fn is_saved(set: &SequenceSet) -> bool {
    matches!(set.0.as_ref(), [Sequence::Single(SeqOrUid::Value(v))] if v.get() == SAVED)
}

/// Parses a command imap-codec refused; `None` when it is none of ours.
pub fn parse(buf: &[u8], name: &str) -> Option<Result<Extended, &'static str>> {
    let words = if name.starts_with("UID ") { 2 } else { 1 };
    let plain = |ext: Ext| Extended { ext, uses_saved: false };
    Some(match name {
        "LIST" => args::after_name(buf, 1)
            .map(args::plain)
            .and_then(|a| ListCommand::parse(&a))
            .map(Ext::List)
            .map(plain),
        "STATUS" => args::after_name(buf, 1)
            .map(args::plain)
            .and_then(|a| status::parse_command(&a))
            .map(|(mailbox, items)| plain(Ext::Status { mailbox, items })),
        "SELECT" | "EXAMINE" => args::after_name(buf, 1)
            .map(args::plain)
            .and_then(|a| condstore::parse_select(&a))
            .map(|(mailbox, params)| plain(Ext::Select { mailbox, read_only: name == "EXAMINE", params })),
        "SEARCH" | "UID SEARCH" => search(buf, words),
        "SORT" | "UID SORT" => sort_thread(buf, words, false),
        "THREAD" | "UID THREAD" => sort_thread(buf, words, true),
        "FETCH" | "UID FETCH" => fetch(buf, words),
        "STORE" | "UID STORE" => store(buf, words)?,
        "COPY" | "UID COPY" | "MOVE" | "UID MOVE" => {
            let rewritten = first_arg_saved(buf, words)?;
            codec(&rewritten).map(|body| Extended { ext: Ext::Codec(Box::new(body)), uses_saved: true })
        }
        "GETMETADATA" => args::after_name(buf, 1)
            .map(args::plain)
            .and_then(|a| metadata::parse_get(&a))
            .map(|g| plain(Ext::GetMetadata(g))),
        "SETMETADATA" => args::after_name(buf, 1)
            .map(args::plain)
            .and_then(|a| metadata::parse_set(&a))
            .map(|s| plain(Ext::SetMetadata(s))),
        "UID EXPUNGE" => {
            first_arg_saved(buf, words)?;
            let set = SequenceSet::try_from(SAVED).expect("a valid number");
            Ok(Extended { ext: Ext::UidExpunge(set), uses_saved: true })
        }
        _ => return None,
    })
}

/// APPEND with a literal8 (`~{n}`, RFC 3516 §4.4) as its message rewritten as an ordinary
/// literal, for imap-codec; `None` when there is none. Binary content may hold NUL, which no
/// ordinary literal may: then the NULs are replaced for the parse, and the content itself is
/// returned too, to be stored as sent.
pub fn append_literal8(buf: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    // The message is the last literal: its announcement is followed by exactly n bytes + CRLF.
    let tilde = (0..buf.len().saturating_sub(1))
        .rev()
        .filter(|&i| &buf[i..i + 2] == b"~{")
        .find(|&i| literal_end(buf, i + 1).is_some_and(|end| end + 2 == buf.len()))?;
    let content_start = tilde + buf[tilde..].iter().position(|&b| b == b'\n')? + 1;
    let mut out = buf[..tilde].to_vec();
    out.extend_from_slice(&buf[tilde + 1..]);
    let content = &buf[content_start..buf.len() - 2];
    if !content.contains(&0) {
        return Some((out, None));
    }
    let start = content_start - 1;
    out[start..start + content.len()].iter_mut().filter(|b| **b == 0).for_each(|b| *b = 1);
    Some((out, Some(content.to_vec())))
}

/// `buf` with every quoted string that holds UTF-8 (RFC 9051 §9 `QUOTED-CHAR`, which imap-codec
/// 1.0 refuses) turned into a literal; `None` when there is none.
pub fn utf8_quoted_as_literals(buf: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(buf.len() + 16);
    let (mut i, mut changed) = (0, false);
    while i < buf.len() {
        match buf[i] {
            b'"' => {
                let end = quoted_end(buf, i)?;
                let inner = &buf[i + 1..end - 1];
                if inner.is_ascii() {
                    out.extend_from_slice(&buf[i..end]);
                } else {
                    let mut text = Vec::with_capacity(inner.len());
                    let mut j = 0;
                    while j < inner.len() {
                        j += usize::from(inner[j] == b'\\');
                        text.extend(inner.get(j));
                        j += 1;
                    }
                    out.extend_from_slice(format!("{{{}+}}\r\n", text.len()).as_bytes());
                    out.extend_from_slice(&text);
                    changed = true;
                }
                i = end;
            }
            b'{' if literal_end(buf, i).is_some() => {
                let end = literal_end(buf, i)?;
                out.extend_from_slice(&buf[i..end]);
                i = end;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

/// Parses a rewritten command with imap-codec.
fn codec(buf: &[u8]) -> Result<CommandBody<'static>, &'static str> {
    match CommandCodec::default().decode_static(buf) {
        Ok(([], Command { body, .. })) => Ok(body),
        _ => Err("Invalid arguments"),
    }
}

/// `buf` with the first argument `$` replaced by [`SAVED`]; `None` if it is not `$`. Looked
/// at byte by byte: what follows (FETCH items, say) need not be something [`args`] reads.
fn first_arg_saved(buf: &[u8], words: usize) -> Option<Vec<u8>> {
    let at = buf.iter().enumerate().filter(|(_, b)| **b == b' ').nth(words)?.0 + 1;
    let is_dollar = buf.get(at) == Some(&b'$') && matches!(buf.get(at + 1), Some(b' ' | b'\r'));
    is_dollar.then(|| replace_saved(buf, &[at]))
}

/// `buf` with the `$` at each offset replaced by [`SAVED`].
fn replace_saved(buf: &[u8], at: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len() + 10 * at.len());
    let mut from = 0;
    for &i in at {
        out.extend_from_slice(&buf[from..i]);
        out.extend_from_slice(SAVED.to_string().as_bytes());
        from = i + 1;
    }
    out.extend_from_slice(&buf[from..]);
    out
}

/// STORE with `$` and/or `(UNCHANGEDSINCE n)`; `None` when it has neither.
fn store(buf: &[u8], words: usize) -> Option<Result<Extended, &'static str>> {
    let saved = first_arg_saved(buf, words);
    let uses_saved = saved.is_some();
    let buf = saved.unwrap_or_else(|| buf.to_vec());
    let at = buf.iter().enumerate().filter(|(_, b)| **b == b' ').nth(words + 1)?.0 + 1;
    let (rewritten, unchanged_since) = if buf.get(at) == Some(&b'(') {
        let parsed = args::read_at(&buf, at, 1).and_then(|(a, end)| {
            let n = condstore::parse_store_modifiers(&a[0])?;
            if buf.get(end) != Some(&b' ') {
                return Err("Invalid arguments");
            }
            Ok((n, end + 1))
        });
        match parsed {
            Ok((n, rest)) => ([&buf[..at], &buf[rest..]].concat(), Some(n)),
            Err(why) => return Some(Err(why)),
        }
    } else if uses_saved {
        (buf, None)
    } else {
        return None;
    };
    Some(codec(&rewritten).map(|body| {
        let ext = match unchanged_since {
            Some(n) => Ext::Store(Box::new(body), n),
            None => Ext::Codec(Box::new(body)),
        };
        Extended { ext, uses_saved }
    }))
}

/// `buf` with each `(start, end, text)` range replaced (ranges ascending, apart).
fn replace_ranges(buf: &[u8], edits: &[(usize, usize, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len() + 24 * edits.len());
    let mut from = 0;
    for (start, end, text) in edits {
        out.extend_from_slice(&buf[from..*start]);
        out.extend_from_slice(text.as_bytes());
        from = *end;
    }
    out.extend_from_slice(&buf[from..]);
    out
}

/// Which `$` and `MODSEQ` atoms, in the order the reader met them, are search keys.
#[derive(Default)]
struct Marks {
    dollars: Vec<bool>,
    modseqs: Vec<bool>,
}

/// SEARCH [RETURN (...)] criteria, with `$` where a sequence set may stand and MODSEQ keys.
fn search(buf: &[u8], words: usize) -> Result<Extended, &'static str> {
    let parsed = args::after_name(buf, words)?;
    let (ret, first_key) = match parsed.as_slice() {
        [(r, _), (opts, _), (_, key), ..] if r.keyword().as_deref() == Some("RETURN") => {
            (Some(Return::parse(opts)?), key.start)
        }
        [(r, _), ..] if r.keyword().as_deref() == Some("RETURN") => return Err("Invalid SEARCH RETURN"),
        [(_, key), ..] => (None, key.start),
        [] => return Err("SEARCH needs criteria"),
    };
    let keys: Vec<Arg> = parsed.iter().map(|(a, _)| a.clone()).collect();
    let skip = if ret.is_some() { 2 } else { 0 };
    let mut marks = Marks::default();
    mark_sets(&keys[skip..], &mut marks, 0)?;
    let dollars = args::dollars(buf, words)?;
    let modseqs = args::modseq_atoms(buf, words)?;
    // `$` atoms in the RETURN list are none (it holds only option names).
    let mut edits: Vec<(usize, usize, String)> = dollars
        .iter()
        .zip(&marks.dollars)
        .filter(|(_, m)| **m)
        .map(|(&o, _)| (o, o + 1, SAVED.to_string()))
        .collect();
    let uses_saved = !edits.is_empty();
    for (&o, _) in modseqs.iter().zip(&marks.modseqs).filter(|(_, m)| **m) {
        // MODSEQ [entry-name entry-type] value: three arguments when a string follows.
        let (two, _) = args::read_at(buf, o, 2)?;
        let n = if matches!(two[1], Arg::Str(_)) { 4 } else { 2 };
        let (all, end) = args::read_at(buf, o, n)?;
        let value = condstore::search_modseq(&all[1..])?;
        edits.push((o, end, format!("HEADER {MODSEQ_KEY} {value}")));
    }
    edits.sort_by_key(|e| e.0);
    let modseq = marks.modseqs.iter().any(|m| *m);
    if ret.is_none() && edits.is_empty() {
        return Err("Invalid arguments");
    }
    let head_len = buf.iter().enumerate().filter(|(_, b)| **b == b' ').nth(words).map_or(0, |(i, _)| i + 1);
    let mut cmd = buf[..head_len].to_vec();
    let shifted: Vec<(usize, usize, String)> =
        edits.into_iter().map(|(s, e, t)| (s - first_key, e - first_key, t)).collect();
    cmd.extend_from_slice(&replace_ranges(&buf[first_key..], &shifted));
    let body = codec(&cmd)?;
    Ok(Extended { ext: Ext::Search(Box::new(body), ret, modseq), uses_saved })
}

/// `[RETURN (...)] (criteria) charset keys` of SORT, or `algorithm charset keys` of THREAD
/// (RFC 5256 §4, RFC 5267 §3): the keys are read as the SEARCH `CHARSET charset keys` would be.
fn sort_thread(buf: &[u8], words: usize, thread: bool) -> Result<Extended, &'static str> {
    let parsed = args::after_name(buf, words)?;
    let (order, charset_at) = if thread {
        let algorithm = parsed.first().and_then(|(a, _)| a.keyword()).ok_or("THREAD needs an algorithm")?;
        (Order::Thread(Algorithm::parse(&algorithm).ok_or("Unknown THREAD algorithm")?), 1)
    } else {
        let (ret, at) = match parsed.as_slice() {
            [(r, _), (opts, _), ..] if r.keyword().as_deref() == Some("RETURN") => {
                (Some(Return::parse(opts)?), 2)
            }
            _ => (None, 0),
        };
        let criteria = sorting::parse_criteria(&parsed.get(at).ok_or("SORT needs criteria")?.0)?;
        (Order::Sort(criteria, ret), at + 1)
    };
    let (Some((charset, range)), Some(_)) = (parsed.get(charset_at), parsed.get(charset_at + 1)) else {
        return Err("Missing charset or search keys");
    };
    if charset.astring().is_none() {
        return Err("Invalid charset");
    }
    let tag = buf.split(|&b| b == b' ').next().unwrap_or_default();
    let mut cmd = tag.to_vec();
    cmd.extend_from_slice(if words == 2 { b" UID SEARCH CHARSET " } else { b" SEARCH CHARSET " });
    cmd.extend_from_slice(&buf[range.start..]);
    let (body, uses_saved, modseq) = match codec(&cmd) {
        Ok(body) => (body, false, false),
        Err(_) => match search(&cmd, words)? {
            Extended { ext: Ext::Search(body, None, modseq), uses_saved } => (*body, uses_saved, modseq),
            _ => return Err("Invalid arguments"),
        },
    };
    if !matches!(body, CommandBody::Search { .. }) {
        return Err("Invalid arguments");
    }
    Ok(Extended { ext: Ext::SortThread(order, Box::new(body), modseq), uses_saved })
}

/// How many arguments follow each search key that takes some (RFC 9051 §6.4.4).
fn key_arity(key: &str) -> Option<usize> {
    Some(match key {
        "ALL" | "ANSWERED" | "DELETED" | "DRAFT" | "FLAGGED" | "NEW" | "OLD" | "RECENT" | "SEEN"
        | "UNANSWERED" | "UNDELETED" | "UNDRAFT" | "UNFLAGGED" | "UNSEEN" => 0,
        "BCC" | "BEFORE" | "BODY" | "CC" | "FROM" | "KEYWORD" | "LARGER" | "ON" | "SENTBEFORE" | "SENTON"
        | "SENTSINCE" | "SINCE" | "SMALLER" | "SUBJECT" | "TEXT" | "TO" | "UNKEYWORD" | "CHARSET" => 1,
        "HEADER" => 2,
        _ => return None,
    })
}

/// How deep NOT, OR and parentheses may nest in a search: each level is a stack frame here,
/// and a 64 KiB line holds 20,000 ORs.
const MAX_KEY_DEPTH: usize = 32;

/// Walks search keys; pushes, for every `$` atom met in order, whether it stands for a set,
/// and for every `MODSEQ` atom whether it is the key.
fn mark_sets(keys: &[Arg], marks: &mut Marks, depth: usize) -> Result<(), &'static str> {
    let mut i = 0;
    while i < keys.len() {
        i = mark_key(keys, i, marks, depth)?;
    }
    Ok(())
}

/// One key at `keys[i]`, `depth` levels down; returns the index after it.
fn mark_key(keys: &[Arg], i: usize, marks: &mut Marks, depth: usize) -> Result<usize, &'static str> {
    if depth >= MAX_KEY_DEPTH {
        return Err("Search keys nested too deep");
    }
    let key = keys.get(i).ok_or("Missing search key")?;
    let mut strings = |args: &[Arg]| {
        for a in args {
            count_dollars(a, marks);
        }
    };
    match key {
        Arg::List(inner) => mark_sets(inner, marks, depth + 1).map(|()| i + 1),
        Arg::Str(_) => Err("Invalid search key"),
        Arg::Atom(a) if a == "$" => {
            marks.dollars.push(true);
            Ok(i + 1)
        }
        Arg::Atom(a) => match a.to_ascii_uppercase().as_str() {
            "NOT" => mark_key(keys, i + 1, marks, depth + 1),
            "OR" => mark_key(keys, mark_key(keys, i + 1, marks, depth + 1)?, marks, depth + 1),
            "UID" => match keys.get(i + 1) {
                Some(Arg::Atom(s)) => {
                    marks.dollars.extend((s == "$").then_some(true));
                    marks.modseqs.extend(s.eq_ignore_ascii_case("MODSEQ").then_some(false));
                    Ok(i + 2)
                }
                _ => Err("UID needs a sequence set"),
            },
            "MODSEQ" => {
                marks.modseqs.push(true);
                // MODSEQ [entry-name entry-type] value.
                let n = if matches!(keys.get(i + 1), Some(Arg::Str(_))) { 3 } else { 1 };
                for a in keys.get(i + 1..i + 1 + n).ok_or("Missing MODSEQ argument")? {
                    count_dollars(a, marks);
                }
                Ok(i + 1 + n)
            }
            k => {
                // A sequence set (no arguments) or a key with arguments that are strings.
                let n = key_arity(k).unwrap_or(0);
                strings(keys.get(i + 1..i + 1 + n).ok_or("Missing search argument")?);
                Ok(i + 1 + n)
            }
        },
    }
}

/// Every `$` atom inside `a` is not a set, every `MODSEQ` atom not the key.
fn count_dollars(a: &Arg, marks: &mut Marks) {
    match a {
        Arg::Atom(s) if s == "$" => marks.dollars.push(false),
        Arg::Atom(s) if s.eq_ignore_ascii_case("MODSEQ") => marks.modseqs.push(false),
        Arg::List(items) => items.iter().for_each(|i| count_dollars(i, marks)),
        _ => {}
    }
}

/// FETCH with `$` and/or BINARY items.
fn fetch(buf: &[u8], words: usize) -> Result<Extended, &'static str> {
    let saved = first_arg_saved(buf, words);
    let uses_saved = saved.is_some();
    let buf = saved.unwrap_or_else(|| buf.to_vec());
    // The items start after the sequence set.
    let head = buf.iter().enumerate().filter(|(_, b)| **b == b' ').nth(words + 1).map(|(i, _)| i + 1);
    let head = head.ok_or("Invalid arguments")?;
    let (buf, modifiers) = fetch_modifiers(&buf, head)?;
    let (rewritten, binary, modseq_at) = special_items(&buf, head)?;
    if binary.is_empty() && modseq_at.is_empty() && modifiers.is_none() && !uses_saved {
        return Err("Invalid arguments");
    }
    let body = codec(&rewritten)?;
    let mods = FetchMods { modseq_at, modifiers: modifiers.unwrap_or_default() };
    Ok(Extended { ext: Ext::Fetch(Box::new(body), binary, mods), uses_saved })
}

/// The command without the modifiers after its FETCH items (which start at `head`), and the
/// modifiers (RFC 7162 §3.1.4.1, §3.2.6).
fn fetch_modifiers(buf: &[u8], head: usize) -> Result<(Vec<u8>, Option<FetchModifiers>), &'static str> {
    let end = items_end(buf, head).ok_or("Invalid arguments")?;
    match &buf[end..] {
        b"\r\n" => Ok((buf.to_vec(), None)),
        rest if rest.starts_with(b" (") => {
            let (m, after) = args::read_at(buf, end + 1, 1)?;
            if &buf[after..] != b"\r\n" {
                return Err("Invalid arguments");
            }
            let mods = condstore::parse_fetch_modifiers(&m[0])?;
            Ok(([&buf[..end], &b"\r\n"[..]].concat(), Some(mods)))
        }
        _ => Err("Invalid arguments"),
    }
}

/// Where the FETCH items starting at `start` end: after the list's `)`, or after the one item.
fn items_end(buf: &[u8], start: usize) -> Option<usize> {
    let (mut i, mut parens, mut brackets) = (start, 0usize, 0usize);
    while i < buf.len() {
        match buf[i] {
            b'"' => {
                i = quoted_end(buf, i)?;
                continue;
            }
            b'{' => {
                i = literal_end(buf, i)?;
                continue;
            }
            b'(' => parens += 1,
            b')' => {
                parens = parens.checked_sub(1)?;
                if parens == 0 && brackets == 0 {
                    return Some(i + 1);
                }
            }
            b'[' => brackets += 1,
            b']' => brackets = brackets.saturating_sub(1),
            b' ' | b'\r' if parens == 0 && brackets == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A FETCH command as imap-codec can read it, where its BINARY items were, and where its
/// MODSEQ items were.
type Rewritten = (Vec<u8>, Vec<(usize, Binary)>, Vec<usize>);

/// The FETCH items from `start` with each BINARY item as a BODY.PEEK one and each MODSEQ item
/// as UID, and their indexes. Quoted strings and literals (header field names) are copied as
/// they are.
fn special_items(buf: &[u8], start: usize) -> Result<Rewritten, &'static str> {
    let mut out = buf[..start].to_vec();
    let mut found = Vec::new();
    let mut modseq_at = Vec::new();
    let (mut i, mut parens, mut brackets, mut index) = (start, 0usize, 0usize, 0usize);
    let mut item_start = true;
    while i < buf.len() {
        if item_start && brackets == 0 && parens <= 1 && is_modseq_item(&buf[i..]) {
            out.extend_from_slice(b"UID");
            modseq_at.push(index);
            i += "MODSEQ".len();
            item_start = false;
            continue;
        }
        if item_start
            && brackets == 0
            && parens <= 1
            && let Some((kind, len, text)) = binary_item(&buf[i..])?
        {
            out.extend_from_slice(text.as_bytes());
            found.push((index, kind));
            i += len;
            item_start = false;
            continue;
        }
        item_start = false;
        let b = buf[i];
        match b {
            b'"' => {
                let end = quoted_end(buf, i).ok_or("Unterminated quoted string")?;
                out.extend_from_slice(&buf[i..end]);
                i = end;
                continue;
            }
            b'{' => {
                let end = literal_end(buf, i).ok_or("Invalid literal")?;
                out.extend_from_slice(&buf[i..end]);
                i = end;
                continue;
            }
            b'(' => {
                parens += 1;
                item_start = parens == 1 && brackets == 0;
            }
            b')' => parens = parens.saturating_sub(1),
            b'[' => brackets += 1,
            b']' => brackets = brackets.saturating_sub(1),
            b' ' if parens == 1 && brackets == 0 => {
                index += 1;
                item_start = true;
            }
            _ => {}
        }
        out.push(b);
        i += 1;
    }
    Ok((out, found, modseq_at))
}

/// Whether `s` starts with the FETCH item MODSEQ.
fn is_modseq_item(s: &[u8]) -> bool {
    s.get(..6).is_some_and(|w| w.eq_ignore_ascii_case(b"MODSEQ"))
        && matches!(s.get(6), Some(b' ' | b')' | b'\r'))
}

/// A BINARY item at the start of `s`: its kind, its length and its BODY.PEEK rewriting.
fn binary_item(s: &[u8]) -> Result<Option<(Binary, usize, String)>, &'static str> {
    let upper = |n: usize| s.get(..n).map(|p| p.to_ascii_uppercase());
    let (kind, prefix) = if upper(12).as_deref() == Some(b"BINARY.PEEK[") {
        (Binary::Content { peek: true }, 12)
    } else if upper(12).as_deref() == Some(b"BINARY.SIZE[") {
        (Binary::Size, 12)
    } else if upper(7).as_deref() == Some(b"BINARY[") {
        (Binary::Content { peek: false }, 7)
    } else {
        return Ok(None);
    };
    let close = s[prefix..].iter().position(|&b| b == b']').ok_or("Invalid BINARY section")? + prefix;
    let section = std::str::from_utf8(&s[prefix..close]).map_err(|_| "Invalid BINARY section")?;
    let part_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0');
    if !section.is_empty() && !section.split('.').all(part_ok) {
        return Err("Invalid BINARY section");
    }
    let mut len = close + 1;
    let mut text = format!("BODY.PEEK[{section}]");
    if s.get(len) == Some(&b'<') {
        if kind == Binary::Size {
            return Err("BINARY.SIZE takes no partial range");
        }
        let end = s[len..].iter().position(|&b| b == b'>').ok_or("Invalid partial range")? + len;
        text.push_str(std::str::from_utf8(&s[len..=end]).map_err(|_| "Invalid partial range")?);
        len = end + 1;
    }
    if !matches!(s.get(len), Some(b' ' | b')' | b'\r')) {
        return Err("Invalid BINARY item");
    }
    Ok(Some((kind, len, text)))
}

/// The index after the quoted string starting at `i`.
fn quoted_end(buf: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < buf.len() {
        match buf[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            b'\r' | b'\n' => return None,
            _ => j += 1,
        }
    }
    None
}

/// The longest literal announcement from its `{`: 20 digits, `+` or `-`, `}`.
const MAX_ANNOUNCEMENT: usize = 23;

/// The index after the literal (`{n}` CRLF and n bytes) starting at `i`. The `}` is looked for
/// only as far as an announcement can reach: callers try every `{` of a command of up to
/// 64 MiB, and a search to the end for each would be quadratic in hostile input.
fn literal_end(buf: &[u8], i: usize) -> Option<usize> {
    let window = &buf[i..buf.len().min(i + MAX_ANNOUNCEMENT)];
    let close = window.iter().position(|&b| b == b'}')? + i;
    let digits = std::str::from_utf8(&buf[i + 1..close]).ok()?.trim_end_matches(['+', '-']);
    let n: usize = digits.parse().ok()?;
    if buf.get(close + 1..close + 3) != Some(b"\r\n") {
        return None;
    }
    let end = close.checked_add(3)?.checked_add(n)?;
    (end <= buf.len()).then_some(end)
}

#[cfg(test)]
mod tests;
