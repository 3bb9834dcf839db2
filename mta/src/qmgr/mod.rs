//! The queue manager: delivers what the queue holds. New messages go out at once; deferred
//! ones wait for their next attempt, with a backoff that doubles from `min_backoff` to
//! `max_backoff`, until `max_queue_lifetime` turns them into bounces. Local recipients go over
//! LMTP to the MDA; remote ones are routed (`route`: transport map, relayhost, MX via `mx`),
//! DKIM-signed (`dkim`) and sent over SMTP (`smtp`) or to an LMTP target of the transport map.
//! Failures become DSNs to the sender. Everything it knows is on disk: on restart it reads the
//! queue and carries on.

pub mod dane;
pub mod dkim;
pub mod https;
pub mod lmtp;
pub mod mx;
pub mod route;
pub mod smtp;
pub mod sts;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::smtp::client::{self, ServerReply};
use authlib::{Directory, Target as Resolved};
use proto::Address;
use tokio::sync::{Semaphore, mpsc};

use crate::bounce::{self, Action};
use crate::queue::{Attempt, Envelope, Notify, Outcome, QueueId, Queued, Rcpt, Recipient, Spool, Transport};
use lmtp::Lmtp;
use route::{Route, Routes};

/// Settings from `[mta]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Our host name (bounces' Reporting-MTA and From).
    pub hostname: String,
    /// Simultaneous deliveries.
    pub concurrency: std::num::NonZeroUsize,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Age at which a deferred message bounces.
    pub max_queue_lifetime: Duration,
    /// Period of the full queue scan that picks up admin changes.
    pub queue_run_delay: Duration,
    /// `+` of `bob+lists@`, to keep details when a bounce goes to a local sender.
    pub delimiter: Option<char>,
}

/// Requests from `mailroomctl` through the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Re-read the queue from disk (after hold, release, delete, requeue).
    Rescan,
    /// Try every deferred message now (`postqueue -f`).
    Flush,
    /// Close the TLS reporting period now and send its reports (`mailroomctl tls report
    /// --send`).
    TlsReport,
}

/// Everything remote delivery needs.
pub struct Remote {
    /// Transport map and relayhost.
    pub routes: Routes,
    /// The SMTP transport.
    pub smtp: smtp::Smtp,
    /// One client per LMTP target of the transport map.
    pub lmtp: HashMap<lmtp::Target, Lmtp>,
    /// DKIM keys.
    pub dkim: dkim::Signer,
    /// Sender rewriting for mail relayed with a sender outside our domains, when configured.
    pub srs: Option<crate::srs::Srs>,
}

/// The queue manager.
pub struct Qmgr {
    spool: Spool,
    dir: Arc<Directory>,
    lmtp: Lmtp,
    remote: Remote,
    settings: Settings,
    /// Where new messages are announced (bounces we create go there too).
    queued: mpsc::UnboundedSender<QueueId>,
    /// TLS reports (RFC 8460), when on.
    tlsrpt: Option<Arc<crate::tlsrpt::send::Reporter>>,
}

/// A transport's answer for one recipient.
struct Answer {
    rcpt: Rcpt,
    attempt: Attempt,
    /// The TLS level of the SMTP session that gave the reply, and why.
    tls: Option<smtp::Tls>,
}

impl Answer {
    fn new(rcpt: Rcpt, reply: ServerReply, relay: &str) -> Answer {
        Answer { rcpt, attempt: Attempt { reply: reply.into(), relay: Some(relay.to_string()) }, tls: None }
    }
}

