//! Per-client rate limits, kept as Postfix's anvil(8) keeps them for smtpd: connections, MAIL
//! and RCPT commands per client address and listener, counted in a window of
//! `anvil_rate_time_unit` that opens at the client's first event; once it has passed, the
//! counts start again. Refused attempts count too, as in anvil. In memory only: a restart
//! forgets, as anvil does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use smtp::Reply;

use crate::policy::{Networks, Role};

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A new connection (smtpd_client_connection_rate_limit).
    Connection = 0,
    /// A MAIL FROM (smtpd_client_message_rate_limit).
    Message = 1,
    /// A RCPT TO (smtpd_client_recipient_rate_limit).
    Recipient = 2,
}

/// The most events of each kind per window; 0: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Connections.
    pub connections: u32,
    /// MAIL FROM commands.
    pub messages: u32,
    /// RCPT TO commands.
    pub recipients: u32,
}

impl Limits {
    fn of(&self, e: Event) -> u32 {
        match e {
            Event::Connection => self.connections,
            Event::Message => self.messages,
            Event::Recipient => self.recipients,
        }
    }
}

/// One client's counts in its current window.
struct Window {
    start: Instant,
    counts: [u32; 3],
}

struct Clients {
    windows: HashMap<(Role, IpAddr), Window>,
    /// When windows that have passed were last forgotten.
    swept: Instant,
}

/// The rate limits every session shares.
pub struct Anvil {
    limits: Limits,
    unit: Duration,
    exceptions: Networks,
    /// Our name, in the 421.
    hostname: String,
    clients: Mutex<Clients>,
}

impl Anvil {
    /// `limits` per `unit`; clients in `exceptions` are never counted.
    pub fn new(limits: Limits, unit: Duration, exceptions: Networks, hostname: String) -> Anvil {
        let clients = Clients { windows: HashMap::new(), swept: Instant::now() };
        Anvil { limits, unit, exceptions, hostname, clients: Mutex::new(clients) }
    }

    /// Is `ip` exempt from the connection count and rate limits
    /// (smtpd_client_event_limit_exceptions)?
    pub fn exempt(&self, ip: IpAddr) -> bool {
        self.exceptions.contains(ip)
    }

    /// Count `event` from `ip` on `role`'s listener: `Err` is the reply when that is more than
    /// its limit allows in the current window (Postfix's replies: 421 4.7.0 for connections,
    /// 450 4.7.1 for MAIL and RCPT).
    pub fn count(&self, role: Role, ip: IpAddr, event: Event) -> Result<(), Reply> {
        self.count_at(role, ip, event, Instant::now())
    }

