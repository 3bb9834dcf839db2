//! HELO, EHLO and LHLO: the greeting name check and the extensions we advertise.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Event, Phase, Session};
use crate::reply::Reply;

impl Session {
    pub(super) fn hello(&mut self, host: String, extended: bool, out: &mut Vec<Event>) {
        if self.cfg.strict_helo && !valid_helo(&host) {
            return self.error(Reply::new(501, "5.5.2", "Invalid HELO name"), out);
        }
        if self.phase != Phase::Connected {
            self.end_transaction();
            out.push(Event::Reset);
        }
        self.phase = Phase::Ready;
        out.push(Event::Hello(host.clone()));
        let mut lines = vec![format!("{} Hello {host}", self.cfg.hostname)];
        if extended {
            lines.extend(self.keywords());
        }
        out.push(Event::Reply(Reply { code: 250, enhanced: "", lines }));
    }

    /// The EHLO/LHLO keywords, as this connection stands (STARTTLS and AUTH depend on TLS).
    fn keywords(&self) -> Vec<String> {
        let cfg = &self.cfg;
        let mut k = vec!["PIPELINING".to_string(), "ENHANCEDSTATUSCODES".into(), "8BITMIME".into()];
        k.push(match cfg.max_message_size {
            0 => "SIZE".into(),
            n => format!("SIZE {n}"),
        });
        k.push("CHUNKING".into());
        if cfg.smtputf8 {
            k.push("SMTPUTF8".into());
        }
        if cfg.dsn {
            k.push("DSN".into());
        }
        // RFC 8689 §4.1: only where the session it promises for the next hop is itself TLS.
        if cfg.requiretls && self.tls_active {
            k.push("REQUIRETLS".into());
        }
        if cfg.starttls && !self.tls_active {
            k.push("STARTTLS".into());
        }
        if self.auth_offered() {
            k.push(format!("AUTH {}", proto::sasl::OFFERED));
        }
        k
    }
}

/// A host name (letters, digits, `-`, `_`, as Postfix's `valid_hostname` allows; labels of 1 to
/// 63, at most 255 in all, not all-numeric, an optional final dot), an IPv4 address, or an
/// address literal `[192.0.2.1]` / `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3).
pub(crate) fn valid_helo(name: &str) -> bool {
    if let Some(literal) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return match literal.get(..5) {
            Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => literal[5..].parse::<Ipv6Addr>().is_ok(),
            _ => literal.parse::<Ipv4Addr>().is_ok(),
        };
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let host = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (1..=255).contains(&host.len())
        && host.split('.').all(label_ok)
        && !host.split('.').all(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::valid_helo;

    #[test]
    fn helo_names() {
        for good in [
            "mx.example.com",
            "mx.example.com.",
            "localhost",
            "a-b.c_d.test",
            "192.0.2.1",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
            "[ipv6:::1]",
            "1host.test",
        ] {
            assert!(valid_helo(good), "{good}");
        }
        let long_label = "a".repeat(64);
        for bad in [
            "",
            ".",
            "mx..test",
            "-mx.test",
            "mx-.test",
            "mx test",
            "m\u{e9}.test",
            "[mx.test]",
            "[192.0.2.256]",
            "[2001:db8::1]",
            "[IPv6:192.0.2.1]",
            "1.2.3",
            "999.1.1.1",
            long_label.as_str(),
            "x@y",
        ] {
            assert!(!valid_helo(bad), "{bad}");
        }
    }
}