/// What an attempt leaves behind.
enum After {
    /// Delivered or failed for every recipient; removed.
    Done,
    /// Try again at this time (seconds since the epoch).
    Retry(u64),
    /// Held, gone, or locked by the admin: the next scan will see it.
    Skip,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Qmgr {
    /// A queue manager for `spool`; new message ids arrive on the receiver paired with `queued`.
    pub fn new(
        spool: Spool,
        dir: Arc<Directory>,
        lmtp: Lmtp,
        remote: Remote,
        settings: Settings,
        queued: mpsc::UnboundedSender<QueueId>,
    ) -> Qmgr {
        Qmgr { spool, dir, lmtp, remote, settings, queued, tlsrpt: None }
    }

    /// Send TLS reports with `reporter`: daily, and when asked.
    pub fn with_tls_reports(mut self, reporter: Arc<crate::tlsrpt::send::Reporter>) -> Qmgr {
        self.tlsrpt = Some(reporter);
        self
    }

    /// Send the TLS reports of closed periods (with `close_now`, the one in progress too),
    /// in the background.
    fn send_tls_reports(self: &Arc<Self>, close_now: bool) {
        if self.tlsrpt.is_some() {
            let me = self.clone();
            tokio::spawn(async move {
                if let Some(r) = &me.tlsrpt {
                    r.send(close_now, me.as_ref()).await;
                }
            });
        } else if close_now {
            tracing::warn!("TLS report requested, but tls_reporting is off");
        }
    }

    /// Run until `stop` fires: deliver new messages as they come, deferred ones when due.
    pub async fn run(
        self: Arc<Self>,
        mut new: mpsc::UnboundedReceiver<QueueId>,
        mut requests: mpsc::UnboundedReceiver<Request>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        match self.spool.clean_incomplete() {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} incomplete queue file(s) left by a crash"),
            Err(e) => tracing::error!(error = %e, "cannot clean the queue"),
        }
        let slots = Arc::new(Semaphore::new(self.settings.concurrency.get()));
        let busy: Arc<Mutex<HashSet<QueueId>>> = Arc::default();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(QueueId, Option<u64>)>();
        let mut schedule = Schedule::default();
        self.scan(&mut schedule, false);
        let mut next_scan = now() + self.settings.queue_run_delay.as_secs();
        // Reports of the day that ended, a few minutes after midnight UTC (the recorder
        // closes the period at midnight); what an earlier run left is sent at start.
        let day = crate::tlsrpt::store::DAY;
        let mut next_report = crate::tlsrpt::store::day_start(now()) + day + 300;
        self.send_tls_reports(false);
        loop {
            let t = now();
            for id in schedule.due(t) {
                if busy.lock().expect("busy set poisoned").insert(id.clone()) {
                    let (me, slots, done) = (self.clone(), slots.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let _permit = slots.acquire_owned().await;
                        let after = me.attempt(&id).await;
                        let _ = done.send((id, after));
                    });
                }
            }
            let wake = schedule.next().unwrap_or(u64::MAX).min(next_scan).min(next_report);
            let sleep = Duration::from_secs(wake.saturating_sub(now()));
            tokio::select! {
                () = stop.cancelled() => break,
                Some(id) = new.recv() => schedule.set(id, 0),
                Some((id, due)) = done_rx.recv() => {
                    busy.lock().expect("busy set poisoned").remove(&id);
                    if let Some(due) = due {
                        schedule.set(id, due);
                    }
                }
                Some(req) = requests.recv() => match req {
                    Request::TlsReport => self.send_tls_reports(true),
                    req => self.scan(&mut schedule, req == Request::Flush),
                },
                () = tokio::time::sleep(sleep) => {
                    if now() >= next_report {
                        self.send_tls_reports(false);
                        next_report = crate::tlsrpt::store::day_start(now()) + day + 300;
                    }
                    if now() >= next_scan {
                        self.scan(&mut schedule, false);
                        next_scan = now() + self.settings.queue_run_delay.as_secs();
                    }
                }
            }
        }
        // In-flight attempts finish on their own; what they did not record is retried on restart.
        let _ = slots.acquire_many(self.settings.concurrency.get() as u32).await;
        self.remote.smtp.close_idle().await;
    }

    /// Rebuild the schedule from disk; with `flush`, everything not held is due now.
    fn scan(&self, schedule: &mut Schedule, flush: bool) {
        let ids = match self.spool.ids() {
            Ok(ids) => ids,
            Err(e) => return tracing::error!(error = %e, "cannot read the queue"),
        };
        schedule.clear();
        for id in ids {
            match self.spool.read_state(&id) {
                Ok(st) if st.held => {}
                Ok(st) => schedule.set(id, if flush { 0 } else { st.next_attempt }),
                Err(e) => tracing::error!("{id}: {e}"),
            }
        }
    }

    /// One delivery attempt for `id`; returns when to try again, if ever.
    async fn attempt(&self, id: &QueueId) -> Option<u64> {
        let spool = self.spool.clone();
        let id2 = id.clone();
        let locked = tokio::task::spawn_blocking(move || spool.lock(&id2, false)).await;
        let q = match locked {
            Ok(Ok(Some(q))) => q,
            Ok(Ok(None)) => return None,
            Ok(Err(e)) => {
                tracing::error!("{id}: cannot read queue file: {e}");
                return Some(now() + self.settings.min_backoff.as_secs());
            }
            Err(e) => {
                tracing::error!("{id}: {e}");
                return None;
            }
        };
        match self.deliver(q).await {
            After::Done | After::Skip => None,
            After::Retry(t) => Some(t),
        }
    }

    async fn deliver(&self, mut q: Queued) -> After {
        let id = q.envelope.id.clone();
        if q.state.held {
            return After::Skip;
        }
        let pending: Vec<Rcpt> = q.envelope.rcpts().filter(|&r| !q.state.is_final(r)).collect();
        let (local, remote): (Vec<Rcpt>, Vec<Rcpt>) =
            pending.iter().partition(|&&r| q.envelope.recipient(r).transport == Transport::Local);
        let started = std::time::Instant::now();
        let mut answers = Vec::new();
        if !local.is_empty() {
            answers.extend(self.deliver_local(&q, &local).await);
        }
        if !remote.is_empty() {
            answers.extend(self.deliver_remote(&q, &remote).await);
        }
        let delay = started.elapsed().as_secs_f32();
        let expired = now().saturating_sub(q.envelope.arrival) >= self.settings.max_queue_lifetime.as_secs();
        let mut tried = Vec::new();
        for Answer { rcpt, attempt, tls } in answers {
            let outcome = Outcome::of(attempt, expired);
            let Attempt { reply, relay } = outcome.attempt();
            tracing::info!(
                "{id}: to=<{}>, relay={}, delay={delay:.2}, dsn={}, {}status={} ({reply})",
                q.envelope.recipient(rcpt).address,
                relay.as_deref().unwrap_or("none"),
                outcome.status(),
                tls.map(|t| format!("tls={t}, ")).unwrap_or_default(),
                outcome.name(),
            );
            crate::metrics::attempted(
                q.envelope.recipient(rcpt).transport,
                outcome.name(),
                q.envelope.arrival,
            );
            q.state.outcomes.insert(rcpt, outcome);
            tried.push(rcpt);
        }
        // Reports are queued before the state that says they are due is saved: a crash in
        // between sends a report twice, never not at all.
        if let Err(e) = self
            .report(&q, Action::Failed, &tried)
            .await
            .and(self.report(&q, Action::Delivered, &tried).await)
        {
            tracing::error!("{id}: cannot queue delivery status notification: {e}; retrying later");
            for r in &tried {
                if let Some(o) = q.state.outcomes.remove(r) {
                    let o = if o.is_failure() { o.deferred() } else { o };
                    q.state.outcomes.insert(*r, o);
                }
            }
        }
        let all_final = q.envelope.rcpts().all(|r| q.state.is_final(r));
        if all_final {
            let removed =
                tokio::task::spawn_blocking(move || q.remove()).await.map_err(std::io::Error::other);
            return match removed.and_then(|r| r) {
                Ok(()) => {
                    tracing::info!("{id}: removed");
                    After::Done
                }
                Err(e) => {
                    tracing::error!("{id}: cannot remove: {e}");
                    After::Skip
                }
            };
        }
        q.state.attempts += 1;
        let next = now() + self.backoff(q.state.attempts).as_secs();
        q.state.next_attempt = next;
        // Off the async threads; the retry is scheduled only once the state is on disk.
        if let Err(e) = q.store_state().await {
            tracing::error!("{id}: cannot save delivery state: {e}");
        }
        After::Retry(next)
    }

    /// min_backoff doubled per attempt, capped at max_backoff.
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        (self.settings.min_backoff * 2u32.pow(exp)).min(self.settings.max_backoff)
    }

    /// LMTP for the local recipients `rcpts`; every one gets an answer (a temporary failure
    /// when the MDA cannot be reached).
    async fn deliver_local(&self, q: &Queued, rcpts: &[Rcpt]) -> Vec<Answer> {
        // The mailbox is the end of the road: REQUIRETLS binds only relaying (RFC 8689 §4.2).
        let envelope = client::Envelope { requiretls: false, ..client_envelope(q, rcpts) };
        let result = match q.message() {
            Ok(file) => self.lmtp.send(&envelope, file).await,
            Err(e) => Err(client::ClientError::Io(e)),
        };
        lmtp_answers(result, rcpts, self.lmtp.target())
    }

    /// Remote recipients `rcpts`, grouped by route: SMTP to a next hop, or LMTP to a target of
    /// the transport map. Each gets an answer naming the relay that gave it.
    async fn deliver_remote(&self, q: &Queued, rcpts: &[Rcpt]) -> Vec<Answer> {
        let env = &q.envelope;
        let mut groups: Vec<(Route, Vec<Rcpt>)> = Vec::new();
        for &r in rcpts {
            let domain = env.recipient(r).address.rsplit_once('@').map_or("", |(_, d)| d);
            let route = self.remote.routes.route(domain);
            match groups.iter_mut().find(|(route2, _)| *route2 == route) {
                Some((_, list)) => list.push(r),
                None => groups.push((route, vec![r])),
            }
        }
        let file = match q.message() {
            Ok(f) => f,
            Err(e) => {
                let why = reply(451, "4.3.0", &format!("cannot read the queue file: {e}"));
                return rcpts.iter().map(|&r| Answer::new(r, why.clone(), "none")).collect();
            }
        };
        let srs_sender = match self.srs_sender(&q.envelope).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("{}: SRS: directory unavailable: {e}", q.envelope.id);
                let why = reply(451, "4.3.0", "sender rewriting: directory unavailable");
                return rcpts.iter().map(|&r| Answer::new(r, why.clone(), "none")).collect();
            }
        };
        let start = std::io::Seek::stream_position(&mut &file).unwrap_or(0);
        let signature = self.dkim_signature(q, &file, start);
        let tls_optional = !env.requiretls && q.headers(64 * 1024).is_ok_and(|h| tls_required_no(&h));
        let mut out = Vec::new();
        for (route, list) in groups {
            let mut envelope = client_envelope(q, &list);
            envelope.size = envelope.size.map(|s| s + signature.len() as u64);
            match route {
                Route::Smtp(hop) => {
                    if let Some(sender) = &srs_sender {
                        envelope.sender = sender.clone();
                    }
                    let payload = smtp::Payload { prefix: &signature, file: &file, start, tls_optional };
                    let sent = self.remote.smtp.send(&hop, &envelope, &payload).await;
                    out.extend(list.into_iter().zip(sent.replies).map(|(r, reply)| Answer {
                        tls: sent.tls.clone(),
                        ..Answer::new(r, reply, &sent.relay)
                    }));
                }
                Route::Lmtp(target) => {
                    let Some(lmtp) = self.remote.lmtp.get(&target) else { continue };
                    envelope.requiretls = false;
                    let result = match file.try_clone() {
                        Ok(f) => {
                            let _ = std::io::Seek::seek(&mut &f, std::io::SeekFrom::Start(start));
                            lmtp.send(&envelope, f).await
                        }
                        Err(e) => Err(client::ClientError::Io(e)),
                    };
                    out.extend(lmtp_answers(result, &list, &target));
                }
            }
        }
        out
    }

    /// The sender for SMTP hops under SRS: a sender outside our domains (mail that an alias
    /// or a Sieve redirect forwards) is rewritten at srs_domain, as postsrsd does behind
    /// Postfix; ours, excluded ones and the null sender stay.
    async fn srs_sender(&self, env: &crate::queue::Envelope) -> Result<Option<String>, authlib::Unavailable> {
        let Some(srs) = &self.remote.srs else { return Ok(None) };
        let Some((_, domain)) = env.sender.rsplit_once('@') else { return Ok(None) };
        if srs.excluded(domain) {
            return Ok(None);
        }
        if let Ok(d) = proto::Domain::parse(domain)
            && self.dir.local_domain(&d).await?.is_some()
        {
            return Ok(None);
        }
        let rewritten = srs.forward(&env.sender, now());
        if let Some(s) = &rewritten {
            tracing::info!("{}: sender <{}> rewritten as <{s}> (SRS)", env.id, env.sender.escape_debug());
        }
        Ok(rewritten)
    }

    /// The DKIM-Signature header for the message, or nothing (no key for its From: domain,
    /// or trouble, which is logged: unsigned mail beats mail that never leaves).
    fn dkim_signature(&self, q: &Queued, file: &std::fs::File, start: u64) -> Vec<u8> {
        if self.remote.dkim.is_empty() {
            return Vec::new();
        }
        let mut message = Vec::new();
        let read = file.try_clone().and_then(|mut f| {
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start))?;
            f.read_to_end(&mut message)
        });
        if let Err(e) = read {
            tracing::warn!("{}: not DKIM-signed: {e}", q.envelope.id);
            return Vec::new();
        }
        match self.remote.dkim.sign(&message) {
            None => Vec::new(),
            Some(Ok(h)) => h,
            Some(Err(e)) => {
                tracing::warn!("{}: not DKIM-signed: {e}", q.envelope.id);
                Vec::new()
            }
        }
    }
}

