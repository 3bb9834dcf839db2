//! Atomic delivery into a Maildir: write in `tmp/`, fsync, rename into `new/`, fsync `new/`.
//!
//! A message is visible to readers only once it is complete and on disk, and whatever goes
//! wrong (disk full, quota, I/O error, the input failing) removes the half-written file, so
//! nothing is ever left in `new/` or `tmp/` by a failed delivery. The rename is a plain
//! rename(2), as in Dovecot: the name is unique to this host, process and delivery, so it cannot
//! replace anything; `renameat2(RENAME_NOREPLACE)` would not be supported on every filesystem
//! (older NFS), and Postfix's link+unlink costs a syscall more and fails where hard links
//! do not exist.

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::crlf::LfWriter;
use crate::filename;
use crate::flags::Flags;
use crate::folder::FolderName;
use crate::maildir::{Maildir, sync_dir};

/// Read and write buffer size: large enough for few syscalls, small enough for many at once.
const BUF_SIZE: usize = 64 * 1024;

/// How often to pick a new name if one already exists in `tmp/` (never, short of clock trouble).
const NAME_ATTEMPTS: usize = 3;

/// A message safely stored in `new/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The file in `new/`, named `<base>,S=<size>,W=<vsize>`.
    pub path: PathBuf,
    /// Its size on disk, LF line ends.
    pub size: u64,
    /// Its size with CRLF line ends, as IMAP reports it.
    pub vsize: u64,
}

/// Why a delivery failed, grouped by what the caller should answer.
///
/// mailroom-mda answers LMTP 452 4.3.1 when [`DeliverError::is_storage_full`] is true and
/// 451 4.3.0 for everything else (an admin can fix permissions: never bounce for that);
/// command-line delivery (sysexits): 75 EX_TEMPFAIL, 77 EX_NOPERM, 73 EX_CANTCREAT.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// Disk full, quota, I/O error, input failed, or anything not known to be permanent.
    #[error("temporary failure: {0}")]
    Temporary(#[source] io::Error),
    /// The Maildir is there but this process may not write into it.
    #[error("permission denied: {0}")]
    Permission(#[source] io::Error),
    /// The Maildir or folder does not exist and cannot be made (a file in the way, no access).
    #[error("cannot create {}: {source}", path.display())]
    CannotCreate {
        /// The directory that could not be created.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

impl DeliverError {
    /// Whether trying again later can succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, DeliverError::Temporary(_))
    }

    /// Whether the filesystem or the user's disk quota is full (LMTP 452 rather than 451).
    pub fn is_storage_full(&self) -> bool {
        matches!(self, DeliverError::Temporary(e) if is_full(e))
    }

    /// Classifies an error from writing into an existing Maildir.
    fn from_write(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::PermissionDenied => DeliverError::Permission(e),
            _ => DeliverError::Temporary(e),
        }
    }

    /// Classifies an error from creating a Maildir or folder.
    fn from_create(path: &Path, e: io::Error) -> Self {
        if is_full(&e) || is_transient(&e) {
            DeliverError::Temporary(e)
        } else {
            DeliverError::CannotCreate { path: path.to_owned(), source: e }
        }
    }
}

/// ENOENT or ENOTDIR: the Maildir or folder is not there (or a file is in its way).
fn is_missing(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// ENOSPC or EDQUOT.
fn is_full(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
}

/// Errors that say nothing about the Maildir itself: EIO, EAGAIN, EINTR, EROFS, too many files.
fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(e.kind(), WouldBlock | Interrupted | ResourceBusy | ReadOnlyFilesystem | OutOfMemory)
        || matches!(e.raw_os_error(), Some(nix::libc::EIO | nix::libc::EMFILE | nix::libc::ENFILE))
}

impl Maildir {
    /// Delivers `prefix` then `body` (SMTP wire format, dot-unstuffed) into `new/` of a folder,
    /// or of INBOX for `None`, creating the Maildir or the folder if it does not exist.
    ///
    /// The message is stored with LF line ends and streamed: memory use does not grow with its
    /// size. Quota is the caller's business ([`crate::quota`]), before and after.
    pub fn deliver(
        &self,
        folder: Option<&FolderName>,
        prefix: &[u8],
        body: &mut dyn Read,
    ) -> Result<Delivered, DeliverError> {
        self.store(folder, prefix, body, &Flags::empty(), None)
    }

    /// Like [`Maildir::deliver`], for IMAP APPEND and COPY: the file has `flags` in its name
    /// and `mtime` (the INTERNALDATE) before it appears in `new/` (where it is `\Recent` for
    /// the first session that sees it), so no session ever sees it without them.
    pub fn save(
        &self,
        folder: Option<&FolderName>,
        body: &mut dyn Read,
        flags: &Flags,
        mtime: Option<SystemTime>,
    ) -> Result<Delivered, DeliverError> {
        self.store(folder, b"", body, flags, mtime)
    }

    fn store(
        &self,
        folder: Option<&FolderName>,
        prefix: &[u8],
        body: &mut dyn Read,
        flags: &Flags,
        mtime: Option<SystemTime>,
    ) -> Result<Delivered, DeliverError> {
        let dir = self.folder_path(folder);
        let (file, base) = self.open_tmp(&dir, folder)?;
        let tmp = TmpFile(dir.join("tmp").join(&base));
        let (size, vsize) = write_message(file, prefix, body)?;
        if let Some(t) = mtime {
            fs::File::options()
                .write(true)
                .open(&tmp.0)
                .and_then(|f| f.set_modified(t))
                .map_err(DeliverError::from_write)?;
        }
        let mut name = filename::with_sizes(&base, size, vsize);
        if *flags != Flags::empty() {
            name = format!("{name}:{}", flags.to_info());
        }
        let path = dir.join("new").join(name);
        fs::rename(&tmp.0, &path).map_err(DeliverError::from_write)?;
        tmp.disarm();
        if let Err(e) = sync_dir(&dir.join("new")) {
            // Not known to be durable: take it back so the sender retries, rather than risk
            // losing a message we acknowledged.
            let _ = fs::remove_file(&path);
            return Err(DeliverError::from_write(e));
        }
        Ok(Delivered { path, size, vsize })
    }

    /// Opens a fresh unique file in `tmp/`, creating the Maildir or folder on ENOENT.
    fn open_tmp(&self, dir: &Path, folder: Option<&FolderName>) -> Result<(fs::File, String), DeliverError> {
        let mut created = false;
        let mut last = None;
        for _ in 0..NAME_ATTEMPTS {
            let base = filename::unique();
            match self.create_new(&dir.join("tmp").join(&base)) {
                Ok(file) => return Ok((file, base)),
                Err(e) if is_missing(&e) && !created => {
                    // The common case costs no extra syscall: only a missing tmp/ makes us create.
                    let made = match folder {
                        None => self.create(),
                        Some(f) => self.create_folder(f),
                    };
                    made.map_err(|e| DeliverError::from_create(dir, e))?;
                    created = true;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(DeliverError::from_write(e)),
            }
        }
        Err(DeliverError::Temporary(last.unwrap_or_else(|| io::Error::other("cannot create a file in tmp/"))))
    }
}

/// Streams prefix and body through CRLF→LF into `file`, fsyncs it; returns (size, vsize).
fn write_message(file: fs::File, prefix: &[u8], body: &mut dyn Read) -> Result<(u64, u64), DeliverError> {
    let mut out = LfWriter::new(BufWriter::with_capacity(BUF_SIZE, file));
    out.write_chunk(prefix).map_err(DeliverError::from_write)?;
    let mut buf = vec![0; BUF_SIZE];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // The input failing is never the Maildir's fault, whatever its error kind says.
            Err(e) => return Err(DeliverError::Temporary(e)),
        };
        out.write_chunk(&buf[..n]).map_err(DeliverError::from_write)?;
    }
    let (mut writer, size, vsize) = out.finish().map_err(DeliverError::from_write)?;
    writer.flush().map_err(DeliverError::from_write)?;
    let file = writer.into_inner().map_err(|e| DeliverError::from_write(e.into_error()))?;
    file.sync_all().map_err(DeliverError::from_write)?;
    Ok((size, vsize))
}

