//! FETCH ENVELOPE (RFC 3501 §7.4.2) from a message's header, parsed with mail-parser.
//!
//! Date, subject, In-Reply-To and Message-ID are sent as they stand in the header (unfolded),
//! as Dovecot does, so encoded words reach the client untouched. Addresses come from
//! mail-parser, which decodes display names; a name that is not ASCII is encoded again as an
//! RFC 2047 word, since IMAP4rev1 strings are 7-bit.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mail_parser::{Addr, Address, HeaderName, Message, MessageParser};

use super::response::{nstring, string};

/// Appends the ENVELOPE of the message whose header (or whole text) is `header`.
pub fn write(out: &mut Vec<u8>, header: &[u8]) {
    match MessageParser::new().parse_headers(header) {
        Some(m) => write_parsed(out, &m),
        None => out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
    }
}

/// Appends the ENVELOPE of a parsed message (also used for message/rfc822 parts).
pub fn write_parsed(out: &mut Vec<u8>, m: &Message<'_>) {
    out.push(b'(');
    raw(out, m, HeaderName::Date);
    out.push(b' ');
    raw(out, m, HeaderName::Subject);
    let from = m.from();
    for list in [from, m.sender().or(from), m.reply_to().or(from), m.to(), m.cc(), m.bcc()] {
        out.push(b' ');
        addresses(out, list);
    }
    out.push(b' ');
    raw(out, m, HeaderName::InReplyTo);
    out.push(b' ');
    raw(out, m, HeaderName::MessageId);
    out.push(b')');
}

/// A header's raw value, unfolded and trimmed; `NIL` when absent.
fn raw(out: &mut Vec<u8>, m: &Message<'_>, name: HeaderName<'_>) {
    let v = m.header_raw(name).map(unfold);
    nstring(out, v.as_deref().map(str::as_bytes));
}

/// Removes line breaks of folded header lines and surrounding white space.
pub fn unfold(v: &str) -> Cow<'_, str> {
    let v = v.trim();
    // Most values are one line: no copy for them (FETCH 1:* ENVELOPE unfolds thousands).
    if v.contains('\n') { Cow::Owned(v.replace("\r\n", "").replace('\n', "")) } else { Cow::Borrowed(v) }
}

fn addresses(out: &mut Vec<u8>, list: Option<&Address<'_>>) {
    let Some(list) = list else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let start = out.len();
    out.push(b'(');
    match list {
        Address::List(addrs) => addrs.iter().for_each(|a| address(out, a)),
        Address::Group(groups) => {
            for g in groups {
                match &g.name {
                    // RFC 3501: a group is its name as a mailbox with no host, its members, and
                    // an all-NIL end marker.
                    Some(name) => {
                        out.extend_from_slice(b"(NIL NIL ");
                        string(out, name.as_bytes());
                        out.extend_from_slice(b" NIL)");
                        // `group2: (foo) ;` has a comment and no member.
                        g.addresses
                            .iter()
                            .filter(|a| a.address.as_deref().is_some_and(|a| !a.is_empty()))
                            .for_each(|a| address(out, a));
                        out.extend_from_slice(b"(NIL NIL NIL NIL)");
                    }
                    None => g.addresses.iter().for_each(|a| address(out, a)),
                }
            }
        }
    }
    if out.len() == start + 1 {
        out.truncate(start);
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b')');
    }
}

fn address(out: &mut Vec<u8>, a: &Addr<'_>) {
    let addr = a.address.as_deref().unwrap_or("");
    let (mailbox, host) = match addr.rsplit_once('@') {
        Some((m, h)) => (m, Some(h)),
        None => (addr, None),
    };
    // An obsolete source route (`<@route:user@domain>`) is the envelope's adl.
    let (route, mailbox) = match mailbox.split_once(':') {
        Some((r, m)) if r.starts_with('@') => (Some(r), m),
        _ => (None, mailbox),
    };
    out.push(b'(');
    let name = a.name.as_deref().map(encode_word);
    nstring(out, name.as_deref().map(str::as_bytes));
    out.push(b' ');
    nstring(out, route.map(str::as_bytes));
    out.push(b' ');
    nstring(out, (!mailbox.is_empty()).then_some(mailbox.as_bytes()));
    out.push(b' ');
    nstring(out, host.map(str::as_bytes));
    out.push(b')');
}

/// `s` unchanged when it is ASCII, else one RFC 2047 `B` word.
fn encode_word(s: &str) -> String {
    if s.is_ascii() { s.to_string() } else { format!("=?utf-8?b?{}?=", B64.encode(s)) }
}

#[cfg(test)]
mod tests {
    fn env(h: &str) -> String {
        let mut out = Vec::new();
        super::write(&mut out, h.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn envelope_fields() {
        let e = env("Date: Mon, 7 Feb 1994 21:52:25 -0800\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n \
             again\nFrom: \"Fred Foobar\" <foobar@Blurdybloop.example>\nTo: mooch@owatagu.example, \
             Jörg <j@x.example>\nCc: team: a@b.example;\nMessage-Id: <B27397-0100000@Blurdybloop.example>\n\n");
        assert_eq!(
            e,
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"=?utf-8?q?Gr=C3=BC=C3=9Fe?= again\" \
             ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) \
             ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) \
             ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) \
             ((NIL NIL \"mooch\" \"owatagu.example\")(\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.example\")) \
             ((NIL NIL \"team\" NIL)(NIL NIL \"a\" \"b.example\")(NIL NIL NIL NIL)) NIL NIL \
             \"<B27397-0100000@Blurdybloop.example>\")"
        );
    }

    #[test]
    fn groups_without_members() {
        let e = env("From: <@route:user@domain>\nCc: group:;, group2: (foo) ;\n\n");
        assert!(e.contains(" ((NIL \"@route\" \"user\" \"domain\")) "), "{e}");
        assert!(
            e.contains(
                " ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) "
            ),
            "{e}"
        );
    }

    #[test]
    fn empty_header_is_all_nil() {
        assert_eq!(env("X: y\n\n"), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    }
}
