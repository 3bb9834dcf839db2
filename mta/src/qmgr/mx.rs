//! MX resolution (RFC 5321 §5.1): a next hop's mail exchangers in preference order, random
//! among equal preferences; the implicit MX (the domain's own A/AAAA) when it has none; null
//! MX (RFC 7505) as a permanent failure. Every answer is one of three: the hosts, a permanent
//! failure (bounce), or a temporary one (retry), never a guess. For DANE the same lookups go
//! through a second, DNSSEC-validating resolver (RFC 7672 §2.2), which also finds TLSA records.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::rr::rdata::TLSA;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use hickory_resolver::{ResolverBuilder, TokioResolver};
use rand::seq::SliceRandom;
use smtp::client::ServerReply;

use super::route::Nexthop;

/// One host to try, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Its name (for TLS verification and logs).
    pub name: String,
    /// Its addresses, in the resolver's order.
    pub addrs: Vec<IpAddr>,
    /// Its MX record (if any) and addresses are DNSSEC-secure: its TLSA records count.
    pub secure: bool,
}

/// The resolvers: plain, and DNSSEC-validating for DANE.
pub struct Dns {
    resolver: TokioResolver,
    validating: TokioResolver,
}

impl Dns {
    /// Resolvers asking `servers` (`IP` or `IP:PORT`), or the system's when empty; the
    /// validating one trusts the DNSKEYs of `trust_anchor_file`, or the root's when empty.
    pub fn new(servers: &[String], trust_anchor_file: &str) -> Result<Dns, String> {
        let resolver = resolver(servers)?;
        let anchors = match trust_anchor_file {
            "" => TrustAnchors::default(),
            f => TrustAnchors::from_file(f.as_ref())
                .map_err(|e| format!("dnssec_trust_anchor_file {f}: {e}"))?,
        };
        let mut validating = builder(servers)?.with_trust_anchor(Arc::new(anchors));
        validating.options_mut().validate = true;
        validating.options_mut().edns0 = true;
        let validating = validating.build().map_err(|e| format!("resolver: {e}"))?;
        Ok(Dns { resolver, validating })
    }

    /// The resolver itself, for other lookups (mailroom-web's check of a domain's records).
    pub fn resolver(&self) -> &TokioResolver {
        &self.resolver
    }

    /// The hosts to try for `hop`, best first; `Err` is the reply every recipient gets. With
    /// `dnssec`, looked up through the validating resolver, which marks them secure or not.
    pub async fn hosts(&self, hop: &Nexthop, dnssec: bool) -> Result<Vec<Host>, ServerReply> {
        if let Ok(ip) = hop.host.parse::<IpAddr>() {
            return Ok(vec![Host { name: hop.host.clone(), addrs: vec![ip], secure: false }]);
        }
        let r = if dnssec { &self.validating } else { &self.resolver };
        let (names, mx_secure) =
            if hop.mx { mx(r, &hop.host).await? } else { (vec![hop.host.clone()], true) };
        let mut hosts = Vec::new();
        let mut trouble = None;
        for name in names {
            match addresses(r, &name).await {
                Ok((addrs, secure)) => {
                    hosts.push(Host { name, addrs, secure: dnssec && mx_secure && secure })
                }
                Err(r) => trouble = Some(r),
            }
        }
        if hosts.is_empty() {
            // An MX host that does not resolve is the domain's mistake, often mended soon:
            // retry (Postfix does the same), unless there was no MX and the name itself is gone.
            let r = trouble.unwrap_or_else(|| temp("no mail exchanger has an address"));
            return Err(if hop.mx { r } else { to_temp(r) });
        }
        Ok(hosts)
    }

