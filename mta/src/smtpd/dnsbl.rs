//! DNS blocklists and allowlists at the connection stage, asked as Postfix's postscreen asks
//! them (postscreen_dnsbl_sites): every list hears about a port-25 client in parallel as soon
//! as it connects; each `domain=filter*weight` entry with a reply its filter matches adds its
//! weight to the client's score. At `dnsbl_threshold` or above the client is listed and gets
//! `dnsbl_action`; a negative score at or below `dnsbl_allowlist_threshold` allowlists it (no
//! greeting pause, no greylisting). A list that fails or is too slow counts as not listing the client: a DNS
//! fault never refuses mail.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use config::DnsblAction;
use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{RData, RecordType};
use smtp::Reply;
use tokio::task::{JoinHandle, JoinSet};

/// One `domain=filter*weight` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The list's domain, lower case, without the final dot.
    pub domain: String,
    /// Which replies count; `None`: any.
    filter: Option<Filter>,
    /// What a matching reply adds to the score.
    pub weight: i32,
}

/// The reply addresses that count: for each octet, the ranges it may be in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Filter([Vec<(u8, u8)>; 4]);

impl Site {
    /// Parse `domain[=filter][*weight]`.
    pub fn parse(s: &str) -> Result<Site, String> {
        let bad = |why: &str| format!("dnsbl_sites: {s:?}: {why}");
        let (rest, weight) = match s.split_once('*') {
            Some((rest, w)) => {
                (rest, w.trim().parse::<i32>().map_err(|_| bad("the weight is not a whole number"))?)
            }
            None => (s, 1),
        };
        let (domain, filter) = match rest.split_once('=') {
            Some((d, f)) => (d, Some(Filter::parse(f.trim()).map_err(|e| bad(&e))?)),
            None => (rest, None),
        };
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !domain.split('.').all(label_ok) {
            return Err(bad("not a domain name"));
        }
        Ok(Site { domain, filter, weight })
    }

    /// Does one of `replies` count?
    fn matches(&self, replies: &[Ipv4Addr]) -> bool {
        match &self.filter {
            None => !replies.is_empty(),
            Some(f) => replies.iter().any(|a| f.matches(*a)),
        }
    }
}

impl Filter {
    /// `d.d.d.d`, each `d` a number or `[...]` of `;`-separated numbers and `n..m` ranges.
    fn parse(s: &str) -> Result<Filter, String> {
        let mut octets = Vec::new();
        let mut rest = s;
        loop {
            let (ranges, after) = match rest.strip_prefix('[') {
                Some(inner) => {
                    let end = inner.find(']').ok_or("a [ without its ]")?;
                    let ranges = inner[..end].split(';').map(range).collect::<Result<Vec<_>, _>>()?;
                    (ranges, &inner[end + 1..])
                }
                None => {
                    let end = rest.find('.').unwrap_or(rest.len());
                    (vec![range(&rest[..end])?], &rest[end..])
                }
            };
            octets.push(ranges);
            if after.is_empty() {
                break;
            }
            rest = after.strip_prefix('.').ok_or_else(|| format!("{after:?} in the filter"))?;
        }
        let octets: [Vec<(u8, u8)>; 4] =
            octets.try_into().map_err(|_| "the filter is not four octets".to_string())?;
        Ok(Filter(octets))
    }

    fn matches(&self, a: Ipv4Addr) -> bool {
        a.octets().iter().zip(&self.0).all(|(o, ranges)| ranges.iter().any(|(lo, hi)| lo <= o && o <= hi))
    }
}

/// `n` or `n..m`.
fn range(s: &str) -> Result<(u8, u8), String> {
    let num = |n: &str| n.trim().parse::<u8>().map_err(|_| format!("{n:?} is not a number from 0 to 255"));
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("the range {s:?} runs backwards"));
            }
            Ok((a, b))
        }
        None => num(s).map(|n| (n, n)),
    }
}

