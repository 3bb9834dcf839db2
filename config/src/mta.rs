//! `[mta]`: mailroom-mta, the SMTP server, queue and queue manager. Defaults follow Postfix's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{AuthMethod, FileMode};

/// `[mta]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Mta {
    /// Port 25 listeners (MX traffic); empty list: none.
    pub smtp_listen: Vec<String>,
    /// Port 587 listeners (submission: AUTH required, only after STARTTLS).
    pub submission_listen: Vec<String>,
    /// Port 465 listeners (submissions: implicit TLS, AUTH required); need `[tls]`.
    pub submissions_listen: Vec<String>,
    /// Local submission socket for `mailroomctl sendmail`: SMTP from local users, who may relay.
    pub submit_socket: String,
    /// Its mode (local users must be able to connect, like Postfix's world-writable maildrop).
    pub submit_socket_mode: FileMode,
    /// Control socket for `mailroomctl queue flush` and friends.
    pub control_socket: String,
    /// Queue directory (Postfix's queue_directory).
    pub spool_dir: String,
    /// Name in the greeting, EHLO and Received: lines; empty: the system host name.
    pub hostname: String,
    /// User to run as after binding (when started as root); never opens a mailbox.
    pub user: String,
    /// Group to run as; empty: the user's primary group.
    pub group: String,
    /// Clients that may relay without authentication (Postfix mynetworks), CIDR or addresses.
    pub mynetworks: Vec<String>,
    /// How AUTH checks passwords.
    pub auth: AuthMethod,
    /// The cyrus-protocol socket when `auth = "saslauthd"`.
    pub saslauthd_socket: String,
    /// Allow AUTH without TLS on port 25/587 from loopback clients only (try-outs, tests).
    pub plaintext_auth_on_loopback: bool,
    /// Authenticated users may only send as addresses they own (reject_sender_login_mismatch).
    pub sender_login_check: bool,
    /// Largest message in bytes (message_size_limit).
    pub max_message_size: u64,
    /// Most recipients per message (smtpd_recipient_limit).
    pub max_recipients: usize,
    /// Most protocol errors per session (smtpd_hard_error_limit).
    pub max_errors: u32,
    /// Most commands per session; 0: no limit.
    pub max_commands: u32,
    /// Most simultaneous connections from one client address (smtpd_client_connection_count_limit).
    pub max_connections_per_client: usize,
    /// Seconds a client may stay idle (smtpd_timeout).
    pub idle_timeout: u64,
    /// Milliseconds to wait before the port-25 greeting; a client that talks first is dropped
    /// (postscreen's pregreet test). 0: off.
    pub greet_pause_ms: u64,
    /// Bare LF and bare CR in DATA: `normalize` (Postfix 3.9 default) or `reject`.
    pub bare_lf: BareLf,
    /// Clients exempt from `bare_lf = "reject"`; empty: mynetworks (Postfix's default).
    pub bare_lf_exclusions: Vec<String>,
    /// Disconnect unauthenticated clients that pipeline where RFC 2920 forbids it.
    pub forbid_unauth_pipelining: bool,
    /// HELO/EHLO names must be valid host names or address literals.
    pub strict_helo: bool,
    /// Allow VRFY (disable_vrfy_command = no).
    pub vrfy: bool,
    /// Messages with more Received: headers than this bounce as a loop (hopcount_limit).
    pub max_hops: usize,
    /// LMTP address of the MDA: `unix:/path` or `inet:host:port` (mailroom-mda or Dovecot).
    pub lmtp: String,
    /// Simultaneous LMTP deliveries.
    pub lmtp_concurrency: usize,
    /// Seconds before the first retry of a deferred message (minimal_backoff_time).
    pub min_backoff: u64,
    /// Longest retry interval in seconds (maximal_backoff_time).
    pub max_backoff: u64,
    /// Seconds after which a deferred message bounces (maximal_queue_lifetime).
    pub max_queue_lifetime: u64,
    /// Seconds between queue scans (queue_run_delay).
    pub queue_run_delay: u64,
    /// Seconds in-flight sessions and deliveries may take to finish at shutdown.
    pub shutdown_timeout: u64,
    /// DNS servers for MX lookups, `IP` or `IP:PORT`; empty: the system's (/etc/resolv.conf).
    pub dns_servers: Vec<String>,
    /// Port of remote MX hosts (25; tests point it elsewhere).
    pub smtp_port: u16,
    /// Send all remote mail through this host (relayhost): `host` (its MX records),
    /// `[host]` (no MX lookup), either with `:port`. Empty: MX delivery.
    pub relayhost: String,
    /// AUTH name for the relayhost; empty: no AUTH. Sent only over TLS.
    pub relayhost_username: String,
    /// File holding the relayhost password (one line); keep it mode 0600.
    pub relayhost_password_file: String,
    /// Per-domain routes, like Postfix's transport(5): `"example.com" = "smtp:[mx.example.net]:587"`,
    /// `"lists.test" = "lmtp:unix:/run/dovecot/lmtp"`; `.example.com` covers subdomains.
    pub transport_map: BTreeMap<String, String>,
    /// STARTTLS towards remote hosts: `none`, `may` (opportunistic, RFC 7435), `encrypt`, `verify`.
    pub tls_policy: TlsPolicy,
    /// Per-destination TLS policy (domain or relayhost name) overriding `tls_policy`.
    pub tls_policy_map: BTreeMap<String, TlsPolicy>,
    /// PEM file of trust anchors for `verify`; empty: the system's roots.
    pub tls_ca_file: String,
    /// Simultaneous outbound SMTP connections per destination (default_destination_concurrency_limit).
    pub smtp_destination_concurrency: usize,
    /// Simultaneous remote deliveries in all.
    pub smtp_concurrency: usize,
    /// Seconds an idle outbound session is kept for the next message to the same destination
    /// (smtp_connection_cache_time_limit); 0: no reuse.
    pub smtp_connection_cache_time: u64,
    /// Seconds to establish an outbound connection (smtp_connect_timeout).
    pub smtp_connect_timeout: u64,
    /// Seconds for each outbound command's reply (smtp_helo_timeout and friends).
    pub smtp_command_timeout: u64,
    /// DKIM signing keys by From: domain: `[mta.dkim."example.com"] selector = "s1"`,
    /// `key_file = "/etc/mailroom/dkim/example.com.pem"` (`mailroomctl dkim keygen` writes them).
    pub dkim: BTreeMap<String, DkimKey>,
    /// tracing filter.
    pub log_level: String,
}

