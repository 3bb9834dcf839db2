//! Rebuilding `maildirsize` from what the Maildir holds.
//!
//! Counts every entry of `new/` and `cur/` in INBOX and in every `.Folder`, taking the size from
//! `,S=` in the name when present (as Dovecot does, without opening the file) and from stat()
//! otherwise. A message that vanishes between readdir and stat was expunged: not counted. The new
//! file is written in `tmp/` and renamed over the old one, so readers see the old or the new file,
//! never half of one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{MAILDIRSIZE, Quota, Usage, limits_line};
use crate::filename;
use crate::maildir::Maildir;

/// Scans the Maildir, writes a fresh `maildirsize` unless the Maildir changed meanwhile, and
/// returns the usage counted.
pub(super) fn rebuild(maildir: &Maildir, limit: Quota) -> io::Result<Usage> {
    let dirs = message_dirs(maildir.root())?;
    let mut usage = Usage::default();
    let mut seen = Vec::with_capacity(dirs.len());
    for dir in dirs {
        // The mtime is taken before reading, so any change during the scan moves it on.
        let Some(mtime) = mtime(&dir)? else { continue };
        sum_dir(&dir, &mut usage)?;
        seen.push((dir, mtime));
    }
    for (dir, before) in &seen {
        if mtime(dir)? != Some(*before) {
            return Ok(usage);
        }
    }
    write(maildir, limit, usage)?;
    Ok(usage)
}

/// `new/` and `cur/` of INBOX and of every folder: every directory in the root whose name starts
/// with '.' (other than "." and ".."), as Dovecot's Maildir++ listing finds them.
fn message_dirs(root: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        // No Maildir yet: an empty mailbox (the file written next creates it, as a delivery would).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut folders = vec![root.to_path_buf()];
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        if name.first() == Some(&b'.') && name != b"." && name != b".." && entry.file_type()?.is_dir() {
            folders.push(entry.path());
        }
    }
    Ok(folders.into_iter().flat_map(|f| [f.join("new"), f.join("cur")]).collect())
}

/// A directory's modification time, or `None` if it does not exist.
fn mtime(dir: &Path) -> io::Result<Option<SystemTime>> {
    match fs::metadata(dir) {
        Ok(m) => m.modified().map(Some),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Adds the messages of one directory to `usage`.
fn sum_dir(dir: &Path, usage: &mut Usage) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let size = match entry.file_name().to_str().and_then(filename::size_from_name) {
            Some(size) => size,
            None => match entry.metadata() {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            },
        };
        usage.bytes += size;
        usage.messages += 1;
    }
    Ok(())
}

/// Writes `maildirsize` with the limits and one line of totals, via `tmp/` and rename.
fn write(maildir: &Maildir, limit: Quota, usage: Usage) -> io::Result<()> {
    let tmp_dir = maildir.root().join("tmp");
    let tmp = tmp_dir.join(filename::unique());
    let mut file = match maildir.create_new(&tmp) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            maildir.create()?;
            maildir.create_new(&tmp)?
        }
        other => other?,
    };
    let text = format!("{}\n{} {}\n", limits_line(limit), usage.bytes, usage.messages);
    let written =
        file.write_all(text.as_bytes()).and_then(|()| fs::rename(&tmp, maildir.root().join(MAILDIRSIZE)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}
