//! DKIM signing (RFC 6376) of outbound mail with mail-auth: a message whose From: domain has
//! a key in `[mta.dkim]` gets a DKIM-Signature header (rsa-sha256, relaxed/relaxed) before it
//! leaves over SMTP. Local deliveries are not signed: they never leave the host.

use std::collections::{BTreeMap, HashMap};

use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

/// The headers signed: those whose change would alter what the reader sees or replies to
/// (RFC 6376 §5.4.1's recommendation, as opendkim's default).
const SIGNED: [&str; 12] = [
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// Signers by From: domain.
#[derive(Default)]
pub struct Signer {
    keys: HashMap<String, DkimSigner<RsaKey<Sha256>, Done>>,
}

impl Signer {
    /// Load every key of `[mta.dkim]`; errors name the domain and file.
    pub fn load(keys: &BTreeMap<String, config::DkimKey>) -> Result<Signer, String> {
        let mut signer = Signer::default();
        for (domain, k) in keys {
            let err = |e: String| format!("dkim {domain:?}: {}: {e}", k.key_file);
            let der = PrivateKeyDer::from_pem_file(&k.key_file).map_err(|e| err(e.to_string()))?;
            let key = RsaKey::<Sha256>::from_key_der(der).map_err(|e| err(e.to_string()))?;
            let s = DkimSigner::from_key(key)
                .domain(domain.to_ascii_lowercase())
                .selector(&k.selector)
                .headers(SIGNED)
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed);
            signer.keys.insert(domain.to_ascii_lowercase(), s);
        }
        Ok(signer)
    }

    /// Whether any key is configured (else messages are not even read for signing).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The DKIM-Signature header for `message` (CRLF-terminated), or `None` when its From:
    /// domain has no key.
    pub fn sign(&self, message: &[u8]) -> Option<Result<Vec<u8>, String>> {
        let domain = from_domain(message)?;
        let signer = self.keys.get(&domain)?;
        Some(signer.sign(message).map(|s| s.to_header().into_bytes()).map_err(|e| e.to_string()))
    }
}

/// The domain of the (first) From: address, lowercased.
fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(message)?;
    let addr = parsed.from()?.first()?.address()?;
    Some(addr.rsplit_once('@')?.1.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_domains() {
        let m = b"Subject: x\r\nFrom: \"Al\" <al@Sender.Test>\r\n\r\nbody\r\n";
        assert_eq!(from_domain(m).as_deref(), Some("sender.test"));
        assert_eq!(from_domain(b"Subject: no from\r\n\r\n"), None);
    }
}
