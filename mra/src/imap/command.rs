//! Client commands: framing (where a command ends, which literals it announces) and parsing.
//!
//! imap-codec parses a complete command, literals included. Framing is ours because the server
//! must decide about each literal before its bytes arrive (RFC 3501 §7.5: send `+` for a
//! synchronising literal, refuse one that is too large), and a limit is only enforceable before
//! the bytes are buffered. The three commands imap-codec 1.0 does not know (NAMESPACE, ID,
//! UID EXPUNGE) are parsed here by hand, after imap-codec refused them; so are the extensions'
//! syntax it lacks ([`super::extended`]).

use imap_codec::CommandCodec;
use imap_codec::decode::{CommandDecodeError, Decoder};
use imap_codec::imap_types::command::Command;
use imap_codec::imap_types::sequence::SequenceSet;

use super::extended::{self, Ext, Extended};

/// The longest command line without its literals (RFC 7162 §4 asks for at least 8192).
pub const MAX_LINE: usize = 64 * 1024;
/// The largest literal an APPEND may carry: the largest message we store.
pub const MAX_APPEND: u64 = 64 * 1024 * 1024;
/// The most literal bytes any other command may carry (search strings, mailbox names).
pub const MAX_OTHER_LITERALS: u64 = 64 * 1024;

/// A literal announced at the end of a line: `{n}` (synchronising) or `{n+}` (LITERAL+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announced {
    /// Its length in bytes.
    pub len: u64,
    /// `{n+}`: the client does not wait for `+`.
    pub non_sync: bool,
}

/// The literal a line (without CRLF) announces at its end, if any.
pub fn literal_at_end(line: &[u8]) -> Option<Announced> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let non_sync = digits.last() == Some(&b'+');
    if non_sync {
        digits = &digits[..digits.len() - 1];
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Announced { len, non_sync })
}

/// The tag and upper-cased command name of a (possibly incomplete) command, for limits and
/// error replies: `("a1", "APPEND")`, `("a2", "UID FETCH")`.
pub fn tag_and_name(buf: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(&buf[..buf.len().min(200)]);
    let mut words = text.split([' ', '\r', '\n']);
    let tag = words.next().unwrap_or("").to_string();
    let mut name = words.next().unwrap_or("").to_ascii_uppercase();
    if name == "UID" {
        name = format!("UID {}", words.next().unwrap_or("").to_ascii_uppercase());
    }
    (tag, name)
}

