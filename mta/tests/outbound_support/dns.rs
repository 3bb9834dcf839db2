//! A DNS server on loopback for the outbound and sender-authentication tests (and
//! mailroom-web's record check): answers A, MX, TXT and SRV queries from a fixed zone over UDP
//! with hickory-proto's message codec, NXDOMAIN for names it does not know, an empty NOERROR
//! answer for other types of names it does know (so "no MX" means the implicit MX, as on the
//! internet), and SERVFAIL for names marked broken.

#![allow(dead_code)] // each test file uses a part

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, MX, SRV, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// One record of the zone.
#[derive(Debug, Clone)]
pub enum Rr {
    /// MX preference and exchange ("." for a null MX).
    Mx(u16, &'static str),
    /// IPv4 address.
    A(Ipv4Addr),
    /// Text (SPF, DKIM key, DMARC policy), split into 255-byte strings as zone files do.
    Txt(String),
    /// SRV priority, weight, port and target.
    Srv(u16, u16, u16, &'static str),
    /// Every query for the name fails with SERVFAIL (a broken authoritative server).
    ServFail,
}

/// Serve `zone` (owner name → records) on a free UDP port of 127.0.0.1, on a thread that
/// lives as long as the test process; returns its address.
pub fn serve(zone: &[(&'static str, Rr)]) -> SocketAddr {
    let mut table: HashMap<String, Vec<Rr>> = HashMap::new();
    for (name, rr) in zone {
        table.entry(name.to_ascii_lowercase()).or_default().push(rr.clone());
    }
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else { return };
            let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
            let reply = answer(&table, &query);
            let _ = sock.send_to(&reply.to_vec().unwrap(), peer);
        }
    });
    addr
}

fn answer(table: &HashMap<String, Vec<Rr>>, query: &Message) -> Message {
    let mut r = Message::response(query.metadata.id, OpCode::Query);
    r.metadata.authoritative = true;
    r.metadata.recursion_desired = query.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    for q in &query.queries {
        r.add_query(q.clone());
        let key = q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let Some(records) = table.get(&key) else {
            r.metadata.response_code = ResponseCode::NXDomain;
            continue;
        };
        for rr in records {
            let data = match (rr, q.query_type()) {
                (Rr::ServFail, _) => {
                    r.metadata.response_code = ResponseCode::ServFail;
                    continue;
                }
                (Rr::Txt(text), RecordType::TXT) => {
                    let parts = text.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned());
                    RData::TXT(TXT::new(parts.collect()))
                }
                (Rr::Mx(pref, host), RecordType::MX) => {
                    RData::MX(MX::new(*pref, Name::from_ascii(host).unwrap()))
                }
                (Rr::A(ip), RecordType::A) => RData::A(A(*ip)),
                (Rr::Srv(p, w, port, target), RecordType::SRV) => {
                    RData::SRV(SRV::new(*p, *w, *port, Name::from_ascii(target).unwrap()))
                }
                _ => continue,
            };
            r.add_answer(Record::from_rdata(q.name().clone(), 60, data));
        }
    }
    r
}
