//! Writes and listings for the admin tool, in postfixadmin's conventions (a mailbox also gets
//! its self-alias row; maildir `domain/local/`), so postfixadmin keeps working on the same data.

use crate::Unavailable;
use crate::db::{DbError, Query, number, text};
use crate::directory::{Directory, split_list};
use proto::{Address, Domain};

/// Why an admin change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The database cannot be reached.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// The change contradicts what is there (duplicate, unknown domain, ...).
    #[error("{0}")]
    Refused(String),
}

impl From<DbError> for AdminError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(u) => AdminError::Unavailable(u),
            DbError::Constraint(m) => AdminError::Refused(format!("already exists ({m})")),
        }
    }
}

/// A row of `domain list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainInfo {
    /// The domain.
    pub domain: String,
    /// Active flag.
    pub active: bool,
    /// Number of mailboxes.
    pub mailboxes: i64,
    /// Number of alias rows (self-aliases included, as postfixadmin counts).
    pub aliases: i64,
}

/// A row of `user list` / `user show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// `mailbox.username`.
    pub username: String,
    /// `mailbox.name`.
    pub name: String,
    /// `mailbox.maildir` as stored.
    pub maildir: String,
    /// Quota in bytes, 0 = none.
    pub quota: i64,
    /// Active flag.
    pub active: bool,
    /// The scheme of the stored hash (never the hash).
    pub scheme: String,
}

/// A row of `alias list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasInfo {
    /// `alias.address` (`@domain` for a catch-all).
    pub address: String,
    /// Targets.
    pub goto: Vec<String>,
    /// Active flag.
    pub active: bool,
}

/// A row of postfixadmin's `alias_domain`: mail to `user@alias_domain` goes to
/// `user@target_domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasDomainInfo {
    /// `alias_domain`.
    pub alias_domain: String,
    /// `target_domain`.
    pub target_domain: String,
    /// Active flag.
    pub active: bool,
}

fn refused(msg: impl Into<String>) -> AdminError {
    AdminError::Refused(msg.into())
}

const USER_COLUMNS: &str = "SELECT username, name, maildir, quota, active + 0, password FROM mailbox";

/// What the admin commands answer when the directory is LDAP.
pub const LDAP_READ_ONLY: &str = "the directory is LDAP: read-only here (change users in the LDAP server)";

impl Directory {
    /// Admin commands work on postfixadmin's tables only.
    fn sql_only(&self) -> Result<(), AdminError> {
        if self.is_ldap() { Err(refused(LDAP_READ_ONLY)) } else { Ok(()) }
    }

    async fn exists(&self, sql: &str, key: &str) -> Result<bool, Unavailable> {
        Ok(!self.fetch_all(&Query::new(sql).text(key)).await?.is_empty())
    }

    async fn require_domain(&self, domain: &Domain) -> Result<(), AdminError> {
        if self.exists("SELECT domain FROM domain WHERE domain = ?", domain.as_str()).await? {
            Ok(())
        } else {
            Err(refused(format!("unknown domain {domain}")))
        }
    }

    /// Add a domain.
    pub async fn add_domain(&self, domain: &Domain, description: &str) -> Result<(), AdminError> {
        self.sql_only()?;
        if self.exists("SELECT domain FROM domain WHERE domain = ?", domain.as_str()).await? {
            return Err(refused(format!("domain {domain} already exists")));
        }
        let q = Query::new("INSERT INTO domain (domain, description) VALUES (?, ?)")
            .text(domain.as_str())
            .text(description);
        self.db.transaction(&[q]).await?;
        Ok(())
    }

    /// Delete a domain that has no mailboxes or aliases left (its alias-domain rows go too).
    pub async fn del_domain(&self, domain: &Domain) -> Result<(), AdminError> {
        self.sql_only()?;
        self.require_domain(domain).await?;
        for (table, what) in [("mailbox", "mailboxes"), ("alias", "aliases")] {
            let sql = format!("SELECT domain FROM {table} WHERE domain = ?");
            if self.exists(&sql, domain.as_str()).await? {
                return Err(refused(format!("domain {domain} still has {what}; delete them first")));
            }
        }
        let d = domain.as_str();
        self.db
            .transaction(&[
                Query::new("DELETE FROM alias_domain WHERE alias_domain = ? OR target_domain = ?")
                    .text(d)
                    .text(d),
                Query::new("DELETE FROM domain_admins WHERE domain = ?").text(d),
                Query::new("DELETE FROM domain WHERE domain = ?").text(d),
            ])
            .await?;
        Ok(())
    }