    fn count_at(&self, role: Role, ip: IpAddr, event: Event, now: Instant) -> Result<(), Reply> {
        let limit = self.limits.of(event);
        if limit == 0 || self.exempt(ip) {
            return Ok(());
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let n = {
            let mut clients = self.clients.lock().expect("anvil poisoned");
            let unit = self.unit;
            if now.duration_since(clients.swept) >= unit {
                clients.windows.retain(|_, w| now.duration_since(w.start) < unit);
                clients.swept = now;
            }
            let w = clients.windows.entry((role, ip)).or_insert(Window { start: now, counts: [0; 3] });
            if now.duration_since(w.start) >= unit {
                *w = Window { start: now, counts: [0; 3] };
            }
            let n = &mut w.counts[event as usize];
            *n = n.saturating_add(1);
            *n
        };
        if n <= limit {
            return Ok(());
        }
        let service = role.name();
        crate::metrics::rate_limited(match event {
            Event::Connection => "connection",
            Event::Message => "message",
            Event::Recipient => "recipient",
        });
        Err(match event {
            Event::Connection => {
                tracing::warn!("Too frequent connections: {n} from [{ip}] for service {service}");
                Reply::new(421, "4.7.0", format!("{} Error: too many connections from {ip}", self.hostname))
            }
            Event::Message => {
                tracing::warn!(
                    "Message delivery request rate limit exceeded: {n} from [{ip}] for service {service}"
                );
                Reply::new(450, "4.7.1", format!("Error: too much mail from {ip}"))
            }
            Event::Recipient => {
                tracing::warn!(
                    "Recipient address rate limit exceeded: {n} from [{ip}] for service {service}"
                );
                Reply::new(450, "4.7.1", format!("Error: too many recipients from {ip}"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anvil(limits: Limits) -> Anvil {
        let exceptions = Networks::parse(&["10.0.0.0/8".into()]).unwrap();
        Anvil::new(limits, Duration::from_secs(60), exceptions, "mx.test".into())
    }

    #[test]
    fn each_event_has_its_limit_and_reply_per_window() {
        let a = anvil(Limits { connections: 2, messages: 1, recipients: 3 });
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(a.count_at(Role::Mx, ip, Event::Connection, at(0)).is_ok());
        assert!(a.count_at(Role::Mx, ip, Event::Connection, at(1)).is_ok());
        let r = a.count_at(Role::Mx, ip, Event::Connection, at(2)).unwrap_err();
        assert_eq!(r.to_string(), "421 4.7.0 mx.test Error: too many connections from 192.0.2.7\r\n");
        // Another listener and another client have their own counts.
        assert!(a.count_at(Role::Submission, ip, Event::Connection, at(2)).is_ok());
        assert!(a.count_at(Role::Mx, "192.0.2.8".parse().unwrap(), Event::Connection, at(2)).is_ok());
        assert!(a.count_at(Role::Mx, ip, Event::Message, at(3)).is_ok());
        let r = a.count_at(Role::Mx, ip, Event::Message, at(3)).unwrap_err();
        assert_eq!(r.to_string(), "450 4.7.1 Error: too much mail from 192.0.2.7\r\n");
        for _ in 0..3 {
            assert!(a.count_at(Role::Mx, ip, Event::Recipient, at(4)).is_ok());
        }
        let r = a.count_at(Role::Mx, ip, Event::Recipient, at(4)).unwrap_err();
        assert_eq!(r.to_string(), "450 4.7.1 Error: too many recipients from 192.0.2.7\r\n");
        // Refused attempts count: still refused until the window that opened at 0 has passed.
        assert!(a.count_at(Role::Mx, ip, Event::Connection, at(59)).is_err());
        assert!(a.count_at(Role::Mx, ip, Event::Connection, at(60)).is_ok());
        assert!(a.count_at(Role::Mx, ip, Event::Message, at(60)).is_ok());
        // The mapped form of an IPv4 address is the same client.
        assert!(a.count_at(Role::Mx, "::ffff:192.0.2.7".parse().unwrap(), Event::Connection, at(61)).is_ok());
        assert!(a.count_at(Role::Mx, ip, Event::Connection, at(61)).is_err());
    }

    #[test]
    fn no_limit_and_exceptions_are_never_counted() {
        let a = anvil(Limits { connections: 1, messages: 0, recipients: 0 });
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..100 {
            assert!(a.count(Role::Mx, ip, Event::Message).is_ok());
            assert!(a.count(Role::Mx, "10.1.2.3".parse().unwrap(), Event::Connection).is_ok());
        }
        assert!(a.exempt("10.1.2.3".parse().unwrap()) && !a.exempt(ip));
    }

    #[test]
    fn passed_windows_are_forgotten() {
        let a = anvil(Limits { connections: 5, messages: 0, recipients: 0 });
        let t0 = Instant::now();
        for i in 0..50u8 {
            let ip = IpAddr::from([192, 0, 2, i]);
            a.count_at(Role::Mx, ip, Event::Connection, t0).unwrap();
        }
        assert_eq!(a.clients.lock().unwrap().windows.len(), 50);
        a.count_at(
            Role::Mx,
            "198.51.100.1".parse().unwrap(),
            Event::Connection,
            t0 + Duration::from_secs(61),
        )
        .unwrap();
        assert_eq!(a.clients.lock().unwrap().windows.len(), 1);
    }
}
