//! POP3 (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595), AUTH PLAIN/LOGIN (RFC 5034) and
//! response codes (RFC 3206, `[IN-USE]`, `[AUTH]`, `[SYS/TEMP]`), as protocol code with no
//! I/O: [`command`] parses lines, [`session`] is the state machine, [`maildrop`] the numbered
//! message list of one session, [`uidl`] Dovecot's UIDL formats, [`body`] the wire form of
//! RETR and TOP. The socket side is [`crate::server::pop3`].

pub mod body;
pub mod command;
pub mod maildrop;
pub mod session;
pub mod uidl;

pub use maildrop::{Entry, Maildrop};
pub use session::{Action, Config, Event, GREETING, LoginResult, Session};

#[cfg(test)]
mod transcript;
