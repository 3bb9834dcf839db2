//! sd_notify(3): tell systemd (`Type=notify` / `Type=notify-reload`) when we are ready,
//! reloading or stopping. Every call is a no-op when `NOTIFY_SOCKET` is unset (a try-out, or
//! a unit of another type), and a failure to notify is logged, never fatal: the daemon serving
//! mail matters more than the service manager's view of it.

use sd_notify::NotifyState;

/// Startup is finished: listeners are bound and privileges dropped (`READY=1`).
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// Shutdown has begun (`STOPPING=1`).
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// A reload has begun (`RELOADING=1`); call [`ready`] when it is done.
pub fn reloading() {
    // Type=notify-reload wants the monotonic time with RELOADING=1 to match up the reply.
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// A one-line status for `systemctl status` (`STATUS=...`).
pub fn status(msg: &str) {
    // A newline would end the assignment and start a bogus one.
    let line = msg.replace('\n', " ");
    send(&[NotifyState::Status(&line)]);
}

/// Send, keeping `NOTIFY_SOCKET` set so that later notifications still arrive.
fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!("sd_notify failed: {e}");
    }
}

// Tested in tests/notify.rs, in a child process with a NOTIFY_SOCKET of the test's own: the
// variable is process-wide, and a test run under systemd must not notify the real manager.
