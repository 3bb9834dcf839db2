//! NAME
//!     mailroom-mra - POP3, IMAP and ManageSieve server over Dovecot-compatible Maildir++
//!
//! SYNOPSIS
//!     mailroom-mra [--config FILE] [--check] [--foreground]
//!
//! DESCRIPTION
//!     The retrieval agent of the stack, in the place of Dovecot's pop3 and imap services.
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
//!     IMAP4rev1 (RFC 3501) and, after ENABLE IMAP4rev2, IMAP4rev2 (RFC 9051: no \Recent,
//!     ESEARCH answers, UTF-8 mailbox names) on imap_listen, with STARTTLS when [tls] is set,
//!     and on imaps_listen inside TLS. LOGIN and AUTHENTICATE PLAIN/LOGIN (with SASL-IR) under
//!     the same rules as POP3; before TLS, off loopback, the capability list says
//!     LOGINDISABLED. Folders are Maildir++ directories (".Lists.Rust" for "Lists/Rust",
//!     modified UTF-7 names, '/' as the hierarchy separator); Drafts, Sent, Trash, Junk and
//!     Archive are created and subscribed at login when missing and carry their SPECIAL-USE
//!     attributes. Sessions see deliveries and other sessions' changes at NOOP, CHECK, EXPUNGE,
//!     APPEND and during IDLE (looked for every 2 s). Extensions: IDLE, UIDPLUS, MOVE,
//!     NAMESPACE, ID, ENABLE, LITERAL+, SASL-IR, SPECIAL-USE, UNSELECT, CHILDREN,
//!     LIST-EXTENDED, LIST-STATUS, ESEARCH, SEARCHRES, BINARY, STATUS=SIZE, CONDSTORE,
//!     QRESYNC, QUOTA (QUOTA=RES-STORAGE, QUOTA=RES-MESSAGE), SORT (SORT=DISPLAY, ESORT's
//!     MIN, MAX, COUNT and ALL), THREAD=ORDEREDSUBJECT and THREAD=REFERENCES, COMPRESS=DEFLATE
//!     after login, METADATA and METADATA-SERVER (entries kept in mailroom-metadata beside each
//!     mailbox and, for the server, in the Maildir root; values up to 16 KiB, 100 entries;
//!     the server's /shared entries are read-only to users). SORT and THREAD
//!     read the header fields kept in mailroom.cache, not the messages; strings compare
//!     case-folded and decomposed (i;unicode-casemap). CONDSTORE and QRESYNC: every
//!     change to a message (flags set by any program, arrival, expunge) gets a mod-sequence,
//!     kept in the mailbox's mailroom.modseq; values are microseconds since the epoch, so a
//!     lost file is rebuilt with everything changed at a larger value. Expunges are remembered
//!     (the newest 1000) for VANISHED (EARLIER); older ones are answered conservatively. A
//!     mailbox where the file cannot be kept answers NOMODSEQ. QUOTA: every mailbox of a user
//!     is under one root, "User quota" as in Dovecot, limited by the directory's mailbox.quota
//!     (bytes; 0: no quota, no root, no maildirsize); usage comes from maildirsize, which
//!     APPEND, COPY, MOVE, EXPUNGE and DELETE keep up to date with delta lines as Dovecot's
//!     quota plugin does, and APPEND or COPY that would exceed the limit get NO [OVERQUOTA];
//!     SETQUOTA is refused.
//!     RENAME INBOX moves INBOX's messages into the new folder. Command lines are at most 64
//!     KiB, APPEND literals 64 MiB, literals of other commands 64 KiB.
//!
//!     ManageSieve (RFC 5804) on managesieve_listen (port 4190), with STARTTLS when [tls] is
//!     set, in the place of Pigeonhole's managesieve: users upload, check and activate their
//!     Sieve scripts from Thunderbird, Roundcube or sieve-connect. AUTHENTICATE PLAIN and
//!     LOGIN under the same rules as IMAP (saslauthd service name "sieve"). The scripts are
//!     the files Pigeonhole keeps and mailroom-mda runs: <home>/sieve/NAME.sieve and the
//!     active one as the symlink <home>/.dovecot.sieve, where home is the Maildir's parent
//!     when the Maildir is <home>/Maildir, else the Maildir; so Dovecot's managesieve and
//!     mailroomctl sieve see the same scripts. PUTSCRIPT and CHECKSCRIPT compile the script
//!     with the same checker as delivery and answer NO with LINE:COLUMN of the first error;
//!     SETACTIVE does too. Limits per user: managesieve_max_scripts scripts (NO
//!     (QUOTA/MAXSCRIPTS)) of at most managesieve_max_script_size bytes (NO (QUOTA/MAXSIZE),
//!     refused from the literal's announced size, before its bytes are read). CAPABILITY:
//!     IMPLEMENTATION, SIEVE (the extensions of the sieve crate), SASL, STARTTLS,
//!     MAXREDIRECTS, OWNER, VERSION "1.0"; no NOTIFY (no enotify). Also CHECKSCRIPT,
//!     HAVESPACE, RENAMESCRIPT, NOOP with a tag, UNAUTHENTICATE.
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
//!     TLS on 993 and 995), RFC 3501 (IMAP4rev1), RFC 2177 (IDLE), RFC 4315 (UIDPLUS),
//!     RFC 6851 (MOVE), RFC 2342 (NAMESPACE), RFC 2971 (ID), RFC 5161 (ENABLE), RFC 7888
//!     (LITERAL+), RFC 4959 (SASL-IR), RFC 6154 (SPECIAL-USE), RFC 3691 (UNSELECT), RFC 3348
//!     (CHILDREN), RFC 5530 (response codes), RFC 9051 (IMAP4rev2), RFC 5258 (LIST-EXTENDED),
//!     RFC 5819 (LIST-STATUS), RFC 4731 (ESEARCH), RFC 5182 (SEARCHRES), RFC 3516 (BINARY),
//!     RFC 8438 (STATUS=SIZE), RFC 9208 (QUOTA), RFC 6855 §3 (UTF-8 quoted strings), RFC 7162
//!     (CONDSTORE, QRESYNC), RFC 5256 (SORT, THREAD), RFC 5957 (SORT=DISPLAY), RFC 5267
//!     (ESORT), RFC 4978 (COMPRESS), RFC 5464 (METADATA), RFC 5804 (ManageSieve).
//!
//! METRICS
//!     With metrics_listen set (or systemd's mailroom-mra-metrics.socket), GET /metrics answers
//!     in the OpenMetrics text format, every name prefixed mailroom_mra_:
//!     logins_total{protocol=imap|pop3|managesieve, result=ok|failed|tempfail},
//!     command_seconds{protocol, command} (each command's time to its answer; unknown names
//!     count as other), connections{listener}, connections_accepted_total{listener},
//!     connections_refused_total and tls_handshakes_total{result} as every daemon does, and
//!     the directory's directory_queries_total{result}, directory_query_seconds and
//!     directory_cache_lookups_total{result}. Labels never hold a user or an address.
//!
//! CONFIGURATION
//!     [mra] in mailroom.toml, plus [database] and [tls]. The keys of [mra] follow, each with
//!     its default (mailroom.toml(5) describes every section).
//!
//! FILES
//!     /etc/mailroom/mailroom.toml; in each Maildir: dovecot-uidlist (+ .lock),
//!     dovecot-keywords, maildirsize (quota, only for a mailbox with a quota),
//!     mailroom.cache (sizes and headers, rebuildable), mailroom.modseq (+ .lock;
//!     mod-sequences, rebuildable; Dovecot's dovecot.index* are never touched), mailroom-pop3.lock
//!     (flock of the POP3 session), subscriptions (IMAP, Dovecot's v2 format). systemd socket
//!     activation: sockets named "pop3", "pop3s", "imap", "imaps", "managesieve". In each
//!     home: sieve/NAME.sieve, sieve/tmp/ (uploads before their rename), .dovecot.sieve.
//!
//! SEE ALSO
//!     dovecot(1), sieve-connect(1), mailroom-saslauthd(8), mailroom-mda(8), fetchmail(1), mbsync(1)

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use authlib::{Authenticator, Directory};
use clap::Parser;
use daemon::run::Sockets;
use daemon::tls::TlsConfig;
use mra::server::{self, Context};

