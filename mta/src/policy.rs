//! Who may do what: relay, send as whom, deliver to which local recipient, how many
//! connections. Each rule is a small function answering a [`Reply`] or nothing, testable alone
//! (Postfix's smtpd_*_restrictions, OpenSMTPD's ok / permanent / temporary lookups).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use authlib::{Directory, Target};
use ipnet::IpNet;
use proto::Address;
use smtp::Reply;

/// Which listener a client came in on; the rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Port 25: mail from other MTAs for our domains; relay only for mynetworks or AUTH.
    Mx,
    /// Port 587: submission, AUTH required (after STARTTLS).
    Submission,
    /// Port 465: submission over implicit TLS, AUTH required.
    Submissions,
    /// The local submission socket (`mailroomctl sendmail`): local users, trusted like Postfix's
    /// sendmail/pickup.
    Local,
}

impl Role {
    /// Name for logs and the Received: header.
    pub fn name(self) -> &'static str {
        match self {
            Role::Mx => "smtp",
            Role::Submission => "submission",
            Role::Submissions => "submissions",
            Role::Local => "local",
        }
    }
}

/// What the policy knows about the client at a decision.
#[derive(Debug, Clone)]
pub struct Client {
    /// Listener.
    pub role: Role,
    /// Address (None on the local socket).
    pub ip: Option<IpAddr>,
    /// SASL login, once authenticated.
    pub login: Option<String>,
}

/// Parsed `mynetworks`.
#[derive(Debug, Clone, Default)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// Parse CIDR blocks or plain addresses.
    pub fn parse(list: &[String]) -> Result<Networks, String> {
        list.iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("mynetworks: {s:?} is not an address or CIDR block"))
            })
            .collect::<Result<_, _>>()
            .map(Networks)
    }

    /// Is `ip` inside one of the blocks? IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// May this client relay (send to domains that are not ours)?
pub fn may_relay(client: &Client, mynetworks: &Networks) -> bool {
    client.login.is_some()
        || client.role == Role::Local
        || client.ip.is_some_and(|ip| mynetworks.contains(ip))
}

/// Whose mail gets SPF, DKIM, ARC and DMARC checks: port 25 clients that are neither
/// authenticated nor in mynetworks (our own users' mail is not judged by foreign rules).
pub fn checks_sender_auth(client: &Client, mynetworks: &Networks) -> bool {
    client.role == Role::Mx && !may_relay(client, mynetworks)
}

/// MAIL on a submission port needs AUTH first.
pub fn require_auth(client: &Client) -> Option<Reply> {
    let submission = matches!(client.role, Role::Submission | Role::Submissions);
    (submission && client.login.is_none()).then(|| Reply::new(530, "5.7.0", "Authentication required"))
}

/// An authenticated client may only use sender addresses its login owns
/// (reject_sender_login_mismatch). The null sender is allowed.
pub async fn check_sender(dir: &Directory, client: &Client, sender: &str) -> Option<Reply> {
    let login = client.login.as_deref()?;
    if sender.is_empty() {
        return None;
    }
    let refuse = || {
        Reply::new(553, "5.7.1", format!("<{sender}>: Sender address rejected: not owned by user {login}"))
    };
    let (Ok(login_addr), Ok(sender_addr)) = (Address::parse(login), Address::parse(sender)) else {
        return Some(refuse());
    };
    match dir.may_send_as(&login_addr, &sender_addr).await {
        Ok(true) => None,
        Ok(false) => Some(refuse()),
        Err(e) => {
            tracing::warn!(error = %e, "sender check: directory unavailable");
            Some(Reply::new(451, "4.3.0", "Sender check temporarily unavailable, try again later"))
        }
    }
}

/// A recipient accepted, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// One of our domains: the mailboxes and forwarding addresses it resolves to.
    Local(Vec<Target>),
    /// Elsewhere (relay).
    Remote(Address),
}

