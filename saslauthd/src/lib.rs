//! mailroom-saslauthd's library half: the two wire protocols (no I/O), the shared password
//! check, and the connection loops. The binary in `main.rs` wires them to sockets.

pub mod cache;
pub mod check;
pub mod cyrus;
pub mod dovecot;
pub mod metrics;
pub mod serve;
pub mod throttle;
