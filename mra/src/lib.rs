//! mailroom-mra as a library: the protocol code (no I/O) and the socket side, so that tests and
//! fuzz targets reach them. The binary (`main.rs`) only loads the config, binds and serves.
//!
//! - [`imap`]: IMAP commands, FETCH data (envelope, body structure, sections), names.
//! - [`managesieve`]: ManageSieve commands, responses, session state machine, script commands.
//! - [`pop3`]: POP3 commands, session state machine, maildrop, UIDLs, message wire form.
//! - [`server`]: the socket loop around each protocol, logins ([`server::login`]) and
//!   opening a maildrop ([`server::store`]), shared by POP3 and IMAP.
//! - [`metrics`]: logins by protocol and result.

pub mod imap;
pub mod managesieve;
#[cfg(feature = "server")]
pub mod metrics;
pub mod pop3;
#[cfg(feature = "server")]
pub mod server;
