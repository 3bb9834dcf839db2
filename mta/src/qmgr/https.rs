//! The HTTPS client of MTA-STS policy fetches and TLS-RPT uploads: one request on one
//! connection, the host's addresses from our resolver, its certificate checked by the caller's
//! connector.

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::Name;
use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// Why a request got no response.
#[derive(Debug)]
pub enum Failure {
    /// The TLS handshake failed: the certificate, mostly (MTA-STS reports it apart).
    Tls(String),
    /// Anything else: DNS, connect, HTTP.
    Other(String),
}

/// Keeps the connection serving until the response body has been read.
pub struct Connection(JoinHandle<Result<(), hyper::Error>>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Send `request` to `host` on `port` over TLS; the response, with the connection to keep while
/// its body is read.
pub async fn send<B>(
    resolver: &TokioResolver,
    https: &TlsConnector,
    host: &str,
    port: u16,
    request: Request<B>,
) -> Result<(Response<Incoming>, Connection), Failure>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let other = |e: &dyn std::fmt::Display| Failure::Other(e.to_string());
    let name = Name::from_ascii(format!("{host}.")).map_err(|e| other(&e))?;
    let ips = resolver.lookup_ip(name).await.map_err(|e| other(&e))?;
    let mut stream = Err("no address".to_string());
    for ip in ips.iter() {
        stream = tokio::net::TcpStream::connect(SocketAddr::new(ip, port))
            .await
            .map_err(|e| format!("connect to {ip}: {e}"));
        if stream.is_ok() {
            break;
        }
    }
    let stream = stream.map_err(Failure::Other)?;
    let server_name = ServerName::try_from(host.to_string()).map_err(|e| other(&e))?;
    let tls = https.connect(server_name, stream).await.map_err(|e| Failure::Tls(format!("TLS: {e}")))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| other(&e))?;
    let conn = Connection(tokio::spawn(conn));
    let response = sender.send_request(request).await.map_err(|e| other(&e))?;
    Ok((response, conn))
}
