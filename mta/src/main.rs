//! NAME
//!     mailroom-mta - SMTP server, relay policy, durable queue and queue manager
//!
//! SYNOPSIS
//!     mailroom-mta [--config FILE] [--check] [--foreground]
//!
//! DESCRIPTION
//!     The mail transfer agent of the stack, in the place of Postfix's smtpd, cleanup, qmgr
//!     and bounce. It listens on port 25 (mail for our domains from anyone; relay only for
//!     mynetworks or authenticated clients, else 554 5.7.1), 587 (submission: AUTH PLAIN or
//!     LOGIN after STARTTLS, then relay; an authenticated user may only send as addresses it
//!     owns, else 553 5.7.1), 465 (the same over implicit TLS) and a local Unix socket for
//!     `mailroomctl sendmail`.
//!
//!     ESMTP: PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS, AUTH,
//!     CHUNKING, DSN, REQUIRETLS (under TLS). Recipients in our domains are checked in the
//!     directory (550 5.1.1 unknown; 451 4.3.0 when it cannot answer) and aliases are expanded.
//!     Only <CR><LF>.<CR><LF> ends DATA; bare LF and bare CR are normalised or refused (bare_lf). A
//!     Received: header with TLS and AUTH details is prepended; more than max_hops Received:
//!     headers is a loop (554 5.4.6).
//!
//!     The message and its envelope are written to the queue and fsynced, file and
//!     directory, before the 250 that carries the queue id; sessions finishing together share
//!     the directory fsync. The queue manager hands local recipients to the MDA over LMTP
//!     (mailroom-mda or Dovecot's LMTP) and records each recipient's result: 2xx done, 4xx
//!     retried with a doubling backoff, 5xx or max_queue_lifetime bounced to the sender as an
//!     RFC 3464 report (never to the null sender), honouring NOTIFY, RET, ENVID and ORCPT.
//!     On restart it resumes the queue.
//!
//!     Remote recipients are routed like Postfix's trivial-rewrite: transport_map (an exact
//!     domain, then `.parent` entries), else relayhost, else the domain's MX records in
//!     preference order (random among equals; the domain's own A/AAAA when it has no MX; a
//!     null MX, RFC 7505, bounces at once). Hosts are tried in order while they cannot be
//!     reached or will not greet. STARTTLS follows tls_policy (none, may, encrypt, verify,
//!     dane). Under dane (RFC 7672) MX, address and TLSA records are looked up through a
//!     DNSSEC-validating resolver (trust anchors from dnssec_trust_anchor_file, else the
//!     root's): usable DANE-EE/DANE-TA records must match the server's certificate, or the
//!     mail waits (4.7.5), never sent in clear; an insecure zone falls back to may. With
//!     mta_sts (default on), a recipient domain's MTA-STS policy (RFC 8461: _mta-sts TXT,
//!     then https://mta-sts.DOMAIN/.well-known/mta-sts.txt on mta_sts_port, certificate
//!     checked against tls_ca_file or the system's roots, no redirects) is cached under
//!     spool_dir/sts for its max_age and fetched again when the TXT id changes; a failed
//!     lookup or fetch keeps the cached policy. Under enforce, an MX host the policy does not
//!     name, or one without a valid certificate for its name, is not used (4.7.5, the mail
//!     waits); under testing the failure is logged and the mail sent. DANE records take
//!     precedence; a tls_policy_map entry for the domain turns MTA-STS off for it. A message
//!     sent with MAIL FROM REQUIRETLS (RFC 8689, offered under TLS) goes only over verified
//!     TLS (DANE, MTA-STS or PKIX) to a host that offers REQUIRETLS, else it bounces with
//!     550 5.7.10; a TLS-Required: No header relaxes DANE and MTA-STS to opportunistic TLS
//!     for that message. Each delivery logs the level reached (tls=dane, verified,
//!     encrypted, none) and, where a policy decided it, why in parentheses
//!     (tls=encrypted (dane: no TLSA), tls=verified (mta-sts), tls=encrypted (mta-sts
//!     testing: certificate-host-mismatch), tls=none (STARTTLS not offered)); a message held
//!     back by a policy has a 4.7.5 reply naming it (DANE:, MTA-STS:, TLS policy:).
//!
//!     With tls_reporting (default on, RFC 8460), every session to a recipient domain's MX
//!     hosts is counted per domain and policy (tlsa with the TLSA records, sts with the
//!     MTA-STS policy, or no-policy-found) as successful or failed with the RFC's result type
//!     (starttls-not-supported, certificate-host-mismatch, certificate-expired,
//!     certificate-not-trusted, validation-failure, tlsa-invalid, ...) by a thread that
//!     rewrites spool_dir/tlsrpt/current.json whole after each batch. At midnight UTC the
//!     day's counts are closed; a few minutes later each domain whose _smtp._tls TXT record
//!     (v=TLSRPTv1; rua=...) names destinations gets its gzipped JSON report: by mail from
//!     tls_report_sender with the null envelope sender through our own queue (mailto:),
//!     multipart/report with an application/tlsrpt+gzip part, TLS-Report-Domain and
//!     TLS-Report-Submitter headers, or POSTed (https:). mailroomctl tls report shows the
//!     counts; --send closes the period and sends at once. AUTH
//!     PLAIN/LOGIN to the relayhost is only sent under TLS. Messages whose From: domain
//!     has a key in [mta.dkim] are DKIM-signed (rsa-sha256, relaxed/relaxed). At most
//!     smtp_destination_concurrency connections go to one destination, and a session is
//!     reused for the next message to it. A message whose content really has 8-bit bytes
//!     bounces (5.6.3) at a host without 8BITMIME, as RFC 6152 allows (Postfix converts to
//!     quoted-printable instead; declared-but-ASCII bodies go anywhere); mail that needs
//!     SMTPUTF8 bounces (5.6.7) when the host lacks it.
//!
//!     Mail filters (milters: rspamd, clamav-milter, spamass-milter, opendkim) are asked
//!     about each message as Postfix asks them, Sendmail milter protocol version 6:
//!     smtpd_milters for SMTP clients, non_smtpd_milters for the local socket, in order. They
//!     hear the connection, HELO, MAIL, RCPT (a refusal refuses that recipient) and DATA, and
//!     the whole message before the reply to its end: reject (550 5.7.1 or their own reply),
//!     tempfail (451 4.7.1), discard (250, not queued), quarantine (queued on hold); header,
//!     body, sender and recipient changes are in the queued file. A filter that is down,
//!     slow or broken gets milter_default_action (tempfail: 451 4.7.1; reject; accept).
//!
//!     With sender_auth, mail on port 25 from clients neither authenticated nor in mynetworks
//!     is checked as policyd-spf, opendkim and opendmarc check it behind Postfix: SPF for the
//!     HELO name and MAIL FROM (spf_fail = reject refuses a fail with 550 5.7.23), DKIM and
//!     ARC signatures, DMARC alignment and policy (dmarc_policy = honour: p=reject is 550
//!     5.7.1, p=quarantine adds X-Mailroom-Quarantine: for a Sieve Junk rule). The results
//!     are one Authentication-Results: header under authserv_id on top of the message; such
//!     headers arriving under our authserv-id are removed. A DNS failure is temperror in the
//!     header, never a refusal.
//!
//!     With greylist, port-25 mail from clients neither authenticated nor in mynetworks is
//!     greylisted as postgrey does it behind Postfix: the first attempt of a triplet (client
//!     network, /24 or /64; the sender lowercased, without +extension, BATV tag and VERP
//!     numbers; the recipient) gets "450 4.7.1 <rcpt>: Recipient address rejected:
//!     Greylisted, ..." (greylist_text) at RCPT until greylist_delay seconds have passed; a
//!     triplet that never passed starts again when retried after two days, one unseen for
//!     greylist_max_age days is forgotten, and a client address that passed
//!     greylist_auto_whitelist times (once an hour at most) is not greylisted again. The
//!     triplets live in the [database] (mailroom_greylist, mailroom_greylist_clients), so
//!     they survive restarts and every MTA on the database shares them; when it cannot
//!     answer, the recipient gets 451 4.3.5 (Postfix's answer when postgrey is down).
//!
//!     With srs_domain, the Sender Rewriting Scheme works as postsrsd's: mail relayed to a
//!     remote host whose sender is not in our domains (an alias or a Sieve redirect
//!     forwarding it) leaves with the sender SRS0=HHHH=TT=domain=user@srs_domain (SRS1 for a
//!     sender that already is another forwarder's SRS0), signed with the first line of
//!     srs_secret_file; srs_exclude_domains are left alone. Mail to an SRS0 or SRS1 address
//!     at srs_domain (a bounce) is accepted for the address it stands for and sent on; a hash
//!     that no line of srs_secret_file made, or a stamp older than 21 days, is 550 5.1.1.
//!     Port-25 clients outside mynetworks are looked up in the DNS lists of dnsbl_sites as
//!     they connect, in parallel and within dnsbl_timeout, as postscreen does (RFC 5782
//!     queries): each `zen.example=127.0.0.[2..11]*2` entry whose filter matches a reply adds
//!     its weight to the client's score. At dnsbl_threshold or above, dnsbl_action decides:
//!     enforce refuses each RCPT TO of a client that has not authenticated with 550 5.7.1
//!     "Service unavailable; client [ADDR] blocked using LIST", drop answers 521 5.7.1 in
//!     place of the greeting and hangs up, ignore only logs. A score at or below a negative
//!     dnsbl_allowlist_threshold (a DNSWL's negative weight) skips the greet_pause_ms wait and
//!     greylisting (the verdict is then awaited at RCPT, within dnsbl_timeout). A list that
//!     fails or does not answer in time counts as not listing the client.
//!
//!     Per client address and listener, counted as Postfix's anvil counts them in windows of
//!     anvil_rate_time_unit: more than smtpd_client_connection_rate_limit connections get
//!     421 4.7.0 and are closed, more than smtpd_client_message_rate_limit MAIL FROM and
//!     smtpd_client_recipient_rate_limit RCPT TO commands get 450 4.7.1; more than
//!     max_connections_per_client at once get 421 4.7.0. Clients in
//!     smtpd_client_event_limit_exceptions (default: mynetworks) are not limited.
//!
//!     Every log line about a message starts with its queue id.
//!
//! SECURITY
//!     Binds its ports and sockets as root (or takes them from systemd), then runs as `user`
//!     (default mailroom). It never opens a mailbox: local delivery goes through the MDA's
//!     LMTP socket. It reads the directory with an account that cannot read password hashes;
//!     passwords go to mailroom-saslauthd (auth = "saslauthd"), or are checked directly with
//!     auth = "direct". AUTH is offered only under TLS unless plaintext_auth_on_loopback allows
//!     it for loopback clients.
//!
//! STANDARDS
//!     RFC 5321 (SMTP), RFC 6409 (submission), RFC 8314 (implicit TLS), RFC 3207 (STARTTLS),
//!     RFC 4954 (AUTH), RFC 4616 (PLAIN), RFC 2920 (PIPELINING), RFC 1870 (SIZE), RFC 6152
//!     (8BITMIME), RFC 6531 (SMTPUTF8), RFC 3030 (CHUNKING), RFC 3461/3464 (DSN), RFC 3463
//!     (enhanced status codes), RFC 3848 (Received: protocol names), RFC 2033 (LMTP client),
//!     RFC 7505 (null MX), RFC 7435 (opportunistic TLS), RFC 6376 (DKIM), RFC 7208 (SPF),
//!     RFC 7489 (DMARC), RFC 8617 (ARC), RFC 8601 (Authentication-Results), RFC 7372 (5.7.23),
//!     RFC 7672 (DANE for SMTP), RFC 6698 (TLSA), RFC 5782 (DNS blocklists), RFC 8461
//!     (MTA-STS), RFC 8460 (TLS reporting), RFC 8689 (REQUIRETLS); the SRS scheme of
//!     libsrs2 and postsrsd.
//!
//! METRICS
//!     With metrics_listen set (or systemd's mailroom-mta-metrics.socket), GET /metrics answers
//!     in the OpenMetrics text format, every name prefixed mailroom_mta_: smtp_replies_total
//!     {command=auth|mail|rcpt|data, class}, messages_queued_total{role},
//!     deliveries_total{transport=lmtp|smtp, status=sent|deferred|bounced|expired},
//!     delivery_seconds (acceptance to delivery), queue_messages and queue_oldest_age_seconds
//!     (read from the spool at each scrape), the connection stage's
//!     dnsbl_verdicts_total{result=listed|allowlisted|pass} (one per client looked up),
//!     dnsbl_lookup_failures_total{reason=error|timeout} (per list asked),
//!     greylist_total{result=greylisted|passed|whitelisted|allowlisted|unavailable} (per
//!     recipient) and rate_limited_total{limit=connection|message|recipient|concurrency}, plus
//!     connections{listener}, connections_accepted_total{listener},
//!     connections_refused_total and tls_handshakes_total{result} as every daemon does, and
//!     the directory's directory_queries_total{result}, directory_query_seconds and
//!     directory_cache_lookups_total{result}. Labels never hold a user or an address.
//!
//! CONFIGURATION
//!     [mta] in mailroom.toml, plus [database] and [tls]. The keys of [mta] follow, each with
//!     its default (mailroom.toml(5) describes every section); DKIM keys are tables
//!     [mta.dkim."DOMAIN"] with a selector and a key_file.
//!
//! FILES
//!     /etc/mailroom/mailroom.toml; /var/spool/mailroom/{queue,state,sts,tlsrpt} (formats in
//!     mta/src/queue/mod.rs, mta/src/qmgr/sts.rs and mta/src/tlsrpt/store.rs); /etc/mailroom/srs.secret
//!     (srs_secret_file); systemd socket activation: sockets named "smtp", "submission",
//!     "submissions".
//!
//! SEE ALSO
//!     mailroomctl(8) sendmail and queue, mailroom-mda(8), mailroom-saslauthd(8), postfix(1),
//!     smtpd(8), qmgr(8), postgrey(8), postsrsd(8)

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use authlib::{Authenticator, Directory};
use clap::Parser;
use daemon::listen::UnixSocketSpec;
use daemon::run::Sockets;
use daemon::tls::TlsConfig;
use mailroom_mta::policy::{ConnectionCount, Networks, Role};
use mailroom_mta::qmgr::{Qmgr, Remote, Settings, dkim, lmtp, mx, route, smtp, sts};
use mailroom_mta::queue::Spool;
use mailroom_mta::serve::Listening;
use mailroom_mta::smtpd::Context;
use mailroom_mta::smtpd::dnsbl::Dnsbl;
use tokio::sync::mpsc;