impl Default for Mta {
    fn default() -> Self {
        Mta {
            smtp_listen: vec!["0.0.0.0:25".into()],
            submission_listen: vec!["0.0.0.0:587".into()],
            submissions_listen: vec!["0.0.0.0:465".into()],
            submit_socket: "/run/mailroom/mta/submit".into(),
            submit_socket_mode: FileMode(0o666),
            control_socket: "/run/mailroom/mta/control".into(),
            spool_dir: "/var/spool/mailroom".into(),
            hostname: String::new(),
            user: "mailroom".into(),
            group: String::new(),
            mynetworks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            auth: AuthMethod::Saslauthd,
            saslauthd_socket: "/run/mailroom/saslauthd/mux".into(),
            plaintext_auth_on_loopback: false,
            sender_login_check: true,
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 1000,
            max_errors: 20,
            max_commands: 10_000,
            max_connections_per_client: 50,
            idle_timeout: 300,
            greet_pause_ms: 0,
            bare_lf: BareLf::Normalize,
            bare_lf_exclusions: Vec::new(),
            forbid_unauth_pipelining: true,
            strict_helo: true,
            vrfy: false,
            max_hops: 50,
            lmtp: "unix:/run/mailroom/mda/lmtp".into(),
            lmtp_concurrency: 20,
            min_backoff: 300,
            max_backoff: 4000,
            max_queue_lifetime: 5 * 24 * 3600,
            queue_run_delay: 300,
            shutdown_timeout: 30,
            dns_servers: Vec::new(),
            smtp_port: 25,
            relayhost: String::new(),
            relayhost_username: String::new(),
            relayhost_password_file: String::new(),
            transport_map: BTreeMap::new(),
            tls_policy: TlsPolicy::May,
            tls_policy_map: BTreeMap::new(),
            tls_ca_file: String::new(),
            smtp_destination_concurrency: 20,
            smtp_concurrency: 100,
            smtp_connection_cache_time: 2,
            smtp_connect_timeout: 30,
            smtp_command_timeout: 300,
            dkim: BTreeMap::new(),
            log_level: "info".into(),
        }
    }
}

/// What to do with a bare LF or CR in message content (Postfix 3.9's smtpd_forbid_bare_newline).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BareLf {
    /// Accept it as a line end (a bare CR becomes a space); only CRLF.CRLF ends DATA.
    #[default]
    Normalize,
    /// Refuse the message with 550 5.5.2 once its real end has arrived.
    Reject,
}

/// STARTTLS policy towards a remote host (Postfix's smtp_tls_security_level).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsPolicy {
    /// Never STARTTLS.
    None,
    /// STARTTLS when offered, any certificate (RFC 7435); plain text when not offered.
    #[default]
    May,
    /// STARTTLS required, any certificate; else the mail waits (4xx).
    Encrypt,
    /// STARTTLS required with a certificate valid for the host name.
    Verify,
}

/// One DKIM signing key.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct DkimKey {
    /// The selector (`s=`): the key is published at `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// PEM private key (RSA, PKCS#1 or PKCS#8).
    pub key_file: String,
}
