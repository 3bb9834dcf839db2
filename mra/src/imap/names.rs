//! Mailbox names on the wire: modified UTF-7 (RFC 3501 §5.1.3), '/' between hierarchy
//! levels, INBOX in any case. A name becomes a [`Target`] once, here; only a validated
//! [`FolderName`] ever reaches a path, so no name a client sends can leave its Maildir.

use mailstore::{FolderName, mutf7};

/// The hierarchy separator we announce in LIST.
pub const SEPARATOR: char = '/';

/// What a mailbox name names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The Maildir root.
    Inbox,
    /// A folder.
    Folder(FolderName),
}

impl Target {
    /// Parses a name as sent (bytes of an astring): modified UTF-7, or UTF-8 as IMAP4rev2
    /// clients send it (a name that is valid modified UTF-7 is read as that); `None` if it is
    /// neither or not a valid folder name.
    pub fn parse(wire: &[u8]) -> Option<Target> {
        let s = std::str::from_utf8(wire).ok()?;
        if s.eq_ignore_ascii_case("INBOX") {
            return Some(Target::Inbox);
        }
        let utf8 = mutf7::decode(s).or_else(|| (!s.is_ascii()).then(|| s.to_string()))?;
        FolderName::new(&utf8).ok().map(Target::Folder)
    }

    /// Parses a name as an IMAP4rev2 session sends it: UTF-8, `&` being just a character.
    pub fn parse_utf8(wire: &[u8]) -> Option<Target> {
        let s = std::str::from_utf8(wire).ok()?;
        if s.eq_ignore_ascii_case("INBOX") {
            return Some(Target::Inbox);
        }
        FolderName::new(s).ok().map(Target::Folder)
    }

    /// The name in UTF-8 ("INBOX" for the root).
    pub fn name(&self) -> &str {
        match self {
            Target::Inbox => "INBOX",
            Target::Folder(f) => f.as_str(),
        }
    }

    /// The name as sent on the wire (modified UTF-7).
    pub fn wire(&self) -> String {
        wire_name(self.name())
    }
}

/// A UTF-8 name in modified UTF-7, level by level (the separator stays as it is).
pub fn wire_name(name: &str) -> String {
    name.split(SEPARATOR).map(mutf7::encode).collect::<Vec<_>>().join(&SEPARATOR.to_string())
}

/// Whether `name` (UTF-8) matches a LIST pattern (also UTF-8): `*` matches anything, `%`
/// anything but the separator. INBOX matches case-insensitively.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = if name.eq_ignore_ascii_case("INBOX") {
        (pattern.to_ascii_uppercase().chars().collect(), "INBOX".chars().collect())
    } else {
        (pattern.chars().collect(), name.chars().collect())
    };
    glob(&p, &n)
}

fn glob(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| glob(&p[1..], &n[i..])),
        Some('%') => {
            let stop = n.iter().position(|&c| c == SEPARATOR).unwrap_or(n.len());
            (0..=stop).any(|i| glob(&p[1..], &n[i..]))
        }
        Some(&c) => n.first() == Some(&c) && glob(&p[1..], &n[1..]),
    }
}

/// The special-use folders created at first login (RFC 6154), name and attribute.
pub const SPECIAL_USE: [(&str, &str); 5] = [
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

/// The special-use attribute of a folder name, if it is one of ours.
pub fn special_use(name: &str) -> Option<&'static str> {
    SPECIAL_USE.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_once() {
        assert_eq!(Target::parse(b"inbox"), Some(Target::Inbox));
        let t = Target::parse(b"Entw&APw-rfe/Alt").unwrap();
        assert_eq!(t.name(), "Entwürfe/Alt");
        assert_eq!(t.wire(), "Entw&APw-rfe/Alt");
        assert_eq!(Target::parse("Entwürfe".as_bytes()).unwrap().wire(), "Entw&APw-rfe");
        assert_eq!(Target::parse_utf8(b"A&-B").unwrap().wire(), "A&--B");
        assert_eq!(Target::parse_utf8(b"inbox"), Some(Target::Inbox));
        for bad in [&b"../x"[..], b"a/../../etc", b"/abs", b"a.b", b"&Jjo", b"", b"a\0b", b"a//b", b"\xff"] {
            assert_eq!(Target::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn list_patterns() {
        assert!(matches("*", "a/b"));
        assert!(matches("%", "a"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("I%", "INBOX"));
        assert!(!matches("x*", "INBOX"));
    }
}
