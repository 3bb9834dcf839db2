//! proto: the formats mailroom's daemons share, with no I/O and no database, so the protocol
//! crates (`smtp`) and the fuzz targets that need them link nothing else.
//!
//! [`sasl`] is the server side of PLAIN and LOGIN, [`Secret`] the password they yield,
//! [`address`] the validated lookup keys, [`cyrus`] both halves of the saslauthd socket
//! protocol, [`dovecot`] the server side of Dovecot's auth protocol, [`xtext`] RFC 3461's encoding of envelope values.

pub mod address;
pub mod cyrus;
pub mod dovecot;
pub mod sasl;
mod secret;
pub mod xtext;

pub use address::{Address, AddressError, Domain};
pub use secret::Secret;
