//! mailroom-mra's metrics: logins by protocol and result.

use std::sync::LazyLock;

use daemon::metrics::{Counter, Family, Labels, Registry};

use crate::server::login::Failure;

static LOGINS: LazyLock<Family<Labels<2>, Counter>> = LazyLock::new(Family::default);

/// Add this crate's metrics to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(
        "logins",
        "Logins, by protocol (imap, pop3) and result (ok, failed, tempfail)",
        LOGINS.clone(),
    );
}

/// Count a login on `service` (`imap`, `pop`) that ended with `result`.
pub fn login<T>(service: &str, result: &Result<T, Failure>) {
    let protocol = if service == "imap" { "imap" } else { "pop3" };
    let result = match result {
        Ok(_) => "ok",
        Err(Failure::Rejected) => "failed",
        Err(Failure::TempFail) => "tempfail",
    };
    LOGINS.get_or_create(&[("protocol", protocol), ("result", result)]).inc();
}
