//! `[database.ldap]`: the directory read from LDAP (OpenLDAP, Active Directory) instead of SQL,
//! with `[database] backend = "ldap"`. Keys are named and written as in Dovecot's
//! `dovecot-ldap.conf.ext` (user and password lookups) and Postfix's `ldap_table(5)` (domains,
//! aliases, sender logins), so an admin can copy their settings.

use std::num::{NonZeroU64, NonZeroUsize};

use serde::{Deserialize, Serialize};

use crate::OptionalPath;
use crate::value::{nz64, nzusize};

/// Where `[database]` reads the directory from.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DirectoryBackend {
    /// postfixadmin's tables at `url` (MariaDB or SQLite).
    #[default]
    Sql,
    /// An LDAP server, as `[database.ldap]` says; read-only for mailroomctl's admin commands.
    Ldap,
}

/// When the server's certificate must be valid (Dovecot's and OpenLDAP's `tls_require_cert`).
/// A server always presents one, so `allow` is `never` and `try` is `demand` here.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LdapRequireCert {
    /// Any certificate is accepted (tests only: anyone in the path can read the passwords).
    Never,
    /// As `never`.
    Allow,
    /// As `demand`.
    Try,
    /// The certificate must chain to `tls_ca_cert_file` (or the system's CAs) and name the host.
    Demand,
    /// As `demand`.
    Hard,
}

impl LdapRequireCert {
    /// Is the certificate checked?
    pub fn verifies(self) -> bool {
        !matches!(self, LdapRequireCert::Never | LdapRequireCert::Allow)
    }
}

/// An LDAP search scope (Dovecot's `scope`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LdapScope {
    /// The base entry only.
    Base,
    /// The entries right under the base.
    Onelevel,
    /// The base and everything under it.
    Subtree,
}

crate::section! {
    /// The LDAP directory (with `[database] backend = "ldap"`). In `user_filter`, `pass_filter`
    /// and `auth_bind_userdn`, Dovecot's `%u` (address), `%n` (local part) and `%d` (domain) are
    /// replaced; in the `*_query_filter` keys, Postfix's `%s` (the key), `%u` (local part) and
    /// `%d` (domain). Every value is escaped for LDAP filters (RFC 4515) or DNs (RFC 4514).
    pub struct Ldap {
        /// Server URIs (`ldap://host:389`, `ldaps://host:636`), tried in order: a server that does not answer is skipped (fail-over).
        pub uris: Vec<String> = vec!["ldap://127.0.0.1".to_string()],
        /// Upgrade `ldap://` connections with StartTLS (Dovecot's `tls = yes`).
        pub starttls: bool = false,
        /// PEM file of the CAs a server certificate must chain to (Dovecot's `tls_ca_cert_file`, Postfix's `tls_ca_cert_file`); empty: the system's CAs.
        pub tls_ca_cert_file: OptionalPath = OptionalPath::default(),
        /// `never`, `allow`, `try`, `demand` or `hard`, as in Dovecot: with `never` or `allow` any certificate is accepted, else it must be valid for the host in the URI.
        pub tls_require_cert: LdapRequireCert = LdapRequireCert::Demand,
        /// DN to bind as for lookups (Dovecot's `dn`, Postfix's `bind_dn`); empty binds anonymously.
        pub bind_dn: String = String::new(),
        /// File holding the bind password (first line); empty for none.
        pub bind_password_file: OptionalPath = OptionalPath::default(),
        /// Search base (`base`, `search_base`).
        pub base: String = String::new(),
        /// `base`, `onelevel` or `subtree`.
        pub scope: LdapScope = LdapScope::Subtree,
        /// Finds a user's entry (Dovecot's `user_filter`).
        pub user_filter: String = "(&(objectClass=inetOrgPerson)(mail=%u))".to_string(),
        /// Finds the entry whose password is checked (Dovecot's `pass_filter`).
        pub pass_filter: String = "(&(objectClass=inetOrgPerson)(mail=%u))".to_string(),
        /// Dovecot's `user_attrs`: `ldapAttr=field` or `=field=template`, comma-separated; fields `user`, `home`, `mail`/`maildir` (a path under `mail_root`; `maildir:` prefix and `~/` allowed), `quota` (bytes) or `quota_rule` (`*:bytes=N`, `*:storage=NK`); others (`uid`, `gid`) are accepted and unused.
        pub user_attrs: String = "mail=user".to_string(),
        /// Dovecot's `pass_attrs`: fields `user` and `password` (`{SCHEME}hash`, as slapd's `userPassword`).
        pub pass_attrs: String = "mail=user,userPassword=password".to_string(),
        /// Check passwords by binding as the user's entry (Dovecot's `auth_bind`; what Active Directory needs) instead of reading `userPassword`.
        pub auth_bind: bool = false,
        /// With `auth_bind`: the user's DN template (`uid=%n,ou=people,dc=example,dc=org`); empty finds it with `pass_filter`.
        pub auth_bind_userdn: String = String::new(),
        /// Postfix `query_filter` for `virtual_mailbox_domains`: any entry means the domain is ours; empty means none.
        pub domain_query_filter: String = "(&(objectClass=domainRelatedObject)(associatedDomain=%s))".to_string(),
        /// `query_filter` of alias domains; empty means none.
        pub alias_domain_query_filter: String = String::new(),
        /// The attribute holding an alias domain's target domain.
        pub alias_domain_result_attribute: String = "mailRoutingAddress".to_string(),
        /// Postfix `query_filter` for `virtual_alias_maps`; the key is an address or `@domain` (catch-all).
        pub alias_query_filter: String = "(mailLocalAddress=%s)".to_string(),
        /// `result_attribute` of aliases, comma-separated (`mailForwardingAddress`, `mailRoutingAddress`).
        pub alias_result_attribute: String = "mailRoutingAddress".to_string(),
        /// Postfix `query_filter` for `smtpd_sender_login_maps`: entries owning a sender address.
        pub sender_login_query_filter: String = "(|(mail=%s)(mailLocalAddress=%s))".to_string(),
        /// `result_attribute` of sender logins (the owners' login names).
        pub sender_login_result_attribute: String = "mail".to_string(),
        /// Seconds for connecting and for each operation before "temporarily unavailable".
        pub timeout: NonZeroU64 = nz64(5),
        /// Connections kept to the server (each multiplexes many lookups).
        pub pool_size: NonZeroUsize = nzusize(4),
    }
}
