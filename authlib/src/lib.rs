//! authlib: who our users are and whether their password is right.
//!
//! Virtual domains, mailboxes, aliases and sender rights read from a postfixadmin-schema
//! database (MariaDB, or SQLite as the embedded default), and Dovecot's `{SCHEME}` password
//! hashes. Every lookup answers found, not found, or temporarily unavailable
//! ([`Lookup`]); the third must become a 4xx upstream, never "unknown user".

mod admin;
mod admins;
mod authenticator;
mod cache;
mod db;
mod directory;
mod greylist;
mod ldap;
mod lookup;
mod maildir;
pub mod metrics;
pub mod password;
mod query;
mod resolve;
mod verified;

pub use admin::{AdminError, AliasDomainInfo, AliasInfo, DomainInfo, UserInfo};
pub use admins::{AdminInfo, DomainSettings, DomainUsage, QUOTA_MULTIPLIER, limit_allows};
pub use authenticator::{AuthResult, Authenticator};
pub use db::Backend;
pub use directory::{Directory, Mailbox, Rejection, Verdict};
pub use greylist::{Passes, Seen, Triplet};
pub use lookup::{Lookup, Unavailable};
pub use resolve::Target;
