//! Replies as the client reads them (RFC 5321 §4.2, enhanced codes RFC 3463), and the EHLO
//! capabilities. No I/O: [`ReplyParser`] takes bytes and returns a reply or "need more".
//!
//! smtp-proto's `ResponseReceiver` does the parsing (multi-line replies, enhanced codes, a
//! 4 KiB cap on the text); its `EhloResponse` reads the extensions. A hostile server could
//! still feed it bytes that grow nothing in its buffer but never end a reply (a flood of CRs,
//! or 10,000 empty continuation lines), so this layer also caps the raw bytes and the lines.

use std::fmt;

use smtp_proto::response::parser::ResponseReceiver;
use smtp_proto::{
    EXT_8BIT_MIME, EXT_CHUNKING, EXT_DSN, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING, EXT_REQUIRE_TLS,
    EXT_SIZE, EXT_SMTP_UTF8, EXT_START_TLS, EhloResponse, Error as ProtoError,
};

/// Most lines in one reply; a long EHLO reply has about 20.
pub const MAX_REPLY_LINES: usize = 100;
/// Most raw bytes in one reply: the text cap (4 KiB, smtp-proto's) plus the codes and line
/// ends of [`MAX_REPLY_LINES`] lines, with room to spare.
pub const MAX_REPLY_BYTES: usize = 8 * 1024;

/// One reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    /// The three-digit code, 200 to 599.
    pub code: u16,
    /// The RFC 3463 enhanced code (e.g. "2.1.5") when the server sent one.
    pub enhanced: Option<String>,
    /// The text of every line, without codes, joined with " "; control characters become
    /// spaces, so the text can go into a log line or a bounce's Diagnostic-Code as it is.
    pub text: String,
}

impl ServerReply {
    /// A reply made up locally (for a refusal decided before anything is sent).
    pub fn new(code: u16, enhanced: Option<&str>, text: impl Into<String>) -> ServerReply {
        ServerReply { code, enhanced: enhanced.map(String::from), text: text.into() }
    }

    /// 2xx: done.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx: go on (354 after DATA).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: do not try again.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

impl fmt::Display for ServerReply {
    /// `550 5.1.1 text`, or `550 text` without an enhanced code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for part in [self.enhanced.as_deref().unwrap_or(""), &self.text] {
            if !part.is_empty() {
                write!(f, " {part}")?;
            }
        }
        Ok(())
    }
}

/// A parsed reply with the bytes it came from (EHLO's are read again for the extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// The reply.
    pub reply: ServerReply,
    /// Its bytes on the wire, line ends included.
    pub raw: Vec<u8>,
}

/// Why a reply could not be read; the connection is unusable after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyError(pub String);

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Incremental reply parser: feed it what arrived, get whole replies.
#[derive(Default)]
pub struct ReplyParser {
    receiver: ResponseReceiver,
    raw: Vec<u8>,
    lines: usize,
}

impl ReplyParser {
    /// Parse from `input`; returns the bytes consumed and a reply once one is complete (the
    /// bytes after it are left for the next call). `Ok(None)` means: all of `input` was
    /// consumed, more is needed.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Result<Option<RawReply>, ReplyError>) {
        let mut iter = input.iter();
        let result = self.receiver.parse(&mut iter);
        let used = input.len() - iter.as_slice().len();
        let consumed = &input[..used];
        self.lines += consumed.iter().filter(|&&b| b == b'\n').count();
        self.raw.extend_from_slice(consumed);
        if self.raw.len() > MAX_REPLY_BYTES || self.lines > MAX_REPLY_LINES {
            return (used, Err(self.fail("reply too long")));
        }
        match result {
            Ok(r) => {
                let raw = std::mem::take(&mut self.raw);
                *self = ReplyParser::default();
                (used, reply(r.code, r.esc, &r.message).map(|reply| Some(RawReply { reply, raw })))
            }
            Err(ProtoError::NeedsMoreData { .. }) => (used, Ok(None)),
            Err(ProtoError::ResponseTooLong) => (used, Err(self.fail("reply too long"))),
            Err(e) => (used, Err(self.fail(&format!("malformed reply: {e:?}")))),
        }
    }

    /// An error naming the start of what was read, for the log.
    fn fail(&self, why: &str) -> ReplyError {
        let head = String::from_utf8_lossy(&self.raw[..self.raw.len().min(80)]).escape_debug().to_string();
        ReplyError(format!("{why}: \"{head}\""))
    }
}