/// Decide on a recipient: ours and known (250), ours and unknown (550 5.1.1), elsewhere and
/// the client may relay (250), elsewhere and it may not (554 5.7.1); 451 4.3.0 when the
/// directory cannot answer, never a 5xx.
pub async fn check_recipient(
    dir: &Directory,
    client: &Client,
    mynetworks: &Networks,
    rcpt: &str,
) -> Result<Accepted, Reply> {
    let unavailable = |e: authlib::Unavailable| {
        tracing::warn!(rcpt, error = %e, "recipient check: directory unavailable");
        Reply::new(451, "4.3.0", format!("<{rcpt}>: Recipient address lookup temporarily unavailable"))
    };
    let addr = Address::parse(rcpt)
        .map_err(|_| Reply::new(501, "5.1.3", format!("<{rcpt}>: Bad recipient address syntax")))?;
    // resolve() answers "not found" both for strangers' domains and for unknown users of
    // ours; only then is the domain asked about on its own.
    if let Some(targets) = dir.resolve(&addr).await.map_err(unavailable)?.filter(|t| !t.is_empty()) {
        return Ok(Accepted::Local(targets));
    }
    if dir.local_domain(addr.domain()).await.map_err(unavailable)?.is_some() {
        return Err(Reply::new(550, "5.1.1", format!("<{rcpt}>: Recipient address rejected: User unknown")));
    }
    if may_relay(client, mynetworks) {
        Ok(Accepted::Remote(addr))
    } else {
        Err(Reply::new(554, "5.7.1", format!("<{rcpt}>: Relay access denied")))
    }
}

/// Connections per client address (smtpd_client_connection_count_limit).
#[derive(Debug, Clone, Default)]
pub struct ConnectionCount {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A counted connection; dropping it gives the slot back.
#[derive(Debug)]
pub struct Slot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl ConnectionCount {
    /// Take a slot for `ip`, or the 421 to send when it already has `limit` connections.
    pub fn enter(&self, ip: IpAddr, limit: usize) -> Result<Slot, Reply> {
        let mut counts = self.counts.lock().expect("connection counts poisoned");
        let n = counts.entry(ip).or_insert(0);
        if limit > 0 && *n >= limit {
            return Err(Reply::new(421, "4.7.0", format!("Error: too many connections from {ip}")));
        }
        *n += 1;
        Ok(Slot { counts: self.counts.clone(), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("connection counts poisoned");
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(role: Role, ip: &str, login: Option<&str>) -> Client {
        Client { role, ip: ip.parse().ok(), login: login.map(str::to_string) }
    }

    #[test]
    fn relay_needs_auth_mynetworks_or_local() {
        let nets =
            Networks::parse(&["127.0.0.0/8".into(), "10.1.2.3".into(), "2001:db8::/32".into()]).unwrap();
        let cases = [
            (client(Role::Mx, "192.0.2.7", None), false),
            (client(Role::Mx, "192.0.2.7", Some("bob@b.test")), true),
            (client(Role::Mx, "127.0.0.1", None), true),
            (client(Role::Mx, "::ffff:127.0.0.1", None), true),
            (client(Role::Mx, "10.1.2.3", None), true),
            (client(Role::Mx, "10.1.2.4", None), false),
            (client(Role::Mx, "2001:db8::5", None), true),
            (client(Role::Submission, "192.0.2.7", None), false),
            (client(Role::Local, "", None), true),
        ];
        for (c, want) in cases {
            assert_eq!(may_relay(&c, &nets), want, "{c:?}");
        }
        assert!(Networks::parse(&["not-a-net".into()]).is_err());
    }

    #[test]
    fn submission_ports_require_auth() {
        assert!(require_auth(&client(Role::Submission, "192.0.2.7", None)).is_some_and(|r| r.code == 530));
        assert!(require_auth(&client(Role::Submissions, "192.0.2.7", None)).is_some());
        assert!(require_auth(&client(Role::Submission, "192.0.2.7", Some("bob@b.test"))).is_none());
        assert!(require_auth(&client(Role::Mx, "192.0.2.7", None)).is_none());
        assert!(require_auth(&client(Role::Local, "", None)).is_none());
    }

    #[test]
    fn sender_auth_only_for_strangers_on_port_25() {
        let nets = Networks::parse(&["10.0.0.0/8".into()]).unwrap();
        assert!(checks_sender_auth(&client(Role::Mx, "192.0.2.7", None), &nets));
        assert!(!checks_sender_auth(&client(Role::Mx, "10.1.2.3", None), &nets));
        assert!(!checks_sender_auth(&client(Role::Mx, "192.0.2.7", Some("bob@b.test")), &nets));
        assert!(!checks_sender_auth(&client(Role::Submission, "192.0.2.7", Some("bob@b.test")), &nets));
        assert!(!checks_sender_auth(&client(Role::Local, "", None), &nets));
    }

    #[test]
    fn connection_slots_are_counted_and_returned() {
        let c = ConnectionCount::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let a = c.enter(ip, 2).unwrap();
        let _b = c.enter(ip, 2).unwrap();
        assert_eq!(c.enter(ip, 2).unwrap_err().code, 421);
        assert!(c.enter("192.0.2.8".parse().unwrap(), 2).is_ok());
        drop(a);
        assert!(c.enter(ip, 2).is_ok());
    }
}
