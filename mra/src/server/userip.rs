//! The IMAP sessions each user has open from each client address, against
//! `max_user_ip_connections` (Dovecot's `mail_max_userip_connections`): a client that opens
//! connection after connection is stopped at login, before it opens the Maildir yet again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Logged-in sessions by (user, client address).
#[derive(Debug, Default)]
pub struct UserIpCounts(Mutex<HashMap<(String, String), u32>>);

impl UserIpCounts {
    /// A slot for one more session of `user` from `ip`, or `None` when `limit` are open.
    pub fn take(self: &Arc<Self>, user: &str, ip: &str, limit: u32) -> Option<Slot> {
        let key = (user.to_string(), ip.to_string());
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Slot { counts: self.clone(), key })
    }
}

/// One session's place in the count, given back when the session ends.
#[derive(Debug)]
pub struct Slot {
    counts: Arc<UserIpCounts>,
    key: (String, String),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_address() {
        let counts = Arc::new(UserIpCounts::default());
        let a = counts.take("bob", "1.2.3.4", 2).unwrap();
        let _b = counts.take("bob", "1.2.3.4", 2).unwrap();
        assert!(counts.take("bob", "1.2.3.4", 2).is_none());
        let _other_ip = counts.take("bob", "5.6.7.8", 2).unwrap();
        let _other_user = counts.take("carol", "1.2.3.4", 2).unwrap();
        drop(a);
        assert!(counts.take("bob", "1.2.3.4", 2).is_some());
    }
}