/// The header `TLS-Required: No` (RFC 8689 §4.2.2) is among `headers`.
fn tls_required_no(headers: &[u8]) -> bool {
    String::from_utf8_lossy(headers).lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("TLS-Required") && v.trim().eq_ignore_ascii_case("no")
        })
    })
}

/// The client envelope for recipients `rcpts` of a queued message.
fn client_envelope(q: &Queued, rcpts: &[Rcpt]) -> client::Envelope {
    let env = &q.envelope;
    let size = q.size().ok();
    client::Envelope {
        sender: env.sender.clone(),
        ret: env.ret.map(|r| if r == crate::queue::Ret::Full { "FULL".into() } else { "HDRS".into() }),
        envid: env.envid.clone(),
        // Declared 8BITMIME but plain ASCII goes to any peer; real 8-bit content needs one that
        // offers 8BITMIME (the client refuses it otherwise, RFC 6152 §3).
        body_8bit: env.body_8bit && q.has_8bit().unwrap_or(true),
        smtputf8: env.smtputf8,
        requiretls: env.requiretls,
        size,
        recipients: rcpts
            .iter()
            .map(|&r| {
                let r = env.recipient(r);
                client::Recipient {
                    address: r.address.clone(),
                    notify: r.notify.to_param(),
                    orcpt: r.orcpt.clone(),
                }
            })
            .collect(),
    }
}

