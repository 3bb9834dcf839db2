//! `[database]`: where the virtual users live and how to read them.

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};

use serde::{Deserialize, Serialize};

use crate::AbsPath;
use crate::path::abs;
use crate::value::{nz32, nz64, nzusize};

/// Largest Argon2 memory cost (KiB) hashed or verified: 256 MiB, libsodium's MODERATE level
/// and 4x Dovecot's default; a hostile DB row must not make one login allocate gigabytes.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// Largest Argon2 time cost (passes): 5x Dovecot's default of 3 for ARGON2ID.
pub const MAX_ARGON2_PASSES: u32 = 16;
/// Largest memory x passes (KiB): 1 GiB of block passes, 1.2-2.5 s here, where Dovecot's
/// default (64 MiB x 3) is 0.35 s; time grows with the product, not with either alone.
pub const MAX_ARGON2_WORK_KIB: u64 = 1 << 20;
/// Largest Argon2 parallelism; lanes are computed on one thread, so they only add overhead.
pub const MAX_ARGON2_LANES: u32 = 16;

/// The default database: SQLite in the state directory.
pub const DEFAULT_URL: &str = "sqlite:///var/lib/mailroom/mailroom.db";

crate::section! {
    /// Where the virtual users live and how to read them.
    pub struct Database {
        /// `mysql://user:pass@host/db` or `sqlite:///path`; a list of MariaDB URLs fails over in order.
        pub url: UrlList = UrlList(vec![DEFAULT_URL.to_string()]),
        /// Connections per pool (per host).
        pub max_connections: NonZeroU32 = nz32(10),
        /// Seconds to wait for a connection before answering "temporarily unavailable".
        pub connect_timeout: NonZeroU64 = nz64(5),
        /// Where a mailbox's Maildir path comes from: `template` or the `mailbox.maildir` `column`.
        pub maildir_source: MaildirSource = MaildirSource::Template,
        /// Template with `%d` (domain), `%n` (local part), `%u` (address); relative paths are under `mail_root`.
        pub maildir_template: String = "%d/%n/Maildir".to_string(),
        /// Every Maildir must lie under this directory; `mailbox.maildir` values are relative to it.
        pub mail_root: AbsPath = abs("/var/vmail"),
        /// Characters that separate a subaddress detail (`bob+lists@`), like Postfix's `recipient_delimiter`; empty disables.
        pub recipient_delimiter: String = "+".to_string(),
        /// Maximum nesting of aliases before a branch is dropped as a loop.
        pub alias_depth: u32 = 8,
        /// Seconds a found domain, mailbox or alias row is reused without asking the database
        /// (Dovecot's auth_cache_ttl for lookups); 0 asks every time. Passwords are not kept here;
        /// that a domain is not an alias domain is, so a new alias domain applies within this time.
        pub cache_ttl: u64 = 0,
        /// Seconds a verified password is trusted without hashing it again, for the same user and
        /// stored hash (a changed password misses at once; the row is still read on every login); 0 turns it off.
        pub password_cache_ttl: u64 = 3600,
        /// Most entries in the verified-password cache; the oldest goes first.
        pub password_cache_size: NonZeroUsize = nzusize(10_000),
        /// Memory in KiB of new ARGON2ID/ARGON2I hashes (OWASP's 19 MiB for interactive logins); at most 262144.
        pub argon2_memory_kib: NonZeroU32 = nz32(19_456),
        /// Passes of new ARGON2 hashes; at most 16, and memory x passes at most 1 GiB.
        pub argon2_passes: NonZeroU32 = nz32(2),
        /// Lanes of new ARGON2 hashes; at most 16, and memory at least 8 KiB per lane.
        pub argon2_lanes: NonZeroU32 = nz32(1),
        /// Scheme assumed for a hash without `{SCHEME}` prefix that is not a recognisable crypt string.
        pub default_pass_scheme: String = "CRYPT".to_string(),
        /// Overrides of the built-in postfixadmin queries.
        pub queries: Queries = Queries::default(),
        /// Where the directory lives: `sql` (postfixadmin's tables at `url`) or `ldap` (`[database.ldap]`, read-only for admin commands).
        pub backend: crate::DirectoryBackend = crate::DirectoryBackend::Sql,
        /// The LDAP server and searches, used with `backend = "ldap"`.
        pub ldap: crate::Ldap = crate::Ldap::default(),
    }
}

