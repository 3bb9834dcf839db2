//! Message lists shared between the open mailboxes of one directory.
//!
//! Every IMAP session with a mailbox selected holds its message list, and a thousand sessions
//! in IDLE on one INBOX would hold a thousand copies of the same list. After each sync the new
//! list is compared with the one last published for its directory; when they are equal the
//! session takes that one instead. A session that changes its list (flags, expunge) gets its
//! own copy first (`Arc::make_mut`) and shares again after its next sync. Nothing here is
//! authoritative: it is only the in-memory form of what a scan found.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use super::Message;

/// The last list published for each directory, while some mailbox still holds it.
static LISTS: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

#[derive(Default)]
struct Registry {
    lists: HashMap<PathBuf, Weak<Vec<Message>>>,
    /// Entries after the last sweep of dead ones; the next sweep comes at twice as many.
    swept_at: usize,
}

/// `list` as an `Arc`: the one already published for `dir` when it is equal, else `list`
/// itself, published.
pub(super) fn intern(dir: &Path, list: Vec<Message>) -> Arc<Vec<Message>> {
    let published = lock().lists.get(dir).and_then(Weak::upgrade);
    // Compared outside the lock: sessions of other mailboxes do not wait on it.
    if let Some(p) = published
        && *p == list
    {
        return p;
    }
    let list = Arc::new(list);
    let mut reg = lock();
    reg.lists.insert(dir.to_path_buf(), Arc::downgrade(&list));
    if reg.lists.len() >= 2 * reg.swept_at.max(64) {
        reg.lists.retain(|_, w| w.strong_count() > 0);
        reg.swept_at = reg.lists.len();
    }
    list
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    // A panic elsewhere while holding it leaves the map consistent: entries are only weak
    // pointers, inserted whole.
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
        }
    }

    #[test]
    fn equal_lists_of_one_directory_are_one() {
        let dir = Path::new("/shared-test/a");
        let a = intern(dir, vec![msg(1, "1.M1P1.h:2,S")]);
        let b = intern(dir, vec![msg(1, "1.M1P1.h:2,S")]);
        assert!(Arc::ptr_eq(&a, &b));
        let c = intern(dir, vec![msg(1, "1.M1P1.h:2,SF")]);
        assert!(!Arc::ptr_eq(&a, &c), "a changed list is its own");
        let d = intern(Path::new("/shared-test/b"), vec![msg(1, "1.M1P1.h:2,SF")]);
        assert!(!Arc::ptr_eq(&c, &d), "another directory never shares");
        let e = intern(dir, vec![msg(1, "1.M1P1.h:2,SF")]);
        assert!(Arc::ptr_eq(&c, &e), "the newest list is the one shared");
    }

    #[test]
    fn dead_lists_are_swept() {
        for i in 0..1000 {
            drop(intern(&PathBuf::from(format!("/shared-test/sweep{i}")), vec![msg(1, "x")]));
        }
        assert!(lock().lists.len() < 1000);
    }
}
