//! The SMTP transport: remote recipients to their MX hosts or the relayhost, with the same
//! `smtp::client` the LMTP transport uses. Like Postfix's smtp(8): hosts in MX order, the next
//! one when a host cannot be reached or will not greet us; STARTTLS by policy (RFC 3207, RFC
//! 7435), DANE (RFC 7672, `dane`) or the domain's MTA-STS policy (RFC 8461, `sts`; DANE
//! first where a host has TLSA records); AUTH to the relayhost only under TLS; at most
//! `per_destination` connections to one destination; idle sessions reused for the next
//! message to the same destination.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{Seek, SeekFrom};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use config::TlsPolicy;
use rustls::pki_types::ServerName;
use smtp::client::{self, Client, ClientError, Envelope, Outcome, Protocol, ServerReply, Timeouts};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

use super::dane::{self, Requirement};
use super::mx::{Dns, Host};
use super::route::Nexthop;
use super::sts::{self, Policy, Sts};
use crate::tlsrpt::{self, Recorder, ResultType};

/// Most idle sessions kept per destination.
const MAX_IDLE: usize = 8;

/// The protection a session reached, for the `tls=` of the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    /// Plain text.
    None,
    /// TLS, certificate not checked.
    Encrypted,
    /// TLS, certificate chain and name checked against the trust anchors.
    Verified,
    /// TLS, certificate matched by DNSSEC-secure TLSA records.
    Dane,
}

impl fmt::Display for TlsLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsLevel::None => "none",
            TlsLevel::Encrypted => "encrypted",
            TlsLevel::Verified => "verified",
            TlsLevel::Dane => "dane",
        })
    }
}

/// The protection a session reached and, when it is not plain from the policy, why (`dane:
/// no TLSA`, `mta-sts testing: certificate-host-mismatch`): the delivery log's
/// `tls=encrypted (dane: no TLSA)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The level.
    pub level: TlsLevel,
    /// Why it is that level, in a few words (no comma, so log readers can split on them).
    pub why: Option<String>,
}

impl fmt::Display for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.why {
            Some(w) => write!(f, "{} ({w})", self.level),
            None => write!(f, "{}", self.level),
        }
    }
}

/// What the policy decisions for one host mean for its TLS report and its log line.
#[derive(Debug, Clone)]
struct Note {
    /// The policy the session is held to, as RFC 8460 names it.
    policy: tlsrpt::Policy,
    /// Why the session failed the policy, once known: result type and details.
    failure: Option<(ResultType, String)>,
    /// The reason for the log's `tls=`.
    why: Option<String>,
    /// Our address on the connection.
    local: Option<std::net::IpAddr>,
}

impl Note {
    fn new(why: Option<&str>) -> Note {
        Note { policy: tlsrpt::Policy::none(), failure: None, why: why.map(str::to_string), local: None }
    }

    fn fail(&mut self, result: ResultType, info: impl Into<String>) {
        self.failure = Some((result, info.into()));
    }
}

/// The policy that held a message back, named at the start of our reply's text (4.7.5, or
/// 5.7.10 for REQUIRETLS) so that `mailroomctl queue show` can say which from the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldBy {
    /// The MX host's TLSA records (RFC 7672).
    Dane,
    /// The domain's MTA-STS policy (RFC 8461).
    MtaSts,
    /// `tls_policy` or `tls_policy_map` (`encrypt`, `verify`).
    TlsPolicy,
    /// The message's REQUIRETLS (RFC 8689).
    RequireTls,
}

impl HeldBy {
    const ALL: [HeldBy; 4] = [HeldBy::RequireTls, HeldBy::Dane, HeldBy::MtaSts, HeldBy::TlsPolicy];

    /// How our replies start.
    pub fn prefix(self) -> &'static str {
        match self {
            HeldBy::Dane => "DANE: ",
            HeldBy::MtaSts => "MTA-STS: ",
            HeldBy::TlsPolicy => "TLS policy: ",
            HeldBy::RequireTls => "REQUIRETLS needed",
        }
    }

    /// The policy a recorded reply names, if it is one of ours about TLS.
    pub fn of(reply: &crate::queue::Reply) -> Option<HeldBy> {
        let status = reply.enhanced.map(|s| s.to_string());
        if !matches!(status.as_deref(), Some("4.7.5" | "5.7.10")) {
            return None;
        }
        HeldBy::ALL.into_iter().find(|h| reply.text.starts_with(h.prefix()))
    }
}

