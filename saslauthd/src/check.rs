//! The password check both protocols share: realm handling, authlib (with its verified-password
//! cache), throttling, and one log line per failure with login, service and client address.

use std::time::Duration;

use authlib::{Directory, Rejection, Verdict};
use proto::Secret;

use crate::throttle::Throttle;

/// One authentication request, whichever protocol carried it.
#[derive(Debug)]
pub struct Ask<'a> {
    /// Login as sent.
    pub login: &'a str,
    /// Realm as sent (cyrus); empty when none.
    pub realm: &'a str,
    /// Service (`smtp`, `imap`, ...).
    pub service: &'a str,
    /// Client address, when the client told us.
    pub client: Option<&'a str>,
    /// The password.
    pub password: &'a Secret,
}

/// The answer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Right password: the canonical user name.
    Ok(String),
    /// Wrong password, unknown or inactive user, unusable hash: one answer for all.
    No,
    /// The directory could not answer; try again later.
    TempFail,
}

/// Checks passwords through authlib.
pub struct Checker {
    dir: Directory,
    throttle: Throttle,
    join_realm: bool,
    default_realm: String,
}

impl Checker {
    /// A checker for the `[saslauthd]` settings.
    pub fn new(dir: Directory, cfg: &config::Saslauthd) -> Checker {
        let ms = Duration::from_millis;
        Checker {
            dir,
            throttle: Throttle::new(
                ms(cfg.throttle_base_ms),
                ms(cfg.throttle_max_ms),
                Duration::from_secs(cfg.throttle_window),
            ),
            join_realm: cfg.join_realm,
            default_realm: cfg.default_realm.clone(),
        }
    }

    /// The login authlib sees: as sent when it has a domain, else joined with the realm
    /// (cyrus `-r`), else with the default realm.
    pub fn full_login(&self, login: &str, realm: &str) -> String {
        if login.contains('@') {
            login.to_string()
        } else if self.join_realm && !realm.is_empty() {
            format!("{login}@{realm}")
        } else if !self.default_realm.is_empty() {
            format!("{login}@{}", self.default_realm)
        } else {
            login.to_string()
        }
    }

    /// Check a request. The returned delay is how long to wait before answering a failure.
    pub async fn check(&self, ask: Ask<'_>) -> (Answer, Duration) {
        let login = self.full_login(ask.login, ask.realm);
        // The login is the client's: a newline in it must not start a forged log line (which
        // fail2ban would believe), so the logs show it printable.
        let shown = proto::sasl::printable(&login);
        let client = ask.client.unwrap_or("-");
        let reason = match self.dir.authenticate(&login, ask.password).await {
            Ok(Verdict::Accepted(user)) => {
                let user = user.to_string();
                self.throttle.success(&login);
                tracing::info!(user = %user, service = %ask.service, client = %client, "authenticated");
                return (Answer::Ok(user), Duration::ZERO);
            }
            Ok(Verdict::Rejected(Rejection::UnknownUser)) => "unknown or inactive user".to_string(),
            Ok(Verdict::Rejected(Rejection::WrongPassword)) => "wrong password".to_string(),
            Ok(Verdict::Rejected(Rejection::BadHash(scheme))) => format!("unusable password hash ({scheme})"),
            Err(e) => {
                tracing::error!(user = %shown, service = %ask.service, client = %client, error = %e,
                    "authentication temporarily failed");
                return (Answer::TempFail, Duration::ZERO);
            }
        };
        let mut keys = vec![login.as_str()];
        if let Some(c) = ask.client.filter(|c| !c.is_empty()) {
            keys.push(c);
        }
        let delay = self.throttle.failure(&keys);
        tracing::warn!(user = %shown, service = %ask.service, client = %client, reason = %reason,
            delay_ms = delay.as_millis() as u64, "authentication failed");
        (Answer::No, delay)
    }
}
