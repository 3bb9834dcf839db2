//! mailroom-mta's library: the parts `mailroomctl` shares with the daemon (the queue format
//! and its admin operations) and the daemon's own modules.

pub mod queue;
pub mod policy;
pub mod smtpd;
pub mod bounce;
pub mod qmgr;
pub mod control;
pub mod serve;