impl fmt::Display for HeldBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeldBy::Dane => "DANE (the MX host's TLSA records)",
            HeldBy::MtaSts => "MTA-STS (the domain's policy)",
            HeldBy::TlsPolicy => "tls_policy",
            HeldBy::RequireTls => "REQUIRETLS (the sender's)",
        })
    }
}

/// What one host's connection must be: the policy, made concrete for DANE by its TLSA records.
#[derive(Debug, Clone)]
enum Demand {
    None,
    May,
    Encrypt,
    Verify,
    Dane(Arc<Vec<dane::Usable>>),
    /// An MTA-STS policy names the host: verified TLS (`enforce`), or checked and only
    /// logged (`testing`).
    Sts(sts::Mode),
}

impl Demand {
    /// At least verified TLS, for a REQUIRETLS message (RFC 8689 §4.2.1: DANE, MTA-STS or
    /// PKIX, never less).
    fn verified(self) -> Demand {
        match self {
            Demand::Dane(_) | Demand::Verify | Demand::Sts(sts::Mode::Enforce) => self,
            Demand::Sts(_) => Demand::Sts(sts::Mode::Enforce),
            Demand::None | Demand::May | Demand::Encrypt => Demand::Verify,
        }
    }
}

/// What a delivery to a next hop came to.
pub struct Sent {
    /// The server that answered (`host[ip]:port`), or `none`.
    pub relay: String,
    /// The protection of that session; `None` when no session was had.
    pub tls: Option<Tls>,
    /// One reply per recipient.
    pub replies: Vec<ServerReply>,
}

/// A session, in plain text or upgraded (boxed: a client holds its buffers inline).
enum Session {
    Plain(Box<Client<TcpStream>>),
    Tls(Box<Client<tokio_rustls::client::TlsStream<TcpStream>>>),
}

impl Session {
    async fn send<R: tokio::io::AsyncRead + Unpin>(
        &mut self,
        env: &Envelope,
        msg: R,
    ) -> Result<Outcome, ClientError> {
        match self {
            Session::Plain(c) => c.send(env, msg).await,
            Session::Tls(c) => c.send(env, msg).await,
        }
    }

    async fn quit(self) {
        let _ = match self {
            Session::Plain(c) => c.quit().await,
            Session::Tls(c) => c.quit().await,
        };
    }
}

/// The message to send: an optional header block to put first (DKIM-Signature), then the
/// queued message from `start` on.
pub struct Payload<'a> {
    /// Prepended bytes, CRLF line ends.
    pub prefix: &'a [u8],
    /// The queue file.
    pub file: &'a std::fs::File,
    /// Where the message starts in it.
    pub start: u64,
    /// The message says `TLS-Required: No` (RFC 8689 §4.2.2).
    pub tls_optional: bool,
}

impl Payload<'_> {
    fn reader(&self) -> std::io::Result<impl tokio::io::AsyncRead + Unpin + use<'_>> {
        let mut f = self.file.try_clone()?;
        f.seek(SeekFrom::Start(self.start))?;
        Ok(self.prefix.chain(tokio::fs::File::from_std(f)))
    }
}

/// Settings from `[mta]`.
pub struct Settings {
    /// Our EHLO name.
    pub our_name: String,
    /// Port of MX hosts.
    pub port: u16,
    /// Timeouts of each stage.
    pub timeouts: Timeouts,
    /// Default TLS policy.
    pub tls_policy: TlsPolicy,
    /// Per destination (domain or relayhost name).
    pub tls_policy_map: BTreeMap<String, TlsPolicy>,
    /// Trust anchors for `verify`.
    pub roots: rustls::RootCertStore,
    /// Relayhost credentials.
    pub relay_auth: Option<(String, String)>,
    /// Connections per destination.
    pub per_destination: std::num::NonZeroUsize,
    /// How long an idle session is kept for reuse (Postfix's smtp_connection_cache_time_limit:
    /// short, since the peer may time it out and holding it blocks nobody else).
    pub idle_reuse: Duration,
}

