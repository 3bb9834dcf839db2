//! `[mta]`: mailroom-mta, the SMTP server, queue and queue manager.

use serde::{Deserialize, Serialize};

/// `[mta]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Mta {
    /// tracing filter.
    pub log_level: String,
}

impl Default for Mta {
    fn default() -> Self {
        Mta { log_level: "info".into() }
    }
}
