//! Mod-sequences for a mailbox's messages, kept in `mailroom.modseq` ([`crate::modseq`]).
//!
//! Every sync that scanned the directory compares what it found with the file: a message whose
//! flags differ from its record (changed by Dovecot, mailroom-mda, another session, by rename
//! behind our back), a message with no record (new), and a recorded UID below UIDNEXT that is
//! gone (expunged) each get one new mod-sequence, appended under the file's lock. A sync whose
//! scan found what the previous one found, while the file is as this mailbox last saw it,
//! reads nothing; one whose scan agrees with the file writes nothing. [`Mailbox::store`] is
//! mailroom's own flag change: the renames happen under the lock, checked against
//! UNCHANGEDSINCE, and the changed messages get one new mod-sequence.
//!
//! What a mailbox reports is its own view: HIGHESTMODSEQ covers the messages it lists and the
//! expunges of UIDs it has numbered, never records of messages it has not seen yet, so that a
//! client resynchronising from it misses nothing.

use std::fs;
use std::io;
use std::sync::Arc;

use super::{FILE_MODE, Mailbox, MailboxError, Message, io_at};
use crate::dotlock::DotLock;
use crate::flags::{FlagChange, Flags};
use crate::modseq::{self, KEEP_EXPUNGED, Log, State};

/// What a [`Mailbox::store`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// UIDs whose flags changed, in the order given; they now have `modseq`.
    pub changed: Vec<u32>,
    /// UIDs left alone: changed after UNCHANGEDSINCE, or on disk behind our back.
    pub modified: Vec<u32>,
    /// The mod-sequence the changed messages got (0 when none changed, or no mod-sequences).
    pub modseq: u64,
}

impl Mailbox {
    /// Applies each `(uid, change)` by rename (as [`Mailbox::set_flags`]: to the flags the file
    /// has then) and gives the changed messages one new mod-sequence. With `unchanged_since`
    /// (RFC 7162 UNCHANGEDSINCE), a message whose mod-sequence is above it, or whose file was
    /// renamed by someone else since this mailbox last saw it, is left alone and listed in
    /// [`Stored::modified`]. A message expunged meanwhile gets the change in this view only.
    pub fn store(
        &mut self,
        changes: &[(u32, FlagChange)],
        unchanged_since: Option<u64>,
    ) -> Result<Stored, MailboxError> {
        let mut out = Stored::default();
        if !self.modseqs {
            for (uid, change) in changes {
                match self.set_flags(*uid, change) {
                    Ok(true) => out.changed.push(*uid),
                    Ok(false) => {}
                    Err(MailboxError::Expunged(_)) => self.change_gone(*uid, change),
                    Err(e) => return Err(e),
                }
            }
            return Ok(out);
        }
        let path = self.dir.join(modseq::FILE);
        let lock = DotLock::acquire(&path, self.lock_wait, FILE_MODE).map_err(io_at(&path))?;
        let read = Log::read(&self.dir).map_err(io_at(&path))?.filter(|l| l.uidvalidity == self.uidvalidity);
        let fresh = read.is_none();
        let mut log = read.unwrap_or_else(|| Log::new(self.uidvalidity));
        for (uid, change) in changes {
            let Some(m) = self.message(*uid) else { continue };
            if let Some(n) = unchanged_since {
                let recorded = log.get(*uid).map_or(0, |r| r.0);
                if m.modseq.max(recorded) > n {
                    out.modified.push(*uid);
                    continue;
                }
            }
            let done = match unchanged_since {
                Some(_) => self.rename_exact(*uid, change),
                None => self.set_flags(*uid, change).map(Some),
            };
            match done {
                Ok(Some(true)) => out.changed.push(*uid),
                Ok(Some(false)) => {}
                Err(MailboxError::Expunged(_)) => self.change_gone(*uid, change),
                Ok(None) => out.modified.push(*uid),
                Err(e) => return Err(e),
            }
        }
        self.modseq_id = None;
        if out.changed.is_empty() && !fresh {
            return Ok(out);
        }
        let m = log.next_modseq();
        let mut changed = out.changed.clone();
        changed.sort_unstable();
        let list = Arc::make_mut(&mut self.messages);
        let mut lines = String::new();
        for msg in list.iter_mut() {
            if fresh || changed.binary_search(&msg.uid).is_ok() {
                lines.push_str(&log.record(msg.uid, m, State::Present(msg.flags.clone())));
                msg.modseq = m;
            }
        }
        if fresh {
            // The file was lost: everything starts again at m (older expunges are unknown).
            log.set_floor(m);
        }
        write(&self.dir, lock, &mut log, &lines, fresh).map_err(io_at(&path))?;
        self.highest_modseq = self.highest_modseq.max(m);
        out.modseq = if out.changed.is_empty() { 0 } else { m };
        Ok(out)
    }

