//! `[tls]`: the certificate every TLS listener presents (SMTP STARTTLS/465, IMAP, POP3).

use crate::OptionalPath;

crate::section! {
    /// The certificate every TLS listener presents (SMTP STARTTLS/465, IMAP, POP3).
    pub struct Tls {
        /// PEM certificate chain; empty: no TLS (STARTTLS not offered, implicit-TLS ports not opened).
        pub cert: OptionalPath = OptionalPath::default(),
        /// PEM private key.
        pub key: OptionalPath = OptionalPath::default(),
    }
}

impl Tls {
    /// Both files are configured.
    pub fn enabled(&self) -> bool {
        !self.cert.is_empty() && !self.key.is_empty()
    }
}
