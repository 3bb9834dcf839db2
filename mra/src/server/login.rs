//! A login: the password checked where the config says (mailroom-saslauthd by default, authlib
//! with `auth = "direct"`), then the user's Maildir from the directory. Every failure is one
//! of two answers for the client, rejected or try later, and is logged with the client address
//! in the form fail2ban matches.

use std::path::PathBuf;
use std::time::Duration;

use authlib::AuthResult;
use proto::Address;
use proto::sasl::Credentials;

use super::Context;

/// A login that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The canonical user name.
    pub name: String,
    /// The user's Maildir.
    pub maildir: PathBuf,
    /// The mailbox's limits: bytes from the directory (postfixadmin `mailbox.quota`, 0 for
    /// none); postfixadmin has no message count.
    pub quota: mailstore::Quota,
}

/// Why a login did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Wrong password, unknown user, or no mailbox: the client is told only "failed".
    Rejected,
    /// saslauthd or the directory could not answer: the client should retry later.
    TempFail,
}

/// Checks `creds` for `service` (`pop`, `imap`) from `client`.
pub async fn check(ctx: &Context, creds: &Credentials, service: &str, client: &str) -> Result<User, Failure> {
    let result = verify(ctx, creds, service, client).await;
    crate::metrics::login(service, &result);
    result
}

async fn verify(ctx: &Context, creds: &Credentials, service: &str, client: &str) -> Result<User, Failure> {
    // A name decoded from AUTH PLAIN may hold anything; it must not forge log lines, so the
    // logs show it printable while the checker gets it as sent.
    let login = &proto::sasl::printable(&creds.login);
    let name = match ctx.authenticator.check(&creds.login, &creds.password, service, Some(client)).await {
        Ok(AuthResult::Accepted(name)) => name,
        Ok(AuthResult::Rejected) => {
            tracing::info!("authentication failed user={login} service={service} client={client}");
            tokio::time::sleep(Duration::from_secs(ctx.cfg.auth_failure_delay)).await;
            return Err(Failure::Rejected);
        }
        Err(e) => {
            tracing::warn!("authentication unavailable user={login} service={service} client={client}: {e}");
            return Err(Failure::TempFail);
        }
    };
    let Ok(address) = Address::parse(&name) else {
        let name = proto::sasl::printable(&name);
        tracing::warn!("login without a domain user={name} service={service} client={client}: no mailbox");
        return Err(Failure::Rejected);
    };
    match ctx.directory.mailbox(&address).await {
        Ok(Some(mb)) => Ok(User {
            name: address.to_string(),
            maildir: mb.maildir,
            quota: mailstore::Quota { bytes: mb.quota, messages: 0 },
        }),
        Ok(None) => {
            tracing::warn!(
                "password accepted but no mailbox user={address} service={service} client={client}"
            );
            Err(Failure::Rejected)
        }
        Err(e) => {
            tracing::warn!(
                "mailbox lookup unavailable user={address} service={service} client={client}: {e}"
            );
            Err(Failure::TempFail)
        }
    }
}