/// A session waiting for the next message to its destination.
struct Idle {
    since: Instant,
    relay: String,
    tls: Tls,
    session: Session,
}

/// The SMTP transport.
pub struct Smtp {
    dns: Dns,
    settings: Settings,
    sts: Option<Sts>,
    /// Where sessions to recipient domains' MX hosts are counted for TLS reports.
    tlsrpt: Option<Recorder>,
    roots: Arc<rustls::RootCertStore>,
    verify: TlsConnector,
    any: TlsConnector,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    idle: Mutex<HashMap<String, Vec<Idle>>>,
}

impl Smtp {
    /// The transport, with `dns` for MX lookups and `sts` for MTA-STS policies (none: off).
    pub fn new(dns: Dns, settings: Settings, sts: Option<Sts>) -> Smtp {
        let verify = tls::verifying(settings.roots.clone());
        Smtp {
            dns,
            roots: Arc::new(settings.roots.clone()),
            settings,
            sts,
            tlsrpt: None,
            verify,
            any: tls::unverified(),
            slots: Mutex::default(),
            idle: Mutex::default(),
        }
    }

    /// Count sessions for TLS reports (RFC 8460) in `recorder`.
    pub fn set_recorder(&mut self, recorder: Recorder) {
        self.tlsrpt = Some(recorder);
    }

    /// Deliver to `hop`; every recipient gets a reply, and the relay that gave it is named.
    pub async fn send(&self, hop: &Nexthop, env: &Envelope, payload: &Payload<'_>) -> Sent {
        let key = hop.key();
        let slot = self.slot(&key);
        let _permit = slot.acquire().await;
        let all = |r: ServerReply| env.recipients.iter().map(|_| r.clone()).collect::<Vec<_>>();
        let sent = |relay: String, tls: Option<Tls>, replies| Sent { relay, tls, replies };
        // A cached session first; if the peer closed it meanwhile, a fresh one.
        // A REQUIRETLS message takes only a session verified when it was opened.
        let idle = self.take_idle(&key).and_then(|(relay, tls, s)| {
            if env.requiretls && !matches!(tls.level, TlsLevel::Verified | TlsLevel::Dane) {
                self.put_idle(&key, relay, tls, s);
                return None;
            }
            Some((relay, tls, s))
        });
        if let Some((relay, tls, mut s)) = idle {
            match payload.reader() {
                Ok(reader) => match s.send(env, reader).await {
                    Ok(o) => {
                        self.put_idle(&key, relay.clone(), tls.clone(), s);
                        return sent(relay, Some(tls), replies(o, env));
                    }
                    Err(e) => tracing::debug!("{key}: cached session failed: {e}"),
                },
                Err(e) => return sent(key, None, all(temp(&format!("cannot read the queue file: {e}")))),
            }
        }
        // `TLS-Required: No` (RFC 8689 §4.2.2): the sender would rather the mail went than
        // waited for DANE or MTA-STS; opportunistic TLS still. REQUIRETLS outranks it.
        let relaxed = payload.tls_optional && !env.requiretls;
        let policy = match self.policy(hop) {
            TlsPolicy::Dane if relaxed => TlsPolicy::May,
            p => p,
        };
        let (sts, sts_trouble) = if relaxed { (None, None) } else { self.sts_policy(hop).await };
        // Sessions to a recipient domain's own MX hosts under its policies are what TLS
        // reports are about (RFC 8460 §3); not a relayhost's, nor the admin's routes.
        let report = (!relaxed && policy != TlsPolicy::None && hop.mx && !hop.relay && hop.port.is_none())
            .then_some(hop.host.as_str());
        let hosts = match self.dns.hosts(hop, policy == TlsPolicy::Dane).await {
            Ok(h) => h,
            Err(r) => return sent("none".into(), None, all(r)),
        };
        let mut last = temp("no mail exchanger could be reached");
        let mut last_relay = "none".to_string();
        for host in hosts {
            let port = hop.port.unwrap_or(self.settings.port);
            let decided = match self.demand(policy, &host, port).await {
                Ok((d, note)) => sts_demand(d, note, (&sts, sts_trouble.as_ref()), hop, &host),
                Err(r) => Err((r, None)),
            };
            let (demand, note) = match decided {
                Ok((d, note)) if env.requiretls => {
                    let mut note = note;
                    if matches!(d, Demand::None | Demand::May | Demand::Encrypt) {
                        note.why = Some("requiretls".into());
                    }
                    (d.verified(), note)
                }
                Ok(decided) => decided,
                Err((r, note)) => {
                    // A host whose TLSA lookup failed (RFC 7672 §2.2), or that an enforced
                    // MTA-STS policy does not name, is not used at all.
                    tracing::info!("{}: {r}", host.name);
                    if let Some(note) = note {
                        self.record(report, &note, &host, None, None);
                    }
                    (last, last_relay) = (r, host.name.clone());
                    continue;
                }
            };
            for ip in &host.addrs {
                let addr = SocketAddr::new(*ip, port);
                let relay = relay(&host, addr);
                let mut session_note = note.clone();
                let opened = self.open(hop, &host, addr, &demand, &mut session_note).await;
                let level = opened.as_ref().ok().map(|(_, l)| *l);
                self.record(report, &session_note, &host, Some(addr), level);
                let (mut session, tls) = match opened {
                    Ok((s, level)) => (s, Tls { level, why: session_note.why.take() }),
                    Err(r) => {
                        let r = if env.requiretls { requiretls_failure(r) } else { r };
                        tracing::info!("{relay}: {r}");
                        (last, last_relay) = (r, relay);
                        continue;
                    }
                };
                let reader = match payload.reader() {
                    Ok(r) => r,
                    Err(e) => {
                        return sent(
                            relay,
                            Some(tls),
                            all(temp(&format!("cannot read the queue file: {e}"))),
                        );
                    }
                };
                return match session.send(env, reader).await {
                    Ok(o) => {
                        self.put_idle(&key, relay.clone(), tls.clone(), session);
                        sent(relay, Some(tls), replies(o, env))
                    }
                    Err(e) => {
                        let why = temp(&format!("lost connection with {relay}: {e}"));
                        sent(relay, Some(tls), all(why))
                    }
                };
            }
        }
        sent(last_relay, None, all(last))
    }

