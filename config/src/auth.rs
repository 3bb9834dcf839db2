//! How a daemon checks passwords: through mailroom-saslauthd's socket (the default, so one
//! place checks, throttles and logs), or authlib directly (the single-host shortcut).

use serde::{Deserialize, Serialize};

/// `auth = "saslauthd" | "direct"` in a daemon's section.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// Ask the cyrus-protocol socket given by the section's `saslauthd_socket`.
    #[default]
    Saslauthd,
    /// Verify against the database with authlib (needs read access to password hashes).
    Direct,
}
