//! Addresses in headers and the envelope, and the address parts of RFC 5228 2.7.4 and
//! RFC 5233 (subaddress).

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue};

/// The separator between user and detail, Dovecot's default `recipient_delimiter`.
pub const DETAIL_SEPARATOR: char = '+';

/// The addresses (`local@domain`) in a header value as raw text; groups are flattened.
pub fn parse_list(raw: &str) -> Vec<String> {
    let mut bytes = raw.as_bytes().to_vec();
    if !bytes.ends_with(b"\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    let mut out = Vec::new();
    let mut push = |a: Option<&str>| {
        if let Some(a) = a {
            out.push(a.to_string());
        }
    };
    match MessageStream::new(&bytes).parse_address() {
        HeaderValue::Address(Address::List(list)) => list.iter().for_each(|a| push(a.address.as_deref())),
        HeaderValue::Address(Address::Group(groups)) => {
            groups.iter().flat_map(|g| g.addresses.iter()).for_each(|a| push(a.address.as_deref()))
        }
        _ => {}
    }
    out
}

/// The part of an address an address-part tag selects; `None` when it has none (an address
/// without `+` has no detail).
pub fn part<'a>(addr: &'a str, tag: &str) -> Option<&'a str> {
    let (local, domain) = match addr.rfind('@') {
        Some(i) => (&addr[..i], &addr[i + 1..]),
        None => (addr, ""),
    };
    match tag {
        "localpart" => Some(local),
        "domain" => Some(domain),
        "user" => Some(local.split_once(DETAIL_SEPARATOR).map(|(u, _)| u).unwrap_or(local)),
        "detail" => local.split_once(DETAIL_SEPARATOR).map(|(_, d)| d),
        _ => Some(addr),
    }
}

/// Whether `s` is a plain `local@domain` address, as `redirect` needs.
pub fn valid(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else { return false };
    !local.is_empty()
        && !domain.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || "<>(),;:\\\"[]".contains(c))
        && domain.split('.').all(|l| !l.is_empty())
}

/// Whether `s` is an address as a header would carry it (`Name <a@b>` or `a@b`).
pub fn valid_header(s: &str) -> bool {
    let l = parse_list(s);
    l.len() == 1 && valid(&l[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_parts() {
        assert_eq!(
            parse_list("\"Bob, B\" <bob+x@example.com>, carol@example.org (C)"),
            vec!["bob+x@example.com", "carol@example.org"]
        );
        assert_eq!(parse_list("team: a@b.c, d@e.f;"), vec!["a@b.c", "d@e.f"]);
        assert_eq!(part("bob+x@example.com", "user"), Some("bob"));
        assert_eq!(part("bob+x@example.com", "detail"), Some("x"));
        assert_eq!(part("bob@example.com", "detail"), None);
        assert_eq!(part("bob@example.com", "domain"), Some("example.com"));
        assert!(valid("a@b.c"));
        assert!(!valid("a b@c"));
        assert!(!valid("ab"));
        assert!(valid_header("Me <me@example.com>"));
    }
}