/// A client's combined score.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Score {
    /// The sum of the matching entries' weights.
    pub total: i32,
    /// The list of the largest contribution (the first such entry), named in the refusal.
    pub top: Option<String>,
}

/// The score that `replies` (list domain → its A records for the client) give.
pub fn score(sites: &[Site], replies: &HashMap<String, Vec<Ipv4Addr>>) -> Score {
    let mut s = Score::default();
    let mut top_weight = i32::MIN;
    for site in sites {
        let Some(r) = replies.get(&site.domain) else { continue };
        if site.matches(r) {
            s.total += site.weight;
            if site.weight > top_weight {
                top_weight = site.weight;
                s.top = Some(site.domain.clone());
            }
        }
    }
    s
}

/// The name to look up for `ip` in `domain`: the address's octets (IPv4) or nibbles (IPv6)
/// in reverse, as in-addr.arpa and ip6.arpa have them.
pub fn query_name(ip: IpAddr, domain: &str) -> String {
    let mut q = String::new();
    match unmap(ip) {
        IpAddr::V4(a) => {
            for o in a.octets().iter().rev() {
                q.push_str(&format!("{o}."));
            }
        }
        IpAddr::V6(a) => {
            for b in a.octets().iter().rev() {
                q.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
        }
    }
    format!("{q}{domain}.")
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The lists and what their verdicts lead to, from `[mta]`.
pub struct Dnsbl {
    sites: Vec<Site>,
    /// Each domain once: one query per list, whatever its entries.
    domains: Vec<String>,
    threshold: i32,
    allowlist_threshold: i32,
    action: DnsblAction,
    timeout: Duration,
    resolver: TokioResolver,
}

impl Dnsbl {
    /// The lists of `m.dnsbl_sites`, asked through `resolver`; `None` when there are none.
    pub fn new(m: &config::Mta, resolver: TokioResolver) -> Result<Option<Dnsbl>, String> {
        if m.dnsbl_sites.is_empty() {
            return Ok(None);
        }
        if m.dnsbl_threshold < 1 {
            return Err("dnsbl_threshold must be 1 or more (else every client is listed)".into());
        }
        let sites = m.dnsbl_sites.iter().map(|s| Site::parse(s)).collect::<Result<Vec<_>, _>>()?;
        let mut domains: Vec<String> = Vec::new();
        for s in &sites {
            if !domains.contains(&s.domain) {
                domains.push(s.domain.clone());
            }
        }
        Ok(Some(Dnsbl {
            sites,
            domains,
            threshold: m.dnsbl_threshold,
            allowlist_threshold: m.dnsbl_allowlist_threshold,
            action: m.dnsbl_action,
            timeout: Duration::from_secs(m.dnsbl_timeout.get()),
            resolver,
        }))
    }

    /// Ask every list about `ip` at once, each within the timeout, and add up.
    pub async fn lookup(&self, ip: IpAddr) -> Score {
        let mut asked = JoinSet::new();
        for domain in &self.domains {
            let (resolver, domain, name) = (self.resolver.clone(), domain.clone(), query_name(ip, domain));
            let timeout = self.timeout;
            asked.spawn(async move {
                let answer =
                    tokio::time::timeout(timeout, resolver.lookup(name.as_str(), RecordType::A)).await;
                let replies = match answer {
                    Ok(Ok(lookup)) => lookup
                        .answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::A(a) => Some(a.0),
                            _ => None,
                        })
                        .collect(),
                    // NXDOMAIN or no A record: not listed.
                    Ok(Err(e)) if e.is_no_records_found() => Vec::new(),
                    Ok(Err(e)) => {
                        crate::metrics::dnsbl_failure("error");
                        tracing::warn!("DNSBL lookup error for {name}: {e}; counted as not listed");
                        Vec::new()
                    }
                    Err(_) => {
                        crate::metrics::dnsbl_failure("timeout");
                        tracing::warn!(
                            "DNSBL lookup timeout ({}s) for {name}; counted as not listed",
                            timeout.as_secs()
                        );
                        Vec::new()
                    }
                };
                (domain, replies)
            });
        }
        let mut replies = HashMap::new();
        while let Some(done) = asked.join_next().await {
            if let Ok((domain, r)) = done {
                replies.insert(domain, r);
            }
        }
        let s = score(&self.sites, &replies);
        if self.listed(&s).is_some() {
            // Counted before the log line: a test that sees the line may scrape.
            crate::metrics::dnsbl_verdict("listed");
            tracing::info!("DNSBL rank {} for [{ip}]", s.total);
        } else if self.allowlisted(&s) {
            crate::metrics::dnsbl_verdict("allowlisted");
            tracing::info!("DNSBL allowlisted, rank {} for [{ip}]", s.total);
        } else {
            crate::metrics::dnsbl_verdict("pass");
        }
        s
    }

    /// The list to name when `s` lists the client.
    fn listed<'a>(&self, s: &'a Score) -> Option<&'a str> {
        (s.total >= self.threshold).then(|| s.top.as_deref().unwrap_or("DNSBL"))
    }

    /// Does `s` allowlist the client (postscreen's rule: a score under the threshold, at or
    /// below a negative allowlist threshold)?
    fn allowlisted(&self, s: &Score) -> bool {
        self.allowlist_threshold < 0 && s.total < self.threshold && s.total <= self.allowlist_threshold
    }
}

