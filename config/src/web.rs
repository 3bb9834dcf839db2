//! `[web]`: mailroom-web, the admin and self-service pages, client autoconfiguration and the
//! MTA-STS policy.

use std::net::SocketAddr;
use std::num::NonZeroU64;

use crate::value::{addr, nz64};

crate::section! {
    /// mailroom-web, the admin and self-service pages, client autoconfiguration and MTA-STS.
    pub struct Web {
        /// HTTP(S) listen addresses; empty list: no web server.
        pub listen: Vec<SocketAddr> = vec![addr("[::]:443")],
        /// Serve HTTPS with the `[tls]` certificate (and send HSTS); false: plain HTTP, for a
        /// reverse proxy in front that does TLS (cookies stay `Secure`: browsers accept them
        /// on 127.0.0.1 and localhost only).
        pub tls: bool = true,
        /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` and `X-Forwarded-Proto`
        /// are believed; from anyone else those headers are ignored.
        pub trusted_proxies: Vec<String> = Vec::new(),
        /// Seconds a session may stay unused before it ends.
        pub session_idle_timeout: NonZeroU64 = nz64(1800),
        /// Seconds a session lasts at most, used or not.
        pub session_max_lifetime: NonZeroU64 = nz64(43_200),
        /// Rows per page in the admin pages' lists of mailboxes and aliases (postfixadmin's
        /// `page_size`).
        pub page_size: NonZeroU64 = nz64(10),
        /// Name of the session cookie.
        pub cookie_name: String = "mailroom_session".into(),
        /// Host name the discovery answers (autoconfig, autodiscover, MTA-STS `mx:`) give for
        /// IMAP, POP3 and SMTP; empty: the system host name.
        pub mail_hostname: String = String::new(),
        /// Milliseconds before the first failed login is answered; each further failure of the
        /// same login or client address within throttle_window doubles it (as mailroom-saslauthd).
        pub throttle_base_ms: u64 = 1000,
        /// Longest delay, in milliseconds.
        pub throttle_max_ms: u64 = 8000,
        /// Seconds after which a login's or address's failure count is forgotten.
        pub throttle_window: NonZeroU64 = nz64(900),
        /// User to run as after binding (it reads password hashes, like mailroom-saslauthd).
        pub user: String = "mailroom-web".into(),
        /// Group to run as; empty means the user's primary group.
        pub group: String = String::new(),
        /// Seconds requests in flight may take to finish at shutdown.
        pub shutdown_timeout: u64 = 10,
        /// Where Prometheus scrapes `GET /metrics` (OpenMetrics text), e.g. `["127.0.0.1:9985"]`;
        /// empty: no endpoint. Under systemd the socket unit mailroom-web-metrics.socket gives it.
        pub metrics_listen: Vec<SocketAddr> = Vec::new(),
        /// tracing filter.
        pub log_level: String = "info".into(),
    }
}
