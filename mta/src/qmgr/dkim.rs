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

/// The DNS TXT record value that publishes an RSA public key (PKCS#1 RSAPublicKey DER):
/// `v=DKIM1; k=rsa; p=...`, with p= the SubjectPublicKeyInfo, as opendkim-genkey and every
/// major signer publish it (verifiers take it everywhere; the bare PKCS#1 key less so).
pub fn txt_record(public_pkcs1: &[u8]) -> String {
    use base64::Engine as _;
    format!("v=DKIM1; k=rsa; p={}", base64::engine::general_purpose::STANDARD.encode(spki(public_pkcs1)))
}

/// The TXT record value for the key in `key_file` (what `[mta.dkim]` signs with).
pub fn key_file_record(key_file: &str) -> Result<String, String> {
    let der = PrivateKeyDer::from_pem_file(key_file).map_err(|e| format!("{key_file}: {e}"))?;
    let key = RsaKey::<Sha256>::from_key_der(der).map_err(|e| format!("{key_file}: {e}"))?;
    Ok(txt_record(&key.public_key()))
}

/// Wrap a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (RFC 5280 §4.1, RFC 3279 §2.3.1):
/// SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { 0 unused bits, key } }.
fn spki(pkcs1: &[u8]) -> Vec<u8> {
    const ALGORITHM: [u8; 15] =
        [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let mut bits = vec![0x00];
    bits.extend_from_slice(pkcs1);
    let mut body = ALGORITHM.to_vec();
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

/// One DER TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let len: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | len.len() as u8);
        out.extend(len);
    }
    out.extend_from_slice(content);
    out
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
    fn spki_wraps_pkcs1() {
        let key = vec![0x30u8; 270];
        let s = spki(&key);
        // 30 82 01 22 | 30 0d ... 05 00 | 03 82 01 0f 00 | key
        assert_eq!(&s[..4], &[0x30, 0x82, 0x01, 0x22]);
        assert_eq!(&s[19..24], &[0x03, 0x82, 0x01, 0x0f, 0x00]);
        assert_eq!(s.len(), 4 + 15 + 5 + 270);
    }

    #[test]
    fn from_domains() {
        let m = b"Subject: x\r\nFrom: \"Al\" <al@Sender.Test>\r\n\r\nbody\r\n";
        assert_eq!(from_domain(m).as_deref(), Some("sender.test"));
        assert_eq!(from_domain(b"Subject: no from\r\n\r\n"), None);
    }
}
