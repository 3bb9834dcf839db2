//! `[saslauthd]`: mailroom-saslauthd, the password checker on Unix sockets.

use serde::{Deserialize, Serialize};

use crate::FileMode;

/// `[saslauthd]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Saslauthd {
    /// Directory of the sockets (cyrus `-m`): `mux` speaks the cyrus protocol, `auth` Dovecot's.
    pub run_dir: String,
    /// Also serve the Dovecot auth protocol on `<run_dir>/auth` (Postfix `smtpd_sasl_type = dovecot`).
    pub dovecot: bool,
    /// Mode of both sockets; access is governed by the directory's permissions, as in cyrus.
    pub socket_mode: FileMode,
    /// Owner of the sockets (user name); empty keeps the daemon's.
    pub socket_owner: String,
    /// Group of the sockets; empty keeps the daemon's.
    pub socket_group: String,
    /// User to run as after binding (when started as root).
    pub user: String,
    /// Group to run as; empty means the user's primary group.
    pub group: String,
    /// Join login and realm into `login@realm` when the login has no domain (cyrus `-r`).
    pub join_realm: bool,
    /// Realm for logins that arrive with neither a domain nor a realm; empty rejects them.
    pub default_realm: String,
    /// Seconds a successful login is cached (cyrus `-c`/`-t`); 0 turns the cache off.
    pub cache_ttl: u64,
    /// Most entries in the credential cache.
    pub cache_size: usize,
    /// Milliseconds before a Dovecot-protocol FAIL is sent (Dovecot's auth_failure_delay).
    pub failure_delay_ms: u64,
    /// First throttle delay in milliseconds after a failure; it doubles with each further one.
    pub throttle_base_ms: u64,
    /// Longest throttle delay in milliseconds.
    pub throttle_max_ms: u64,
    /// Seconds after which a login's or address's failures are forgotten.
    pub throttle_window: u64,
    /// Seconds a client may take to send a request before the connection is closed.
    pub read_timeout: u64,
    /// Seconds in-flight requests may take to finish at shutdown.
    pub shutdown_timeout: u64,
    /// tracing filter, e.g. `info` or `debug`.
    pub log_level: String,
}

impl Default for Saslauthd {
    fn default() -> Self {
        Saslauthd {
            run_dir: "/run/mailroom/saslauthd".into(),
            dovecot: true,
            socket_mode: FileMode(0o777),
            socket_owner: String::new(),
            socket_group: String::new(),
            user: "mailroom-auth".into(),
            group: String::new(),
            join_realm: true,
            default_realm: String::new(),
            cache_ttl: 0,
            cache_size: 10_000,
            failure_delay_ms: 2000,
            throttle_base_ms: 100,
            throttle_max_ms: 10_000,
            throttle_window: 900,
            read_timeout: 10,
            shutdown_timeout: 10,
            log_level: "info".into(),
        }
    }
}
