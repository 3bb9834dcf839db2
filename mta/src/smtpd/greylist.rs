//! Greylisting with postgrey's rules, kept in the database through authlib so that it survives
//! restarts and every MTA on the database shares it.
//!
//! A triplet is the client's network (/24 for IPv4, /64 for IPv6: postgrey's
//! --lookup-by-subnet), the sender as postgrey normalises it and the recipient, lowercased.
//! Its first attempt, and every retry before `greylist_delay` has passed, is answered
//! `450 4.7.1 <rcpt>: Recipient address rejected: Greylisted, ...` as Postfix answers
//! postgrey's DEFER_IF_PERMIT; later attempts pass. A triplet that never passed starts again
//! when retried after the 2-day retry window; one not seen for `greylist_max_age` days is
//! forgotten. A client address that passed `greylist_auto_whitelist` times (counted at most
//! once an hour) is not greylisted any more, and neither is one the DNS allowlists vouch for
//! (`dnsbl_allowlist_threshold`).
//!
//! When the database cannot answer, the recipient gets `451 4.3.5`, as Postfix answers when
//! its policy service (postgrey) is down. Letting mail through instead would turn every
//! database hiccup into a spam window; a 4xx costs a legitimate sender only a retry, and the
//! same database being down already defers the recipient lookups of the directory.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use authlib::{Directory, Passes, Seen, Triplet};
use smtp::Reply;

/// postgrey's --retry-window: an attempt this long after a first one that never passed starts
/// the wait again.
const RETRY_WINDOW: i64 = 2 * 24 * 3600;
/// A client's passes count at most once an hour (postgrey's rule), so one mail retried many
/// times does not whitelist its sender's server.
const PASS_INTERVAL: i64 = 3600;
/// How often expired rows are removed (postgrey does it in its daily maintenance; lookups
/// ignore expired rows meanwhile).
const EXPIRE_EVERY: i64 = 3600;

/// The greylisting settings from `[mta]`.
#[derive(Debug)]
pub struct Greylist {
    delay: i64,
    max_age: i64,
    auto_whitelist: i64,
    text: String,
    /// When the expired rows were last removed (Unix seconds).
    expired_at: AtomicI64,
}

/// What a triplet's attempt at `now` leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    /// The record to store.
    store: Seen,
    /// Seconds still to wait; 0 or less passes.
    wait: i64,
    /// This attempt is the triplet's first pass (it counts towards the auto-whitelist).
    first_pass: bool,
}

impl Greylist {
    /// From `[mta]`: `None` unless `greylist` is on.
    pub fn from_config(m: &config::Mta) -> Option<Greylist> {
        m.greylist.then(|| Greylist {
            delay: i64::try_from(m.greylist_delay).unwrap_or(i64::MAX),
            max_age: i64::try_from(m.greylist_max_age.get().saturating_mul(24 * 3600)).unwrap_or(i64::MAX),
            auto_whitelist: i64::from(m.greylist_auto_whitelist),
            text: m.greylist_text.clone(),
            expired_at: AtomicI64::new(0),
        })
    }

    /// May mail from `ip` with `sender` go to `recipient` (as given in RCPT) now?
    pub async fn check(
        &self,
        dir: &Arc<Directory>,
        ip: IpAddr,
        sender: &str,
        recipient: &str,
        now: i64,
    ) -> Result<(), Reply> {
        self.expire(dir, now);
        let result = self.decide(dir, ip, sender, recipient, now).await;
        result.unwrap_or_else(|e| {
            tracing::warn!(client = %ip, to = %recipient, error = %e, "greylist: database unavailable");
            crate::metrics::greylist("unavailable");
            Err(Reply::new(
                451,
                "4.3.5",
                format!("<{recipient}>: Recipient address rejected: Server configuration problem"),
            ))
        })
    }