    /// All domains with their counts.
    pub async fn list_domains(&self) -> Result<Vec<DomainInfo>, AdminError> {
        self.sql_only()?;
        let q = Query::new(
            "SELECT d.domain, d.active + 0, \
             (SELECT COUNT(*) FROM mailbox m WHERE m.domain = d.domain), \
             (SELECT COUNT(*) FROM alias a WHERE a.domain = d.domain) \
             FROM domain d ORDER BY d.domain",
        );
        let mut out = Vec::new();
        for r in self.fetch_all(&q).await? {
            out.push(DomainInfo {
                domain: text(&r, 0)?.unwrap_or_default(),
                active: number(&r, 1)? != 0,
                mailboxes: number(&r, 2)?,
                aliases: number(&r, 3)?,
            });
        }
        Ok(out)
    }

    /// Add a mailbox with an already hashed password, and its self-alias row.
    pub async fn add_user(
        &self,
        addr: &Address,
        hash: &str,
        quota: u64,
        name: &str,
    ) -> Result<(), AdminError> {
        self.sql_only()?;
        self.require_domain(addr.domain()).await?;
        let a = addr.to_string();
        if self.exists("SELECT username FROM mailbox WHERE username = ?", &a).await? {
            return Err(refused(format!("user {a} already exists")));
        }
        if self.exists("SELECT address FROM alias WHERE address = ?", &a).await? {
            return Err(refused(format!("{a} is already an alias")));
        }
        let quota = i64::try_from(quota).map_err(|_| refused("quota too large"))?;
        let maildir = format!("{}/{}/", addr.domain(), addr.local());
        let d = addr.domain().as_str();
        self.db
            .transaction(&[
                Query::new(
                    "INSERT INTO mailbox (username, password, name, maildir, quota, local_part, domain) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .text(&a)
                .text(hash)
                .text(name)
                .text(maildir)
                .int(quota)
                .text(addr.local())
                .text(d),
                Query::new("INSERT INTO alias (address, goto, domain) VALUES (?, ?, ?)")
                    .text(&a)
                    .text(&a)
                    .text(d),
            ])
            .await?;
        Ok(())
    }

    /// Replace a mailbox's password hash.
    pub async fn set_password(&self, addr: &Address, hash: &str) -> Result<(), AdminError> {
        self.sql_only()?;
        let q =
            Query::new("UPDATE mailbox SET password = ?, modified = CURRENT_TIMESTAMP WHERE username = ?")
                .text(hash)
                .text(addr.to_string());
        match self.db.transaction(&[q]).await?[0] {
            0 => Err(refused(format!("no such user {addr}"))),
            _ => Ok(()),
        }
    }

    /// Delete a mailbox and its self-alias row (its files are left alone).
    pub async fn del_user(&self, addr: &Address) -> Result<(), AdminError> {
        self.sql_only()?;
        let a = addr.to_string();
        let counts = self
            .db
            .transaction(&[
                Query::new("DELETE FROM mailbox WHERE username = ?").text(&a),
                Query::new("DELETE FROM alias WHERE address = ? AND goto = ?").text(&a).text(&a),
            ])
            .await?;
        if counts[0] == 0 {
            return Err(refused(format!("no such user {a}")));
        }
        Ok(())
    }

    /// Mailboxes, of one domain or all.
    pub async fn list_users(&self, domain: Option<&Domain>) -> Result<Vec<UserInfo>, AdminError> {
        self.sql_only()?;
        let q = match domain {
            Some(d) => {
                Query::new(format!("{USER_COLUMNS} WHERE domain = ? ORDER BY username")).text(d.as_str())
            }
            None => Query::new(format!("{USER_COLUMNS} ORDER BY username")),
        };
        self.user_rows(&q).await
    }

    /// One page of a domain's mailboxes (`limit` rows from `offset`, by address), and how
    /// many it has in all.
    pub async fn list_users_page(
        &self,
        domain: &Domain,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<UserInfo>, i64), AdminError> {
        self.sql_only()?;
        let d = domain.as_str();
        // The skipped rows come from the (domain, username) index alone; only the page's rows
        // are read in full (a deep OFFSET read every skipped row on MariaDB).
        let q = Query::new(format!(
            "{USER_COLUMNS} WHERE username IN (SELECT username FROM (SELECT username FROM mailbox \
             WHERE domain = ? ORDER BY username LIMIT ? OFFSET ?) p) ORDER BY username"
        ))
        .text(d)
        .int(limit)
        .int(offset);
        let count = Query::new("SELECT COUNT(*) FROM mailbox WHERE domain = ?").text(d);
        Ok((self.user_rows(&q).await?, self.count(&count).await?))
    }

    async fn count(&self, q: &Query) -> Result<i64, AdminError> {
        match self.fetch_all(q).await?.first() {
            Some(r) => Ok(number(r, 0)?),
            None => Ok(0),
        }
    }

    async fn user_rows(&self, q: &Query) -> Result<Vec<UserInfo>, AdminError> {
        let mut out = Vec::new();
        for r in self.fetch_all(q).await? {
            let hash = text(&r, 5)?.unwrap_or_default();
            let scheme = password::scheme_of(&hash, password::Scheme::Crypt)
                .map(|s| s.name().to_string())
                .unwrap_or_else(|_| "unknown".into());
            out.push(UserInfo {
                username: text(&r, 0)?.unwrap_or_default(),
                name: text(&r, 1)?.unwrap_or_default(),
                maildir: text(&r, 2)?.unwrap_or_default(),
                quota: number(&r, 3)?,
                active: number(&r, 4)? != 0,
                scheme,
            });
        }
        Ok(out)
    }

    /// One mailbox, active or not.
    pub async fn show_user(&self, addr: &Address) -> Result<Option<UserInfo>, AdminError> {
        self.sql_only()?;
        let q = Query::new(format!("{USER_COLUMNS} WHERE username = ?")).text(addr.to_string());
        Ok(self.user_rows(&q).await?.pop())
    }

    /// Add an alias (`address` may be `@domain`, a catch-all) in one of our domains.
    pub async fn add_alias(&self, address: &str, targets: &[Address]) -> Result<(), AdminError> {
        self.sql_only()?;
        let (key, domain) = alias_key(address)?;
        self.require_domain(&domain).await?;
        if targets.is_empty() {
            return Err(refused("an alias needs at least one target"));
        }
        if self.exists("SELECT address FROM alias WHERE address = ?", &key).await? {
            return Err(refused(format!("alias {key} already exists")));
        }
        let goto = targets.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let q = Query::new("INSERT INTO alias (address, goto, domain) VALUES (?, ?, ?)")
            .text(&key)
            .text(goto)
            .text(domain.as_str());
        self.db.transaction(&[q]).await?;
        Ok(())
    }

    /// Delete an alias (not a mailbox's self-alias: delete the user for that).
    pub async fn del_alias(&self, address: &str) -> Result<(), AdminError> {
        self.sql_only()?;
        let (key, _) = alias_key(address)?;
        if self.exists("SELECT username FROM mailbox WHERE username = ?", &key).await? {
            return Err(refused(format!("{key} is a mailbox; use `user del`")));
        }
        match self.db.transaction(&[Query::new("DELETE FROM alias WHERE address = ?").text(&key)]).await?[0] {
            0 => Err(refused(format!("no such alias {key}"))),
            _ => Ok(()),
        }
    }

    /// One page of a domain's aliases (`limit` rows from `offset`, by address; mailboxes'
    /// rows that point at themselves left out), and how many it has in all.
    pub async fn list_aliases_page(
        &self,
        domain: &Domain,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<AliasInfo>, i64), AdminError> {
        self.sql_only()?;
        let d = domain.as_str();
        // `address <> goto` as written: SQLite's partial index alias_domain_own has exactly
        // these rows. The count comes first and bounds the page's LIMIT, so the list stops at
        // the page's last alias instead of reading the domain's remaining rows (on MariaDB,
        // every self-alias row of a domain of mailboxes), and is skipped past the end.
        let count = Query::new("SELECT COUNT(*) FROM alias WHERE domain = ? AND address <> goto").text(d);
        let total = self.count(&count).await?;
        let limit = limit.min(total.saturating_sub(offset));
        let mut rows = Vec::new();
        if limit <= 0 {
            return Ok((rows, total));
        }
        // `address` first: its collation (case-insensitive in both schemas) decides.
        let q = Query::new(
            "SELECT address, goto, active + 0 FROM alias WHERE domain = ? AND address <> goto \
             ORDER BY address LIMIT ? OFFSET ?",
        )
        .text(d)
        .int(limit)
        .int(offset);
        for r in self.fetch_all(&q).await? {
            let address = text(&r, 0)?.unwrap_or_default();
            let goto = split_list(&text(&r, 1)?.unwrap_or_default());
            rows.push(AliasInfo { address, goto, active: number(&r, 2)? != 0 });
        }
        Ok((rows, total))
    }

    /// Aliases, of one domain or all; self-aliases of mailboxes are left out.
    pub async fn list_aliases(&self, domain: Option<&Domain>) -> Result<Vec<AliasInfo>, AdminError> {
        self.sql_only()?;
        let base = "SELECT address, goto, active + 0 FROM alias";
        let q = match domain {
            Some(d) => Query::new(format!("{base} WHERE domain = ? ORDER BY address")).text(d.as_str()),
            None => Query::new(format!("{base} ORDER BY address")),
        };
        let mut out = Vec::new();
        for r in self.fetch_all(&q).await? {
            let address = text(&r, 0)?.unwrap_or_default();
            let goto = split_list(&text(&r, 1)?.unwrap_or_default());
            if goto.len() == 1 && goto[0].eq_ignore_ascii_case(&address) {
                continue;
            }
            out.push(AliasInfo { address, goto, active: number(&r, 2)? != 0 });
        }
        Ok(out)
    }
}

impl Directory {
    /// Where a mailbox's mail goes (postfixadmin's forwarding): the `goto` of its own alias
    /// row; just itself when nothing is forwarded.
    pub async fn forwarding(&self, addr: &Address) -> Result<Vec<String>, AdminError> {
        self.sql_only()?;
        let q = Query::new("SELECT goto FROM alias WHERE address = ?").text(addr.to_string());
        match self.fetch_all(&q).await?.first() {
            Some(r) => Ok(split_list(&text(r, 0)?.unwrap_or_default())),
            None => Ok(Vec::new()),
        }
    }

