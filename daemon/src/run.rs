//! The one startup and shutdown order every daemon follows (Postfix's `single_server_main`):
//! bind every socket, or take it from systemd, while still root ([`Sockets`]); drop privileges,
//! install the signal handlers and the TLS reload ([`Sockets::start`]); then serve until SIGTERM,
//! telling systemd READY once, and drain ([`Service::serve`]). The service also counts its
//! connections and answers scrapes of its [`metrics`](crate::metrics) where configured.
//!
//! The order is enforced by the types: a bound socket cannot accept (that is private to this
//! crate), and the only way to a [`Service`], which can, is through the privilege drop.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::listen::{Listener, Peer, Stream, UnixSocketSpec};
use crate::metrics::{Connections, Registry};
use crate::shutdown::{Shutdown, serve};
use crate::tls::TlsConfig;

/// The sockets a daemon will serve, each with the role `R` its connections are served in
/// (the MTA's port 25 or 587, the MRA's IMAP or POP3, ...). Bound, not yet accepting.
#[derive(Debug)]
pub struct Sockets<R> {
    name: &'static str,
    bound: Vec<(R, Listener)>,
    metrics: Vec<Listener>,
}

impl<R: Copy + fmt::Display + Send + Sync + 'static> Sockets<R> {
    /// No sockets yet, for the daemon `name` (`mta`: its metrics are `mailroom_mta_...`).
    pub fn new(name: &'static str) -> Self {
        Sockets { name, bound: Vec::new(), metrics: Vec::new() }
    }

    /// Where `GET /metrics` is answered: systemd's socket named `metrics`, else each of `addrs`
    /// (none: no endpoint).
    pub async fn metrics(&mut self, addrs: &[SocketAddr]) -> io::Result<()> {
        if let Some(l) = Listener::from_systemd("metrics")? {
            self.metrics.push(l);
            return Ok(());
        }
        for a in addrs {
            self.metrics.push(Listener::bind_tcp(*a).await.map_err(|e| context(e, "metrics".into()))?);
        }
        Ok(())
    }

    /// Every socket systemd passed under `name` (a socket unit may have several
    /// `ListenStream=`), else each of `addrs` bound now. Must be called inside a tokio runtime.
    pub async fn tcp(&mut self, role: R, name: &str, addrs: &[SocketAddr]) -> io::Result<()> {
        if self.take_systemd(role, name)? {
            return Ok(());
        }
        for a in addrs {
            let l = Listener::bind_tcp(*a).await.map_err(|e| context(e, name.into()))?;
            self.bound.push((role, l));
        }
        Ok(())
    }

    /// The socket systemd passed under `name`, else (or with no name) the Unix socket `spec`
    /// bound now (see [`Listener::bind_unix`]). Must be called inside a tokio runtime.
    pub fn unix(&mut self, role: R, name: Option<&str>, spec: &UnixSocketSpec) -> io::Result<()> {
        if let Some(name) = name
            && self.take_systemd(role, name)?
        {
            return Ok(());
        }
        let l = Listener::bind_unix(spec)?;
        self.bound.push((role, l));
        Ok(())
    }

    fn take_systemd(&mut self, role: R, name: &str) -> io::Result<bool> {
        let before = self.bound.len();
        while let Some(l) = Listener::from_systemd(name)? {
            self.bound.push((role, l));
        }
        Ok(self.bound.len() > before)
    }

    /// Whether nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.bound.is_empty()
    }

    /// The bound TCP addresses (with the ports the kernel chose for port 0).
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.bound.iter().filter_map(|(_, l)| l.local_addr()).collect()
    }

    /// Become `user` (and `group`, empty for the user's primary group) for good, handle SIGTERM,
    /// SIGINT and SIGHUP, and reload `tls`'s certificate on each SIGHUP. Must be called inside a
    /// tokio runtime. Work that needs root (chown of a spool, say) comes before this call.
    pub fn start(self, user: &str, group: &str, tls: Option<TlsConfig>) -> io::Result<Service<R>> {
        crate::privilege::drop_privileges(user, (!group.is_empty()).then_some(group))
            .map_err(|e| context(e, "dropping privileges".into()))?;
        let shutdown = Shutdown::new();
        let mut reloads = shutdown.install_signal_handlers();
        if let Some(tls) = tls {
            tokio::spawn(async move {
                while reloads.changed().await.is_ok() {
                    match tls.reload() {
                        Ok(()) => tracing::info!("TLS certificate reloaded"),
                        Err(e) => {
                            tracing::error!(error = %e, "TLS reload failed; keeping the old certificate")
                        }
                    }
                }
            });
        }
        Ok(Service {
            listeners: self.bound,
            metrics: self.metrics,
            registry: crate::metrics::registry(self.name),
            shutdown,
            background: Vec::new(),
            stop: CancellationToken::new(),
        })
    }
}

/// A daemon after the privilege drop: its sockets, the shutdown state and the tasks that run
/// beside the connections (the MTA's queue manager).
pub struct Service<R> {
    listeners: Vec<(R, Listener)>,
    metrics: Vec<Listener>,
    registry: Registry,
    shutdown: Shutdown,
    background: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

impl<R: Copy + fmt::Display + Send + Sync + 'static> Service<R> {
    /// The shutdown state, for sessions that must end early on SIGTERM (IMAP IDLE, say).
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The registry served on the metrics sockets: add the daemon's metrics before [`serve`](Self::serve).
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Run `task` beside the connections. Its token is cancelled once the connections have
    /// drained at shutdown; the daemon then waits for it, up to the shutdown timeout.
    pub fn background<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.background.push(tokio::spawn(task(self.stop.clone())));
    }

    /// Serve every socket with `handler(role, stream, peer)`, one task per connection, tell
    /// systemd READY, and wait for SIGTERM; then stop accepting, give the connections in flight
    /// and after them the background tasks up to `timeout` each, and return.
    pub async fn serve<H, Fut>(self, timeout: Duration, handler: H) -> io::Result<()>
    where
        H: Fn(R, Stream, Peer) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.listeners.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "nothing to listen on"));
        }
        let mut registry = self.registry;
        let connections = Connections::default();
        connections.register(&mut registry);
        let mut loops = Vec::new();
        for (role, l) in self.listeners {
            tracing::info!(listen = %l.local_description(), "{role}");
            // Once per socket at startup: the metric's label lives as long as the process.
            let label: &'static str = Box::leak(role.to_string().into_boxed_str());
            let (handler, connections) = (handler.clone(), connections.clone());
            loops.push(tokio::spawn(serve(l, self.shutdown.clone(), move |s, p| {
                let open = connections.accepted(label);
                let session = handler(role, s, p);
                async move {
                    session.await;
                    drop(open);
                }
            })));
        }
        let registry = Arc::new(registry);
        for l in self.metrics {
            tracing::info!(listen = %l.local_description(), "metrics");
            let registry = registry.clone();
            loops.push(tokio::spawn(serve(l, self.shutdown.clone(), move |s, _| {
                crate::metrics::scrape(s, registry.clone())
            })));
        }
        crate::notify::ready();
        self.shutdown.triggered().await;
        tracing::info!("shutting down");
        for l in loops {
            let _ = l.await;
        }
        if !self.shutdown.wait(timeout).await {
            tracing::warn!("connections still open after {timeout:?}");
        }
        self.stop.cancel();
        for task in self.background {
            if tokio::time::timeout(timeout, task).await.is_err() {
                tracing::warn!("background work still running after {timeout:?}; it resumes on restart");
            }
        }
        Ok(())
    }
}

fn context(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
