//! `dovecot-keywords`: the names of the keyword letters in file names, one `<n> <name>` line
//! per keyword, `n` = 0..25 standing for `a`..`z`. Lines we cannot read are skipped as
//! Dovecot does; a new keyword takes the first free number and the file is rewritten under
//! its dotlock, so two sessions adding keywords at once never give one letter two names.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::dotlock::{self, DotLock};
use crate::flags::MAX_KEYWORDS;

/// The file's name in a mailbox directory.
pub const FILE: &str = "dovecot-keywords";

/// The keyword names of one mailbox, by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keywords {
    names: Vec<Option<String>>,
}

/// Why a keyword cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum KeywordError {
    /// All 26 letters are taken.
    #[error("no free keyword letter: a Maildir mailbox holds at most 26 keywords")]
    Full,
    /// Not a valid IMAP keyword (atom characters only).
    #[error("not a valid keyword name")]
    Invalid,
    /// Reading or writing the file failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Keywords {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Keywords {
        let mut names = vec![None; MAX_KEYWORDS];
        for line in text.lines() {
            let Some((n, name)) = line.split_once(' ') else { continue };
            match n.parse::<usize>() {
                Ok(n) if n < MAX_KEYWORDS && valid(name) => names[n] = Some(name.to_string()),
                _ => {}
            }
        }
        while names.last() == Some(&None) {
            names.pop();
        }
        Keywords { names }
    }

    /// Reads `dir/dovecot-keywords`; a missing file means no keywords.
    pub fn load(dir: &Path) -> io::Result<Keywords> {
        match fs::read_to_string(dir.join(FILE)) {
            Ok(t) => Ok(Keywords::parse(&t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Keywords::default()),
            Err(e) => Err(e),
        }
    }

    /// The name of keyword `index`.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index)?.as_deref()
    }

    /// The index of `name` (IMAP keywords compare case-insensitively).
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    /// Every (index, name), ascending.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &str)> {
        self.names.iter().enumerate().filter_map(|(i, n)| n.as_deref().map(|n| (i, n)))
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        self.iter().map(|(i, n)| format!("{i} {n}\n")).collect()
    }

    /// The index of `name` in `dir`'s file, adding it (under the dotlock, re-reading the file
    /// first) when it is new. `self` is refreshed from the file.
    pub fn intern(&mut self, dir: &Path, name: &str, mode: u32) -> Result<usize, KeywordError> {
        if !valid(name) {
            return Err(KeywordError::Invalid);
        }
        if let Some(i) = self.index(name) {
            return Ok(i);
        }
        let path: PathBuf = dir.join(FILE);
        let lock = DotLock::acquire(&path, dotlock::WAIT, mode)?;
        *self = Keywords::load(dir)?;
        if let Some(i) = self.index(name) {
            return Ok(i);
        }
        let free = (0..MAX_KEYWORDS).find(|&i| self.name(i).is_none()).ok_or(KeywordError::Full)?;
        if self.names.len() <= free {
            self.names.resize(free + 1, None);
        }
        self.names[free] = Some(name.to_string());
        lock.replace(self.to_text().as_bytes())?;
        Ok(free)
    }
}

/// An IMAP atom that is not a system flag: no controls, spaces or `( ) { % * " \ ]`.
fn valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('\\')
        && name.bytes().all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dovecot_files() {
        let k = Keywords::parse("0 $Junk\n1 NonJunk\n3 $Label1\nbad line\n30 Toofar\n2 has space\n");
        assert_eq!(k.name(0), Some("$Junk"));
        assert_eq!(k.name(2), None);
        assert_eq!(k.index("nonjunk"), Some(1));
        assert_eq!(k.index("$label1"), Some(3));
        assert_eq!(k.to_text(), "0 $Junk\n1 NonJunk\n3 $Label1\n");
    }

    #[test]
    fn intern_fills_holes_and_persists() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(FILE), "0 $Junk\n2 Work\n").unwrap();
        let mut k = Keywords::default();
        assert_eq!(k.intern(tmp.path(), "$Junk", 0o600).unwrap(), 0);
        assert_eq!(k.intern(tmp.path(), "Home", 0o600).unwrap(), 1);
        assert_eq!(fs::read_to_string(tmp.path().join(FILE)).unwrap(), "0 $Junk\n1 Home\n2 Work\n");
        assert!(matches!(k.intern(tmp.path(), "a b", 0o600), Err(KeywordError::Invalid)));
        for i in 3..26 {
            k.intern(tmp.path(), &format!("k{i}"), 0o600).unwrap();
        }
        assert!(matches!(k.intern(tmp.path(), "one-more", 0o600), Err(KeywordError::Full)));
        assert_eq!(Keywords::load(tmp.path()).unwrap(), k);
    }
}