    /// The UIDs below UIDNEXT expunged after `modseq` that this mailbox no longer lists,
    /// ascending; `None` when expunges that old may be forgotten (or the mailbox has no
    /// mod-sequences), for the caller to answer conservatively (RFC 7162 §3.2.5.2).
    pub fn vanished_since(&self, modseq: u64) -> Result<Option<Vec<u32>>, MailboxError> {
        if !self.modseqs {
            return Ok(None);
        }
        let path = self.dir.join(modseq::FILE);
        let Some(log) =
            Log::read(&self.dir).map_err(io_at(&path))?.filter(|l| l.uidvalidity == self.uidvalidity)
        else {
            return Ok(None);
        };
        if modseq < log.floor {
            return Ok(None);
        }
        let mut gone: Vec<u32> = log
            .records()
            .filter(|&(uid, m, s)| {
                *s == State::Expunged && m > modseq && uid < self.next_uid && self.index_of(uid).is_none()
            })
            .map(|(uid, _, _)| uid)
            .collect();
        gone.sort_unstable();
        Ok(Some(gone))
    }

    /// Gives a sync's fresh list its mod-sequences (see the module documentation).
    pub(super) fn assign_modseqs(
        &mut self,
        messages: &mut [Message],
        uidvalidity: u32,
        next_uid: u32,
    ) -> io::Result<()> {
        if !self.modseqs {
            return Ok(());
        }
        let id = modseq::file_id(&self.dir);
        if id.is_some()
            && id == self.modseq_id
            && self.uidvalidity == uidvalidity
            && same_flags(&self.messages, messages)
        {
            messages.iter_mut().zip(self.messages.iter()).for_each(|(m, old)| m.modseq = old.modseq);
            return Ok(());
        }
        // Most syncs that found changes find them recorded already, by the session that made them.
        if let Some(log) = Log::read(&self.dir)?.filter(|l| l.uidvalidity == uidvalidity)
            && agrees(&log, messages, next_uid)
        {
            take_modseqs(&log, messages);
            self.highest_modseq = view_highest(&log, messages, next_uid);
            self.modseq_id = id;
            return Ok(());
        }
        let path = self.dir.join(modseq::FILE);
        let lock = DotLock::acquire(&path, self.lock_wait, FILE_MODE)?;
        let read = Log::read(&self.dir)?.filter(|l| l.uidvalidity == uidvalidity);
        let fresh = read.is_none();
        let mut log = read.unwrap_or_else(|| Log::new(uidvalidity));
        let m = log.next_modseq();
        if fresh {
            log.set_floor(m);
        }
        let mut lines = String::new();
        for msg in messages.iter_mut() {
            match log.get(msg.uid) {
                Some((recorded, State::Present(f))) if *f == msg.flags => msg.modseq = *recorded,
                // The scan saw the file just before a change that is recorded already (a store
                // renames under this lock): take that change, not record the old flags again.
                Some((recorded, State::Present(f))) if renamed_since_scan(&self.dir, msg) => {
                    let name = format!("{}:{}", msg.base_name(), f.to_info());
                    (msg.name, msg.in_new, msg.flags) = (name.into_boxed_str(), false, f.clone());
                    msg.modseq = *recorded;
                }
                // Expunged since the scan saw it (another session's EXPUNGE, recorded already):
                // not brought back with a new mod-sequence; the next sync drops it.
                Some((recorded, State::Expunged)) if renamed_since_scan(&self.dir, msg) => {
                    msg.modseq = self.message(msg.uid).map_or(*recorded, |known| known.modseq);
                }
                _ => {
                    lines.push_str(&log.record(msg.uid, m, State::Present(msg.flags.clone())));
                    msg.modseq = m;
                }
            }
        }
        let gone: Vec<u32> = log
            .records()
            .filter(|&(uid, _, s)| matches!(s, State::Present(_)) && uid < next_uid && !listed(messages, uid))
            .map(|(uid, _, _)| uid)
            .collect();
        for uid in gone {
            lines.push_str(&log.record(uid, m, State::Expunged));
        }
        let written = write(&self.dir, lock, &mut log, &lines, fresh)?;
        self.highest_modseq = view_highest(&log, messages, next_uid);
        self.modseq_id = written;
        Ok(())
    }

