//! `[mra]`: mailroom-mra, the POP3 and IMAP servers.

use serde::{Deserialize, Serialize};

/// `[mra]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Mra {
    /// tracing filter.
    pub log_level: String,
}

impl Default for Mra {
    fn default() -> Self {
        Mra { log_level: "info".into() }
    }
}
