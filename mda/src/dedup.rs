//! No double delivery on retry: an LMTP client that lost our reply sends the same message
//! again; within a short window the same message for the same recipient is stored once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When each (message digest, recipient) was last stored.
type Seen = HashMap<([u8; 32], String), Instant>;

/// Recently delivered (message digest, recipient) pairs.
pub struct Dedup {
    window: Duration,
    /// The entries, and the size the map had after the last sweep of expired ones.
    seen: Mutex<(Seen, usize)>,
}

impl Dedup {
    /// Remember deliveries for `window`.
    pub fn new(window: Duration) -> Dedup {
        Dedup { window, seen: Mutex::new((Seen::new(), 0)) }
    }

    /// True when this message went to this mailbox less than a window ago.
    pub fn is_duplicate(&self, digest: &[u8; 32], mailbox: &str) -> bool {
        let seen = self.seen.lock().expect("dedup lock");
        seen.0.get(&(*digest, mailbox.to_string())).is_some_and(|t| t.elapsed() < self.window)
    }

    /// Record a delivery. Expired entries are swept when the map has doubled since the last
    /// sweep, not on every delivery: a sweep walks the whole map.
    pub fn record(&self, digest: [u8; 32], mailbox: &str) {
        let mut seen = self.seen.lock().expect("dedup lock");
        let (map, swept_at) = &mut *seen;
        if map.len() >= (*swept_at * 2).max(1024) {
            let window = self.window;
            map.retain(|_, t| t.elapsed() < window);
            *swept_at = map.len();
        }
        map.insert((digest, mailbox.to_string()), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_message_same_recipient_within_window() {
        let d = Dedup::new(Duration::from_secs(60));
        assert!(!d.is_duplicate(&[1; 32], "bob@b.test"));
        d.record([1; 32], "bob@b.test");
        assert!(d.is_duplicate(&[1; 32], "bob@b.test"));
        assert!(!d.is_duplicate(&[1; 32], "carol@b.test"));
        assert!(!d.is_duplicate(&[2; 32], "bob@b.test"));
        // Many deliveries: expired entries are swept, live ones kept.
        let short = Dedup::new(Duration::from_millis(1));
        for i in 0..5000u32 {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_be_bytes());
            short.record(d, "bob@b.test");
        }
        std::thread::sleep(Duration::from_millis(5));
        short.record([9; 32], "bob@b.test");
        for _ in 0..2048 {
            short.record([9; 32], "carol@b.test");
        }
        assert!(short.seen.lock().unwrap().0.len() < 5000, "expired entries swept");
        let none = Dedup::new(Duration::ZERO);
        none.record([1; 32], "bob@b.test");
        assert!(!none.is_duplicate(&[1; 32], "bob@b.test"));
    }
}