/// One answer per recipient from an LMTP transaction (a temporary failure when it failed).
fn lmtp_answers(
    result: Result<client::Outcome, client::ClientError>,
    rcpts: &[Rcpt],
    target: &lmtp::Target,
) -> Vec<Answer> {
    let relay = target.to_string();
    match result {
        Ok(outcome) => {
            rcpts.iter().zip(outcome.recipients).map(|(&r, reply)| Answer::new(r, reply, &relay)).collect()
        }
        Err(e) => {
            let why = reply(451, "4.4.2", &format!("delivery to {target} failed: {e}"));
            rcpts.iter().map(|&r| Answer::new(r, why.clone(), &relay)).collect()
        }
    }
}

impl Qmgr {
    /// Queue the `action` report about recipients `rcpts` (just tried) to the sender, if one
    /// is due ([`bounce::notification`]).
    async fn report(&self, q: &Queued, action: Action, rcpts: &[Rcpt]) -> std::io::Result<()> {
        let env = &q.envelope;
        let Some(message) = bounce::notification(q, action, rcpts, &self.settings.hostname, now() as i64)?
        else {
            return Ok(());
        };
        let recipients = self.route_sender(&env.sender).await?;
        if recipients.is_empty() {
            tracing::warn!(
                "{}: sender <{}> is an unknown local address; notification discarded",
                env.id,
                env.sender
            );
            return Ok(());
        }
        let dsn = Envelope {
            id: env.id.clone(),
            arrival: now(),
            sender: String::new(),
            ret: None,
            envid: None,
            body_8bit: env.body_8bit,
            smtputf8: env.smtputf8,
            // RFC 8689 §5: a report on such a message asks for the same protection.
            requiretls: env.requiretls,
            client: "local".into(),
            helo: self.settings.hostname.clone(),
            auth: None,
            recipients,
        };
        let mut incoming = self.spool.create(dsn)?;
        incoming.write(&message)?;
        let new_id = self.spool.commit(incoming).await?;
        let what = if action == Action::Failed { "non-delivery" } else { "delivery" };
        tracing::info!("{}: sender {what} notification: {new_id}", env.id);
        let _ = self.queued.send(new_id);
        Ok(())
    }