/// SMTP server, relay policy, durable queue and queue manager.
#[derive(Parser)]
#[command(name = "mailroom-mta", version, about)]
struct Cli {
    #[command(flatten)]
    common: daemon::cli::CommonArgs,
}

fn main() -> ExitCode {
    daemon::manual::exit_if_asked::<Cli>(include_str!("main.rs"));
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-mta: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let (cfg, _) = cli.common.load()?;
    // sqlx's pools need the runtime even to be created.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let _guard = rt.enter();
    let dir = Arc::new(Directory::open(&cfg.database).context("[database]")?);
    let networks = Networks::parse(&cfg.mta.mynetworks).map_err(anyhow::Error::msg)?;
    let lmtp_target = lmtp::Target::parse(&cfg.mta.lmtp).map_err(anyhow::Error::msg)?;
    let tls = match cfg.tls.enabled() {
        true => Some(TlsConfig::load(Path::new(&cfg.tls.cert), Path::new(&cfg.tls.key)).context("[tls]")?),
        false => None,
    };
    let remote = remote(&cfg.mta).context("[mta]")?;
    let dnsbl = dnsbl(&cfg.mta)?;
    if cli.common.check {
        println!("mailroom-mta: configuration ok");
        return Ok(());
    }
    daemon::logging::init(&cfg.mta.log_level);
    rt.block_on(serve_all(cfg, dir, networks, lmtp_target, tls, remote, dnsbl))
}