    /// The DNSSEC-secure TLSA records of `host` for `port` (RFC 7672 §2.2.3); `None` when it
    /// has none or they are not secure. `Err` when the answer is bogus or the lookup failed:
    /// that host must not be used (and is not worth a bounce).
    pub async fn tlsa(&self, host: &str, port: u16) -> Result<Option<Vec<TLSA>>, ServerReply> {
        let owner = format!("_{port}._tcp.{}", host.trim_end_matches('.'));
        let name = fqdn(&owner).map_err(to_temp)?;
        match self.validating.lookup(name, RecordType::TLSA).await {
            Ok(l) => {
                let answers = l.answers();
                if !all_secure(answers.iter().filter(|r| r.record_type() == RecordType::TLSA)) {
                    return Ok(None);
                }
                let records = answers
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::TLSA(t) => Some(t.clone()),
                        _ => None,
                    })
                    .collect();
                Ok(Some(records))
            }
            Err(e) if no_records(&e) => Ok(None),
            Err(e) => Err(unavailable(&owner, "TLSA", &e)),
        }
    }
}

fn builder(servers: &[String]) -> Result<ResolverBuilder<TokioRuntimeProvider>, String> {
    Ok(if servers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| format!("system resolver: {e}"))?
    } else {
        let mut config = ResolverConfig::from_name_servers(Vec::new());
        for s in servers {
            let addr = s
                .parse::<SocketAddr>()
                .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| format!("dns_servers: {s:?} is not IP or IP:PORT"))?;
            let conns = [ConnectionConfig::udp(), ConnectionConfig::tcp()].map(|mut c| {
                c.port = addr.port();
                c
            });
            config.add_name_server(NameServerConfig::new(addr.ip(), true, conns.into()));
        }
        TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
    })
}

/// The MX names of `domain` in the order to try (the domain itself when it has no MX), and
/// whether the MX RRset is DNSSEC-secure (the implicit MX leaves it to the address records).
async fn mx(r: &TokioResolver, domain: &str) -> Result<(Vec<String>, bool), ServerReply> {
    let name = fqdn(domain)?;
    let lookup = match r.lookup(name, RecordType::MX).await {
        Ok(l) => l,
        Err(e) if e.is_nx_domain() => return Err(not_found(domain, "MX")),
        // NOERROR with no MX: the implicit MX (RFC 5321 §5.1).
        Err(e) if no_records(&e) => return Ok((vec![domain.to_string()], true)),
        Err(e) => return Err(unavailable(domain, "MX", &e)),
    };
    let records = lookup.answers().iter().filter(|r| r.record_type() == RecordType::MX);
    let secure = all_secure(records.clone());
    let mx: Vec<(u16, String)> = records
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
            _ => None,
        })
        .collect();
    if mx.is_empty() {
        return Ok((vec![domain.to_string()], true));
    }
    Ok((order(mx, &mut rand::thread_rng())?, secure))
}

/// A and AAAA of `host`, and whether they are all DNSSEC-secure.
async fn addresses(r: &TokioResolver, host: &str) -> Result<(Vec<IpAddr>, bool), ServerReply> {
    match r.lookup_ip(fqdn(host)?).await {
        Ok(ips) => {
            let records = ips.as_lookup().answers().iter();
            let secure =
                all_secure(records.filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA)));
            Ok((ips.iter().collect(), secure))
        }
        Err(e) if e.is_nx_domain() || no_records(&e) => Err(not_found(host, "A")),
        Err(e) => Err(unavailable(host, "A", &e)),
    }
}

/// Every record is proven secure (a non-validating resolver proves nothing).
fn all_secure<'a>(mut records: impl Iterator<Item = &'a Record>) -> bool {
    let mut any = false;
    records.all(|r| {
        any = true;
        r.proof == Proof::Secure
    }) && any
}

/// No records of the type, or the name does not exist, securely or not; a bogus denial is an
/// error instead (hickory answers `DnssecBogus`).
fn no_records(e: &NetError) -> bool {
    match e {
        NetError::Dns(DnsError::Nsec { proof, .. }) => *proof != Proof::Bogus,
        e => e.is_no_records_found(),
    }
}

