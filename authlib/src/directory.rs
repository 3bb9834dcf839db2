//! The directory: domains, mailboxes, passwords and sender rights, read from SQL.

use std::path::PathBuf;

use sqlx::any::AnyRow;

use proto::{Address, Domain, Secret};

use crate::cache::RowCache;
use crate::db::{Backend, Db, Query, number, text};
use crate::query::{self, Key, expand};
use crate::verified::VerifiedCache;
use crate::{Lookup, Unavailable};
use password::Scheme;

/// A virtual mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Its address (`mailbox.username`).
    pub address: Address,
    /// Absolute path of its Maildir, inside the mail root.
    pub maildir: PathBuf,
    /// Quota in bytes; 0 means no limit.
    pub quota: u64,
}

/// The outcome of a password check that reached the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Right password for an active mailbox: the canonical user name.
    Accepted(Address),
    /// Refused; the reason is for logs only, clients get one generic answer.
    Rejected(Rejection),
}

/// Why a login was refused (for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not an address, no such mailbox, or the mailbox is inactive.
    UnknownUser,
    /// The password does not match.
    WrongPassword,
    /// The stored hash uses an unknown scheme or is malformed (scheme named).
    BadHash(String),
}

/// Users, domains and aliases from a postfixadmin-schema database.
pub struct Directory {
    pub(crate) db: Db,
    pub(crate) cfg: config::Database,
    default_scheme: Scheme,
    cache: RowCache,
    verified: Option<VerifiedCache>,
    /// Set with `backend = "ldap"`: every lookup then answers from LDAP.
    pub(crate) ldap: Option<crate::ldap::LdapDir>,
}

impl Directory {
    /// Open pools for the configured URLs. Nothing connects yet: a database that is down now
    /// makes lookups answer "unavailable" until it is back, without a restart.
    pub fn open(cfg: &config::Database) -> Result<Directory, Unavailable> {
        let default_scheme = Scheme::from_name(&cfg.default_pass_scheme).ok_or_else(|| {
            Unavailable(format!("default_pass_scheme: unknown scheme {}", cfg.default_pass_scheme))
        })?;
        let cache = RowCache::new(std::time::Duration::from_secs(cfg.cache_ttl));
        let verified = VerifiedCache::new(
            std::time::Duration::from_secs(cfg.password_cache_ttl),
            cfg.password_cache_size.get(),
        );
        let ldap = match cfg.backend {
            config::DirectoryBackend::Sql => None,
            config::DirectoryBackend::Ldap => Some(crate::ldap::LdapDir::open(&cfg.ldap)?),
        };
        Ok(Directory { db: Db::open(cfg)?, cfg: cfg.clone(), default_scheme, cache, verified, ldap })
    }

    /// Is the directory LDAP (read-only for the admin commands)?
    pub fn is_ldap(&self) -> bool {
        self.ldap.is_some()
    }

    /// SQLite or MariaDB.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Hash a new password with the configured scheme cost (`argon2_*`), on the blocking pool.
    pub async fn hash_password(
        &self,
        password: Secret,
        scheme: Scheme,
    ) -> Result<String, password::HashError> {
        let cost = password::Argon2Cost::of(&self.cfg);
        tokio::task::spawn_blocking(move || password::hash_with(&password, scheme, cost))
            .await
            .map_err(|e| password::HashError::Failed(format!("hashing task: {e}")))?
    }

    /// Logins accepted from the verified-password cache since this directory was opened.
    pub fn password_cache_hits(&self) -> u64 {
        self.verified.as_ref().map_or(0, VerifiedCache::hits)
    }

    /// The configuration this directory was opened with.
    pub fn config(&self) -> &config::Database {
        &self.cfg
    }

    /// Create postfixadmin's tables where they are missing; existing tables are not touched.
    pub async fn migrate(&self) -> Result<(), Unavailable> {
        if self.ldap.is_some() {
            return Ok(());
        }
        self.db.migrate().await
    }

    /// The database server's version.
    pub async fn server_version(&self) -> Result<String, Unavailable> {
        if let Some(l) = &self.ldap {
            return l.server_version().await;
        }
        self.db.server_version().await
    }