/// Postscreen's refusal of a listed client: 550 (enforce) or 521 (drop), 5.7.1.
fn refusal(code: u16, ip: IpAddr, list: &str) -> Reply {
    Reply::new(code, "5.7.1", format!("Service unavailable; client [{ip}] blocked using {list}"))
}

/// One client's verdict: looked up from the moment it connects, awaited where it matters.
pub struct Pending {
    dnsbl: Arc<Dnsbl>,
    ip: IpAddr,
    task: Option<JoinHandle<Score>>,
    score: Option<Score>,
}

impl Pending {
    /// Start asking the lists about `ip`.
    pub fn start(dnsbl: Arc<Dnsbl>, ip: IpAddr) -> Pending {
        let d = dnsbl.clone();
        let task = tokio::spawn(async move { d.lookup(ip).await });
        Pending { dnsbl, ip, task: Some(task), score: None }
    }

    /// The score, once every list has answered or timed out.
    async fn score(&mut self) -> &Score {
        if let Some(task) = self.task.as_mut() {
            // A lookup task that died counts as no list answering.
            self.score = Some(task.await.unwrap_or_default());
            self.task = None;
        }
        self.score.get_or_insert_with(Score::default)
    }

    /// Before the greeting: with `drop`, the 521 for a listed client; when allowlisting is on
    /// and there is a greeting pause, the verdict is awaited within that pause, and an
    /// allowlisted client is greeted at once. `greet_pause` becomes what is left of it.
    pub async fn before_greeting(&mut self, greet_pause: &mut Duration) -> Option<Reply> {
        let started = Instant::now();
        match self.dnsbl.action {
            // Bounded by dnsbl_timeout.
            DnsblAction::Drop => {
                self.score().await;
            }
            _ if self.dnsbl.allowlist_threshold < 0 && !greet_pause.is_zero() => {
                // Not in time: the verdict is still awaited at RCPT.
                let _ = tokio::time::timeout(*greet_pause, self.score()).await;
            }
            _ => return None,
        }
        let score = self.score.as_ref();
        if self.dnsbl.action == DnsblAction::Drop
            && let Some(list) = score.and_then(|s| self.dnsbl.listed(s))
        {
            return Some(refusal(521, self.ip, list));
        }
        if greet_pause.is_zero() {
            return None;
        }
        if score.is_some_and(|s| self.dnsbl.allowlisted(s)) {
            *greet_pause = Duration::ZERO;
        } else {
            // Still long enough to see a client that talks first.
            *greet_pause = greet_pause.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
        }
        None
    }

