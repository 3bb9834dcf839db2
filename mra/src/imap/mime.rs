//! A message's MIME tree as IMAP numbers it (RFC 3501 §6.4.5), parsed with mail-parser: the
//! body parts that FETCH BODY[section] addresses, on the message text with CRLF line ends.
//!
//! Part numbers: in a multipart, part N is its Nth child; a message that is not multipart has
//! one part, 1, its body; in a message/rfc822 part, the numbers go on inside the enclosed
//! message. mail-parser gives the offsets of an enclosed message's parts in the outermost
//! text as long as it borrows that message from it (not when the enclosed message was itself
//! base64-encoded: such parts have no range here).

use std::num::NonZeroU32;
use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mail_parser::Message;
use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};

/// Every LF not preceded by CR becomes CRLF (messages are stored with LF, RFC 3501 wants CRLF).
pub fn to_crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    let mut prev = 0u8;
    for &b in text {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// `raw` with each part sent as `binary` (an RFC 3516 APPEND) whose content holds a NUL
/// encoded as base64 instead, as Dovecot does: FETCH BODY then sends text, and BINARY decodes
/// it to the bytes sent. `None` when no part needs it.
pub fn binary_as_base64(raw: &[u8]) -> Option<Vec<u8>> {
    const CTE: &[u8] = b"content-transfer-encoding:";
    let msg = MessageParser::new().parse(raw)?;
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    for part in &msg.parts {
        let binary =
            part.content_transfer_encoding().is_some_and(|c| c.trim().eq_ignore_ascii_case("binary"));
        if !binary || matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
            continue;
        }
        let (head, body, end) =
            (part.offset_header as usize, part.offset_body as usize, part.offset_end as usize);
        let content = raw.get(body..end)?;
        if !content.contains(&0) {
            continue;
        }
        let mut at = head;
        for line in raw[head..body].split_inclusive(|&b| b == b'\n') {
            if line.len() >= CTE.len() && line[..CTE.len()].eq_ignore_ascii_case(CTE) {
                edits.push((at..at + line.len(), b"Content-Transfer-Encoding: base64\r\n".to_vec()));
            }
            at += line.len();
        }
        let encoded = B64.encode(content);
        let lines: Vec<&[u8]> = encoded.as_bytes().chunks(76).collect();
        edits.push((body..end, lines.join(&b"\r\n"[..])));
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|(r, _)| r.start);
    let (mut out, mut pos) = (Vec::with_capacity(raw.len() * 2), 0);
    for (range, with) in edits {
        out.extend_from_slice(&raw[pos..range.start]);
        out.extend_from_slice(&with);
        pos = range.end;
    }
    out.extend_from_slice(&raw[pos..]);
    Some(out)
}

/// A parsed message on its CRLF text.
pub struct Parsed<'a> {
    /// The whole text.
    pub raw: &'a [u8],
    /// mail-parser's view (`None` when it found no header at all).
    pub msg: Option<Message<'a>>,
}

impl<'a> Parsed<'a> {
    /// Parses `raw` (CRLF text).
    pub fn new(raw: &'a [u8]) -> Parsed<'a> {
        Parsed { raw, msg: MessageParser::new().parse(raw) }
    }
}

/// Where a part sits: the message that holds it and its index in that message's parts.
#[derive(Clone, Copy)]
pub struct PartRef<'m, 'a> {
    /// The (possibly enclosed) message.
    pub msg: &'m Message<'a>,
    /// Index into `msg.parts`.
    pub index: usize,
}

impl<'m, 'a> PartRef<'m, 'a> {
    /// The part.
    pub fn part(&self) -> &'m MessagePart<'a> {
        &self.msg.parts[self.index]
    }
}

/// The offset of `inner`'s first byte within `outer`, when `inner` is a slice of it.
pub fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    (i >= o && i + inner.len() <= o + outer.len()).then(|| i - o)
}

