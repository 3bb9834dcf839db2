//! The day's counts on disk, under `<spool>/tlsrpt/`: `current.json` is the period in
//! progress, `period-START-END.json` each closed one waiting to be reported. Only the
//! recorder's thread writes them, each whole through a temporary file, fsync and rename (and
//! the directory fsynced), so a reader sees one version or the other and a crash loses at
//! most the sessions recorded since the last write.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{Failure, Outcome, Policy, Session};

/// Distinct failure details kept per policy: beyond them failures are only counted, so a
/// host that fails in ever new ways cannot grow the file without bound.
const MAX_DETAILS: usize = 64;
/// Policies kept per period; sessions beyond them are dropped (and logged once).
const MAX_POLICIES: usize = 100_000;
/// Seconds in a day: periods end at midnight UTC.
pub const DAY: u64 = 86_400;

const CURRENT: &str = "current.json";

/// One period's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Its start, seconds since the epoch.
    pub start: u64,
    /// Its end; `None` while in progress.
    pub end: Option<u64>,
    /// One entry per policy domain and policy.
    pub policies: Vec<Counts>,
}

/// The sessions to one policy domain under one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// The policy domain.
    pub domain: String,
    /// The policy.
    pub policy: Policy,
    /// Successful sessions.
    pub successes: u64,
    /// Failed sessions.
    pub failures: u64,
    /// Failed sessions by detail (at most [`MAX_DETAILS`] distinct ones).
    pub details: Vec<Detail>,
}

/// Failed sessions with the same details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    /// What failed.
    pub failure: Failure,
    /// How many times.
    pub count: u64,
}

impl Period {
    /// An empty period from `start`.
    pub fn new(start: u64) -> Period {
        Period { start, end: None, policies: Vec::new() }
    }

    /// Count session `s`; false when the period is full and it was dropped.
    pub fn add(&mut self, s: Session) -> bool {
        let at = self.policies.iter().position(|c| c.domain == s.domain && c.policy == s.policy);
        let counts = match at {
            Some(i) => &mut self.policies[i],
            None if self.policies.len() >= MAX_POLICIES => return false,
            None => {
                self.policies.push(Counts {
                    domain: s.domain,
                    policy: s.policy,
                    successes: 0,
                    failures: 0,
                    details: Vec::new(),
                });
                self.policies.last_mut().expect("just pushed")
            }
        };
        match s.outcome {
            Outcome::Success => counts.successes += 1,
            Outcome::Failure(f) => {
                counts.failures += 1;
                let full = counts.details.len() >= MAX_DETAILS;
                match counts.details.iter_mut().find(|d| d.failure == f) {
                    Some(d) => d.count += 1,
                    None if !full => counts.details.push(Detail { failure: f, count: 1 }),
                    None => {}
                }
            }
        }
        true
    }

    /// The policy domains of this period, each with its entries.
    pub fn by_domain(&self) -> BTreeMap<&str, Vec<&Counts>> {
        let mut m: BTreeMap<&str, Vec<&Counts>> = BTreeMap::new();
        for c in &self.policies {
            m.entry(c.domain.as_str()).or_default().push(c);
        }
        m
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The midnight (UTC) at or before `t`.
pub fn day_start(t: u64) -> u64 {
    t - t % DAY
}

/// The directory under the spool.
pub fn dir(spool: &Path) -> PathBuf {
    spool.join("tlsrpt")
}

/// The period in progress as last written, if any.
pub fn current(dir: &Path) -> std::io::Result<Option<Period>> {
    read(&dir.join(CURRENT))
}

/// The closed periods waiting to be reported, oldest first, with their files.
pub fn closed(dir: &Path) -> std::io::Result<Vec<(PathBuf, Period)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let path = e?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("period-") && name.ends_with(".json") {
            match read(&path) {
                Ok(Some(p)) => out.push((path, p)),
                Ok(None) => {}
                Err(e) => tracing::warn!("{}: unreadable TLS report period ({e}); ignored", path.display()),
            }
        }
    }
    out.sort_by_key(|(_, p)| p.start);
    Ok(out)
}

fn read(path: &Path) -> std::io::Result<Option<Period>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The file of a closed period.
fn closed_file(dir: &Path, p: &Period) -> PathBuf {
    dir.join(format!("period-{}-{}.json", p.start, p.end.unwrap_or(p.start)))
}

