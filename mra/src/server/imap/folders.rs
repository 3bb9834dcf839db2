//! The authenticated state's mailbox commands: CREATE, DELETE, RENAME, SUBSCRIBE,
//! UNSUBSCRIBE, LIST and LSUB (with CHILDREN and SPECIAL-USE attributes), STATUS, APPEND.

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, UNIX_EPOCH};

use imap_codec::imap_types::flag::Flag as WireFlag;
use imap_codec::imap_types::status::StatusDataItemName;
use mailstore::{Flag, Flags, Mailbox, MailboxError, folders};

use super::selected::{keyword_name, system_flag};
use super::session::{Session, line};
use crate::imap::names::{self, SEPARATOR, Target, wire_name};
use crate::imap::response::string;

impl Session {
    /// CREATE.
    pub(super) fn create(&mut self, tag: &str, name: &[u8], out: &mut Vec<u8>) {
        // A trailing separator only says the client means to create children (RFC 3501 §6.3.3).
        let name = name.strip_suffix(b"/").unwrap_or(name);
        match Target::parse(name) {
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
        let f = match Target::parse(name) {
            Some(Target::Folder(f)) => f,
            Some(Target::Inbox) => return line(out, &format!("{tag} NO [CANNOT] INBOX can't be deleted.")),
            None => return line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist.")),
        };
        if self.selected.as_ref().is_some_and(|s| s.target == Target::Folder(f.clone())) {
            self.selected = None;
        }
        match folders::delete(self.maildir.root(), &f) {
            Ok(()) => line(out, &format!("{tag} OK Delete completed.")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."))
            }
            Err(e) => {
                tracing::warn!("imap user={} delete {}: {e}", self.user, f.as_str());
                line(out, &format!("{tag} NO [SERVERBUG] Cannot delete the mailbox."));
            }
        }
    }

    /// RENAME (of a folder and its children; renaming INBOX is not supported).
    pub(super) fn rename(&mut self, tag: &str, from: &[u8], to: &[u8], out: &mut Vec<u8>) {
        let (from, to) = match (Target::parse(from), Target::parse(to)) {
            (Some(Target::Folder(a)), Some(Target::Folder(b))) => (a, b),
            (Some(Target::Inbox), _) => {
                return line(out, &format!("{tag} NO [CANNOT] Renaming INBOX is not supported."));
            }
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

    /// SUBSCRIBE (`on`) and UNSUBSCRIBE.
    pub(super) fn subscribe(&mut self, tag: &str, name: &[u8], on: bool, out: &mut Vec<u8>) {
        let Some(t) = Target::parse(name) else {
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

    /// LIST and LSUB.
    pub(super) fn list(
        &mut self,
        tag: &str,
        reference: &[u8],
        pattern: &[u8],
        lsub: bool,
        out: &mut Vec<u8>,
    ) {
        let cmd = if lsub { "LSUB" } else { "LIST" };
        if pattern.is_empty() && !lsub {
            line(out, "* LIST (\\Noselect) \"/\" \"\"");
            return line(out, &format!("{tag} OK List completed."));
        }
        let full = [reference, pattern].concat();
        let Some(pattern) = std::str::from_utf8(&full).ok().and_then(mailstore::mutf7::decode) else {
            return line(out, &format!("{tag} OK {cmd} completed."));
        };
        let existing = match folders::list(self.maildir.root()) {
            Ok(f) => f.into_iter().map(|f| f.as_str().to_string()).collect::<BTreeSet<_>>(),
            Err(e) => {
                tracing::warn!("imap user={} list: {e}", self.user);
                return line(out, &format!("{tag} NO [SERVERBUG] Cannot list mailboxes."));
            }
        };
        let subscribed: BTreeSet<String> =
            folders::subscriptions(self.maildir.root()).unwrap_or_default().into_iter().collect();
        // Parents that exist only as a prefix of a folder (Maildir++ `.A.B` without `.A`).
        let mut all = existing.clone();
        for n in &existing {
            let mut prefix = String::new();
            for level in n.split(SEPARATOR).collect::<Vec<_>>().iter().rev().skip(1).rev() {
                if !prefix.is_empty() {
                    prefix.push(SEPARATOR);
                }
                prefix.push_str(level);
                all.insert(prefix.clone());
            }
        }
        all.insert("INBOX".to_string());
        for name in &all {
            if !names::matches(&pattern, name) || (lsub && !subscribed.contains(name)) {
                continue;
            }
            let mut attrs: Vec<&str> = Vec::new();
            if name != "INBOX" && !existing.contains(name) {
                attrs.push("\\Noselect");
            }
            let children = all.iter().any(|c| {
                c.len() > name.len() && c.starts_with(name.as_str()) && c[name.len()..].starts_with(SEPARATOR)
            });
            attrs.push(if children { "\\HasChildren" } else { "\\HasNoChildren" });
            if let Some(a) = names::special_use(name).filter(|_| !lsub) {
                attrs.push(a);
            }
            out.extend_from_slice(format!("* {cmd} ({}) \"/\" ", attrs.join(" ")).as_bytes());
            string(out, wire_name(name).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        line(out, &format!("{tag} OK {cmd} completed."));
    }

    /// STATUS.
    pub(super) fn status(&mut self, tag: &str, name: &[u8], items: &[StatusDataItemName], out: &mut Vec<u8>) {
        let Some(t) = Target::parse(name) else {
            return line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."));
        };
        let mb = match Mailbox::open(&self.path(&t)) {
            Ok(mb) => mb,
            Err(MailboxError::NotFound(_)) => {
                return line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."));
            }
            Err(e) => {
                tracing::warn!("imap user={} status: {e}", self.user);
                return line(out, &format!("{tag} NO [SERVERBUG] Cannot open the mailbox."));
            }
        };
        let msgs = mb.messages();
        let mut parts = Vec::new();
        for item in items {
            let (k, v) = match item {
                StatusDataItemName::Messages => ("MESSAGES", msgs.len() as u64),
                StatusDataItemName::Recent => ("RECENT", msgs.iter().filter(|m| m.in_new()).count() as u64),
                StatusDataItemName::UidNext => ("UIDNEXT", mb.uid_next() as u64),
                StatusDataItemName::UidValidity => ("UIDVALIDITY", mb.uidvalidity() as u64),
                StatusDataItemName::Unseen => {
                    ("UNSEEN", msgs.iter().filter(|m| !m.flags().has(Flag::Seen)).count() as u64)
                }
                StatusDataItemName::Deleted => {
                    ("DELETED", msgs.iter().filter(|m| m.flags().has(Flag::Deleted)).count() as u64)
                }
                _ => continue,
            };
            parts.push(format!("{k} {v}"));
        }
        out.extend_from_slice(b"* STATUS ");
        string(out, t.wire().as_bytes());
        line(out, &format!(" ({})", parts.join(" ")));
        line(out, &format!("{tag} OK Status completed."));
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
        let Some(t) = Target::parse(name) else {
            return line(out, &format!("{tag} NO [TRYCREATE] Mailbox doesn't exist."));
        };
        let dir = self.path(&t);
        if !dir.join("cur").is_dir() {
            return line(out, &format!("{tag} NO [TRYCREATE] Mailbox doesn't exist."));
        }
        match self.append_file(&t, &dir, flags, time, message) {
            Ok((validity, uid)) => {
                line(out, &format!("{tag} OK [APPENDUID {validity} {uid}] Append completed."))
            }
            Err(e) => {
                tracing::warn!("imap user={} append: {e}", self.user);
                line(out, &format!("{tag} NO [SERVERBUG] Append failed."));
            }
        }
        // The selected mailbox may be the destination: EXISTS now, not at the next command.
        if self.selected.as_ref().is_some_and(|s| s.target == t) {
            self.report_changes(out);
        }
    }

    fn append_file(
        &self,
        t: &Target,
        dir: &std::path::Path,
        flags: &[WireFlag<'_>],
        time: Option<i64>,
        message: &[u8],
    ) -> Result<(u32, u32), Box<dyn std::error::Error>> {
        let folder = match t {
            Target::Inbox => None,
            Target::Folder(f) => Some(f),
        };
        let d = self.maildir.deliver(folder, b"", &mut &message[..])?;
        let base = d.path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if let Some(secs) = time {
            let when = UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
            fs::File::options().write(true).open(&d.path)?.set_modified(when)?;
        }
        let mut f = Flags::empty();
        let mut kw = mailstore::Keywords::load(dir)?;
        for flag in flags {
            match (system_flag(flag), keyword_name(flag)) {
                (Some(s), _) => f.set(s, true),
                (None, Some(k)) => f.set_keyword(kw.intern(dir, k, 0o600)?, true),
                _ => {}
            }
        }
        if f != Flags::empty() {
            fs::rename(&d.path, dir.join("cur").join(format!("{base}:{}", f.to_info())))?;
        }
        let mb = Mailbox::open(dir)?;
        let uid = mb
            .messages()
            .iter()
            .find(|m| m.base_name() == base)
            .map(|m| m.uid())
            .ok_or("appended message vanished")?;
        Ok((mb.uidvalidity(), uid))
    }
}
