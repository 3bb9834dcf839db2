//! DANE for SMTP (RFC 7672, RFC 6698): the TLSA records of an MX host, found through a
//! DNSSEC-validating lookup (`mx::Dns::tlsa`), decide how its certificate is checked.
//! DANE-EE(3) pins the server's own certificate or key, with no name or date check; DANE-TA(2)
//! names a trust anchor in the chain the server sends, which must then issue a certificate
//! valid for the MX host name. PKIX usages (0, 1) and unknown parameters are unusable
//! (RFC 7672 §3.1.3): records that are all unusable still demand TLS, just not a verified one.

use std::sync::Arc;

use hickory_resolver::proto::rr::rdata::TLSA;
use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256, Sha512};
use tokio_rustls::TlsConnector;

/// What a host's TLSA RRset asks of the connection.
#[derive(Debug, Clone)]
pub enum Requirement {
    /// No secure TLSA records (none published, or the DNS is not signed): opportunistic TLS.
    Opportunistic,
    /// Secure TLSA records, none usable: TLS required, unauthenticated (RFC 7672 §2.2).
    Encrypted,
    /// Usable records: TLS required with a certificate one of them matches.
    Authenticated(Arc<Vec<Usable>>),
}

/// A usable TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usable {
    /// DANE-TA (true) or DANE-EE (false).
    trust_anchor: bool,
    /// Selector SPKI (true) or full certificate (false).
    spki: bool,
    matching: Matching,
    data: Vec<u8>,
}

impl Requirement {
    /// From a DNSSEC-secure TLSA RRset (`None`: no secure RRset).
    pub fn of(records: Option<&[TLSA]>) -> Requirement {
        let Some(records) = records.filter(|r| !r.is_empty()) else {
            return Requirement::Opportunistic;
        };
        let usable: Vec<Usable> = records.iter().filter_map(Usable::of).collect();
        if usable.is_empty() { Requirement::Encrypted } else { Requirement::Authenticated(Arc::new(usable)) }
    }
}

impl Usable {
    fn of(r: &TLSA) -> Option<Usable> {
        let trust_anchor = match r.cert_usage {
            CertUsage::DaneTa => true,
            CertUsage::DaneEe => false,
            _ => return None,
        };
        let spki = match r.selector {
            Selector::Full => false,
            Selector::Spki => true,
            _ => return None,
        };
        let len_ok = match r.matching {
            // A full certificate or key is longer than any digest; an empty one matches nothing.
            Matching::Raw => !r.cert_data.is_empty(),
            Matching::Sha256 => r.cert_data.len() == 32,
            Matching::Sha512 => r.cert_data.len() == 64,
            _ => return None,
        };
        len_ok.then(|| Usable { trust_anchor, spki, matching: r.matching, data: r.cert_data.clone() })
    }

    /// The record's presentation form (`3 1 1 ab12...`), as TLS reports name the policy.
    pub fn presentation(&self) -> String {
        let usage = if self.trust_anchor { 2 } else { 3 };
        let selector = u8::from(self.spki);
        let data: String = self.data.iter().map(|b| format!("{b:02x}")).collect();
        format!("{usage} {selector} {} {data}", u8::from(self.matching))
    }

