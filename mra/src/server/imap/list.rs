//! LIST (basic and LIST-EXTENDED, with LIST-STATUS), LSUB and STATUS: the folder names and
//! subscriptions are read here, what to answer is [`crate::imap::list`]'s.

use std::collections::BTreeSet;

use mailstore::{Flag, Mailbox, MailboxError, folders};

use super::session::{Session, line};
use crate::imap::list::{self, Entry, ListCommand, View};
use crate::imap::names::{SEPARATOR, Target};
use crate::imap::quota::kib;
use crate::imap::response::string;
use crate::imap::status::StatusItem;

impl Session {
    /// LIST, in either form.
    pub(super) fn list(&mut self, tag: &str, cmd: &ListCommand, out: &mut Vec<u8>) {
        if cmd.asks_delimiter() {
            line(out, &format!("* LIST (\\Noselect) \"{SEPARATOR}\" \"\""));
            return line(out, &format!("{tag} OK List completed."));
        }
        if self.rev2 && cmd.returns.status.as_ref().is_some_and(|i| i.contains(&StatusItem::Recent)) {
            return line(out, &format!("{tag} BAD RECENT is not an IMAP4rev2 STATUS item."));
        }
        let Some(view) = self.view(tag, out) else { return };
        let patterns = cmd.full_patterns(self.rev2);
        for e in view.list(cmd, &patterns, self.rev2) {
            list::response("LIST", &e, self.rev2, out);
            out.extend_from_slice(b"\r\n");
            if let (Some(items), Some(t)) = (&cmd.returns.status, target_of(&e).filter(|_| e.selectable)) {
                // A mailbox that cannot be opened just gets no STATUS (RFC 5819 §2).
                let _ = self.status_line(&t, items, out);
            }
        }
        line(out, &format!("{tag} OK List completed."));
    }

    /// The `* LIST` line IMAP4rev2's SELECT sends about the mailbox (RFC 9051 §6.3.2).
    pub(super) fn select_list_line(&self, t: &Target, out: &mut Vec<u8>) {
        let children = match t {
            Target::Inbox => false,
            Target::Folder(f) => {
                let prefix = format!("{}{SEPARATOR}", f.as_str());
                folders::list(self.maildir.root())
                    .is_ok_and(|l| l.iter().any(|c| c.as_str().starts_with(&prefix)))
            }
        };
        let mut attrs = vec![if children { "\\HasChildren" } else { "\\HasNoChildren" }];
        attrs.extend(crate::imap::names::special_use(t.name()));
        let e = Entry { name: t.name().to_string(), attrs, child_subscribed: false, selectable: true };
        list::response("LIST", &e, self.rev2, out);
        out.extend_from_slice(b"\r\n");
    }

    /// LSUB.
    pub(super) fn lsub(&mut self, tag: &str, cmd: &ListCommand, out: &mut Vec<u8>) {
        let Some(view) = self.view(tag, out) else { return };
        for e in view.lsub(&cmd.full_patterns(self.rev2)) {
            list::response("LSUB", &e, self.rev2, out);
            out.extend_from_slice(b"\r\n");
        }
        line(out, &format!("{tag} OK Lsub completed."));
    }

    /// The user's folders and subscriptions; `None` after answering NO.
    fn view(&self, tag: &str, out: &mut Vec<u8>) -> Option<View> {
        let mut existing = match folders::list(self.maildir.root()) {
            Ok(f) => f.into_iter().map(|f| f.as_str().to_string()).collect::<BTreeSet<_>>(),
            Err(e) => {
                tracing::warn!("imap user={} list: {e}", self.user);
                line(out, &format!("{tag} NO [SERVERBUG] Cannot list mailboxes."));
                return None;
            }
        };
        existing.insert("INBOX".to_string());
        let subscribed = folders::subscriptions(self.maildir.root())
            .unwrap_or_default()
            .into_iter()
            .map(|s| if s.eq_ignore_ascii_case("INBOX") { "INBOX".to_string() } else { s })
            .collect();
        Some(View { existing, subscribed })
    }

