//! The optional credential cache (cyrus `-c`): successful logins are remembered for a while as
//! a salted hash of login and password, never the password itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proto::Secret;
use sha2::{Digest, Sha256};

/// Successful logins, valid for a TTL.
pub struct CredentialCache {
    ttl: Duration,
    capacity: usize,
    salt: [u8; 32],
    entries: Mutex<HashMap<String, (Instant, [u8; 32])>>,
}

impl CredentialCache {
    /// A cache keeping at most `capacity` logins for `ttl`, with a random per-process salt.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        CredentialCache { ttl, capacity, salt: rand::random(), entries: Mutex::new(HashMap::new()) }
    }

    fn digest(&self, login: &str, password: &Secret) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(login.as_bytes());
        h.update([0]);
        h.update(password.expose());
        h.finalize().into()
    }

    /// True when `login` succeeded with this very password less than a TTL ago.
    pub fn hit(&self, login: &str, password: &Secret) -> bool {
        let d = self.digest(login, password);
        let entries = self.entries.lock().expect("cache lock");
        entries.get(login).is_some_and(|(at, stored)| at.elapsed() < self.ttl && *stored == d)
    }

    /// Remember a successful login; when full, expired entries go first, and if none has
    /// expired the new login is simply not cached.
    pub fn store(&self, login: &str, password: &Secret) {
        let d = self.digest(login, password);
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.capacity && !entries.contains_key(login) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                return;
            }
        }
        entries.insert(login.to_string(), (Instant::now(), d));
    }

    /// Drop a login (after a failure with another password, for instance).
    pub fn forget(&self, login: &str) {
        self.entries.lock().expect("cache lock").remove(login);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_the_same_password_within_ttl() {
        let c = CredentialCache::new(Duration::from_secs(60), 10);
        let pw = Secret::from("pw");
        assert!(!c.hit("bob@b.test", &pw));
        c.store("bob@b.test", &pw);
        assert!(c.hit("bob@b.test", &pw));
        assert!(!c.hit("bob@b.test", &Secret::from("other")));
        assert!(!c.hit("carol@b.test", &pw));
        c.forget("bob@b.test");
        assert!(!c.hit("bob@b.test", &pw));
        let expired = CredentialCache::new(Duration::ZERO, 10);
        expired.store("bob@b.test", &pw);
        assert!(!expired.hit("bob@b.test", &pw));
    }

    #[test]
    fn bounded() {
        let c = CredentialCache::new(Duration::from_secs(60), 2);
        let pw = Secret::from("pw");
        for u in ["a", "b", "c"] {
            c.store(u, &pw);
        }
        assert!(c.hit("a", &pw) && c.hit("b", &pw) && !c.hit("c", &pw));
    }
}
