//! The selected state: SELECT/EXAMINE, changes made by others (untagged EXPUNGE or VANISHED,
//! EXISTS, RECENT, FETCH FLAGS with MODSEQ under CONDSTORE), CLOSE/UNSELECT, EXPUNGE and UID
//! EXPUNGE, STORE (with UNCHANGEDSINCE), COPY and MOVE. QRESYNC's part of SELECT is in
//! [`super::condstore`].

use std::collections::HashSet;

use imap_codec::imap_types::flag::{Flag as WireFlag, StoreResponse, StoreType};
use imap_codec::imap_types::sequence::SequenceSet;
use mailstore::{Flag, FlagChange, Flags, Mailbox, MailboxError, Maildir, Removal};

use super::condstore::modseq_item;
use super::quota::{Freed, expunge_counted};
use super::recent::Recent;
use super::session::{Selected, Session, line};
use crate::imap::condstore::{SelectParams, vanished};
use crate::imap::names::Target;
use crate::imap::response::{flag_list, mailbox_flags};
use crate::imap::sequence::{compact, resolve};

impl Session {
    /// SELECT (`read_only`: EXAMINE), with RFC 7162's parameters.
    pub(super) fn select(
        &mut self,
        tag: &str,
        name: &[u8],
        read_only: bool,
        params: &SelectParams,
        out: &mut Vec<u8>,
    ) {
        if params.qresync.is_some() && !self.qresync {
            return line(out, &format!("{tag} BAD QRESYNC is not enabled."));
        }
        // Enabled before the mailbox is open: its HIGHESTMODSEQ comes with the SELECT answer.
        self.condstore |= params.condstore;
        // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
        if self.selected.take().is_some() && (self.rev2 || self.qresync) {
            line(out, "* OK [CLOSED] Previous mailbox closed.");
        }
        let Some(target) = self.target(name) else {
            return line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."));
        };
        let mut mb = match Mailbox::open(&self.path(&target)) {
            Ok(mb) => mb,
            Err(MailboxError::NotFound(_)) => {
                return line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."));
            }
            Err(e) => {
                tracing::warn!("imap user={} select {}: {e}", self.user, target.name());
                return line(out, &format!("{tag} NO [SERVERBUG] Cannot open the mailbox."));
            }
        };
        let in_new: Vec<u32> = mb.messages().iter().filter(|m| m.in_new()).map(|m| m.uid()).collect();
        // \Recent is claimed as Dovecot does: what was in new/ moves to cur/, and only the
        // session that moved it shows it as recent (EXAMINE shows it without claiming).
        let recent: Recent = in_new.into_iter().filter(|&uid| read_only || claim(&mut mb, uid)).collect();
        let n = mb.messages().len();
        line(out, &format!("* FLAGS {}", mailbox_flags(mb.keywords())));
        line(out, &format!("* OK [PERMANENTFLAGS {}] Flags permitted.", perm_flags(&mb)));
        line(out, &format!("* {n} EXISTS"));
        if self.rev2 {
            self.select_list_line(&target, out);
        } else {
            line(out, &format!("* {} RECENT", recent.len()));
            if let Some(i) = mb.messages().iter().position(|m| !m.flags().has(Flag::Seen)) {
                line(out, &format!("* OK [UNSEEN {}] First unseen.", i + 1));
            }
        }
        line(out, &format!("* OK [UIDVALIDITY {}] UIDs valid.", mb.uidvalidity()));
        line(out, &format!("* OK [UIDNEXT {}] Predicted next UID.", mb.uid_next()));
        let highest_sent = mb.highest_modseq();
        match highest_sent {
            0 => line(out, "* OK [NOMODSEQ] No permanent modification sequences."),
            n => line(out, &format!("* OK [HIGHESTMODSEQ {n}] Highest.")),
        }
        let resync =
            params.qresync.as_ref().filter(|q| q.uidvalidity == mb.uidvalidity() && highest_sent != 0);
        let keywords_sent = mb.keywords().iter().count();
        self.selected = Some(Selected {
            mb,
            target,
            read_only,
            recent,
            saved: Box::default(),
            highest_sent,
            keywords_sent,
        });
        if let Some(q) = resync {
            self.qresync_changes(q, out);
        }
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        line(out, &format!("{tag} OK [{mode}] Select completed."));
    }

