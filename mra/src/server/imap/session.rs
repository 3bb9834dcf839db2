//! A logged-in IMAP session: the user's Maildir and the selected mailbox. Its methods run on
//! the blocking pool (mailstore does synchronous file I/O) and write their responses,
//! untagged and tagged, into the output buffer they are given.

use std::io;
use std::path::PathBuf;

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::mailbox::Mailbox as WireMailbox;
use mailstore::{Mailbox, Maildir, Quota, folders};

use crate::imap::condstore::SelectParams;
use crate::imap::esearch::Return;
use crate::imap::list::ListCommand;
use crate::imap::names::{SPECIAL_USE, Target};
use crate::imap::status::StatusItem;
use crate::server::login::User;

/// A logged-in session.
#[derive(Debug)]
pub struct Session {
    /// The user's canonical name.
    pub user: String,
    pub(super) maildir: Maildir,
    pub(super) selected: Option<Selected>,
    /// The user's limits (none: no `maildirsize`, no quota root).
    pub(super) quota: Quota,
    /// `ENABLE IMAP4rev2` was given: RFC 9051's responses.
    pub(super) rev2: bool,
    /// A CONDSTORE-enabling command was given (RFC 7162 §3.1): MODSEQ in every FETCH about a
    /// flag change.
    pub(super) condstore: bool,
    /// `ENABLE QRESYNC` was given: VANISHED instead of EXPUNGE, UIDs in every FETCH.
    pub(super) qresync: bool,
    /// While a command runs: where its output goes once it is large ([`super::output`]).
    pub(super) spill: super::output::Spill,
}

/// The selected mailbox. Sequence numbers are positions in `mb.messages()`, which changes only
/// where untagged EXPUNGE and EXISTS may be sent.
#[derive(Debug)]
pub(super) struct Selected {
    pub mb: Mailbox,
    pub target: Target,
    pub read_only: bool,
    /// Messages that were in new/ when this session first saw them (IMAP `\Recent`).
    pub recent: super::recent::Recent,
    /// SEARCHRES's saved result (`$`), as UIDs (boxed: no spare capacity in idle sessions).
    pub saved: Box<[u32]>,
    /// The HIGHESTMODSEQ the client was last told (QRESYNC sends it again when it grew).
    pub highest_sent: u64,
    /// How many keywords the last FLAGS response named.
    pub keywords_sent: usize,
}

/// Appends a response line.
pub(super) fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The bytes of a mailbox argument.
pub(super) fn wire_bytes<'m>(m: &'m WireMailbox<'_>) -> &'m [u8] {
    match m {
        WireMailbox::Inbox => b"INBOX",
        WireMailbox::Other(o) => o.as_ref(),
    }
}

impl Session {
    /// Opens the Maildir of a user who just logged in, creating it and the special-use folders
    /// that are missing (subscribed, as Dovecot's `auto = subscribe` does).
    pub fn open(user: User) -> io::Result<Session> {
        let maildir = Maildir::new(&user.maildir);
        maildir.create()?;
        let mut subs = folders::subscriptions(maildir.root())?;
        let mut changed = false;
        for (name, _) in SPECIAL_USE {
            let f = mailstore::FolderName::new(name).expect("valid name");
            if !maildir.folder_exists(&f)? {
                maildir.create_folder(&f)?;
                if !subs.iter().any(|s| s == name) {
                    subs.push(name.to_string());
                    changed = true;
                }
            }
        }
        if changed {
            folders::save_subscriptions(maildir.root(), &subs)?;
        }
        Ok(Session {
            user: user.name,
            maildir,
            selected: None,
            quota: user.quota,
            rev2: false,
            condstore: false,
            qresync: false,
            spill: None,
        })
    }

    /// The directory of a mailbox.
    pub(super) fn path(&self, t: &Target) -> PathBuf {
        match t {
            Target::Inbox => self.maildir.root().to_path_buf(),
            Target::Folder(f) => self.maildir.folder_path(Some(f)),
        }
    }

