//! `[mra]`: mailroom-mra, the POP3 and IMAP servers.

use serde::{Deserialize, Deserializer, Serialize};

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};

use crate::path::abs;
use crate::value::{addr, nz32, nz64, nzusize};
use crate::{AbsPath, AuthMethod};

crate::section! {
    /// mailroom-mra, the POP3, IMAP and ManageSieve servers.
    pub struct Mra {
        // One dual-stack socket each (IPv4 clients appear as plain IPv4 addresses).
        /// POP3 listen addresses (STLS offered when `[tls]` is set); empty list: no POP3.
        pub pop3_listen: Vec<SocketAddr> = vec![addr("[::]:110")],
        /// POP3 over implicit TLS listen addresses; opened only when `[tls]` is set.
        pub pop3s_listen: Vec<SocketAddr> = vec![addr("[::]:995")],
        /// IMAP listen addresses (STARTTLS offered when `[tls]` is set); empty list: no IMAP.
        pub imap_listen: Vec<SocketAddr> = vec![addr("[::]:143")],
        /// IMAP over implicit TLS listen addresses; opened only when `[tls]` is set.
        pub imaps_listen: Vec<SocketAddr> = vec![addr("[::]:993")],
        /// Where passwords are checked: `saslauthd` (the socket below) or `direct` (authlib).
        pub auth: AuthMethod = AuthMethod::Saslauthd,
        /// The cyrus-protocol socket of mailroom-saslauthd (or cyrus saslauthd).
        pub saslauthd_socket: AbsPath = abs("/run/mailroom/saslauthd/mux"),
        /// Allow USER/PASS and AUTH without TLS from loopback clients (Dovecot treats them as secure).
        pub plaintext_auth_on_loopback: bool = true,
        /// Allow passwords without TLS from anywhere (Dovecot `disable_plaintext_auth = no`). Avoid.
        pub plaintext_auth_anywhere: bool = false,
        /// UIDL of each message, as Dovecot's `pop3_uidl_format`: `%u` UID, `%v` UIDVALIDITY,
        /// `%f` file base name, `%g` GUID; `%08Xu` = 8 hex digits (lower case, as Dovecot writes).
        pub pop3_uidl_format: UidlFormat = UidlFormat(DOVECOT_UIDL_FORMAT.into()),
        /// User to run as after binding: the owner of the mail root.
        pub user: String = "vmail".into(),
        /// Group to run as; empty means the user's primary group.
        pub group: String = String::new(),
        /// Seconds a client may stay silent (RFC 1939: at least 600 for POP3); also, up to 60, how
        /// long an IMAP client may leave a streamed answer unread before it is dropped.
        pub idle_timeout: NonZeroU64 = nz64(600),
        /// Seconds before a failed login is answered (Dovecot's auth_failure_delay).
        pub auth_failure_delay: u64 = 2,
        /// IMAP sessions one user may have logged in from one address at once (Dovecot's
        /// mail_max_userip_connections); a login past it is answered `NO [LIMIT]`.
        pub max_user_ip_connections: NonZeroU32 = nz32(10),
        /// Failed logins after which the connection is closed.
        pub max_auth_failures: NonZeroU32 = nz32(3),
        /// Unknown or malformed commands after which the connection is closed.
        pub max_bad_commands: NonZeroU32 = nz32(20),
        /// Most connections at once; more are answered `-ERR [SYS/TEMP]` and closed.
        pub max_connections: NonZeroUsize = nzusize(10_000),
        /// Seconds a RETR or QUIT in progress may take at shutdown (idle sessions end at once).
        pub shutdown_timeout: u64 = 30,
        /// Where Prometheus scrapes `GET /metrics` (OpenMetrics text), e.g. `["127.0.0.1:9984"]`;
        /// empty: no endpoint. Under systemd the socket unit mailroom-mra-metrics.socket gives it.
        pub metrics_listen: Vec<SocketAddr> = Vec::new(),
        /// tracing filter.
        pub log_level: String = "info".into(),
        /// ManageSieve (RFC 5804) listen addresses (STARTTLS offered when `[tls]` is set); empty
        /// list: no ManageSieve. Under systemd: mailroom-mra-managesieve.socket.
        pub managesieve_listen: Vec<SocketAddr> = vec![addr("[::]:4190")],
        /// Most Sieve scripts one user may store over ManageSieve; 0: no limit (Pigeonhole's
        /// `sieve_quota_max_scripts`).
        pub managesieve_max_scripts: u64 = 100,
        /// Largest Sieve script in bytes ManageSieve accepts, at most 1 MiB (the checker's own
        /// limit; Pigeonhole's `sieve_max_script_size`).
        pub managesieve_max_script_size: NonZeroU64 = nz64(1024 * 1024),
    }
}

/// Dovecot 2.x's default `pop3_uidl_format`.
pub const DOVECOT_UIDL_FORMAT: &str = "%08Xu%08Xv";

/// A `pop3_uidl_format` that was checked when the file was loaded.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct UidlFormat(pub String);

impl<'de> Deserialize<'de> for UidlFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        check_uidl_format(&s).map_err(serde::de::Error::custom)?;
        Ok(UidlFormat(s))
    }
}

/// Checks a UIDL format: every `%` must start `%[0][width][X]<u|v|f|g|%>` or `%{name}` with
/// name uid, uidvalidity, filename, guid. Dovecot's `%m` is for mbox only and not accepted.
pub fn check_uidl_format(s: &str) -> Result<(), String> {
    let mut chars = s.chars().peekable();
    let mut vars = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        while chars.peek().is_some_and(|c| c.is_ascii_digit() || *c == 'X' || *c == 'x') {
            chars.next();
        }
        match chars.next() {
            Some('u' | 'v' | 'f' | 'g') => vars += 1,
            Some('%') => {}
            Some('{') => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                if !["uid", "uidvalidity", "filename", "guid"].contains(&name.as_str()) {
                    return Err(format!("pop3_uidl_format: unknown variable %{{{name}}}"));
                }
                vars += 1;
            }
            Some(other) => {
                return Err(format!("pop3_uidl_format: unknown variable %{other} (use %u %v %f %g)"));
            }
            None => return Err("pop3_uidl_format: ends with %".into()),
        }
    }
    if vars == 0 {
        return Err("pop3_uidl_format: no variable, every message would have the same UIDL".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uidl_formats() {
        for ok in [DOVECOT_UIDL_FORMAT, "%f", "%v.%u", "%{uid}-%{uidvalidity}", "%g", "100%%%u"] {
            assert_eq!(check_uidl_format(ok), Ok(()), "{ok}");
        }
        for bad in ["", "fixed", "%m", "%08Xz", "%", "%{md5}"] {
            assert!(check_uidl_format(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_format_names_the_key() {
        let e =
            crate::parse("[mra]\npop3_uidl_format = \"%m\"\n", std::path::Path::new("m.toml")).unwrap_err();
        assert!(e.to_string().contains("pop3_uidl_format"), "{e}");
    }
}
