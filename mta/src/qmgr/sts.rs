//! MTA-STS (RFC 8461): a recipient domain that publishes a `_mta-sts.<domain>` TXT record
//! (`v=STSv1; id=...`) and a policy at `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//! names the MX hosts that may receive its mail, and whether they must offer TLS with a
//! certificate valid for their name (`enforce`), are only checked (`testing`), or neither
//! (`none`). The policy is fetched over verified HTTPS, redirects not followed (§3.3), and
//! cached on disk under the spool for its max_age; a new TXT id fetches it again. A failed
//! TXT lookup or fetch falls back to the cached policy, else to no policy (§3.3, §5.1): an
//! attacker who blocks the fetch gains nothing once a domain's policy has been seen.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_resolver::TokioResolver;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HOST};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

use super::https::Failure;
use crate::tlsrpt::ResultType;

/// Where the policy is, on the policy host.
const POLICY_PATH: &str = "/.well-known/mta-sts.txt";
/// Longest policy read (§3.3 suggests 64 KiB).
const MAX_POLICY_BYTES: usize = 64 * 1024;
/// The whole fetch: connect, TLS, request, body (§3.3: "reasonable", a minute or more).
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest max_age (§3.2: about a year).
const MAX_AGE_LIMIT: u64 = 31_557_600;
/// First line of a cache file.
const CACHE_MAGIC: &str = "MAILROOM-STS 1";

/// A policy's mode (§5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only policy MX hosts, only with valid TLS; else the mail waits.
    Enforce,
    /// Check and report failures, deliver anyway.
    Testing,
    /// The domain has withdrawn its policy.
    None,
}

/// A parsed policy (§3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its mode.
    pub mode: Mode,
    /// MX host patterns, lower case: names, or `*.` and a parent for one leftmost label.
    pub mx: Vec<String>,
    /// Seconds it may be cached.
    pub max_age: u64,
}

impl Policy {
    /// Parse `key: value` lines (CRLF or LF); unknown keys are ignored, as §3.2 asks.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let (key, value) = line.split_once(':').ok_or_else(|| format!("not key: value: {line:?}"))?;
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value),
                "mode" => {
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        _ => return Err(format!("unknown mode {value:?}")),
                    })
                }
                "max_age" => {
                    let n = value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| value.len() <= 10 && *n <= MAX_AGE_LIMIT)
                        .ok_or_else(|| format!("bad max_age {value:?}"))?;
                    max_age = Some(n);
                }
                "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
                _ => {}
            }
        }
        if version != Some("STSv1") {
            return Err("version is not STSv1".into());
        }
        let mode = mode.ok_or("no mode")?;
        let max_age = max_age.ok_or("no max_age")?;
        if mx.is_empty() && mode != Mode::None {
            return Err("no mx".into());
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// The policy as lines (`version: STSv1`, `mode: ...`, each `mx: ...`, `max_age: ...`):
    /// its `policy-string` in a TLS report (RFC 8460 §4.4).
    pub fn lines(&self) -> Vec<String> {
        let mode = match self.mode {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        };
        let mut out = vec!["version: STSv1".to_string(), format!("mode: {mode}")];
        out.extend(self.mx.iter().map(|m| format!("mx: {m}")));
        out.push(format!("max_age: {}", self.max_age));
        out
    }

    /// Whether `host` is an MX host the policy names (§4.1): the same name, or `*.parent`
    /// standing for exactly one more label.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => {
                host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent)
            }
            None => *p == host,
        })
    }
}

/// The id of a domain's policy from its `_mta-sts` TXT records (§3.1): of the records that
/// start `v=STSv1`, there must be exactly one, and it must carry a valid id.
pub fn txt_id(records: &[String]) -> Option<String> {
    let sts: Vec<&String> = records.iter().filter(|r| r.starts_with("v=STSv1")).collect();
    let [record] = sts[..] else { return None };
    let mut fields = record.split(';').map(str::trim);
    if fields.next() != Some("v=STSv1") {
        return None;
    }
    fields
        .find_map(|f| f.strip_prefix("id="))
        .filter(|id| (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_string)
}

/// A policy as cached: the TXT id it was fetched under, when, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cached {
    id: String,
    fetched: u64,
    text: String,
    policy: Policy,
}

