//! The verified-credentials cache: a password that matched a stored hash a moment ago matches
//! it again without another ARGON2ID or SHA-crypt run. Entries are keyed by the user and the
//! stored hash itself, so the lookup of the row still runs on every login and a changed
//! password (a new hash) misses at once; the password is kept only as an HMAC-SHA-256 under a
//! key drawn at start and never written anywhere, so a memory dump yields no password and no
//! offline guess. A wrong password never matches an entry's digest, so it always pays the full
//! hash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use proto::Secret;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type Digest = [u8; 32];

/// Successful (user, stored hash, password) checks, each valid for a TTL.
pub(crate) struct VerifiedCache {
    ttl: Duration,
    capacity: usize,
    key: [u8; 32],
    /// HMAC of (user, hash) → when it was verified, and the HMAC of (user, hash, password).
    entries: Mutex<HashMap<Digest, (Instant, Digest)>>,
    hits: AtomicU64,
}

impl VerifiedCache {
    /// A cache of at most `capacity` entries kept `ttl`; `None` when either is zero (off).
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Option<VerifiedCache> {
        (!ttl.is_zero() && capacity > 0).then(|| VerifiedCache {
            ttl,
            capacity,
            key: rand::random(),
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
        })
    }

    /// HMAC over length-prefixed parts, so no two different part lists give the same input.
    fn mac(&self, parts: &[&[u8]]) -> Digest {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    fn slot(&self, user: &str, hash: &str) -> Digest {
        self.mac(&[user.as_bytes(), hash.as_bytes()])
    }

    fn proof(&self, user: &str, hash: &str, password: &Secret) -> Digest {
        self.mac(&[user.as_bytes(), hash.as_bytes(), password.expose()])
    }

    /// True when `password` was verified against this very `hash` of `user` less than a TTL ago.
    pub(crate) fn hit(&self, user: &str, hash: &str, password: &Secret) -> bool {
        let slot = self.slot(user, hash);
        let proof = self.proof(user, hash, password);
        let entries = self.entries.lock().expect("verified cache lock");
        let hit = entries
            .get(&slot)
            .is_some_and(|(at, stored)| at.elapsed() < self.ttl && bool::from(stored.ct_eq(&proof)));
        if hit {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Logins answered from the cache so far.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Remember that `password` matched `hash`. When full, expired entries go first, then the
    /// oldest one.
    pub(crate) fn store(&self, user: &str, hash: &str, password: &Secret) {
        let slot = self.slot(user, hash);
        let proof = self.proof(user, hash, password);
        let mut entries = self.entries.lock().expect("verified cache lock");
        if entries.len() >= self.capacity && !entries.contains_key(&slot) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity
                && let Some(oldest) = entries.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(slot, (Instant::now(), proof));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA";

    fn cache() -> VerifiedCache {
        VerifiedCache::new(Duration::from_secs(60), 10).unwrap()
    }

    #[test]
    fn hits_only_the_same_user_hash_and_password() {
        let c = cache();
        let pw = Secret::from("pw");
        assert!(!c.hit("bob@b.test", HASH, &pw));
        c.store("bob@b.test", HASH, &pw);
        assert!(c.hit("bob@b.test", HASH, &pw));
        assert!(!c.hit("bob@b.test", HASH, &Secret::from("pw2")), "wrong password hit");
        assert!(!c.hit("bob@b.test", HASH, &Secret::from("")), "empty password hit");
        assert!(!c.hit("carol@b.test", HASH, &pw), "another user hit");
        assert!(!c.hit("bob@b.test", "{PLAIN}pw", &pw), "a changed hash hit");
    }

    #[test]
    fn parts_cannot_slide_into_each_other() {
        let c = cache();
        c.store("bob", "ab", &Secret::from("c"));
        assert!(!c.hit("bob", "a", &Secret::from("bc")));
        assert!(!c.hit("boba", "b", &Secret::from("c")));
    }

    #[test]
    fn off_when_zero_and_expired_after_ttl() {
        assert!(VerifiedCache::new(Duration::ZERO, 10).is_none());
        assert!(VerifiedCache::new(Duration::from_secs(1), 0).is_none());
        let c = VerifiedCache::new(Duration::from_nanos(1), 10).unwrap();
        c.store("bob", HASH, &Secret::from("pw"));
        std::thread::sleep(Duration::from_millis(1));
        assert!(!c.hit("bob", HASH, &Secret::from("pw")));
    }

    #[test]
    fn bounded_by_evicting_the_oldest() {
        let c = VerifiedCache::new(Duration::from_secs(60), 2).unwrap();
        let pw = Secret::from("pw");
        for u in ["a", "b", "c"] {
            c.store(u, HASH, &pw);
        }
        assert_eq!(c.len(), 2);
        assert!(!c.hit("a", HASH, &pw) && c.hit("b", HASH, &pw) && c.hit("c", HASH, &pw));
    }

    #[test]
    fn a_new_key_per_cache() {
        let (a, b) = (cache(), cache());
        let pw = Secret::from("pw");
        a.store("bob", HASH, &pw);
        assert!(!b.hit("bob", HASH, &pw));
        assert_ne!(a.proof("bob", HASH, &pw), b.proof("bob", HASH, &pw));
    }
}
