//! mailroom-saslauthd's library half: the Dovecot auth protocol (no I/O; the cyrus one is
//! `proto::cyrus`), the shared password check, and the connection loops. The binary in `main.rs` wires them to sockets.

pub mod check;
pub mod dovecot;
pub mod metrics;
pub mod serve;
pub mod throttle;
