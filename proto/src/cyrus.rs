//! The cyrus saslauthd socket protocol, byte for byte (protocols.md §1), both halves: the
//! client's ([`encode_request`], [`decode_reply`]: libsasl, authlib's `Authenticator`) and the
//! server's ([`decode`], [`reply`]: mailroom-saslauthd). No I/O: feed the bytes read so far,
//! get "need more" or a whole frame.
//!
//! Request: login, password, service, realm and, from unreleased libsasl, the client address;
//! each a u16 big-endian length and that many bytes. Reply: one counted string, `OK` or
//! `NO reason`. One request per connection.

use crate::Secret;

/// Longest field cyrus accepts; longer gets a bare `NO`.
pub const MAX_REQ_LEN: usize = 256;

/// Longest reply text kept (cyrus's reply buffer is 1024 bytes with its NUL).
pub const MAX_REPLY_LEN: usize = 1023;

/// The reply text mailroom-saslauthd gives when its directory is down. cyrus has no such
/// reply: against cyrus saslauthd a database outage reads as a refusal.
pub const TEMPFAIL: &str = "NO temporary failure: user directory unavailable";

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Login as sent (may lack a domain).
    pub login: Vec<u8>,
    /// Password (never printed).
    pub password: Secret,
    /// Service name (`smtp`, `imap`, ...).
    pub service: Vec<u8>,
    /// Realm (libsasl puts the part after the last `@` here).
    pub realm: Vec<u8>,
    /// Client address, from the 5-field variant.
    pub client_addr: Option<Vec<u8>>,
}

/// What the bytes so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Read more (at end of input this means a truncated frame: close without a reply).
    Incomplete,
    /// A whole request.
    Request(Request),
    /// Answer this text (`NO ...`) and close, as cyrus does.
    Reject(&'static str),
}

/// Decode a request from `buf`, everything read so far. Four fields are a request unless more
/// bytes are already buffered, in which case a fifth (the client address) must follow: old
/// libsasl wrote the whole request in one writev, so extra bytes can only mean a fifth field.
pub fn decode(buf: &[u8]) -> Decoded {
    let mut fields: Vec<Vec<u8>> = Vec::with_capacity(5);
    let mut at = 0;
    while fields.len() < 5 {
        if fields.len() == 4 && at == buf.len() {
            break;
        }
        let Some(len) = buf.get(at..at + 2) else { return Decoded::Incomplete };
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        if len > MAX_REQ_LEN {
            return Decoded::Reject("NO");
        }
        let Some(field) = buf.get(at + 2..at + 2 + len) else { return Decoded::Incomplete };
        fields.push(field.to_vec());
        at += 2 + len;
    }
    let mut it = fields.into_iter();
    let (login, password, service, realm) = (
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
    );
    if login.is_empty() {
        return Decoded::Reject("NO NULL login received");
    }
    if password.is_empty() {
        return Decoded::Reject("NO NULL password received");
    }
    Decoded::Request(Request {
        login,
        password: Secret::new(password),
        service,
        realm,
        client_addr: it.next(),
    })
}

/// Encode a reply: u16 big-endian length, then the text, no NUL.
pub fn reply(text: &str) -> Vec<u8> {
    counted(&text.as_bytes()[..text.len().min(MAX_REPLY_LEN)])
}

/// Encode a request (the client's half): each field a u16 big-endian length, then its bytes.
pub fn encode_request(fields: &[&[u8]]) -> Vec<u8> {
    fields.iter().flat_map(|f| counted(&f[..f.len().min(u16::MAX as usize)])).collect()
}

fn counted(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + bytes.len());
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

/// What a server's reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `OK`: the password is right.
    Ok,
    /// `NO ...`, or anything else: refused.
    No,
    /// mailroom-saslauthd's [`TEMPFAIL`]: the directory could not answer.
    TempFail,
}

