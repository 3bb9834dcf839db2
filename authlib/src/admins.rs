//! postfixadmin's administrators (`admin`, `domain_admins`), its change `log`, and the domain
//! and mailbox settings its pages edit: the writes mailroom-web and `mailroomctl admin` share,
//! in postfixadmin's conventions so postfixadmin keeps working on the same data.
//!
//! A superadmin is `admin.superadmin = 1`, or (postfixadmin before 3.0) an admin with a
//! `domain_admins` row for the domain `ALL`. Other admins manage the domains of their active
//! `domain_admins` rows.

use proto::{Address, Domain, Secret};

use crate::admin::AdminError;
use crate::db::{Query, number, text};
use crate::directory::Directory;
use crate::{Rejection, Unavailable};
use password::Scheme;

/// postfixadmin's `quota_multiplier`: domain quotas (`maxquota`, `quota`) are in these units,
/// mailbox quotas in bytes.
pub const QUOTA_MULTIPLIER: i64 = 1_024_000;

/// An administrator, without its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminInfo {
    /// `admin.username` (an address, by postfixadmin's convention).
    pub username: String,
    /// Manages every domain.
    pub superadmin: bool,
    /// `admin.active`.
    pub active: bool,
    /// The domains of its active `domain_admins` rows (lower case; `ALL` is not listed).
    pub domains: Vec<String>,
}

impl AdminInfo {
    /// May this admin see and change `domain`?
    pub fn manages(&self, domain: &str) -> bool {
        self.superadmin || self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// A domain's settings as postfixadmin's edit page shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSettings {
    /// `domain.domain`.
    pub domain: String,
    /// `description`.
    pub description: String,
    /// Most aliases: 0 unlimited, -1 none allowed.
    pub aliases: i64,
    /// Most mailboxes: 0 unlimited, -1 none allowed.
    pub mailboxes: i64,
    /// Largest quota one mailbox may have, in [`QUOTA_MULTIPLIER`] units: 0 unlimited.
    pub maxquota: i64,
    /// `active`.
    pub active: bool,
}

/// What a domain already holds, for the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainUsage {
    /// Mailboxes.
    pub mailboxes: i64,
    /// Aliases, mailboxes' self-aliases not counted.
    pub aliases: i64,
}

fn refused(msg: impl Into<String>) -> AdminError {
    AdminError::Refused(msg.into())
}

/// A postfixadmin limit (`aliases`, `mailboxes`) allows one more beside `used`?
pub fn limit_allows(limit: i64, used: i64) -> bool {
    match limit {
        0 => true,
        l if l < 0 => false,
        l => used < l,
    }
}

impl Directory {
    /// One admin, active or not.
    pub async fn admin(&self, username: &str) -> Result<Option<AdminInfo>, Unavailable> {
        let q = Query::new("SELECT username, superadmin + 0, active + 0 FROM admin WHERE username = ?")
            .text(username);
        let Some(r) = self.db.fetch_optional(&q).await? else { return Ok(None) };
        let username = text(&r, 0)?.unwrap_or_default();
        let mut info = AdminInfo {
            superadmin: number(&r, 1)? != 0,
            active: number(&r, 2)? != 0,
            domains: Vec::new(),
            username,
        };
        let q =
            Query::new("SELECT domain FROM domain_admins WHERE username = ? AND active = 1 ORDER BY domain")
                .text(&info.username);
        for r in self.db.fetch_all(&q).await? {
            let d = text(&r, 0)?.unwrap_or_default();
            if d.eq_ignore_ascii_case("ALL") {
                info.superadmin = true;
            } else {
                info.domains.push(d.to_ascii_lowercase());
            }
        }
        Ok(Some(info))
    }

    /// Check an admin's password: the admin when it matches and the admin is active. Unknown
    /// admins cost a hash verification too, so timing does not tell which names exist.
    pub async fn admin_login(
        &self,
        username: &str,
        password: &Secret,
    ) -> Result<Result<AdminInfo, Rejection>, Unavailable> {
        let q = Query::new("SELECT password FROM admin WHERE username = ? AND active = 1").text(username);
        let row = self.db.fetch_optional(&q).await?;
        let Some(row) = row else {
            let _ = crate::verify_password(dummy_hash(), password.clone(), Scheme::Crypt).await;
            return Ok(Err(Rejection::UnknownUser));
        };
        let hash = text(&row, 0)?.unwrap_or_default();
        match crate::verify_password(hash.clone(), password.clone(), Scheme::Crypt).await {
            Ok(true) => match self.admin(username).await? {
                Some(a) => Ok(Ok(a)),
                None => Ok(Err(Rejection::UnknownUser)),
            },
            Ok(false) => Ok(Err(Rejection::WrongPassword)),
            Err(_) => {
                let scheme = password::scheme_of(&hash, Scheme::Crypt)
                    .map(|s| s.name().to_string())
                    .unwrap_or_else(|_| "unknown".into());
                tracing::warn!(admin = %username, scheme = %scheme, "stored admin password hash unusable");
                Ok(Err(Rejection::BadHash(scheme)))
            }
        }
    }

