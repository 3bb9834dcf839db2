//! NAME
//!     mailroom-web - web administration, user self-service and mail client autoconfiguration
//!
//! SYNOPSIS
//!     mailroom-web [--config FILE] [--check] [--foreground]
//!
//! DESCRIPTION
//!     The web side of the stack, in the place of postfixadmin (or Extman): server-side HTML
//!     pages, no JavaScript, usable in any browser.
//!
//!     Who logs in, postfixadmin's way: administrators from postfixadmin's admin table
//!     (superadmins, or the admins of the domains in domain_admins; existing postfixadmin
//!     logins and their hashes work as they are), and mailbox users with their mail password.
//!     One login form serves both and answers every failure alike. Admins manage domains
//!     (add, edit, deactivate, delete, with postfixadmin's per-domain limits on mailboxes,
//!     aliases and mailbox quota), mailboxes (add, password reset, quota, active flag,
//!     delete), aliases and catch-alls, alias domains (/admin/aliasdomains: mail to
//!     user@ALIAS goes to user@TARGET; both are domains here, no chains, switched on and off
//!     or deleted without touching either domain), and (superadmins) the domain admins; a
//!     domain admin sees and changes only their domains (an alias domain only when both of
//!     its domains are theirs). Every change is written to postfixadmin's log
//!     table, shown under /admin/log. Per domain, /admin/domains/DOMAIN/dns lists the DNS
//!     records to publish (MX, SPF, the DKIM key of [mta.dkim], DMARC, MTA-STS, TLS-RPT,
//!     RFC 6186 SRV, autoconfig and autodiscover) beside what DNS answers now, asked through
//!     [mta] dns_servers. /admin/queue is mailq and postsuper: list, show, hold, release,
//!     requeue, delete (as mailroomctl queue, on [mta] spool_dir, which the daemon's user must
//!     be able to read and write) and, for superadmins, flush through [mta] control_socket; a
//!     domain admin sees only messages from or to their domains.
//!
//!     Mailbox users change their own password (the current one required), see their quota
//!     use (maildirsize), forward their mail (postfixadmin's way: their alias row's goto, with
//!     or without a copy kept), and set an out-of-office reply (with optional first and last
//!     day) and simple filter rules (From, To or Subject contains or is: move to a folder,
//!     mark as read, forward, delete). Both live in one Sieve script, "mailroom-web", in the
//!     user's Pigeonhole script store (~/sieve, ~/.dovecot.sieve), checked with the same Sieve
//!     compiler as delivery before it is written and activated. A script the user uploaded
//!     with ManageSieve and had active is kept, and included at the end of ours unless they
//!     untick it.
//!
//!     Mail clients configure themselves from it: Thunderbird's autoconfig at
//!     /mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml, Outlook's
//!     autodiscover (POX) at /autodiscover/autodiscover.xml, Apple devices' configuration
//!     profile at /apple/mobileconfig?emailaddress=ADDRESS (linked from the account page),
//!     all from the listeners of [mra] and [mta] and mail_hostname. Receiving MTAs read the
//!     MTA-STS policy at /.well-known/mta-sts.txt (mode enforce when [tls] is set, else
//!     testing).
//!
//!     HTTPS with the shared [tls] certificate (tls = true), or plain HTTP behind a reverse
//!     proxy (tls = false); X-Forwarded-For and X-Forwarded-Proto are believed only from
//!     trusted_proxies.
//!
//! SECURITY
//!     Every answer carries Content-Security-Policy "default-src 'self'; script-src 'none';
//!     frame-ancestors 'none'", X-Content-Type-Options nosniff, Referrer-Policy no-referrer,
//!     and over HTTPS Strict-Transport-Security. Sessions live in memory only: a random
//!     256-bit id in a Secure, HttpOnly, SameSite=Strict cookie, ended after
//!     session_idle_timeout unused or session_max_lifetime in all, at logout, and (every
//!     session of that login) when its password changes. Every form carries a token tied to
//!     the session (the login form: to a cookie), checked before anything runs. Failed logins
//!     are delayed per login and per client address as mailroom-saslauthd delays them, and
//!     logged as the other daemons log them, so fail2ban's mailroom filter bans the address.
//!     Template output is escaped; addresses and domains are checked with authlib's types
//!     before any query. Runs as `user` (default mailroom) after binding its sockets.
//!
//! STANDARDS
//!     RFC 9110 and 9112 (HTTP/1.1), RFC 6265 (cookies), RFC 6797 (HSTS), RFC 8461
//!     (MTA-STS), Mozilla's autoconfig format (config-v1.1.xml), Microsoft's POX autodiscover.
//!
//! METRICS
//!     With metrics_listen set (or systemd's mailroom-web-metrics.socket), GET /metrics
//!     answers in the OpenMetrics text format: mailroom_web_requests_total{status} and
//!     mailroom_web_logins_total{result}, plus connections{listener},
//!     connections_accepted_total{listener}, connections_refused_total and
//!     tls_handshakes_total{result} as every daemon does. Labels never hold a user.
//!
//! CONFIGURATION
//!     [web] in mailroom.toml, plus [database], [tls], and [mra] and [mta] for the discovery
//!     answers. The keys of [web] follow, each with its default (mailroom.toml(5) describes
//!     every section).
//!
//! FILES
//!     /etc/mailroom/mailroom.toml
//!     systemd socket activation: sockets named "https" and "metrics".
//!
//! SEE ALSO
//!     mailroomctl(8) (admin add, del, list, passwd), mailroom-saslauthd(8), mailroom-mra(8),
//!     mailroom-mta(8), mailroom.toml(5)

