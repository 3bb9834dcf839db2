//! The directory's metrics, for whichever daemon reads it: queries by result, their latency,
//! and the row cache's hits and misses. The daemon adds them to its registry with
//! [`register`]; authlib itself serves nothing.

use std::sync::LazyLock;
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 1];

static QUERIES: LazyLock<Family<Labels, Counter>> = LazyLock::new(Family::default);
static QUERY_SECONDS: LazyLock<Histogram> =
    LazyLock::new(|| Histogram::new(exponential_buckets(0.0001, 2.0, 18)));
static CACHE: LazyLock<Family<Labels, Counter>> = LazyLock::new(Family::default);

/// Add the directory's metrics to `registry` (named `directory_...` under its prefix).
pub fn register(registry: &mut Registry) {
    registry.register(
        "directory_queries",
        "Directory lookups sent to the database, by result (ok, unavailable)",
        QUERIES.clone(),
    );
    registry.register("directory_query_seconds", "Time a directory lookup took", QUERY_SECONDS.clone());
    registry.register(
        "directory_cache_lookups",
        "Row cache lookups when [database] cache_ttl is set, by result (hit, miss)",
        CACHE.clone(),
    );
}

/// A query that started at `start` ended, answered or not.
pub(crate) fn queried(start: Instant, ok: bool) {
    QUERY_SECONDS.observe(start.elapsed().as_secs_f64());
    QUERIES.get_or_create(&[("result", if ok { "ok" } else { "unavailable" })]).inc();
}

/// The row cache was asked.
pub(crate) fn cache_lookup(hit: bool) {
    CACHE.get_or_create(&[("result", if hit { "hit" } else { "miss" })]).inc();
}
