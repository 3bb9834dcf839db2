//! mailroom-mta's library: the parts `mailroomctl` shares with the daemon (the queue format
//! and its admin operations) and the daemon's own modules.

pub mod bounce;
#[cfg(feature = "daemon")]
pub mod control;
#[cfg(feature = "daemon")]
pub mod metrics;
pub mod milter;
#[cfg(feature = "daemon")]
pub mod policy;
#[cfg(feature = "daemon")]
pub mod qmgr;
pub mod queue;
#[cfg(feature = "daemon")]
pub mod serve;
#[cfg(feature = "daemon")]
pub mod smtpd;
pub mod srs;
#[cfg(feature = "daemon")]
pub mod tlsrpt;
