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
    pub tls: Option<TlsLevel>,
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
    tls: TlsLevel,
    session: Session,
}

/// The SMTP transport.
pub struct Smtp {
    dns: Dns,
    settings: Settings,
    sts: Option<Sts>,
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
            verify,
            any: tls::unverified(),
            slots: Mutex::default(),
            idle: Mutex::default(),
        }
    }

    /// Deliver to `hop`; every recipient gets a reply, and the relay that gave it is named.
    pub async fn send(&self, hop: &Nexthop, env: &Envelope, payload: &Payload<'_>) -> Sent {
        let key = hop.key();
        let slot = self.slot(&key);
        let _permit = slot.acquire().await;
        let all = |r: ServerReply| env.recipients.iter().map(|_| r.clone()).collect::<Vec<_>>();
        let sent = |relay: String, tls: Option<TlsLevel>, replies| Sent { relay, tls, replies };
        // A cached session first; if the peer closed it meanwhile, a fresh one.
        // A REQUIRETLS message takes only a session verified when it was opened.
        let idle = self.take_idle(&key).and_then(|(relay, tls, s)| {
            if env.requiretls && !matches!(tls, TlsLevel::Verified | TlsLevel::Dane) {
                self.put_idle(&key, relay, tls, s);
                return None;
            }
            Some((relay, tls, s))
        });
        if let Some((relay, tls, mut s)) = idle {
            match payload.reader() {
                Ok(reader) => match s.send(env, reader).await {
                    Ok(o) => {
                        self.put_idle(&key, relay.clone(), tls, s);
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
        let sts = if relaxed { None } else { self.sts_policy(hop).await };
        let hosts = match self.dns.hosts(hop, policy == TlsPolicy::Dane).await {
            Ok(h) => h,
            Err(r) => return sent("none".into(), None, all(r)),
        };
        let mut last = temp("no mail exchanger could be reached");
        let mut last_relay = "none".to_string();
        for host in hosts {
            let port = hop.port.unwrap_or(self.settings.port);
            let demand = self.demand(policy, &host, port).await.and_then(|d| sts_demand(d, &sts, hop, &host));
            let demand = match demand.map(|d| if env.requiretls { d.verified() } else { d }) {
                Ok(d) => d,
                Err(r) => {
                    // RFC 7672 §2.2: a host whose TLSA lookup failed is not used at all.
                    tracing::info!("{}: {r}", host.name);
                    (last, last_relay) = (r, host.name.clone());
                    continue;
                }
            };
            for ip in &host.addrs {
                let addr = SocketAddr::new(*ip, port);
                let relay = relay(&host, addr);
                let (mut session, tls) = match self.open(hop, &host, addr, &demand).await {
                    Ok(s) => s,
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
                        self.put_idle(&key, relay.clone(), tls, session);
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

    /// The policy for one host: for `dane`, from its TLSA records when its MX and address
    /// records are DNSSEC-secure (RFC 7672 §2.2), else opportunistic.
    async fn demand(&self, policy: TlsPolicy, host: &Host, port: u16) -> Result<Demand, ServerReply> {
        Ok(match policy {
            TlsPolicy::None => Demand::None,
            TlsPolicy::May => Demand::May,
            TlsPolicy::Encrypt => Demand::Encrypt,
            TlsPolicy::Verify => Demand::Verify,
            TlsPolicy::Dane if !host.secure => {
                tracing::debug!(
                    "{}: DANE: MX or address records not DNSSEC-secure; opportunistic TLS",
                    host.name
                );
                Demand::May
            }
            TlsPolicy::Dane => match Requirement::of(self.dns.tlsa(&host.name, port).await?.as_deref()) {
                Requirement::Opportunistic => {
                    tracing::debug!("{}: DANE: no secure TLSA records; opportunistic TLS", host.name);
                    Demand::May
                }
                Requirement::Encrypted => {
                    tracing::info!(
                        "{}: DANE: no usable TLSA record; TLS required, unauthenticated",
                        host.name
                    );
                    Demand::Encrypt
                }
                Requirement::Authenticated(records) => Demand::Dane(records),
            },
        })
    }

    /// The MTA-STS policy that applies to `hop`: MX delivery to a recipient domain with no
    /// `tls_policy_map` entry (an entry is the admin's explicit word), mode not `none`.
    async fn sts_policy(&self, hop: &Nexthop) -> Option<Policy> {
        let sts = self.sts.as_ref()?;
        if !hop.mx || hop.relay || hop.port.is_some() || self.settings.tls_policy_map.contains_key(&hop.host)
        {
            return None;
        }
        sts.policy(&hop.host).await.filter(|p| p.mode != sts::Mode::None)
    }

    /// Connect, greet, STARTTLS by policy, AUTH for the relayhost. `Err` is why this host
    /// will not do (then the next is tried); it is the recipients' reply if none will.
    async fn open(
        &self,
        hop: &Nexthop,
        host: &Host,
        addr: SocketAddr,
        demand: &Demand,
    ) -> Result<(Session, TlsLevel), ServerReply> {
        let t = self.settings.timeouts;
        let name = &self.settings.our_name;
        let connect = || async {
            let stream = client::connect_tcp(addr, t.connect).await.map_err(|e| session_error(addr, e))?;
            Client::greet(stream, Protocol::Smtp, name, t).await.map_err(|e| session_error(addr, e))
        };
        let plain = connect().await?;
        let offered = plain.capabilities().starttls;
        let (session, level) = match demand {
            Demand::None => (Session::Plain(Box::new(plain)), TlsLevel::None),
            Demand::May if !offered => (Session::Plain(Box::new(plain)), TlsLevel::None),
            Demand::Sts(sts::Mode::Testing) if !offered => {
                tracing::info!("{}: MTA-STS testing: STARTTLS not offered; sent anyway", relay(host, addr));
                (Session::Plain(Box::new(plain)), TlsLevel::None)
            }
            Demand::Encrypt | Demand::Verify | Demand::Dane(_) | Demand::Sts(_) if !offered => {
                let _ = plain.quit().await;
                let why = match demand {
                    Demand::Dane(_) => " (DANE TLSA records)",
                    Demand::Sts(_) => " (MTA-STS policy)",
                    _ => "",
                };
                return Err(ServerReply::new(
                    451,
                    Some("4.7.5"),
                    format!("TLS is required{why}, but was not offered by host"),
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
                        (Session::Plain(Box::new(connect().await?)), TlsLevel::None)
                    }
                    // RFC 7672 §3.1: a certificate the TLSA records do not match defers the mail.
                    Err(e) if level == TlsLevel::Dane => {
                        return Err(ServerReply::new(
                            451,
                            Some("4.7.5"),
                            format!("DANE: {addr}: TLSA records do not authenticate the server: {e}"),
                        ));
                    }
                    // RFC 8461 §5.1: an enforced policy's MX host with no valid certificate
                    // is not used.
                    Err(e) if matches!(demand, Demand::Sts(_)) => {
                        return Err(ServerReply::new(
                            451,
                            Some("4.7.5"),
                            format!("MTA-STS: {}: certificate not valid: {e}", relay(host, addr)),
                        ));
                    }
                    // The handshake itself failed (no certificate check passed, no common
                    // parameters), as against the network: a TLS failure.
                    Err(e) if tls_refused(&e) => {
                        return Err(ServerReply::new(
                            451,
                            Some("4.7.5"),
                            format!("{}: TLS failed: {e}", relay(host, addr)),
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

    fn take_idle(&self, key: &str) -> Option<(String, TlsLevel, Session)> {
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

    fn put_idle(&self, key: &str, relay: String, tls: TlsLevel, s: Session) {
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
        ServerReply::new(550, Some("5.7.10"), format!("REQUIRETLS needed: {}", r.text))
    } else {
        r
    }
}

/// The TLS library refused the handshake (an `io::Error` wrapping a rustls error).
fn tls_refused(e: &ClientError) -> bool {
    matches!(e, ClientError::Io(io) if io.get_ref().is_some_and(|i| i.is::<rustls::Error>()))
}

/// What an MTA-STS policy makes of a host's demand (RFC 8461 §4, §5): nothing where DANE
/// authenticates the host (its TLSA records come first, §2); else under `enforce` a host the
/// policy does not name is not used and one it names needs verified TLS; under `testing` the
/// same is checked and logged only.
fn sts_demand(
    demand: Demand,
    sts: &Option<Policy>,
    hop: &Nexthop,
    host: &Host,
) -> Result<Demand, ServerReply> {
    let Some(policy) = sts else { return Ok(demand) };
    if matches!(demand, Demand::Dane(_)) {
        return Ok(demand);
    }
    match (policy.mode, policy.allows(&host.name)) {
        (sts::Mode::None, _) => Ok(demand),
        (mode, true) => Ok(Demand::Sts(mode)),
        (sts::Mode::Enforce, false) => Err(ServerReply::new(
            451,
            Some("4.7.5"),
            format!("MTA-STS: MX host {} is not in the policy of {}", host.name, hop.host),
        )),
        (sts::Mode::Testing, false) => {
            tracing::info!(
                "{}: MTA-STS testing: MX host not in the policy of {}; used anyway",
                host.name,
                hop.host
            );
            Ok(demand)
        }
    }
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
