//! NAME
//!     mailroom-mda - local delivery into Maildir++: LMTP server and command-line delivery
//!
//! SYNOPSIS
//!     mailroom-mda [--config FILE] [--check] [--foreground]
//!     mailroom-mda [--config FILE] deliver [-f SENDER] -a RECIPIENT [-m FOLDER] < message
//!
//! DESCRIPTION
//!     The delivery agent of the stack, in the place of dovecot-lmtp, dovecot-lda, procmail or
//!     maildrop. It writes Dovecot-compatible Maildir++ (file names with ,S= and ,W=, folders
//!     as .Folder.Sub with maildirfolder, maildirsize quota), so Dovecot and mailroom-mra read
//!     what it writes.
//!
//!     Without a command it serves LMTP (RFC 2033) on a Unix socket, and on TCP when
//!     configured: LHLO, PIPELINING, ENHANCEDSTATUSCODES, 8BITMIME, SIZE, CHUNKING. Each RCPT is
//!     looked up in the directory (alias domains and +detail understood, aliases are the MTA's
//!     business): 550 5.1.1 unknown, 451 4.3.0 when the database is down. After the body it
//!     answers once per recipient, each only after that copy is fsynced in new/ with
//!     Return-Path and Delivered-To prepended. Over quota: 552 5.2.2 (452 4.2.2 with
//!     quota_full_tempfail); disk full 452 4.3.1; other trouble 451 4.3.0. The same message
//!     for the same recipient within duplicate_window seconds is stored once: each delivery
//!     is recorded, fsynced, in the user's duplicate store (<home>/.mailroom.dupes) before
//!     the reply, so a client that retries after losing our reply, or an MTA killed before it
//!     recorded our 250, does not deliver twice, even across a restart of mailroom-mda.
//!
//!     With sieve (the default), the user's Sieve script decides where each copy goes, as
//!     Pigeonhole does: .dovecot.sieve in the home (the Maildir's parent when the Maildir is
//!     <home>/Maildir, else the Maildir), usually a symlink into <home>/sieve/, where its
//!     includes are too. fileinto stores into the folder (a missing one only with :create or
//!     mailbox_autocreate, else INBOX), keep and the implicit keep into INBOX, imap4flags set
//!     flags and keywords, discard stores nothing, editheader's changes are stored. A script
//!     that does not compile or fails keeps the message in INBOX and writes why to
//!     <home>/.dovecot.sieve.log. deliver -m skips the script. The admin's scripts run
//!     around the user's as Pigeonhole's do: sieve_before, then the user's (or sieve_default
//!     for a user without one), then sieve_after, each only while the implicit keep stands;
//!     include :global reads sieve_global.
//!
//!     What a script sends goes through the MTA, over [mta] submit_socket (or sendmail_path):
//!     redirect forwards the message from its envelope sender with a Delivered-To line (a
//!     message that already carries ours is kept instead: a loop); if the MTA cannot take it
//!     now, nothing is stored and the reply is temporary, and a redirect already sent is not
//!     sent again on the retry. vacation replies from the null sender, marked Auto-Submitted,
//!     once per sender and period, and never to lists, bulk or automatic mail (RFC 5230).
//!     reject and ereject answer 550 5.7.1 with the script's reason in LMTP; deliver sends
//!     the sender a notice (an MDN, RFC 5429) instead. The duplicate test remembers its ids
//!     in the same store.
//!
//!     deliver reads one message from standard input for RECIPIENT (Postfix mailbox_command or
//!     pipe), into FOLDER when -m is given, and exits with sysexits(3): 0 delivered,
//!     67 unknown user, 75 temporary failure, 73 cannot create, 77 permission denied or
//!     permanently over quota, 64 usage.
//!
//! SECURITY
//!     Runs as the mail owner (`user`, default vmail) after binding its sockets; it touches
//!     only Maildirs under [database] mail_root (paths from the database are checked: no
//!     `..`, nothing outside the root) and its spool directory. It reads the directory with an
//!     account that needs no access to password hashes.
//!
//! STANDARDS
//!     RFC 2033 (LMTP), RFC 5321, RFC 3463 (enhanced status codes), RFC 2920 (pipelining),
//!     RFC 3030 (CHUNKING), RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 5228 (Sieve) and its
//!     extensions (see the sieve crate).
//!
//! METRICS
//!     With metrics_listen set (or systemd's mailroom-mda-metrics.socket), GET /metrics answers
//!     in the OpenMetrics text format: mailroom_mda_deliveries_total{outcome} and
//!     mailroom_mda_maildir_write_seconds (tmp/, fsync, rename, directory fsync), plus
//!     connections{listener}, connections_accepted_total{listener},
//!     connections_refused_total and tls_handshakes_total{result} as every daemon does, and
//!     the directory's directory_queries_total{result}, directory_query_seconds and
//!     directory_cache_lookups_total{result}. Labels never hold a user or an address.
//!
//! CONFIGURATION
//!     [mda] in mailroom.toml, plus [database]. The keys of [mda] follow, each with its default
//!     (mailroom.toml(5) describes every section).
//!
//! FILES
//!     /etc/mailroom/mailroom.toml, /run/mailroom/mda/lmtp, /var/vmail/<domain>/<user>/Maildir
//!     <home>/.dovecot.sieve, <home>/sieve/, <home>/.dovecot.sieve.log
//!     systemd socket activation: sockets named "lmtp" (and "lmtp-tcp").
//!
//! SEE ALSO
//!     dovecot-lmtp(1), dovecot-lda(1), postconf(5) virtual_transport, mailroom-mta(8)

