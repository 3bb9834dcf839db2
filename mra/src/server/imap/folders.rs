//! The authenticated state's mailbox commands: CREATE, DELETE, RENAME (INBOX too), SUBSCRIBE,
//! UNSUBSCRIBE, APPEND (with its quota check). LIST, LSUB and STATUS are in `list`.

use std::time::{Duration, UNIX_EPOCH};

use imap_codec::imap_types::flag::Flag as WireFlag;
use mailstore::{Flags, Mailbox, folders};

use super::quota::{Freed, disk_size};
use super::selected::{keyword_name, system_flag};
use super::session::{Session, line};
use crate::imap::names::{SEPARATOR, Target};

impl Session {
    /// CREATE.
    pub(super) fn create(&mut self, tag: &str, name: &[u8], out: &mut Vec<u8>) {
        // A trailing separator only says the client means to create children (RFC 3501 §6.3.3).
        let name = name.strip_suffix(b"/").unwrap_or(name);
        match self.target(name) {
            Some(Target::Inbox) => line(out, &format!("{tag} NO [ALREADYEXISTS] Mailbox already exists.")),
            None => line(out, &format!("{tag} NO [CANNOT] Invalid mailbox name.")),
            Some(Target::Folder(f)) => match self.maildir.folder_exists(&f) {
                Ok(true) => line(out, &format!("{tag} NO [ALREADYEXISTS] Mailbox already exists.")),
                _ => match self.maildir.create_folder(&f) {
                    Ok(()) => line(out, &format!("{tag} OK Create completed.")),
                    Err(e) => {
                        tracing::warn!("imap user={} create {}: {e}", self.user, f.as_str());
                        line(out, &format!("{tag} NO [SERVERBUG] Cannot create the mailbox."));
                    }
                },
            },
        }
    }

    /// DELETE.
    pub(super) fn delete(&mut self, tag: &str, name: &[u8], out: &mut Vec<u8>) {
        let f = match self.target(name) {
            Some(Target::Folder(f)) => f,
            Some(Target::Inbox) => return line(out, &format!("{tag} NO [CANNOT] INBOX can't be deleted.")),
            None => return line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist.")),
        };
        if self.selected.as_ref().is_some_and(|s| s.target == Target::Folder(f.clone())) {
            self.selected = None;
        }
        // Its messages leave the quota with it (Dovecot expunges them first).
        let freed = self.counts_quota().then(|| self.folder_usage(&Target::Folder(f.clone()))).flatten();
        match folders::delete(self.maildir.root(), &f) {
            Ok(()) => {
                if let Some(freed) = freed {
                    self.quota_freed(freed);
                }
                line(out, &format!("{tag} OK Delete completed."))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."))
            }
            Err(e) => {
                tracing::warn!("imap user={} delete {}: {e}", self.user, f.as_str());
                line(out, &format!("{tag} NO [SERVERBUG] Cannot delete the mailbox."));
            }
        }
    }

    /// The on-disk size and count of a mailbox's messages, `None` if it cannot be opened.
    fn folder_usage(&self, t: &Target) -> Option<Freed> {
        let mut mb = Mailbox::open(&self.path(t)).ok()?;
        let uids: Vec<u32> = mb.messages().iter().map(|m| m.uid()).collect();
        let mut freed = Freed::default();
        for uid in uids {
            if let Some(size) = disk_size(&mut mb, uid) {
                freed.bytes += size;
                freed.count += 1;
            }
        }
        Some(freed)
    }

