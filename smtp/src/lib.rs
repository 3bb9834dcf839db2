//! SMTP and LMTP server sessions, shared by mailroom-mta (SMTP) and mailroom-mda (LMTP).
//!
//! [`session`] is the protocol: a state machine with no I/O over smtp-proto's parser, with
//! [`data`] decoding message content. [`server`] is the socket loop around it (timeouts, the
//! greeting pause, the STARTTLS handshake, with [`tls`]), calling a daemon's
//! [`server::Handler`] for the decisions. [`reply`] formats replies with enhanced status codes.

pub mod client;
pub mod data;
pub mod reply;
pub mod server;
pub mod session;
pub mod tls;

pub use data::BareLf;
pub use proto::sasl::Credentials;
pub use reply::Reply;
pub use server::{Handler, Limits, run};
pub use session::{Config, Event, Mode, Session};
pub use smtp_proto::{MailFrom, RcptTo};
pub use tls::TlsInfo;
