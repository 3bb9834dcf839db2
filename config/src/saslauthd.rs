//! `[saslauthd]`: mailroom-saslauthd, the password checker on Unix sockets.

use std::net::SocketAddr;
use std::num::NonZeroU64;

use crate::path::abs;
use crate::value::nz64;
use crate::{AbsPath, FileMode};

crate::section! {
    /// mailroom-saslauthd, the password checker on Unix sockets.
    pub struct Saslauthd {
        /// Directory of the sockets (cyrus `-m`): `mux` speaks the cyrus protocol, `auth` Dovecot's.
        pub run_dir: AbsPath = abs("/run/mailroom/saslauthd"),
        /// Also serve the Dovecot auth protocol on `<run_dir>/auth` (Postfix `smtpd_sasl_type = dovecot`).
        pub dovecot: bool = true,
        /// Mode of both sockets; access is governed by the directory's permissions, as in cyrus.
        pub socket_mode: FileMode = FileMode(0o777),
        /// Owner of the sockets (user name); empty keeps the daemon's.
        pub socket_owner: String = String::new(),
        /// Group of the sockets; empty keeps the daemon's.
        pub socket_group: String = String::new(),
        /// User to run as after binding (when started as root).
        pub user: String = "mailroom-auth".into(),
        /// Group to run as; empty means the user's primary group.
        pub group: String = String::new(),
        /// Join login and realm into `login@realm` when the login has no domain (cyrus `-r`).
        pub join_realm: bool = true,
        /// Realm for logins that arrive with neither a domain nor a realm; empty rejects them.
        pub default_realm: String = String::new(),
        /// Milliseconds before a Dovecot-protocol FAIL is sent (Dovecot's auth_failure_delay).
        pub failure_delay_ms: u64 = 2000,
        /// First throttle delay in milliseconds after a failure; it doubles with each further one.
        pub throttle_base_ms: u64 = 100,
        /// Longest throttle delay in milliseconds.
        pub throttle_max_ms: u64 = 10_000,
        /// Seconds after which a login's or address's failures are forgotten.
        pub throttle_window: u64 = 900,
        /// Seconds a client may take to send a request before the connection is closed.
        pub read_timeout: NonZeroU64 = nz64(10),
        /// Seconds in-flight requests may take to finish at shutdown.
        pub shutdown_timeout: u64 = 10,
        /// Where Prometheus scrapes `GET /metrics` (OpenMetrics text), e.g. `["127.0.0.1:9981"]`;
        /// empty: no endpoint. Under systemd the socket unit mailroom-saslauthd-metrics.socket gives it.
        pub metrics_listen: Vec<SocketAddr> = Vec::new(),
        /// tracing filter, e.g. `info` or `debug`.
        pub log_level: String = "info".into(),
    }
}