    async fn decide(
        &self,
        dir: &Directory,
        ip: IpAddr,
        sender: &str,
        recipient: &str,
        now: i64,
    ) -> Result<Result<(), Reply>, authlib::Unavailable> {
        let client = unmapped(ip).to_string();
        let from = sender.escape_debug();
        let passes = dir.greylist_client(&client).await?.filter(|p| now - p.last <= self.max_age);
        if self.auto_whitelist > 0
            && let Some(p) = passes
            && p.count >= self.auto_whitelist
        {
            if now >= p.last + PASS_INTERVAL || p.last > now {
                dir.greylist_set_client(&client, Passes { count: p.count + 1, last: now }).await?;
            }
            tracing::info!(
                "greylist: action=pass, reason=client AWL, client={client}, from=<{from}>, to=<{recipient}>"
            );
            crate::metrics::greylist("whitelisted");
            return Ok(Ok(()));
        }
        let triplet = triplet(ip, sender, recipient);
        let seen = dir.greylist_triplet(&triplet).await?.filter(|s| now - s.last <= self.max_age);
        let step = step(seen, now, self.delay);
        dir.greylist_set_triplet(&triplet, step.store).await?;
        if step.first_pass && self.auto_whitelist > 0 && passes.is_none_or(|p| now >= p.last + PASS_INTERVAL)
        {
            let count = passes.map_or(0, |p| p.count) + 1;
            dir.greylist_set_client(&client, Passes { count, last: now }).await?;
            if count == self.auto_whitelist {
                tracing::info!("greylist: whitelisted: client={client}");
            }
        }
        if step.wait <= 0 {
            let waited = now - step.store.first;
            tracing::info!(
                "greylist: action=pass, reason=triplet found, client={client}, from=<{from}>, to=<{recipient}>, delay={waited}"
            );
            crate::metrics::greylist("passed");
            return Ok(Ok(()));
        }
        let reason = if seen.is_some() { "early-retry" } else { "new" };
        tracing::info!(
            "greylist: action=greylist, reason={reason}, client={client}, from=<{from}>, to=<{recipient}>, wait={}",
            step.wait
        );
        crate::metrics::greylist("greylisted");
        let domain = recipient.rsplit_once('@').map_or("", |(_, d)| d);
        let text = self.text.replacen("%s", &step.wait.to_string(), 1).replacen("%r", domain, 1);
        Ok(Err(Reply::new(450, "4.7.1", format!("<{recipient}>: Recipient address rejected: {text}"))))
    }

    /// A client the DNS allowlists vouch for is not greylisted: logged as postgrey logs a
    /// whitelisted client, without asking the database.
    pub fn skip_allowlisted(&self, ip: IpAddr, sender: &str, recipient: &str) {
        let client = unmapped(ip);
        let from = sender.escape_debug();
        tracing::info!(
            "greylist: action=pass, reason=DNSWL, client={client}, from=<{from}>, to=<{recipient}>"
        );
        crate::metrics::greylist("allowlisted");
    }

    /// Remove expired rows, at most once per [`EXPIRE_EVERY`] per process, in the background.
    fn expire(&self, dir: &Arc<Directory>, now: i64) {
        let last = self.expired_at.load(Ordering::Relaxed);
        if now - last < EXPIRE_EVERY
            || self.expired_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        let (dir, max_age, delay) = (dir.clone(), self.max_age, self.delay);
        tokio::spawn(async move {
            match dir.greylist_expire(now - max_age, now - RETRY_WINDOW, delay).await {
                Ok(n) => tracing::debug!(removed = n, "greylist: expired rows removed"),
                Err(e) => tracing::warn!(error = %e, "greylist: cannot remove expired rows"),
            }
        });
    }
}

/// postgrey's decision for a triplet last `seen` (None: new or expired) attempted at `now`.
fn step(seen: Option<Seen>, now: i64, delay: i64) -> Step {
    let (mut first, passed_before) = match seen {
        Some(s) if s.last - s.first >= delay => (s.first, true),
        // A retry long after a first attempt that never passed is a new first attempt.
        Some(s) if now - s.first > RETRY_WINDOW => (now, false),
        Some(s) => (s.first, false),
        None => (now, false),
    };
    if first > now {
        first = now;
    }
    let wait = delay - (now - first);
    Step { store: Seen { first, last: now }, wait, first_pass: wait <= 0 && !passed_before }
}

/// The triplet postgrey would look up.
fn triplet(ip: IpAddr, sender: &str, recipient: &str) -> Triplet {
    Triplet { client_net: network(ip), sender: sender_key(sender), recipient: recipient.to_lowercase() }
}

