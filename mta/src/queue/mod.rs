//! The queue: every accepted message is one file, durable before its 250.
//!
//! On disk, under the spool directory (`/var/spool/mailroom`, mode 0700, owned by the MTA):
//!
//! - `queue/<id>`, mode 0600: a message being received. Never acknowledged; a crash leaves it
//!   behind and start-up removes it.
//! - `queue/<id>`, mode 0700: an accepted message (Postfix's mark: owner-execute = complete).
//!   The envelope ([`Envelope`]: `MAILROOM-QUEUE 1`, then `key value` lines in xtext: id,
//!   arrival, sender, ret, envid, body, smtputf8, requiretls, client, helo, auth, one `rcpt <local|remote> <address> [notify=..] [orcpt=..]` per recipient, an empty
//!   line), then the message exactly as it will be delivered, CRLF line ends, our Received:
//!   header first. Written once: marked complete and fsynced, the directory fsynced
//!   (one directory fsync for all sessions committing together); only then does the client
//!   get `250 2.0.0 Ok: queued as <id>`.
//! - `state/<id>`: delivery state once a message has been tried and is not finished
//!   ([`State`]): attempts, next attempt, held, each recipient's [`Outcome`] with the
//!   [`Reply`] that decided it. Versioned; older formats are read and rewritten.
//!
//! A delivery or an admin change holds an exclusive `flock` on `queue/<id>`. A message leaves
//! the queue when every recipient is sent or failed (failures bounced to the sender first).

pub mod admin;
mod envelope;
mod id;
mod reply;
mod spool;
mod state;

pub use envelope::{Envelope, MAGIC, Notify, Rcpt, Recipient, Ret, Transport};
pub use id::QueueId;
pub use reply::{Reply, Status};
pub use spool::{Incoming, Queued, Spool};
pub use state::{Attempt, Outcome, State};