    /// Syncs the selected mailbox and reports what others changed: EXPUNGE (highest sequence
    /// number first, so no number shifts under the client) or, under QRESYNC, one VANISHED;
    /// EXISTS and RECENT; FETCH FLAGS, with MODSEQ under CONDSTORE, and FETCH MODSEQ for a
    /// mod-sequence that changed alone; under QRESYNC, the HIGHESTMODSEQ those raised.
    pub fn report_changes(&mut self, out: &mut Vec<u8>) {
        let (rev2, qresync) = (self.rev2, self.qresync);
        let Some(sel) = self.selected.as_mut() else { return };
        let condstore = self.condstore && sel.mb.highest_modseq() != 0;
        let before: Vec<u32> = sel.mb.messages().iter().map(|m| m.uid()).collect();
        let changes = match sel.mb.sync() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("imap user={} sync: {e}", self.user);
                return;
            }
        };
        if !changes.expunged.is_empty() {
            let gone: HashSet<u32> = changes.expunged.iter().copied().collect();
            let mut uids = Vec::new();
            for (i, uid) in before.iter().enumerate().rev() {
                if gone.contains(uid) {
                    if !qresync {
                        line(out, &format!("* {} EXPUNGE", i + 1));
                    }
                    uids.push(*uid);
                    sel.recent.remove(uid);
                }
            }
            uids.reverse();
            if let Some(v) = vanished(false, &uids).filter(|_| qresync) {
                line(out, &v);
            }
        }
        sel.announce_keywords(out);
        if !changes.added.is_empty() {
            for &uid in &changes.added {
                // Claimed as SELECT claims: other sessions (and STATUS) do not count it.
                if sel.mb.message(uid).is_some_and(|m| m.in_new())
                    && (sel.read_only || claim(&mut sel.mb, uid))
                {
                    sel.recent.insert(uid);
                }
            }
            line(out, &format!("* {} EXISTS", sel.mb.messages().len()));
            if !rev2 {
                line(out, &format!("* {} RECENT", sel.recent.len()));
            }
        }
        let msgs = sel.mb.messages();
        for uid in &changes.flags {
            if let Ok(i) = msgs.binary_search_by_key(uid, |m| m.uid()) {
                let m = &msgs[i];
                let flags = flag_list(m.flags(), sel.mb.keywords(), !rev2 && sel.recent.contains(uid));
                let modseq = if condstore { modseq_item(m.modseq()) } else { String::new() };
                line(out, &format!("* {} FETCH (UID {uid} FLAGS {flags}{modseq})", i + 1));
            }
            let _ = super::output::spill(&self.spill, out);
        }
        for uid in changes.modseqs.iter().filter(|_| condstore) {
            if let Ok(i) = msgs.binary_search_by_key(uid, |m| m.uid()) {
                line(out, &format!("* {} FETCH (UID {uid}{})", i + 1, modseq_item(msgs[i].modseq())));
            }
            let _ = super::output::spill(&self.spill, out);
        }
        let grew = !changes.expunged.is_empty() || !changes.added.is_empty();
        if qresync && grew && sel.mb.highest_modseq() > sel.highest_sent {
            sel.highest_sent = sel.mb.highest_modseq();
            line(out, &format!("* OK [HIGHESTMODSEQ {}] Highest.", sel.highest_sent));
        }
    }

    /// CLOSE (`expunge`) or UNSELECT.
    pub(super) fn close(&mut self, tag: &str, expunge: bool, out: &mut Vec<u8>) {
        let (counting, mut freed) = (self.counts_quota(), Freed::default());
        if let Some(sel) = self.selected.as_mut().filter(|s| expunge && !s.read_only) {
            let deleted: Vec<u32> =
                sel.mb.messages().iter().filter(|m| m.flags().has(Flag::Deleted)).map(|m| m.uid()).collect();
            for uid in deleted {
                if let Err(e) = expunge_counted(&mut sel.mb, uid, true, counting, &mut freed) {
                    tracing::warn!("imap user={} close: expunge UID {uid}: {e}", self.user);
                }
            }
        }
        self.quota_freed(freed);
        self.selected = None;
        line(out, &format!("{tag} OK {} completed.", if expunge { "Close" } else { "Unselect" }));
    }

    /// EXPUNGE, or UID EXPUNGE with the UIDs it may remove.
    pub(super) fn expunge(&mut self, tag: &str, uids: Option<&SequenceSet>, out: &mut Vec<u8>) {
        let (counting, mut freed) = (self.counts_quota(), Freed::default());
        let Some(sel) = self.selected.as_mut() else {
            return line(out, &format!("{tag} BAD No mailbox selected."));
        };
        if sel.read_only {
            return line(out, &format!("{tag} NO [READ-ONLY] Mailbox is read-only."));
        }
        let all: Vec<u32> = sel.mb.messages().iter().map(|m| m.uid()).collect();
        let allowed: Option<HashSet<usize>> = uids.map(|s| resolve(s, &all, true).into_iter().collect());
        let doomed: Vec<usize> = (0..all.len())
            .filter(|&i| sel.mb.messages()[i].flags().has(Flag::Deleted))
            .filter(|i| allowed.as_ref().is_none_or(|a| a.contains(i)))
            .collect();
        // Highest first: removing a message shifts only the numbers above it.
        let mut gone = Vec::new();
        for &i in doomed.iter().rev() {
            let uid = all[i];
            match expunge_counted(&mut sel.mb, uid, true, counting, &mut freed) {
                // Undeleted by another session meanwhile: the sync below reports its flags.
                Ok(Removal::Kept) => {}
                Ok(Removal::Removed | Removal::Gone) => {
                    sel.recent.remove(&uid);
                    if !self.qresync {
                        line(out, &format!("* {} EXPUNGE", i + 1));
                    }
                    gone.push(uid);
                }
                Err(e) => tracing::warn!("imap user={} expunge UID {uid}: {e}", self.user),
            }
        }
        gone.reverse();
        if let Some(v) = vanished(false, &gone).filter(|_| self.qresync) {
            line(out, &v);
        }
        self.quota_freed(freed);
        // The sync records the expunges and, under QRESYNC, tells the HIGHESTMODSEQ they raised.
        self.report_changes(out);
        if self.qresync
            && let Some(sel) = self.selected.as_mut().filter(|s| s.mb.highest_modseq() > s.highest_sent)
        {
            sel.highest_sent = sel.mb.highest_modseq();
            return line(out, &format!("{tag} OK [HIGHESTMODSEQ {}] Expunge completed.", sel.highest_sent));
        }
        line(out, &format!("{tag} OK Expunge completed."));
    }

    /// STORE and UID STORE, with UNCHANGEDSINCE (RFC 7162 §3.1.3): messages changed after it
    /// are left alone and named in `[MODIFIED ...]`; under CONDSTORE every changed message's
    /// FETCH carries its new MODSEQ, even with .SILENT.
    pub(super) fn store(
        &mut self,
        tag: &str,
        st: &Store<'_, '_>,
        by_uid: bool,
        unchanged_since: Option<u64>,
        out: &mut Vec<u8>,
    ) {
        let Some(sel) = self.selected.as_mut() else { return };
        if sel.read_only {
            return line(out, &format!("{tag} NO [READ-ONLY] Mailbox is read-only."));
        }
        if unchanged_since.is_some() && sel.mb.highest_modseq() == 0 {
            return line(out, &format!("{tag} BAD The mailbox has no mod-sequences (NOMODSEQ)."));
        }
        let mut wanted = Flags::empty();
        for f in st.flags {
            match system_flag(f) {
                Some(flag) => wanted.set(flag, true),
                None => match keyword_name(f).map(|k| sel.mb.keyword_index(k)) {
                    Some(Ok(i)) => wanted.set_keyword(i, true),
                    Some(Err(e)) => {
                        tracing::warn!("imap user={} keyword: {e}", self.user);
                        return line(out, &format!("{tag} NO [LIMIT] Too many keywords."));
                    }
                    // \Recent and other backslash flags cannot be stored.
                    None => {}
                },
            }
        }
        let uids: Vec<u32> = sel.mb.messages().iter().map(|m| m.uid()).collect();
        let picked = resolve(st.set, &uids, by_uid);
        let change = match st.kind {
            StoreType::Replace => FlagChange::Set(wanted),
            StoreType::Add => FlagChange::Add(wanted),
            StoreType::Remove => FlagChange::Remove(wanted),
        };
        let changes: Vec<(u32, FlagChange)> = picked.iter().map(|&i| (uids[i], change.clone())).collect();
        let stored = match sel.mb.store(&changes, unchanged_since) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("imap user={} store: {e}", self.user);
                return line(out, &format!("{tag} NO [SERVERBUG] Cannot change the flags."));
            }
        };
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let uid_too = by_uid || self.qresync;
        let Some(sel) = self.selected.as_mut() else { return };
        sel.announce_keywords(out);
        let condstore = self.condstore && sel.mb.highest_modseq() != 0;
        let changed: HashSet<u32> = stored.changed.iter().copied().collect();
        let modified: HashSet<u32> = stored.modified.iter().copied().collect();
        let silent = matches!(st.response, StoreResponse::Silent);
        for &i in &picked {
            let uid = uids[i];
            let Some(m) = sel.mb.message(uid).filter(|_| !modified.contains(&uid)) else { continue };
            let uid_item = if uid_too { format!(" UID {uid}") } else { String::new() };
            let modseq = if condstore { modseq_item(m.modseq()) } else { String::new() };
            if !silent {
                let list = flag_list(m.flags(), sel.mb.keywords(), !self.rev2 && sel.recent.contains(&uid));
                line(out, &format!("* {} FETCH (FLAGS {list}{uid_item}{modseq})", i + 1));
            } else if condstore && changed.contains(&uid) {
                let uid_item = if uid_too { format!("UID {uid} ") } else { String::new() };
                line(out, &format!("* {} FETCH ({uid_item}MODSEQ ({}))", i + 1, m.modseq()));
            }
            let _ = super::output::spill(&self.spill, out);
        }
        if stored.modified.is_empty() {
            return line(out, &format!("{tag} OK Store completed."));
        }
        let mut numbers: Vec<u32> = picked
            .iter()
            .filter(|&&i| modified.contains(&uids[i]))
            .map(|&i| if by_uid { uids[i] } else { i as u32 + 1 })
            .collect();
        numbers.sort_unstable();
        line(out, &format!("{tag} OK [MODIFIED {}] Conditional STORE failed.", compact(&numbers)));
    }

    /// COPY and MOVE (and their UID forms), with UIDPLUS's COPYUID.
    pub(super) fn copy(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        dest: &[u8],
        by_uid: bool,
        moving: bool,
        out: &mut Vec<u8>,
    ) {
        let Some(target) = self.target(dest) else {
            return line(out, &format!("{tag} NO [TRYCREATE] Mailbox doesn't exist."));
        };
        let dest_dir = self.path(&target);
        if !dest_dir.join("cur").is_dir() {
            return line(out, &format!("{tag} NO [TRYCREATE] Mailbox doesn't exist."));
        }
        let folder = match &target {
            Target::Inbox => None,
            Target::Folder(f) => Some(f.clone()),
        };
        let maildir = self.maildir.clone();
        // A MOVE within the one quota root adds nothing overall: only COPY is checked.
        if !moving && let Some(no) = self.copy_refusal(set, by_uid) {
            return line(out, &format!("{tag} NO {no}"));
        }
        let (counting, mut freed, mut added) = (self.counts_quota(), Freed::default(), 0u64);
        let Some(sel) = self.selected.as_mut() else { return };
        if moving && sel.read_only {
            return line(out, &format!("{tag} NO [READ-ONLY] Mailbox is read-only."));
        }
        let uids: Vec<u32> = sel.mb.messages().iter().map(|m| m.uid()).collect();
        let picked = resolve(set, &uids, by_uid);
        let mut copied: Vec<(u32, String)> = Vec::new();
        for &i in &picked {
            let uid = uids[i];
            match copy_one(&mut sel.mb, uid, &maildir, folder.as_ref()) {
                Ok(Some((base, size))) => {
                    added += size;
                    copied.push((uid, base));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("imap user={} copy UID {uid}: {e}", self.user);
                    self.quota_changed(added as i64, copied.len() as i64);
                    return line(out, &format!("{tag} NO [SERVERBUG] Copy failed."));
                }
            }
        }
        self.quota_changed(added as i64, copied.len() as i64);
        // The destination numbers the new files now; their UIDs go into COPYUID.
        let code = match Mailbox::open(&dest_dir) {
            Ok(d) => {
                let new: Vec<u32> = copied
                    .iter()
                    .filter_map(|(_, b)| d.messages().iter().find(|m| m.base_name() == b).map(|m| m.uid()))
                    .collect();
                let old: Vec<u32> = copied.iter().map(|(u, _)| *u).collect();
                if new.len() == old.len() && !old.is_empty() {
                    format!("[COPYUID {} {} {}] ", d.uidvalidity(), compact(&old), compact(&new))
                } else {
                    String::new()
                }
            }
            Err(_) => String::new(),
        };
        let into_selected = self.selected.as_ref().is_some_and(|s| s.target == target);
        if !moving {
            // Into the selected mailbox: EXISTS and RECENT before the tagged answer.
            if into_selected {
                self.report_changes(out);
            }
            return line(out, &format!("{tag} OK {code}Copy completed."));
        }
        line(out, &format!("* OK {code}Moved."));
        let qresync = self.qresync;
        let sel = self.selected.as_mut().expect("selected");
        let mut gone = Vec::new();
        for &i in picked.iter().rev() {
            let uid = uids[i];
            if expunge_counted(&mut sel.mb, uid, false, counting, &mut freed).is_ok() {
                sel.recent.remove(&uid);
                if !qresync {
                    line(out, &format!("* {} EXPUNGE", i + 1));
                }
                gone.push(uid);
            }
        }
        gone.reverse();
        if let Some(v) = vanished(false, &gone).filter(|_| qresync) {
            line(out, &v);
        }
        self.quota_freed(freed);
        if into_selected {
            self.report_changes(out);
        }
        line(out, &format!("{tag} OK Move completed."));
    }
}

