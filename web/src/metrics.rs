//! mailroom-web's metrics: answers by status class and logins by result.

use std::sync::LazyLock;

use axum::http::StatusCode;
use daemon::metrics::{Counter, Family, Labels, Registry};

static REQUESTS: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(Family::default);
static LOGINS: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(Family::default);

/// Add this daemon's metrics to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(
        "requests",
        "HTTP requests answered, by status class (2xx, 3xx, 4xx, 5xx)",
        REQUESTS.clone(),
    );
    registry.register("logins", "Login attempts, by result (ok, failed, unavailable)", LOGINS.clone());
}

/// Count one answer.
pub fn request(status: StatusCode) {
    let class = match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    REQUESTS.get_or_create(&[("status", class)]).inc();
}

/// Count one login attempt.
pub fn login(result: &'static str) {
    LOGINS.get_or_create(&[("result", result)]).inc();
}
