//! Mail addresses as lookup keys: validated once at the edge, lowercased like Postfix's
//! table lookups, with the subaddress detail split off on demand.

use std::fmt;

/// Longest local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// Longest domain (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;

/// Why a string is not an address we look up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `@`, or nothing on one side of it.
    #[error("not an address of the form local@domain")]
    Shape,
    /// The local part is too long or holds a forbidden character.
    #[error("invalid local part")]
    LocalPart,
    /// The domain is too long or not a host name.
    #[error("invalid domain")]
    Domain,
}

/// A domain name, lowercased; letters, digits, `-` and non-ASCII (IDN U-labels) in dot-separated labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Validate and lowercase a domain name (a trailing dot is dropped).
    pub fn parse(s: &str) -> Result<Domain, AddressError> {
        let s = s.strip_suffix('.').unwrap_or(s);
        if s.is_empty() || s.len() > MAX_DOMAIN {
            return Err(AddressError::Domain);
        }
        for label in s.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric()));
            if !ok {
                return Err(AddressError::Domain);
            }
        }
        Ok(Domain(s.to_lowercase()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mailbox address `local@domain`, lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    local: String,
    domain: Domain,
}

impl Address {
    /// Validate an address (split at the last `@`, like cyrus and Postfix).
    pub fn parse(s: &str) -> Result<Address, AddressError> {
        let (local, domain) = s.rsplit_once('@').ok_or(AddressError::Shape)?;
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::Shape);
        }
        Ok(Address { local: parse_local(local)?, domain: Domain::parse(domain)? })
    }

    /// Build from parts already validated.
    pub fn new(local: &str, domain: &Domain) -> Result<Address, AddressError> {
        Ok(Address { local: parse_local(local)?, domain: domain.clone() })
    }

    /// The local part (`%n`).
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain (`%d`).
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The same local part in another domain (alias domains).
    pub fn with_domain(&self, domain: &Domain) -> Address {
        Address { local: self.local.clone(), domain: domain.clone() }
    }

    /// Split a subaddress: `bob+lists@b.test` → (`bob@b.test`, `Some("lists")`) when `+` is one
    /// of `delimiters`. The first delimiter character found splits, as in Postfix.
    pub fn split_detail(&self, delimiters: &str) -> (Address, Option<String>) {
        if delimiters.is_empty() {
            return (self.clone(), None);
        }
        match self.local.find(|c| delimiters.contains(c)) {
            Some(i) if i > 0 => {
                let detail = self.local[i + 1..].to_string();
                let base = Address { local: self.local[..i].to_string(), domain: self.domain.clone() };
                (base, Some(detail))
            }
            _ => (self.clone(), None),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Characters of RFC 5322 atext, `.`, and UTF-8 (RFC 6531); no quoting, no specials.
fn parse_local(s: &str) -> Result<String, AddressError> {
    let ok = !s.is_empty()
        && s.len() <= MAX_LOCAL_PART
        && s.chars().all(|c| {
            if c.is_ascii() {
                c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
            } else {
                !c.is_control() && !c.is_whitespace()
            }
        });
    if ok { Ok(s.to_lowercase()) } else { Err(AddressError::LocalPart) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lowercases() {
        let a = Address::parse("Bob.Smith@B.Test").unwrap();
        assert_eq!(a.to_string(), "bob.smith@b.test");
        assert_eq!(a.local(), "bob.smith");
        assert_eq!(a.domain().as_str(), "b.test");
        assert_eq!(Address::parse("bob@b.test.").unwrap().to_string(), "bob@b.test");
        assert_eq!(Address::parse("jörg@bücher.test").unwrap().domain().as_str(), "bücher.test");
    }

    #[test]
    fn rejects_what_is_no_address() {
        for bad in [
            "",
            "bob",
            "@b.test",
            "bob@",
            "bob@b..test",
            "bob@-b.test",
            "bo b@b.test",
            "bob\0@b.test",
            "'; DROP TABLE mailbox; --@b.test",
            "bob@b.test; DROP TABLE mailbox",
            "\"bob\"@b.test",
            "bob@b.test/../x",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@b.test", "a".repeat(65));
        assert_eq!(Address::parse(&long), Err(AddressError::LocalPart));
        let long = format!("a@{}.test", "b".repeat(300));
        assert_eq!(Address::parse(&long), Err(AddressError::Domain));
    }

    #[test]
    fn splits_at_the_last_at() {
        assert_eq!(Address::parse("a@b@c.test"), Err(AddressError::LocalPart));
    }

    #[test]
    fn subaddress_detail() {
        let a = Address::parse("bob+lists@b.test").unwrap();
        let (base, detail) = a.split_detail("+");
        assert_eq!(base.to_string(), "bob@b.test");
        assert_eq!(detail.as_deref(), Some("lists"));
        let (base, detail) = Address::parse("bob-x+y@b.test").unwrap().split_detail("+-");
        assert_eq!((base.local(), detail.as_deref()), ("bob", Some("x+y")));
        assert_eq!(a.split_detail("").1, None);
        // A leading delimiter is part of the name, as in Postfix.
        assert_eq!(Address::parse("+x@b.test").unwrap().split_detail("+").1, None);
        let (base, detail) = Address::parse("bob+@b.test").unwrap().split_detail("+");
        assert_eq!((base.local(), detail.as_deref()), ("bob", Some("")));
    }
}
