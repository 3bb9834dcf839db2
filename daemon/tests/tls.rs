//! TLS: load, handshake with a client that trusts the certificate, reload, bad files.

use std::path::Path;
use std::sync::Arc;

use daemon::tls::{TlsConfig, TlsError};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A fresh self-signed certificate for "localhost" written to `dir`; returns its DER.
fn make_cert(dir: &Path) -> CertificateDer<'static> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    ck.cert.der().clone()
}

fn load(dir: &Path) -> Result<TlsConfig, TlsError> {
    TlsConfig::load(&dir.join("cert.pem"), &dir.join("key.pem"))
}

/// Handshake through an in-memory pipe with a client that trusts only `trusted`, and move a
/// few bytes each way; Err with the client's handshake error.
async fn handshake(tls: &TlsConfig, trusted: &CertificateDer<'static>) -> Result<(), std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let client =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let (c, s) = tokio::io::duplex(64 * 1024);
    let acceptor = tls.acceptor();
    let server = tokio::spawn(async move {
        let mut s = acceptor.accept(s).await?;
        let mut buf = [0; 4];
        s.read_exact(&mut buf).await?;
        s.write_all(b"pong").await?;
        s.flush().await?;
        Ok::<_, std::io::Error>(buf)
    });
    let name = ServerName::try_from("localhost").unwrap();
    let mut c = connector.connect(name, c).await?;
    c.write_all(b"ping").await?;
    let mut buf = [0; 4];
    c.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"pong");
    assert_eq!(&server.await.unwrap()?, b"ping");
    Ok(())
}

#[tokio::test]
async fn a_client_trusting_the_certificate_connects() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path());
    let tls = load(dir.path()).unwrap();
    handshake(&tls, &cert).await.unwrap();
    assert!(format!("{tls:?}").contains("cert.pem"));
}

#[tokio::test]
async fn reload_picks_up_a_renewed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let old = make_cert(dir.path());
    let tls = load(dir.path()).unwrap();
    let shared = tls.clone();
    let new = make_cert(dir.path());
    // Until the reload the old certificate is served.
    handshake(&tls, &old).await.unwrap();
    tls.reload().unwrap();
    handshake(&shared, &new).await.unwrap();
    let e = handshake(&shared, &old).await.unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}

#[tokio::test]
async fn a_failed_reload_keeps_the_config_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path());
    let tls = load(dir.path()).unwrap();
    let before = tls.current();
    std::fs::write(dir.path().join("cert.pem"), "half-written\n").unwrap();
    let e = tls.reload().unwrap_err();
    assert!(matches!(e, TlsError::Missing { what: "CERTIFICATE", .. }), "{e}");
    assert!(Arc::ptr_eq(&before, &tls.current()));
    handshake(&tls, &cert).await.unwrap();
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cert = d.join("cert.pem");
    let key = d.join("key.pem");
    let check = |e: TlsError, file: &Path, what: &str| {
        let msg = e.to_string();
        assert!(msg.starts_with(&file.display().to_string()) && msg.contains(what), "{msg}");
    };

    check(TlsConfig::load(&cert, &key).unwrap_err(), &cert, "No such file");
    make_cert(d);
    std::fs::remove_file(&key).unwrap();
    check(TlsConfig::load(&cert, &key).unwrap_err(), &key, "No such file");

    std::fs::write(&key, "no key here\n").unwrap();
    check(TlsConfig::load(&cert, &key).unwrap_err(), &key, "no PRIVATE KEY");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n").unwrap();
    check(TlsConfig::load(&cert, &key).unwrap_err(), &key, "bad PEM");

    // The key is fine but belongs to another certificate.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
    check(TlsConfig::load(&cert, &key).unwrap_err(), &cert, "with key");
}