    /// Drops what an idle session does not need (the selected mailbox's cache) from memory.
    pub fn release_memory(&mut self) {
        if let Some(sel) = self.selected.as_mut() {
            sel.recent.shrink();
            if let Err(e) = sel.mb.release_cache() {
                tracing::debug!("imap user={} cache: {e}", self.user);
            }
        }
    }

    /// UID EXPUNGE (RFC 4315), which [`crate::imap::command`] parses by hand.
    pub fn uid_expunge(
        &mut self,
        tag: &str,
        set: &imap_codec::imap_types::sequence::SequenceSet,
        out: &mut Vec<u8>,
    ) {
        self.expunge(tag, Some(set), out)
    }

    /// Whether the selected mailbox's directories changed since it was last looked at.
    pub fn changed_on_disk(&self) -> bool {
        self.selected.as_ref().is_some_and(|s| s.mb.changed_on_disk())
    }

    /// Runs one command of the authenticated or selected state.
    pub fn execute(&mut self, tag: &str, body: CommandBody<'static>, out: &mut Vec<u8>) {
        match body {
            CommandBody::Select { mailbox } => {
                self.select(tag, wire_bytes(&mailbox), false, &SelectParams::default(), out)
            }
            CommandBody::Examine { mailbox } => {
                self.select(tag, wire_bytes(&mailbox), true, &SelectParams::default(), out)
            }
            CommandBody::Create { mailbox } => self.create(tag, wire_bytes(&mailbox), out),
            CommandBody::Delete { mailbox } => self.delete(tag, wire_bytes(&mailbox), out),
            CommandBody::Rename { from, to } => self.rename(tag, wire_bytes(&from), wire_bytes(&to), out),
            CommandBody::Subscribe { mailbox } => self.subscribe(tag, wire_bytes(&mailbox), true, out),
            CommandBody::Unsubscribe { mailbox } => self.subscribe(tag, wire_bytes(&mailbox), false, out),
            CommandBody::List { reference, mailbox_wildcard } => {
                let cmd = ListCommand::basic(wire_bytes(&reference), list_bytes(&mailbox_wildcard));
                self.list(tag, &cmd, out)
            }
            CommandBody::Lsub { reference, mailbox_wildcard } => {
                let cmd = ListCommand::basic(wire_bytes(&reference), list_bytes(&mailbox_wildcard));
                self.lsub(tag, &cmd, out)
            }
            CommandBody::Status { item_names, .. } if item_names.is_empty() => {
                line(out, &format!("{tag} BAD No STATUS items."))
            }
            CommandBody::Status { mailbox, item_names } => {
                let items: Vec<StatusItem> = item_names.iter().map(StatusItem::from_codec).collect();
                self.status(tag, wire_bytes(&mailbox), &items, out)
            }
            CommandBody::Append { mailbox, flags, date, message } => {
                let time = date.map(|d| d.as_ref().timestamp());
                self.append(tag, wire_bytes(&mailbox), &flags, time, message.as_ref(), out)
            }
            CommandBody::Enable { capabilities } => self.enable(tag, capabilities.as_ref(), out),
            CommandBody::GetQuota { root } => self.getquota(tag, root.as_ref(), out),
            CommandBody::GetQuotaRoot { mailbox } => self.getquotaroot(tag, wire_bytes(&mailbox), out),
            CommandBody::SetQuota { .. } => {
                line(out, &format!("{tag} NO [NOPERM] Quota can be changed only by the administrator."));
            }
            // The connection's own command (mod.rs): it never reaches a session.
            CommandBody::Compress { .. } => line(out, &format!("{tag} BAD Not here.")),
            // NOOP is valid in every state (RFC 3501 §6.1.2); with a mailbox selected it is
            // how a client asks for news.
            CommandBody::Noop => {
                self.report_changes(out);
                line(out, &format!("{tag} OK NOOP completed."));
            }
            _ if self.selected.is_none() => line(out, &format!("{tag} BAD No mailbox selected.")),
            CommandBody::Check => {
                self.report_changes(out);
                line(out, &format!("{tag} OK Check completed."));
            }
            CommandBody::Close => self.close(tag, true, out),
            CommandBody::Unselect => self.close(tag, false, out),
            CommandBody::Expunge => self.expunge(tag, None, out),
            CommandBody::Fetch { sequence_set, macro_or_item_names, uid } => {
                self.fetch(tag, &sequence_set, macro_or_item_names, uid, out)
            }
            CommandBody::Store { sequence_set, kind, response, flags, uid } => {
                let store = super::selected::Store {
                    set: &sequence_set,
                    kind: &kind,
                    response: &response,
                    flags: &flags,
                };
                self.store(tag, &store, uid, None, out)
            }
            CommandBody::Copy { sequence_set, mailbox, uid } => {
                self.copy(tag, &sequence_set, wire_bytes(&mailbox), uid, false, out)
            }
            CommandBody::Move { sequence_set, mailbox, uid } => {
                self.copy(tag, &sequence_set, wire_bytes(&mailbox), uid, true, out)
            }
            CommandBody::Search { charset, criteria, uid } => {
                // IMAP4rev2 answers every SEARCH with ESEARCH (RFC 9051 §6.4.4).
                let ret = self.rev2.then_some(Return::ALL);
                self.search(tag, charset.as_ref(), &criteria, uid, ret, false, out)
            }
            other => line(out, &format!("{tag} BAD {} is not valid here.", other.name())),
        }
    }
}