/// Routing, resolver, TLS roots, relayhost credentials and DKIM keys for remote delivery.
fn remote(m: &config::Mta) -> Result<Remote> {
    let routes = route::Routes::new(&m.transport_map, &m.relayhost).map_err(anyhow::Error::msg)?;
    let hostname = daemon::host::name(&m.hostname);
    let relay_auth = match m.relayhost_username.as_str() {
        "" => None,
        user => {
            let file = &m.relayhost_password_file;
            let pw =
                std::fs::read_to_string(file).with_context(|| format!("relayhost_password_file {file}"))?;
            Some((user.to_string(), pw.trim_end_matches(['\r', '\n']).to_string()))
        }
    };
    let timeouts = ::smtp::client::Timeouts {
        connect: Duration::from_secs(m.smtp_connect_timeout.get()),
        greeting: Duration::from_secs(m.smtp_command_timeout.get()),
        command: Duration::from_secs(m.smtp_command_timeout.get()),
        ..Default::default()
    };
    let settings = smtp::Settings {
        our_name: hostname.clone(),
        port: m.smtp_port.get(),
        timeouts,
        tls_policy: m.tls_policy,
        tls_policy_map: m.tls_policy_map.iter().map(|(k, v)| (k.to_ascii_lowercase(), *v)).collect(),
        roots: smtp::load_roots(m.tls_ca_file.as_str()).map_err(anyhow::Error::msg)?,
        relay_auth,
        per_destination: m.smtp_destination_concurrency,
        idle_reuse: Duration::from_secs(m.smtp_connection_cache_time),
    };
    let dns =
        mx::Dns::new(&m.dns_servers, m.dnssec_trust_anchor_file.as_str()).map_err(anyhow::Error::msg)?;
    let sts = m.mta_sts.then(|| {
        sts::Sts::new(
            dns.resolver().clone(),
            smtp::tls::verifying(settings.roots.clone()),
            m.mta_sts_port.get(),
            sts::cache_dir(Path::new(&m.spool_dir)),
        )
    });
    let lmtp = routes
        .lmtp_targets()
        .map(|t| (t.clone(), lmtp::Lmtp::new(t.clone(), &hostname, m.lmtp_concurrency.get())))
        .collect();
    let dkim = dkim::Signer::load(&m.dkim).map_err(anyhow::Error::msg)?;
    let srs = mailroom_mta::srs::Srs::load(m).map_err(anyhow::Error::msg)?;
    Ok(Remote { routes, smtp: smtp::Smtp::new(dns, settings, sts), lmtp, dkim, srs })
}

