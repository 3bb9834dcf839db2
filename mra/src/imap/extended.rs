//! The syntax imap-codec 1.0 refuses and we speak: LIST-EXTENDED and LIST-STATUS options
//! ([`list`](super::list)), STATUS SIZE and DELETED-STORAGE ([`status`](super::status)),
//! SEARCH RETURN ([`esearch`](super::esearch)), SEARCHRES's `$` in place of a sequence set,
//! FETCH BINARY items, and APPEND's `~{n}` literal8 (RFC 3516).
//!
//! Where the rest of the command is plain RFC 3501, it is rewritten into what imap-codec reads
//! and parsed by it: `$` becomes [`SAVED`], a sequence number no mailbox reaches, which the
//! session swaps for the saved result; `BINARY[1]<0.9>` becomes `BODY.PEEK[1]<0.9>`, with its
//! index among the FETCH items remembered so that FETCH decodes it.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use super::args::{self, Arg};
use super::esearch::Return;
use super::list::ListCommand;
use super::status::{self, StatusItem};

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
    /// SEARCH or UID SEARCH (a `CommandBody::Search`), with RETURN options if given.
    Search(Box<CommandBody<'static>>, Option<Return>),
    /// FETCH or UID FETCH: the items at these indexes were BINARY ones.
    Fetch(Box<CommandBody<'static>>, Vec<(usize, Binary)>),
    /// STORE, COPY or MOVE on `$`.
    Codec(Box<CommandBody<'static>>),
    /// UID EXPUNGE on `$`.
    UidExpunge(SequenceSet),
    /// A well-formed command we refuse: the text of the NO.
    No(&'static str),
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
        "SEARCH" | "UID SEARCH" => search(buf, words),
        "FETCH" | "UID FETCH" => fetch(buf, words),
        "STORE" | "UID STORE" | "COPY" | "UID COPY" | "MOVE" | "UID MOVE" => {
            let rewritten = first_arg_saved(buf, words)?;
            codec(&rewritten).map(|body| Extended { ext: Ext::Codec(Box::new(body)), uses_saved: true })
        }
        "UID EXPUNGE" => {
            first_arg_saved(buf, words)?;
            let set = SequenceSet::try_from(SAVED).expect("a valid number");
            Ok(Extended { ext: Ext::UidExpunge(set), uses_saved: true })
        }
        _ => return None,
    })
}

/// APPEND with a literal8 (`~{n}`, RFC 3516 §4.4) as its message rewritten as an ordinary
/// literal, for imap-codec; `None` when there is none, `Err` when the content has a NUL, which
/// a Maildir message must not.
pub fn append_literal8(buf: &[u8]) -> Option<Result<Vec<u8>, &'static str>> {
    // The message is the last literal: its announcement is followed by exactly n bytes + CRLF.
    let tilde = (0..buf.len().saturating_sub(1))
        .rev()
        .filter(|&i| &buf[i..i + 2] == b"~{")
        .find(|&i| literal_end(buf, i + 1).is_some_and(|end| end + 2 == buf.len()))?;
    let content_start = tilde + buf[tilde..].iter().position(|&b| b == b'\n')? + 1;
    if buf[content_start..].contains(&0) {
        return Some(Err("[UNKNOWN-CTE] Binary content with NUL bytes cannot be stored."));
    }
    let mut out = buf[..tilde].to_vec();
    out.extend_from_slice(&buf[tilde + 1..]);
    Some(Ok(out))
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

/// SEARCH [RETURN (...)] criteria, with `$` where a sequence set may stand.
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
    let mut marks = Vec::new();
    mark_sets(&keys[skip..], &mut marks)?;
    let offsets = args::dollars(buf, words)?;
    // `$` atoms in the RETURN list are none (it holds only option names).
    let at: Vec<usize> = offsets.iter().zip(&marks).filter(|(_, m)| **m).map(|(o, _)| *o).collect();
    if ret.is_none() && at.is_empty() {
        return Err("Invalid arguments");
    }
    let head_len = buf.iter().enumerate().filter(|(_, b)| **b == b' ').nth(words).map_or(0, |(i, _)| i + 1);
    let mut cmd = buf[..head_len].to_vec();
    let rest = replace_saved(&buf[first_key..], &at.iter().map(|o| o - first_key).collect::<Vec<_>>());
    cmd.extend_from_slice(&rest);
    let body = codec(&cmd)?;
    Ok(Extended { ext: Ext::Search(Box::new(body), ret), uses_saved: !at.is_empty() })
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

/// Walks search keys; pushes, for every `$` atom met in order, whether it stands for a set.
fn mark_sets(keys: &[Arg], marks: &mut Vec<bool>) -> Result<(), &'static str> {
    let mut i = 0;
    while i < keys.len() {
        i = mark_key(keys, i, marks)?;
    }
    Ok(())
}

/// One key at `keys[i]`; returns the index after it.
fn mark_key(keys: &[Arg], i: usize, marks: &mut Vec<bool>) -> Result<usize, &'static str> {
    let key = keys.get(i).ok_or("Missing search key")?;
    let mut strings = |args: &[Arg]| {
        for a in args {
            count_dollars(a, marks);
        }
    };
    match key {
        Arg::List(inner) => mark_sets(inner, marks).map(|()| i + 1),
        Arg::Str(_) => Err("Invalid search key"),
        Arg::Atom(a) if a == "$" => {
            marks.push(true);
            Ok(i + 1)
        }
        Arg::Atom(a) => match a.to_ascii_uppercase().as_str() {
            "NOT" => mark_key(keys, i + 1, marks),
            "OR" => mark_key(keys, mark_key(keys, i + 1, marks)?, marks),
            "UID" => match keys.get(i + 1) {
                Some(Arg::Atom(s)) => {
                    marks.extend((s == "$").then_some(true));
                    Ok(i + 2)
                }
                _ => Err("UID needs a sequence set"),
            },
            k => {
                // A sequence set (no arguments) or a key with arguments that are strings.
                let n = key_arity(k).unwrap_or(0);
                strings(keys.get(i + 1..i + 1 + n).ok_or("Missing search argument")?);
                Ok(i + 1 + n)
            }
        },
    }
}

/// Every `$` atom inside `a` is not a set.
fn count_dollars(a: &Arg, marks: &mut Vec<bool>) {
    match a {
        Arg::Atom(s) if s == "$" => marks.push(false),
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
    let (rewritten, binary) = binary_items(&buf, head)?;
    if binary.is_empty() && !uses_saved {
        return Err("Invalid arguments");
    }
    let body = codec(&rewritten)?;
    Ok(Extended { ext: Ext::Fetch(Box::new(body), binary), uses_saved })
}

/// A FETCH command as imap-codec can read it, and where its BINARY items were.
type Rewritten = (Vec<u8>, Vec<(usize, Binary)>);

/// The FETCH items from `start` with each BINARY item as a BODY.PEEK one, and the BINARY
/// items' indexes. Quoted strings and literals (header field names) are copied as they are.
fn binary_items(buf: &[u8], start: usize) -> Result<Rewritten, &'static str> {
    let mut out = buf[..start].to_vec();
    let mut found = Vec::new();
    let (mut i, mut parens, mut brackets, mut index) = (start, 0usize, 0usize, 0usize);
    let mut item_start = true;
    while i < buf.len() {
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
    Ok((out, found))
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

/// The index after the literal (`{n}` CRLF and n bytes) starting at `i`.
fn literal_end(buf: &[u8], i: usize) -> Option<usize> {
    let close = buf[i..].iter().position(|&b| b == b'}')? + i;
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
