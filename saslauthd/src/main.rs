//! NAME
//!     mailroom-saslauthd - password checks for virtual users, on cyrus saslauthd's socket
//!
//! SYNOPSIS
//!     mailroom-saslauthd [--config FILE] [--check] [--foreground] [-m DIR] [-a MECH] [-c] [-t SECS] [-r] [-d] [-n N]
//!
//! DESCRIPTION
//!     A drop-in for cyrus saslauthd that checks logins against the virtual users of a
//!     postfixadmin database (MariaDB, or SQLite) through authlib, with Dovecot's password
//!     schemes. Stop cyrus saslauthd, start this on the same directory, and an existing Postfix
//!     (or anything using libsasl2's `pwcheck_method: saslauthd`) authenticates virtual users
//!     unchanged. mailroom-mta and mailroom-mra check passwords here too.
//!
//!     <run_dir>/mux    the cyrus saslauthd protocol: one request per connection, four counted
//!                      fields (login, password, service, realm) or five with the client
//!                      address; reply "OK" or "NO reason".
//!     <run_dir>/auth   the Dovecot auth protocol, for Postfix's smtpd_sasl_type = dovecot:
//!                      PLAIN and LOGIN, with and without initial response.
//!
//!     A login without a domain is joined with the realm the client sent (cyrus -r). A
//!     database that cannot answer gives NO with a temporary-failure reason (cyrus) or
//!     code=temp_fail (Dovecot); it is never OK. Failures are logged with user, service and
//!     client address, and answered after a delay that doubles with each failure of the same
//!     login or client address.
//!
//!     Options -a, -n, -c are accepted for cyrus compatibility and ignored: the mechanism is
//!     always mailroom's directory, one process serves all clients, and authlib's credential
//!     cache is on unless [database] password_cache_ttl is 0. -m DIR sets run_dir, -t SECS
//!     the cache's TTL, -r joins realms (the default), -d logs at debug level. The daemon never forks; --foreground is implied.
//!
//! LDAP
//!     With [database] backend = "ldap" the users come from LDAP; cyrus's saslauthd.conf
//!     for -a ldap maps to [database.ldap] like this:
//!         ldap_servers: ldap://a/ ldap://b/    uris = ["ldap://a/", "ldap://b/"]
//!         ldap_bind_dn / ldap_password          bind_dn / bind_password_file
//!         ldap_search_base, ldap_scope          base, scope
//!         ldap_filter: (mail=%u@%r)             pass_filter = "(mail=%u)" (Dovecot's %u %n %d)
//!         ldap_auth_method: bind                auth_bind = true (else userPassword is read)
//!         ldap_start_tls: yes                   starttls = true
//!         ldap_tls_cacert_file                  tls_ca_cert_file
//!         ldap_tls_check_peer: no               tls_require_cert = "never"
//!         ldap_timeout                          timeout
//!     A server that does not answer is a temporary failure, as with a database.
//!
//! SECURITY
//!     Started as root (or by systemd with the sockets passed in), it binds its sockets, then
//!     runs as `user` (default mailroom-auth), the only account meant to read password hashes
//!     (sql/mariadb/grants.sql). It opens nothing but the database and its two sockets. The
//!     credential cache keeps, per user and stored hash, an HMAC-SHA-256 of the password under
//!     a key drawn at start, never the password; a changed password misses it at once.
//!
//! STANDARDS
//!     cyrus-sasl saslauthd socket protocol (2.1.28); Dovecot auth protocol 1.2 (client side
//!     as used by Postfix); RFC 4616 (PLAIN); draft-murchison-sasl-login (LOGIN).
//!
//! METRICS
//!     With metrics_listen set (or systemd's mailroom-saslauthd-metrics.socket), GET /metrics
//!     answers in the OpenMetrics text format: mailroom_saslauthd_authentications_total
//!     {protocol, result=ok|failed|tempfail}, plus
//!     connections{listener}, connections_accepted_total{listener},
//!     connections_refused_total and tls_handshakes_total{result} as every daemon does, and
//!     the directory's directory_queries_total{result}, directory_query_seconds and
//!     directory_cache_lookups_total{result}. Labels never hold a user or an address.
//!
//! CONFIGURATION
//!     [saslauthd] in mailroom.toml, plus [database]. The keys of [saslauthd] follow, each with
//!     its default (mailroom.toml(5) describes every section); the cyrus flags above override
//!     run_dir, join_realm and log_level, and [database] password_cache_ttl.
//!
//! FILES
//!     /etc/mailroom/mailroom.toml, /run/mailroom/saslauthd/mux, /run/mailroom/saslauthd/auth
//!     systemd socket activation: sockets named "mux" and "auth" (FileDescriptorName=).
//!
//! SEE ALSO
//!     saslauthd(8), testsaslauthd(8), mailroomctl(8), postconf(5) smtpd_sasl_type

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use authlib::Directory;
use clap::Parser;
use daemon::listen::UnixSocketSpec;
use daemon::run::Sockets;
use saslauthd::check::Checker;
use saslauthd::serve::DovecotIdentity;

