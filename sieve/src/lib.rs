//! Sieve (RFC 5228) with the extensions Pigeonhole users rely on, without I/O: `compile`
//! parses and checks a script, `run` evaluates it against a message and returns the actions.
//! The delivery agent performs them; mailbox lookups, included scripts, the duplicate store
//! and the environment come through `Host`.

pub mod action;
pub mod address;
pub mod check;
pub mod compare;
pub mod date;
pub mod editheader;
pub mod encoded;
pub mod error;
pub mod interp;
pub mod lexer;
pub mod parser;
pub mod spamtest;
pub mod spec;
pub mod vacation;
pub mod variables;

pub use action::{Action, Outcome, Vacation};
pub use check::{EXTENSIONS, Script, compile};
pub use error::{Error, Pos};
pub use interp::{Envelope, Host, Limits, NoHost, Settings, delivery_environment, run};
pub use lexer::quote;