    /// A change to a message another session expunged meanwhile: only this view shows it, until
    /// the next sync reports the expunge (as Dovecot's index does, RFC 2180 §4.2).
    fn change_gone(&mut self, uid: u32, change: &FlagChange) {
        if let Some(i) = self.index_of(uid) {
            let m = &mut Arc::make_mut(&mut self.messages)[i];
            m.flags = change.apply(&m.flags);
        }
    }

    /// Renames `uid`'s file from the name this mailbox knows to one with `change` applied:
    /// whether its flags changed, or `None` when it is not there any more (renamed by someone
    /// else: this mailbox then follows it).
    fn rename_exact(&mut self, uid: u32, change: &FlagChange) -> Result<Option<bool>, MailboxError> {
        let i = self.index_of(uid).ok_or(MailboxError::NoSuchUid(uid))?;
        let from = self.path_of(uid)?;
        let current = Flags::from_file_name(&self.messages[i].name);
        let flags = change.apply(&current);
        let name = format!("{}:{}", self.messages[i].base_name(), flags.to_info());
        // Renaming to the same name checks that the file is still there.
        match fs::rename(&from, self.dir.join("cur").join(&name)) {
            Ok(()) => {
                let m = &mut Arc::make_mut(&mut self.messages)[i];
                (m.name, m.in_new, m.flags) = (name.into_boxed_str(), false, flags.clone());
                Ok(Some(current != flags))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.relocate(uid).map(|()| None),
            Err(e) => Err(MailboxError::Io { path: from, source: e }),
        }
    }
}

/// Writes what `log` gained (`lines`) under `lock`: appended, or the whole file when it is
/// new or wants compaction. Returns the file's identity as this write left it, taken before
/// the lock is released (after, another writer's lines could hide behind it), or `None` when
/// the file was replaced (the rename releases the lock).
fn write(
    dir: &std::path::Path,
    lock: DotLock,
    log: &mut Log,
    lines: &str,
    fresh: bool,
) -> io::Result<Option<modseq::FileId>> {
    if fresh || log.wants_compaction() {
        lock.replace(log.to_text(KEEP_EXPUNGED).as_bytes())?;
        return Ok(None);
    }
    if !lines.is_empty() {
        modseq::append(dir, lines)?;
    }
    let id = modseq::file_id(dir);
    drop(lock);
    Ok(id)
}

/// Whether `msg`'s file is no longer where the scan saw it (renamed since, or expunged: the
/// next sync finds out which; its name is then looked up again).
fn renamed_since_scan(dir: &std::path::Path, msg: &Message) -> bool {
    !dir.join(if msg.in_new { "new" } else { "cur" }).join(&*msg.name).exists()
}

fn listed(messages: &[Message], uid: u32) -> bool {
    messages.binary_search_by_key(&uid, |m| m.uid).is_ok()
}

/// Whether the two lists have the same messages with the same flags.
fn same_flags(a: &[Message], b: &[Message]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.uid == y.uid && x.flags == y.flags)
}

/// Whether `log` already records `messages` as they are: each with its flags, and no message
/// below `next_uid` that the list lacks.
fn agrees(log: &Log, messages: &[Message], next_uid: u32) -> bool {
    messages.iter().all(|m| matches!(log.get(m.uid), Some((_, State::Present(f))) if *f == m.flags))
        && log
            .records()
            .all(|(uid, _, s)| !matches!(s, State::Present(_)) || uid >= next_uid || listed(messages, uid))
}

fn take_modseqs(log: &Log, messages: &mut [Message]) {
    for m in messages {
        m.modseq = log.get(m.uid).map_or(0, |r| r.0);
    }
}

/// The highest mod-sequence of what a view with `messages` and UIDs below `next_uid` covers.
fn view_highest(log: &Log, messages: &[Message], next_uid: u32) -> u64 {
    let listed = messages.iter().map(|m| m.modseq).max().unwrap_or(0);
    let expunged = log
        .records()
        .filter(|&(uid, _, s)| *s == State::Expunged && uid < next_uid)
        .map(|(_, m, _)| m)
        .max()
        .unwrap_or(0);
    log.floor.max(listed).max(expunged)
}
