//! `[mta]`: mailroom-mta, the SMTP server, queue and queue manager. Defaults follow Postfix's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroU32, NonZeroU64, NonZeroUsize};

use serde::{Deserialize, Serialize};

use crate::path::{abs, optional};
use crate::value::{addr, nz16, nz32, nz64, nzusize};
use crate::{AbsPath, AuthMethod, FileMode, OptionalPath};

crate::section! {
    /// mailroom-mta, the SMTP server, queue and queue manager. Defaults follow Postfix's.
    pub struct Mta {
        /// Port 25 listeners (MX traffic); empty list: none.
        pub smtp_listen: Vec<SocketAddr> = vec![addr("0.0.0.0:25")],
        /// Port 587 listeners (submission: AUTH required, only after STARTTLS).
        pub submission_listen: Vec<SocketAddr> = vec![addr("0.0.0.0:587")],
        /// Port 465 listeners (submissions: implicit TLS, AUTH required); need `[tls]`.
        pub submissions_listen: Vec<SocketAddr> = vec![addr("0.0.0.0:465")],
        /// Local submission socket for `mailroomctl sendmail`: SMTP from local users, who may relay.
        pub submit_socket: OptionalPath = optional("/run/mailroom/mta/submit"),
        /// Its mode (local users must be able to connect, like Postfix's world-writable maildrop).
        pub submit_socket_mode: FileMode = FileMode(0o666),
        /// Control socket for `mailroomctl queue flush` and friends.
        pub control_socket: OptionalPath = optional("/run/mailroom/mta/control"),
        /// Queue directory (Postfix's queue_directory).
        pub spool_dir: AbsPath = abs("/var/spool/mailroom"),
        /// Name in the greeting, EHLO and Received: lines; empty: the system host name.
        pub hostname: String = String::new(),
        /// User to run as after binding (when started as root); never opens a mailbox.
        pub user: String = "mailroom".into(),
        /// Group to run as; empty: the user's primary group.
        pub group: String = String::new(),
        /// Clients that may relay without authentication (Postfix mynetworks), CIDR or addresses.
        pub mynetworks: Vec<String> = vec!["127.0.0.0/8".into(), "::1/128".into()],
        /// How AUTH checks passwords.
        pub auth: AuthMethod = AuthMethod::Saslauthd,
        /// The cyrus-protocol socket when `auth = "saslauthd"`.
        pub saslauthd_socket: AbsPath = abs("/run/mailroom/saslauthd/mux"),
        /// Allow AUTH without TLS on port 25/587 from loopback clients only (try-outs, tests).
        pub plaintext_auth_on_loopback: bool = false,
        /// Authenticated users may only send as addresses they own (reject_sender_login_mismatch).
        pub sender_login_check: bool = true,
        /// Largest message in bytes (message_size_limit).
        pub max_message_size: u64 = 50 * 1024 * 1024,
        /// Most recipients per message (smtpd_recipient_limit).
        pub max_recipients: NonZeroUsize = nzusize(1000),
        /// Most protocol errors per session (smtpd_hard_error_limit).
        pub max_errors: NonZeroU32 = nz32(20),
        /// Most commands per session; 0: no limit.
        pub max_commands: u32 = 10_000,
        /// Most simultaneous connections from one client address (smtpd_client_connection_count_limit).
        pub max_connections_per_client: usize = 50,
        /// Most connections one client address may open per `anvil_rate_time_unit`, on each
        /// listener; more get 421 4.7.0 and are closed. 0: no limit.
        pub smtpd_client_connection_rate_limit: u32 = 0,
        /// Most MAIL FROM commands per client address and `anvil_rate_time_unit`; more get
        /// 450 4.7.1. 0: no limit.
        pub smtpd_client_message_rate_limit: u32 = 0,
        /// Most RCPT TO commands per client address and `anvil_rate_time_unit`; more get
        /// 450 4.7.1. 0: no limit.
        pub smtpd_client_recipient_rate_limit: u32 = 0,
        /// Seconds over which the rate limits count (anvil_rate_time_unit): a client's window
        /// opens at its first event and its counts start again once it has passed.
        pub anvil_rate_time_unit: NonZeroU64 = nz64(60),
        /// Clients exempt from the connection count and rate limits, CIDR or addresses; empty:
        /// mynetworks (Postfix's default).
        pub smtpd_client_event_limit_exceptions: Vec<String> = Vec::new(),
        /// Seconds a client may stay idle (smtpd_timeout).
        pub idle_timeout: NonZeroU64 = nz64(300),
        /// Milliseconds to wait before the port-25 greeting; a client that talks first is dropped
        /// (postscreen's pregreet test). 0: off.
        pub greet_pause_ms: u64 = 0,
        /// DNS blocklists and allowlists asked about each port-25 client that is not in mynetworks
        /// (postscreen_dnsbl_sites): `domain`, `domain=filter`, each with an optional
        /// `*weight` (default 1; negative for an allowlist). The filter is the reply address
        /// that counts, each octet a number or `[...]` of `;`-separated numbers and `n..m`
        /// ranges, e.g. `"zen.spamhaus.org=127.0.0.[2..11]*2"`,
        /// `"list.dnswl.org=127.0.[0..255].[1..3]*-2"`; without one any reply counts. Each
        /// entry whose filter matches adds its weight to the client's score.
        pub dnsbl_sites: Vec<String> = Vec::new(),
        /// A score at or above this is listed (postscreen_dnsbl_threshold).
        pub dnsbl_threshold: i32 = 1,
        /// A negative score at or below this is allowlisted (postscreen_dnsbl_allowlist_threshold):
        /// the client skips the greeting pause (`greet_pause_ms`) and greylisting. 0: off.
        pub dnsbl_allowlist_threshold: i32 = 0,
        /// What a listed client gets (postscreen_dnsbl_action): `enforce` (each RCPT TO is
        /// refused with 550 5.7.1 naming the list, unless the client authenticates), `drop`
        /// (521 5.7.1 instead of the greeting, then the connection is closed) or `ignore`
        /// (only logged).
        pub dnsbl_action: DnsblAction = DnsblAction::Enforce,
        /// Seconds to wait for the lists' answers (postscreen_dnsbl_timeout); a list that does
        /// not answer in time, or answers with an error, counts as not listing the client.
        pub dnsbl_timeout: NonZeroU64 = nz64(10),
        /// Bare LF and bare CR in DATA: `normalize` (Postfix 3.9 default) or `reject`.
        pub bare_lf: BareLf = BareLf::Normalize,
        /// Clients exempt from `bare_lf = "reject"`; empty: mynetworks (Postfix's default).
        pub bare_lf_exclusions: Vec<String> = Vec::new(),
        /// Disconnect unauthenticated clients that pipeline where RFC 2920 forbids it.
        pub forbid_unauth_pipelining: bool = true,
        /// HELO/EHLO names must be valid host names or address literals.
        pub strict_helo: bool = true,
        /// Allow VRFY (disable_vrfy_command = no).
        pub vrfy: bool = false,
        /// Messages with more Received: headers than this bounce as a loop (hopcount_limit).
        pub max_hops: NonZeroUsize = nzusize(50),
        /// LMTP address of the MDA: `unix:/path` or `inet:host:port` (mailroom-mda or Dovecot).
        pub lmtp: String = "unix:/run/mailroom/mda/lmtp".into(),
        /// Simultaneous LMTP deliveries.
        pub lmtp_concurrency: NonZeroUsize = nzusize(20),
        /// Seconds before the first retry of a deferred message (minimal_backoff_time).
        pub min_backoff: NonZeroU64 = nz64(300),
        /// Longest retry interval in seconds (maximal_backoff_time).
        pub max_backoff: NonZeroU64 = nz64(4000),
        /// Seconds after which a deferred message bounces (maximal_queue_lifetime).
        pub max_queue_lifetime: u64 = 5 * 24 * 3600,
        /// Seconds between queue scans (queue_run_delay).
        pub queue_run_delay: NonZeroU64 = nz64(300),
        /// Seconds in-flight sessions and deliveries may take to finish at shutdown.
        pub shutdown_timeout: u64 = 30,
        /// DNS servers for MX lookups, `IP` or `IP:PORT`; empty: the system's (/etc/resolv.conf).
        pub dns_servers: Vec<String> = Vec::new(),
        /// Port of remote MX hosts (25; tests point it elsewhere).
        pub smtp_port: NonZeroU16 = nz16(25),
        /// Send all remote mail through this host (relayhost): `host` (its MX records),
        /// `[host]` (no MX lookup), either with `:port`. Empty: MX delivery.
        pub relayhost: String = String::new(),
        /// AUTH name for the relayhost; empty: no AUTH. Sent only over TLS.
        pub relayhost_username: String = String::new(),
        /// File holding the relayhost password (one line); keep it mode 0600.
        pub relayhost_password_file: OptionalPath = OptionalPath::default(),
        /// Per-domain routes, like Postfix's transport(5): `"example.com" = "smtp:[mx.example.net]:587"`,
        /// `"lists.test" = "lmtp:unix:/run/dovecot/lmtp"`; `.example.com` covers subdomains.
        pub transport_map: BTreeMap<String, String> = BTreeMap::new(),
        /// STARTTLS towards remote hosts: `none`, `may` (opportunistic, RFC 7435), `encrypt`,
        /// `verify`, `dane` (RFC 7672: DNSSEC-validated TLSA records decide, else `may`).
        pub tls_policy: TlsPolicy = TlsPolicy::May,
        /// Per-destination TLS policy (domain or relayhost name) overriding `tls_policy`.
        pub tls_policy_map: BTreeMap<String, TlsPolicy> = BTreeMap::new(),
        /// DNSKEY records (zone file syntax) trusted as DNSSEC anchors for `dane` lookups, like
        /// unbound's trust-anchor-file; empty: the root zone's keys.
        pub dnssec_trust_anchor_file: OptionalPath = OptionalPath::default(),
        /// PEM file of trust anchors for `verify`, MTA-STS policy hosts and the MX hosts an
        /// MTA-STS policy names; empty: the system's roots.
        pub tls_ca_file: OptionalPath = OptionalPath::default(),
        /// MTA-STS (RFC 8461): a recipient domain's `_mta-sts` TXT record and HTTPS policy
        /// (postfix-mta-sts-resolver's job) decide whether its MX hosts need verified TLS.
        pub mta_sts: bool = true,
        /// Port of MTA-STS policy hosts (443; tests point it elsewhere).
        pub mta_sts_port: NonZeroU16 = nz16(443),
        /// TLS reporting (RFC 8460): each day's outbound sessions to recipient domains' MX
        /// hosts are counted per domain, policy (DANE, MTA-STS or none) and result under
        /// spool_dir/tlsrpt; a few minutes after midnight UTC each domain that publishes a
        /// `_smtp._tls` TXT record (`v=TLSRPTv1; rua=...`) is sent its report, gzipped JSON by
        /// mail through our queue (`mailto:`) or HTTPS POST (`https:`).
        pub tls_reporting: bool = true,
        /// The `organization-name` of our TLS reports; empty: `hostname`.
        pub tls_report_organization: String = String::new(),
        /// The From: address and `contact-info` of our TLS reports (its domain is the
        /// submitter); empty: `postmaster@` `hostname`. The envelope sender is null.
        pub tls_report_sender: String = String::new(),
        /// Simultaneous outbound SMTP connections per destination (default_destination_concurrency_limit).
        pub smtp_destination_concurrency: NonZeroUsize = nzusize(20),
        /// Simultaneous remote deliveries in all.
        pub smtp_concurrency: NonZeroUsize = nzusize(100),
        /// Seconds an idle outbound session is kept for the next message to the same destination
        /// (smtp_connection_cache_time_limit); 0: no reuse.
        pub smtp_connection_cache_time: u64 = 2,
        /// Seconds to establish an outbound connection (smtp_connect_timeout).
        pub smtp_connect_timeout: NonZeroU64 = nz64(30),
        /// Seconds for each outbound command's reply (smtp_helo_timeout and friends).
        pub smtp_command_timeout: NonZeroU64 = nz64(300),
        /// DKIM signing keys by From: domain: `[mta.dkim."example.com"] selector = "s1"`,
        /// `key_file = "/etc/mailroom/dkim/example.com.pem"` (`mailroomctl dkim keygen` writes them).
        pub dkim: BTreeMap<String, DkimKey> = BTreeMap::new(),
        /// Where Prometheus scrapes `GET /metrics` (OpenMetrics text), e.g. `["127.0.0.1:9982"]`;
        /// empty: no endpoint. Under systemd the socket unit mailroom-mta-metrics.socket gives it.
        pub metrics_listen: Vec<SocketAddr> = Vec::new(),
        /// tracing filter.
        pub log_level: String = "info".into(),
        /// Mail filters asked about every message from SMTP clients, in order (smtpd_milters):
        /// `inet:host:port` or `unix:/path`, e.g. rspamd's `inet:127.0.0.1:11332`. Their verdict
        /// comes before our reply to the end of DATA and their changes are in the queued message.
        pub smtpd_milters: Vec<String> = Vec::new(),
        /// Mail filters for the local submission socket (`mailroomctl sendmail`; non_smtpd_milters).
        pub non_smtpd_milters: Vec<String> = Vec::new(),
        /// What a message gets when a filter is down, slow or talks nonsense
        /// (milter_default_action): `tempfail` (451 4.7.1), `reject` (550 5.7.1) or `accept`
        /// (go on without that filter).
        pub milter_default_action: MilterAction = MilterAction::Tempfail,
        /// Seconds to connect to a filter and negotiate (milter_connect_timeout).
        pub milter_connect_timeout: NonZeroU64 = nz64(30),
        /// Seconds for a filter's answer to each SMTP command (milter_command_timeout).
        pub milter_command_timeout: NonZeroU64 = nz64(30),
        /// Seconds for a filter's answer to the message content (milter_content_timeout).
        pub milter_content_timeout: NonZeroU64 = nz64(300),
        /// Check who sent mail arriving on port 25 (not authenticated clients, not mynetworks):
        /// SPF (RFC 7208) for the HELO name and MAIL FROM, DKIM (RFC 6376) and ARC (RFC 8617)
        /// signatures, DMARC (RFC 7489) alignment and policy, as policyd-spf, opendkim and
        /// opendmarc do behind Postfix. The results go into one `Authentication-Results:`
        /// header (RFC 8601) on top of the queued message. DNS through `dns_servers`.
        pub sender_auth: bool = false,
        /// The name our `Authentication-Results:` headers carry (opendmarc's AuthservID); those
        /// arriving from outside under this name are removed. Empty: `hostname`.
        pub authserv_id: String = String::new(),
        /// A MAIL FROM whose SPF result is `fail`: `mark` (only the header: DMARC decides, as
        /// RFC 7489 §10.1 advises) or `reject` (550 5.7.23 to MAIL FROM, policyd-spf's way).
        /// `softfail`, `temperror` and the others are only marked.
        pub spf_fail: SpfFail = SpfFail::Mark,
        /// What a DMARC failure gets: `honour` the domain's policy (`p=reject`: 550 5.7.1 at the
        /// end of DATA; `p=quarantine`: an `X-Mailroom-Quarantine:` header for a Sieve Junk
        /// rule) or `mark` (opendmarc's RejectFailures = false: both only get the header). A
        /// DNS failure is `temperror` in the header, never a refusal.
        pub dmarc_policy: DmarcPolicy = DmarcPolicy::Honour,
        /// Greylist port-25 mail from clients neither authenticated nor in mynetworks, with
        /// postgrey's rules: the first delivery attempt of a (client /24 or /64, sender,
        /// recipient) triplet gets `450 4.7.1` at RCPT, a retry after `greylist_delay` passes.
        /// Kept in the `[database]` (tables `mailroom_greylist`, `mailroom_greylist_clients`),
        /// so it survives restarts and several MTAs share it; a database that cannot answer
        /// is a `451 4.3.5` (Postfix's answer when its policy service is down). SQL only.
        pub greylist: bool = false,
        /// Seconds a new triplet must wait before a retry is accepted (postgrey's --delay).
        pub greylist_delay: u64 = 300,
        /// Days a triplet or a whitelisted client is kept after it was last seen
        /// (postgrey's --max-age).
        pub greylist_max_age: NonZeroU64 = nz64(35),
        /// Clients that passed greylisting this many times (at most once an hour) are not
        /// greylisted any more (postgrey's --auto-whitelist-clients); 0: never.
        pub greylist_auto_whitelist: u32 = 5,
        /// The text after `450 4.7.1 <rcpt>: Recipient address rejected: ` (postgrey's
        /// --greylist-text): `%r` is the recipient's domain, `%s` the seconds left.
        pub greylist_text: String = "Greylisted, see http://postgrey.schweikert.ch/help/%r.html".into(),
        /// Sender Rewriting Scheme (postsrsd's SRS0/SRS1): mail relayed to a remote host with a
        /// sender outside our domains (a forwarding alias, a Sieve redirect) leaves with
        /// `SRS0=hash=tt=domain=user@srs_domain`, so SPF passes at the destination; mail to an
        /// SRS address at this domain (a bounce) goes back to the original sender, and a bad
        /// hash or a stamp older than 21 days is `550 5.1.1`. Empty: no SRS.
        pub srs_domain: String = String::new(),
        /// Secrets for SRS, one a line (postsrsd's SRS_SECRET): the first signs, every line
        /// verifies, so a new secret goes first and the old one stays for 21 days.
        pub srs_secret_file: OptionalPath = optional("/etc/mailroom/srs.secret"),
        /// Sender domains never rewritten (postsrsd's SRS_EXCLUDE_DOMAINS); `.example.com`
        /// covers its subdomains. Our own domains and `srs_domain` never are.
        pub srs_exclude_domains: Vec<String> = Vec::new(),
    }
}