/// A tag fit to be echoed back: printable, no space, not empty (else `*`).
pub fn safe_tag(tag: &str) -> &str {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag.bytes().all(|b| b.is_ascii_graphic() && !b"(){%*\"\\+".contains(&b));
    if ok { tag } else { "*" }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Anything imap-codec knows.
    Codec(Box<Command<'static>>),
    /// RFC 2342 NAMESPACE.
    Namespace(String),
    /// RFC 8437 UNAUTHENTICATE.
    Unauthenticate(String),
    /// RFC 2971 ID (the client's parameters are only logged, so kept raw).
    Id(String, String),
    /// RFC 4315 UID EXPUNGE.
    UidExpunge(String, SequenceSet),
    /// Extension syntax imap-codec lacks, parsed by [`extended`]; needs a logged-in session.
    Ext(String, Box<Extended>),
    /// Not a valid command; the tag (or `*`) and why.
    Bad(String, &'static str),
}

/// Parses one complete command (`buf` ends with CRLF, literals included).
pub fn parse(buf: &[u8]) -> Parsed {
    match CommandCodec::default().decode_static(buf) {
        Ok(([], cmd)) => return Parsed::Codec(Box::new(cmd)),
        Ok(_) => {}
        Err(CommandDecodeError::Incomplete | CommandDecodeError::LiteralFound { .. }) => {}
        Err(CommandDecodeError::Failed) => {}
    }
    if let Some(rewritten) = extended::utf8_quoted_as_literals(buf) {
        // No quoted string is 8-bit any more: this recursion happens once.
        return parse(&rewritten);
    }
    let (tag, name) = tag_and_name(buf);
    let tag = safe_tag(&tag).to_string();
    if tag != "*"
        && let Some(parsed) = parse_extended(buf, &tag, &name)
    {
        return parsed;
    }
    let text = String::from_utf8_lossy(buf);
    let args: Vec<&str> = text.trim_end().split(' ').skip(2).collect();
    match name.as_str() {
        "NAMESPACE" if args.is_empty() && tag != "*" => Parsed::Namespace(tag),
        "UNAUTHENTICATE" if args.is_empty() && tag != "*" => Parsed::Unauthenticate(tag),
        "ID" if tag != "*" && !args.is_empty() => Parsed::Id(tag, args.join(" ")),
        "UID EXPUNGE" if tag != "*" && args.len() == 2 => match args[1].parse::<SequenceSet>() {
            Ok(set) => Parsed::UidExpunge(tag, set),
            Err(_) => Parsed::Bad(tag, "Invalid sequence set"),
        },
        "" => Parsed::Bad(tag, "Empty command"),
        _ if !is_known(&name) => Parsed::Bad(tag, "Unknown command"),
        _ => Parsed::Bad(tag, "Invalid arguments"),
    }
}

/// The extensions' syntax, for a command imap-codec refused; `None` if it is none of it.
fn parse_extended(buf: &[u8], tag: &str, name: &str) -> Option<Parsed> {
    if name == "APPEND" {
        let (rewritten, binary) = extended::append_literal8(buf)?;
        return Some(match (CommandCodec::default().decode_static(&rewritten), binary) {
            (Ok(([], cmd)), None) => Parsed::Codec(Box::new(cmd)),
            (Ok(([], cmd)), Some(message)) => {
                let ext = Ext::AppendBinary(Box::new(cmd.body), message);
                Parsed::Ext(tag.to_string(), Box::new(Extended { ext, uses_saved: false }))
            }
            _ => Parsed::Bad(tag.to_string(), "Invalid arguments"),
        });
    }
    Some(match extended::parse(buf, name)? {
        Ok(e) => Parsed::Ext(tag.to_string(), Box::new(e)),
        Err(why) => Parsed::Bad(tag.to_string(), why),
    })
}

/// Whether `name` is a command we implement (to tell "unknown" from "bad arguments").
fn is_known(name: &str) -> bool {
    let name = name.strip_prefix("UID ").unwrap_or(name);
    [
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "STARTTLS",
        "AUTHENTICATE",
        "LOGIN",
        "UNAUTHENTICATE",
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "STATUS",
        "APPEND",
        "CHECK",
        "CLOSE",
        "EXPUNGE",
        "SEARCH",
        "SORT",
        "THREAD",
        "FETCH",
        "STORE",
        "COPY",
        "MOVE",
        "IDLE",
        "ENABLE",
        "UNSELECT",
        "NAMESPACE",
        "ID",
        "GETQUOTA",
        "GETQUOTAROOT",
        "SETQUOTA",
    ]
    .contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_at_line_end() {
        assert_eq!(literal_at_end(b"a APPEND x {12}"), Some(Announced { len: 12, non_sync: false }));
        assert_eq!(literal_at_end(b"a LOGIN {3+}"), Some(Announced { len: 3, non_sync: true }));
        for no in [&b"a NOOP"[..], b"a X {}", b"a X {+}", b"a X {1a}", b"a X {99999999999999999999}", b"}"] {
            assert_eq!(literal_at_end(no), None, "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn tags_and_names() {
        assert_eq!(tag_and_name(b"a1 uid fetch 1 flags\r\n"), ("a1".into(), "UID FETCH".into()));
        assert_eq!(safe_tag("a1"), "a1");
        assert_eq!(safe_tag("a{1"), "*");
        assert_eq!(safe_tag(""), "*");
    }

    #[test]
    fn parses_through_imap_codec_and_by_hand() {
        assert!(matches!(parse(b"a1 NOOP\r\n"), Parsed::Codec(_)));
        assert!(matches!(parse(b"a1 LOGIN {3}\r\nbob pw\r\n"), Parsed::Codec(_)));
        assert_eq!(parse(b"a2 NAMESPACE\r\n"), Parsed::Namespace("a2".into()));
        assert_eq!(parse(b"a5 UNAUTHENTICATE\r\n"), Parsed::Unauthenticate("a5".into()));
        assert_eq!(parse(b"a3 ID NIL\r\n"), Parsed::Id("a3".into(), "NIL".into()));
        assert!(matches!(parse(b"a4 UID EXPUNGE 1:3\r\n"), Parsed::UidExpunge(t, _) if t == "a4"));
        assert_eq!(parse(b"a5 FROB\r\n"), Parsed::Bad("a5".into(), "Unknown command"));
        assert_eq!(parse(b"a6 FETCH x\r\n"), Parsed::Bad("a6".into(), "Invalid arguments"));
        assert_eq!(parse(b"\r\n"), Parsed::Bad("*".into(), "Empty command"));
        assert!(matches!(parse(b"a7 LIST (SUBSCRIBED) \"\" *\r\n"), Parsed::Ext(t, _) if t == "a7"));
        assert!(matches!(parse(b"a8 UID EXPUNGE $\r\n"), Parsed::Ext(..)));
        assert_eq!(
            parse(b"a9 SEARCH RETURN (FOO) ALL\r\n"),
            Parsed::Bad("a9".into(), "Unknown SEARCH return option")
        );
        assert!(matches!(parse(b"b1 APPEND INBOX ~{3}\r\nabc\r\n"), Parsed::Codec(_)));
        // IMAP4rev2 names are UTF-8, also in quoted strings.
        assert!(matches!(parse("b3 SELECT \"Entwürfe\"\r\n".as_bytes()), Parsed::Codec(_)));
        assert!(matches!(parse(b"b2 APPEND INBOX ~{3}\r\na\0c\r\n"), Parsed::Ext(..)));
    }
}
