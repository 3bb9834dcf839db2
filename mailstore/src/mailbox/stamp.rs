//! What tells, without reading a mailbox, that it may have changed: the modification times of
//! `new/` and `cur/` (a delivery, a flag change by rename, an expunge) and the identities of
//! `dovecot-uidlist` (UIDs assigned: appended, or replaced by rename) and `mailroom.modseq`
//! (mod-sequences recorded, or the file deleted and to be rebuilt).
//!
//! File times come from a coarse clock (a few milliseconds, a whole second on some
//! filesystems, and the kernel's coarse clock may lag the wall clock by a tick), so a change
//! made just after a stamp was taken may leave it equal. A stamp is trusted to mean
//! "unchanged since" only when it is settled: every time in it at least [`SETTLE_SECS`] whole
//! seconds before the second it was taken in, Dovecot's rule (`mtime < now - 1`). A change
//! after that then lands in a later second and moves the stamp.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::modseq::{self, FileId};
use crate::uidlist;

/// How many whole seconds every time in a stamp must be older than the second it is taken in
/// before equal stamps mean "unchanged".
const SETTLE_SECS: u64 = 2;

/// The change markers of one mailbox directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    new: Option<SystemTime>,
    cur: Option<SystemTime>,
    uidlist: Option<(SystemTime, u64, u64)>,
    modseq: Option<FileId>,
    /// Whether it was settled when taken.
    settled: bool,
}

impl Stamp {
    /// The stamp of `dir` now.
    pub fn of(dir: &Path) -> Stamp {
        let mtime = |sub: &str| fs::metadata(dir.join(sub)).and_then(|m| m.modified()).ok();
        let uidlist = fs::metadata(dir.join(uidlist::FILE))
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.ino(), m.len())));
        let modseq = modseq::file_id(dir);
        let mut stamp = Stamp { new: mtime("new"), cur: mtime("cur"), uidlist, modseq, settled: false };
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let now = secs(SystemTime::now());
        let old = |t: Option<SystemTime>| t.is_some_and(|t| secs(t) + SETTLE_SECS <= now);
        stamp.settled = old(stamp.new)
            && old(stamp.cur)
            && stamp.uidlist.is_none_or(|u| old(Some(u.0)))
            && stamp.modseq.is_none_or(|m| old(Some(m.0)));
        stamp
    }

    /// Whether equal later stamps mean nothing changed since this one was taken.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// Whether the markers are the same (whatever the settledness).
    pub fn same(&self, other: &Stamp) -> bool {
        (self.new, self.cur, self.uidlist, self.modseq) == (other.new, other.cur, other.uidlist, other.modseq)
    }

    /// The identity `mailroom.modseq` had.
    pub(super) fn modseq_id(&self) -> Option<FileId> {
        self.modseq
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_change_changes_the_stamp_and_old_times_settle() {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["new", "cur", "tmp"] {
            fs::create_dir(tmp.path().join(d)).unwrap();
        }
        let old = SystemTime::now() - Duration::from_secs(10);
        for d in ["new", "cur"] {
            fs::File::open(tmp.path().join(d)).unwrap().set_modified(old).unwrap();
        }
        let a = Stamp::of(tmp.path());
        assert!(a.settled(), "times 10 s old are settled");
        assert!(a.same(&Stamp::of(tmp.path())));
        fs::write(tmp.path().join("new/1.M1P1.h"), "x").unwrap();
        let b = Stamp::of(tmp.path());
        assert!(!a.same(&b), "a delivery changes new/");
        assert!(!b.settled(), "a time just now is not settled");
        // Within the previous whole second is not settled either: a 1 s clock (or a coarse
        // clock a tick behind) may still stamp a later change with that second.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let last_second = UNIX_EPOCH + Duration::from_secs(now - 1);
        for d in ["new", "cur"] {
            fs::File::open(tmp.path().join(d)).unwrap().set_modified(last_second).unwrap();
        }
        assert!(!Stamp::of(tmp.path()).settled(), "the second before now is not settled");
    }
}