    /// Whether `cert` (DER) is the one this record names.
    fn matches(&self, cert: &[u8]) -> bool {
        let selected = if self.spki {
            match x509_parser::parse_x509_certificate(cert) {
                Ok((_, c)) => c.tbs_certificate.subject_pki.raw.to_vec(),
                Err(_) => return false,
            }
        } else {
            cert.to_vec()
        };
        match self.matching {
            Matching::Raw => selected == self.data,
            Matching::Sha256 => Sha256::digest(&selected)[..] == self.data[..],
            Matching::Sha512 => Sha512::digest(&selected)[..] == self.data[..],
            _ => false,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS client that accepts only a server certificate `records` authenticate.
pub fn connector(records: Arc<Vec<Usable>>) -> TlsConnector {
    let provider = provider();
    let verifier =
        Verifier { records, algs: provider.signature_verification_algorithms, provider: provider.clone() };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[derive(Debug)]
struct Verifier {
    records: Arc<Vec<Usable>>,
    algs: WebPkiSupportedAlgorithms,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    /// DANE-TA: a certificate the server sent is the anchor, and the chain from it to the end
    /// entity is valid (dates, signatures, the MX host name: RFC 7672 §3.2.2).
    fn via_anchor(
        &self,
        ee: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let mut last = rustls::Error::General("no TLSA record matches the certificate chain".into());
        for ta in chain.iter().filter(|c| self.records.iter().any(|r| r.trust_anchor && r.matches(c))) {
            let mut roots = RootCertStore::empty();
            if roots.add(ta.clone()).is_err() {
                continue;
            }
            let pkix = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
            match pkix.verify_server_cert(ee, chain, name, &[], now) {
                Ok(_) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        ee: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        _: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // DANE-EE: the certificate itself, whatever its names and dates (RFC 7672 §3.1.1).
        if self.records.iter().any(|r| !r.trust_anchor && r.matches(ee)) {
            return Ok(ServerCertVerified::assertion());
        }
        if self.records.iter().any(|r| r.trust_anchor) {
            self.via_anchor(ee, chain, name, now)?;
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::General("no TLSA record matches the certificate".into()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlsa(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> TLSA {
        TLSA::new(usage.into(), selector.into(), matching.into(), data)
    }

    fn usable(r: TLSA) -> Usable {
        Usable::of(&r).expect("usable")
    }

    #[test]
    fn usable_and_unusable_records() {
        let sha = vec![7u8; 32];
        assert!(matches!(Requirement::of(None), Requirement::Opportunistic));
        assert!(matches!(Requirement::of(Some(&[])), Requirement::Opportunistic));
        // PKIX-TA, PKIX-EE, unknown selector or matching type, a digest of the wrong size.
        let unusable = [
            tlsa(0, 1, 1, sha.clone()),
            tlsa(1, 1, 1, sha.clone()),
            tlsa(3, 2, 1, sha.clone()),
            tlsa(3, 1, 3, sha.clone()),
            tlsa(3, 1, 2, sha.clone()),
        ];
        assert!(matches!(Requirement::of(Some(&unusable)), Requirement::Encrypted));
        let mixed = [tlsa(1, 1, 1, sha.clone()), tlsa(3, 1, 1, sha.clone())];
        let Requirement::Authenticated(u) = Requirement::of(Some(&mixed)) else { panic!() };
        assert_eq!(u.len(), 1);
    }

    #[test]
    fn selectors_and_matching_types() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["mx.test".into()]).unwrap().self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let other = rcgen::PublicKeyData::subject_public_key_info(&rcgen::KeyPair::generate().unwrap());
        assert!(usable(tlsa(3, 0, 0, der.clone())).matches(&der));
        assert!(usable(tlsa(3, 0, 1, Sha256::digest(&der).to_vec())).matches(&der));
        assert!(usable(tlsa(3, 0, 2, Sha512::digest(&der).to_vec())).matches(&der));
        assert!(usable(tlsa(3, 1, 0, spki.clone())).matches(&der));
        assert!(usable(tlsa(3, 1, 1, Sha256::digest(&spki).to_vec())).matches(&der));
        assert!(usable(tlsa(3, 1, 2, Sha512::digest(&spki).to_vec())).matches(&der));
        assert!(!usable(tlsa(3, 1, 1, Sha256::digest(&other).to_vec())).matches(&der));
        assert!(!usable(tlsa(3, 0, 1, Sha256::digest(&spki).to_vec())).matches(&der));
        assert!(!usable(tlsa(3, 1, 1, Sha256::digest(&spki).to_vec())).matches(b"not a certificate"));
    }

    /// A CA and a certificate it issued for `name`, both DER.
    fn chain(name: &str) -> (Vec<u8>, Vec<u8>) {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![name.to_string()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
        (ca.der().to_vec(), leaf.der().to_vec())
    }

    fn verify(records: Vec<TLSA>, ee: &[u8], chain: &[&[u8]], name: &str) -> Result<(), rustls::Error> {
        let Requirement::Authenticated(records) = Requirement::of(Some(&records)) else { panic!("unusable") };
        let p = provider();
        let v = Verifier { records, algs: p.signature_verification_algorithms, provider: p.clone() };
        let chain: Vec<CertificateDer<'_>> = chain.iter().map(|c| CertificateDer::from(c.to_vec())).collect();
        let name = ServerName::try_from(name.to_string()).unwrap();
        v.verify_server_cert(&CertificateDer::from(ee.to_vec()), &chain, &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn dane_ta_checks_chain_and_name_dane_ee_neither() {
        let (ca, leaf) = chain("mx.test");
        let (other_ca, _) = chain("mx.test");
        let ta = |c: &[u8]| vec![tlsa(2, 0, 1, Sha256::digest(c).to_vec())];
        // The anchor is sent in the chain and issued the certificate for the MX host.
        assert!(verify(ta(&ca), &leaf, &[&ca], "mx.test").is_ok());
        // DANE-TA checks the name (RFC 7672 §3.2.2)...
        assert!(verify(ta(&ca), &leaf, &[&ca], "other.test").is_err());
        // ...and that the anchor named is the one that issued it, and that it was sent.
        assert!(verify(ta(&other_ca), &leaf, &[&other_ca], "mx.test").is_err());
        assert!(verify(ta(&ca), &leaf, &[], "mx.test").is_err());
        // DANE-EE pins the certificate itself, whatever name it has.
        let ee = vec![tlsa(3, 0, 1, Sha256::digest(&leaf).to_vec())];
        assert!(verify(ee.clone(), &leaf, &[], "other.test").is_ok());
        assert!(verify(ee, &ca, &[], "mx.test").is_err());
    }
}
