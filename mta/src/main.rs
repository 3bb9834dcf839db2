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
//!     CHUNKING, DSN. Recipients in our domains are checked in the directory (550 5.1.1
//!     unknown; 451 4.3.0 when it cannot answer) and aliases are expanded. Only
//!     <CR><LF>.<CR><LF> ends DATA; bare LF and bare CR are normalised or refused (bare_lf).
//!     A Received: header with TLS and AUTH details is prepended; more than max_hops
//!     Received: headers is a loop (554 5.4.6).
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
//!     reached or will not greet. STARTTLS follows tls_policy (none, may, encrypt, verify);
//!     AUTH PLAIN/LOGIN to the relayhost is only sent under TLS. Messages whose From: domain
//!     has a key in [mta.dkim] are DKIM-signed (rsa-sha256, relaxed/relaxed). At most
//!     smtp_destination_concurrency connections go to one destination, and a session is
//!     reused for the next message to it. A message whose content really has 8-bit bytes
//!     bounces (5.6.3) at a host without 8BITMIME, as RFC 6152 allows (Postfix converts to
//!     quoted-printable instead; declared-but-ASCII bodies go anywhere); mail that needs
//!     SMTPUTF8 bounces (5.6.7) when the host lacks it.
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
//!     RFC 7505 (null MX), RFC 7435 (opportunistic TLS), RFC 6376 (DKIM).
//!
//! CONFIGURATION
//!     [mta] in mailroom.toml, plus [database] and [tls]:
//!     smtp_listen = ["0.0.0.0:25"]            port 25 listeners
//!     submission_listen = ["0.0.0.0:587"]     submission listeners
//!     submissions_listen = ["0.0.0.0:465"]    implicit-TLS listeners (only with [tls])
//!     submit_socket = "/run/mailroom/mta/submit"   local submission (mailroomctl sendmail)
//!     control_socket = "/run/mailroom/mta/control" mailroomctl queue
//!     spool_dir = "/var/spool/mailroom"       the queue
//!     hostname = ""                           our name; empty: the host name
//!     user = "mailroom", group = ""           account to run as after binding
//!     mynetworks = ["127.0.0.0/8", "::1/128"] clients that may relay without AUTH
//!     auth = "saslauthd"                      or "direct" (authlib, needs hash access)
//!     saslauthd_socket = "/run/mailroom/saslauthd/mux"
//!     plaintext_auth_on_loopback = false      AUTH without TLS from loopback
//!     sender_login_check = true               reject_sender_login_mismatch
//!     max_message_size = 52428800             bytes (552 5.3.4 above)
//!     max_recipients = 1000                   per message (452 4.5.3 above)
//!     max_errors = 20, max_commands = 10000   per session, then 421
//!     max_connections_per_client = 50         per client address, then 421
//!     idle_timeout = 300                      seconds
//!     greet_pause_ms = 0                      port 25: drop clients that talk first
//!     bare_lf = "normalize"                   or "reject" (550 5.5.2)
//!     bare_lf_exclusions = []                 empty: mynetworks
//!     forbid_unauth_pipelining = true         Postfix 3.9 default
//!     strict_helo = true, vrfy = false, max_hops = 50
//!     lmtp = "unix:/run/mailroom/mda/lmtp"    or "inet:HOST:PORT"
//!     lmtp_concurrency = 20                   simultaneous deliveries
//!     min_backoff = 300, max_backoff = 4000   seconds between attempts
//!     max_queue_lifetime = 432000             seconds before a deferred message bounces
//!     queue_run_delay = 300                   seconds between full queue scans
//!     shutdown_timeout = 30, log_level = "info"
//!     dns_servers = []                        resolvers, IP or IP:PORT; empty: resolv.conf
//!     smtp_port = 25                          port of remote MX hosts
//!     relayhost = ""                          host, [host] (no MX), either with :port
//!     relayhost_username = ""                 AUTH to the relayhost (only over TLS)
//!     relayhost_password_file = ""            its password, one line
//!     transport_map = {}                      domain = "smtp:[host]:port" | "lmtp:unix:PATH"
//!     tls_policy = "may"                      none, may, encrypt or verify
//!     tls_policy_map = {}                     per destination (domain or relayhost)
//!     tls_ca_file = ""                        trust anchors for verify; empty: the system's
//!     smtp_destination_concurrency = 20       connections per destination
//!     smtp_concurrency = 100                  remote deliveries in all
//!     smtp_connection_cache_time = 2          seconds an idle session waits for reuse
//!     smtp_connect_timeout = 30, smtp_command_timeout = 300   seconds
//!     [mta.dkim."DOMAIN"] selector, key_file  DKIM key per From: domain
//!
//! FILES
//!     /etc/mailroom/mailroom.toml; /var/spool/mailroom/{queue,state} (format in
//!     mta/src/queue/mod.rs); systemd socket activation: sockets named "smtp", "submission",
//!     "submissions".
//!
//! SEE ALSO
//!     mailroomctl(8) sendmail and queue, mailroom-mda(8), mailroom-saslauthd(8), postfix(1),
//!     smtpd(8), qmgr(8)

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use authlib::{Authenticator, Directory};
use clap::Parser;
use daemon::listen::{Listener, UnixSocketSpec};
use daemon::shutdown::{Shutdown, serve};
use daemon::tls::TlsConfig;
use mailroom_mta::policy::{ConnectionCount, Networks, Role};
use mailroom_mta::qmgr::{Qmgr, Remote, Settings, dkim, lmtp, mx, route, smtp};
use mailroom_mta::queue::Spool;
use mailroom_mta::serve::Listening;
use mailroom_mta::smtpd::Context;
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
        true => Some(Arc::new(
            TlsConfig::load(Path::new(&cfg.tls.cert), Path::new(&cfg.tls.key)).context("[tls]")?,
        )),
        false => None,
    };
    let remote = remote(&cfg.mta).context("[mta]")?;
    if cli.common.check {
        println!("mailroom-mta: configuration ok");
        return Ok(());
    }
    daemon::logging::init(&cfg.mta.log_level);
    rt.block_on(serve_all(cfg, dir, networks, lmtp_target, tls, remote))
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
        connect: Duration::from_secs(m.smtp_connect_timeout.max(1)),
        greeting: Duration::from_secs(m.smtp_command_timeout.max(1)),
        command: Duration::from_secs(m.smtp_command_timeout.max(1)),
        ..Default::default()
    };
    let settings = smtp::Settings {
        our_name: hostname.clone(),
        port: m.smtp_port,
        timeouts,
        tls_policy: m.tls_policy,
        tls_policy_map: m.tls_policy_map.iter().map(|(k, v)| (k.to_ascii_lowercase(), *v)).collect(),
        roots: smtp::load_roots(&m.tls_ca_file).map_err(anyhow::Error::msg)?,
        relay_auth,
        per_destination: m.smtp_destination_concurrency.max(1),
        idle_reuse: Duration::from_secs(m.smtp_connection_cache_time),
    };
    let dns = mx::Dns::new(&m.dns_servers).map_err(anyhow::Error::msg)?;
    let lmtp = routes
        .lmtp_targets()
        .map(|t| (t.clone(), lmtp::Lmtp::new(t.clone(), &hostname, m.lmtp_concurrency.max(1))))
        .collect();
    let dkim = dkim::Signer::load(&m.dkim).map_err(anyhow::Error::msg)?;
    Ok(Remote { routes, smtp: smtp::Smtp::new(dns, settings), lmtp, dkim })
}

