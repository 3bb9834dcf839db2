//! mailroom-saslauthd's library half: the shared password check and the connection loops over
//! the two wire protocols, which live in `proto::cyrus` and `proto::dovecot`. The binary in
//! `main.rs` wires them to sockets.

pub mod check;
pub mod metrics;
pub mod serve;
pub mod throttle;