    /// Count one session for the TLS report of `domain` (none: not reported): a failure
    /// when the note has one, a success when TLS was had; a connection that failed before
    /// TLS came into question counts neither way.
    fn record(
        &self,
        domain: Option<&str>,
        note: &Note,
        host: &Host,
        addr: Option<SocketAddr>,
        level: Option<TlsLevel>,
    ) {
        let (Some(recorder), Some(domain)) = (&self.tlsrpt, domain) else { return };
        if addr.is_some() && note.local.is_none() {
            // Not even connected: no session to report.
            return;
        }
        let outcome = match (&note.failure, level) {
            (Some((result, info)), _) => tlsrpt::Outcome::Failure(tlsrpt::Failure {
                result: *result,
                mx_host: host.name.clone(),
                receiving_ip: addr.map(|a| a.ip()),
                sending_ip: note.local,
                info: info.clone(),
            }),
            (None, Some(l)) if l != TlsLevel::None => tlsrpt::Outcome::Success,
            _ => return,
        };
        recorder.record(tlsrpt::Session {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
            policy: note.policy.clone(),
            outcome,
        });
    }

    /// The policy for one host: for `dane`, from its TLSA records when its MX and address
    /// records are DNSSEC-secure (RFC 7672 §2.2), else opportunistic.
    async fn demand(&self, policy: TlsPolicy, host: &Host, port: u16) -> Result<(Demand, Note), ServerReply> {
        Ok(match policy {
            TlsPolicy::None => (Demand::None, Note::new(Some("tls_policy none"))),
            TlsPolicy::May => (Demand::May, Note::new(None)),
            TlsPolicy::Encrypt => (Demand::Encrypt, Note::new(None)),
            TlsPolicy::Verify => (Demand::Verify, Note::new(None)),
            TlsPolicy::Dane if !host.secure => {
                tracing::debug!(
                    "{}: DANE: MX or address records not DNSSEC-secure; opportunistic TLS",
                    host.name
                );
                (Demand::May, Note::new(Some("dane: DNS not signed")))
            }
            TlsPolicy::Dane => {
                let records = self.dns.tlsa(&host.name, port).await?;
                let tlsa_policy = |strings: Vec<String>| tlsrpt::Policy {
                    kind: tlsrpt::PolicyType::Tlsa,
                    strings,
                    mx_hosts: vec![host.name.clone()],
                };
                match Requirement::of(records.as_deref()) {
                    Requirement::Opportunistic => {
                        tracing::debug!("{}: DANE: no secure TLSA records; opportunistic TLS", host.name);
                        (Demand::May, Note::new(Some("dane: no TLSA")))
                    }
                    Requirement::Encrypted => {
                        tracing::info!(
                            "{}: DANE: no usable TLSA record; TLS required, unauthenticated",
                            host.name
                        );
                        let strings = records.unwrap_or_default().iter().map(|r| r.to_string()).collect();
                        let mut note = Note::new(Some("dane: unusable TLSA"));
                        note.policy = tlsa_policy(strings);
                        note.fail(ResultType::TlsaInvalid, "no usable TLSA record");
                        (Demand::Encrypt, note)
                    }
                    Requirement::Authenticated(usable) => {
                        let mut note = Note::new(None);
                        note.policy = tlsa_policy(usable.iter().map(|u| u.presentation()).collect());
                        (Demand::Dane(usable), note)
                    }
                }
            }
        })
    }