/// Password checks for virtual users on cyrus saslauthd's socket (and Dovecot's auth protocol).
#[derive(Parser)]
#[command(name = "mailroom-saslauthd", version, about)]
struct Cli {
    #[command(flatten)]
    common: daemon::cli::CommonArgs,
    /// Socket directory (cyrus -m), overrides [saslauthd] run_dir
    #[arg(short = 'm', value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Authentication mechanism (cyrus -a); accepted and ignored: always mailroom's directory
    #[arg(short = 'a', value_name = "MECH")]
    mech: Option<String>,
    /// Credential cache (cyrus -c); accepted: [database] password_cache_ttl keeps it on by default
    #[arg(short = 'c')]
    cache: bool,
    /// Cache TTL in seconds (cyrus -t), overrides [database] password_cache_ttl
    #[arg(short = 't', value_name = "SECS")]
    cache_ttl: Option<u64>,
    /// Join login and realm (cyrus -r); the default
    #[arg(short = 'r')]
    join_realm: bool,
    /// Debug logging (cyrus -d)
    #[arg(short = 'd')]
    debug: bool,
    /// Worker processes (cyrus -n); accepted and ignored: one async process serves all
    #[arg(short = 'n', value_name = "N")]
    procs: Option<u32>,
}

fn main() -> ExitCode {
    daemon::manual::exit_if_asked::<Cli>(include_str!("main.rs"));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-saslauthd: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let (mut cfg, _) = cli.common.load()?;
    let sasl = &mut cfg.saslauthd;
    if let Some(dir) = &cli.run_dir {
        // A relative -m on the command line means from here, as with cyrus.
        let dir = std::path::absolute(dir).context("-m")?;
        sasl.run_dir =
            config::AbsPath::new(dir.display().to_string()).map_err(anyhow::Error::msg).context("-m")?;
    }
    // The verified-password cache is authlib's and on by default; -t sets its TTL.
    if let Some(ttl) = cli.cache_ttl {
        cfg.database.password_cache_ttl = ttl;
    }
    let sasl = &mut cfg.saslauthd;
    if cli.join_realm {
        sasl.join_realm = true;
    }
    if cli.debug {
        sasl.log_level = "debug".into();
    }
    // sqlx's pools need the runtime even to be created.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let _guard = rt.enter();
    let dir = Directory::open(&cfg.database).context("[database]")?;
    if cli.common.check {
        println!("mailroom-saslauthd: configuration ok");
        return Ok(());
    }
    daemon::logging::init(&cfg.saslauthd.log_level);
    if cli.mech.is_some() || cli.procs.is_some() {
        tracing::info!("-a and -n are accepted for cyrus compatibility and ignored");
    }
    rt.block_on(serve_all(cfg, dir))
}

/// The protocol a socket speaks.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    /// cyrus saslauthd's, on `mux`.
    Cyrus,
    /// Dovecot's auth protocol, on `auth`.
    Dovecot,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Cyrus => "cyrus saslauthd protocol",
            Protocol::Dovecot => "Dovecot auth protocol",
        })
    }
}

async fn serve_all(cfg: config::Config, dir: Directory) -> Result<()> {
    let sasl = cfg.saslauthd;
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let spec = |name: &str| UnixSocketSpec {
        path: Path::new(&sasl.run_dir).join(name),
        mode: sasl.socket_mode.0,
        owner: nonempty(&sasl.socket_owner),
        group: nonempty(&sasl.socket_group),
    };
    let mut sockets = Sockets::new("saslauthd");
    sockets.unix(Protocol::Cyrus, Some("mux"), &spec("mux"))?;
    if sasl.dovecot {
        sockets.unix(Protocol::Dovecot, Some("auth"), &spec("auth"))?;
    }
    sockets.metrics(&sasl.metrics_listen).await?;
    let mut service = sockets.start(&sasl.user, &sasl.group, None)?;
    saslauthd::metrics::register(service.registry());
    authlib::metrics::register(service.registry());

    let checker = Arc::new(Checker::new(dir, &sasl));
    let read_timeout = Duration::from_secs(sasl.read_timeout.get());
    let failure_delay = Duration::from_millis(sasl.failure_delay_ms);
    let (identity, stop) = (Arc::new(DovecotIdentity::default()), service.shutdown());
    service
        .serve(Duration::from_secs(sasl.shutdown_timeout), move |protocol, s, _| {
            let (checker, identity, stop) = (checker.clone(), identity.clone(), stop.clone());
            async move {
                match protocol {
                    Protocol::Cyrus => saslauthd::serve::cyrus(s, checker, read_timeout).await,
                    Protocol::Dovecot => {
                        saslauthd::serve::dovecot(s, checker, identity, failure_delay, stop).await
                    }
                }
            }
        })
        .await?;
    Ok(())
}
