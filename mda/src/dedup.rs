//! No double delivery on retry: an LMTP client that lost our reply sends the same message
//! again; within a short window the same message for the same recipient is stored once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Recently delivered (message digest, mailbox) pairs.
pub struct Dedup {
    window: Duration,
    seen: Mutex<HashMap<([u8; 32], String), Instant>>,
}

impl Dedup {
    /// Remember deliveries for `window`.
    pub fn new(window: Duration) -> Dedup {
        Dedup { window, seen: Mutex::new(HashMap::new()) }
    }

    /// True when this message went to this mailbox less than a window ago.
    pub fn is_duplicate(&self, digest: &[u8; 32], mailbox: &str) -> bool {
        let seen = self.seen.lock().expect("dedup lock");
        seen.get(&(*digest, mailbox.to_string())).is_some_and(|t| t.elapsed() < self.window)
    }

    /// Record a delivery (and forget expired ones).
    pub fn record(&self, digest: [u8; 32], mailbox: &str) {
        let mut seen = self.seen.lock().expect("dedup lock");
        let window = self.window;
        seen.retain(|_, t| t.elapsed() < window);
        seen.insert((digest, mailbox.to_string()), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_message_same_mailbox_within_window() {
        let d = Dedup::new(Duration::from_secs(60));
        assert!(!d.is_duplicate(&[1; 32], "bob@b.test"));
        d.record([1; 32], "bob@b.test");
        assert!(d.is_duplicate(&[1; 32], "bob@b.test"));
        assert!(!d.is_duplicate(&[1; 32], "carol@b.test"));
        assert!(!d.is_duplicate(&[2; 32], "bob@b.test"));
        let none = Dedup::new(Duration::ZERO);
        none.record([1; 32], "bob@b.test");
        assert!(!none.is_duplicate(&[1; 32], "bob@b.test"));
    }
}
