//! The directory read from LDAP (`[database] backend = "ldap"`): a few long-lived bound
//! connections, each multiplexing many searches, with fail-over across the configured URIs.
//! A server that does not answer, or answers with an error, is [`Unavailable`] (4xx), never
//! "unknown user"; a dropped connection is replaced on the next lookup, so no restart is needed.
//!
//! Values from clients enter searches only through [`filter_value`] (RFC 4515) or
//! [`ldap3::dn_escape`] (RFC 4514).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};
use proto::{Address, Domain, Secret};
use tokio::sync::Mutex;

use crate::Unavailable;

/// LDAP result codes that mean "no such entry" rather than a failure.
const NO_SUCH_OBJECT: u32 = 32;
const INVALID_CREDENTIALS: u32 = 49;
/// Partial results are still results (a size limit cuts a list of aliases short).
const SIZE_LIMIT_EXCEEDED: u32 = 4;

/// One `ldapAttr=field[=template]` item of Dovecot's `user_attrs`/`pass_attrs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttrMap {
    /// The LDAP attribute; empty for a constant (`=field=template`).
    pub attr: String,
    pub field: String,
    /// `%$` is the attribute's value; `%u %n %d` the user's.
    pub template: Option<String>,
}

/// Parse Dovecot's `attr=field,attr=field=template,=field=constant`.
pub(crate) fn parse_attrs(spec: &str) -> Vec<AttrMap> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|item| {
            let (attr, rest) = item.split_once('=')?;
            let (field, template) = match rest.split_once('=') {
                Some((f, t)) => (f, Some(t.to_string())),
                None => (rest, None),
            };
            Some(AttrMap { attr: attr.trim().to_string(), field: field.trim().to_string(), template })
        })
        .collect()
}