/// A [`ServerReply`] from smtp-proto's parts, or why the code is not one.
fn reply(code: u16, esc: [u8; 3], message: &str) -> Result<ServerReply, ReplyError> {
    if !(200..600).contains(&code) {
        return Err(ReplyError(format!("reply code {code} out of range")));
    }
    // An enhanced code's class repeats the reply's (RFC 3463 §2); anything else was text
    // that looked like one, or none at all ([0, 0, 0]).
    let class = (code / 100) as u8;
    let enhanced = (esc[0] == class && class != 3).then(|| format!("{}.{}.{}", esc[0], esc[1], esc[2]));
    let text = message
        .split('\n')
        .map(|l| l.trim_end_matches([' ', '\r']))
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string();
    Ok(ServerReply { code, enhanced, text })
}

/// What the server offers, from its EHLO or LHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE (RFC 1870): `Some(limit)` when offered, `Some(0)` when offered without a limit.
    pub size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eightbitmime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// CHUNKING (RFC 3030).
    pub chunking: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// AUTH mechanisms (RFC 4954), upper case, as offered.
    pub auth: Vec<String>,
    /// REQUIRETLS (RFC 8689).
    pub requiretls: bool,
}

impl Capabilities {
    /// The extensions in a 250 EHLO/LHLO reply's bytes; none for anything smtp-proto cannot
    /// read, so a strange server is spoken to in plain SMTP rather than not at all.
    pub fn from_ehlo(raw: &[u8]) -> Capabilities {
        let Ok(ehlo) = EhloResponse::<String>::parse(&mut raw.iter()) else {
            return Capabilities::default();
        };
        let has = |ext: u32| ehlo.capabilities & ext != 0;
        Capabilities {
            pipelining: has(EXT_PIPELINING),
            size: has(EXT_SIZE).then_some(ehlo.size as u64),
            eightbitmime: has(EXT_8BIT_MIME),
            smtputf8: has(EXT_SMTP_UTF8),
            dsn: has(EXT_DSN),
            chunking: has(EXT_CHUNKING),
            starttls: has(EXT_START_TLS),
            enhanced_status_codes: has(EXT_ENHANCED_STATUS_CODES),
            auth: auth_mechanisms(raw),
            requiretls: has(EXT_REQUIRE_TLS),
        }
    }
}