impl Cached {
    fn fresh(&self, now: u64) -> bool {
        now < self.fetched.saturating_add(self.policy.max_age)
    }

    /// `MAILROOM-STS 1`, `id <id>`, `fetched <secs>`, an empty line, the policy as served.
    fn to_file(&self) -> String {
        format!("{CACHE_MAGIC}\nid {}\nfetched {}\n\n{}", self.id, self.fetched, self.text)
    }

    fn from_file(s: &str) -> Option<Cached> {
        let (head, text) = s.split_once("\n\n")?;
        let mut lines = head.lines();
        if lines.next()? != CACHE_MAGIC {
            return None;
        }
        let id = lines.next()?.strip_prefix("id ")?.to_string();
        let fetched = lines.next()?.strip_prefix("fetched ")?.parse().ok()?;
        let policy = Policy::parse(text).ok()?;
        Some(Cached { id, fetched, text: text.to_string(), policy })
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A domain name fit for a cache file name and a DNS query.
fn plain_domain(d: &str) -> bool {
    !d.is_empty()
        && !d.starts_with('.')
        && !d.contains("..")
        && d.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// The MTA-STS side of the SMTP transport: policy discovery, fetch and cache.
pub struct Sts {
    resolver: TokioResolver,
    https: TlsConnector,
    port: u16,
    dir: PathBuf,
}

impl Sts {
    /// Policies found through `resolver` (TXT and the policy host's address), fetched with
    /// `https` (a verifying TLS client) from `port`, cached in `dir` (made when first needed).
    pub fn new(resolver: TokioResolver, https: TlsConnector, port: u16, dir: PathBuf) -> Sts {
        Sts { resolver, https, port, dir }
    }

    /// The policy of `domain` in force now, if any (mode `none` included: the caller ignores it).
    pub async fn policy(&self, domain: &str) -> Option<Policy> {
        self.lookup(domain).await.0
    }

    /// The policy of `domain` in force now, if any, and why a published one could not be
    /// had when none is (for TLS reports: RFC 8460 §4.3.2.2).
    pub async fn lookup(&self, domain: &str) -> (Option<Policy>, Option<Trouble>) {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if !plain_domain(&domain) {
            return (None, None);
        }
        let now = now();
        let live = self.load(&domain).filter(|c| c.fresh(now));
        let id = match self.txt(&domain).await {
            Ok(Some(id)) => id,
            // No record (or a broken one) while a policy is cached: the cached one stands until
            // it expires (§5.1), so deleting the record is no way to downgrade.
            Ok(None) => return (live.map(|c| c.policy), None),
            Err(e) => {
                tracing::info!("{domain}: MTA-STS: TXT lookup failed: {e}");
                return (live.map(|c| c.policy), None);
            }
        };
        if let Some(c) = live.as_ref().filter(|c| c.id == id) {
            return (Some(c.policy.clone()), None);
        }
        match self.fetch(&domain).await {
            Ok((text, policy)) => {
                tracing::info!("{domain}: MTA-STS: policy id {id} fetched, mode {:?}", policy.mode);
                let cached = Cached { id, fetched: now, text, policy: policy.clone() };
                if let Err(e) = self.store(&domain, &cached) {
                    tracing::warn!("{domain}: MTA-STS: cannot cache the policy: {e}");
                }
                (Some(policy), None)
            }
            Err(e) => {
                tracing::info!("{domain}: MTA-STS: policy fetch failed: {e}");
                match live {
                    Some(c) => (Some(c.policy), None),
                    None => (None, Some(e)),
                }
            }
        }
    }

    fn cache_file(&self, domain: &str) -> PathBuf {
        self.dir.join(domain)
    }

    fn load(&self, domain: &str) -> Option<Cached> {
        let text = std::fs::read_to_string(self.cache_file(domain)).ok()?;
        let cached = Cached::from_file(&text);
        if cached.is_none() {
            tracing::warn!("{domain}: MTA-STS: unreadable cache file ignored");
        }
        cached
    }

    /// Write to a temporary file and rename, so a reader never sees half a policy.
    fn store(&self, domain: &str, c: &Cached) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let tmp = self.dir.join(format!(".{domain}.{:016x}", rand::random::<u64>()));
        std::fs::write(&tmp, c.to_file())?;
        std::fs::rename(&tmp, self.cache_file(domain)).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// The policy id of `domain`'s `_mta-sts` TXT record; `None` when it has none.
    async fn txt(&self, domain: &str) -> Result<Option<String>, String> {
        Ok(txt_id(&super::mx::txt(&self.resolver, &format!("_mta-sts.{domain}.")).await?))
    }

    /// GET the policy from `mta-sts.<domain>`: its text and what it says.
    async fn fetch(&self, domain: &str) -> Result<(String, Policy), Trouble> {
        let host = format!("mta-sts.{domain}");
        tokio::time::timeout(FETCH_TIMEOUT, self.get(&host))
            .await
            .map_err(|_| Trouble::from(format!("{host}: timed out")))?
            .map_err(|e| Trouble { text: format!("{host}: {}", e.text), ..e })
    }

    async fn get(&self, host: &str) -> Result<(String, Policy), Trouble> {
        let request = hyper::Request::get(POLICY_PATH)
            .header(HOST, host)
            .body(Empty::<&'static [u8]>::new())
            .map_err(|e| e.to_string())?;
        let (response, _conn) = super::https::send(&self.resolver, &self.https, host, self.port, request)
            .await
            .map_err(|f| match f {
                Failure::Tls(text) => Trouble { kind: ResultType::StsWebpkiInvalid, text },
                Failure::Other(text) => Trouble::from(text),
            })?;
        // Redirects included: a policy is only taken from its own host (§3.3).
        if response.status() != StatusCode::OK {
            return Err(format!("HTTP status {}", response.status()).into());
        }
        let media = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !media.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/plain") {
            return Err(Trouble::invalid(format!("media type {media:?}, not text/plain")));
        }
        let body = Limited::new(response.into_body(), MAX_POLICY_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the policy: {e}"))?
            .to_bytes();
        let text = String::from_utf8(body.to_vec()).map_err(|_| Trouble::invalid("policy is not UTF-8"))?;
        let policy = Policy::parse(&text).map_err(|e| Trouble::invalid(format!("bad policy: {e}")))?;
        Ok((text, policy))
    }
}

/// Why a published policy could not be had: the TLS report's result type and the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    /// `sts-policy-fetch-error`, `sts-policy-invalid` or `sts-webpki-invalid`.
    pub kind: ResultType,
    /// What happened.
    pub text: String,
}

impl Trouble {
    fn invalid(text: impl Into<String>) -> Trouble {
        Trouble { kind: ResultType::StsPolicyInvalid, text: text.into() }
    }
}

/// Anything but a bad policy or a bad certificate is a failed fetch.
impl From<String> for Trouble {
    fn from(text: String) -> Trouble {
        Trouble { kind: ResultType::StsPolicyFetchError, text }
    }
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where a `testing` policy's certificate check writes its verdict.
pub type Verdict = Arc<Mutex<Option<rustls::Error>>>;

/// A TLS client for a `testing` policy (§5): the certificate is checked as under `enforce`
/// (chain to `roots`, the MX host's name), but a failure is only written to the verdict and
/// the session goes on, encrypted.
pub fn testing_connector(roots: Arc<RootCertStore>) -> (TlsConnector, Verdict) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verdict = Verdict::default();
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions");
    let config = match WebPkiServerVerifier::builder_with_provider(roots, provider).build() {
        Ok(pkix) => config
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Recorder { pkix, verdict: verdict.clone() }))
            .with_no_client_auth(),
        // No trust anchors at all: nothing can be verified; every certificate fails.
        Err(e) => {
            *verdict.lock().expect("verdict poisoned") = Some(rustls::Error::General(e.to_string()));
            return (super::smtp::tls::unverified(), verdict);
        }
    };
    (TlsConnector::from(Arc::new(config)), verdict)
}

#[derive(Debug)]
struct Recorder {
    pkix: Arc<WebPkiServerVerifier>,
    verdict: Verdict,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        ee: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Err(e) = self.pkix.verify_server_cert(ee, chain, name, ocsp, now) {
            *self.verdict.lock().expect("verdict poisoned") = Some(e);
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.pkix.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.pkix.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.pkix.supported_verify_schemes()
    }
}

/// The cache directory under the spool.
pub fn cache_dir(spool: &Path) -> PathBuf {
    spool.join("sts")
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    #[test]
    fn parses_the_rfc_example() {
        let p = Policy::parse(POLICY).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604800);
        assert_eq!(p.mx, ["mail.example.com", "*.example.net", "backupmx.example.com"]);
        assert_eq!(Policy::parse(&p.lines().join("\r\n")).unwrap(), p);
        // LF line ends, extra spaces, unknown keys.
        let p =
            Policy::parse("version:STSv1\nmode:  testing\nmx: MX.Test.\nmax_age: 0\nfuture: x\n").unwrap();
        assert_eq!((p.mode, p.max_age, p.mx.as_slice()), (Mode::Testing, 0, &["mx.test".to_string()][..]));
        assert_eq!(Policy::parse("version: STSv1\nmode: none\nmax_age: 1\n").unwrap().mode, Mode::None);
    }

