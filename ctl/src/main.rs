//! NAME
//!     mailroomctl - the mailroom administrator's tool
//!
//! SYNOPSIS
//!     mailroomctl [--config FILE] COMMAND [ARGS]
//!
//! DESCRIPTION
//!     One tool for what postfixadmin-cli, doveadm pw/auth and postconf -n do in the classic
//!     stack: create the schema, manage virtual domains, mailboxes and aliases, hash and verify
//!     passwords, test a login, show how an address resolves, and check the configuration.
//!
//!     db migrate                  create postfixadmin's tables where missing (never alters them)
//!     domain add|del|list         virtual domains
//!     user add|passwd|del|list|show  mailboxes (passwords hashed as ARGON2ID)
//!     alias add|del|list          aliases and catch-alls (@domain)
//!     pw hash|verify              like doveadm pw; verify exits 0 on match, 1 on mismatch
//!     auth test ADDRESS           exit 0 accepted, 1 rejected, 2 temporary failure
//!     auth lookup ADDRESS         mailbox, maildir, quota and where mail to it goes
//!     check                       validate the configuration and print the effective one
//!     queue list|show|flush       the mail queue (mailq, postcat -q, postqueue -f); show names
//!                                 the TLS policy (DANE, MTA-STS, tls_policy, REQUIRETLS) that
//!                                 holds a deferred recipient back
//!     queue hold|release|requeue|delete ID...|ALL   (postsuper -h, -H, -r, -d)
//!     tls report [--send]         mailroom-mta's TLS reporting (RFC 8460): the sessions of the
//!                                 period in progress (today) per recipient domain and policy
//!                                 (tlsa, sts, no-policy-found), successful and failed by
//!                                 result type, and closed periods not sent yet; --send has
//!                                 mailroom-mta close the period now and send its reports
//!     dkim keygen DOMAIN [--selector S] [--bits N] [--out FILE]   DKIM key and its TXT record
//!     report [FILE...|--journal] [--since T] [--until T] [--json]   pflogsumm-like summary of
//!                                 the daemons' logs: received, delivered, deferred, bounced,
//!                                 rejected, top senders and recipients, reject reasons,
//!                                 failed logins by client, traffic per hour
//!     sieve check FILE            compile a Sieve script; errors as FILE:LINE:COLUMN, exit 1
//!     sieve test FILE MESSAGE [--from A] [--to A] [--mailbox NAME]...
//!                                 the actions the script takes for MESSAGE, like sieve-test
//!     sieve list|get|put|activate|deactivate|delete USER [NAME] [FILE]
//!                                 a user's scripts, where Pigeonhole and ManageSieve keep
//!                                 them (~/sieve/NAME.sieve, active: ~/.dovecot.sieve); put
//!                                 checks the script first (FILE or stdin; --activate)
//!     sendmail [-t] [-f SENDER] [-F NAME] [-i] [RECIPIENT...]   submit from stdin
//!     service list|enable|disable|start|stop|restart|status [DAEMON|all]
//!                                 chkconfig/service on systemctl; DAEMON is saslauthd, mta,
//!                                 mda or mra (or mailroom-mta, ...), all (the default) adds
//!                                 mailroom.target. enable/disable/start/stop act on the
//!                                 service and its socket, restart on the service; list shows
//!                                 each one's enabled and active state and listen addresses.
//!                                 Without systemd it says so and exits 1.
//!     up [--dir DIR]              the whole stack in the foreground, for a try-out (below)
//!     migrate config [--postfix DIR] [--dovecot DIR] [--saslauthd FILE] [--output FILE]
//!                    [--report FILE] [--json]
//!                                 read the classic stack's configuration (main.cf, master.cf,
//!                                 mysql: maps, hash tables by their source, dovecot.conf with
//!                                 its includes or doveconf -n output, dovecot-sql.conf.ext,
//!                                 /etc/default/saslauthd, sasl/smtpd.conf) and write
//!                                 mailroom.toml, each key under a comment naming its classic
//!                                 source (file:line); the report (standard error) lists every
//!                                 classic setting as mapped, approximated (how) or unsupported
//!                                 (what is lost), and input it could not read
//!     migrate report [...same flags] [--json]   the report alone, on standard output
//!     migrate check [--json]      read-only over the live data with --config: every mailbox and
//!                                 alias resolves, password schemes counted (unverifiable ones
//!                                 are errors), every Maildir and folder has cur/new/tmp, is
//!                                 readable by [mra] user and has a dovecot-uidlist we read
//!                                 (version, UIDVALIDITY), active Sieve scripts compile; exit 0
//!                                 when the swap is safe, 1 when not
//!     migrate plan [...classic flags]   the swap for --config, daemon by daemon (saslauthd, MDA,
//!                                 MRA, MTA): the classic lines to change (file:line), how to
//!                                 verify, how to roll back
//!     admin add|passwd|del|list   mailroom-web's (and postfixadmin's) administrators:
//!                                 add LOGIN --superadmin, or --domain D (repeatable)
//!
//!     up creates on its first run, under DIR (default ./mailroom-data): mailroom.toml, a
//!     SQLite database with the domain example.test and the users alice@ and bob@ (random
//!     passwords, printed, kept in DIR/demo-users.txt, with the web superadmin
//!     admin@example.test), a self-signed certificate, the spool, sockets and Maildirs; later
//!     runs reuse them. It starts mailroom-saslauthd, mailroom-mda, mailroom-mta, mailroom-mra
//!     and mailroom-web (next to mailroomctl, else from PATH) in that order, each
//!     once the previous one's sockets answer, on 127.0.0.1: SMTP 2525, submission 2587,
//!     submissions 2465, IMAP 2143, IMAPS 2993, POP3 2110, POP3S 2995, ManageSieve 2419, the web
//!     pages on https://127.0.0.1:2443/, and each daemon's Prometheus metrics (saslauthd 2981,
//!     mta 2982, mda 2983, mra 2984, web 2985). Their log lines are printed behind their names;
//!     then how to send mail with swaks and read it over IMAP, and "mailroom is up". The daemons
//!     stay the invoking user. Ctrl-C or SIGTERM stops
//!     them (SIGTERM each, in reverse order) and exits 0; a daemon that dies by itself stops
//!     the others and exits 1. mailroomctl --config DIR/mailroom.toml ... manages the running
//!     stack's users.
//!
//!     Installed (linked) as sendmail, mailq or newaliases it behaves as those: sendmail(1)
//!     with its common flags for cron, mail(1) and scripts, exiting with sysexits(3) (75 when
//!     mailroom-mta cannot take the message); mailq lists the queue.
//!
//!     Passwords are read from standard input when it is not a terminal (one line), and from a
//!     prompt that does not echo when it is.
//!
//! SECURITY
//!     Runs as the invoking user. It needs the database URL's rights: reading for auth and
//!     lookups, writing for the add/del/passwd commands. It never prints password hashes.
//!
//! CONFIGURATION
//!     [database] of mailroom.toml (see mailroom.toml(5)); MAILROOM_DATABASE_URL overrides its
//!     url. With neither a config file nor that variable, the database is SQLite at
//!     /var/lib/mailroom/mailroom.db for root and $XDG_DATA_HOME/mailroom/mailroom.db
//!     (~/.local/share/mailroom/mailroom.db) for other users.
//!
//! FILES
//!     /etc/mailroom/mailroom.toml    configuration (--config, MAILROOM_CONFIG)
//!     [mta] spool_dir, submit_socket, control_socket: the queue and mailroom-mta's sockets
//!     ./mailroom-data/               up's directory: mailroom.toml, mailroom.db, demo-users.txt,
//!                                    tls/, spool/, run/, vmail/
//!     /run/systemd/system            exists when systemd runs (service checks it)
//!
//! EXIT STATUS
//!     0 success; 1 failure, mismatch or rejection; 2 temporary failure or unusable input
//!     where the command distinguishes it (pw verify, auth test, auth lookup).
//!
//! SEE ALSO
//!     mailroom-saslauthd(8), mailroom-mta(8), mailroom-mda(8), mailroom-mra(8), systemctl(1),
//!     chkconfig(8), postfixadmin, doveadm-pw(1)