/// The TXT records at `name`, each record's strings joined (as RFC 7208, 8461 and 8460 read
/// them); none when the name or the type does not exist.
pub async fn txt(resolver: &TokioResolver, name: &str) -> Result<Vec<String>, String> {
    let name = Name::from_ascii(name).map_err(|e| e.to_string())?;
    match resolver.lookup(name, RecordType::TXT).await {
        Ok(l) => Ok(l
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(t.txt_data.iter().map(|p| String::from_utf8_lossy(p)).collect()),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// The resolver of `[mta] dns_servers` (`IP` or `IP:PORT`), or the system's when empty; MX
/// lookups and sender authentication share its configuration.
pub fn resolver(servers: &[String]) -> Result<TokioResolver, String> {
    builder(servers)?.build().map_err(|e| format!("resolver: {e}"))
}

/// Preference order, shuffled among equals (RFC 5321 §5.1) so equal hosts share the load;
/// a null MX (RFC 7505: one record, preference 0, exchange ".") refuses mail at once.
pub fn order(mut mx: Vec<(u16, String)>, rng: &mut impl rand::Rng) -> Result<Vec<String>, ServerReply> {
    let is_null = |(_, n): &(u16, String)| n.is_empty() || n == ".";
    if mx.iter().any(is_null) {
        return Err(ServerReply::new(556, Some("5.1.10"), "recipient domain has a null MX (RFC 7505)"));
    }
    mx.shuffle(rng);
    // A stable sort keeps the shuffle among equal preferences.
    mx.sort_by_key(|(p, _)| *p);
    let mut names: Vec<String> = Vec::new();
    for (_, n) in mx {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    Ok(names)
}

/// The absolute name, so no search domain of resolv.conf is tried.
fn fqdn(host: &str) -> Result<Name, ServerReply> {
    let host = host.trim_end_matches('.');
    Name::from_ascii(format!("{host}."))
        .map_err(|_| ServerReply::new(550, Some("5.1.2"), format!("bad domain name {host:?}")))
}

fn not_found(name: &str, rtype: &str) -> ServerReply {
    ServerReply::new(
        550,
        Some("5.1.2"),
        format!("Host or domain name not found. Name service error for name={name} type={rtype}"),
    )
}

fn unavailable(name: &str, rtype: &str, e: &NetError) -> ServerReply {
    temp(&format!("Name service error for name={name} type={rtype}: {e}"))
}

fn temp(text: &str) -> ServerReply {
    ServerReply::new(451, Some("4.4.3"), text)
}

fn to_temp(r: ServerReply) -> ServerReply {
    if r.is_permanent() { ServerReply::new(451, Some("4.4.3"), r.text) } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn mx(list: &[(u16, &str)]) -> Vec<(u16, String)> {
        list.iter().map(|(p, n)| (*p, n.to_string())).collect()
    }

    #[test]
    fn preference_order_with_equals_shuffled() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let o =
                order(mx(&[(20, "c.test."), (10, "a.test."), (10, "b.test."), (30, "d.test.")]), &mut rng)
                    .unwrap();
            assert_eq!(o[2..], ["c.test".to_string(), "d.test".to_string()]);
            seen.insert(o[0].clone());
        }
        assert_eq!(seen.len(), 2, "both equal-preference hosts come first sometimes");
    }

    #[test]
    fn null_mx_and_duplicates() {
        let mut rng = rand::thread_rng();
        let e = order(mx(&[(0, ".")]), &mut rng).unwrap_err();
        assert_eq!((e.code, e.enhanced.as_deref()), (556, Some("5.1.10")));
        assert_eq!(order(mx(&[(5, "A.test."), (9, "a.test")]), &mut rng).unwrap(), ["a.test"]);
    }

    #[test]
    fn literal_addresses_need_no_dns() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dns = Dns::new(&["127.0.0.1:9".into()], "").unwrap();
            let hop = Nexthop::parse("[127.0.0.2]:2525").unwrap();
            let hosts = dns.hosts(&hop, true).await.unwrap();
            assert_eq!(hosts[0].addrs, vec!["127.0.0.2".parse::<IpAddr>().unwrap()]);
        });
        assert!(Dns::new(&["nameserver".into()], "").is_err());
        assert!(Dns::new(&[], "/nonexistent/anchors").is_err());
    }
}