/// The spool must belong to the account we run as; as root, make it so before switching.
fn prepare_spool(cfg: &config::Mta) -> Result<Spool> {
    let root = Path::new(&cfg.spool_dir);
    let spool = Spool::open(root).with_context(|| format!("opening the queue at {}", root.display()))?;
    if daemon::privilege::is_root() {
        let user =
            nix::unistd::User::from_name(&cfg.user)?.with_context(|| format!("no user {:?}", cfg.user))?;
        for sub in ["", "queue", "state"] {
            nix::unistd::chown(&root.join(sub), Some(user.uid), Some(user.gid))?;
        }
    }
    Ok(spool)
}

/// What a socket of mailroom-mta serves.
#[derive(Debug, Clone, Copy)]
enum Socket {
    /// SMTP in one of its roles.
    Smtp(Role),
    /// `mailroomctl queue`'s control socket.
    Control,
}

impl std::fmt::Display for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Socket::Smtp(role) => write!(f, "SMTP {}", role.name()),
            Socket::Control => f.write_str("control"),
        }
    }
}

/// Every listener of `m`, bound or taken from systemd.
async fn bind(m: &config::Mta, tls: bool) -> Result<Sockets<Socket>> {
    let mut sockets = Sockets::new("mta");
    sockets.tcp(Socket::Smtp(Role::Mx), "smtp", &m.smtp_listen).await?;
    sockets.tcp(Socket::Smtp(Role::Submission), "submission", &m.submission_listen).await?;
    if tls {
        sockets.tcp(Socket::Smtp(Role::Submissions), "submissions", &m.submissions_listen).await?;
    } else if !m.submissions_listen.is_empty() {
        tracing::warn!("no [tls] certificate: port 465 (submissions) not opened, STARTTLS not offered");
    }
    let unix = |path: &Path, mode: u32| UnixSocketSpec { path: path.into(), mode, owner: None, group: None };
    if let Some(path) = m.submit_socket.get() {
        sockets.unix(Socket::Smtp(Role::Local), None, &unix(path, m.submit_socket_mode.0))?;
    }
    if let Some(path) = m.control_socket.get() {
        sockets.unix(Socket::Control, None, &unix(path, 0o600))?;
    }
    sockets.metrics(&m.metrics_listen).await?;
    Ok(sockets)
}

