//! Maildir++ quota in the `maildirsize` file, read and written as Dovecot and Courier do.
//!
//! The file sits in the Maildir root. Line 1 holds the limits, `<bytes>S[,<count>C]` (`0S` when
//! there are none); every further line is a signed delta `<bytes> <count>`, appended with
//! O_APPEND in one write by whoever delivered or expunged. Usage is the sum of the deltas.
//!
//! The file is only a cache of what `cur/` and `new/` hold, so it is thrown away and rebuilt
//! (a scan of `new/` and `cur/` of INBOX and every folder) whenever it cannot be trusted. The rules,
//! from Dovecot's `quota-maildir.c`; the limits given by the caller always win, as in Dovecot
//! with a configured quota rule:
//!
//! - the file is missing, or its first line does not parse as limits;
//! - its limits differ from the caller's;
//! - it is 5120 bytes or more (too many deltas to keep reading);
//! - it contains a NUL byte;
//! - it has no delta line, or a delta line that is not two integers;
//! - the bytes or count total is negative;
//! - the totals are over a limit and the file has more than one delta line or was last
//!   modified more than 15 minutes ago (so over-quota is never decided on drifted numbers).
//!
//! A trailing line without LF is ignored (an append may be in progress elsewhere). Every folder
//! counts, Trash included. A rebuild that sees a directory change during its scan uses what it
//! counted but does not write the file, so the next reader rebuilds again rather than trusting
//! a count that may have missed a concurrent delivery. Callers with no quota configured at all
//! do not call this module, so no `maildirsize` is created for them.

mod scan;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::time::{Duration, SystemTime};

use crate::maildir::Maildir;

/// The file name, in the Maildir root.
pub const MAILDIRSIZE: &str = "maildirsize";

/// At this size the file is rebuilt instead of read.
const MAX_FILE_SIZE: u64 = 5120;

/// An over-quota total older than this is not believed.
const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

/// A user's limits; 0 means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    /// Most bytes the mailbox may hold (on-disk sizes, `,S=`).
    pub bytes: u64,
    /// Most messages the mailbox may hold.
    pub messages: u64,
}

/// What the mailbox holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes used, the sum of the messages' on-disk sizes.
    pub bytes: u64,
    /// Number of messages.
    pub messages: u64,
}

/// A message that would take the mailbox over its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("over quota: {} + {incoming} bytes, {} messages, limits {} bytes, {} messages",
        usage.bytes, usage.messages, limit.bytes, limit.messages)]
pub struct OverQuota {
    /// Usage before the message.
    pub usage: Usage,
    /// The limits.
    pub limit: Quota,
    /// The size of the refused message.
    pub incoming: u64,
}