/// Claims `uid`'s `\Recent` ([`Mailbox::claim_new`]): whether this session got it.
fn claim(mb: &mut Mailbox, uid: u32) -> bool {
    mb.claim_new(uid).unwrap_or_else(|e| {
        tracing::debug!("imap claim recent UID {uid}: {e}");
        false
    })
}

impl Selected {
    /// FLAGS and PERMANENTFLAGS again when the mailbox gained keywords since they were last
    /// sent: a client must not see a keyword in FETCH before FLAGS announced it.
    pub(super) fn announce_keywords(&mut self, out: &mut Vec<u8>) {
        let n = self.mb.keywords().iter().count();
        if n != self.keywords_sent {
            self.keywords_sent = n;
            line(out, &format!("* FLAGS {}", mailbox_flags(self.mb.keywords())));
            line(out, &format!("* OK [PERMANENTFLAGS {}] Flags permitted.", perm_flags(&self.mb)));
        }
    }
}

/// Copies one message into `folder` with its flags; the new file's base name and size on
/// disk, or `None` when the message was expunged meanwhile.
fn copy_one(
    mb: &mut Mailbox,
    uid: u32,
    maildir: &Maildir,
    folder: Option<&mailstore::FolderName>,
) -> Result<Option<(String, u64)>, Box<dyn std::error::Error>> {
    let flags = match mb.message(uid) {
        Some(m) => m.flags().clone(),
        None => return Ok(None),
    };
    let keywords: Vec<String> =
        flags.keyword_indexes().filter_map(|k| mb.keywords().name(k).map(String::from)).collect();
    let (mut file, _) = match mb.open_message(uid) {
        Ok(f) => f,
        Err(MailboxError::Expunged(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mtime = file.metadata()?.modified()?;
    // Keyword letters differ per mailbox: map them by name into the destination's list.
    let dest_dir = maildir.folder_path(folder);
    let mut dest_flags = Flags::empty();
    for f in flags.system_flags() {
        dest_flags.set(f, true);
    }
    if !keywords.is_empty() {
        let mut kw = mailstore::Keywords::load(&dest_dir)?;
        for k in &keywords {
            dest_flags.set_keyword(kw.intern(&dest_dir, k, 0o600)?, true);
        }
    }
    let d = maildir.save(folder, &mut file, &dest_flags, Some(mtime))?;
    let name = d.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let base = mailstore::flags::base_name(name).to_string();
    Ok(Some((base, d.size)))
}

/// What a STORE command asks, as imap-codec parsed it.
pub(super) struct Store<'c, 'f> {
    /// The messages.
    pub set: &'c SequenceSet,
    /// Replace, add or remove.
    pub kind: &'c StoreType,
    /// `.SILENT` or not.
    pub response: &'c StoreResponse,
    /// The flags.
    pub flags: &'c [WireFlag<'f>],
}

/// The Maildir flag of an IMAP system flag (or of `$Forwarded`, Maildir's "passed").
pub(super) fn system_flag(f: &WireFlag<'_>) -> Option<Flag> {
    match f {
        WireFlag::Answered => Some(Flag::Replied),
        WireFlag::Deleted => Some(Flag::Deleted),
        WireFlag::Draft => Some(Flag::Draft),
        WireFlag::Flagged => Some(Flag::Flagged),
        WireFlag::Seen => Some(Flag::Seen),
        WireFlag::Keyword(k) if k.inner().eq_ignore_ascii_case("$Forwarded") => Some(Flag::Passed),
        _ => None,
    }
}

/// A keyword's name (`None` for system and `\`-extension flags).
pub(super) fn keyword_name<'f>(f: &'f WireFlag<'_>) -> Option<&'f str> {
    match f {
        WireFlag::Keyword(k) => Some(k.inner()),
        _ => None,
    }
}

/// PERMANENTFLAGS: the system flags, the mailbox's keywords, and `\*` (new keywords allowed).
fn perm_flags(mb: &Mailbox) -> String {
    let list = mailbox_flags(mb.keywords());
    format!("{} \\*)", &list[..list.len() - 1])
}