    #[test]
    fn refuses_bad_policies() {
        for bad in [
            "mode: enforce\nmx: a.test\nmax_age: 1\n",
            "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
            "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmx: a.test\n",
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n",
            "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",
            "version: STSv1\nmode: enforce\nmax_age: 100\n",
            "version: STSv1\nmode: enforce\nmx a.test\nmax_age: 1\n",
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mx_patterns() {
        let p = Policy::parse(POLICY).unwrap();
        assert!(p.allows("mail.example.com"));
        assert!(p.allows("MAIL.example.com."));
        assert!(p.allows("mx1.example.net"));
        assert!(!p.allows("example.net"), "the wildcard needs a label");
        assert!(!p.allows("a.b.example.net"), "the wildcard is one label only");
        assert!(!p.allows("mail.example.com.evil.test"));
        assert!(!p.allows("xmail.example.com"));
    }

    #[test]
    fn txt_records() {
        let id = |r: &[&str]| txt_id(&r.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(id(&["v=STSv1; id=20160831085700Z;"]).as_deref(), Some("20160831085700Z"));
        assert_eq!(id(&["v=STSv1;id=abc", "v=spf1 -all"]).as_deref(), Some("abc"));
        // Two STS records, none, no id, a bad id, not first.
        assert_eq!(id(&["v=STSv1; id=a", "v=STSv1; id=b"]), None);
        assert_eq!(id(&[]), None);
        assert_eq!(id(&["v=STSv1;"]), None);
        assert_eq!(id(&["v=STSv1; id=not-alnum"]), None);
        assert_eq!(id(&["v=STSv1; id=123456789012345678901234567890123"]), None);
        assert_eq!(id(&["v=STSv10; id=a"]), None);
        assert_eq!(id(&["id=a; v=STSv1"]), None);
    }

    #[test]
    fn cache_round_trip_and_expiry() {
        let c = Cached {
            id: "x1".into(),
            fetched: 1000,
            text: POLICY.into(),
            policy: Policy::parse(POLICY).unwrap(),
        };
        assert_eq!(Cached::from_file(&c.to_file()), Some(c.clone()));
        assert!(c.fresh(1000 + 604799));
        assert!(!c.fresh(1000 + 604800));
        assert_eq!(Cached::from_file("MAILROOM-STS 2\nid x\nfetched 1\n\nversion: STSv1\n"), None);
        assert_eq!(Cached::from_file(&c.to_file().replace("fetched 1000", "fetched soon")), None);
        assert!(plain_domain("mx.example.com") && !plain_domain("../etc") && !plain_domain("a/b"));
    }
}