mod account;
mod admin;
mod alias_domain;
mod app;
mod discovery;
mod dns;
mod login;
mod metrics;
mod page;
mod queue;
mod script;
mod session;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use authlib::Directory;
use clap::Parser;
use daemon::listen::{Peer, Stream};
use daemon::run::Sockets;
use daemon::tls::TlsConfig;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::app::{App, ConnInfo};

/// Web administration, user self-service and mail client autoconfiguration.
#[derive(Parser)]
#[command(name = "mailroom-web", version, about)]
struct Cli {
    #[command(flatten)]
    common: daemon::cli::CommonArgs,
}

fn main() -> ExitCode {
    daemon::manual::exit_if_asked::<Cli>(include_str!("main.rs"));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-web: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let (cfg, _) = cli.common.load()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let _guard = rt.enter();
    let dir = Directory::open(&cfg.database).context("[database]")?;
    let tls = match (cfg.web.tls, cfg.tls.enabled()) {
        (true, true) => Some(TlsConfig::load(cfg.tls.cert.as_ref(), cfg.tls.key.as_ref()).context("[tls]")?),
        (true, false) => {
            bail!("[web] tls = true needs [tls] cert and key (or set tls = false behind a proxy)")
        }
        (false, _) => None,
    };
    let app = App::new(&cfg, dir).map_err(anyhow::Error::msg)?;
    if cli.common.check {
        println!("mailroom-web: configuration ok");
        return Ok(());
    }
    daemon::logging::init(&cfg.web.log_level);
    rt.block_on(serve(cfg.web.clone(), Arc::new(app), tls))
}

/// The one role of mailroom-web's sockets.
#[derive(Debug, Clone, Copy)]
struct Https;

impl std::fmt::Display for Https {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HTTP")
    }
}

async fn serve(cfg: config::Web, app: Arc<App>, tls: Option<TlsConfig>) -> Result<()> {
    let mut sockets = Sockets::new("web");
    sockets.tcp(Https, "https", &cfg.listen).await?;
    sockets.metrics(&cfg.metrics_listen).await?;
    let mut service = sockets.start(&cfg.user, &cfg.group, tls.clone())?;
    metrics::register(service.registry());
    authlib::metrics::register(service.registry());
    let shutdown = service.shutdown();
    let router = app::router(app.clone());
    service
        .serve(Duration::from_secs(cfg.shutdown_timeout), move |Https, stream, peer| {
            let (router, tls, shutdown) = (router.clone(), tls.clone(), shutdown.clone());
            async move { connection(router, tls, stream, peer, shutdown).await }
        })
        .await?;
    Ok(())
}

/// Serve one connection: the TLS handshake when configured, then HTTP/1.1 until the client
/// leaves or the daemon stops (then the request in flight is finished and the connection closed).
async fn connection(
    router: axum::Router,
    tls: Option<TlsConfig>,
    stream: Stream,
    peer: Peer,
    shutdown: daemon::shutdown::Shutdown,
) {
    let ip = match &peer {
        Peer::Tcp(a) => Some(a.ip()),
        Peer::Unix => None,
    };
    match tls {
        Some(tls) => {
            let accepted = tokio::time::timeout(Duration::from_secs(30), tls.acceptor().accept(stream)).await;
            match accepted {
                Ok(Ok(s)) => {
                    daemon::metrics::tls_handshake(true);
                    http(router, TokioIo::new(s), ConnInfo { peer: ip, tls: true }, shutdown).await
                }
                Ok(Err(e)) => {
                    daemon::metrics::tls_handshake(false);
                    tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    daemon::metrics::tls_handshake(false);
                    tracing::debug!(peer = %peer, "TLS handshake timed out");
                }
            }
        }
        None => http(router, TokioIo::new(stream), ConnInfo { peer: ip, tls: false }, shutdown).await,
    }
}

async fn http<I>(router: axum::Router, io: I, info: ConnInfo, shutdown: daemon::shutdown::Shutdown)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    use tower::ServiceExt as _;
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(info);
        router.clone().oneshot(req.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30)).max_buf_size(64 * 1024);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "HTTP connection ended");
            }
        }
        () = shutdown.triggered() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