    /// The MTA-STS policy that applies to `hop`: MX delivery to a recipient domain with no
    /// `tls_policy_map` entry (an entry is the admin's explicit word), mode not `none`.
    /// With it, why a published policy could not be had, when none is in force.
    async fn sts_policy(&self, hop: &Nexthop) -> (Option<Policy>, Option<sts::Trouble>) {
        let Some(sts) = self.sts.as_ref() else { return (None, None) };
        if !hop.mx || hop.relay || hop.port.is_some() || self.settings.tls_policy_map.contains_key(&hop.host)
        {
            return (None, None);
        }
        let (policy, trouble) = sts.lookup(&hop.host).await;
        (policy.filter(|p| p.mode != sts::Mode::None), trouble)
    }

    /// Connect, greet, STARTTLS by policy, AUTH for the relayhost. `Err` is why this host
    /// will not do (then the next is tried); it is the recipients' reply if none will. What
    /// happened to TLS goes into `note`, for the report and the log.
    async fn open(
        &self,
        hop: &Nexthop,
        host: &Host,
        addr: SocketAddr,
        demand: &Demand,
        note: &mut Note,
    ) -> Result<(Session, TlsLevel), ServerReply> {
        let t = self.settings.timeouts;
        let name = &self.settings.our_name;
        let connect = || async {
            let stream = client::connect_tcp(addr, t.connect).await.map_err(|e| session_error(addr, e))?;
            let local = stream.local_addr().ok().map(|a| a.ip());
            let client =
                Client::greet(stream, Protocol::Smtp, name, t).await.map_err(|e| session_error(addr, e))?;
            Ok::<_, ServerReply>((client, local))
        };
        let (plain, local) = connect().await?;
        note.local = local;
        let offered = plain.capabilities().starttls;
        if !offered && !matches!(demand, Demand::None) {
            note.fail(ResultType::StarttlsNotSupported, "STARTTLS not offered");
            if note.why.is_none() {
                note.why = Some("STARTTLS not offered".into());
            }
        }
        let (session, level) = match demand {
            Demand::None => (Session::Plain(Box::new(plain)), TlsLevel::None),
            Demand::May if !offered => (Session::Plain(Box::new(plain)), TlsLevel::None),
            Demand::Sts(sts::Mode::Testing) if !offered => {
                tracing::info!("{}: MTA-STS testing: STARTTLS not offered; sent anyway", relay(host, addr));
                note.why = Some("mta-sts testing: STARTTLS not offered".into());
                (Session::Plain(Box::new(plain)), TlsLevel::None)
            }
            Demand::Encrypt | Demand::Verify | Demand::Dane(_) | Demand::Sts(_) if !offered => {
                let _ = plain.quit().await;
                let why = match demand {
                    Demand::Dane(_) => HeldBy::Dane,
                    Demand::Sts(_) => HeldBy::MtaSts,
                    _ => match note.policy.kind {
                        tlsrpt::PolicyType::Tlsa => HeldBy::Dane,
                        _ => HeldBy::TlsPolicy,
                    },
                }
                .prefix();
                return Err(ServerReply::new(
                    451,
                    Some("4.7.5"),
                    format!("{why}TLS is required, but was not offered by host"),
                ));
            }
            _ => {
                let own_connector;
                let mut verdict = None;
                let (connector, level) = match demand {
                    Demand::Verify | Demand::Sts(sts::Mode::Enforce) => (&self.verify, TlsLevel::Verified),
                    Demand::Dane(records) => {
                        own_connector = dane::connector(records.clone());
                        (&own_connector, TlsLevel::Dane)
                    }
                    Demand::Sts(_) => {
                        let (c, v) = sts::testing_connector(self.roots.clone());
                        own_connector = c;
                        verdict = Some(v);
                        (&own_connector, TlsLevel::Verified)
                    }
                    _ => (&self.any, TlsLevel::Encrypted),
                };
                let server_name = server_name(&host.name, addr);
                match plain.starttls(connector, server_name, name).await {
                    Ok(c) => {
                        let failed = verdict.and_then(|v| v.lock().expect("verdict poisoned").take());
                        let level = match failed {
                            Some(e) => {
                                tracing::info!(
                                    "{}: MTA-STS testing: certificate not valid ({e}); sent anyway",
                                    relay(host, addr)
                                );
                                let result = ResultType::of_certificate(&e);
                                note.why = Some(format!("mta-sts testing: {result}"));
                                note.fail(result, e.to_string());
                                TlsLevel::Encrypted
                            }
                            None => level,
                        };
                        (Session::Tls(Box::new(c)), level)
                    }
                    // RFC 7435: opportunistic TLS that fails is retried in plain text; so is
                    // a testing policy's (RFC 8461 §5).
                    Err(e) if matches!(demand, Demand::May | Demand::Sts(sts::Mode::Testing)) => {
                        tracing::info!("{}[{addr}]: STARTTLS failed ({e}); trying plain text", host.name);
                        let result =
                            tls_error(&e).map_or(ResultType::ValidationFailure, ResultType::of_certificate);
                        note.fail(result, e.to_string());
                        note.why = Some(match demand {
                            Demand::Sts(_) => format!("mta-sts testing: {result}"),
                            _ => "STARTTLS failed".into(),
                        });
                        let (plain, local) = connect().await?;
                        note.local = local;
                        (Session::Plain(Box::new(plain)), TlsLevel::None)
                    }
                    // RFC 7672 §3.1: a certificate the TLSA records do not match defers the mail.
                    Err(e) if level == TlsLevel::Dane => {
                        note.fail(ResultType::ValidationFailure, e.to_string());
                        return Err(ServerReply::new(
                            451,
                            Some("4.7.5"),
                            format!(
                                "{}{addr}: TLSA records do not authenticate the server: {e}",
                                HeldBy::Dane.prefix()
                            ),
                        ));
                    }
                    // RFC 8461 §5.1: an enforced policy's MX host with no valid certificate
                    // is not used.
                    Err(e) if matches!(demand, Demand::Sts(_)) => {
                        note.fail(
                            tls_error(&e).map_or(ResultType::ValidationFailure, ResultType::of_certificate),
                            e.to_string(),
                        );
                        return Err(ServerReply::new(
                            451,
                            Some("4.7.5"),
                            format!(
                                "{}{}: certificate not valid: {e}",
                                HeldBy::MtaSts.prefix(),
                                relay(host, addr)
                            ),
                        ));
                    }
                    // The handshake itself failed (no certificate check passed, no common
                    // parameters), as against the network: a TLS failure.
                    Err(e) if tls_refused(&e) => {
                        note.fail(
                            tls_error(&e).map_or(ResultType::ValidationFailure, ResultType::of_certificate),
                            e.to_string(),
                        );
                        let what = match note.policy.kind {
                            tlsrpt::PolicyType::Tlsa => HeldBy::Dane,
                            _ => HeldBy::TlsPolicy,
                        };
                        return Err(ServerReply::new(
                            451,
                            Some("4.7.5"),
                            format!("{}{}: TLS failed: {e}", what.prefix(), relay(host, addr)),
                        ));
                    }
                    Err(e) => return Err(session_error(addr, e)),
                }
            }
        };
        Ok((self.authenticate(hop, session).await?, level))
    }

