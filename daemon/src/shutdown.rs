//! Signals and graceful shutdown. SIGTERM or SIGINT stops accepting and lets connections in
//! flight finish (up to a timeout the daemon picks); SIGHUP asks for a reload, which the
//! daemon interprets (re-read TLS certificates, say). Each connection is a tracked task, so
//! "wait for the connections in flight" is one call.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::listen::{Listener, Peer, Stream};

/// How long [`serve`] pauses after an accept error that a retry cannot fix at once (out of file
/// descriptors or memory): retrying at full speed would spin a core and flood the log.
const ACCEPT_PAUSE: Duration = Duration::from_millis(250);

/// The shared "we are stopping" state and the set of connection tasks; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    /// Not triggered, with no tasks.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Handle SIGTERM and SIGINT (notify systemd, then [`trigger`](Self::trigger)) and SIGHUP
    /// (bump the returned counter: a reload request). The handlers are in place when this
    /// returns and stay for the life of the runtime. Panics outside a tokio runtime.
    pub fn install_signal_handlers(&self) -> watch::Receiver<u64> {
        let register = |kind: SignalKind, name: &str| {
            signal(kind).unwrap_or_else(|e| panic!("cannot install a {name} handler: {e}"))
        };
        let mut term = register(SignalKind::terminate(), "SIGTERM");
        let mut int = register(SignalKind::interrupt(), "SIGINT");
        let mut hup = register(SignalKind::hangup(), "SIGHUP");
        let (reloads, rx) = watch::channel(0u64);
        let this = self.clone();
        // Not tracked: it must not keep wait() from finishing. It keeps running after a stop so
        // that a second SIGTERM is logged instead of silently swallowed.
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(()) = term.recv() => this.stop_on("SIGTERM"),
                    Some(()) = int.recv() => this.stop_on("SIGINT"),
                    Some(()) = hup.recv() => {
                        tracing::info!("SIGHUP: reload requested");
                        reloads.send_modify(|n| *n += 1);
                    }
                    else => break,
                }
            }
        });
        rx
    }

    /// A stop signal arrived.
    fn stop_on(&self, signal: &str) {
        if self.is_triggered() {
            tracing::info!("{signal}: already shutting down, {} connections left", self.tracker.len());
            return;
        }
        tracing::info!("{signal}: shutting down");
        crate::notify::stopping();
        self.trigger();
    }

    /// Start shutting down: accept loops stop, and every [`triggered`](Self::triggered) wakes.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when shutdown starts (at once if it has).
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// The underlying token, for code that selects on cancellation itself.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Run `f` as a tracked task: [`wait`](Self::wait) waits for it.
    pub fn spawn<F: Future<Output = ()> + Send + 'static>(&self, f: F) {
        self.tracker.spawn(f);
    }

    /// How many tracked tasks are still running.
    pub fn in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Wait up to `timeout` for the tracked tasks to finish; true if they all did. Call after
    /// the accept loops have returned; tasks still running at the timeout die with the runtime.
    pub async fn wait(&self, timeout: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(timeout, self.tracker.wait()).await.is_ok()
    }
}

/// Accept loop: until shutdown, accept from `listener` and run `handler(stream, peer)` as a
/// tracked task per connection. An accept error is logged and retried, after a pause when
/// resources ran out. On shutdown the listener is closed (new connections are refused) and
/// this returns; then call [`Shutdown::wait`].
pub(crate) async fn serve<H, Fut>(listener: Listener, shutdown: Shutdown, handler: H)
where
    H: Fn(Stream, Peer) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let local = listener.local_description();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.triggered() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => shutdown.spawn(handler(stream, peer)),
            Err(e) if is_per_connection(&e) => tracing::debug!("{local}: accept: {e}"),
            Err(e) => {
                tracing::warn!("{local}: accept: {e}");
                tokio::select! {
                    () = shutdown.triggered() => break,
                    () = tokio::time::sleep(ACCEPT_PAUSE) => {}
                }
            }
        }
    }
    tracing::debug!("{local}: no longer accepting");
}

/// Errors about one connection that died before we got it; the next accept is unaffected.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_wakes_every_clone() {
        let s = Shutdown::new();
        let c = s.clone();
        let waiter = tokio::spawn(async move { c.triggered().await });
        assert!(!s.is_triggered());
        s.trigger();
        waiter.await.unwrap();
        assert!(s.is_triggered() && s.token().is_cancelled());
    }

    #[tokio::test]
    async fn wait_with_no_tasks_is_immediate() {
        assert!(Shutdown::new().wait(Duration::ZERO).await);
    }

    #[tokio::test]
    async fn wait_counts_tracked_tasks() {
        let s = Shutdown::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        s.spawn(async move {
            let _ = rx.await;
        });
        assert_eq!(s.in_flight(), 1);
        assert!(!s.wait(Duration::from_millis(20)).await);
        tx.send(()).unwrap();
        assert!(s.wait(Duration::from_secs(5)).await);
    }

    #[test]
    fn which_accept_errors_need_a_pause() {
        assert!(is_per_connection(&io::ErrorKind::ConnectionAborted.into()));
        assert!(!is_per_connection(&io::Error::from_raw_os_error(nix::libc::EMFILE)));
    }
}
