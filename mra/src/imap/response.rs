//! Writing responses: strings (quoted or literal), `NIL`, flag lists, the capability list.
//!
//! Responses are written by hand into the connection's output buffer rather than built as
//! imap-codec `Response` values: FETCH data is copied once from the message bytes to the
//! buffer, where imap-codec would want an owned, validated copy of every piece first.

use mailstore::{Flag, Flags, Keywords};

/// Appends `s` as an IMAP string: quoted when it is short, 7-bit and has no CR, LF or NUL,
/// else a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    let quotable = s.len() < 1024 && s.iter().all(|&b| b.is_ascii() && b != b'\r' && b != b'\n' && b != 0);
    if quotable {
        out.push(b'"');
        // Runs without a quote or backslash are copied whole: FETCH ENVELOPE writes thousands.
        let mut start = 0;
        for (i, &b) in s.iter().enumerate() {
            if b == b'"' || b == b'\\' {
                out.extend_from_slice(&s[start..i]);
                out.push(b'\\');
                start = i;
            }
        }
        out.extend_from_slice(&s[start..]);
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// Appends `s` as an astring: an atom when it is one (and not `NIL`), else a string.
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    let atom_char = |b: &u8| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(b);
    if !s.is_empty() && s.iter().all(atom_char) && !s.eq_ignore_ascii_case(b"NIL") {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

/// Appends `s` as a literal.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// Appends `s` as a string, or `NIL` for `None`.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// The IMAP name of a system flag.
pub fn flag_name(f: Flag) -> &'static str {
    match f {
        Flag::Draft => "\\Draft",
        Flag::Flagged => "\\Flagged",
        Flag::Passed => "$Forwarded",
        Flag::Replied => "\\Answered",
        Flag::Seen => "\\Seen",
        Flag::Deleted => "\\Deleted",
    }
}

/// `(\Seen \Answered $Forwarded keyword ...)`, with `\Recent` when `recent`.
pub fn flag_list(flags: &Flags, keywords: &Keywords, recent: bool) -> String {
    let mut names: Vec<&str> = flags.system_flags().map(flag_name).collect();
    names.extend(flags.keyword_indexes().filter_map(|i| keywords.name(i)));
    if recent {
        names.push("\\Recent");
    }
    format!("({})", names.join(" "))
}

/// The FLAGS of a mailbox: the system flags and its keywords.
pub fn mailbox_flags(keywords: &Keywords) -> String {
    let mut s = String::from("(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded");
    for (_, name) in keywords.iter() {
        s.push(' ');
        s.push_str(name);
    }
    s.push(')');
    s
}

/// What every connection may do, before the login-dependent part.
pub const CAPABILITIES: &str = "IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT \
                                UIDPLUS MOVE CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS \
                                ESEARCH SEARCHRES BINARY STATUS=SIZE CONDSTORE QRESYNC \
                                SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES";

/// What a logged-in session adds (Dovecot, too, names QUOTA only after login).
pub const AUTHENTICATED: &str = "QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE UNAUTHENTICATE COMPRESS=DEFLATE \
                                 METADATA METADATA-SERVER";

/// The capability list for a connection in its current state.
pub fn capabilities(tls_offered: bool, logged_in: bool, plaintext_ok: bool) -> String {
    let mut s = String::from(CAPABILITIES);
    if logged_in {
        s.push(' ');
        s.push_str(AUTHENTICATED);
        // RFC 7889: the largest message APPEND takes, in every mailbox.
        s.push_str(&format!(" APPENDLIMIT={}", super::command::MAX_APPEND));
    } else {
        if tls_offered {
            s.push_str(" STARTTLS");
        }
        if plaintext_ok {
            s.push_str(" AUTH=PLAIN AUTH=LOGIN");
        } else {
            s.push_str(" LOGINDISABLED");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_quote_or_go_literal() {
        let mut out = Vec::new();
        string(&mut out, b"a \"b\" \\c");
        assert_eq!(out, b"\"a \\\"b\\\" \\\\c\"");
        out.clear();
        string(&mut out, "Grüße".as_bytes());
        assert_eq!(out, "{7}\r\nGrüße".as_bytes());
        out.clear();
        nstring(&mut out, None);
        assert_eq!(out, b"NIL");
    }

    #[test]
    fn flags_render_in_imap_names() {
        let mut kw = Keywords::parse("0 $Junk\n");
        let _ = &mut kw;
        let flags = Flags::from_info("2,RSa");
        assert_eq!(flag_list(&flags, &kw, true), "(\\Answered \\Seen $Junk \\Recent)");
        assert!(mailbox_flags(&kw).ends_with("$Forwarded $Junk)"));
        assert!(capabilities(true, false, false).ends_with("STARTTLS LOGINDISABLED"));
        assert!(capabilities(false, true, true).ends_with(
            "QUOTA=RES-STORAGE QUOTA=RES-MESSAGE UNAUTHENTICATE COMPRESS=DEFLATE METADATA \
                 METADATA-SERVER APPENDLIMIT=67108864"
        ));
    }
}
