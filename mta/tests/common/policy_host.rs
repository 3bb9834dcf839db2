//! An MTA-STS policy host for the tests: HTTPS on a loopback port (rustls, a certificate
//! made for the test) answering `GET /.well-known/mta-sts.txt` by Host header.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TIMEOUT;

/// A policy host: HTTPS on a loopback port, `GET /.well-known/mta-sts.txt` answered from
/// `policies` by Host header. Stops (closes its port) on drop.
pub struct PolicyHost {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Requests served so far.
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PolicyHost {
    /// Serve `policies` (Host → policy text) with the certificate and key given.
    pub fn start(cert_pem: &str, key_pem: &str, policies: HashMap<String, String>) -> PolicyHost {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes()).map(Result::unwrap).collect();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (requests, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (requests2, stop2) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        requests2.fetch_add(1, Ordering::SeqCst);
                        stream.set_nonblocking(false).unwrap();
                        let _ = serve(config.clone(), stream, &policies);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                }
            }
        });
        PolicyHost { port, requests, stop, thread: Some(thread) }
    }
}

impl Drop for PolicyHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP/1.1 request over TLS, answered and closed.
fn serve(
    config: Arc<rustls::ServerConfig>,
    mut stream: std::net::TcpStream,
    policies: &HashMap<String, String>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    let mut conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::Stream::new(&mut conn, &mut stream);
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let request = String::from_utf8_lossy(&request).into_owned();
    let host = request
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("host")))
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let response = match policies.get(&host) {
        Some(p) if request.starts_with("GET /.well-known/mta-sts.txt HTTP/1.1\r\n") => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{p}",
            p.len()
        ),
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
    };
    tls.write_all(response.as_bytes())?;
    tls.flush()?;
    conn.send_close_notify();
    let _ = conn.complete_io(&mut stream);
    Ok(())
}