/// Why [`check`] said no.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// The message does not fit.
    #[error(transparent)]
    Over(#[from] OverQuota),
    /// The quota could not be determined (a temporary failure).
    #[error("cannot determine quota: {0}")]
    Io(#[from] io::Error),
}

/// The mailbox's usage, from `maildirsize` or from a rebuild when the file is not trustworthy.
pub fn usage(maildir: &Maildir, limit: Quota) -> io::Result<Usage> {
    match read(maildir, limit)? {
        Some(usage) => Ok(usage),
        None => scan::rebuild(maildir, limit),
    }
}

/// Whether a message of `incoming` bytes fits; exactly reaching a limit is allowed.
pub fn check(maildir: &Maildir, limit: Quota, incoming: u64) -> Result<(), QuotaError> {
    check_adding(maildir, limit, incoming, 1)
}

/// Whether `count` messages of `bytes` in all fit (an IMAP COPY of several at once).
pub fn check_adding(maildir: &Maildir, limit: Quota, bytes: u64, count: u64) -> Result<(), QuotaError> {
    if limit == Quota::default() {
        return Ok(());
    }
    let usage = usage(maildir, limit)?;
    let too_big = limit.bytes != 0 && usage.bytes.saturating_add(bytes) > limit.bytes;
    let too_many = limit.messages != 0 && usage.messages.saturating_add(count) > limit.messages;
    if too_big || too_many { Err(OverQuota { usage, limit, incoming: bytes }.into()) } else { Ok(()) }
}

/// Records messages that were just added (or, negative, removed): appends `<bytes> <count>`.
///
/// Called after the messages are in the Maildir. If the file must be rebuilt instead, the
/// rebuild counts them already, so nothing is appended.
pub fn add(maildir: &Maildir, limit: Quota, bytes: i64, count: i64) -> io::Result<()> {
    if bytes == 0 && count == 0 {
        return Ok(());
    }
    if read(maildir, limit)?.is_none() {
        return scan::rebuild(maildir, limit).map(drop);
    }
    let path = maildir.root().join(MAILDIRSIZE);
    match OpenOptions::new().append(true).open(&path) {
        // One write(2) of a short line with O_APPEND: concurrent appenders never interleave.
        Ok(mut file) => file.write_all(format!("{bytes} {count}\n").as_bytes()),
        // Replaced or removed since we read it: a rebuild sees our message anyway.
        Err(e) if e.kind() == io::ErrorKind::NotFound => scan::rebuild(maildir, limit).map(drop),
        Err(e) => Err(e),
    }
}

/// Reads `maildirsize`; `None` when it must be rebuilt.
fn read(maildir: &Maildir, limit: Quota) -> io::Result<Option<Usage>> {
    let file = match File::open(maildir.root().join(MAILDIRSIZE)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    (&file).take(MAX_FILE_SIZE).read_to_end(&mut buf)?;
    if buf.len() as u64 >= MAX_FILE_SIZE {
        return Ok(None);
    }
    let Some(parsed) = parse(&buf, limit) else { return Ok(None) };
    if parsed.over && (parsed.deltas > 1 || is_stale(&file)?) {
        return Ok(None);
    }
    Ok(Some(parsed.usage))
}

/// Whether the file was last written more than 15 minutes ago.
fn is_stale(file: &File) -> io::Result<bool> {
    let modified = file.metadata()?.modified()?;
    Ok(SystemTime::now().duration_since(modified).is_ok_and(|age| age > STALE_AFTER))
}

/// What a trustworthy-looking `maildirsize` says.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    usage: Usage,
    deltas: usize,
    over: bool,
}

/// Parses the file's content against the caller's limits; `None` means rebuild.
fn parse(buf: &[u8], limit: Quota) -> Option<Parsed> {
    if buf.contains(&0) {
        return None;
    }
    // Only complete lines: drop whatever follows the last LF.
    let end = buf.iter().rposition(|&b| b == b'\n')?;
    let text = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = text.split('\n');
    if parse_limits(lines.next()?)? != limit {
        return None;
    }
    let (mut bytes, mut count, mut deltas) = (0i64, 0i64, 0usize);
    for line in lines {
        let (b, c) = parse_delta(line)?;
        bytes = bytes.checked_add(b)?;
        count = count.checked_add(c)?;
        deltas += 1;
    }
    if deltas == 0 || bytes < 0 || count < 0 {
        return None;
    }
    let usage = Usage { bytes: bytes as u64, messages: count as u64 };
    let over = (limit.bytes != 0 && usage.bytes > limit.bytes)
        || (limit.messages != 0 && usage.messages > limit.messages);
    Some(Parsed { usage, deltas, over })
}

/// Parses `<bytes>S[,<count>C]` (either part alone, in any order; 0 means unlimited).
fn parse_limits(line: &str) -> Option<Quota> {
    let mut quota = Quota::default();
    for part in line.split(',') {
        let (digits, unit) = part.split_at_checked(part.len().checked_sub(1)?)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u64 = digits.parse().ok()?;
        match unit {
            "S" => quota.bytes = value,
            "C" => quota.messages = value,
            _ => return None,
        }
    }
    Some(quota)
}

/// Parses a delta line, `<bytes> <count>`, both signed.
fn parse_delta(line: &str) -> Option<(i64, i64)> {
    let mut fields = line.split_ascii_whitespace();
    let bytes = fields.next()?.parse().ok()?;
    let count = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some((bytes, count))
}

/// The first line for these limits, as Dovecot writes it: `0S` when unlimited.
fn limits_line(limit: Quota) -> String {
    match (limit.bytes, limit.messages) {
        (b, 0) => format!("{b}S"),
        (0, c) => format!("{c}C"),
        (b, c) => format!("{b}S,{c}C"),
    }
}

#[cfg(test)]
mod tests;
