//! The listeners' connection handling: which session settings each role gets, the per-client
//! connection count and rate limits, the DNS lists' lookups started at connect, implicit TLS
//! on port 465.

use std::sync::Arc;
use std::time::Duration;

use daemon::listen::{Peer, Stream};
use daemon::tls::TlsConfig;
use smtp::{BareLf, Handler, Limits, TlsInfo};
use tokio::io::AsyncWriteExt;

use crate::policy::{Client, ConnectionCount, Networks, Role};
use crate::smtpd::anvil::Event;
use crate::smtpd::{Context, Session, dnsbl};

/// Everything a listener's connections share.
pub struct Listening {
    /// Session context.
    pub ctx: Arc<Context>,
    /// `[mta]`.
    pub cfg: config::Mta,
    /// Certificate, when `[tls]` is configured.
    pub tls: Option<Arc<TlsConfig>>,
    /// Connections per client address.
    pub counts: ConnectionCount,
    /// Clients exempt from `bare_lf = "reject"`.
    pub bare_lf_exempt: Networks,
}

impl Listening {
    /// The session settings for a client of `role` at `ip`.
    fn session_config(&self, role: Role, ip: Option<std::net::IpAddr>, tls_active: bool) -> smtp::Config {
        let cfg = &self.cfg;
        let mut s = smtp::Config::smtp(self.ctx.hostname.clone());
        s.max_message_size = cfg.max_message_size;
        s.max_recipients = cfg.max_recipients.get();
        s.max_errors = cfg.max_errors.get();
        s.max_commands = cfg.max_commands;
        s.smtputf8 = true;
        s.dsn = true;
        s.vrfy = cfg.vrfy;
        s.strict_helo = cfg.strict_helo && role != Role::Local;
        s.forbid_unauth_pipelining = cfg.forbid_unauth_pipelining && role != Role::Local;
        let exempt = role == Role::Local || ip.is_some_and(|ip| self.bare_lf_exempt.contains(ip));
        s.bare_lf = match cfg.bare_lf {
            config::BareLf::Reject if !exempt => BareLf::Reject,
            _ => BareLf::Normalize,
        };
        s.tls_active = tls_active;
        s.starttls = self.tls.is_some() && !tls_active && role != Role::Local;
        // Offered under TLS only (the session decides); the queue manager honours it.
        s.requiretls = true;
        // AUTH wherever a login makes sense; before TLS only from loopback when allowed.
        let loopback_plain = cfg.plaintext_auth_on_loopback && ip.is_some_and(|ip| ip.is_loopback());
        s.auth = role != Role::Local;
        s.auth_requires_tls = !loopback_plain;
        s
    }

    fn limits(&self, role: Role) -> Limits {
        Limits {
            idle_timeout: Duration::from_secs(self.cfg.idle_timeout.get()),
            greet_pause: if role == Role::Mx {
                Duration::from_millis(self.cfg.greet_pause_ms)
            } else {
                Duration::ZERO
            },
            max_session_time: Duration::ZERO,
        }
    }

    /// Serve one connection on a `role` listener.
    pub async fn connection(self: Arc<Self>, role: Role, mut stream: Stream, peer: Peer) {
        let ip = match &peer {
            Peer::Tcp(a) => Some(a.ip()),
            Peer::Unix => None,
        };
        let limited = ip.filter(|ip| !self.ctx.anvil.exempt(*ip));
        let _slot = match limited.map(|ip| self.counts.enter(ip, self.cfg.max_connections_per_client)) {
            Some(Err(reply)) => {
                tracing::warn!(client = %peer, "too many connections");
                daemon::metrics::connection_refused();
                crate::metrics::rate_limited("concurrency");
                let _ = stream.write_all(&reply.to_wire()).await;
                return;
            }
            Some(Ok(slot)) => Some(slot),
            None => None,
        };
        if let Some(Err(reply)) = ip.map(|ip| self.ctx.anvil.count(role, ip, Event::Connection)) {
            daemon::metrics::connection_refused();
            let _ = stream.write_all(&reply.to_wire()).await;
            return;
        }
        tracing::debug!(client = %peer, role = role.name(), "connect");
        // Port-25 strangers are looked up in the DNS lists while the session starts.
        let mut listed = match (&self.ctx.dnsbl, ip) {
            (Some(d), Some(ip)) if role == Role::Mx && !self.ctx.networks.contains(ip) => {
                Some(dnsbl::Pending::start(d.clone(), ip))
            }
            _ => None,
        };
        let mut limits = self.limits(role);
        let dropped = match listed.as_mut() {
            Some(l) => l.before_greeting(&mut limits.greet_pause).await,
            None => None,
        };
        if let Some(reply) = dropped {
            tracing::info!(client = %peer, reply = %reply.to_string().trim_end(), "connection dropped");
            daemon::metrics::connection_refused();
            let _ = stream.write_all(&reply.to_wire()).await;
            return;
        }
        let client = Client { role, ip, login: None };
        let mut session = Session::new(self.ctx.clone(), client);
        if let Peer::Tcp(a) = &peer {
            session.set_port(a.port());
        }
        if let Some(l) = listed {
            session.set_dnsbl(l);
        }
        let result = if role == Role::Submissions {
            let Some(tls) = &self.tls else { return };
            let handshake =
                tokio::time::timeout(Duration::from_secs(60), tls.acceptor().accept(stream)).await;
            let tls_stream = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    daemon::metrics::tls_handshake(false);
                    return tracing::debug!(client = %peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    daemon::metrics::tls_handshake(false);
                    return tracing::debug!(client = %peer, "TLS handshake timed out");
                }
            };
            session.tls_established(&TlsInfo::from_connection(tls_stream.get_ref().1));
            let cfg = self.session_config(role, ip, true);
            smtp::run(tls_stream, cfg, &limits, None, &mut session).await
        } else {
            let acceptor = self.tls.as_ref().map(|t| t.acceptor());
            let cfg = self.session_config(role, ip, false);
            smtp::run(stream, cfg, &limits, acceptor.as_ref(), &mut session).await
        };
        if let Err(e) = result {
            tracing::debug!(client = %peer, error = %e, "connection ended");
        }
        tracing::debug!(client = %peer, "disconnect");
    }
}