    /// RENAME: a folder with its children, or INBOX's messages into a new folder.
    pub(super) fn rename(&mut self, tag: &str, from: &[u8], to: &[u8], out: &mut Vec<u8>) {
        let (from, to) = match (self.target(from), self.target(to)) {
            (Some(Target::Folder(a)), Some(Target::Folder(b))) => (a, b),
            (Some(Target::Inbox), Some(Target::Folder(to))) => return self.rename_inbox(tag, &to, out),
            (_, Some(Target::Inbox)) => return line(out, &format!("{tag} NO [ALREADYEXISTS] INBOX exists.")),
            _ => return line(out, &format!("{tag} NO [CANNOT] Invalid mailbox name.")),
        };
        // A parent that exists only through its children (`.A.B` without `.A`) can be renamed.
        let prefix = format!("{}{SEPARATOR}", from.as_str());
        let has_children = folders::list(self.maildir.root())
            .is_ok_and(|l| l.iter().any(|f| f.as_str().starts_with(&prefix)));
        if !has_children && !self.maildir.folder_exists(&from).unwrap_or(false) {
            return line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."));
        }
        match folders::rename(self.maildir.root(), &from, &to) {
            Ok(()) => line(out, &format!("{tag} OK Rename completed.")),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                line(out, &format!("{tag} NO [ALREADYEXISTS] Target mailbox already exists."))
            }
            Err(e) => {
                tracing::warn!("imap user={} rename {}: {e}", self.user, from.as_str());
                line(out, &format!("{tag} NO [SERVERBUG] Cannot rename the mailbox."));
            }
        }
    }

    /// RENAME INBOX (RFC 3501 §6.3.5): its messages go to the new folder, INBOX stays empty.
    /// Quota is unchanged: the same messages stay under the same root.
    fn rename_inbox(&mut self, tag: &str, to: &mailstore::FolderName, out: &mut Vec<u8>) {
        match folders::rename_inbox(&self.maildir, to) {
            Ok(n) => {
                tracing::info!("imap user={} renamed INBOX to {}: {n} messages", self.user, to.as_str());
                line(out, &format!("{tag} OK Rename completed."));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                line(out, &format!("{tag} NO [ALREADYEXISTS] Target mailbox already exists."))
            }
            Err(e) => {
                tracing::warn!("imap user={} rename INBOX: {e}", self.user);
                line(out, &format!("{tag} NO [SERVERBUG] Cannot rename INBOX."));
            }
        }
        // A selected INBOX lost its messages: EXPUNGE now, not at the next command.
        if self.selected.as_ref().is_some_and(|s| s.target == Target::Inbox) {
            self.report_changes(out);
        }
    }

    /// SUBSCRIBE (`on`) and UNSUBSCRIBE.
    pub(super) fn subscribe(&mut self, tag: &str, name: &[u8], on: bool, out: &mut Vec<u8>) {
        let Some(t) = self.target(name) else {
            return line(out, &format!("{tag} NO [CANNOT] Invalid mailbox name."));
        };
        let root = self.maildir.root();
        let result = folders::subscriptions(root).and_then(|mut subs| {
            let had = subs.iter().any(|s| s == t.name());
            match (on, had) {
                (true, false) => subs.push(t.name().to_string()),
                (false, true) => subs.retain(|s| s != t.name()),
                _ => return Ok(()),
            }
            folders::save_subscriptions(root, &subs)
        });
        match result {
            Ok(()) => {
                line(out, &format!("{tag} OK {} completed.", if on { "Subscribe" } else { "Unsubscribe" }))
            }
            Err(e) => {
                tracing::warn!("imap user={} subscriptions: {e}", self.user);
                line(out, &format!("{tag} NO [SERVERBUG] Cannot change subscriptions."));
            }
        }
    }

    /// APPEND, with UIDPLUS's APPENDUID.
    pub(super) fn append(
        &mut self,
        tag: &str,
        name: &[u8],
        flags: &[WireFlag<'_>],
        time: Option<i64>,
        message: &[u8],
        out: &mut Vec<u8>,
    ) {
        let Some(t) = self.target(name) else {
            return line(out, &format!("{tag} NO [TRYCREATE] Mailbox doesn't exist."));
        };
        let dir = self.path(&t);
        if !dir.join("cur").is_dir() {
            return line(out, &format!("{tag} NO [TRYCREATE] Mailbox doesn't exist."));
        }
        // Stored with LF line ends: that is the size the quota counts.
        let on_disk = message.len() - message.windows(2).filter(|w| w == b"\r\n").count();
        if let Some(no) = self.quota_refusal(on_disk as u64, 1) {
            return line(out, &format!("{tag} NO {no}"));
        }
        let done = match self.append_file(&t, &dir, flags, time, message) {
            Ok(Some((validity, uid))) => format!("{tag} OK [APPENDUID {validity} {uid}] Append completed."),
            Ok(None) => format!("{tag} OK Append completed."),
            Err(e) => {
                tracing::warn!("imap user={} append: {e}", self.user);
                format!("{tag} NO [SERVERBUG] Append failed.")
            }
        };
        // The selected mailbox may be the destination: EXISTS and RECENT before the tagged
        // answer, not at the next command.
        if self.selected.as_ref().is_some_and(|s| s.target == t) {
            self.report_changes(out);
        }
        line(out, &done);
    }

    fn append_file(
        &self,
        t: &Target,
        dir: &std::path::Path,
        flags: &[WireFlag<'_>],
        time: Option<i64>,
        message: &[u8],
    ) -> Result<Option<(u32, u32)>, Box<dyn std::error::Error>> {
        let folder = match t {
            Target::Inbox => None,
            Target::Folder(f) => Some(f),
        };
        let mut f = Flags::empty();
        let mut kw = mailstore::Keywords::load(dir)?;
        for flag in flags {
            match (system_flag(flag), keyword_name(flag)) {
                (Some(s), _) => f.set(s, true),
                (None, Some(k)) => f.set_keyword(kw.intern(dir, k, 0o600)?, true),
                _ => {}
            }
        }
        let when = time.map(|secs| UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64));
        let d = self.maildir.save(folder, &mut &message[..], &f, when)?;
        self.quota_changed(d.size as i64, 1);
        let name = d.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let base = mailstore::flags::base_name(name).to_string();
        let mb = Mailbox::open(dir)?;
        // Expunged by another session already: stored all the same, with no UID to tell.
        let uid = mb.messages().iter().find(|m| m.base_name() == base).map(|m| m.uid());
        Ok(uid.map(|uid| (mb.uidvalidity(), uid)))
    }
}