mod cmd;
mod context;
mod secret_input;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The mailroom administrator's tool.
#[derive(Parser)]
#[command(name = "mailroomctl", version, about, long_about = None)]
struct Cli {
    /// Configuration file [default: $MAILROOM_CONFIG or /etc/mailroom/mailroom.toml]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Database schema
    #[command(subcommand)]
    Db(cmd::db::Db),
    /// Virtual domains
    #[command(subcommand)]
    Domain(cmd::domain::DomainCmd),
    /// Mailboxes
    #[command(subcommand)]
    User(cmd::user::UserCmd),
    /// Aliases and catch-alls
    #[command(subcommand)]
    Alias(cmd::alias::AliasCmd),
    /// Password hashes, like doveadm pw
    #[command(subcommand)]
    Pw(cmd::pw::PwCmd),
    /// Test logins and lookups against the directory
    #[command(subcommand)]
    Auth(cmd::auth::AuthCmd),
    /// Validate the configuration and print the effective one
    Check,
    /// The mail queue: list, show, flush, hold, release, requeue, delete
    #[command(subcommand)]
    Queue(cmd::queue::QueueCmd),
    /// DKIM signing keys
    #[command(subcommand)]
    Dkim(cmd::dkim::DkimCmd),
    /// TLS reporting (RFC 8460): today's counts; send the reports now
    #[command(subcommand)]
    Tls(cmd::tls::TlsCmd),
    /// Summarise the daemons' logs, like pflogsumm
    Report(cmd::report::ReportArgs),
    /// Sieve scripts: check and test, and users' scripts (list, get, put, activate, ...)
    #[command(subcommand)]
    Sieve(cmd::sieve::SieveCmd),
    /// Submit a message from standard input, like sendmail(1) (-t -f -F -i -oi -N -R -V)
    Sendmail {
        /// sendmail options and recipients
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Daemons under systemd, the chkconfig/service way
    #[command(subcommand)]
    Service(cmd::service::ServiceCmd),
    /// The whole stack in the foreground, for a try-out
    Up(cmd::up::UpArgs),
    /// From the classic stack: write mailroom.toml, report, check the live data, plan the swap
    #[command(subcommand)]
    Migrate(cmd::migrate::MigrateCmd),
    /// Administrators of the web pages (postfixadmin's admin table)
    #[command(subcommand)]
    Admin(cmd::admin::AdminCmd),
}

fn main() -> ExitCode {
    daemon::manual::exit_if_asked::<Cli>(include_str!("main.rs"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MAILROOM_LOG").unwrap_or_else(|_| "error".into()),
        )
        .init();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    // Installed as sendmail, mailq or newaliases, behave like them (Postfix's sendmail does).
    let argv0 = std::env::args().next().unwrap_or_default();
    let program = std::path::Path::new(&argv0).file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let cli = match program.as_str() {
        "sendmail" => {
            let args: Vec<String> = std::env::args().skip(1).collect();
            return finish(rt.block_on(cmd::sendmail::run(None, &args)));
        }
        "mailq" => return finish(rt.block_on(cmd::queue::QueueCmd::List.run(None))),
        "newaliases" => {
            eprintln!("newaliases: mailroom's aliases live in the database; nothing to rebuild");
            return ExitCode::SUCCESS;
        }
        _ => Cli::parse(),
    };
    let config = cli.config.as_deref();
    let result = rt.block_on(async {
        match cli.command {
            Command::Db(c) => c.run(config).await,
            Command::Domain(c) => c.run(config).await,
            Command::User(c) => c.run(config).await,
            Command::Alias(c) => c.run(config).await,
            Command::Pw(c) => c.run(config).await,
            Command::Auth(c) => c.run(config).await,
            Command::Check => cmd::check::run(config),
            Command::Queue(c) => c.run(config).await,
            Command::Dkim(c) => c.run(config),
            Command::Tls(c) => c.run(config).await,
            Command::Report(c) => c.run(),
            Command::Sieve(c) => c.run(config).await,
            Command::Sendmail { args } => cmd::sendmail::run(config, &args).await,
            Command::Service(c) => c.run(),
            Command::Up(c) => c.run(config).await,
            Command::Migrate(c) => c.run(config).await,
            Command::Admin(c) => c.run(config).await,
        }
    });
    finish(result)
}

fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailroomctl: {e:#}");
            ExitCode::from(1)
        }
    }
}
