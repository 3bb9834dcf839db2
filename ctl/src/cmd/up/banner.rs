//! What `mailroomctl up` prints once the stack answers: the demo users, the ports, and how to
//! send and read a message with common tools.

use std::net::SocketAddr;

use super::setup::{DemoUser, Layout};

/// The first address of a listener list, or a dash.
fn first(list: &[SocketAddr]) -> String {
    list.first().map_or("-".into(), |a| a.to_string())
}

/// Host and port for tools that take them apart (`[::1]:25` gives `::1`), or dashes.
fn host_port(list: &[SocketAddr]) -> (String, String) {
    list.first().map_or(("-".into(), "-".into()), |a| (a.ip().to_string(), a.port().to_string()))
}

/// Print the banner; the last line, `mailroom is up`, marks the end of startup for scripts.
pub fn print(layout: &Layout, cfg: &config::Config, users: &[DemoUser]) {
    let (m, r) = (&cfg.mta, &cfg.mra);
    let config = layout.config();
    let config = config.display();
    println!();
    println!(
        "  SMTP {}   submission {} (STARTTLS)   submissions {} (TLS)",
        first(&m.smtp_listen),
        first(&m.submission_listen),
        first(&m.submissions_listen)
    );
    println!(
        "  IMAP {} (STARTTLS)   IMAPS {}   POP3 {} (STLS)   POP3S {}",
        first(&r.imap_listen),
        first(&r.imaps_listen),
        first(&r.pop3_listen),
        first(&r.pop3s_listen)
    );
    println!("  ManageSieve {} (STARTTLS)", first(&r.managesieve_listen));
    println!("  certificate {} (self-signed: tell clients to accept it)", cfg.tls.cert);
    println!();
    if users.is_empty() {
        println!("  (no demo passwords recorded in {})", layout.passwords().display());
    }
    let (admins, users): (Vec<&DemoUser>, Vec<&DemoUser>) =
        users.iter().partition(|u| u.address == super::DEMO_ADMIN);
    for u in &users {
        println!("  user {:<22} password {}", u.address, u.password);
    }
    if let [from, to, ..] = users[..] {
        usage(cfg, from, to);
    }
    if let Some(addr) = cfg.web.listen.first() {
        println!();
        println!("  Web admin:    https://{addr}/ (self-signed certificate)");
        for a in admins {
            println!("                login {} password {}", a.address, a.password);
        }
    }
    println!();
    println!("  Add a user:   mailroomctl --config {config} user add carol@{}", super::DEMO_DOMAIN);
    println!("  Queue:        mailroomctl --config {config} queue list");
    println!("  Sieve:        mailroomctl --config {config} sieve list USER (or a ManageSieve client)");
    for (name, addr) in super::metrics(cfg) {
        println!("  Metrics:      http://{addr}/metrics ({name}, Prometheus)");
    }
    println!("  Stop:         Ctrl-C");
    println!();
    println!("mailroom is up");
}

/// Copy-and-paste commands: swaks submits as `from` to `to`, curl reads `to`'s INBOX.
fn usage(cfg: &config::Config, from: &DemoUser, to: &DemoUser) {
    let (host, port) = host_port(&cfg.mta.submission_listen);
    let (ihost, iport) = host_port(&cfg.mra.imaps_listen);
    println!();
    println!("  Send a message from {} to {} (AUTH over STARTTLS):", from.address, to.address);
    println!(
        "    swaks --server {host} --port {port} --tls --auth PLAIN --auth-user {} --auth-password {} \\",
        from.address, from.password
    );
    println!("          --from {} --to {} --body 'Hello from mailroom'", from.address, to.address);
    println!(
        "  Read it over IMAPS (any IMAP client: server {ihost}, port {iport}, SSL/TLS, user {}):",
        to.address
    );
    println!("    curl -k --user '{}:{}' 'imaps://{ihost}:{iport}/INBOX;UID=1'", to.address, to.password);
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_port_splits() {
        let split = |a: &str| super::host_port(&[a.parse().unwrap()]);
        assert_eq!(split("127.0.0.1:2587"), ("127.0.0.1".into(), "2587".into()));
        assert_eq!(split("[::1]:2993"), ("::1".into(), "2993".into()));
        assert_eq!(super::host_port(&[]), ("-".into(), "-".into()));
    }
}