    async fn authenticate(&self, hop: &Nexthop, session: Session) -> Result<Session, ServerReply> {
        let Some((user, password)) = self.settings.relay_auth.as_ref().filter(|_| hop.relay) else {
            return Ok(session);
        };
        match session {
            Session::Tls(mut c) => match c.auth(user, password).await {
                Ok(()) => Ok(Session::Tls(c)),
                Err(ClientError::Refused(r)) if r.is_permanent() => {
                    // A wrong password is the admin's to fix; the mail waits meanwhile.
                    Err(temp(&format!("SASL authentication failed: {r}")))
                }
                Err(e) => Err(temp(&format!("SASL authentication failed: {e}"))),
            },
            Session::Plain(c) => {
                let _ = c.quit().await;
                Err(temp("relayhost credentials are only sent over TLS, and TLS was not used"))
            }
        }
    }

    fn policy(&self, hop: &Nexthop) -> TlsPolicy {
        self.settings.tls_policy_map.get(&hop.host).copied().unwrap_or(self.settings.tls_policy)
    }

    fn slot(&self, key: &str) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().expect("slots poisoned");
        slots
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.settings.per_destination.get())))
            .clone()
    }

    fn take_idle(&self, key: &str) -> Option<(String, Tls, Session)> {
        let mut idle = self.idle.lock().expect("idle poisoned");
        let list = idle.get_mut(key)?;
        while let Some(i) = list.pop() {
            if i.since.elapsed() < self.settings.idle_reuse {
                return Some((i.relay, i.tls, i.session));
            }
            // Too old to trust: dropped (the peer has likely timed it out).
        }
        None
    }

    fn put_idle(&self, key: &str, relay: String, tls: Tls, s: Session) {
        let mut idle = self.idle.lock().expect("idle poisoned");
        let list = idle.entry(key.to_string()).or_default();
        if list.len() < MAX_IDLE && !self.settings.idle_reuse.is_zero() {
            list.push(Idle { since: Instant::now(), relay, tls, session: s });
        }
    }

    /// Say QUIT on every idle session (at shutdown).
    pub async fn close_idle(&self) {
        let all: Vec<Session> = {
            let mut idle = self.idle.lock().expect("idle poisoned");
            idle.drain().flat_map(|(_, v)| v.into_iter().map(|i| i.session)).collect()
        };
        for s in all {
            s.quit().await;
        }
    }
}