    /// Where a notification to `sender` goes: its mailboxes when the domain is ours, else the
    /// remote address. Unavailable directory: an error, so the caller retries later.
    async fn route_sender(&self, sender: &str) -> std::io::Result<Vec<Recipient>> {
        let unavailable = |e: authlib::Unavailable| std::io::Error::other(e.to_string());
        let remote = |a: String| {
            vec![Recipient { address: a, transport: Transport::Remote, orcpt: None, notify: Notify::DEFAULT }]
        };
        let Ok(addr) = Address::parse(sender) else { return Ok(remote(sender.to_string())) };
        if self.dir.local_domain(addr.domain()).await.map_err(unavailable)?.is_none() {
            return Ok(remote(sender.to_string()));
        }
        let targets = self.dir.resolve(&addr).await.map_err(unavailable)?.unwrap_or_default();
        Ok(targets
            .into_iter()
            .map(|t| match t {
                Resolved::Local { mailbox, detail } => {
                    let a = &mailbox.address;
                    let address = match (detail, self.settings.delimiter) {
                        (Some(d), Some(c)) => format!("{}{c}{d}@{}", a.local(), a.domain()),
                        _ => a.to_string(),
                    };
                    Recipient { address, transport: Transport::Local, orcpt: None, notify: Notify::DEFAULT }
                }
                Resolved::Remote(a) => remote(a.to_string()).remove(0),
            })
            .collect())
    }
}