impl Session {
    /// ENABLE (RFC 5161): IMAP4rev2, CONDSTORE, QRESYNC (which implies CONDSTORE, RFC 7162
    /// §3.2.3); other names are ignored, as the RFC asks.
    fn enable(&mut self, tag: &str, caps: &[CapabilityEnable<'_>], out: &mut Vec<u8>) {
        let mut enabled = Vec::new();
        let had_condstore = self.condstore;
        for c in caps {
            let name = c.to_string().to_ascii_uppercase();
            match name.as_str() {
                "IMAP4REV2" if !self.rev2 => {
                    self.rev2 = true;
                    enabled.push("IMAP4rev2");
                }
                "CONDSTORE" if !self.condstore => {
                    self.condstore = true;
                    enabled.push("CONDSTORE");
                }
                "QRESYNC" if !self.qresync => {
                    (self.qresync, self.condstore) = (true, true);
                    enabled.push("QRESYNC");
                }
                _ => {}
            }
        }
        let list: String = enabled.iter().map(|e| format!(" {e}")).collect();
        line(out, &format!("* ENABLED{list}"));
        if !had_condstore && self.condstore {
            self.condstore = false;
            self.enable_condstore(out);
        }
        line(out, &format!("{tag} OK Enabled."));
    }

    /// Marks CONDSTORE enabled (RFC 7162 §3.1); the first time, with a mailbox selected, the
    /// client is told its HIGHESTMODSEQ.
    pub(super) fn enable_condstore(&mut self, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.condstore, true) {
            return;
        }
        if let Some(sel) = self.selected.as_mut().filter(|s| s.mb.highest_modseq() != 0) {
            sel.highest_sent = sel.mb.highest_modseq();
            line(out, &format!("* OK [HIGHESTMODSEQ {}] Highest", sel.highest_sent));
        }
    }

    /// The target of a mailbox name as sent: modified UTF-7, or UTF-8 under IMAP4rev2.
    pub(super) fn target(&self, wire: &[u8]) -> Option<Target> {
        if self.rev2 { Target::parse_utf8(wire) } else { Target::parse(wire) }
    }

    /// A name as this session writes it: UTF-8 under IMAP4rev2, else modified UTF-7.
    pub(super) fn wire_name(&self, t: &Target) -> String {
        if self.rev2 { t.name().to_string() } else { t.wire() }
    }
}

fn list_bytes<'m>(m: &'m imap_codec::imap_types::mailbox::ListMailbox<'_>) -> &'m [u8] {
    use imap_codec::imap_types::mailbox::ListMailbox;
    match m {
        ListMailbox::Token(t) => t.as_ref(),
        ListMailbox::String(s) => s.as_ref(),
    }
}
