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

use password::{HashError, Scheme};
use proto::Secret;

/// [`password::verify`] for a login: the digest schemes (microseconds of CPU) on the caller's
/// thread, the crypt family (argon2, bcrypt, SHA-crypt: milliseconds) on tokio's blocking pool
/// so they do not stall the other sessions.
pub async fn verify_password(stored: String, password: Secret, default: Scheme) -> Result<bool, HashError> {
    if !password::scheme_of(&stored, default)?.is_crypt() {
        return password::verify(&stored, &password, default);
    }
    tokio::task::spawn_blocking(move || password::verify(&stored, &password, default))
        .await
        .map_err(|e| HashError::Failed(format!("verification task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verify_password_inline_and_on_the_pool() {
        for scheme in [Scheme::Ssha512, Scheme::Argon2id] {
            let stored = password::hash(&Secret::from("pw"), scheme).unwrap();
            assert!(verify_password(stored.clone(), Secret::from("pw"), Scheme::Plain).await.unwrap());
            assert!(!verify_password(stored, Secret::from("px"), Scheme::Plain).await.unwrap());
        }
        assert!(verify_password("{X}".into(), Secret::from("pw"), Scheme::Plain).await.is_err());
    }
}
