//! TLS server configuration from a PEM certificate chain and key, swappable at run time so that
//! a renewed certificate takes effect on SIGHUP without dropping connections: sessions already
//! established keep the config they started with, new handshakes get the new one.
//!
//! rustls with the `ring` provider: aws-lc-rs's C build would slow every build for no gain here.
//! The key is re-read on reload, after privileges were dropped: it must be readable by the
//! daemon's user (as with Dovecot, group `mailroom` on a 0640 key), or reloads fail and the
//! old certificate stays in use.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate or key could not be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("{path}: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid PEM.
    #[error("{path}: bad PEM: {message}", path = path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The file holds no certificate, or no private key.
    #[error("{path}: no {what} in the file", path = path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// "CERTIFICATE" or "PRIVATE KEY".
        what: &'static str,
    },
    /// rustls refused the pair (key does not match the certificate, unsupported key type).
    #[error("{cert} with key {key}: {source}", cert = cert.display(), key = key.display())]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
}

/// The server's TLS settings: the files they come from and the config now in force. Clones
/// share the config, so a reload through one is seen by all.
#[derive(Clone)]
pub struct TlsConfig {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").field("cert", &self.cert).field("key", &self.key).finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Read the certificate chain (leaf first) from `cert_pem` and the private key (PKCS#8,
    /// PKCS#1 or SEC1) from `key_pem`.
    pub fn load(cert_pem: &Path, key_pem: &Path) -> Result<TlsConfig, TlsError> {
        let config = build(cert_pem, key_pem)?;
        Ok(TlsConfig {
            cert: cert_pem.to_path_buf(),
            key: key_pem.to_path_buf(),
            current: Arc::new(RwLock::new(Arc::new(config))),
        })
    }

    /// Re-read the same files; on error the config in force stays and the error is returned
    /// for the caller to log.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(build(&self.cert, &self.key)?);
        // A poisoned lock only means a writer panicked between two whole-Arc states.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }

    /// The config in force, for one handshake or one acceptor.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// An acceptor with the config in force; take a new one per connection to see reloads.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current())
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// The key file.
    pub fn key_path(&self) -> &Path {
        &self.key
    }
}

/// Parse both files and build a server config with rustls' safe defaults (TLS 1.2 and 1.3).
fn build(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain = read_chain(cert)?;
    let private = read_key(key)?;
    let rejected = |source| TlsError::Rejected { cert: cert.into(), key: key.into(), source };
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(rejected)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { path: path.into(), message: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::Missing { path: path.into(), what: "CERTIFICATE" });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsError::Missing { path: path.into(), what: "PRIVATE KEY" }
        }
        e => TlsError::Pem { path: path.into(), message: e.to_string() },
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.into(), source })
}

// Tested in tests/tls.rs with certificates made by rcgen and a rustls client.
