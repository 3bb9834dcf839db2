//! mailroom-mta's metrics: replies to the commands that decide a message's fate, the messages
//! queued by listener role, the connection stage's decisions (DNS list verdicts, greylisting,
//! rate limits), delivery attempts by transport and status, the time from acceptance to
//! delivery, and the queue's size and oldest message (read from the spool at each scrape, as
//! qshape would).

use std::sync::LazyLock;
use std::time::SystemTime;

use daemon::metrics::{
    Collector, ConstGauge, Counter, DescriptorEncoder, EncodeMetric, Family, Histogram, Labels, Registry,
};

use crate::policy::Role;
use crate::queue::{Spool, Transport};

static REPLIES: LazyLock<Family<Labels<2>, Counter>> = LazyLock::new(Family::default);
static QUEUED: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(Family::default);
static DELIVERIES: LazyLock<Family<Labels<2>, Counter>> = LazyLock::new(Family::default);
static DNSBL_VERDICTS: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(Family::default);
static DNSBL_FAILURES: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(Family::default);
static GREYLIST: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(Family::default);
static RATE_LIMITED: LazyLock<Family<Labels<1>, Counter>> = LazyLock::new(Family::default);
/// Up to about five days (the default max_queue_lifetime), from 100 ms.
static DELIVERY_SECONDS: LazyLock<Histogram> =
    LazyLock::new(|| Histogram::new(daemon::metrics::exponential_buckets(0.1, 2.0, 23)));

/// Add the MTA's metrics to `registry`, the queue's read from `spool`.
pub fn register(registry: &mut Registry, spool: Spool) {
    registry.register(
        "deliveries",
        "Delivery attempts per recipient, by transport (lmtp, smtp) and status (sent, deferred, \
         bounced, expired)",
        DELIVERIES.clone(),
    );
    registry.register(
        "delivery_seconds",
        "Time from acceptance into the queue to delivery, per delivered recipient",
        DELIVERY_SECONDS.clone(),
    );
    registry.register_collector(Box::new(Queue(spool)));
    registry.register(
        "smtp_replies",
        "Replies to AUTH, MAIL, RCPT and the end of DATA, by command and class (2xx, 4xx, 5xx)",
        REPLIES.clone(),
    );
    registry.register(
        "messages_queued",
        "Messages accepted into the queue, by listener role",
        QUEUED.clone(),
    );
    registry.register(
        "dnsbl_verdicts",
        "Port-25 clients looked up in the DNS lists, by verdict (listed, allowlisted, pass); a \
         client gone before the answers has none",
        DNSBL_VERDICTS.clone(),
    );
    registry.register(
        "dnsbl_lookup_failures",
        "DNS list lookups counted as not listing the client, by reason (error, timeout)",
        DNSBL_FAILURES.clone(),
    );
    registry.register(
        "greylist",
        "Greylisting decisions per recipient, by result (greylisted, passed, whitelisted, \
         allowlisted by the DNS lists, unavailable)",
        GREYLIST.clone(),
    );
    registry.register(
        "rate_limited",
        "Refusals for a per-client limit, by limit (connection, message, recipient rates; \
         concurrency)",
        RATE_LIMITED.clone(),
    );
}

/// The DNS lists' verdict on a client: `listed`, `allowlisted` or `pass`.
pub fn dnsbl_verdict(result: &'static str) {
    DNSBL_VERDICTS.get_or_create(&[("result", result)]).inc();
}

/// A DNS list lookup that failed (`error`) or did not answer in time (`timeout`).
pub fn dnsbl_failure(reason: &'static str) {
    DNSBL_FAILURES.get_or_create(&[("reason", reason)]).inc();
}

/// A greylisting decision on one recipient: `greylisted`, `passed` (triplet found),
/// `whitelisted` (client auto-whitelist), `allowlisted` (DNS allowlists) or `unavailable`.
pub fn greylist(result: &'static str) {
    GREYLIST.get_or_create(&[("result", result)]).inc();
}

/// A refusal for a per-client limit: `connection`, `message`, `recipient` (anvil's rates) or
/// `concurrency` (simultaneous connections).
pub fn rate_limited(limit: &'static str) {
    RATE_LIMITED.get_or_create(&[("limit", limit)]).inc();
}

/// Count the reply `code` given to `command` (`auth`, `mail`, `rcpt`, `data`).
pub fn replied(command: &'static str, code: u16) {
    let class = match code / 100 {
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    REPLIES.get_or_create(&[("command", command), ("class", class)]).inc();
}

/// A message arrived on a `role` listener and was queued.
pub fn queued(role: Role) {
    QUEUED.get_or_create(&[("role", role.name())]).inc();
}

/// One delivery attempt to a recipient ended with `status`; a sent one arrived at `arrival`
/// (Unix seconds).
pub fn attempted(transport: Transport, status: &'static str, arrival: u64) {
    let transport = match transport {
        Transport::Local => "lmtp",
        Transport::Remote => "smtp",
    };
    DELIVERIES.get_or_create(&[("transport", transport), ("status", status)]).inc();
    if status == "sent" {
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        DELIVERY_SECONDS.observe(now.saturating_sub(arrival) as f64);
    }
}

/// The queue's size and oldest message, counted when scraped.
struct Queue(Spool);

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Queue({})", self.0.root().display())
    }
}

impl Collector for Queue {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A spool that cannot be read reports nothing rather than a wrong zero.
        let Ok((messages, oldest)) = self.0.census() else { return Ok(()) };
        let age = oldest.and_then(|t| t.elapsed().ok()).map_or(0.0, |d| d.as_secs_f64());
        for (name, help, value) in [
            ("queue_messages", "Messages in the queue (active, deferred and held)", messages as f64),
            ("queue_oldest_age_seconds", "Age of the oldest message in the queue (0 when empty)", age),
        ] {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}
