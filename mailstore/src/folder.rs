//! Folder names, validated once: the IMAP-side name ("Lists/Rust") and its Maildir++ directory
//! (`.Lists.Rust`).
//!
//! Maildir++ keeps every folder flat under the Maildir root: the name's hierarchy separator
//! becomes '.', and the directory starts with '.', so `cur`, `new`, `tmp` and control files can
//! never be mistaken for a folder. Non-ASCII is stored in modified UTF-7 as Dovecot does by
//! default. Validation rejects anything that could leave the Maildir or change the layout:
//! a '.' inside a component would silently become one more hierarchy level on disk (Dovecot
//! rejects it too when the separator is '/'), and "." / ".." / '/' can then never reach a path.

use std::fmt;
use std::str::FromStr;

use crate::mutf7;

/// The separator between hierarchy levels in names given to [`FolderName::new`].
pub const SEPARATOR: char = '/';

/// The longest directory name most filesystems accept, in bytes.
const NAME_MAX: usize = 255;

/// A folder other than INBOX, valid as a Maildir++ directory name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FolderName {
    name: String,
    dir: String,
}

/// Why a folder name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FolderNameError {
    /// The name, or one of its levels, is empty ("", "a//b", "/a", "a/").
    #[error("empty folder name or hierarchy level")]
    Empty,
    /// INBOX is the Maildir root, not a folder: callers pass `None` for it.
    #[error("INBOX is not a folder")]
    Inbox,
    /// A level contains '.', which Maildir++ uses as its own separator.
    #[error("'.' is not allowed in a folder name")]
    Dot,
    /// NUL or another control character.
    #[error("control character in folder name")]
    Control,
    /// The directory name would exceed 255 bytes.
    #[error("folder name too long")]
    TooLong,
}

impl FolderName {
    /// Validates a UTF-8 folder name whose levels are separated by '/'.
    pub fn new(name: &str) -> Result<Self, FolderNameError> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(FolderNameError::Inbox);
        }
        let mut dir = String::with_capacity(name.len() + 1);
        for level in name.split(SEPARATOR) {
            check_level(level)?;
            dir.push('.');
            dir.push_str(&mutf7::encode(level));
        }
        if dir.len() > NAME_MAX {
            return Err(FolderNameError::TooLong);
        }
        Ok(FolderName { name: name.to_owned(), dir })
    }

    /// The name as given, levels separated by '/'.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The directory under the Maildir root, e.g. `.Lists.Rust` or `.Entw&APw-rfe`.
    pub fn dir_name(&self) -> &str {
        &self.dir
    }
}

/// Checks one hierarchy level of a name.
fn check_level(level: &str) -> Result<(), FolderNameError> {
    if level.is_empty() {
        Err(FolderNameError::Empty)
    } else if level.contains('.') {
        Err(FolderNameError::Dot)
    } else if level.chars().any(char::is_control) {
        Err(FolderNameError::Control)
    } else {
        Ok(())
    }
}

impl FromStr for FolderName {
    type Err = FolderNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FolderName::new(s)
    }
}

impl fmt::Display for FolderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl AsRef<str> for FolderName {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FolderNameError::*;

    #[test]
    fn accepted() {
        for (name, dir) in [
            ("Sent", ".Sent"),
            ("Lists/Rust", ".Lists.Rust"),
            ("Entwürfe", ".Entw&APw-rfe"),
            ("Tom & Jerry", ".Tom &- Jerry"),
            ("INBOX/Sub", ".INBOX.Sub"),
            ("Inboxes", ".Inboxes"),
            ("cur", ".cur"),
            ("~root", ".~root"),
            ("a b/c-d_e", ".a b.c-d_e"),
        ] {
            let f = FolderName::new(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(f.dir_name(), dir);
            assert_eq!(f.as_str(), name);
        }
    }

    #[test]
    fn rejected() {
        let long = "x".repeat(255);
        let long_utf8 = "ü".repeat(100); // 200 bytes of UTF-8, more once encoded
        for (name, why) in [
            ("", Empty),
            ("/", Empty),
            ("/etc", Empty),
            ("a/", Empty),
            ("a//b", Empty),
            ("INBOX", Inbox),
            ("inbox", Inbox),
            (".", Dot),
            ("..", Dot),
            ("../../etc", Dot),
            ("a/../b", Dot),
            ("a/./b", Dot),
            (".hidden", Dot),
            ("Lists.Rust", Dot),
            ("a\0b", Control),
            ("a\nb", Control),
            ("a\rb", Control),
            ("a\tb", Control),
            ("a\u{7f}b", Control),
            ("a\u{85}b", Control),
            (long.as_str(), TooLong),
            (long_utf8.as_str(), TooLong),
        ] {
            assert_eq!(FolderName::new(name), Err(why), "{name:?}");
        }
    }

    #[test]
    fn longest_accepted() {
        let name = "x".repeat(254);
        assert_eq!(FolderName::new(&name).unwrap().dir_name().len(), 255);
    }
}