    /// STATUS.
    pub(super) fn status(&mut self, tag: &str, name: &[u8], items: &[StatusItem], out: &mut Vec<u8>) {
        if self.rev2 && items.contains(&StatusItem::Recent) {
            return line(out, &format!("{tag} BAD RECENT is not an IMAP4rev2 STATUS item."));
        }
        let Some(t) = self.target(name) else {
            return line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."));
        };
        if items.contains(&StatusItem::HighestModSeq) {
            // A CONDSTORE-enabling command (RFC 7162 §3.1).
            self.enable_condstore(out);
        }
        match self.status_line(&t, items, out) {
            Ok(()) => line(out, &format!("{tag} OK Status completed.")),
            Err(MailboxError::NotFound(_)) => {
                line(out, &format!("{tag} NO [NONEXISTENT] Mailbox doesn't exist."))
            }
            Err(e) => {
                tracing::warn!("imap user={} status: {e}", self.user);
                line(out, &format!("{tag} NO [SERVERBUG] Cannot open the mailbox."));
            }
        }
    }

    /// `* STATUS name (...)` for the mailbox `t`.
    fn status_line(&self, t: &Target, items: &[StatusItem], out: &mut Vec<u8>) -> Result<(), MailboxError> {
        let mut mb = Mailbox::open(&self.path(t))?;
        let mut parts = Vec::new();
        for &item in items {
            parts.push(format!("{} {}", item.name(), status_value(&mut mb, item)?));
        }
        out.extend_from_slice(b"* STATUS ");
        string(out, self.wire_name(t).as_bytes());
        line(out, &format!(" ({})", parts.join(" ")));
        Ok(())
    }
}

/// The value of one STATUS item.
fn status_value(mb: &mut Mailbox, item: StatusItem) -> Result<u64, MailboxError> {
    let count = |mb: &Mailbox, f: &dyn Fn(&mailstore::Message) -> bool| {
        mb.messages().iter().filter(|m| f(m)).count() as u64
    };
    Ok(match item {
        StatusItem::Messages => mb.messages().len() as u64,
        StatusItem::Recent => count(mb, &|m| m.in_new()),
        StatusItem::UidNext => u64::from(mb.uid_next()),
        StatusItem::UidValidity => u64::from(mb.uidvalidity()),
        StatusItem::Unseen => count(mb, &|m| !m.flags().has(Flag::Seen)),
        StatusItem::Deleted => count(mb, &|m| m.flags().has(Flag::Deleted)),
        StatusItem::Size => sizes(mb, |_| true, true)?,
        StatusItem::DeletedStorage => kib(sizes(mb, |m| m.flags().has(Flag::Deleted), false)?),
        StatusItem::HighestModSeq => mb.highest_modseq(),
    })
}

/// The sum of the sizes of the messages `pick` picks: RFC822.SIZE (`virtual`) or on disk.
/// Names carry both (`,S=`, `,W=`) for mail mailroom or Dovecot wrote; others are read once
/// and remembered in `mailroom.cache`.
fn sizes(
    mb: &mut Mailbox,
    pick: impl Fn(&mailstore::Message) -> bool,
    virtual_: bool,
) -> Result<u64, MailboxError> {
    let mut total = 0;
    let picked: Vec<(u32, Option<u64>)> = mb
        .messages()
        .iter()
        .filter(|m| pick(m))
        .map(|m| (m.uid(), if virtual_ { m.vsize() } else { m.size() }))
        .collect();
    let mut read = false;
    for (uid, known) in picked {
        total += match known {
            Some(s) => s,
            None => {
                read = true;
                match mb.cached_entry(uid) {
                    Ok(e) => if virtual_ { e.vsize } else { e.size }.unwrap_or(0),
                    Err(MailboxError::Expunged(_)) => 0,
                    Err(e) => return Err(e),
                }
            }
        };
    }
    if read && let Err(e) = mb.save_cache() {
        tracing::debug!("imap status cache: {e}");
    }
    Ok(total)
}

/// The target a listed name (UTF-8) stands for.
fn target_of(e: &Entry) -> Option<Target> {
    if e.name.eq_ignore_ascii_case("INBOX") {
        return Some(Target::Inbox);
    }
    mailstore::FolderName::new(&e.name).ok().map(Target::Folder)
}