    /// Forward a mailbox's mail to `targets`, keeping a copy when `keep` (its own address
    /// stays in its row's `goto`, as postfixadmin writes it). No targets: no forwarding.
    pub async fn set_forwarding(
        &self,
        addr: &Address,
        targets: &[Address],
        keep: bool,
    ) -> Result<(), AdminError> {
        self.sql_only()?;
        let a = addr.to_string();
        if !self.exists("SELECT username FROM mailbox WHERE username = ?", &a).await? {
            return Err(refused(format!("no such user {a}")));
        }
        let mut goto = Vec::new();
        for t in targets.iter().map(ToString::to_string) {
            if !t.eq_ignore_ascii_case(&a) && !goto.iter().any(|g: &String| g.eq_ignore_ascii_case(&t)) {
                goto.push(t);
            }
        }
        if keep || goto.is_empty() {
            goto.insert(0, a.clone());
        }
        let goto = goto.join(",");
        let update = Query::new("UPDATE alias SET goto = ?, modified = CURRENT_TIMESTAMP WHERE address = ?")
            .text(&goto)
            .text(&a);
        if self.db.transaction(&[update]).await?[0] == 0 {
            let insert = Query::new("INSERT INTO alias (address, goto, domain) VALUES (?, ?, ?)")
                .text(&a)
                .text(&goto)
                .text(addr.domain().as_str());
            self.db.transaction(&[insert]).await?;
        }
        Ok(())
    }
}

/// postfixadmin's alias domains: both sides are domains of ours (rows in `domain`), and no
/// chains (a domain is an alias of one target, and a target is no alias domain itself).
impl Directory {
    /// Make `alias` an alias domain of `target`.
    pub async fn add_alias_domain(&self, alias: &Domain, target: &Domain) -> Result<(), AdminError> {
        self.sql_only()?;
        if alias == target {
            return Err(refused(format!("{alias} cannot be an alias of itself")));
        }
        self.require_domain(alias).await?;
        self.require_domain(target).await?;
        let is_alias = "SELECT alias_domain FROM alias_domain WHERE alias_domain = ?";
        if self.exists(is_alias, alias.as_str()).await? {
            return Err(refused(format!("{alias} is already an alias domain")));
        }
        if self.exists(is_alias, target.as_str()).await? {
            return Err(refused(format!("{target} is itself an alias domain; no chains")));
        }
        if self
            .exists("SELECT alias_domain FROM alias_domain WHERE target_domain = ?", alias.as_str())
            .await?
        {
            return Err(refused(format!("{alias} is the target of an alias domain; no chains")));
        }
        let q = Query::new("INSERT INTO alias_domain (alias_domain, target_domain) VALUES (?, ?)")
            .text(alias.as_str())
            .text(target.as_str());
        self.db.transaction(&[q]).await?;
        Ok(())
    }