mod autoreply;
mod command;
mod dedup;
mod deliver;
mod filter;
mod lmtp;
mod metrics;
mod submit;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use authlib::Directory;
use clap::{Parser, Subcommand};
use daemon::listen::UnixSocketSpec;
use daemon::run::Sockets;

use crate::deliver::Context;

/// Local delivery into Maildir++: LMTP server, or one message from standard input.
#[derive(Parser)]
#[command(name = "mailroom-mda", version, about)]
struct Cli {
    #[command(flatten)]
    common: daemon::cli::CommonArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Deliver one message from standard input (exit status from sysexits)
    Deliver {
        /// Envelope sender (Return-Path)
        #[arg(short = 'f', value_name = "SENDER", default_value = "")]
        from: String,
        /// Recipient address
        #[arg(short = 'a', value_name = "RECIPIENT")]
        recipient: Option<String>,
        /// Folder to deliver into (created when missing)
        #[arg(short = 'm', value_name = "FOLDER")]
        folder: Option<String>,
    },
}

fn main() -> ExitCode {
    daemon::manual::exit_if_asked::<Cli>(include_str!("main.rs"));
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("mailroom-mda: {e:#}");
            ExitCode::from(command::exit::TEMPFAIL)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    let (cfg, _) = cli.common.load()?;
    // sqlx's pools need the runtime even to be created.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let _guard = rt.enter();
    let dir = Directory::open(&cfg.database).context("[database]")?;
    if cli.common.check {
        println!("mailroom-mda: configuration ok");
        return Ok(command::exit::OK);
    }
    daemon::logging::init(&cfg.mda.log_level);
    let spool_dir = match cfg.mda.spool_dir.as_str() {
        "" => std::env::temp_dir(),
        d => PathBuf::from(d),
    };
    let submit = submit::Submit::from_config(cfg.mda.sendmail_path.get(), (&cfg.mta.submit_socket).into());
    let hostname = daemon::host::name(&cfg.mda.hostname);
    let ctx = Arc::new(Context { dir, cfg: cfg.mda.clone(), spool_dir, submit, hostname });
    match cli.command {
        Some(Command::Deliver { from, recipient, folder }) => {
            let Some(rcpt) = recipient.or_else(|| std::env::var("RECIPIENT").ok()) else {
                eprintln!("mailroom-mda: deliver needs -a RECIPIENT (or $RECIPIENT)");
                return Ok(command::exit::USAGE);
            };
            // Started by root (a pipe transport without user=): write as the mail owner, as
            // dovecot-lda switches to mail_uid, so the daemon and readers can use the files.
            let group = (!cfg.mda.group.is_empty()).then_some(cfg.mda.group.as_str());
            if let Err(e) = daemon::privilege::drop_privileges(&cfg.mda.user, group) {
                eprintln!("mailroom-mda: cannot switch to {}: {e}", cfg.mda.user);
                return Ok(command::exit::TEMPFAIL);
            }
            Ok(rt.block_on(command::run(ctx, &from, &rcpt, folder.as_deref())))
        }
        None => rt.block_on(serve_lmtp(ctx)).map(|()| command::exit::OK),
    }
}

/// The one role of mailroom-mda's sockets.
#[derive(Debug, Clone, Copy)]
struct Lmtp;

impl std::fmt::Display for Lmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LMTP")
    }
}

async fn serve_lmtp(ctx: Arc<Context>) -> Result<()> {
    let cfg = ctx.cfg.clone();
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let mut sockets = Sockets::new("mda");
    let spec = UnixSocketSpec {
        path: PathBuf::from(&cfg.lmtp_socket),
        mode: cfg.lmtp_socket_mode.0,
        owner: nonempty(&cfg.lmtp_socket_owner),
        group: nonempty(&cfg.lmtp_socket_group),
    };
    sockets.unix(Lmtp, Some("lmtp"), &spec)?;
    if !cfg.lmtp_tcp.is_empty() {
        let addr = cfg.lmtp_tcp.parse().context("lmtp_tcp")?;
        sockets.tcp(Lmtp, "lmtp-tcp", &[addr]).await?;
    }
    sockets.metrics(&cfg.metrics_listen).await?;
    let mut service = sockets.start(&cfg.user, &cfg.group, None)?;
    metrics::register(service.registry());
    authlib::metrics::register(service.registry());

    let session_cfg = smtp::Config {
        max_message_size: cfg.max_message_size,
        max_recipients: cfg.max_recipients.get(),
        ..smtp::Config::lmtp(daemon::host::name(&cfg.hostname))
    };
    let limits =
        smtp::Limits { idle_timeout: Duration::from_secs(cfg.idle_timeout.get()), ..smtp::Limits::default() };
    service
        .serve(Duration::from_secs(cfg.shutdown_timeout), move |Lmtp, stream, peer| {
            let (ctx, session_cfg, limits) = (ctx.clone(), session_cfg.clone(), limits.clone());
            async move {
                let mut session = lmtp::Session::new(ctx);
                if let Err(e) = smtp::run(stream, session_cfg, &limits, None, &mut session).await {
                    tracing::debug!(peer = %peer, error = %e, "LMTP connection ended");
                }
            }
        })
        .await?;
    Ok(())
}