/// A value escaped for use inside an LDAP filter (RFC 4515): `* ( ) \ NUL` become `\2a` etc.,
/// so a user name can never change the filter's structure.
pub(crate) fn filter_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Dovecot's `%u` (whole user), `%n` (local part), `%d` (domain), `%%`, each value passed
/// through `escape`. `%$` is `value` (attribute templates).
pub(crate) fn dovecot_expand(
    template: &str,
    user: &str,
    value: Option<&str>,
    escape: &dyn Fn(&str) -> String,
) -> String {
    let (local, domain) = user.rsplit_once('@').unwrap_or((user, ""));
    let mut out = String::with_capacity(template.len() + user.len());
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => out.push_str(&escape(user)),
            Some('n') => out.push_str(&escape(local)),
            Some('d') => out.push_str(&escape(domain)),
            Some('$') => out.push_str(&escape(value.unwrap_or_default())),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Postfix ldap_table(5)'s `%s` (the key), `%u` (local part, or the whole key without `@`),
/// `%d` (domain), `%%`, escaped as filter values. `None` when the filter needs a domain the key
/// has not: Postfix then skips the query (not found).
pub(crate) fn postfix_expand(template: &str, key: &str) -> Option<String> {
    let (local, domain) = match key.rsplit_once('@') {
        Some((l, d)) => (l, Some(d)),
        None => (key, None),
    };
    let mut out = String::with_capacity(template.len() + key.len());
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push_str(&filter_value(key)),
            Some('u') => out.push_str(&filter_value(local)),
            Some('d') => out.push_str(&filter_value(domain?)),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    Some(out)
}

/// Attributes as text, names lower-cased (LDAP attribute names are case-insensitive).
pub(crate) struct Entry {
    pub dn: String,
    attrs: HashMap<String, Vec<String>>,
}

impl Entry {
    fn from(se: SearchEntry) -> Entry {
        let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in se.attrs {
            attrs.entry(k.to_ascii_lowercase()).or_default().extend(v);
        }
        for (k, v) in se.bin_attrs {
            let v = v.into_iter().map(|b| String::from_utf8_lossy(&b).into_owned());
            attrs.entry(k.to_ascii_lowercase()).or_default().extend(v);
        }
        Entry { dn: se.dn, attrs }
    }

    pub fn values(&self, attr: &str) -> &[String] {
        self.attrs.get(&attr.to_ascii_lowercase()).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn first(&self, attr: &str) -> Option<&str> {
        self.values(attr).first().map(String::as_str)
    }

    /// Dovecot's mapping applied to this entry for `user`: field -> value.
    pub fn fields(&self, maps: &[AttrMap], user: &str) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for m in maps {
            let value = if m.attr.is_empty() { None } else { self.first(&m.attr) };
            if !m.attr.is_empty() && value.is_none() {
                continue;
            }
            let v = match &m.template {
                Some(t) => dovecot_expand(t, user, value, &|s| s.to_string()),
                None => value.unwrap_or_default().to_string(),
            };
            out.insert(m.field.clone(), v);
        }
        out
    }
}

/// A pooled connection and the URI it reached.
type Slot = Mutex<Option<ldap3::Ldap>>;

/// The LDAP side of [`crate::Directory`].
pub(crate) struct LdapDir {
    pub cfg: config::Ldap,
    bind_password: String,
    /// TLS for `ldaps://` and StartTLS when `tls_ca_cert_file` is set; else ldap3's own (the
    /// system's CAs).
    tls: Option<Arc<rustls::ClientConfig>>,
    slots: Vec<Slot>,
    next: AtomicUsize,
    /// Connections kept for user binds (Dovecot's auth_bind connections): one bind at a time
    /// on each, and never a search, so a user's identity never reaches a lookup.
    bind_slots: Vec<Slot>,
    bind_next: AtomicUsize,
    /// The URI that answered last; tried first.
    current: AtomicUsize,
    pub user_attrs: Vec<AttrMap>,
    pub pass_attrs: Vec<AttrMap>,
}

/// A client config trusting only `tls_ca_cert_file`, when it is set and certificates are
/// checked. An unreadable or empty file is a configuration error at start, not a lookup error.
fn tls_config(cfg: &config::Ldap) -> Result<Option<Arc<rustls::ClientConfig>>, Unavailable> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let file = cfg.tls_ca_cert_file.as_str();
    if file.is_empty() || !cfg.tls_require_cert.verifies() {
        return Ok(None);
    }
    let bad =
        |e: &dyn std::fmt::Display| Unavailable(format!("[database.ldap] tls_ca_cert_file {file}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(file).map_err(|e| bad(&e))? {
        roots.add(c.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in the file"));
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Unavailable {
    tracing::error!(error = %e, "LDAP {what} failed");
    Unavailable(format!("LDAP {what}: {e}"))
}

impl LdapDir {
    /// Check the settings and read the bind password; nothing connects yet.
    pub fn open(cfg: &config::Ldap) -> Result<LdapDir, Unavailable> {
        if cfg.uris.is_empty() {
            return Err(Unavailable("[database.ldap] uris: at least one URI is needed".into()));
        }
        for u in &cfg.uris {
            if !(u.starts_with("ldap://") || u.starts_with("ldaps://") || u.starts_with("ldapi://")) {
                return Err(Unavailable(format!("[database.ldap] uris: `{u}` is not an ldap:// URI")));
            }
        }
        let bind_password = if cfg.bind_password_file.is_empty() {
            String::new()
        } else {
            let p = cfg.bind_password_file.as_str();
            let s = std::fs::read_to_string(p)
                .map_err(|e| Unavailable(format!("[database.ldap] bind_password_file {p}: {e}")))?;
            s.lines().next().unwrap_or_default().to_string()
        };
        Ok(LdapDir {
            cfg: cfg.clone(),
            bind_password,
            tls: tls_config(cfg)?,
            slots: (0..cfg.pool_size.get()).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            bind_slots: (0..cfg.pool_size.get()).map(|_| Mutex::new(None)).collect(),
            bind_next: AtomicUsize::new(0),
            current: AtomicUsize::new(0),
            user_attrs: parse_attrs(&cfg.user_attrs),
            pass_attrs: parse_attrs(&cfg.pass_attrs),
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.timeout.get())
    }

    fn scope(&self) -> Scope {
        match self.cfg.scope {
            config::LdapScope::Base => Scope::Base,
            config::LdapScope::Onelevel => Scope::OneLevel,
            config::LdapScope::Subtree => Scope::Subtree,
        }
    }

    /// A new connection to the first URI that answers, starting at the one that answered last,
    /// bound as `dn` (anonymous when empty).
    async fn connect(&self, dn: &str, password: &str) -> Result<(ldap3::Ldap, u32), Unavailable> {
        let n = self.cfg.uris.len();
        let start = self.current.load(Ordering::Relaxed) % n;
        let mut last = String::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let uri = &self.cfg.uris[idx];
            let mut settings = LdapConnSettings::new()
                .set_conn_timeout(self.timeout())
                .set_starttls(self.cfg.starttls && uri.starts_with("ldap://"))
                .set_no_tls_verify(!self.cfg.tls_require_cert.verifies());
            if let Some(tls) = &self.tls {
                settings = settings.set_config(tls.clone());
            }
            let attempt = async {
                let (conn, mut ldap) = LdapConnAsync::with_settings(settings, uri).await?;
                ldap3::drive!(conn);
                let rc = if dn.is_empty() {
                    0
                } else {
                    ldap.with_timeout(self.timeout()).simple_bind(dn, password).await?.rc
                };
                Ok::<_, LdapError>((ldap, rc))
            };
            match tokio::time::timeout(self.timeout(), attempt).await {
                Ok(Ok(r)) => {
                    if idx != start {
                        tracing::warn!(uri = %uri, "LDAP fail-over: now using this server");
                        self.current.store(idx, Ordering::Relaxed);
                    }
                    return Ok(r);
                }
                Ok(Err(e)) => {
                    tracing::warn!(uri = %uri, error = %e, "LDAP server unreachable");
                    last = format!("{uri}: {e}");
                }
                Err(_) => {
                    tracing::warn!(uri = %uri, "LDAP server did not answer in time");
                    last = format!("{uri}: no answer within {}s", self.cfg.timeout);
                }
            }
        }
        Err(unavailable("connect", last))
    }

    /// A pooled connection bound as `bind_dn`, connecting when the slot is empty or closed.
    async fn pooled(&self, slot: &Slot) -> Result<ldap3::Ldap, Unavailable> {
        let mut guard = slot.lock().await;
        if let Some(l) = guard.as_mut()
            && !l.is_closed()
        {
            return Ok(l.clone());
        }
        *guard = None;
        let (ldap, rc) = self.connect(&self.cfg.bind_dn, &self.bind_password).await?;
        if rc != 0 {
            return Err(unavailable("bind as bind_dn", format!("result code {rc}")));
        }
        *guard = Some(ldap.clone());
        Ok(ldap)
    }

    /// Entries matching `filter` under `base`, with `attrs`. A connection that fails is
    /// dropped and the search tried once more on a fresh one (the server restarted).
    pub async fn search(&self, filter: &str, attrs: &[&str]) -> Result<Vec<Entry>, Unavailable> {
        let started = std::time::Instant::now();
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let mut result = Err(Unavailable(String::new()));
        for attempt in 0..2 {
            let mut ldap = match self.pooled(slot).await {
                Ok(l) => l,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let r =
                ldap.with_timeout(self.timeout()).search(&self.cfg.base, self.scope(), filter, attrs).await;
            match r {
                Ok(sr) => {
                    let rc = sr.1.rc;
                    result = match rc {
                        0 | SIZE_LIMIT_EXCEEDED => {
                            Ok(sr.0.into_iter().map(|re| Entry::from(SearchEntry::construct(re))).collect())
                        }
                        NO_SUCH_OBJECT => Ok(Vec::new()),
                        _ => Err(unavailable("search", format!("result code {rc} ({})", sr.1.text))),
                    };
                    break;
                }
                Err(e) => {
                    *slot.lock().await = None;
                    result = Err(unavailable("search", e));
                    if attempt == 0 {
                        tracing::info!("LDAP connection lost, reconnecting once");
                    }
                }
            }
        }
        crate::metrics::queried(started, result.is_ok());
        result
    }

    /// The values of `attrs` (comma-separated) of every entry `template` finds for `key`
    /// (Postfix's `query_filter` + `result_attribute`). `None`: nothing found.
    pub async fn table(
        &self,
        template: &str,
        attrs: &str,
        key: &str,
    ) -> Result<Option<Vec<String>>, Unavailable> {
        if template.is_empty() {
            return Ok(None);
        }
        let Some(filter) = postfix_expand(template, key) else {
            return Ok(None);
        };
        let attrs: Vec<&str> = attrs.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
        let entries = self.search(&filter, if attrs.is_empty() { &["1.1"] } else { &attrs }).await?;
        if entries.is_empty() {
            return Ok(None);
        }
        if attrs.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let values: Vec<String> =
            entries.iter().flat_map(|e| attrs.iter().flat_map(|a| e.values(a).iter().cloned())).collect();
        Ok((!values.is_empty()).then_some(values))
    }

    /// Is `domain` ours (or an alias domain of one of ours)? Returns the canonical domain.
    pub async fn local_domain(&self, domain: &Domain) -> Result<Option<Domain>, Unavailable> {
        if self.table(&self.cfg.domain_query_filter, "", domain.as_str()).await?.is_some() {
            return Ok(Some(domain.clone()));
        }
        let Some(targets) = self
            .table(
                &self.cfg.alias_domain_query_filter,
                &self.cfg.alias_domain_result_attribute,
                domain.as_str(),
            )
            .await?
        else {
            return Ok(None);
        };
        let Some(target) = targets.iter().find_map(|t| Domain::parse(t.trim_start_matches('@')).ok()) else {
            return Ok(None);
        };
        let found = self.table(&self.cfg.domain_query_filter, "", target.as_str()).await?;
        Ok(found.map(|_| target))
    }

    /// The single entry `filter_template` finds for `user`, with the attributes `maps` need.
    /// More than one entry is a directory error (Dovecot refuses it too).
    pub async fn user_entry(
        &self,
        filter_template: &str,
        maps: &[AttrMap],
        user: &Address,
    ) -> Result<Option<Entry>, Unavailable> {
        let name = user.to_string();
        let filter = dovecot_expand(filter_template, &name, None, &filter_value);
        let mut attrs: Vec<&str> =
            maps.iter().filter(|m| !m.attr.is_empty()).map(|m| m.attr.as_str()).collect();
        if attrs.is_empty() {
            attrs.push("1.1");
        }
        let mut entries = self.search(&filter, &attrs).await?;
        match entries.len() {
            0 => Ok(None),
            1 => Ok(entries.pop()),
            n => Err(unavailable("user lookup", format!("{n} entries match {name}; expected one"))),
        }
    }

    /// Bind as `user` with `password` on a kept bind connection: `Some(true)` right,
    /// `Some(false)` wrong, `None` no such user (when the DN is searched for).
    pub async fn auth_bind(&self, user: &Address, password: &Secret) -> Result<Option<bool>, Unavailable> {
        let Ok(pw) = std::str::from_utf8(password.expose()) else {
            return Ok(Some(false));
        };
        // An empty password is an "unauthenticated bind" that servers accept: never a login.
        if pw.is_empty() {
            return Ok(Some(false));
        }
        let name = user.to_string();
        let dn = if self.cfg.auth_bind_userdn.is_empty() {
            match self.user_entry(&self.cfg.pass_filter, &[], user).await? {
                Some(e) => e.dn,
                None => return Ok(None),
            }
        } else {
            dovecot_expand(&self.cfg.auth_bind_userdn, &name, None, &|s| ldap3::dn_escape(s).into_owned())
        };
        let slot = &self.bind_slots[self.bind_next.fetch_add(1, Ordering::Relaxed) % self.bind_slots.len()];
        // Held for the whole bind: LDAP allows no other operation on a connection while it binds.
        let mut kept = slot.lock().await;
        let mut last = None;
        // A kept connection that fails (the server restarted) is replaced once.
        for _ in 0..2 {
            kept.take_if(|l| l.is_closed());
            let mut ldap = match kept.take() {
                Some(l) => l,
                None => self.connect("", "").await?.0,
            };
            match ldap.with_timeout(self.timeout()).simple_bind(&dn, pw).await {
                Ok(r) => {
                    *kept = Some(ldap);
                    return match r.rc {
                        0 => Ok(Some(true)),
                        INVALID_CREDENTIALS => Ok(Some(false)),
                        rc => Err(unavailable("user bind", format!("result code {rc}"))),
                    };
                }
                Err(e) => last = Some(e),
            }
        }
        Err(unavailable("user bind", last.map_or_else(String::new, |e| e.to_string())))
    }

    /// A search of the root DSE: is a server answering?
    pub async fn server_version(&self) -> Result<String, Unavailable> {
        let slot = &self.slots[0];
        let mut ldap = self.pooled(slot).await?;
        let sr = ldap
            .with_timeout(self.timeout())
            .search("", Scope::Base, "(objectClass=*)", &["vendorName", "vendorVersion"])
            .await
            .map_err(|e| unavailable("root DSE", e))?;
        let vendor =
            sr.0.into_iter()
                .next()
                .map(|re| Entry::from(SearchEntry::construct(re)))
                .and_then(|e| e.first("vendorVersion").or(e.first("vendorName")).map(str::to_string));
        let uri = &self.cfg.uris[self.current.load(Ordering::Relaxed) % self.cfg.uris.len()];
        Ok(format!("LDAP {uri}{}", vendor.map(|v| format!(" ({v})")).unwrap_or_default()))
    }
}

/// Dovecot's `quota_rule` (`*:bytes=N`, `*:storage=N[kMGT]`, storage in KiB without a suffix)
/// or a plain number of bytes.
pub(crate) fn quota_bytes(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(n) = v.parse() {
        return Some(n);
    }
    let rule = v.strip_prefix("*:").unwrap_or(v);
    if let Some(n) = rule.strip_prefix("bytes=") {
        return n.trim().parse().ok();
    }
    let s = rule.strip_prefix("storage=")?.trim();
    let (digits, mult) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => {
            let m: u64 = match &s[i..].to_ascii_uppercase()[..] {
                "B" => 1,
                "K" | "KB" => 1 << 10,
                "M" | "MB" => 1 << 20,
                "G" | "GB" => 1 << 30,
                "T" | "TB" => 1 << 40,
                _ => return None,
            };
            (&s[..i], m)
        }
        None => (s, 1 << 10),
    };
    digits.parse::<u64>().ok().map(|n| n.saturating_mul(mult))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_metacharacters_are_inert() {
        let f =
            dovecot_expand("(&(objectClass=inetOrgPerson)(mail=%u))", "*)(uid=*@b.test", None, &filter_value);
        assert_eq!(f, "(&(objectClass=inetOrgPerson)(mail=\\2a\\29\\28uid=\\2a@b.test))");
        assert_eq!(filter_value("a\0b\\c"), "a\\00b\\5cc");
        // Every value keeps the filter's parentheses balanced and wildcard-free.
        for evil in ["*", ")(", "x)(|(mail=*", "\0", "\\2a", "a*b"] {
            let f = dovecot_expand("(mail=%u)", evil, None, &filter_value);
            assert_eq!(f.matches('(').count(), 1, "{f}");
            assert_eq!(f.matches(')').count(), 1, "{f}");
            assert!(!f.contains('*') && !f.contains('\0'), "{f}");
            assert!(ldap3::parse_filter(&f).is_ok(), "{f}");
        }
    }

    #[test]
    fn dovecot_and_postfix_variables() {
        let f = dovecot_expand("(&(uid=%n)(dc=%d)(mail=%u)(x=100%%))", "bob@b.test", None, &filter_value);
        assert_eq!(f, "(&(uid=bob)(dc=b.test)(mail=bob@b.test)(x=100%))");
        assert_eq!(postfix_expand("(mail=%s)", "@b.test").unwrap(), "(mail=@b.test)");
        assert_eq!(postfix_expand("(&(uid=%u)(d=%d))", "bob@b.test").unwrap(), "(&(uid=bob)(d=b.test))");
        assert_eq!(postfix_expand("(d=%d)", "b.test"), None);
        assert_eq!(postfix_expand("(mail=%s)", "a*)(b").unwrap(), "(mail=a\\2a\\29\\28b)");
        let dn = dovecot_expand("uid=%n,ou=people", "a,b=c@x", None, &|s| ldap3::dn_escape(s).into_owned());
        assert_eq!(dn, "uid=a\\2cb\\3dc,ou=people");
    }

    #[test]
    fn attribute_maps_in_dovecot_syntax() {
        let m = parse_attrs(
            "mail=user, homeDirectory=home ,=quota_rule=*:bytes=100, mailQuota=quota_rule=*:bytes=%$",
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m[1], AttrMap { attr: "homeDirectory".into(), field: "home".into(), template: None });
        assert_eq!(m[2].attr, "");
        assert_eq!(m[3].template.as_deref(), Some("*:bytes=%$"));
        assert_eq!(quota_bytes("*:bytes=100"), Some(100));
        assert_eq!(quota_bytes("*:storage=2M"), Some(2 << 20));
        assert_eq!(quota_bytes("*:storage=3"), Some(3 << 10));
        assert_eq!(quota_bytes("512"), Some(512));
        assert_eq!(quota_bytes("lots"), None);
    }
}
