//! IMAP METADATA (RFC 5464): entries such as `/private/comment` on a mailbox or on the server.
//! A mailbox's are kept in its directory in `mailroom-metadata` (INBOX's in the Maildir root),
//! the server's (the mailbox name `""`) in the root's `mailroom-metadata-server`; mailroom's
//! own files, beside Dovecot's. One `<entry> <value in base64>` line per entry, entry names in
//! lower case (they compare case-insensitively); a change rewrites the file under its dotlock.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::dotlock::{self, DotLock};

/// A mailbox's file in its directory.
pub const FILE: &str = "mailroom-metadata";
/// The server's file in the Maildir root.
pub const SERVER_FILE: &str = "mailroom-metadata-server";
/// The largest value one entry takes.
/// (Below the 64 KiB mailroom-mra takes in the literals of one command, so that a larger
/// value is answered `[METADATA MAXSIZE]`, as RFC 5464 wants, not refused as a literal.)
pub const MAX_VALUE: usize = 16 * 1024;
/// How many entries one mailbox (or the server) takes.
pub const MAX_ENTRIES: usize = 100;
/// The longest entry name.
const MAX_NAME: usize = 1024;

/// Why a SETMETADATA is refused.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Not an entry name RFC 5464 §3.2 allows under /private or /shared.
    #[error("invalid entry name")]
    Invalid,
    /// More than [`MAX_ENTRIES`] entries would be set.
    #[error("too many entries")]
    TooMany,
    /// A value over [`MAX_VALUE`].
    #[error("value over {MAX_VALUE} bytes")]
    TooLarge,
    /// Reading or writing the file failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The entries of one mailbox or of the server.
#[derive(Debug, Clone)]
pub struct Metadata {
    path: PathBuf,
}

impl Metadata {
    /// The entries of the mailbox whose directory is `dir`.
    pub fn of_mailbox(dir: &Path) -> Metadata {
        Metadata { path: dir.join(FILE) }
    }

    /// The server's entries, kept in the Maildir `root`.
    pub fn of_server(root: &Path) -> Metadata {
        Metadata { path: root.join(SERVER_FILE) }
    }

    /// Every entry (lower-case name) and its value; none when the file does not exist. A line
    /// we cannot read is skipped.
    pub fn load(&self) -> io::Result<BTreeMap<String, Vec<u8>>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|l| {
                let (name, value) = l.split_once(' ')?;
                Some((name.to_string(), STANDARD.decode(value).ok()?)).filter(|_| valid_entry(name))
            })
            .collect())
    }

    /// Sets (`Some`) or removes (`None`) each entry, all or none.
    pub fn set(&self, changes: &[(String, Option<Vec<u8>>)]) -> Result<(), MetadataError> {
        for (name, value) in changes {
            if !valid_entry(name) {
                return Err(MetadataError::Invalid);
            }
            if value.as_ref().is_some_and(|v| v.len() > MAX_VALUE) {
                return Err(MetadataError::TooLarge);
            }
        }
        let lock = DotLock::acquire(&self.path, dotlock::WAIT, 0o600)?;
        let mut entries = self.load()?;
        for (name, value) in changes {
            match value {
                Some(v) => entries.insert(name.to_ascii_lowercase(), v.clone()),
                None => entries.remove(&name.to_ascii_lowercase()),
            };
        }
        if entries.len() > MAX_ENTRIES {
            return Err(MetadataError::TooMany);
        }
        let text: String = entries.iter().map(|(n, v)| format!("{n} {}\n", STANDARD.encode(v))).collect();
        lock.replace(text.as_bytes())?;
        Ok(())
    }
}

/// Whether `name` is an entry name a client may set: `/private/...` or `/shared/...`, slash
/// separated non-empty parts of printable ASCII without `*` or `%` (RFC 5464 §3.2).
pub fn valid_entry(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let rest = lower.strip_prefix("/private/").or_else(|| lower.strip_prefix("/shared/"));
    name.len() <= MAX_NAME
        && rest.is_some_and(|r| {
            r.split('/').all(|part| !part.is_empty())
                && r.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'*' && b != b'%')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_set_replaced_removed_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let md = Metadata::of_mailbox(tmp.path());
        assert!(md.load().unwrap().is_empty());
        md.set(&[
            ("/private/Comment".into(), Some(b"hello\r\nworld \xff".to_vec())),
            ("/shared/vendor/x".into(), Some(Vec::new())),
        ])
        .unwrap();
        let got = md.load().unwrap();
        assert_eq!(got["/private/comment"], b"hello\r\nworld \xff", "names lower-cased, bytes kept");
        assert_eq!(got["/shared/vendor/x"], b"");
        md.set(&[("/PRIVATE/comment".into(), None)]).unwrap();
        assert_eq!(md.load().unwrap().len(), 1);
        for bad in
            ["/private", "/private/", "/other/x", "/private//x", "/private/a*", "/shared/a b", "comment"]
        {
            assert!(
                matches!(md.set(&[(bad.into(), Some(b"v".to_vec()))]), Err(MetadataError::Invalid)),
                "{bad}"
            );
        }
        let big = vec![b'x'; MAX_VALUE + 1];
        assert!(matches!(md.set(&[("/private/big".into(), Some(big))]), Err(MetadataError::TooLarge)));
        let many: Vec<_> =
            (0..MAX_ENTRIES).map(|i| (format!("/private/n{i}"), Some(b"v".to_vec()))).collect();
        assert!(matches!(md.set(&many), Err(MetadataError::TooMany)));
        assert_eq!(md.load().unwrap().len(), 1, "a refused change leaves the file as it was");
        assert!(!tmp.path().join(format!("{FILE}.lock")).exists());
    }
}