async fn serve_all(
    cfg: config::Config,
    dir: Arc<Directory>,
    networks: Networks,
    lmtp_target: lmtp::Target,
    tls: Option<TlsConfig>,
    remote: Remote,
    dnsbl: Option<Arc<Dnsbl>>,
) -> Result<()> {
    let m = cfg.mta.clone();
    // The spool before the sockets: a client that can connect finds the queue there.
    let spool = prepare_spool(&m)?;
    let sockets = bind(&m, tls.is_some()).await?;
    let mut service = sockets.start(&m.user, &m.group, tls.clone())?;
    mailroom_mta::metrics::register(service.registry(), spool.clone());
    authlib::metrics::register(service.registry());

    let hostname = daemon::host::name(&m.hostname);
    let delimiter = cfg.database.recipient_delimiter.chars().next();
    let auth = Authenticator::new(m.auth, &m.saslauthd_socket, dir.clone());
    let (queued_tx, queued_rx) = mpsc::unbounded_channel();
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        dir: dir.clone(),
        spool: spool.clone(),
        auth,
        networks: networks.clone(),
        hostname: hostname.clone(),
        delimiter,
        max_hops: m.max_hops.get(),
        sender_login_check: m.sender_login_check,
        queued: queued_tx.clone(),
        smtpd_milters: milters(&m, &m.smtpd_milters, &hostname)?,
        non_smtpd_milters: milters(&m, &m.non_smtpd_milters, &hostname)?,
        sender_auth: sender_auth(&m, &hostname)?,
        greylist: mailroom_mta::smtpd::greylist::Greylist::from_config(&m),
        srs: remote.srs.clone(),
        dnsbl,
        anvil: anvil(&m, &networks, &hostname)?,
    });
    let bare_lf_exempt = if m.bare_lf_exclusions.is_empty() {
        networks
    } else {
        Networks::parse(&m.bare_lf_exclusions).map_err(anyhow::Error::msg)?
    };
    let listening = Arc::new(Listening {
        ctx,
        cfg: m.clone(),
        tls: tls.map(Arc::new),
        counts: ConnectionCount::default(),
        bare_lf_exempt,
    });

    let settings = Settings {
        hostname,
        // A message in delivery holds one slot, local or remote.
        concurrency: m.lmtp_concurrency.saturating_add(m.smtp_concurrency.get()),
        min_backoff: Duration::from_secs(m.min_backoff.get()),
        max_backoff: Duration::from_secs(m.max_backoff.get()),
        max_queue_lifetime: Duration::from_secs(m.max_queue_lifetime),
        queue_run_delay: Duration::from_secs(m.queue_run_delay.get()),
        delimiter,
    };
    let lmtp = lmtp::Lmtp::new(lmtp_target, &settings.hostname, m.lmtp_concurrency.get());
    // After the privilege drop: the recorder's thread writes under the spool as our user.
    let mut remote = remote;
    let reporter = if m.tls_reporting { Some(tls_reporter(&m, &settings.hostname)?) } else { None };
    if let Some(r) = &reporter {
        remote.smtp.set_recorder(r.recorder().clone());
    }
    let mut qmgr = Qmgr::new(spool, dir, lmtp, remote, settings, queued_tx);
    if let Some(r) = reporter {
        qmgr = qmgr.with_tls_reports(Arc::new(r));
    }
    let qmgr = Arc::new(qmgr);
    // Deliveries cut short at shutdown are retried on restart; the MDA's duplicate check
    // absorbs repeats.
    service.background(|stop| qmgr.run(queued_rx, requests_rx, stop));
    service
        .serve(Duration::from_secs(m.shutdown_timeout), move |socket, stream, peer| {
            let (listening, requests) = (listening.clone(), requests_tx.clone());
            async move {
                match socket {
                    Socket::Smtp(role) => listening.connection(role, stream, peer).await,
                    Socket::Control => mailroom_mta::control::serve(stream, requests).await,
                }
            }
        })
        .await?;
    Ok(())
}

