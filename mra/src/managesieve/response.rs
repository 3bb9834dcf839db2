//! Server responses (RFC 5804 §1.3, §4): `OK`, `NO` and `BYE`, each with an optional response
//! code and a human-readable string, and strings written quoted when they can be, else as
//! literals.

use std::fmt::Write as _;

/// A response code (RFC 5804 §1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// The user's script count would pass its limit.
    MaxScripts,
    /// The script is larger than allowed.
    MaxSize,
    /// The script does not exist.
    Nonexistent,
    /// The script is active and cannot be deleted.
    Active,
    /// The new name is taken.
    AlreadyExists,
    /// Temporary failure; try again later.
    TryLater,
    /// The connection must be encrypted first.
    EncryptNeeded,
    /// The mechanism's final data (`SASL "base64"`).
    Sasl(String),
    /// NOOP's echo (`TAG "string"`).
    Tag(String),
}

impl Code {
    fn write(&self, out: &mut String) {
        out.push('(');
        match self {
            Code::MaxScripts => out.push_str("QUOTA/MAXSCRIPTS"),
            Code::MaxSize => out.push_str("QUOTA/MAXSIZE"),
            Code::Nonexistent => out.push_str("NONEXISTENT"),
            Code::Active => out.push_str("ACTIVE"),
            Code::AlreadyExists => out.push_str("ALREADYEXISTS"),
            Code::TryLater => out.push_str("TRYLATER"),
            Code::EncryptNeeded => out.push_str("ENCRYPT-NEEDED"),
            Code::Sasl(s) => {
                out.push_str("SASL ");
                string(out, s);
            }
            Code::Tag(s) => {
                out.push_str("TAG ");
                string(out, s);
            }
        }
        out.push(')');
    }
}

/// Appends `s` as a ManageSieve string: quoted when short and free of CR, LF and NUL, else a
/// literal `{N}` CRLF bytes.
pub fn string(out: &mut String, s: &str) {
    if s.len() <= 1024 && !s.contains(['\r', '\n', '\0']) {
        out.push_str(&sieve::quote(s));
    } else {
        let _ = write!(out, "{{{}}}\r\n{s}", s.len());
    }
}

fn reply(kind: &str, code: Option<Code>, text: &str) -> Vec<u8> {
    let mut out = String::from(kind);
    if let Some(c) = code {
        out.push(' ');
        c.write(&mut out);
    }
    if !text.is_empty() {
        out.push(' ');
        string(&mut out, text);
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// `OK [(code)] ["text"]`.
pub fn ok(code: Option<Code>, text: &str) -> Vec<u8> {
    reply("OK", code, text)
}

/// `NO [(code)] "text"`.
pub fn no(code: Option<Code>, text: &str) -> Vec<u8> {
    reply("NO", code, text)
}

/// `BYE [(code)] "text"`: the server closes the connection after it.
pub fn bye(code: Option<Code>, text: &str) -> Vec<u8> {
    reply("BYE", code, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(ok(None, "Done"), b"OK \"Done\"\r\n");
        assert_eq!(no(Some(Code::MaxSize), "Too big"), b"NO (QUOTA/MAXSIZE) \"Too big\"\r\n");
        assert_eq!(ok(Some(Code::Tag("a\"b".into())), ""), b"OK (TAG \"a\\\"b\")\r\n");
        assert_eq!(no(None, "line 1\nline 2"), b"NO {13}\r\nline 1\nline 2\r\n");
    }
}