/// A TLS failure of a REQUIRETLS message fails it for good (RFC 8689 §5: 5.7.10); a
/// network trouble stays temporary.
fn requiretls_failure(r: ServerReply) -> ServerReply {
    if r.enhanced.as_deref() == Some("4.7.5") {
        ServerReply::new(550, Some("5.7.10"), format!("{}: {}", HeldBy::RequireTls.prefix(), r.text))
    } else {
        r
    }
}

/// The TLS library refused the handshake (an `io::Error` wrapping a rustls error).
fn tls_refused(e: &ClientError) -> bool {
    matches!(e, ClientError::Io(io) if io.get_ref().is_some_and(|i| i.is::<rustls::Error>()))
}

/// A host not to be used: the reply, and the note for its TLS report when it is one.
type Refused = (ServerReply, Option<Box<Note>>);

/// The rustls error inside a client error, if it is one.
fn tls_error(e: &ClientError) -> Option<&rustls::Error> {
    match e {
        ClientError::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    }
}

/// What an MTA-STS policy makes of a host's demand (RFC 8461 §4, §5): nothing where DANE
/// authenticates the host (its TLSA records come first, §2); else under `enforce` a host the
/// policy does not name is not used and one it names needs verified TLS; under `testing` the
/// same is checked and logged only. The note then names the MTA-STS policy for the report;
/// a policy published but not to be had (`trouble`) leaves the demand and is reported.
fn sts_demand(
    demand: Demand,
    mut note: Note,
    (sts, trouble): (&Option<Policy>, Option<&sts::Trouble>),
    hop: &Nexthop,
    host: &Host,
) -> Result<(Demand, Note), Refused> {
    let Some(policy) = sts else {
        if let Some(t) = trouble.filter(|_| !matches!(demand, Demand::Dane(_))) {
            note.policy =
                tlsrpt::Policy { kind: tlsrpt::PolicyType::Sts, strings: Vec::new(), mx_hosts: Vec::new() };
            note.fail(t.kind, t.text.clone());
        }
        return Ok((demand, note));
    };
    if matches!(demand, Demand::Dane(_)) || policy.mode == sts::Mode::None {
        return Ok((demand, note));
    }
    note.policy = tlsrpt::Policy {
        kind: tlsrpt::PolicyType::Sts,
        strings: policy.lines(),
        mx_hosts: policy.mx.clone(),
    };
    note.failure = None;
    let testing = policy.mode == sts::Mode::Testing;
    note.why = Some(if testing { "mta-sts testing" } else { "mta-sts" }.into());
    if policy.allows(&host.name) {
        return Ok((Demand::Sts(policy.mode), note));
    }
    note.fail(ResultType::ValidationFailure, format!("MX host {} is not in the policy", host.name));
    if testing {
        tracing::info!(
            "{}: MTA-STS testing: MX host not in the policy of {}; used anyway",
            host.name,
            hop.host
        );
        note.why = Some("mta-sts testing: MX not in policy".into());
        return Ok((demand, note));
    }
    let reply = ServerReply::new(
        451,
        Some("4.7.5"),
        format!("{}MX host {} is not in the policy of {}", HeldBy::MtaSts.prefix(), host.name, hop.host),
    );
    Err((reply, Some(Box::new(note))))
}