/// Write `p` to `path` whole: temporary file, fsync, rename, directory fsync.
pub fn write(dir: &Path, path: &Path, p: &Period) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let tmp = dir.join(format!(".tmp.{:016x}", rand::random::<u64>()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(p).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

enum Msg {
    Session(Session),
    /// Close the period now; answer when it is on disk.
    Close(tokio::sync::oneshot::Sender<()>),
}

/// Where the SMTP transport records sessions: a handle on the writer thread (cheap to clone;
/// recording never blocks).
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
}

impl Recorder {
    /// Start the writer thread on `dir`, carrying on from what it holds.
    pub fn start(dir: PathBuf) -> std::io::Result<Recorder> {
        let (tx, rx) = mpsc::channel();
        let period = load(&dir);
        std::thread::Builder::new().name("tlsrpt".into()).spawn(move || Writer { dir, period }.run(rx))?;
        Ok(Recorder { tx })
    }

    /// Count session `s`.
    pub fn record(&self, s: Session) {
        let _ = self.tx.send(Msg::Session(s));
    }

    /// Close the period in progress now (its sessions are reported at the next send).
    pub async fn close(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Msg::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The period to carry on with: `current.json`, unless a crash came after it was closed and
/// before it was replaced (then a closed file has its start).
fn load(dir: &Path) -> Period {
    let fresh = || Period::new(now());
    let p = match current(dir) {
        Ok(Some(p)) => p,
        Ok(None) => return fresh(),
        Err(e) => {
            tracing::warn!(
                "{}: unreadable ({e}); TLS report counts start again",
                dir.join(CURRENT).display()
            );
            return fresh();
        }
    };
    let already = closed(dir).unwrap_or_default().iter().any(|(_, c)| c.start == p.start);
    if already { fresh() } else { p }
}

struct Writer {
    dir: PathBuf,
    period: Period,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut dropped = false;
        loop {
            let midnight = day_start(self.period.start) + DAY;
            let wait = Duration::from_secs(midnight.saturating_sub(now()));
            let first = match rx.recv_timeout(wait) {
                Ok(m) => m,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.close(midnight);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if now() >= midnight {
                self.close(midnight);
            }
            let mut dirty = false;
            // Everything waiting goes into one write: under load the writes batch up.
            for m in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                match m {
                    Msg::Session(s) => {
                        if !self.period.add(s) && !dropped {
                            tracing::warn!("TLS reporting: too many policy domains today; sessions dropped");
                            dropped = true;
                        }
                        dirty = true;
                    }
                    Msg::Close(done) => {
                        if dirty {
                            self.save();
                            dirty = false;
                        }
                        self.close(now());
                        let _ = done.send(());
                    }
                }
            }
            if dirty {
                self.save();
            }
        }
    }

    fn save(&self) {
        if let Err(e) = write(&self.dir, &self.dir.join(CURRENT), &self.period) {
            tracing::error!("TLS reporting: cannot write {}: {e}", self.dir.join(CURRENT).display());
        }
    }

    /// End the period at `end`: written to its own file when it counted anything, then a
    /// new one begins.
    fn close(&mut self, end: u64) {
        // Each period at least a second long, so periods' starts (and file names) differ.
        let end = end.max(self.period.start + 1);
        let mut p = std::mem::replace(&mut self.period, Period::new(end));
        if !p.policies.is_empty() {
            p.end = Some(end);
            if let Err(e) = write(&self.dir, &closed_file(&self.dir, &p), &p) {
                tracing::error!("TLS reporting: cannot close the period: {e}; its counts are lost");
            }
        }
        self.save();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlsrpt::{PolicyType, ResultType};

    fn session(domain: &str, fail: Option<ResultType>) -> Session {
        Session {
            domain: domain.into(),
            policy: Policy::none(),
            outcome: match fail {
                None => Outcome::Success,
                Some(result) => Outcome::Failure(Failure {
                    result,
                    mx_host: "mx.test".into(),
                    receiving_ip: Some("192.0.2.1".parse().unwrap()),
                    sending_ip: None,
                    info: String::new(),
                }),
            },
        }
    }

    #[test]
    fn counts_add_up_per_domain_and_detail() {
        let mut p = Period::new(0);
        p.add(session("a.test", None));
        p.add(session("a.test", None));
        p.add(session("a.test", Some(ResultType::StarttlsNotSupported)));
        p.add(session("a.test", Some(ResultType::StarttlsNotSupported)));
        p.add(session("b.test", Some(ResultType::ValidationFailure)));
        let a = &p.policies[0];
        assert_eq!((a.successes, a.failures, a.details.len(), a.details[0].count), (2, 2, 1, 2));
        assert_eq!(p.by_domain().len(), 2);
        let mut s = session("a.test", None);
        s.policy.kind = PolicyType::Sts;
        p.add(s);
        assert_eq!(p.by_domain()["a.test"].len(), 2);
        // Details beyond the cap are counted, not kept.
        for i in 0..MAX_DETAILS + 5 {
            let mut s = session("c.test", Some(ResultType::ValidationFailure));
            if let Outcome::Failure(f) = &mut s.outcome {
                f.info = i.to_string();
            }
            p.add(s);
        }
        let c = p.by_domain()["c.test"][0].clone();
        assert_eq!((c.failures, c.details.len()), (MAX_DETAILS as u64 + 5, MAX_DETAILS));
    }

    #[tokio::test]
    async fn recorder_writes_and_closes_periods() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("tlsrpt");
        let r = Recorder::start(d.clone()).unwrap();
        r.record(session("a.test", None));
        r.record(session("a.test", Some(ResultType::CertificateExpired)));
        r.close().await;
        let closed = closed(&d).unwrap();
        assert_eq!(closed.len(), 1);
        let c = &closed[0].1.policies[0];
        assert_eq!((c.successes, c.failures), (1, 1));
        assert!(closed[0].1.end.is_some());
        // The new period is empty, and an empty period is not closed into a file.
        assert_eq!(current(&d).unwrap().unwrap().policies, vec![]);
        r.close().await;
        assert_eq!(super::closed(&d).unwrap().len(), 1);
        // A restart carries on with current.json, unless that period was closed already.
        r.record(session("b.test", None));
        r.close().await;
        let p = current(&d).unwrap().unwrap();
        write(&d, &d.join(CURRENT), &Period { policies: closed[0].1.policies.clone(), ..p.clone() }).unwrap();
        assert_eq!(load(&d).policies.len(), 1);
        let last = super::closed(&d).unwrap().pop().unwrap().1;
        write(&d, &d.join(CURRENT), &Period { end: None, ..last }).unwrap();
        assert!(load(&d).policies.is_empty());
    }
}
