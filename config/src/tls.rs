//! `[tls]`: the certificate every TLS listener presents (SMTP STARTTLS/465, IMAP, POP3).

use serde::{Deserialize, Serialize};

/// `[tls]` section, shared by mailroom-mta and mailroom-mra.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain; empty: no TLS (STARTTLS not offered, implicit-TLS ports not opened).
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

impl Tls {
    /// Both files are configured.
    pub fn enabled(&self) -> bool {
        !self.cert.is_empty() && !self.key.is_empty()
    }
}