/// IPv4-mapped IPv6 addresses are IPv4 clients.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's /24 or /64 network address.
fn network(ip: IpAddr) -> String {
    match unmapped(ip) {
        IpAddr::V4(v4) => ipnet::Ipv4Net::new(v4, 24).expect("24 is a prefix").network().to_string(),
        IpAddr::V6(v6) => ipnet::Ipv6Net::new(v6, 64).expect("64 is a prefix").network().to_string(),
    }
}

/// postgrey's sender normalisation: lowercased; a BATV tag (`prvs=tag=user`, either order)
/// removed; the `+extension` removed; every all-digit word replaced by `#` (VERP).
fn sender_key(sender: &str) -> String {
    let sender = sender.to_lowercase();
    let Some((user, domain)) = sender.split_once('@') else { return sender };
    let mut user = user.to_string();
    if user.starts_with("prvs=") {
        let parts: Vec<&str> = user.split('=').collect();
        if parts.len() == 3 {
            let tag = |s: &str| {
                s.len() >= 10 && s.bytes().take(10).all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
            };
            user = if tag(parts[2]) && !tag(parts[1]) { parts[1] } else { parts[2] }.to_string();
        }
    }
    if let Some(plus) = user.find('+') {
        user.truncate(plus);
    }
    format!("{}@{domain}", digits_to_hash(&user))
}

/// Perl's `s/\b\d+\b/#/g`: a run of word characters made only of digits becomes `#`.
fn digits_to_hash(s: &str) -> String {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if !run.is_empty() && run.bytes().all(|b| b.is_ascii_digit()) {
            out.push('#');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if word(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_normalised_as_postgrey_does() {
        let cases = [
            ("Bob@Example.COM", "bob@example.com"),
            ("bob+lists@example.com", "bob@example.com"),
            ("bounce-123-456@lists.example", "bounce-#-#@lists.example"),
            ("user123@example.com", "user123@example.com"),
            ("12345@example.com", "#@example.com"),
            ("prvs=1234abcdef=bob@example.com", "bob@example.com"),
            ("prvs=bob=1234abcdef@example.com", "bob@example.com"),
            ("", ""),
            ("postmaster", "postmaster"),
        ];
        for (given, want) in cases {
            assert_eq!(sender_key(given), want, "{given}");
        }
    }

    #[test]
    fn clients_are_grouped_by_network() {
        let net = |s: &str| network(s.parse().unwrap());
        assert_eq!(net("192.0.2.77"), "192.0.2.0");
        assert_eq!(net("::ffff:192.0.2.77"), "192.0.2.0");
        assert_eq!(net("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::");
        let t = triplet("192.0.2.9".parse().unwrap(), "A+x@B.test", "Rcpt@B.test");
        assert_eq!(
            (t.client_net.as_str(), t.sender.as_str(), t.recipient.as_str()),
            ("192.0.2.0", "a@b.test", "rcpt@b.test")
        );
    }

    #[test]
    fn a_triplet_waits_the_delay_then_passes() {
        let delay = 300;
        let first = step(None, 1000, delay);
        assert_eq!(first, Step { store: Seen { first: 1000, last: 1000 }, wait: 300, first_pass: false });
        let early = step(Some(first.store), 1100, delay);
        assert_eq!((early.store.first, early.wait, early.first_pass), (1000, 200, false));
        let pass = step(Some(early.store), 1300, delay);
        assert_eq!((pass.wait, pass.first_pass), (0, true));
        let again = step(Some(pass.store), 5000, delay);
        assert!(again.wait <= 0 && !again.first_pass, "later passes do not count again: {again:?}");
    }

    #[test]
    fn a_retry_after_the_window_starts_again() {
        let seen = Seen { first: 1000, last: 1010 };
        let late = step(Some(seen), 1000 + RETRY_WINDOW + 1, 300);
        assert_eq!(late.store.first, 1000 + RETRY_WINDOW + 1);
        assert_eq!(late.wait, 300);
        // A triplet that passed once stays passed.
        let passed = Seen { first: 1000, last: 1400 };
        assert!(step(Some(passed), 1000 + RETRY_WINDOW * 3, 300).wait <= 0);
        // A first-seen in the future (clock change) is corrected.
        assert_eq!(step(Some(Seen { first: 9000, last: 9000 }), 1000, 300).store.first, 1000);
    }
}
