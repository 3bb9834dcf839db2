//! Sessions, in memory only: a random id in the cookie, the login and the form token on the
//! server; idle and absolute expiry; every session of a login ends when its password changes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq as _;

/// Most sessions held at once; past it, expired ones are dropped, then the oldest.
const MAX_SESSIONS: usize = 100_000;

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A mailbox user (the canonical address).
    User(String),
    /// An administrator (`admin.username`); its rights are read again on each request.
    Admin(String),
}

impl Who {
    /// The login name.
    pub fn name(&self) -> &str {
        match self {
            Who::User(n) | Who::Admin(n) => n,
        }
    }
}

/// A live session as a request sees it.
#[derive(Debug, Clone)]
pub struct Current {
    /// The session id (the cookie's value).
    pub id: String,
    /// Whose it is.
    pub who: Who,
    /// The token every form of this session carries.
    pub csrf: String,
}

struct Entry {
    who: Who,
    csrf: String,
    created: Instant,
    used: Instant,
}

/// The session store.
pub struct Sessions {
    idle: Duration,
    lifetime: Duration,
    map: Mutex<HashMap<String, Entry>>,
}

/// 256 random bits, hex.
pub fn token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Constant-time comparison of two tokens.
pub fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Sessions {
    /// An empty store with the configured expiries.
    pub fn new(idle: Duration, lifetime: Duration) -> Self {
        Sessions { idle, lifetime, map: Mutex::new(HashMap::new()) }
    }

    /// Start a session for `who`; returns its id.
    pub fn create(&self, who: Who) -> String {
        let id = token();
        let now = Instant::now();
        let mut map = self.map.lock().expect("session lock");
        if map.len() >= MAX_SESSIONS {
            let (idle, lifetime) = (self.idle, self.lifetime);
            map.retain(|_, e| e.used.elapsed() < idle && e.created.elapsed() < lifetime);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), Entry { who, csrf: token(), created: now, used: now });
        id
    }

    /// The live session with this id, marked used now; an expired one is removed.
    pub fn get(&self, id: &str) -> Option<Current> {
        let mut map = self.map.lock().expect("session lock");
        let e = map.get_mut(id)?;
        if e.used.elapsed() >= self.idle || e.created.elapsed() >= self.lifetime {
            map.remove(id);
            return None;
        }
        e.used = Instant::now();
        Some(Current { id: id.to_string(), who: e.who.clone(), csrf: e.csrf.clone() })
    }

    /// End one session (logout).
    pub fn remove(&self, id: &str) {
        self.map.lock().expect("session lock").remove(id);
    }

    /// End every session of `who` (its password changed, or it was deleted).
    pub fn remove_all(&self, who: &Who) {
        self.map.lock().expect("session lock").retain(|_, e| !same_login(&e.who, who));
    }
}

fn same_login(a: &Who, b: &Who) -> bool {
    match (a, b) {
        (Who::User(x), Who::User(y)) | (Who::Admin(x), Who::Admin(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_password_change() {
        let s = Sessions::new(Duration::from_secs(60), Duration::from_secs(3600));
        let a = s.create(Who::User("a@x.test".into()));
        let b = s.create(Who::User("A@x.test".into()));
        let c = s.create(Who::Admin("a@x.test".into()));
        assert_eq!(s.get(&a).unwrap().who, Who::User("a@x.test".into()));
        assert!(s.get("nope").is_none());
        s.remove_all(&Who::User("a@x.test".into()));
        assert!(s.get(&a).is_none() && s.get(&b).is_none());
        assert!(s.get(&c).is_some());
        let short = Sessions::new(Duration::ZERO, Duration::from_secs(3600));
        let d = short.create(Who::Admin("x".into()));
        assert!(short.get(&d).is_none());
    }

    #[test]
    fn tokens() {
        assert_eq!(token().len(), 64);
        assert_ne!(token(), token());
        assert!(same("ab", "ab") && !same("ab", "ac") && !same("", ""));
    }
}