/// The outcome as one reply per recipient (a MAIL refusal is every recipient's).
fn replies(o: Outcome, env: &Envelope) -> Vec<ServerReply> {
    debug_assert_eq!(o.recipients.len(), env.recipients.len());
    o.recipients
}

fn temp(text: &str) -> ServerReply {
    ServerReply::new(451, Some("4.4.1"), text)
}

/// Why a session could not be set up, as a reply: a refusal keeps the server's code but is
/// made temporary, since another host (or a later try) may take the mail (RFC 5321 §5.1).
fn session_error(addr: SocketAddr, e: ClientError) -> ServerReply {
    match e {
        ClientError::Refused(r) if r.is_permanent() => {
            ServerReply::new(451, Some("4.4.1"), format!("host {addr} refused to talk to us: {r}"))
        }
        ClientError::Refused(r) => r,
        ClientError::Timeout(stage) => temp(&format!("conversation with {addr} timed out ({stage})")),
        e => temp(&format!("connect to {addr}: {e}")),
    }
}

/// `host[ip]:port`, as logs name a server.
fn relay(host: &Host, addr: SocketAddr) -> String {
    format!("{}[{}]:{}", host.name, addr.ip(), addr.port())
}

fn server_name(host: &str, addr: SocketAddr) -> ServerName<'static> {
    ServerName::try_from(host.to_string()).unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()))
}

/// The two TLS client configurations: verifying (chain and name) and opportunistic.
pub mod tls {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
    use tokio_rustls::TlsConnector;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// Chain to `roots` and the host name checked.
    pub fn verifying(roots: RootCertStore) -> TlsConnector {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    /// Any certificate (RFC 7435 opportunistic TLS: encryption against passive listeners, as
    /// Postfix's `may` and `encrypt`); the handshake signature is still checked.
    pub fn unverified() -> TlsConnector {
        let algs = provider().signature_verification_algorithms;
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(algs)))
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    #[derive(Debug)]
    struct AnyCert(WebPkiSupportedAlgorithms);

    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_schemes()
        }
    }
}

/// Trust anchors: `ca_file` (PEM), or the system's store when empty.
pub fn load_roots(ca_file: &str) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if ca_file.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for c in found.certs {
            let _ = roots.add(c);
        }
        return Ok(roots);
    }
    for c in CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("tls_ca_file {ca_file}: {e}"))? {
        let c = c.map_err(|e| format!("tls_ca_file {ca_file}: {e}"))?;
        roots.add(c).map_err(|e| format!("tls_ca_file {ca_file}: {e}"))?;
    }
    Ok(roots)
}
