//! `[mda]`: mailroom-mda, local delivery into Maildir++.

use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};

use crate::path::abs;
use crate::value::{nz64, nzusize};
use crate::{AbsPath, FileMode, OptionalPath};

crate::section! {
    /// mailroom-mda, local delivery into Maildir++.
    pub struct Mda {
        /// LMTP Unix socket (Postfix: `virtual_transport = lmtp:unix:<path>`).
        pub lmtp_socket: AbsPath = abs("/run/mailroom/mda/lmtp"),
        /// Its mode.
        pub lmtp_socket_mode: FileMode = FileMode(0o660),
        /// Its owner (user name); empty keeps the daemon's.
        pub lmtp_socket_owner: String = String::new(),
        /// Its group; empty keeps the daemon's.
        pub lmtp_socket_group: String = String::new(),
        /// Also listen for LMTP on this TCP address (e.g. `127.0.0.1:24`); empty: no TCP.
        pub lmtp_tcp: String = String::new(),
        /// User to run as after binding: the owner of the mail root.
        pub user: String = "vmail".into(),
        /// Group to run as; empty means the user's primary group.
        pub group: String = String::new(),
        /// Name in the greeting and Received lines; empty: the system host name.
        pub hostname: String = String::new(),
        /// Largest message in bytes; 0 = no limit.
        pub max_message_size: u64 = 50 * 1024 * 1024,
        /// Most recipients per LMTP transaction.
        pub max_recipients: NonZeroUsize = nzusize(1000),
        /// Over quota answers 452 4.2.2 (retry) instead of 552 5.2.2 (Dovecot's quota_full_tempfail).
        pub quota_full_tempfail: bool = false,
        /// `bob+lists@` goes into folder `lists` when it exists (Dovecot's lmtp_save_to_detail_mailbox).
        pub save_to_detail_mailbox: bool = false,
        /// Run the user's Sieve script, `.dovecot.sieve` in the mailbox's home (its Maildir, as
        /// in postfixadmin's Dovecot setup), like Pigeonhole; errors go to `.dovecot.sieve.log`.
        pub sieve: bool = true,
        /// Scripts run before the user's, in order (Pigeonhole's sieve_before, sieve_before2,
        /// ...): each a file, or a directory whose `*.sieve` files run in name order. The next
        /// script runs only while the implicit keep stands, as in Pigeonhole.
        pub sieve_before: Vec<AbsPath> = Vec::new(),
        /// Scripts run after the user's (Pigeonhole's sieve_after), the same way.
        pub sieve_after: Vec<AbsPath> = Vec::new(),
        /// The script for users without an active one (Pigeonhole's sieve_default).
        pub sieve_default: OptionalPath = OptionalPath::default(),
        /// Where `include :global` finds scripts (Pigeonhole's sieve_global).
        pub sieve_global: OptionalPath = OptionalPath::default(),
        /// `fileinto` creates a missing folder even without `:create` (Dovecot's
        /// lda_mailbox_autocreate).
        pub mailbox_autocreate: bool = false,
        /// Seconds within which the same message for the same recipient is stored only once,
        /// remembered in the user's duplicate store (`.mailroom.dupes` in the home) across
        /// restarts: a client that lost our reply, or an MTA killed before it recorded it,
        /// delivers again. 0 turns it off.
        pub duplicate_window: u64 = 3600,
        /// A sendmail program for Sieve's redirect, vacation replies and reject notices
        /// (Pigeonhole's sendmail_path), for sites whose MTA is not mailroom-mta; empty: SMTP
        /// over [mta] submit_socket.
        pub sendmail_path: OptionalPath = OptionalPath::default(),
        /// Directory for message spools while a transaction is received; empty: the system temp dir.
        pub spool_dir: OptionalPath = OptionalPath::default(),
        /// Seconds an LMTP client may stay idle.
        pub idle_timeout: NonZeroU64 = nz64(300),
        /// Seconds in-flight deliveries may take to finish at shutdown.
        pub shutdown_timeout: u64 = 30,
        /// Where Prometheus scrapes `GET /metrics` (OpenMetrics text), e.g. `["127.0.0.1:9983"]`;
        /// empty: no endpoint. Under systemd the socket unit mailroom-mda-metrics.socket gives it.
        pub metrics_listen: Vec<SocketAddr> = Vec::new(),
        /// tracing filter.
        pub log_level: String = "info".into(),
    }
}
