//! Dovecot's dotlock: whoever creates `<file>.lock` (O_EXCL) may change `<file>`. A rewrite is
//! written into the lock file itself and renamed over the target, which replaces the file and
//! releases the lock in one atomic step, as Dovecot's `file_dotlock_replace` does; otherwise the
//! lock is removed when dropped.
//!
//! A lock file older than the stale timeout is left by a crashed writer (Dovecot's uidlist
//! writers hold it for milliseconds) and is removed, checking it is still the same file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Dovecot's stale timeout for `dovecot-uidlist.lock` and `dovecot-keywords.lock`.
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// How long [`DotLock::acquire`] waits for another writer by default.
pub const WAIT: Duration = Duration::from_secs(30);

/// Pause between attempts while another process holds the lock.
const RETRY: Duration = Duration::from_millis(10);

/// A held dotlock on a file.
#[derive(Debug)]
pub struct DotLock {
    lock: PathBuf,
    target: PathBuf,
    file: Option<File>,
    mode: u32,
}

impl DotLock {
    /// Takes the lock for `target`, waiting up to `wait` for another holder; `WouldBlock`
    /// when it is still held then. New files get `mode`.
    pub fn acquire(target: &Path, wait: Duration, mode: u32) -> io::Result<DotLock> {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let lock = target.with_file_name(name);
        let deadline = Instant::now() + wait;
        loop {
            match OpenOptions::new().write(true).create_new(true).mode(mode).open(&lock) {
                Ok(file) => {
                    return Ok(DotLock { lock, target: target.to_path_buf(), file: Some(file), mode });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if remove_if_stale(&lock)? {
                        continue;
                    }
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!("{} is held by another process", lock.display()),
                        ));
                    }
                    std::thread::sleep(RETRY);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The file mode new files were created with.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Replaces the target with `content` (written into the lock file, fsynced, renamed over
    /// the target) and releases the lock.
    pub fn replace(mut self, content: &[u8]) -> io::Result<()> {
        let mut file = self.file.take().expect("a held lock has its file");
        let written = file.write_all(content).and_then(|()| file.sync_data());
        drop(file);
        match written.and_then(|()| fs::rename(&self.lock, &self.target)) {
            Ok(()) => {
                // Released by the rename: nothing left for Drop to remove.
                self.lock = PathBuf::new();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for DotLock {
    fn drop(&mut self) {
        if !self.lock.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.lock);
        }
    }
}

/// Removes `lock` if it is older than [`STALE_AFTER`]; true when it is gone (either way).
fn remove_if_stale(lock: &Path) -> io::Result<bool> {
    let meta = match fs::metadata(lock) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    let age = SystemTime::now().duration_since(meta.modified()?).unwrap_or_default();
    if age < STALE_AFTER {
        return Ok(false);
    }
    // Another process may have replaced the stale lock by a fresh one meanwhile.
    match fs::metadata(lock) {
        Ok(again) if again.ino() == meta.ino() && again.mtime() == meta.mtime() => {
            match fs::remove_file(lock) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
                Err(e) => Err(e),
            }
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_and_releases() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("dovecot-uidlist");
        let held = DotLock::acquire(&target, WAIT, 0o600).unwrap();
        assert!(tmp.path().join("dovecot-uidlist.lock").exists());
        let e = DotLock::acquire(&target, Duration::ZERO, 0o600).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(held);
        assert!(!tmp.path().join("dovecot-uidlist.lock").exists());
        let l = DotLock::acquire(&target, Duration::ZERO, 0o600).unwrap();
        l.replace(b"3 V1 N1\n").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"3 V1 N1\n");
        assert!(!tmp.path().join("dovecot-uidlist.lock").exists());
    }

    #[test]
    fn stale_locks_are_broken() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("dovecot-uidlist");
        let lock = tmp.path().join("dovecot-uidlist.lock");
        fs::write(&lock, b"").unwrap();
        let old = SystemTime::now() - STALE_AFTER - Duration::from_secs(5);
        File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
        let l = DotLock::acquire(&target, Duration::ZERO, 0o600).unwrap();
        drop(l);
        assert!(!lock.exists());
    }
}