    fn sql<'a>(&'a self, custom: &'a Option<String>, default: &'static str) -> &'a str {
        custom.as_deref().unwrap_or(default)
    }

    /// One row for a lookup, through the cache of found rows when `cache_ttl` is set.
    async fn one(&self, template: &str, key: Key<'_>) -> Result<Option<AnyRow>, Unavailable> {
        self.cached(template, key, false).await
    }

    /// [`Self::one`], keeping a miss in the cache too when `keep_misses`.
    async fn cached(
        &self,
        template: &str,
        key: Key<'_>,
        keep_misses: bool,
    ) -> Result<Option<AnyRow>, Unavailable> {
        if let Some(answer) = self.cache.get(template, key.s) {
            return Ok(answer);
        }
        let row = self.db.fetch_optional(&expand(template, &key)).await?;
        if row.is_some() || keep_misses {
            self.cache.put(template, key.s, row.as_ref());
        }
        Ok(row)
    }

    /// Is `domain` ours? Returns the canonical domain: the target of an active alias domain
    /// whose target is an active local domain, else itself when it is an active local domain.
    /// The alias mapping is asked even for a domain with its own row, because postfixadmin gives
    /// every alias domain its own `domain` row too.
    pub async fn local_domain(&self, domain: &Domain) -> Lookup<Domain> {
        if let Some(l) = &self.ldap {
            return l.local_domain(domain).await;
        }
        let q = &self.cfg.queries;
        let own = self
            .one(self.sql(&q.domain, query::default::DOMAIN), Key { s: domain.as_str(), addr: None })
            .await?;
        // Asked for every domain, so "not an alias domain" is cached too (see `cache`).
        let alias_sql = self.sql(&q.alias_domain, query::default::ALIAS_DOMAIN);
        let target = match self.cached(alias_sql, Key { s: domain.as_str(), addr: None }, true).await {
            Ok(Some(row)) => text(&row, 0)?.and_then(|t| Domain::parse(&t).ok()),
            Ok(None) => None,
            // The database just answered for the domain row, so this is a schema without
            // postfixadmin's alias_domain table (older tutorials'): the domain is simply ours.
            Err(e) if own.is_some() => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| tracing::warn!(error = %e.0, "alias-domain query fails; domains are taken as they are"));
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(target) = target {
            // The mapping counts only while its target is itself an active local domain.
            let key = Key { s: target.as_str(), addr: None };
            if self.one(self.sql(&q.domain, query::default::DOMAIN), key).await?.is_some() {
                return Ok(Some(target));
            }
        }
        Ok(own.map(|_| domain.clone()))
    }

    /// The active mailbox whose user name is exactly `addr` (no alias or subaddress handling).
    pub async fn mailbox(&self, addr: &Address) -> Lookup<Mailbox> {
        if let Some(l) = &self.ldap {
            return self.ldap_mailbox(l, addr).await;
        }
        let key = Key { s: &addr.to_string(), addr: Some(addr) };
        let Some(row) = self.one(self.sql(&self.cfg.queries.mailbox, query::default::MAILBOX), key).await?
        else {
            return Ok(None);
        };
        let column = text(&row, "maildir").ok().flatten();
        Ok(Some(Mailbox {
            address: addr.clone(),
            maildir: crate::maildir::path(&self.cfg, addr, column.as_deref())?,
            quota: number(&row, "quota")?.max(0) as u64,
        }))
    }

    /// The `goto` of an active alias row (`address` may be `@domain`), split on commas.
    pub(crate) async fn alias(&self, address: &str, addr: Option<&Address>) -> Lookup<Vec<String>> {
        if let Some(l) = &self.ldap {
            let c = &l.cfg;
            let found = l.table(&c.alias_query_filter, &c.alias_result_attribute, address).await?;
            return Ok(found.map(|v| v.iter().flat_map(|s| split_list(s)).collect()));
        }
        let key = Key { s: address, addr };
        let Some(row) = self.one(self.sql(&self.cfg.queries.alias, query::default::ALIAS), key).await? else {
            return Ok(None);
        };
        Ok(Some(split_list(&text(&row, 0)?.unwrap_or_default())))
    }

    /// May the authenticated `login` use `sender` as envelope sender? True when the login owns
    /// the address (its own mailbox, an alias pointing at it, or either through an alias
    /// domain or with a subaddress), like Postfix's `reject_sender_login_mismatch`.
    pub async fn may_send_as(&self, login: &Address, sender: &Address) -> Result<bool, Unavailable> {
        let Some(domain) = self.local_domain(sender.domain()).await? else {
            return Ok(false);
        };
        let (base, _) = sender.with_domain(&domain).split_detail(&self.cfg.recipient_delimiter);
        let s = base.to_string();
        if let Some(l) = &self.ldap {
            let c = &l.cfg;
            let owners = l.table(&c.sender_login_query_filter, &c.sender_login_result_attribute, &s).await?;
            let owners = owners.unwrap_or_default();
            return Ok(owners
                .iter()
                .flat_map(|o| split_list(o))
                .any(|o| Address::parse(&o).is_ok_and(|o| &o == login)));
        }
        let q = expand(
            self.sql(&self.cfg.queries.sender_login, query::default::SENDER_LOGIN),
            &Key { s: &s, addr: Some(&base) },
        );
        for row in self.db.fetch_all(&q).await? {
            let owners = split_list(&text(&row, 0)?.unwrap_or_default());
            if owners.iter().any(|o| Address::parse(o).is_ok_and(|o| &o == login)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Check a login and password. Only a database that cannot answer is an error; everything
    /// else, including a malformed stored hash, is a rejection. The row is read every time; the
    /// hash is computed only when this password has not matched this very stored hash within
    /// `password_cache_ttl` (a wrong password never matches a remembered one).
    pub async fn authenticate(&self, login: &str, password: &Secret) -> Result<Verdict, Unavailable> {
        let Ok(addr) = Address::parse(login) else {
            return Ok(Verdict::Rejected(Rejection::UnknownUser));
        };
        let (user, hash) = if let Some(l) = &self.ldap {
            if l.cfg.auth_bind {
                return Ok(match l.auth_bind(&addr, password).await? {
                    Some(true) => Verdict::Accepted(addr),
                    Some(false) => Verdict::Rejected(Rejection::WrongPassword),
                    None => Verdict::Rejected(Rejection::UnknownUser),
                });
            }
            let Some(entry) = l.user_entry(&l.cfg.pass_filter, &l.pass_attrs, &addr).await? else {
                return Ok(Verdict::Rejected(Rejection::UnknownUser));
            };
            let mut f = entry.fields(&l.pass_attrs, &addr.to_string());
            let hash = f.remove("password").unwrap_or_default();
            let user = f.get("user").and_then(|u| Address::parse(u).ok()).unwrap_or(addr);
            (user, hash)
        } else {
            let key = Key { s: &addr.to_string(), addr: Some(&addr) };
            let query = expand(self.sql(&self.cfg.queries.password, query::default::PASSWORD), &key);
            let Some(row) = self.db.fetch_optional(&query).await? else {
                return Ok(Verdict::Rejected(Rejection::UnknownUser));
            };
            let hash = text(&row, "password")?.unwrap_or_default();
            let user =
                text(&row, "username").ok().flatten().and_then(|u| Address::parse(&u).ok()).unwrap_or(addr);
            (user, hash)
        };
        let name = user.to_string();
        if self.verified.as_ref().is_some_and(|c| c.hit(&name, &hash, password)) {
            tracing::debug!(user = %name, "password matched a verified one, not hashed again");
            return Ok(Verdict::Accepted(user));
        }
        match crate::verify_password(hash.clone(), password.clone(), self.default_scheme).await {
            Ok(true) => {
                if let Some(cache) = &self.verified {
                    cache.store(&name, &hash, password);
                }
                Ok(Verdict::Accepted(user))
            }
            Ok(false) => Ok(Verdict::Rejected(Rejection::WrongPassword)),
            Err(e) => {
                let scheme = password::scheme_of(&hash, self.default_scheme)
                    .map(|s| s.name().to_string())
                    .unwrap_or_else(|_| scheme_label(&hash));
                tracing::warn!(user = %user, scheme = %scheme, error = %e, "stored password hash unusable");
                Ok(Verdict::Rejected(Rejection::BadHash(scheme)))
            }
        }
    }

    /// A mailbox from the LDAP entry `user_filter` finds, mapped with `user_attrs`.
    async fn ldap_mailbox(&self, l: &crate::ldap::LdapDir, addr: &Address) -> Lookup<Mailbox> {
        let Some(entry) = l.user_entry(&l.cfg.user_filter, &l.user_attrs, addr).await? else {
            return Ok(None);
        };
        let f = entry.fields(&l.user_attrs, &addr.to_string());
        let home = f.get("home").map(String::as_str);
        let mail = f.get("maildir").or(f.get("mail")).map(|m| {
            // Dovecot's `maildir:~/Maildir:INDEX=...`: the path only, `~` is the home.
            let m = m.strip_prefix("maildir:").unwrap_or(m);
            let m = m.split(':').next().unwrap_or(m);
            match (m.strip_prefix("~/"), home) {
                (Some(rest), Some(h)) => format!("{}/{rest}", h.trim_end_matches('/')),
                _ => m.to_string(),
            }
        });
        let dir = mail.or_else(|| home.map(|h| format!("{}/Maildir", h.trim_end_matches('/'))));
        let maildir = match dir {
            Some(d) => {
                let root = self.cfg.mail_root.as_str().trim_end_matches('/');
                let rel = d.strip_prefix(root).map(|r| r.trim_start_matches('/')).unwrap_or(&d).to_string();
                let cfg =
                    config::Database { maildir_source: config::MaildirSource::Column, ..self.cfg.clone() };
                crate::maildir::path(&cfg, addr, Some(&rel))?
            }
            None => crate::maildir::path(&self.cfg, addr, None)?,
        };
        let quota = match f.get("quota").or(f.get("quota_rule")) {
            Some(q) => crate::ldap::quota_bytes(q)
                .ok_or_else(|| Unavailable(format!("LDAP quota of {addr} unreadable: {q:?}")))?,
            None => 0,
        };
        Ok(Some(Mailbox { address: addr.clone(), maildir, quota }))
    }

    /// Run an arbitrary read for the modules of this crate.
    pub(crate) async fn fetch_all(&self, q: &Query) -> Result<Vec<AnyRow>, Unavailable> {
        self.db.fetch_all(q).await
    }
}

/// The `{SCHEME}` label of a stored hash, for logs, without the hash itself.
fn scheme_label(hash: &str) -> String {
    match hash.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((s, _)) => s.chars().take(32).collect(),
        None => "(none)".into(),
    }
}

/// postfixadmin's comma-separated lists (`alias.goto`), trimmed, empties dropped.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}
