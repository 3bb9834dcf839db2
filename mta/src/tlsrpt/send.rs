//! Sending the closed periods' reports: for each policy domain, its `_smtp._tls` TXT record
//! names where reports go (RFC 8460 §3); `mailto:` addresses get one mail through our own
//! queue, `https:` URLs a POST of the gzipped report (§5.2, not retried). A domain whose
//! record could not be looked up is tried again at the next send, for two days; then, like
//! a domain with no record, it is forgotten.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_resolver::TokioResolver;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST};
use tokio_rustls::TlsConnector;

use super::report::{self, Reporter as Who};
use super::store::{self, Counts, DAY, Period, Recorder};
use super::{Destination, rua};
use crate::qmgr::https;

/// How long a period whose reports could not all be sent is kept for another try.
const KEEP: u64 = 2 * DAY;
/// A POST's whole exchange.
const POST_TIMEOUT: Duration = Duration::from_secs(60);

/// Queues a report mail: the queue manager, which routes it like any other.
pub trait Mailer {
    /// Queue `message` to the addresses `to`; the new message's id as text.
    fn queue(&self, to: &[String], message: &[u8]) -> impl Future<Output = std::io::Result<String>> + Send;
}

/// The reporting side: the recorder, and what sending needs.
pub struct Reporter {
    recorder: Recorder,
    dir: PathBuf,
    resolver: TokioResolver,
    https: TlsConnector,
    who: Who,
    /// One send at a time (the daily one and an admin's could meet).
    busy: tokio::sync::Mutex<()>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Reporter {
    /// Reports of the periods in `dir` that `recorder` writes, from `who`; TXT records and
    /// HTTPS hosts found through `resolver`, reached with `https` (a verifying TLS client).
    pub fn new(
        recorder: Recorder,
        dir: PathBuf,
        resolver: TokioResolver,
        https: TlsConnector,
        who: Who,
    ) -> Reporter {
        Reporter { recorder, dir, resolver, https, who, busy: Default::default() }
    }

    /// Where sessions are recorded.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Send the reports of every closed period; with `close_now`, the period in progress is
    /// closed first and reported too.
    pub async fn send(&self, close_now: bool, mailer: &impl Mailer) {
        let _one = self.busy.lock().await;
        if close_now {
            self.recorder.close().await;
        }
        let periods = match store::closed(&self.dir) {
            Ok(p) => p,
            Err(e) => return tracing::error!("TLS reporting: cannot read {}: {e}", self.dir.display()),
        };
        for (path, period) in periods {
            let mut left = Period { policies: Vec::new(), ..period.clone() };
            for (domain, counts) in period.by_domain() {
                if !self.send_domain(&period, domain, &counts, mailer).await {
                    left.policies.extend(counts.into_iter().cloned());
                }
            }
            let expired = now() >= period.end.unwrap_or(period.start).saturating_add(KEEP);
            let done = if left.policies.is_empty() || expired {
                std::fs::remove_file(&path)
            } else {
                store::write(&self.dir, &path, &left)
            };
            if let Err(e) = done {
                tracing::error!("TLS reporting: {}: {e}", path.display());
            }
        }
    }

    /// Send `domain`'s report of `period`; false when it should be tried again.
    async fn send_domain(
        &self,
        period: &Period,
        domain: &str,
        counts: &[&Counts],
        mailer: &impl Mailer,
    ) -> bool {
        let destinations = match self.rua(domain).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                tracing::debug!("{domain}: no TLSRPT record; no TLS report");
                return true;
            }
            Err(e) => {
                tracing::warn!("{domain}: TLSRPT record lookup failed: {e}; report kept for later");
                return false;
            }
        };
        let json = report::json(period, domain, counts, &self.who);
        let gz = match report::gzip(&json) {
            Ok(gz) => gz,
            Err(e) => {
                tracing::error!("{domain}: cannot compress the TLS report: {e}");
                return true;
            }
        };
        let id = report::report_id(period, domain, &self.who.submitter);
        let mut sent = true;
        let mail: Vec<String> = destinations
            .iter()
            .filter_map(|d| match d {
                Destination::Mail(a) => Some(a.clone()),
                Destination::Https(_) => None,
            })
            .collect();
        if !mail.is_empty() {
            let queued = match report::message(period, domain, &self.who, &mail, &gz) {
                Ok(m) => mailer.queue(&mail, &m).await,
                Err(e) => Err(e),
            };
            match queued {
                Ok(qid) => tracing::info!("{domain}: TLS report {id} queued as {qid} to {}", mail.join(",")),
                Err(e) => {
                    tracing::error!("{domain}: cannot queue TLS report {id}: {e}; kept for later");
                    sent = false;
                }
            }
        }
        for d in &destinations {
            if let Destination::Https(url) = d {
                match tokio::time::timeout(POST_TIMEOUT, self.post(url, &gz)).await {
                    Ok(Ok(())) => tracing::info!("{domain}: TLS report {id} posted to {url}"),
                    Ok(Err(e)) => tracing::warn!("{domain}: TLS report {id} to {url}: {e}"),
                    Err(_) => tracing::warn!("{domain}: TLS report {id} to {url}: timed out"),
                }
            }
        }
        sent
    }

    /// The destinations of `domain`'s `_smtp._tls` TXT record; `None` when it has none.
    async fn rua(&self, domain: &str) -> Result<Option<Vec<Destination>>, String> {
        let name = format!("_smtp._tls.{}.", domain.trim_end_matches('.'));
        Ok(rua(&crate::qmgr::mx::txt(&self.resolver, &name).await?))
    }

    /// POST the gzipped report to `url` (§5.2): `application/tlsrpt+gzip`, any 2xx is taken.
    async fn post(&self, url: &str, gz: &[u8]) -> Result<(), String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
        let host = uri.host().ok_or("no host")?.to_string();
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let request = hyper::Request::post(path)
            .header(HOST, &host)
            .header(CONTENT_TYPE, "application/tlsrpt+gzip")
            .body(Full::new(hyper::body::Bytes::copy_from_slice(gz)))
            .map_err(|e| e.to_string())?;
        let port = uri.port_u16().unwrap_or(443);
        let (response, _conn) =
            https::send(&self.resolver, &self.https, &host, port, request).await.map_err(|f| match f {
                https::Failure::Tls(e) | https::Failure::Other(e) => e,
            })?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        let _ = response.into_body().collect().await;
        Ok(())
    }
}