    /// Turn an alias domain's mapping on or off (off: its addresses are its own again).
    pub async fn set_alias_domain_active(&self, alias: &Domain, active: bool) -> Result<(), AdminError> {
        self.sql_only()?;
        let q = Query::new(
            "UPDATE alias_domain SET active = ?, modified = CURRENT_TIMESTAMP WHERE alias_domain = ?",
        )
        .int(i64::from(active))
        .text(alias.as_str());
        match self.db.transaction(&[q]).await?[0] {
            0 => Err(refused(format!("no such alias domain {alias}"))),
            _ => Ok(()),
        }
    }

    /// Remove an alias domain's mapping (its `domain` row stays, as in postfixadmin).
    pub async fn del_alias_domain(&self, alias: &Domain) -> Result<(), AdminError> {
        self.sql_only()?;
        let q = Query::new("DELETE FROM alias_domain WHERE alias_domain = ?").text(alias.as_str());
        match self.db.transaction(&[q]).await?[0] {
            0 => Err(refused(format!("no such alias domain {alias}"))),
            _ => Ok(()),
        }
    }

    /// One alias domain, active or not.
    pub async fn alias_domain(&self, alias: &Domain) -> Result<Option<AliasDomainInfo>, AdminError> {
        let q = Query::new(
            "SELECT alias_domain, target_domain, active + 0 FROM alias_domain WHERE alias_domain = ?",
        )
        .text(alias.as_str());
        Ok(self.alias_domain_rows(&q).await?.pop())
    }

