//! mailstore: Maildir++ as Dovecot writes it, the only code in mailroom that touches mailbox files.
//!
//! DESCRIPTION
//!
//! The MDA delivers through [`Maildir::deliver`]; the MRA will read through the same crate, so
//! Dovecot and mailroom can take turns serving one Maildir. What is on disk:
//!
//! - INBOX is the Maildir root, with `cur/ new/ tmp/` (mode 0700, files 0600).
//! - A folder "Lists/Rust" is the directory `.Lists.Rust` with its own `cur/ new/ tmp/` and an
//!   empty `maildirfolder` file; non-ASCII names are modified UTF-7 ([`mutf7`]), checked once by
//!   [`FolderName`] so no name can leave the Maildir.
//! - A delivered message is `new/<secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,W=<vsize>`, stored
//!   with LF line ends (Dovecot's `mail_save_crlf = no`); see [`filename`].
//! - Quota is the Maildir++ `maildirsize` file ([`quota`]).
//!
//! Delivery is atomic and durable: the message is written in `tmp/`, fsynced, renamed into
//! `new/`, and `new/` is fsynced before [`Maildir::deliver`] returns; any failure leaves
//! nothing behind. Errors come classified ([`DeliverError`]) so that callers can answer
//! temporary or permanent failure without looking at errno.
//!
//! I/O is synchronous std I/O: it fsyncs and may block. Async callers run it on tokio's blocking
//! pool with `spawn_blocking`.
//!
//! STANDARDS: RFC 3501 §5.1.3 (modified UTF-7); D. J. Bernstein's maildir; Courier's Maildir++
//! and its quota; Dovecot's Maildir format (`../shared/reference/protocols.md` §3, §8).
//!
//! SEE ALSO: Dovecot `src/lib-storage/index/maildir/`, `src/plugins/quota/quota-maildir.c`.

mod crlf;
mod deliver;
pub mod filename;
mod folder;
mod maildir;
pub mod mutf7;
pub mod quota;

pub use deliver::{DeliverError, Delivered};
pub use folder::{FolderName, FolderNameError, SEPARATOR};
pub use maildir::{MAILDIRFOLDER, Maildir, Ownership};
pub use quota::{OverQuota, Quota, QuotaError, Usage};
