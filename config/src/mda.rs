//! `[mda]`: mailroom-mda, local delivery into Maildir++.

use serde::{Deserialize, Serialize};

use crate::FileMode;

/// `[mda]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Mda {
    /// LMTP Unix socket (Postfix: `virtual_transport = lmtp:unix:<path>`).
    pub lmtp_socket: String,
    /// Its mode.
    pub lmtp_socket_mode: FileMode,
    /// Its owner (user name); empty keeps the daemon's.
    pub lmtp_socket_owner: String,
    /// Its group; empty keeps the daemon's.
    pub lmtp_socket_group: String,
    /// Also listen for LMTP on this TCP address (e.g. `127.0.0.1:24`); empty: no TCP.
    pub lmtp_tcp: String,
    /// User to run as after binding: the owner of the mail root.
    pub user: String,
    /// Group to run as; empty means the user's primary group.
    pub group: String,
    /// Name in the greeting and Received lines; empty: the system host name.
    pub hostname: String,
    /// Largest message in bytes; 0 = no limit.
    pub max_message_size: u64,
    /// Most recipients per LMTP transaction.
    pub max_recipients: usize,
    /// Over quota answers 452 4.2.2 (retry) instead of 552 5.2.2 (Dovecot's quota_full_tempfail).
    pub quota_full_tempfail: bool,
    /// `bob+lists@` goes into folder `lists` when it exists (Dovecot's lmtp_save_to_detail_mailbox).
    pub save_to_detail_mailbox: bool,
    /// Seconds within which the same message for the same recipient is stored only once.
    pub duplicate_window: u64,
    /// Directory for message spools while a transaction is received; empty: the system temp dir.
    pub spool_dir: String,
    /// Seconds an LMTP client may stay idle.
    pub idle_timeout: u64,
    /// Seconds in-flight deliveries may take to finish at shutdown.
    pub shutdown_timeout: u64,
    /// tracing filter.
    pub log_level: String,
}

impl Default for Mda {
    fn default() -> Self {
        Mda {
            lmtp_socket: "/run/mailroom/mda/lmtp".into(),
            lmtp_socket_mode: FileMode(0o660),
            lmtp_socket_owner: String::new(),
            lmtp_socket_group: String::new(),
            lmtp_tcp: String::new(),
            user: "vmail".into(),
            group: String::new(),
            hostname: String::new(),
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 1000,
            quota_full_tempfail: false,
            save_to_detail_mailbox: false,
            duplicate_window: 60,
            spool_dir: String::new(),
            idle_timeout: 300,
            shutdown_timeout: 30,
            log_level: "info".into(),
        }
    }
}
