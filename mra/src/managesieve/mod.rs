//! ManageSieve (RFC 5804) as protocol code with no I/O, shaped like [`crate::pop3`]:
//! [`command`] frames (literals refused by size before their bytes) and parses commands,
//! [`response`] writes OK/NO/BYE with response codes, [`session`] is the state machine, and
//! [`scripts`] carries out the script commands on a user's [`mailstore::SieveScripts`] (the
//! files Pigeonhole writes) with the per-user limits and the `sieve` crate's checker. The
//! socket side is [`crate::server::managesieve`].

pub mod command;
pub mod response;
pub mod scripts;
pub mod session;

pub use command::{Frame, Framer};
pub use scripts::{Limits, Op};
pub use session::{Action, Config, Event, LoginResult, Session};

#[cfg(test)]
mod transcript;
