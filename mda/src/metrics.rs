//! mailroom-mda's metrics: deliveries by outcome and the time a Maildir write takes.

use std::sync::LazyLock;
use std::time::Instant;

use daemon::metrics::{Counter, Family, Histogram, Labels, Registry};

use crate::deliver::Outcome;

static DELIVERIES: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(Family::default);
static MAILDIR_WRITE: LazyLock<Histogram> = LazyLock::new(daemon::metrics::latency_histogram);

/// Add this daemon's metrics to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(
        "deliveries",
        "Copies handed to the MDA, by outcome (delivered, duplicate, over_quota, disk_full, \
         temporary, permission, cannot_create)",
        DELIVERIES.clone(),
    );
    registry.register(
        "maildir_write_seconds",
        "Time to write a message into a Maildir: tmp/, fsync, rename into new/, directory fsync",
        MAILDIR_WRITE.clone(),
    );
}

/// Count one delivery's outcome.
pub fn delivered(outcome: &Outcome) {
    let outcome = match outcome {
        Outcome::Delivered { duplicate: true, .. } => "duplicate",
        Outcome::Delivered { .. } => "delivered",
        Outcome::OverQuota { .. } => "over_quota",
        Outcome::DiskFull => "disk_full",
        Outcome::Temporary(_) => "temporary",
        Outcome::Permission(_) => "permission",
        Outcome::CannotCreate(_) => "cannot_create",
        Outcome::Rejected(_) => "rejected",
    };
    DELIVERIES.get_or_create(&[("outcome", outcome)]).inc();
}

/// A Maildir write that started at `start` finished.
pub fn maildir_written(start: Instant) {
    daemon::metrics::observe_since(&MAILDIR_WRITE, start);
}
