//! The model of `/etc/mailroom/mailroom.toml`: one section per daemon plus the shared
//! `[database]`, every key with a default that works. Loading rejects unknown keys and bad
//! values with an error that names the file, the line and the key.
//!
//! This crate is pure data: each library takes the section it needs (authlib takes
//! [`Database`]) so that `mailroomctl check` can validate the whole file in one place.

mod auth;
mod database;
mod ldap;
mod load;
mod mda;
mod mode;
mod mra;
mod mta;
mod path;
mod saslauthd;
mod section;
mod tls;
mod value;
mod web;

pub use auth::AuthMethod;
pub use database::{
    Database, MAX_ARGON2_LANES, MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PASSES, MAX_ARGON2_WORK_KIB, MaildirSource,
    Queries, UrlList, redact_url,
};
pub use ldap::{DirectoryBackend, Ldap, LdapRequireCert, LdapScope};
pub use load::{ConfigError, DEFAULT_PATH, ENV_CONFIG, load, load_or_default, parse, resolve_path};
pub use mda::Mda;
pub use mode::FileMode;
pub use mra::{DOVECOT_UIDL_FORMAT, Mra, UidlFormat, check_uidl_format};
pub use mta::{BareLf, DkimKey, DmarcPolicy, DnsblAction, MilterAction, Mta, SpfFail, TlsPolicy};
pub use path::{AbsPath, OptionalPath};
pub use saslauthd::Saslauthd;
pub use section::{Key, Section};
pub use tls::Tls;
pub use web::Web;

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The user database shared by every daemon (`[database]`).
    pub database: Database,
    /// mailroom-saslauthd (`[saslauthd]`).
    pub saslauthd: Saslauthd,
    /// The certificate of every TLS listener (`[tls]`).
    pub tls: Tls,
    /// mailroom-mta (`[mta]`).
    pub mta: Mta,
    /// mailroom-mda (`[mda]`).
    pub mda: Mda,
    /// mailroom-mra (`[mra]`).
    pub mra: Mra,
    /// mailroom-web (`[web]`).
    pub web: Web,
}

/// A value that is valid alone but not with the others: `[section]`, key and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The section, as in the file (`mta`, `mta.dkim`).
    pub section: &'static str,
    /// The key whose value is wrong.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Config {
    /// The invariants between keys, checked when the file is loaded (each key's own bounds are
    /// in its type: non-zero counts, absolute paths, socket addresses).
    pub fn conflicts(&self) -> Option<Conflict> {
        let conflict = |section, key, message: String| Some(Conflict { section, key, message });
        if self.tls.cert.is_empty() != self.tls.key.is_empty() {
            let key = if self.tls.cert.is_empty() { "key" } else { "cert" };
            return conflict("tls", key, "cert and key go together: set both or neither".into());
        }
        if let Some((key, message)) = self.database.argon2_conflict() {
            return conflict("database", key, message);
        }
        if self.mta.min_backoff > self.mta.max_backoff {
            return conflict("mta", "max_backoff", format!("below min_backoff ({})", self.mta.min_backoff));
        }
        if self.mta.greylist && self.database.backend == DirectoryBackend::Ldap {
            let message = "greylisting keeps its tables in SQL: needs [database] backend = \"sql\"".into();
            return conflict("mta", "greylist", message);
        }
        if !self.mta.srs_domain.is_empty() && self.mta.srs_secret_file.is_empty() {
            return conflict("mta", "srs_secret_file", "srs_domain needs a secret file".into());
        }
        if self.saslauthd.throttle_base_ms > self.saslauthd.throttle_max_ms {
            let base = self.saslauthd.throttle_base_ms;
            return conflict("saslauthd", "throttle_max_ms", format!("below throttle_base_ms ({base})"));
        }
        if !self.mda.lmtp_tcp.is_empty() && self.mda.lmtp_tcp.parse::<std::net::SocketAddr>().is_err() {
            let message = format!("`{}` is not an address and port such as 127.0.0.1:24", self.mda.lmtp_tcp);
            return conflict("mda", "lmtp_tcp", message);
        }
        if self.web.throttle_base_ms > self.web.throttle_max_ms {
            let base = self.web.throttle_base_ms;
            return conflict("web", "throttle_max_ms", format!("below throttle_base_ms ({base})"));
        }
        None
    }

    /// The effective configuration as TOML, every key included (like `postconf`/`doveconf`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config model always serialises")
    }
}
