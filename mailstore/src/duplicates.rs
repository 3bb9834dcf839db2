//! A user's duplicate database, what Dovecot keeps in `~/.dovecot.lda-dupes`: keys seen, each
//! until it expires. Delivery uses it three ways: LMTP's "same message for the same recipient
//! again" (a retry after a lost reply, or after a crash of either side), the Sieve `duplicate`
//! test (RFC 7352) and vacation's once-per-period per sender (RFC 5230). Callers hash what they
//! track into a 32-byte key with a kind prefix; the store never sees addresses.
//!
//! On disk: `<home>/.mailroom.dupes`, one line per key, `<expiry unix seconds> <64 hex>\n`.
//! A record is one `O_APPEND` write under an exclusive lock and is fsynced before
//! [`Duplicates::record`] returns, so a delivery recorded before its reply is remembered across
//! a restart. When the file grows past [`COMPACT_AT`] and half of it has expired, the live
//! lines are written to a new file that replaces it; an appender that waited on the old file's lock notices the rename and
//! writes to the new one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The file in the home.
pub const FILE: &str = ".mailroom.dupes";
/// Size past which a record also drops the expired lines.
pub const COMPACT_AT: u64 = 64 * 1024;

/// One user's store.
pub struct Duplicates {
    path: PathBuf,
}

impl Duplicates {
    /// The store of the user whose home is `home` (see [`crate::sieve_scripts::home`]).
    pub fn new(home: &Path) -> Duplicates {
        Duplicates { path: home.join(FILE) }
    }

    /// Whether `key` was recorded and has not expired at `now` (unix seconds).
    pub fn seen(&self, key: &[u8; 32], now: u64) -> io::Result<bool> {
        let mut text = String::new();
        match File::open(&self.path) {
            Ok(mut f) => f.read_to_string(&mut text)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let hex = hex(key);
        Ok(entries(&text).any(|(expiry, k)| k == hex && expiry > now))
    }

    /// Remembers `key` until `expiry` (unix seconds), durably; `now` decides which lines a
    /// compaction drops.
    pub fn record(&self, key: &[u8; 32], expiry: u64, now: u64) -> io::Result<()> {
        let line = format!("{expiry} {}\n", hex(key));
        loop {
            let created = !self.path.exists();
            let mut f =
                OpenOptions::new().create(true).append(true).read(true).mode(0o600).open(&self.path)?;
            f.lock()?;
            // A compaction replaced the file while we waited for its lock: use the new one.
            match fs::metadata(&self.path) {
                Ok(m) if m.ino() == f.metadata()?.ino() => {}
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            if f.metadata()?.len() + line.len() as u64 > COMPACT_AT {
                let mut text = String::new();
                f.read_to_string(&mut text)?;
                let (total, expired) =
                    entries(&text).fold((0, 0), |(t, x), (e, _)| (t + 1, x + usize::from(e <= now)));
                // Only when it halves the file: live keys alone may exceed the threshold.
                if expired * 2 >= total {
                    return self.compact(&text, &line, now);
                }
            }
            f.write_all(line.as_bytes())?;
            f.sync_data()?;
            if created {
                sync_dir(&self.path)?;
            }
            return Ok(());
        }
    }

    /// Writes the live lines of `text` (the locked file's) plus `line` to a new file and renames it over
    /// the old one while still holding the old one's lock.
    fn compact(&self, text: &str, line: &str, now: u64) -> io::Result<()> {
        let mut out = String::with_capacity(text.len() / 2 + line.len());
        for (expiry, key) in entries(text).filter(|(e, _)| *e > now) {
            out.push_str(&format!("{expiry} {key}\n"));
        }
        out.push_str(line);
        let tmp = self.path.with_extension(format!("tmp.{}", std::process::id()));
        let mut f = OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(out.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        sync_dir(&self.path)
    }
}

/// The well-formed lines of a store; a torn last line (a crash mid-write) is skipped.
fn entries(text: &str) -> impl Iterator<Item = (u64, &str)> {
    text.lines().filter_map(|l| {
        let (expiry, key) = l.split_once(' ')?;
        (key.len() == 64).then_some(())?;
        Some((expiry.parse().ok()?, key))
    })
}

fn hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_expire_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let d = Duplicates::new(dir.path());
        assert!(!d.seen(&[1; 32], 100).unwrap());
        d.record(&[1; 32], 200, 100).unwrap();
        let d = Duplicates::new(dir.path());
        assert!(d.seen(&[1; 32], 150).unwrap());
        assert!(!d.seen(&[1; 32], 200).unwrap(), "expired");
        assert!(!d.seen(&[2; 32], 150).unwrap());
        // A torn line from a crash is ignored, and later records still count.
        OpenOptions::new().append(true).open(dir.path().join(FILE)).unwrap().write_all(b"999 abc").unwrap();
        d.record(&[3; 32], 300, 100).unwrap();
        assert!(d.seen(&[1; 32], 150).unwrap());
        assert!(!d.seen(&[3; 32], 150).unwrap(), "the torn line swallowed nothing it should not");
    }

    #[test]
    fn compaction_keeps_live_entries() {
        let dir = tempfile::tempdir().unwrap();
        let d = Duplicates::new(dir.path());
        let n = COMPACT_AT as usize / 86 + 10;
        for i in 0..n as u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            // Even ones expire at 50, odd ones live until 1000.
            d.record(&k, if i % 2 == 0 { 50 } else { 1000 }, 100).unwrap();
        }
        let size = fs::metadata(dir.path().join(FILE)).unwrap().len();
        assert!(size <= COMPACT_AT, "{size}");
        for i in [1u32, 3, n as u32 - 1] {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            assert!(d.seen(&k, 100).unwrap() == (i % 2 == 1), "{i}");
        }
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let home = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let d = Duplicates::new(&home);
                    for i in 0..400u16 {
                        let mut k = [t; 32];
                        k[1..3].copy_from_slice(&i.to_be_bytes());
                        d.record(&k, 1000, 100).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let d = Duplicates::new(dir.path());
        for t in 0..4u8 {
            for i in (0..400u16).step_by(37) {
                let mut k = [t; 32];
                k[1..3].copy_from_slice(&i.to_be_bytes());
                assert!(d.seen(&k, 100).unwrap(), "{t} {i}");
            }
        }
    }
}
