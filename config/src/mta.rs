//! `[mta]`: mailroom-mta, the SMTP server, queue and queue manager. Defaults follow Postfix's.

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
