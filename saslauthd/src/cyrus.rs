//! The cyrus saslauthd socket protocol, byte for byte (protocols.md §1). No I/O: feed the bytes
//! read so far, get "need more", a request, or the reply to send before closing.
//!
//! Request: login, password, service, realm and, from unreleased libsasl, the client address;
//! each a u16 big-endian length and that many bytes. Reply: one counted string, `OK` or
//! `NO reason`. One request per connection.

/// Longest field cyrus accepts; longer gets a bare `NO`.
pub const MAX_REQ_LEN: usize = 256;

use authlib::Secret;

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
    let text = &text.as_bytes()[..text.len().min(1023)];
    let mut out = Vec::with_capacity(2 + text.len());
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use authlib::encode_request;

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
}