impl Database {
    /// Why the `argon2_*` keys give hashes we would refuse to verify: (key, message).
    pub fn argon2_conflict(&self) -> Option<(&'static str, String)> {
        let (m, t, p) = (self.argon2_memory_kib.get(), self.argon2_passes.get(), self.argon2_lanes.get());
        if m > MAX_ARGON2_MEMORY_KIB {
            return Some(("argon2_memory_kib", format!("above {MAX_ARGON2_MEMORY_KIB}")));
        }
        if t > MAX_ARGON2_PASSES {
            return Some(("argon2_passes", format!("above {MAX_ARGON2_PASSES}")));
        }
        if p > MAX_ARGON2_LANES {
            return Some(("argon2_lanes", format!("above {MAX_ARGON2_LANES}")));
        }
        if m < 8 * p {
            return Some(("argon2_memory_kib", format!("below 8 KiB per lane ({})", 8 * p)));
        }
        if u64::from(m) * u64::from(t) > MAX_ARGON2_WORK_KIB {
            return Some(("argon2_passes", format!("memory x passes above {MAX_ARGON2_WORK_KIB} KiB")));
        }
        None
    }

    /// A copy with passwords in the URLs replaced by `****`, fit for printing.
    pub fn redacted(&self) -> Database {
        let mut db = self.clone();
        db.url = UrlList(db.url.0.iter().map(|u| redact_url(u)).collect());
        db
    }
}

/// `url` with its password replaced by `****`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:****@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// One URL or a list of them in the file; always a list in memory.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(transparent)]
pub struct UrlList(pub Vec<String>);

impl<'de> Deserialize<'de> for UrlList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let urls = match OneOrMany::deserialize(d)? {
            OneOrMany::One(u) => vec![u],
            OneOrMany::Many(v) => v,
        };
        if urls.is_empty() {
            return Err(serde::de::Error::custom("at least one database URL is needed"));
        }
        let sqlite = urls.iter().filter(|u| u.starts_with("sqlite:")).count();
        if sqlite > 0 && urls.len() > 1 {
            return Err(serde::de::Error::custom("fail-over lists are for MariaDB URLs only"));
        }
        for u in &urls {
            if !(u.starts_with("sqlite:") || u.starts_with("mysql://") || u.starts_with("mariadb://")) {
                return Err(serde::de::Error::custom(format!(
                    "`{u}` is neither a mysql:// nor a sqlite: URL"
                )));
            }
        }
        Ok(UrlList(urls))
    }
}

/// Where Maildir paths come from.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MaildirSource {
    /// `maildir_template`, expanded per user (Dovecot `mail_location` style).
    Template,
    /// postfixadmin's `mailbox.maildir` column, relative to `mail_root`.
    Column,
}

crate::section! {
    /// SQL overrides. Placeholders `%u` (whole address), `%n` (local part), `%d` (domain) and `%s`
    /// (the lookup key) become bound parameters; they are never spliced into the SQL text.
    /// Each query's result columns are named in its documentation.
    pub struct Queries {
        /// Any row means the domain is ours (column `domain`).
        pub domain: Option<String> = None,
        /// The target of an alias domain (column `target_domain`).
        pub alias_domain: Option<String> = None,
        /// A mailbox: columns `username`, `maildir`, `quota`.
        pub mailbox: Option<String> = None,
        /// An alias: column `goto`, comma-separated targets.
        pub alias: Option<String> = None,
        /// A password: columns `username`, `password`, `active`.
        pub password: Option<String> = None,
        /// Owners of a sender address: column `username` (Postfix `smtpd_sender_login_maps`).
        pub sender_login: Option<String> = None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(redact_url("mysql://mail:secret@db1:3306/mail"), "mysql://mail:****@db1:3306/mail");
        assert_eq!(redact_url("mysql://mail@db1/mail"), "mysql://mail@db1/mail");
        assert_eq!(redact_url("sqlite:///var/lib/x.db"), "sqlite:///var/lib/x.db");
    }
}
