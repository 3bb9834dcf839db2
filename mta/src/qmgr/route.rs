//! Where a remote recipient's mail goes, decided as Postfix's trivial-rewrite does: the
//! transport map first (transport(5): exact domain, then `.parent` entries for subdomains),
//! then the relayhost, else the recipient domain's own MX hosts. No I/O: the DNS side is
//! [`super::mx`].

use std::collections::BTreeMap;

use super::lmtp::Target;

/// The next hop for SMTP: a name to look up and how.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nexthop {
    /// A domain or host name (or an IP address).
    pub host: String,
    /// Port; `None`: the configured SMTP port.
    pub port: Option<u16>,
    /// Look up MX records for `host` (`[host]` turns it off, as in Postfix).
    pub mx: bool,
    /// This is the relayhost: AUTH credentials apply.
    pub relay: bool,
}

impl Nexthop {
    /// MX delivery to a recipient domain.
    pub fn domain(domain: &str) -> Nexthop {
        Nexthop { host: domain.to_ascii_lowercase(), port: None, mx: true, relay: false }
    }

    /// Parse Postfix's `host`, `[host]`, `host:port` or `[host]:port`.
    pub fn parse(s: &str) -> Result<Nexthop, String> {
        let bad = || format!("{s:?} is not host, [host], host:port or [host]:port");
        let (host, mx, rest) = match s.strip_prefix('[') {
            Some(r) => {
                let (h, rest) = r.split_once(']').ok_or_else(bad)?;
                (h, false, rest)
            }
            None => match s.rsplit_once(':') {
                Some((h, _)) if !h.contains(':') => (h, true, &s[h.len()..]),
                _ => (s, true, ""),
            },
        };
        let port = match rest {
            "" => None,
            r => Some(r.strip_prefix(':').and_then(|p| p.parse().ok()).ok_or_else(bad)?),
        };
        if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)) {
            return Err(bad());
        }
        Ok(Nexthop { host: host.to_ascii_lowercase(), port, mx, relay: false })
    }

    /// One name per destination, for connection reuse, the concurrency limit and logs.
    pub fn key(&self) -> String {
        let host = if self.mx { self.host.clone() } else { format!("[{}]", self.host) };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }
}

/// A remote recipient's transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// SMTP to this next hop.
    Smtp(Nexthop),
    /// LMTP to this server (a transport map entry `lmtp:unix:/path` or `lmtp:inet:host:port`).
    Lmtp(Target),
}

/// The routing table from `[mta]`.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    map: BTreeMap<String, Route>,
    relayhost: Option<Nexthop>,
}

impl Routes {
    /// Build from `transport_map` and `relayhost`; errors name the bad entry.
    pub fn new(map: &BTreeMap<String, String>, relayhost: &str) -> Result<Routes, String> {
        let mut routes = Routes::default();
        for (domain, value) in map {
            let route = parse_route(value).map_err(|e| format!("transport_map {domain:?}: {e}"))?;
            let route = match route {
                Some(r) => r,
                // `smtp:` with no next hop: the domain's own MX hosts.
                None => Route::Smtp(Nexthop::domain(domain.trim_start_matches('.'))),
            };
            routes.map.insert(domain.to_ascii_lowercase(), route);
        }
        if !relayhost.is_empty() {
            let mut hop = Nexthop::parse(relayhost).map_err(|e| format!("relayhost: {e}"))?;
            hop.relay = true;
            routes.relayhost = Some(hop);
        }
        Ok(routes)
    }

    /// The route for mail to `domain`.
    pub fn route(&self, domain: &str) -> Route {
        let domain = domain.to_ascii_lowercase();
        if let Some(r) = self.map.get(&domain) {
            return r.clone();
        }
        // `.example.com` matches every subdomain, nearest parent first.
        let mut rest = domain.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(r) = self.map.get(&format!(".{parent}")) {
                return r.clone();
            }
            rest = parent;
        }
        match &self.relayhost {
            Some(hop) => Route::Smtp(hop.clone()),
            None => Route::Smtp(Nexthop::domain(&domain)),
        }
    }

    /// Every LMTP target the map names, to open one client for each at start.
    pub fn lmtp_targets(&self) -> impl Iterator<Item = &Target> {
        self.map.values().filter_map(|r| match r {
            Route::Lmtp(t) => Some(t),
            Route::Smtp(_) => None,
        })
    }
}

/// `smtp:NEXTHOP`, `smtp:` (MX of the domain: `None`) or `lmtp:TARGET`.
fn parse_route(value: &str) -> Result<Option<Route>, String> {
    if let Some(hop) = value.strip_prefix("smtp:") {
        return match hop {
            "" => Ok(None),
            h => Nexthop::parse(h).map(|n| Some(Route::Smtp(n))),
        };
    }
    if let Some(t) = value.strip_prefix("lmtp:") {
        return Target::parse(t).map(|t| Some(Route::Lmtp(t)));
    }
    Err(format!("{value:?} is neither smtp:NEXTHOP nor lmtp:unix:PATH / lmtp:inet:HOST:PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nexthops() {
        let n = |s: &str| Nexthop::parse(s).map(|h| (h.host, h.port, h.mx));
        assert_eq!(n("mx.test"), Ok(("mx.test".into(), None, true)));
        assert_eq!(n("[mx.test]"), Ok(("mx.test".into(), None, false)));
        assert_eq!(n("Relay.Test:587"), Ok(("relay.test".into(), Some(587), true)));
        assert_eq!(n("[127.0.0.2]:2525"), Ok(("127.0.0.2".into(), Some(2525), false)));
        assert_eq!(n("[::1]:25"), Ok(("::1".into(), Some(25), false)));
        assert!(n("[mx.test").is_err());
        assert!(n("mx.test:port").is_err());
        assert!(n("mx test").is_err());
        assert!(n("").is_err());
        assert_eq!(Nexthop::parse("[r.test]:587").unwrap().key(), "[r.test]:587");
        assert_eq!(Nexthop::domain("B.test").key(), "b.test");
    }

    #[test]
    fn routes_in_postfix_order() {
        let map: BTreeMap<String, String> = [
            ("a.test", "smtp:[10.0.0.1]:2525"),
            (".a.test", "smtp:sub-relay.test"),
            ("local.test", "lmtp:unix:/run/dovecot/lmtp"),
            ("mx.test", "smtp:"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = Routes::new(&map, "[smarthost.test]:587").unwrap();
        let smtp = |route: Route| match route {
            Route::Smtp(h) => h.key(),
            Route::Lmtp(t) => t.to_string(),
        };
        assert_eq!(smtp(r.route("A.test")), "[10.0.0.1]:2525");
        assert_eq!(smtp(r.route("x.y.a.test")), "sub-relay.test");
        assert_eq!(smtp(r.route("local.test")), "unix:/run/dovecot/lmtp");
        assert_eq!(smtp(r.route("mx.test")), "mx.test");
        assert_eq!(smtp(r.route("other.test")), "[smarthost.test]:587");
        assert!(matches!(r.route("other.test"), Route::Smtp(Nexthop { relay: true, .. })));
        assert_eq!(r.lmtp_targets().count(), 1);
        let direct = Routes::new(&BTreeMap::new(), "").unwrap();
        assert_eq!(smtp(direct.route("b.test")), "b.test");
        let bad: BTreeMap<String, String> = [("x.test".to_string(), "uucp:x".to_string())].into();
        assert!(Routes::new(&bad, "").is_err());
        assert!(Routes::new(&BTreeMap::new(), "[x").is_err());
    }
}