/// TLS reporting: the session recorder on spool_dir/tlsrpt and the report sender.
fn tls_reporter(m: &config::Mta, hostname: &str) -> Result<mailroom_mta::tlsrpt::send::Reporter> {
    use mailroom_mta::tlsrpt::{report, send, store};
    let dir = store::dir(Path::new(&m.spool_dir));
    let recorder = store::Recorder::start(dir.clone()).context("starting the TLS report recorder")?;
    let contact = match m.tls_report_sender.as_str() {
        "" => format!("postmaster@{hostname}"),
        s => s.to_string(),
    };
    let who = report::Reporter {
        organization: if m.tls_report_organization.is_empty() {
            hostname.to_string()
        } else {
            m.tls_report_organization.clone()
        },
        submitter: contact.rsplit_once('@').map_or(hostname, |(_, d)| d).to_string(),
        contact,
    };
    let resolver = mx::resolver(&m.dns_servers).map_err(anyhow::Error::msg)?;
    let roots = smtp::load_roots(m.tls_ca_file.as_str()).map_err(anyhow::Error::msg)?;
    Ok(send::Reporter::new(recorder, dir, resolver, smtp::tls::verifying(roots), who))
}

/// The sender checks of port-25 mail, when `sender_auth` asks for them.
fn sender_auth(m: &config::Mta, hostname: &str) -> Result<Option<mailroom_mta::smtpd::sender_auth::Checker>> {
    if !m.sender_auth {
        return Ok(None);
    }
    let resolver = mx::resolver(&m.dns_servers).map_err(anyhow::Error::msg)?;
    let authserv_id = if m.authserv_id.is_empty() { hostname } else { &m.authserv_id };
    Ok(Some(mailroom_mta::smtpd::sender_auth::Checker::new(
        resolver,
        authserv_id.to_string(),
        hostname.to_string(),
        m.spf_fail,
        m.dmarc_policy,
    )))
}

