//! IMAP4rev1 (RFC 3501) protocol code with no I/O: commands parsed with imap-codec, the data
//! FETCH sends (ENVELOPE, BODYSTRUCTURE, body sections, with mail-parser), sequence sets,
//! mailbox names and response syntax. The socket side and the mailbox work are in
//! [`crate::server::imap`].
//!
//! - [`command`]: framing (literals, limits) and parsing; NAMESPACE, ID, UID EXPUNGE by hand.
//! - [`extended`] with [`args`]: the extensions' syntax imap-codec 1.0 lacks, by hand:
//!   [`list`] (LIST-EXTENDED, LIST-STATUS), [`status`] (SIZE, HIGHESTMODSEQ), [`esearch`]
//!   (ESEARCH, SEARCHRES), FETCH BINARY, [`condstore`] (CONDSTORE, QRESYNC); [`quota`] writes
//!   QUOTA responses.
//! - [`sort`], [`thread`]: SORT (with ESORT's RETURN) and THREAD (RFC 5256, RFC 5957).
//! - [`response`]: strings, flag lists, capabilities.
//! - [`envelope`], [`structure`], [`mime`]: FETCH ENVELOPE, BODYSTRUCTURE, BODY[section].
//! - [`sequence`]: sequence sets against the selected mailbox.
//! - [`names`]: modified UTF-7 names to folders, LIST patterns, special-use folders.

pub mod args;
pub mod command;
pub mod condstore;
pub mod envelope;
pub mod esearch;
pub mod extended;
pub mod list;
pub mod metadata;
pub mod mime;
pub mod names;
pub mod quota;
pub mod response;
pub mod sequence;
pub mod sort;
pub mod status;
pub mod structure;
pub mod thread;
