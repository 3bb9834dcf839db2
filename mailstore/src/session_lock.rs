//! An exclusive session on a mailbox, for POP3: RFC 1939 gives a POP3 session exclusive access
//! to its maildrop, so a second login of the same user is answered `[IN-USE]`.
//!
//! It is an flock(2) on a file in the mailbox directory, so it excludes other sessions of this
//! process and of other mailroom-mra processes alike, and the kernel releases it when the
//! session ends or the process dies: no stale lock to clean up. Dovecot ignores it (Dovecot
//! itself only locks with `pop3_lock_session`), which is harmless: every change to the
//! mailbox is safe against concurrent sessions anyway.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file's name in the mailbox directory.
pub const FILE: &str = "mailroom-pop3.lock";

/// A held session lock; released when dropped.
#[derive(Debug)]
pub struct SessionLock {
    _lock: Flock<File>,
}

impl SessionLock {
    /// Takes the lock of the mailbox at `dir` without waiting; `None` when another session
    /// holds it.
    pub fn try_acquire(dir: &Path) -> io::Result<Option<SessionLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join(FILE))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(SessionLock { _lock: lock })),
            Err((_, Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_session_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let first = SessionLock::try_acquire(tmp.path()).unwrap().expect("free");
        assert!(SessionLock::try_acquire(tmp.path()).unwrap().is_none());
        drop(first);
        assert!(SessionLock::try_acquire(tmp.path()).unwrap().is_some());
    }
}