    /// Does the verdict allowlist the client? With allowlisting on, the verdict is awaited
    /// (within dnsbl_timeout), as postscreen waits for it before letting a client skip its
    /// later tests.
    pub async fn allowlisted(&mut self) -> bool {
        if self.dnsbl.allowlist_threshold >= 0 {
            return false;
        }
        let dnsbl = self.dnsbl.clone();
        let score = self.score().await;
        dnsbl.allowlisted(score)
    }

    /// At RCPT TO (`enforce`): the 550 for a listed client.
    pub async fn at_rcpt(&mut self) -> Option<Reply> {
        if self.dnsbl.action != DnsblAction::Enforce {
            return None;
        }
        let (dnsbl, ip) = (self.dnsbl.clone(), self.ip);
        let score = self.score().await;
        dnsbl.listed(score).map(|list| refusal(550, ip, list))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // A client gone before the answers: stop asking.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replies(list: &[(&str, &[&str])]) -> HashMap<String, Vec<Ipv4Addr>> {
        list.iter().map(|(d, a)| (d.to_string(), a.iter().map(|a| a.parse().unwrap()).collect())).collect()
    }

    #[test]
    fn sites_parse_as_postscreen_reads_them() {
        let s = Site::parse("zen.example=127.0.0.[2..11]*2").unwrap();
        assert_eq!((s.domain.as_str(), s.weight), ("zen.example", 2));
        let s = Site::parse("List.DNSWL.example.=127.0.[0..255].[1;3..4]*-2").unwrap();
        assert_eq!((s.domain.as_str(), s.weight), ("list.dnswl.example", -2));
        assert!(s.matches(&["127.0.9.1".parse().unwrap()]));
        assert!(s.matches(&["127.0.255.4".parse().unwrap()]));
        assert!(!s.matches(&["127.0.9.2".parse().unwrap()]));
        assert!(!s.matches(&["127.1.9.1".parse().unwrap()]));
        let s = Site::parse("bl.example").unwrap();
        assert_eq!((s.weight, s.filter.is_none()), (1, true));
        for bad in [
            "",
            "zen.example*x",
            "zen.example=127.0.0",
            "zen.example=127.0.0.256",
            "zen.example=127.0.0.[2..11",
            "zen.example=127.0.0.[11..2]",
            "zen.example=127.0.0.2.1",
            "zen example",
        ] {
            assert!(Site::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn query_names_reverse_the_address() {
        assert_eq!(query_name("192.0.2.7".parse().unwrap(), "zen.example"), "7.2.0.192.zen.example.");
        assert_eq!(query_name("::ffff:192.0.2.7".parse().unwrap(), "zen.example"), "7.2.0.192.zen.example.");
        let v6 = query_name("2001:db8::1".parse().unwrap(), "bl.example");
        assert_eq!(v6, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example.");
    }

    #[test]
    fn scores_add_the_matching_entries_weights() {
        let sites: Vec<Site> = [
            "zen.example=127.0.0.[2..11]*2",
            "zen.example=127.0.0.[4..7]",
            "bl.example",
            "wl.example=127.0.[0..255].[1..3]*-3",
        ]
        .iter()
        .map(|s| Site::parse(s).unwrap())
        .collect();
        // Both zen entries match one reply each; an entry counts once however many match.
        let s = score(&sites, &replies(&[("zen.example", &["127.0.0.2", "127.0.0.4", "127.0.0.5"])]));
        assert_eq!(s, Score { total: 3, top: Some("zen.example".into()) });
        // A reply outside every filter counts for nothing; the listed allowlist subtracts.
        let s = score(
            &sites,
            &replies(&[
                ("zen.example", &["127.0.0.12"]),
                ("bl.example", &["127.0.0.2"]),
                ("wl.example", &["127.0.5.2"]),
            ]),
        );
        assert_eq!(s, Score { total: -2, top: Some("bl.example".into()) });
        assert_eq!(score(&sites, &replies(&[("zen.example", &[])])), Score::default());
    }
}