/// The DNS lists of `dnsbl_sites`, asked through the resolver of `dns_servers`.
fn dnsbl(m: &config::Mta) -> Result<Option<Arc<Dnsbl>>> {
    if m.dnsbl_sites.is_empty() {
        return Ok(None);
    }
    let resolver = mx::resolver(&m.dns_servers).map_err(anyhow::Error::msg)?;
    let d = Dnsbl::new(m, resolver).map_err(|e| anyhow::anyhow!("[mta] {e}"))?;
    Ok(d.map(Arc::new))
}

/// The per-client rate limits; their exceptions are mynetworks unless listed.
fn anvil(m: &config::Mta, networks: &Networks, hostname: &str) -> Result<mailroom_mta::smtpd::anvil::Anvil> {
    use mailroom_mta::smtpd::anvil::{Anvil, Limits};
    let exceptions = if m.smtpd_client_event_limit_exceptions.is_empty() {
        networks.clone()
    } else {
        Networks::parse(&m.smtpd_client_event_limit_exceptions)
            .map_err(|e| anyhow::anyhow!("[mta] smtpd_client_event_limit_exceptions: {e}"))?
    };
    let limits = Limits {
        connections: m.smtpd_client_connection_rate_limit,
        messages: m.smtpd_client_message_rate_limit,
        recipients: m.smtpd_client_recipient_rate_limit,
    };
    let unit = Duration::from_secs(m.anvil_rate_time_unit.get());
    Ok(Anvil::new(limits, unit, exceptions, hostname.to_string()))
}

/// One listener kind's mail filters from `[mta]`.
fn milters(
    m: &config::Mta,
    list: &[String],
    hostname: &str,
) -> Result<Option<Arc<mailroom_mta::milter::Milters>>> {
    let secs = |n: std::num::NonZeroU64| std::time::Duration::from_secs(n.get());
    let timeouts = mailroom_mta::milter::conn::Timeouts {
        connect: secs(m.milter_connect_timeout),
        command: secs(m.milter_command_timeout),
        content: secs(m.milter_content_timeout),
    };
    mailroom_mta::milter::Milters::parse(list, m.milter_default_action, timeouts, hostname)
        .map_err(|e| anyhow::anyhow!("[mta] milters: {e}"))
}