    /// Alias domains, all or those with `domain` on either side.
    pub async fn list_alias_domains(
        &self,
        domain: Option<&Domain>,
    ) -> Result<Vec<AliasDomainInfo>, AdminError> {
        self.sql_only()?;
        let base = "SELECT alias_domain, target_domain, active + 0 FROM alias_domain";
        let q = match domain {
            Some(d) => Query::new(format!(
                "{base} WHERE alias_domain = ? OR target_domain = ? ORDER BY alias_domain"
            ))
            .text(d.as_str())
            .text(d.as_str()),
            None => Query::new(format!("{base} ORDER BY alias_domain")),
        };
        self.alias_domain_rows(&q).await
    }

    async fn alias_domain_rows(&self, q: &Query) -> Result<Vec<AliasDomainInfo>, AdminError> {
        self.sql_only()?;
        let mut out = Vec::new();
        for r in self.fetch_all(q).await? {
            out.push(AliasDomainInfo {
                alias_domain: text(&r, 0)?.unwrap_or_default(),
                target_domain: text(&r, 1)?.unwrap_or_default(),
                active: number(&r, 2)? != 0,
            });
        }
        Ok(out)
    }
}

/// Validate an alias address or `@domain`; returns the stored key and its domain.
fn alias_key(address: &str) -> Result<(String, Domain), AdminError> {
    if let Some(d) = address.strip_prefix('@') {
        let d = Domain::parse(d).map_err(|e| refused(format!("{address}: {e}")))?;
        return Ok((format!("@{d}"), d));
    }
    let a = Address::parse(address).map_err(|e| refused(format!("{address}: {e}")))?;
    Ok((a.to_string(), a.domain().clone()))
}
