//! mailroom-saslauthd's metrics: authentications by protocol and result.

use std::sync::LazyLock;

use daemon::metrics::{Counter, Family, Labels, Registry};

use crate::check::Answer;

static AUTHENTICATIONS: LazyLock<Family<Labels<2>, Counter>> = LazyLock::new(Family::default);

/// Add this crate's metrics to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(
        "authentications",
        "Password checks answered, by protocol (cyrus, dovecot) and result (ok, failed, tempfail)",
        AUTHENTICATIONS.clone(),
    );
}

/// Count one answer given on `protocol`.
pub fn answered(protocol: &'static str, answer: &Answer) {
    let result = match answer {
        Answer::Ok(_) => "ok",
        Answer::No => "failed",
        Answer::TempFail => "tempfail",
    };
    AUTHENTICATIONS.get_or_create(&[("protocol", protocol), ("result", result)]).inc();
}
