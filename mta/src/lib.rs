//! mailroom-mta's library: the parts `mailroomctl` shares with the daemon (the queue format
//! and its admin operations) and the daemon's own modules.

pub mod bounce;
pub mod control;
pub mod metrics;
pub mod milter;
pub mod policy;
pub mod qmgr;
pub mod queue;
pub mod serve;
pub mod smtpd;
pub mod srs;
pub mod tlsrpt;