/// What a message gets when a mail filter fails (Postfix's milter_default_action).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MilterAction {
    /// Go on as if the filter were not configured.
    Accept,
    /// 550 5.7.1.
    Reject,
    /// 451 4.7.1: the client tries again later.
    #[default]
    Tempfail,
}

/// What a client listed by the DNS blocklists gets (Postfix's postscreen_dnsbl_action).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DnsblAction {
    /// Log it and carry on.
    Ignore,
    /// 550 5.7.1 to each RCPT TO of a client that has not authenticated.
    #[default]
    Enforce,
    /// 521 5.7.1 in place of the greeting, and hang up.
    Drop,
}

/// What an SPF `fail` of MAIL FROM gets.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SpfFail {
    /// `spf=fail` in Authentication-Results; DMARC decides.
    #[default]
    Mark,
    /// 550 5.7.23 to MAIL FROM.
    Reject,
}

/// How a DMARC failure's policy is applied (opendmarc's RejectFailures).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DmarcPolicy {
    /// `p=reject`: 550 5.7.1; `p=quarantine`: the quarantine header.
    #[default]
    Honour,
    /// `p=reject` and `p=quarantine` both get the quarantine header.
    Mark,
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
    /// DANE (RFC 7672): where the MX host's TLSA records are DNSSEC-secure, TLS with a
    /// certificate they match (or any, if none is usable); elsewhere as `may`.
    Dane,
}

crate::section! {
    /// One DKIM signing key.
    pub struct DkimKey {
        /// The selector (`s=`): the key is published at `SELECTOR._domainkey.DOMAIN`.
        pub selector: String,
        /// PEM private key (RSA, PKCS#1 or PKCS#8).
        pub key_file: AbsPath,
    }
}
