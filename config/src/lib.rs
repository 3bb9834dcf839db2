//! The model of `/etc/mailroom/mailroom.toml`: one section per daemon plus the shared
//! `[database]`, every key with a default that works. Loading rejects unknown keys and bad
//! values with an error that names the file, the line and the key.
//!
//! This crate is pure data: each library takes the section it needs (authlib takes
//! [`Database`]) so that `mailroomctl check` can validate the whole file in one place.

mod auth;
mod database;
mod load;
mod mda;
mod mode;
mod mra;
mod mta;
mod saslauthd;
mod tls;

pub use auth::AuthMethod;
pub use database::{Database, MaildirSource, Queries, UrlList, redact_url};
pub use load::{ConfigError, DEFAULT_PATH, ENV_CONFIG, load, load_or_default, parse, resolve_path};
pub use mda::Mda;
pub use mode::FileMode;
pub use mra::{DOVECOT_UIDL_FORMAT, Mra, UidlFormat, check_uidl_format};
pub use mta::{BareLf, DkimKey, Mta, TlsPolicy};
pub use saslauthd::Saslauthd;
pub use tls::Tls;

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
}

impl Config {
    /// The effective configuration as TOML, every key included (like `postconf`/`doveconf`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config model always serialises")
    }
}