/// Bind a TCP listener for each address (or take systemd's sockets named `name`: all of them,
/// since a socket unit may have several ListenStream= lines).
async fn bind_tcp(name: &str, addrs: &[String]) -> Result<Vec<Listener>> {
    let mut out = Vec::new();
    while let Some(l) = Listener::from_systemd(name)? {
        out.push(l);
    }
    if !out.is_empty() {
        return Ok(out);
    }
    for a in addrs {
        out.push(Listener::bind_tcp(a).await.with_context(|| format!("binding {a} ({name})"))?);
    }
    Ok(out)
}

fn bind_unix(path: &str, mode: u32) -> Result<Listener> {
    let spec = UnixSocketSpec { path: PathBuf::from(path), mode, owner: None, group: None };
    if let Some(parent) = spec.path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    Listener::bind_unix(&spec).with_context(|| format!("binding {path}"))
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

async fn serve_all(
    cfg: config::Config,
    dir: Arc<Directory>,
    networks: Networks,
    lmtp_target: lmtp::Target,
    tls: Option<Arc<TlsConfig>>,
    remote: Remote,
) -> Result<()> {
    let m = cfg.mta.clone();
    let mut listeners: Vec<(Role, Listener)> = Vec::new();
    for l in bind_tcp("smtp", &m.smtp_listen).await? {
        listeners.push((Role::Mx, l));
    }
    for l in bind_tcp("submission", &m.submission_listen).await? {
        listeners.push((Role::Submission, l));
    }
    if tls.is_some() {
        for l in bind_tcp("submissions", &m.submissions_listen).await? {
            listeners.push((Role::Submissions, l));
        }
    } else if !m.submissions_listen.is_empty() {
        tracing::warn!("no [tls] certificate: port 465 (submissions) not opened, STARTTLS not offered");
    }
    if !m.submit_socket.is_empty() {
        listeners.push((Role::Local, bind_unix(&m.submit_socket, m.submit_socket_mode.0)?));
    }
    let control = match m.control_socket.as_str() {
        "" => None,
        path => Some(bind_unix(path, 0o600)?),
    };
    let spool = prepare_spool(&m)?;
    daemon::privilege::drop_privileges(&m.user, (!m.group.is_empty()).then_some(m.group.as_str()))
        .context("dropping privileges")?;

    let hostname = daemon::host::name(&m.hostname);
    let delimiter = cfg.database.recipient_delimiter.chars().next();
    let auth = match m.auth {
        config::AuthMethod::Saslauthd => Authenticator::Saslauthd(PathBuf::from(&m.saslauthd_socket)),
        config::AuthMethod::Direct => Authenticator::Direct(dir.clone()),
    };
    let (queued_tx, queued_rx) = mpsc::unbounded_channel();
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        dir: dir.clone(),
        spool: spool.clone(),
        auth,
        networks: networks.clone(),
        hostname: hostname.clone(),
        delimiter,
        max_hops: m.max_hops,
        sender_login_check: m.sender_login_check,
        queued: queued_tx.clone(),
    });
    let bare_lf_exempt = if m.bare_lf_exclusions.is_empty() {
        networks
    } else {
        Networks::parse(&m.bare_lf_exclusions).map_err(anyhow::Error::msg)?
    };
    let listening = Arc::new(Listening {
        ctx,
        cfg: m.clone(),
        tls: tls.clone(),
        counts: ConnectionCount::default(),
        bare_lf_exempt,
    });

    let settings = Settings {
        hostname,
        // A message in delivery holds one slot, local or remote.
        concurrency: m.lmtp_concurrency.max(1) + m.smtp_concurrency.max(1),
        min_backoff: Duration::from_secs(m.min_backoff.max(1)),
        max_backoff: Duration::from_secs(m.max_backoff.max(m.min_backoff).max(1)),
        max_queue_lifetime: Duration::from_secs(m.max_queue_lifetime),
        queue_run_delay: Duration::from_secs(m.queue_run_delay.max(1)),
        delimiter,
    };
    let lmtp = lmtp::Lmtp::new(lmtp_target, &settings.hostname, m.lmtp_concurrency.max(1));
    let qmgr = Arc::new(Qmgr::new(spool, dir, lmtp, remote, settings, queued_tx));
    let stop_qmgr = tokio_util::sync::CancellationToken::new();
    let qmgr_task = tokio::spawn(qmgr.run(queued_rx, requests_rx, stop_qmgr.clone()));

    let shutdown = Shutdown::new();
    let mut reload = shutdown.install_signal_handlers();
    if let Some(tls) = tls.clone() {
        tokio::spawn(async move {
            while reload.changed().await.is_ok() {
                match tls.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => tracing::error!(error = %e, "TLS reload failed; keeping the old certificate"),
                }
            }
        });
    }
    let mut tasks = Vec::new();
    if listeners.is_empty() {
        bail!("no listeners configured");
    }
    for (role, l) in listeners {
        tracing::info!(listen = %l.local_description(), role = role.name(), "SMTP");
        let listening = listening.clone();
        tasks.push(tokio::spawn(serve(l, shutdown.clone(), move |stream, peer| {
            listening.clone().connection(role, stream, peer)
        })));
    }
    if let Some(l) = control {
        let requests = requests_tx.clone();
        tasks.push(tokio::spawn(serve(l, shutdown.clone(), move |stream, _| {
            mailroom_mta::control::serve(stream, requests.clone())
        })));
    }
    daemon::notify::ready();
    shutdown.run_until_stopped(tasks, Duration::from_secs(m.shutdown_timeout)).await;
    stop_qmgr.cancel();
    // Deliveries cut short are retried on restart; the MDA's duplicate check absorbs repeats.
    if tokio::time::timeout(Duration::from_secs(m.shutdown_timeout), qmgr_task).await.is_err() {
        tracing::warn!("deliveries still running at shutdown; they resume on restart");
    }
    Ok(())
}
