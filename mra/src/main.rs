//! NAME
//!     mailroom-mra - POP3 server over Dovecot-compatible Maildir++ (IMAP to come)
//!
//! SYNOPSIS
//!     mailroom-mra [--config FILE] [--check] [--foreground]
//!
//! DESCRIPTION
//!     The retrieval agent of the stack, in the place of Dovecot's pop3 (and imap) services.
//!     It serves the Maildirs mailroom-mda and Dovecot write, with Dovecot's UIDs from
//!     dovecot-uidlist, so a user moved from Dovecot keeps every UID and POP3 UIDL and their
//!     client downloads nothing again.
//!
//!     POP3 (RFC 1939) on pop3_listen, with STLS when [tls] is set, and on pop3s_listen inside
//!     TLS from the first byte. Logins by USER/PASS or AUTH PLAIN/LOGIN, accepted only inside
//!     TLS, or from loopback with plaintext_auth_on_loopback. Passwords are checked by
//!     mailroom-saslauthd (auth = "saslauthd") or against the database (auth = "direct");
//!     the user's Maildir comes from the directory. A wrong password is answered
//!     "-ERR [AUTH]" after auth_failure_delay seconds, a database or saslauthd outage
//!     "-ERR [SYS/TEMP]", a second POP3 session of the same user "-ERR [IN-USE]".
//!
//!     The maildrop is INBOX as it is at login; mail delivered during the session is there
//!     at the next one. UIDLs follow pop3_uidl_format (Dovecot's default %08Xu%08Xv) unless
//!     dovecot-uidlist keeps one for the message. At QUIT, deleted messages are removed and
//!     retrieved ones marked \Seen (moved to cur/), as Dovecot does.
//!
//! SECURITY
//!     Runs as the mail owner (user, default vmail) after binding its ports; touches only
//!     Maildirs under [database] mail_root, named by the directory (checked: no `..`, nothing
//!     outside the root). Reads the directory with an account that needs no password hashes
//!     when auth = "saslauthd". Every input is bounded: line length (8 KiB), bad commands,
//!     failed logins, idle time, connections.
//!
//! STANDARDS
//!     RFC 1939 (POP3), RFC 2449 (CAPA, response codes), RFC 2595 (STLS), RFC 5034 (POP3
//!     AUTH), RFC 4616 (PLAIN), RFC 3206 (SYS and AUTH response codes), RFC 8314 (implicit
//!     TLS on 995).
//!
//! CONFIGURATION
//!     [mra] in mailroom.toml, plus [database] and [tls]:
//!     pop3_listen = ["[::]:110"]              POP3 addresses (STLS when [tls] is set)
//!     pop3s_listen = ["[::]:995"]             POP3 inside TLS; opened only with [tls]
//!     auth = "saslauthd"                      or "direct": check passwords with authlib
//!     saslauthd_socket = "/run/mailroom/saslauthd/mux"
//!     plaintext_auth_on_loopback = true       passwords without TLS from 127/8 and ::1
//!     plaintext_auth_anywhere = false         passwords without TLS from anywhere (avoid)
//!     pop3_uidl_format = "%08Xu%08Xv"         Dovecot's pop3_uidl_format: %u %v %f %g
//!     user = "vmail", group = ""              account to run as after binding
//!     idle_timeout = 600                      seconds a client may stay silent
//!     auth_failure_delay = 2                  seconds before "-ERR [AUTH]"
//!     max_auth_failures = 3                   failed logins before the connection closes
//!     max_bad_commands = 20                   bad commands before the connection closes
//!     max_connections = 10000                 connections at once
//!     shutdown_timeout = 30                   seconds a RETR or QUIT in progress may take at
//!                                             SIGTERM (sessions between commands end at once)
//!     log_level = "info"                      tracing filter
//!
//! FILES
//!     /etc/mailroom/mailroom.toml; in each Maildir: dovecot-uidlist (+ .lock),
//!     dovecot-keywords, mailroom.cache (sizes and headers, rebuildable), mailroom-pop3.lock
//!     (flock of the POP3 session). systemd socket activation: sockets named "pop3", "pop3s".
//!
//! SEE ALSO
//!     dovecot(1), mailroom-saslauthd(8), mailroom-mda(8), fetchmail(1)

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use authlib::{Authenticator, Directory};
use clap::Parser;
use daemon::listen::Listener;
use daemon::shutdown::{Shutdown, serve};
use daemon::tls::TlsConfig;
use mra::server::{self, Context};