    /// Add an admin with an already hashed password: a superadmin, or the admin of `domains`
    /// (each must exist).
    pub async fn add_admin(
        &self,
        username: &Address,
        hash: &str,
        superadmin: bool,
        domains: &[Domain],
    ) -> Result<(), AdminError> {
        let name = username.to_string();
        if self.admin(&name).await?.is_some() {
            return Err(refused(format!("admin {name} already exists")));
        }
        for d in domains {
            if self.domain_settings(d).await?.is_none() {
                return Err(refused(format!("unknown domain {d}")));
            }
        }
        let mut qs = vec![
            Query::new("INSERT INTO admin (username, password, superadmin) VALUES (?, ?, ?)")
                .text(&name)
                .text(hash)
                .int(i64::from(superadmin)),
        ];
        for d in domains {
            qs.push(
                Query::new("INSERT INTO domain_admins (username, domain) VALUES (?, ?)")
                    .text(&name)
                    .text(d.as_str()),
            );
        }
        self.db.transaction(&qs).await?;
        Ok(())
    }

    /// Let an existing admin also manage `domain`.
    pub async fn add_domain_admin(&self, username: &str, domain: &Domain) -> Result<(), AdminError> {
        let Some(a) = self.admin(username).await? else {
            return Err(refused(format!("no such admin {username}")));
        };
        if self.domain_settings(domain).await?.is_none() {
            return Err(refused(format!("unknown domain {domain}")));
        }
        if a.domains.iter().any(|d| d == domain.as_str()) {
            return Ok(());
        }
        let q = Query::new("INSERT INTO domain_admins (username, domain) VALUES (?, ?)")
            .text(&a.username)
            .text(domain.as_str());
        self.db.transaction(&[q]).await?;
        Ok(())
    }

    /// Delete an admin and its domain rows.
    pub async fn del_admin(&self, username: &str) -> Result<(), AdminError> {
        let counts = self
            .db
            .transaction(&[
                Query::new("DELETE FROM admin WHERE username = ?").text(username),
                Query::new("DELETE FROM domain_admins WHERE username = ?").text(username),
            ])
            .await?;
        match counts[0] {
            0 => Err(refused(format!("no such admin {username}"))),
            _ => Ok(()),
        }
    }

