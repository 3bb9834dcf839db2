//! An optional cache of found directory rows (`[database] cache_ttl`), like Dovecot's
//! auth_cache for userdb lookups: a busy MTA and MDA ask for the same domain and mailbox for
//! every message. Only answers that found something are kept, so a new user or domain is
//! seen at once; a removed one may still be found for up to the TTL. The one exception is the
//! alias-domain mapping, asked for every domain: that a domain is not an alias domain is kept
//! too, so a new alias domain may take up to the TTL to apply. Password rows are never cached
//! here (mailroom-saslauthd has its own credential cache).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::any::AnyRow;

/// Entries kept before the cache is emptied and starts over (bounded memory, O(1) per miss).
const CAPACITY: usize = 10_000;

/// An answer and when it was read: a row, or none for the templates that keep misses.
type Entry = (Instant, Option<AnyRow>);

/// Answers by (query template, key). Templates are identified by address: they live in the
/// Directory's config or are static, so one template always has one address.
pub(crate) struct RowCache {
    ttl: Duration,
    rows: Mutex<HashMap<(usize, String), Entry>>,
}

impl RowCache {
    /// A cache keeping rows for `ttl`; zero turns it off.
    pub(crate) fn new(ttl: Duration) -> RowCache {
        RowCache { ttl, rows: Mutex::new(HashMap::new()) }
    }

    /// A fresh answer for (`template`, `key`), if cached.
    pub(crate) fn get(&self, template: &str, key: &str) -> Option<Option<AnyRow>> {
        if self.ttl.is_zero() {
            return None;
        }
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = rows
            .get(&(template.as_ptr() as usize, key.to_string()))
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, row)| row.clone());
        crate::metrics::cache_lookup(fresh.is_some());
        fresh
    }

    /// Remember an answer.
    pub(crate) fn put(&self, template: &str, key: &str, row: Option<&AnyRow>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        if rows.len() >= CAPACITY {
            rows.clear();
        }
        rows.insert((template.as_ptr() as usize, key.to_string()), (Instant::now(), row.cloned()));
    }
}