/// A file in `tmp/` that is removed when dropped, unless it was renamed into `new/`.
struct TmpFile(PathBuf);

impl TmpFile {
    /// The file has moved on; nothing to clean up.
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: io::ErrorKind) -> io::Error {
        io::Error::from(kind)
    }

    #[test]
    fn classify_write_errors() {
        use nix::libc::*;
        for (errno, temporary) in
            [(ENOSPC, true), (EDQUOT, true), (EIO, true), (EAGAIN, true), (EACCES, false), (EPERM, false)]
        {
            let e = DeliverError::from_write(io::Error::from_raw_os_error(errno));
            assert_eq!(e.is_temporary(), temporary, "errno {errno}");
        }
        assert!(DeliverError::from_write(io::Error::from_raw_os_error(ENOSPC)).is_storage_full());
        assert!(DeliverError::from_write(io::Error::from_raw_os_error(EDQUOT)).is_storage_full());
        assert!(!DeliverError::from_write(io::Error::from_raw_os_error(EIO)).is_storage_full());
    }

    #[test]
    fn classify_create_errors() {
        let p = Path::new("/x");
        assert!(DeliverError::from_create(p, err(io::ErrorKind::StorageFull)).is_temporary());
        assert!(DeliverError::from_create(p, io::Error::from_raw_os_error(nix::libc::EIO)).is_temporary());
        for kind in [io::ErrorKind::PermissionDenied, io::ErrorKind::NotADirectory] {
            assert!(matches!(DeliverError::from_create(p, err(kind)), DeliverError::CannotCreate { .. }));
        }
    }
}