/// POP3, IMAP and ManageSieve server over Dovecot-compatible Maildir++.
#[derive(Parser)]
#[command(name = "mailroom-mra", version, about)]
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
    let authenticator = Authenticator::new(cfg.mra.auth, &cfg.mra.saslauthd_socket, directory.clone());
    rt.block_on(serve_all(cfg.mra, authenticator, directory, tls))
}

/// Binds (or takes from systemd) every listener, drops privileges, serves until SIGTERM.
async fn serve_all(
    cfg: config::Mra,
    authenticator: Authenticator,
    directory: Arc<Directory>,
    tls: Option<TlsConfig>,
) -> Result<()> {
    let mut sockets = Sockets::new("mra");
    for (name, addrs, role) in [
        ("pop3", &cfg.pop3_listen, Role::Pop3),
        ("pop3s", &cfg.pop3s_listen, Role::Pop3s),
        ("imap", &cfg.imap_listen, Role::Imap),
        ("imaps", &cfg.imaps_listen, Role::Imaps),
        ("managesieve", &cfg.managesieve_listen, Role::ManageSieve),
    ] {
        // Implicit TLS ports open only with a certificate.
        if role.implicit_tls() && tls.is_none() {
            continue;
        }
        sockets.tcp(role, name, addrs).await?;
    }
    anyhow::ensure!(
        !sockets.is_empty(),
        "nothing to listen on: pop3_listen, imap_listen and managesieve_listen are empty"
    );
    sockets.metrics(&cfg.metrics_listen).await?;
    let mut service = sockets.start(&cfg.user, &cfg.group, tls.clone())?;
    mra::metrics::register(service.registry());
    authlib::metrics::register(service.registry());
    let timeout = Duration::from_secs(cfg.shutdown_timeout);
    let ctx = Arc::new(Context::new(cfg, authenticator, directory, tls, service.shutdown()));
    service
        .serve(timeout, move |role, stream, peer| {
            let ctx = ctx.clone();
            async move {
                match role {
                    Role::Pop3 | Role::Pop3s => {
                        server::pop3::serve(ctx, stream, peer, role.implicit_tls()).await
                    }
                    Role::Imap | Role::Imaps => {
                        server::imap::serve(ctx, stream, peer, role.implicit_tls()).await
                    }
                    Role::ManageSieve => server::managesieve::serve(ctx, stream, peer).await,
                }
            }
        })
        .await?;
    Ok(())
}

/// What a listener serves.
#[derive(Debug, Clone, Copy)]
enum Role {
    Pop3,
    Pop3s,
    Imap,
    Imaps,
    ManageSieve,
}

impl Role {
    fn implicit_tls(self) -> bool {
        matches!(self, Role::Pop3s | Role::Imaps)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Pop3 => "POP3",
            Role::Pop3s => "POP3 over TLS",
            Role::Imap => "IMAP",
            Role::Imaps => "IMAP over TLS",
            Role::ManageSieve => "ManageSieve",
        })
    }
}