impl crate::tlsrpt::send::Mailer for Qmgr {
    /// A TLS report: from the null sender (no report about a report comes back), routed like
    /// a notification, queued and announced.
    async fn queue(&self, to: &[String], message: &[u8]) -> std::io::Result<String> {
        let mut recipients = Vec::new();
        for a in to {
            recipients.extend(self.route_sender(a).await?);
        }
        if recipients.is_empty() {
            return Err(std::io::Error::other("no recipient left (unknown local addresses)"));
        }
        let env = Envelope {
            id: QueueId::generate(),
            arrival: now(),
            sender: String::new(),
            ret: None,
            envid: None,
            body_8bit: false,
            smtputf8: false,
            requiretls: false,
            client: "local".into(),
            helo: self.settings.hostname.clone(),
            auth: None,
            recipients,
        };
        let mut incoming = self.spool.create(env)?;
        incoming.write(message)?;
        let id = self.spool.commit(incoming).await?;
        let _ = self.queued.send(id.clone());
        Ok(id.to_string())
    }
}

fn reply(code: u16, enhanced: &str, text: &str) -> ServerReply {
    ServerReply { code, enhanced: Some(enhanced.into()), text: text.into() }
}

/// Deferred messages by due time.
#[derive(Default)]
struct Schedule {
    by_time: BTreeSet<(u64, QueueId)>,
    due_of: HashMap<QueueId, u64>,
}

impl Schedule {
    fn set(&mut self, id: QueueId, due: u64) {
        if let Some(old) = self.due_of.insert(id.clone(), due) {
            self.by_time.remove(&(old, id.clone()));
        }
        self.by_time.insert((due, id));
    }

    fn clear(&mut self) {
        self.by_time.clear();
        self.due_of.clear();
    }

    fn next(&self) -> Option<u64> {
        self.by_time.first().map(|(t, _)| *t)
    }

    fn due(&mut self, now: u64) -> Vec<QueueId> {
        let mut out = Vec::new();
        while let Some((t, _)) = self.by_time.first() {
            if *t > now {
                break;
            }
            let (_, id) = self.by_time.pop_first().expect("first exists");
            self.due_of.remove(&id);
            out.push(id);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_orders_and_replaces() {
        let mut s = Schedule::default();
        let a = QueueId::parse("000000000000000A").unwrap();
        let b = QueueId::parse("000000000000000B").unwrap();
        s.set(a.clone(), 50);
        s.set(b.clone(), 10);
        s.set(a.clone(), 5);
        assert_eq!(s.next(), Some(5));
        assert_eq!(s.due(20), vec![a, b.clone()]);
        assert_eq!(s.next(), None);
        s.set(b.clone(), 30);
        assert!(s.due(29).is_empty());
        assert_eq!(s.due(30), vec![b]);
    }
}
