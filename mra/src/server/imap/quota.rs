//! QUOTA (RFC 9208) for a session: GETQUOTAROOT and GETQUOTA from `maildirsize`, and the
//! bookkeeping Dovecot's quota plugin (maildir backend) does: a check before APPEND or COPY
//! adds mail (`NO [OVERQUOTA]`), then a signed delta line after APPEND, COPY, MOVE (added to
//! the destination, removed from the source: two lines, as Dovecot writes), EXPUNGE and
//! DELETE. A user without a quota has no root and no `maildirsize` is ever written for them.

use imap_codec::imap_types::sequence::SequenceSet;
use mailstore::quota::{self, QuotaError};
use mailstore::{Mailbox, MailboxError, Removal};

use super::session::{Session, line};
use crate::imap::quota::{self as wire, has_root};
use crate::imap::sequence::resolve;

/// What a series of expunges freed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Freed {
    /// Bytes on disk.
    pub bytes: u64,
    /// Messages.
    pub count: u64,
}

impl Session {
    /// GETQUOTAROOT: the user's one root for any existing mailbox, with its QUOTA.
    pub(super) fn getquotaroot(&mut self, tag: &str, name: &[u8], out: &mut Vec<u8>) {
        let Some(t) = self.target(name).filter(|t| self.path(t).join("cur").is_dir()) else {
            return line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."));
        };
        let wire_name = self.wire_name(&t);
        if !has_root(self.quota) {
            wire::quotaroot(&wire_name, self.quota, out);
            out.extend_from_slice(b"\r\n");
            return line(out, &format!("{tag} OK No quota."));
        }
        let Some(usage) = self.usage(tag, out) else { return };
        wire::quotaroot(&wire_name, self.quota, out);
        out.extend_from_slice(b"\r\n");
        wire::quota(self.quota, usage, out);
        out.extend_from_slice(b"\r\n");
        line(out, &format!("{tag} OK Getquotaroot completed."));
    }

    /// GETQUOTA of the user's root.
    pub(super) fn getquota(&mut self, tag: &str, root: &[u8], out: &mut Vec<u8>) {
        if !wire::is_root(root) || !has_root(self.quota) {
            return line(out, &format!("{tag} NO [NONEXISTENT] Quota root doesn't exist."));
        }
        let Some(usage) = self.usage(tag, out) else { return };
        wire::quota(self.quota, usage, out);
        out.extend_from_slice(b"\r\n");
        line(out, &format!("{tag} OK Getquota completed."));
    }

    /// The usage now; `None` after answering NO.
    fn usage(&self, tag: &str, out: &mut Vec<u8>) -> Option<mailstore::Usage> {
        match quota::usage(&self.maildir, self.quota) {
            Ok(u) => Some(u),
            Err(e) => {
                tracing::warn!("imap user={} quota: {e}", self.user);
                line(out, &format!("{tag} NO [UNAVAILABLE] Quota cannot be read, try again later."));
                None
            }
        }
    }

    /// Whether `count` messages of `bytes` on disk fit; the tagged NO's text when not.
    pub(super) fn quota_refusal(&self, bytes: u64, count: u64) -> Option<&'static str> {
        if !has_root(self.quota) {
            return None;
        }
        match quota::check_adding(&self.maildir, self.quota, bytes, count) {
            Ok(()) => None,
            Err(QuotaError::Over(o)) => {
                tracing::info!("imap user={} {o}", self.user);
                Some("[OVERQUOTA] Quota exceeded (mailbox for user is full).")
            }
            Err(QuotaError::Io(e)) => {
                tracing::warn!("imap user={} quota: {e}", self.user);
                Some("[UNAVAILABLE] Quota cannot be checked, try again later.")
            }
        }
    }

    /// Whether the messages `set` names fit a COPY; the tagged NO's text when not.
    pub(super) fn copy_refusal(&mut self, set: &SequenceSet, by_uid: bool) -> Option<&'static str> {
        if !has_root(self.quota) {
            return None;
        }
        let sel = self.selected.as_mut()?;
        let uids: Vec<u32> = sel.mb.messages().iter().map(|m| m.uid()).collect();
        let (mut bytes, mut count) = (0, 0);
        for i in resolve(set, &uids, by_uid) {
            if let Some(size) = disk_size(&mut sel.mb, uids[i]) {
                bytes += size;
                count += 1;
            }
        }
        self.quota_refusal(bytes, count)
    }

    /// Records mail added (positive) or removed (negative) in `maildirsize`.
    pub(super) fn quota_changed(&self, bytes: i64, count: i64) {
        if !has_root(self.quota) {
            return;
        }
        if let Err(e) = quota::add(&self.maildir, self.quota, bytes, count) {
            // The mail is where it should be; only the numbers lag until the next rebuild.
            tracing::warn!("imap user={} maildirsize: {e}", self.user);
        }
    }

    /// Records what expunges freed.
    pub(super) fn quota_freed(&self, freed: Freed) {
        self.quota_changed(-(freed.bytes as i64), -(freed.count as i64));
    }

    /// Whether expunges need to be counted (the user has a quota).
    pub(super) fn counts_quota(&self) -> bool {
        has_root(self.quota)
    }
}

/// Expunges `uid` (with `only_deleted`, only while its file still has `\\Deleted`), adding its
/// on-disk size to `freed` when `counting`.
pub(super) fn expunge_counted(
    mb: &mut Mailbox,
    uid: u32,
    only_deleted: bool,
    counting: bool,
    freed: &mut Freed,
) -> Result<Removal, MailboxError> {
    let size = if counting { disk_size(mb, uid) } else { None };
    let removal = if only_deleted {
        mb.expunge_deleted(uid)?
    } else if mb.expunge(uid)? {
        Removal::Removed
    } else {
        Removal::Gone
    };
    // Only what this call removed is freed: another session's expunge counted its own.
    if removal == Removal::Removed
        && let Some(s) = size
    {
        freed.bytes += s;
        freed.count += 1;
    }
    Ok(removal)
}

/// The size on disk of `uid` (from `,S=` or a stat), `None` if it is gone.
pub(super) fn disk_size(mb: &mut Mailbox, uid: u32) -> Option<u64> {
    if let Some(s) = mb.message(uid)?.size() {
        return Some(s);
    }
    mb.open_message(uid).ok().and_then(|(f, _)| f.metadata().ok()).map(|m| m.len())
}