/// The names on the AUTH line (and the pre-RFC `AUTH=` form some servers still send):
/// smtp-proto keeps only the mechanisms it knows, as bits; a client wants the names.
fn auth_mechanisms(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut names: Vec<String> = Vec::new();
    for line in text.lines().skip(1) {
        let Some(keywords) = line.get(4..) else { continue };
        let mut words = keywords.split([' ', '=']);
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("AUTH")) {
            continue;
        }
        for w in words.map(|w| w.trim().to_ascii_uppercase()) {
            if !w.is_empty() && !names.contains(&w) {
                names.push(w);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in chunks of `n`; every reply and the first error.
    fn parse(input: &[u8], n: usize) -> (Vec<ServerReply>, Option<ReplyError>) {
        let mut p = ReplyParser::default();
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for chunk in input.chunks(n) {
            pending.extend_from_slice(chunk);
            loop {
                let (used, r) = p.feed(&pending);
                pending.drain(..used);
                match r {
                    Ok(Some(r)) => out.push(r.reply),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    fn r(code: u16, enhanced: Option<&str>, text: &str) -> ServerReply {
        ServerReply::new(code, enhanced, text)
    }

    #[test]
    fn replies_in_any_chunking() {
        let cases: &[(&[u8], Vec<ServerReply>)] = &[
            (b"220 mx.test ESMTP\r\n", vec![r(220, None, "mx.test ESMTP")]),
            (b"250 2.1.5 Ok\r\n", vec![r(250, Some("2.1.5"), "Ok")]),
            (b"250 2.1.5 Ok\n", vec![r(250, Some("2.1.5"), "Ok")]),
            (
                b"354 End data with <CR><LF>.<CR><LF>\r\n",
                vec![r(354, None, "End data with <CR><LF>.<CR><LF>")],
            ),
            (
                b"550-5.1.1 No such user\r\n550-5.1.1 see https://x.test\r\n550 5.1.1 bye\r\n",
                vec![r(550, Some("5.1.1"), "No such user see https://x.test bye")],
            ),
            (
                b"250 2.0.0 <a@b.test> Saved\r\n452 4.2.2 Quota\r\n550 5.1.1 <c@b.test> User unknown\r\n",
                vec![
                    r(250, Some("2.0.0"), "<a@b.test> Saved"),
                    r(452, Some("4.2.2"), "Quota"),
                    r(550, Some("5.1.1"), "<c@b.test> User unknown"),
                ],
            ),
            (b"220 192.0.2.1 ESMTP\r\n", vec![r(220, None, "192.0.2.1 ESMTP")]),
            // A class that does not match the code is not an enhanced code.
            (b"550 2.0.0 odd\r\n", vec![r(550, None, "odd")]),
            (b"221\r\n", vec![r(221, None, "")]),
            (b"250 a\x07b\tc\r\n", vec![r(250, None, "a b c")]),
        ];
        for (input, want) in cases {
            for n in 1..=input.len() {
                assert_eq!(
                    &parse(input, n),
                    &(want.clone(), None),
                    "{:?} in chunks of {n}",
                    input.escape_ascii()
                );
            }
        }
    }

    #[test]
    fn malformed_and_hostile_replies_are_errors() {
        let long_line = [b"250 ".as_slice(), &[b'x'; 5000], b"\r\n"].concat();
        let many_lines = [b"250-x\r\n".repeat(MAX_REPLY_LINES + 1), b"250 x\r\n".to_vec()].concat();
        let empty_lines = [b"250-\r\n".repeat(2000), b"250 x\r\n".to_vec()].concat();
        let cr_flood = [b"250 x".as_slice(), &[b'\r'; 20_000], b"\n"].concat();
        let cases: &[&[u8]] = &[b"hello\r\n", b"25x Ok\r\n", b"099 low\r\n", b"600 high\r\n", b"250+x\r\n"];
        let hostile = [long_line, many_lines, empty_lines, cr_flood];
        for input in cases.iter().copied().chain(hostile.iter().map(Vec::as_slice)) {
            for n in [1, 7, 4096, input.len()] {
                let (replies, err) = parse(input, n);
                assert!(
                    replies.is_empty() && err.is_some(),
                    "{:?}: {replies:?}",
                    &input[..20.min(input.len())]
                );
            }
        }
    }

    #[test]
    fn display_for_logs_and_bounces() {
        assert_eq!(r(550, Some("5.1.1"), "No such user").to_string(), "550 5.1.1 No such user");
        assert_eq!(r(421, None, "busy").to_string(), "421 busy");
        assert_eq!(r(221, None, "").to_string(), "221");
        assert_eq!(r(250, Some("2.0.0"), "").to_string(), "250 2.0.0");
        assert!(r(250, None, "").is_positive() && r(451, None, "").is_transient());
        assert!(r(554, None, "").is_permanent() && r(354, None, "").is_intermediate());
    }

    #[test]
    fn capabilities_from_ehlo() {
        let postfix = b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n\
            250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n\
            250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
        let caps = Capabilities::from_ehlo(postfix);
        assert_eq!(
            caps,
            Capabilities {
                pipelining: true,
                size: Some(10_240_000),
                eightbitmime: true,
                smtputf8: true,
                dsn: true,
                chunking: true,
                starttls: true,
                enhanced_status_codes: true,
                auth: vec!["PLAIN".into(), "LOGIN".into()],
                requiretls: false,
            }
        );
        // Dovecot's LHLO reply, with XCLIENT and a bare SIZE.
        let dovecot = b"250-mx.test\r\n250-8BITMIME\r\n250-CHUNKING\r\n250-ENHANCEDSTATUSCODES\r\n\
            250-PIPELINING\r\n250-XCLIENT ADDR FORWARD HELO LOGIN PORT PROTO SESSION TIMEOUT TTL\r\n\
            250-SIZE\r\n250 SMTPUTF8\n";
        let caps = Capabilities::from_ehlo(dovecot);
        assert!(caps.pipelining && caps.eightbitmime && caps.smtputf8 && caps.enhanced_status_codes);
        assert_eq!((caps.size, caps.dsn, caps.starttls), (Some(0), false, false));
        assert_eq!(Capabilities::from_ehlo(b"250 mx.test\r\n"), Capabilities::default());
        assert_eq!(
            Capabilities::from_ehlo(b"250-mx.test\r\n250 X-\x01\xff junk\r\n"),
            Capabilities::default()
        );
    }
}
