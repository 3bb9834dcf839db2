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
//! Readers (mailroom-mra) open a folder as a [`Mailbox`]: UIDs from `dovecot-uidlist`
//! ([`uidlist`], written under a [`dotlock`]; a new one takes the Maildir's next
//! [`uidvalidity`]), flags in file names ([`flags`]), keyword names in `dovecot-keywords`
//! ([`keywords`]), sizes and envelope headers remembered in a rebuildable
//! `mailroom.cache` ([`cache`]), mod-sequences for CONDSTORE and QRESYNC in a rebuildable
//! `mailroom.modseq` ([`modseq`]), and a [`SessionLock`] for POP3's exclusive sessions.
//! A user's Sieve scripts are where Pigeonhole keeps them ([`sieve_scripts`]); keys seen at
//! delivery (duplicates, vacation replies) are in their [`duplicates`] store. IMAP METADATA
//! entries of a mailbox or of the server are in `mailroom-metadata` files ([`metadata`]).
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

pub mod cache;
mod crlf;
mod deliver;
pub mod dotlock;
pub mod duplicates;
pub mod filename;
pub mod flags;
mod folder;
pub mod folders;
pub mod keywords;
mod mailbox;
mod maildir;
pub mod metadata;
pub mod modseq;
pub mod mutf7;
pub mod quota;
mod session_lock;
pub mod sieve_scripts;
pub mod uidlist;
pub mod uidvalidity;

pub use deliver::{DeliverError, Delivered};
pub use flags::{Flag, FlagChange, Flags};
pub use folder::{FolderName, FolderNameError, SEPARATOR};
pub use keywords::Keywords;
pub use mailbox::{Changes, Mailbox, MailboxError, Message, Removal, Stored};
pub use maildir::{MAILDIRFOLDER, Maildir, Ownership};
pub use quota::{OverQuota, Quota, QuotaError, Usage};
pub use session_lock::SessionLock;
pub use sieve_scripts::SieveScripts;
