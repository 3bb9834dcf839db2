//! Message lists shared between the open mailboxes of one directory.
//!
//! Every IMAP session with a mailbox selected holds its message list, and a thousand sessions
//! in IDLE on one INBOX would hold a thousand copies of the same list. After each sync the new
//! list is compared with the one last published for its directory; when they are equal the
//! session takes that one instead. A session that changes its list (flags, expunge) gets its
//! own copy first (`Arc::make_mut`) and shares again after its next sync.
//!
//! A list published with a settled [`Stamp`] (taken before the scan that made it) also spares
//! the next session the scan: while the directory's stamp is still the same, nothing changed,
//! and SELECT or an IDLE wake-up takes the published list. Nothing here is authoritative: it is
//! only the in-memory form of what a scan found, and it is gone when no mailbox holds it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use super::Message;
use super::stamp::Stamp;

/// The last list published for each directory, while some mailbox still holds it.
static LISTS: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

#[derive(Default)]
struct Registry {
    lists: HashMap<PathBuf, Published>,
    /// Entries after the last sweep of dead ones; the next sweep comes at twice as many.
    swept_at: usize,
}

struct Published {
    list: Weak<Vec<Message>>,
    /// The mailbox state it was scanned from, when its stamp was settled.
    state: Option<State>,
}

/// What a scan found besides the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct State {
    /// The stamp taken before the scan.
    pub stamp: Stamp,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// The next UID.
    pub next_uid: u32,
    /// The highest mod-sequence of the list (0: none).
    pub highest_modseq: u64,
}

/// The list published for `dir` with a stamp the same as `stamp`, if some mailbox holds it.
pub(super) fn unchanged(dir: &Path, stamp: &Stamp) -> Option<(State, Arc<Vec<Message>>)> {
    let reg = lock();
    let p = reg.lists.get(dir)?;
    let state = p.state.filter(|s| s.stamp.same(stamp))?;
    Some((state, p.list.upgrade()?))
}

/// `list` as an `Arc`: the one already published for `dir` when it is equal, else `list`
/// itself, published. `state` is what the scan found, when its stamp was settled.
pub(super) fn publish(dir: &Path, list: Vec<Message>, state: Option<State>) -> Arc<Vec<Message>> {
    let published = lock().lists.get(dir).and_then(|p| p.list.upgrade());
    // Compared outside the lock: sessions of other mailboxes do not wait on it.
    let list = match published {
        Some(p) if *p == list => p,
        _ => Arc::new(list),
    };
    let mut reg = lock();
    reg.lists.insert(dir.to_path_buf(), Published { list: Arc::downgrade(&list), state });
    if reg.lists.len() >= 2 * reg.swept_at.max(64) {
        reg.lists.retain(|_, p| p.list.strong_count() > 0);
        reg.swept_at = reg.lists.len();
    }
    list
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    // A panic elsewhere while holding it leaves the map consistent: entries are inserted whole.
    LISTS.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::Flags;

    fn msg(uid: u32, name: &str) -> Message {
        Message {
            uid,
            in_new: false,
            name: name.into(),
            flags: Flags::from_file_name(name),
            size: None,
            vsize: None,
            extra: None,
            modseq: 0,
        }
    }

    #[test]
    fn equal_lists_of_one_directory_are_one() {
        let dir = Path::new("/shared-test/a");
        let a = publish(dir, vec![msg(1, "1.M1P1.h:2,S")], None);
        let b = publish(dir, vec![msg(1, "1.M1P1.h:2,S")], None);
        assert!(Arc::ptr_eq(&a, &b));
        let c = publish(dir, vec![msg(1, "1.M1P1.h:2,SF")], None);
        assert!(!Arc::ptr_eq(&a, &c), "a changed list is its own");
        let d = publish(Path::new("/shared-test/b"), vec![msg(1, "1.M1P1.h:2,SF")], None);
        assert!(!Arc::ptr_eq(&c, &d), "another directory never shares");
        let e = publish(dir, vec![msg(1, "1.M1P1.h:2,SF")], None);
        assert!(Arc::ptr_eq(&c, &e), "the newest list is the one shared");
    }

    #[test]
    fn only_a_published_state_with_the_same_stamp_spares_a_scan() {
        let dir = Path::new("/shared-test/state");
        let stamp = Stamp::default();
        let list = publish(dir, vec![msg(1, "1.M1P1.h:2,S")], None);
        assert!(unchanged(dir, &stamp).is_none(), "published without a settled stamp");
        let state = State { stamp, uidvalidity: 7, next_uid: 2, highest_modseq: 9 };
        let again = publish(dir, vec![msg(1, "1.M1P1.h:2,S")], Some(state));
        assert!(Arc::ptr_eq(&list, &again));
        let (s, l) = unchanged(dir, &stamp).expect("same stamp");
        assert_eq!((s.uidvalidity, s.next_uid), (7, 2));
        assert!(Arc::ptr_eq(&l, &list));
        drop((list, again, l));
        assert!(unchanged(dir, &stamp).is_none(), "nobody holds it any more");
    }

    #[test]
    fn dead_lists_are_swept() {
        for i in 0..1000 {
            drop(publish(&PathBuf::from(format!("/shared-test/sweep{i}")), vec![msg(1, "x")], None));
        }
        assert!(lock().lists.len() < 1000);
    }
}
