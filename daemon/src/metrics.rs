//! Prometheus metrics: one registry per process, exposed in the OpenMetrics text format at
//! `GET /metrics` on the daemon's `metrics_listen` sockets (or systemd's socket named
//! `metrics`). Every name starts with `mailroom_<daemon>_`; labels take a bounded set of values
//! (roles, results, reply classes), never a user or an address.
//!
//! A library keeps its metrics as statics and offers a `register` function; the daemon adds
//! them to its [`Registry`] before serving. The exposition is a few lines of HTTP/1.1 read with
//! httparse: the endpoint is for a scraper on loopback, not a web server.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

pub use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
pub use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::ConstGauge;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::Histogram;
pub use prometheus_client::metrics::histogram::exponential_buckets;
pub use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::listen::Stream;

/// The content type of the OpenMetrics text format.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The longest request we read; a scrape request is a few hundred bytes.
const MAX_REQUEST: usize = 8192;
/// How long a scraper may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A registry for daemon `name` (`mta`): every metric registered in it is named
/// `mailroom_<name>_...`.
pub fn registry(name: &str) -> Registry {
    Registry::with_prefix(format!("mailroom_{name}"))
}

/// Latency buckets from 100 µs to about 52 s, doubling: a Maildir fsync and a slow MX both fit.
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

/// Observe the seconds since `start` in `histogram`.
pub fn observe_since(histogram: &Histogram, start: Instant) {
    histogram.observe(start.elapsed().as_secs_f64());
}

/// A label set of `N` names, each with one of a fixed set of values: `{listener="IMAP"}`,
/// `{protocol="cyrus",result="ok"}`. Static strings: counting allocates nothing.
pub type Labels<const N: usize> = [(&'static str, &'static str); N];

static REFUSED: LazyLock<Counter> = LazyLock::new(Counter::default);
static TLS: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(Family::default);

/// A connection was closed at once because a connection limit was reached.
pub fn connection_refused() {
    REFUSED.inc();
}

/// A TLS handshake (implicit TLS or STARTTLS) ended, established or not.
pub fn tls_handshake(ok: bool) {
    TLS.get_or_create(&[("result", if ok { "ok" } else { "failed" })]).inc();
}

/// The connection metrics [`crate::run::Service`] keeps for every daemon, by listener.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    open: Family<Labels<1>, Gauge>,
    accepted: Family<Labels<1>, Counter>,
}

impl Connections {
    /// Register as `connections` (open now) and `connections_accepted` (since start), with
    /// the refusals of [`connection_refused`] and the handshakes of [`tls_handshake`].
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "connections_refused",
            "Connections closed at once because a connection limit was reached",
            REFUSED.clone(),
        );
        registry.register("tls_handshakes", "TLS handshakes, by result (ok, failed)", TLS.clone());
        registry.register("connections", "Connections open now, by listener", self.open.clone());
        registry.register(
            "connections_accepted",
            "Connections accepted since start, by listener",
            self.accepted.clone(),
        );
    }

    /// A connection on `listener` was accepted; it counts as open until the guard drops.
    pub fn accepted(&self, listener: &'static str) -> OpenConnection {
        let label = [("listener", listener)];
        self.accepted.get_or_create(&label).inc();
        let open = self.open.get_or_create(&label).clone();
        open.inc();
        OpenConnection(open)
    }
}

/// Counts one open connection until dropped.
#[derive(Debug)]
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Answer one scrape on `stream`: `GET /metrics` gets the registry's exposition; anything else
/// a 404 or 405. The connection closes after the answer.
pub async fn scrape(mut stream: Stream, registry: Arc<Registry>) {
    let mut buf = Vec::with_capacity(512);
    let answer = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream, &mut buf)).await {
        Ok(Ok(Some((method, path)))) => respond(&method, &path, &registry),
        Ok(Ok(None)) => response("400 Bad Request", "text/plain", "bad request\n".into()),
        Ok(Err(_)) | Err(_) => return,
    };
    let _ = stream.write_all(&answer).await;
    let _ = stream.shutdown().await;
}

/// The method and path of the request in `buf`, reading until its head is complete; `None`
/// when it is not HTTP or too long.
async fn read_request(stream: &mut Stream, buf: &mut Vec<u8>) -> std::io::Result<Option<(String, String)>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(_)) => {
                return Ok(Some((req.method.unwrap_or("").to_string(), req.path.unwrap_or("").to_string())));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST => {}
            _ => return Ok(None),
        }
        let mut chunk = [0; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn respond(method: &str, path: &str, registry: &Registry) -> Vec<u8> {
    let path = path.split('?').next().unwrap_or(path);
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let mut body = String::new();
            if encode(&mut body, registry).is_err() {
                return response("500 Internal Server Error", "text/plain", "encoding failed\n".into());
            }
            if method == "HEAD" {
                let mut head = response("200 OK", CONTENT_TYPE, body);
                let end = head.windows(4).position(|w| w == b"\r\n\r\n").map_or(head.len(), |i| i + 4);
                head.truncate(end);
                return head;
            }
            response("200 OK", CONTENT_TYPE, body)
        }
        (_, "/metrics") => response("405 Method Not Allowed", "text/plain", "GET only\n".into()),
        _ => response("404 Not Found", "text/plain", "metrics are at /metrics\n".into()),
    }
}

fn response(status: &str, content_type: &str, body: String) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_count_open_and_accepted() {
        let mut registry = registry("test");
        let c = Connections::default();
        c.register(&mut registry);
        let a = c.accepted("IMAP");
        let b = c.accepted("IMAP");
        drop(a);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains("mailroom_test_connections{listener=\"IMAP\"} 1\n"), "{text}");
        assert!(text.contains("mailroom_test_connections_accepted_total{listener=\"IMAP\"} 2\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        drop(b);
    }

    #[test]
    fn only_get_metrics_is_served() {
        let registry = registry("test");
        let ok = String::from_utf8(respond("GET", "/metrics", &registry)).unwrap();
        assert!(
            ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.contains(CONTENT_TYPE) && ok.ends_with("# EOF\n"),
            "{ok}"
        );
        let head = String::from_utf8(respond("HEAD", "/metrics?x", &registry)).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "{head}");
        assert!(
            String::from_utf8(respond("POST", "/metrics", &registry)).unwrap().starts_with("HTTP/1.1 405")
        );
        assert!(String::from_utf8(respond("GET", "/", &registry)).unwrap().starts_with("HTTP/1.1 404"));
    }
}