/// The part `numbers` (e.g. 2.1) of `msg`.
pub fn find<'m, 'a>(msg: &'m Message<'a>, numbers: &[NonZeroU32]) -> Option<PartRef<'m, 'a>> {
    let mut cur = PartRef { msg, index: 0 };
    for (depth, n) in numbers.iter().enumerate() {
        let n = n.get() as usize;
        // Inside a message/rfc822 part (not at the top), numbering continues in its message.
        if depth > 0
            && let PartType::Message(inner) = &cur.part().body
        {
            cur = PartRef { msg: inner, index: 0 };
        }
        cur = match &cur.part().body {
            PartType::Multipart(children) => PartRef { msg: cur.msg, index: *children.get(n - 1)? as usize },
            _ if n == 1 => cur,
            _ => return None,
        };
    }
    Some(cur)
}

/// The byte range of `p`'s body in `raw` (the outermost text).
pub fn body_range(raw: &[u8], p: PartRef<'_, '_>) -> Option<Range<usize>> {
    offset_in(raw, p.msg.raw_message())?;
    let part = p.part();
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    (start <= end && end <= raw.len()).then_some(start..end)
}

/// The byte range of `p`'s MIME header in `raw`.
pub fn header_range(raw: &[u8], p: PartRef<'_, '_>) -> Option<Range<usize>> {
    offset_in(raw, p.msg.raw_message())?;
    let part = p.part();
    let (start, end) = (part.offset_header as usize, part.offset_body as usize);
    (start <= end && end <= raw.len()).then_some(start..end)
}

/// The header lines of `header` whose field name is (`not`: is not) in `names`, then CRLF.
pub fn header_fields(header: &[u8], names: &[Vec<u8>], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = line.split(|&b| b == b':').next().unwrap_or(b"");
            let name = name.trim_ascii_end();
            keep = names.iter().any(|n| n.eq_ignore_ascii_case(name)) != not;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_parts_with_nul_become_base64() {
        let raw = b"From: a@x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\0-\xe4\n\r\n\n";
        let out = binary_as_base64(raw).unwrap();
        assert_eq!(
            out,
            b"From: a@x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAC3kCg0KCg=="
        );
        assert_eq!(
            binary_as_base64(b"From: a@x\r\nContent-Transfer-Encoding: binary\r\n\r\nno nul\r\n"),
            None
        );
    }

    const MIXED: &str = "From: a@x\nSubject: s\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
        pre\n--b\nContent-Type: text/plain\n\nhello\n--b\nContent-Type: message/rfc822\n\n\
        Subject: inner\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\ninner one\n--c\n\
        Content-Type: text/html\n\n<p>two</p>\n--c--\n\n--b--\n";

    fn n(v: &[u32]) -> Vec<NonZeroU32> {
        v.iter().map(|&x| NonZeroU32::new(x).unwrap()).collect()
    }

    #[test]
    fn sections_by_number() {
        let raw = to_crlf(MIXED.as_bytes());
        let p = Parsed::new(&raw);
        let msg = p.msg.as_ref().unwrap();
        let body = |v: &[u32]| {
            let r = body_range(&raw, find(msg, &n(v)).unwrap()).unwrap();
            String::from_utf8_lossy(&raw[r]).to_string()
        };
        assert_eq!(body(&[1]), "hello");
        assert_eq!(body(&[2, 1]), "inner one");
        assert_eq!(body(&[2, 2]), "<p>two</p>");
        assert!(body(&[2]).starts_with("Subject: inner\r\n"));
        let mime = header_range(&raw, find(msg, &n(&[2, 2])).unwrap()).unwrap();
        assert_eq!(&raw[mime], b"Content-Type: text/html\r\n\r\n");
        assert!(find(msg, &n(&[3])).is_none());
    }

    #[test]
    fn header_field_selection() {
        let h = b"From: a\r\nSubject: x\r\n y\r\nTo: b\r\n\r\n";
        assert_eq!(header_fields(h, &[b"subject".to_vec()], false), b"Subject: x\r\n y\r\n\r\n");
        assert_eq!(header_fields(h, &[b"subject".to_vec()], true), b"From: a\r\nTo: b\r\n\r\n");
        assert_eq!(to_crlf(b"a\nb\r\n"), b"a\r\nb\r\n");
    }
}
