//! UIDVALIDITY values for new mailboxes, from one source per Maildir, so that a mailbox deleted
//! and created again never gets a value one of its namesakes had (RFC 3501 §2.3.1.1: a client
//! would otherwise keep its cache of the old mailbox's UIDs).
//!
//! The scheme is Dovecot's, in the Maildir root, so that Dovecot and mailroom taking turns on
//! one Maildir draw from the same sequence:
//! - `dovecot-uidvalidity` holds the last value given, as 8 hex digits;
//! - the empty file `dovecot-uidvalidity.<value>` is the claim on it: the next value is taken
//!   by renaming it to the next value's name, which succeeds for one process only (another
//!   that raced us finds it gone and tries the value after);
//! - with neither file, the sequence starts at the current time.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The file with the last value given, in the Maildir root.
pub const FILE: &str = "dovecot-uidvalidity";

/// How many values are tried past the last one known before the directory is read again.
const TRIES: usize = 10;

/// The next UIDVALIDITY of the Maildir at `root`: above every value given before.
pub fn next(root: &Path) -> io::Result<u32> {
    let last = fs::read_to_string(root.join(FILE))
        .ok()
        .and_then(|t| u32::from_str_radix(t.trim(), 16).ok())
        .filter(|&v| v != 0);
    let value = match last {
        Some(v) => match advance(root, v)? {
            Some(n) => n,
            None => rescan(root)?,
        },
        None => rescan(root)?,
    };
    let file =
        OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(root.join(FILE))?;
    // Always 8 digits: written in place, a reader never sees a shorter file.
    file.write_all_at(format!("{value:08x}").as_bytes(), 0)?;
    Ok(value)
}

/// Claims the value after `from` by renaming its claim file; `None` when there is no claim
/// file at `from` or the few values after it.
fn advance(root: &Path, mut from: u32) -> io::Result<Option<u32>> {
    for _ in 0..TRIES {
        let to = successor(from);
        match fs::rename(root.join(claim_name(from)), root.join(claim_name(to))) {
            Ok(()) => return Ok(Some(to)),
            // Someone took `to` (or the file lags behind the claim): try the one after.
            Err(e) if e.kind() == io::ErrorKind::NotFound => from = to,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Finds the claim file by reading the directory, or starts the sequence at the time.
fn rescan(root: &Path) -> io::Result<u32> {
    let prefix = format!("{FILE}.");
    let mut claims = Vec::new();
    for entry in fs::read_dir(root)? {
        let name = entry?.file_name();
        let value = name.to_str().and_then(|n| n.strip_prefix(&prefix));
        if let Some(v) = value.and_then(|v| u32::from_str_radix(v, 16).ok()) {
            claims.push(v);
        }
    }
    let (Some(&min), Some(&max)) = (claims.iter().min(), claims.iter().max()) else {
        let start = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_secs() as u32).max(1);
        let created =
            OpenOptions::new().write(true).create_new(true).mode(0o600).open(root.join(claim_name(start)));
        return match created {
            Ok(_) => Ok(start),
            // Another process started the sequence this second: take the next value from it,
            // never a second claim file.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => advance(root, start)?.ok_or_else(|| {
                io::Error::other(format!("{}: UIDVALIDITY claim keeps moving", root.display()))
            }),
            Err(e) => Err(e),
        };
    };
    if min != max {
        // Left by a crash between two steps: only the highest counts.
        let _ = fs::remove_file(root.join(claim_name(min)));
    }
    advance(root, max)?
        .ok_or_else(|| io::Error::other(format!("{}: UIDVALIDITY claim keeps moving", root.display())))
}

fn successor(v: u32) -> u32 {
    v.checked_add(1).unwrap_or(1)
}

fn claim_name(v: u32) -> String {
    format!("{FILE}.{v:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_rise_and_follow_dovecots_files() {
        let tmp = tempfile::tempdir().unwrap();
        let a = next(tmp.path()).unwrap();
        let b = next(tmp.path()).unwrap();
        assert_eq!(b, a + 1);
        assert_eq!(fs::read_to_string(tmp.path().join(FILE)).unwrap(), format!("{b:08x}"));
        assert!(tmp.path().join(claim_name(b)).is_file() && !tmp.path().join(claim_name(a)).exists());
        // Dovecot (or a crash) moved the claim on without updating the file.
        fs::rename(tmp.path().join(claim_name(b)), tmp.path().join(claim_name(b + 40))).unwrap();
        assert_eq!(next(tmp.path()).unwrap(), b + 41);
        // A lost value file: the claim is found by reading the directory.
        fs::remove_file(tmp.path().join(FILE)).unwrap();
        assert_eq!(next(tmp.path()).unwrap(), b + 42);
    }
}
