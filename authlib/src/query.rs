//! The SQL each lookup runs: postfixadmin's by default, or the admin's own with Postfix/Dovecot
//! placeholders, which always become bound parameters.

use crate::db::Query;
use proto::Address;

/// Values a lookup may substitute.
pub(crate) struct Key<'a> {
    /// `%s`: the lookup key as given (an address, `@domain` or a domain).
    pub s: &'a str,
    /// The address, when the key is one (`%u`, `%n`, `%d`).
    pub addr: Option<&'a Address>,
}

/// Postfixadmin's queries, as Postfix's and Dovecot's postfixadmin howtos write them.
pub(crate) mod default {
    pub const DOMAIN: &str = "SELECT domain FROM domain WHERE domain = %s AND active = 1 AND backupmx = 0";
    pub const ALIAS_DOMAIN: &str =
        "SELECT target_domain FROM alias_domain WHERE alias_domain = %s AND active = 1";
    pub const MAILBOX: &str =
        "SELECT username, maildir, quota FROM mailbox WHERE username = %u AND active = 1";
    pub const ALIAS: &str = "SELECT goto FROM alias WHERE address = %s AND active = 1";
    pub const PASSWORD: &str = "SELECT username, password FROM mailbox WHERE username = %u AND active = 1";
    pub const SENDER_LOGIN: &str = "SELECT username FROM mailbox WHERE username = %s AND active = 1 \
         UNION SELECT goto FROM alias WHERE address = %s AND active = 1";
}

/// Turn a template into SQL with `?` and the values to bind, in order.
/// `'%s'` (quoted, as in Postfix map files) is accepted and becomes a bare `?`.
pub(crate) fn expand(template: &str, key: &Key<'_>) -> Query {
    let mut sql = String::with_capacity(template.len());
    let mut args: Vec<String> = Vec::new();
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 1 < b.len() {
            let value = match b[i + 1] {
                b's' => Some(key.s.to_string()),
                b'u' => Some(key.addr.map(|a| a.to_string()).unwrap_or_else(|| key.s.to_string())),
                b'n' => Some(key.addr.map(|a| a.local().to_string()).unwrap_or_else(|| key.s.to_string())),
                b'd' => Some(key.addr.map(|a| a.domain().to_string()).unwrap_or_else(|| key.s.to_string())),
                b'%' => {
                    sql.push('%');
                    i += 2;
                    continue;
                }
                _ => None,
            };
            if let Some(v) = value {
                // Drop the quotes around a quoted placeholder: the value is bound, not spliced.
                let quoted = sql.ends_with('\'') && b.get(i + 2) == Some(&b'\'');
                if quoted {
                    sql.pop();
                }
                sql.push('?');
                args.push(v);
                i += if quoted { 3 } else { 2 };
                continue;
            }
        }
        // Copy one whole UTF-8 character.
        let ch_len = template[i..].chars().next().map_or(1, char::len_utf8);
        sql.push_str(&template[i..i + ch_len]);
        i += ch_len;
    }
    args.into_iter().fold(Query::new(sql), Query::text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Arg;

    fn args(q: &Query) -> Vec<String> {
        q.args
            .iter()
            .map(|a| match a {
                Arg::Text(s) => s.clone(),
                Arg::Int(i) => i.to_string(),
            })
            .collect()
    }

    #[test]
    fn placeholders_become_bound_parameters() {
        let a = Address::parse("bob@b.test").unwrap();
        let key = Key { s: "bob@b.test", addr: Some(&a) };
        let q = expand("SELECT x FROM t WHERE u = '%u' AND d = %d AND n='%n' AND y LIKE 'a%%'", &key);
        assert_eq!(q.sql, "SELECT x FROM t WHERE u = ? AND d = ? AND n=? AND y LIKE 'a%'");
        assert_eq!(args(&q), ["bob@b.test", "b.test", "bob"]);
    }

    #[test]
    fn metacharacters_never_reach_the_sql() {
        let key = Key { s: "x' OR '1'='1", addr: None };
        let q = expand(default::ALIAS, &key);
        assert!(!q.sql.contains("OR '1'"));
        assert_eq!(args(&q), ["x' OR '1'='1"]);
    }

    #[test]
    fn unknown_escapes_and_utf8_are_copied() {
        let key = Key { s: "k", addr: None };
        let q = expand("SELECT 'é%x' WHERE a = %s", &key);
        assert_eq!(q.sql, "SELECT 'é%x' WHERE a = ?");
    }
}
