//! Bytes from an IMAP client through the command path of `mra::imap`: framed the way
//! `mra::server::imap` does (a line ending in `{n}` or `{n+}` takes the next n bytes as a
//! literal), each command parsed; and the same bytes as a message through what FETCH sends
//! (ENVELOPE, BODY and BODYSTRUCTURE, every body section numbered 1..3 deep).
//!
//! Must hold: never panics; a tag echoed in a BAD reply is printable with no space, or `*`;
//! `tag_and_name` and `literal_at_end` accept anything; the FETCH data is balanced in
//! parentheses outside strings and literals.
#![no_main]

use std::num::NonZeroU32;

use libfuzzer_sys::fuzz_target;
use mra::imap::command::{self, Parsed};
use mra::imap::mime::{self, Parsed as Message};
use mra::imap::{envelope, structure};

fn check_tag(tag: &str) {
    assert!(tag == "*" || tag.bytes().all(|b| b.is_ascii_graphic()), "{tag:?}");
}

/// Skips quoted strings and literals; checks the parentheses balance.
fn balanced(data: &[u8]) {
    let (mut depth, mut i) = (0i64, 0);
    while i < data.len() {
        match data[i] {
            b'"' => {
                i += 1;
                while i < data.len() && data[i] != b'"' {
                    i += if data[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                let close = i + data[i..].iter().position(|&b| b == b'}').expect("literal length");
                let n: usize = std::str::from_utf8(&data[i + 1..close]).unwrap().parse().unwrap();
                // `{n}` CRLF, then n bytes.
                i = close + 3 + n;
                continue;
            }
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0, "{}", String::from_utf8_lossy(data));
        i += 1;
    }
    assert_eq!(depth, 0, "{}", String::from_utf8_lossy(data));
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut buf = Vec::new();
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |p| p + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        buf.extend_from_slice(line);
        buf.extend_from_slice(b"\r\n");
        let _ = command::tag_and_name(&buf);
        if let Some(lit) = command::literal_at_end(line) {
            let n = (lit.len as usize).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            continue;
        }
        match command::parse(&buf) {
            Parsed::Bad(tag, _)
            | Parsed::Namespace(tag)
            | Parsed::Unauthenticate(tag)
            | Parsed::Id(tag, _)
            | Parsed::UidExpunge(tag, _)
            | Parsed::Ext(tag, _) => check_tag(&tag),
            Parsed::Codec(_) => {}
        }
        buf.clear();
    }

    let raw = mime::to_crlf(data);
    let msg = Message::new(&raw);
    let mut out = Vec::new();
    envelope::write(&mut out, &raw);
    balanced(&out);
    for ext in [false, true] {
        out.clear();
        structure::write(&mut out, &msg, ext);
        balanced(&out);
    }
    if let Some(m) = msg.msg.as_ref() {
        let nz = |v: u32| NonZeroU32::new(v).unwrap();
        for path in [&[1][..], &[2], &[1, 1], &[2, 1], &[1, 2, 1], &[3, 3, 3]] {
            let nums: Vec<NonZeroU32> = path.iter().map(|&v| nz(v)).collect();
            if let Some(p) = mime::find(m, &nums) {
                if let Some(r) = mime::body_range(&raw, p) {
                    assert!(r.end <= raw.len());
                }
                if let Some(r) = mime::header_range(&raw, p) {
                    let _ = mime::header_fields(&raw[r], &[b"subject".to_vec()], false);
                }
            }
        }
    }
});
