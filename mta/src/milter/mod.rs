//! Milters: mail filters (rspamd, clamav-milter, spamass-milter, opendkim) asked about each
//! message before it is queued, over the Sendmail milter protocol as Postfix speaks it.
//!
//! [`protocol`] is the protocol with no I/O: packets, the negotiation, every reply.

pub mod protocol;