/// Decode a reply (the client's half) from everything read so far: `None` until its text is
/// complete. Only the first [`MAX_REPLY_LEN`] bytes of a longer text are waited for.
pub fn decode_reply(buf: &[u8]) -> Option<Verdict> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    let text = buf.get(2..2 + len.min(MAX_REPLY_LEN))?;
    Some(if text.starts_with(b"OK") {
        Verdict::Ok
    } else if text.starts_with(b"NO temporary failure") {
        Verdict::TempFail
    } else {
        Verdict::No
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(login: &str, pw: &str, service: &str, realm: &str) -> Vec<u8> {
        encode_request(&[login.as_bytes(), pw.as_bytes(), service.as_bytes(), realm.as_bytes()])
    }

    #[test]
    fn four_fields() {
        let Decoded::Request(r) = decode(&req("bob", "secret", "smtp", "b.test")) else { panic!() };
        assert_eq!((r.login, r.password), (b"bob".to_vec(), Secret::from("secret")));
        assert_eq!((r.service, r.realm, r.client_addr), (b"smtp".to_vec(), b"b.test".to_vec(), None));
    }

    #[test]
    fn five_fields_when_more_is_buffered() {
        let mut b = req("bob", "secret", "smtp", "");
        b.extend_from_slice(&encode_request(&[b"192.0.2.1"]));
        let Decoded::Request(r) = decode(&b) else { panic!() };
        assert_eq!(r.client_addr.as_deref(), Some(&b"192.0.2.1"[..]));
        // A fifth field cut short waits for the rest.
        assert_eq!(decode(&b[..b.len() - 1]), Decoded::Incomplete);
        assert_eq!(decode(&b[..req("bob", "secret", "smtp", "").len() + 1]), Decoded::Incomplete);
    }

    #[test]
    fn every_truncation_is_incomplete() {
        let b = req("bob", "secret", "smtp", "b.test");
        for n in 0..b.len() {
            assert_eq!(decode(&b[..n]), Decoded::Incomplete, "cut at {n}");
        }
    }

    #[test]
    fn cyrus_texts_for_empty_and_oversize_fields() {
        assert_eq!(decode(&req("", "pw", "smtp", "")), Decoded::Reject("NO NULL login received"));
        assert_eq!(decode(&req("bob", "", "smtp", "")), Decoded::Reject("NO NULL password received"));
        let long = "x".repeat(MAX_REQ_LEN + 1);
        assert_eq!(decode(&req(&long, "pw", "smtp", "")), Decoded::Reject("NO"));
        assert_eq!(decode(&req("bob", &long, "smtp", "")), Decoded::Reject("NO"));
        // Exactly the limit is fine.
        let max = "x".repeat(MAX_REQ_LEN);
        assert!(matches!(decode(&req(&max, &max, &max, &max)), Decoded::Request(_)));
        // An oversize length is refused before its bytes arrive.
        assert_eq!(decode(&[0xff, 0xff]), Decoded::Reject("NO"));
    }

    #[test]
    fn replies_are_counted_strings() {
        assert_eq!(reply("OK"), b"\x00\x02OK");
        assert_eq!(reply("NO NULL login received"), b"\x00\x16NO NULL login received");
        assert_eq!(reply(&"N".repeat(5000)).len(), 2 + 1023);
    }

    #[test]
    fn replies_decode_to_verdicts() {
        assert_eq!(decode_reply(&reply("OK")), Some(Verdict::Ok));
        assert_eq!(decode_reply(&reply("NO authentication failed")), Some(Verdict::No));
        assert_eq!(decode_reply(&reply(TEMPFAIL)), Some(Verdict::TempFail));
        assert_eq!(decode_reply(&reply("")), Some(Verdict::No));
        let ok = reply("OK");
        for n in 0..ok.len() {
            assert_eq!(decode_reply(&ok[..n]), None, "cut at {n}");
        }
        // A text longer than cyrus's buffer is judged by its first MAX_REPLY_LEN bytes.
        let mut long = vec![0xff, 0xff];
        long.extend_from_slice(b"OK");
        long.resize(2 + MAX_REPLY_LEN, b'x');
        assert_eq!(decode_reply(&long), Some(Verdict::Ok));
        assert_eq!(decode_reply(&long[..long.len() - 1]), None);
    }

    #[test]
    fn requests_are_counted_fields() {
        assert_eq!(encode_request(&[b"bob", b""]), b"\x00\x03bob\x00\x00");
    }
}