/// POP3 server over Dovecot-compatible Maildir++.
#[derive(Parser)]
#[command(name = "mailroom-mra", version, about)]
struct Cli {
    #[command(flatten)]
    common: daemon::cli::CommonArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-mra: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let (cfg, _) = cli.common.load()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let _guard = rt.enter();
    let directory = Arc::new(Directory::open(&cfg.database).context("[database]")?);
    let tls = match cfg.tls.enabled() {
        true => Some(TlsConfig::load(cfg.tls.cert.as_ref(), cfg.tls.key.as_ref()).context("[tls]")?),
        false => None,
    };
    if cli.common.check {
        println!("mailroom-mra: configuration ok");
        return Ok(());
    }
    daemon::logging::init(&cfg.mra.log_level);
    let authenticator = match cfg.mra.auth {
        config::AuthMethod::Saslauthd => Authenticator::Saslauthd(cfg.mra.saslauthd_socket.clone().into()),
        config::AuthMethod::Direct => Authenticator::Direct(directory.clone()),
    };
    let ctx = Arc::new(Context::new(cfg.mra.clone(), authenticator, directory, tls, Shutdown::new()));
    rt.block_on(serve_all(ctx))
}

/// Binds (or takes from systemd) every listener, drops privileges, serves until SIGTERM.
async fn serve_all(ctx: Arc<Context>) -> Result<()> {
    let cfg = ctx.cfg.clone();
    let mut listeners =
        bind("pop3", &cfg.pop3_listen).await?.into_iter().map(|l| (l, false)).collect::<Vec<_>>();
    if ctx.tls.is_some() {
        listeners.extend(bind("pop3s", &cfg.pop3s_listen).await?.into_iter().map(|l| (l, true)));
    }
    anyhow::ensure!(!listeners.is_empty(), "nothing to listen on: pop3_listen is empty");
    daemon::privilege::drop_privileges(&cfg.user, (!cfg.group.is_empty()).then_some(cfg.group.as_str()))
        .context("dropping privileges")?;

    let shutdown = ctx.shutdown.clone();
    let mut reloads = shutdown.install_signal_handlers();
    if let Some(tls) = ctx.tls.clone() {
        tokio::spawn(async move {
            while reloads.changed().await.is_ok() {
                match tls.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => tracing::error!("TLS reload failed, keeping the old certificate: {e}"),
                }
            }
        });
    }
    let mut tasks = Vec::new();
    for (l, implicit_tls) in listeners {
        tracing::info!(socket = %l.local_description(), tls = implicit_tls, "POP3");
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(serve(l, shutdown.clone(), move |stream, peer| {
            server::pop3::serve(ctx.clone(), stream, peer, implicit_tls)
        })));
    }
    shutdown.run_until_stopped(tasks, Duration::from_secs(cfg.shutdown_timeout)).await;
    Ok(())
}

/// The sockets systemd passed under `name`, else the configured addresses bound now.
async fn bind(name: &str, addrs: &[String]) -> Result<Vec<Listener>> {
    let mut out = Vec::new();
    while let Some(l) = Listener::from_systemd(name)? {
        out.push(l);
    }
    if out.is_empty() {
        for a in addrs {
            out.push(Listener::bind_tcp(a).await.with_context(|| format!("binding {name} {a}"))?);
        }
    }
    Ok(out)
}