    /// Every admin, by name.
    pub async fn list_admins(&self) -> Result<Vec<AdminInfo>, AdminError> {
        let mut out = Vec::new();
        for r in self.db.fetch_all(&Query::new("SELECT username FROM admin ORDER BY username")).await? {
            let name = text(&r, 0)?.unwrap_or_default();
            if let Some(a) = self.admin(&name).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The admins of one domain (superadmins not included).
    pub async fn domain_admins(&self, domain: &Domain) -> Result<Vec<String>, AdminError> {
        let q = Query::new(
            "SELECT username FROM domain_admins WHERE domain = ? AND active = 1 ORDER BY username",
        )
        .text(domain.as_str());
        let mut out = Vec::new();
        for r in self.db.fetch_all(&q).await? {
            out.push(text(&r, 0)?.unwrap_or_default());
        }
        Ok(out)
    }

    /// Replace an admin's password hash.
    pub async fn set_admin_password(&self, username: &str, hash: &str) -> Result<(), AdminError> {
        let q = Query::new("UPDATE admin SET password = ?, modified = CURRENT_TIMESTAMP WHERE username = ?")
            .text(hash)
            .text(username);
        match self.db.transaction(&[q]).await?[0] {
            0 => Err(refused(format!("no such admin {username}"))),
            _ => Ok(()),
        }
    }

    /// Write one row of postfixadmin's `log`: who (`admin`, with the client address as
    /// postfixadmin writes it, `name (ip)`), in which domain, what.
    pub async fn log_change(
        &self,
        who: &str,
        domain: &str,
        action: &str,
        data: &str,
    ) -> Result<(), AdminError> {
        let q = Query::new("INSERT INTO log (username, domain, action, data) VALUES (?, ?, ?, ?)")
            .text(who)
            .text(domain)
            .text(action)
            .text(data);
        self.db.transaction(&[q]).await?;
        Ok(())
    }

    /// The newest `limit` rows of the log, of the given domains (None: all), newest first:
    /// (timestamp, username, domain, action, data).
    pub async fn log_rows(
        &self,
        domains: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<[String; 5]>, AdminError> {
        let base = "SELECT CAST(timestamp AS CHAR), username, domain, action, data FROM log";
        let q = match domains {
            None => Query::new(format!("{base} ORDER BY id DESC LIMIT ?")).int(limit),
            Some([]) => return Ok(Vec::new()),
            Some(ds) => {
                let marks = vec!["?"; ds.len()].join(", ");
                let mut q = Query::new(format!("{base} WHERE domain IN ({marks}) ORDER BY id DESC LIMIT ?"));
                for d in ds {
                    q = q.text(d);
                }
                q.int(limit)
            }
        };
        let mut out = Vec::new();
        for r in self.db.fetch_all(&q).await? {
            let col = |i| text(&r, i).map(Option::unwrap_or_default);
            out.push([col(0)?, col(1)?, col(2)?, col(3)?, col(4)?]);
        }
        Ok(out)
    }

    /// One domain's settings.
    pub async fn domain_settings(&self, domain: &Domain) -> Result<Option<DomainSettings>, Unavailable> {
        let q = Query::new(
            "SELECT domain, description, aliases, mailboxes, maxquota, active + 0 FROM domain WHERE domain = ?",
        )
        .text(domain.as_str());
        let Some(r) = self.db.fetch_optional(&q).await? else { return Ok(None) };
        Ok(Some(DomainSettings {
            domain: text(&r, 0)?.unwrap_or_default(),
            description: text(&r, 1)?.unwrap_or_default(),
            aliases: number(&r, 2)?,
            mailboxes: number(&r, 3)?,
            maxquota: number(&r, 4)?,
            active: number(&r, 5)? != 0,
        }))
    }

    /// Change a domain's description, limits and active flag.
    pub async fn set_domain(&self, s: &DomainSettings) -> Result<(), AdminError> {
        let q = Query::new(
            "UPDATE domain SET description = ?, aliases = ?, mailboxes = ?, maxquota = ?, active = ?, \
             modified = CURRENT_TIMESTAMP WHERE domain = ?",
        )
        .text(&s.description)
        .int(s.aliases)
        .int(s.mailboxes)
        .int(s.maxquota)
        .int(i64::from(s.active))
        .text(&s.domain);
        match self.db.transaction(&[q]).await?[0] {
            0 => Err(refused(format!("no such domain {}", s.domain))),
            _ => Ok(()),
        }
    }

    /// How many mailboxes and aliases a domain has.
    pub async fn domain_usage(&self, domain: &Domain) -> Result<DomainUsage, Unavailable> {
        let q = Query::new(
            "SELECT (SELECT COUNT(*) FROM mailbox WHERE domain = ?), \
             (SELECT COUNT(*) FROM alias a WHERE a.domain = ? AND NOT EXISTS \
               (SELECT 1 FROM mailbox m WHERE m.username = a.address))",
        )
        .text(domain.as_str())
        .text(domain.as_str());
        let r = self.db.fetch_optional(&q).await?.ok_or_else(|| Unavailable("no count row".into()))?;
        Ok(DomainUsage { mailboxes: number(&r, 0)?, aliases: number(&r, 1)? })
    }

    /// Set a mailbox's quota in bytes (0 = none).
    pub async fn set_user_quota(&self, addr: &Address, quota: u64) -> Result<(), AdminError> {
        let quota = i64::try_from(quota).map_err(|_| refused("quota too large"))?;
        self.update_mailbox(addr, "quota = ?", quota).await
    }

    /// Enable or disable a mailbox (lookups and logins ignore disabled ones).
    pub async fn set_user_active(&self, addr: &Address, active: bool) -> Result<(), AdminError> {
        self.update_mailbox(addr, "active = ?", i64::from(active)).await
    }

    async fn update_mailbox(&self, addr: &Address, set: &str, v: i64) -> Result<(), AdminError> {
        let q =
            Query::new(format!("UPDATE mailbox SET {set}, modified = CURRENT_TIMESTAMP WHERE username = ?"))
                .int(v)
                .text(addr.to_string());
        match self.db.transaction(&[q]).await?[0] {
            0 => Err(refused(format!("no such user {addr}"))),
            _ => Ok(()),
        }
    }
}

/// A SHA512-CRYPT hash of a random password (postfixadmin's usual scheme), verified for
/// unknown admins so that they take about as long as known ones.
fn dummy_hash() -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let random: [u8; 16] = rand::random();
        password::hash(&Secret::new(hex::encode(random)), Scheme::Sha512Crypt).unwrap_or_default()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::limit_allows;

    #[test]
    fn postfixadmin_limits() {
        assert!(limit_allows(0, 1_000_000));
        assert!(!limit_allows(-1, 0));
        assert!(limit_allows(2, 1));
        assert!(!limit_allows(2, 2));
    }
}
