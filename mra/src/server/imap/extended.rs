//! Running what [`crate::imap::extended`] parsed: LIST-EXTENDED, STATUS with SIZE, SEARCH with
//! RETURN, FETCH with BINARY items, CONDSTORE/QRESYNC's SELECT parameters, FETCH and STORE
//! modifiers, MODSEQ items and keys, and SEARCHRES's `$`, swapped here for the saved result
//! (RFC 5182): as UIDs for the UID commands and search keys, as the sequence numbers those
//! messages have now for the others.

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::NonEmptyVec;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::SequenceSet;

use super::selected::Store;
use super::session::{Session, line};
use crate::imap::esearch::Return;
use crate::imap::extended::{Ext, Extended, SAVED, is_saved};
use crate::imap::sequence::compact;

impl Session {
    /// Runs a hand-parsed command.
    pub fn execute_ext(&mut self, tag: &str, e: Extended, out: &mut Vec<u8>) {
        let Extended { ext, uses_saved } = e;
        match ext {
            Ext::List(cmd) => self.list(tag, &cmd, out),
            Ext::Status { mailbox, items } => self.status(tag, &mailbox, &items, out),
            Ext::GetMetadata(get) => self.getmetadata(tag, &get, out),
            Ext::SetMetadata(set) => self.setmetadata(tag, &set, out),
            Ext::Select { mailbox, read_only, params } => self.select(tag, &mailbox, read_only, &params, out),
            Ext::AppendBinary(body, message) => {
                let CommandBody::Append { mailbox, flags, date, .. } = *body else {
                    return line(out, &format!("{tag} BAD Invalid arguments"));
                };
                let time = date.map(|d| d.as_ref().timestamp());
                let message = crate::imap::mime::binary_as_base64(&message).unwrap_or(message);
                self.append(tag, super::session::wire_bytes(&mailbox), &flags, time, &message, out)
            }
            _ if self.selected.is_none() => line(out, &format!("{tag} BAD No mailbox selected.")),
            Ext::Search(body, ret, modseq) => {
                let CommandBody::Search { charset, criteria, uid } = *body else {
                    return line(out, &format!("{tag} BAD Invalid arguments"));
                };
                let criteria = if uses_saved { self.swap_key(criteria) } else { criteria };
                let ret = ret.or(self.rev2.then_some(Return::ALL));
                self.search(tag, charset.as_ref(), &criteria, uid, ret, modseq, out)
            }
            Ext::SortThread(order, body, modseq) => {
                let CommandBody::Search { charset, criteria, uid } = *body else {
                    return line(out, &format!("{tag} BAD Invalid arguments"));
                };
                let criteria = if uses_saved { self.swap_key(criteria) } else { criteria };
                self.sort_thread(tag, &order, charset.as_ref(), &criteria, uid, modseq, out)
            }
            Ext::Fetch(body, binary, mods) => {
                let CommandBody::Fetch { sequence_set, macro_or_item_names, uid } = *body else {
                    return line(out, &format!("{tag} BAD Invalid arguments"));
                };
                let set = if uses_saved { self.saved_set(uid) } else { sequence_set };
                self.fetch_with(tag, &set, macro_or_item_names, uid, &binary, &mods, out)
            }
            Ext::Store(body, unchanged_since) => {
                let CommandBody::Store { sequence_set, kind, response, flags, uid } = self.swap_set(*body)
                else {
                    return line(out, &format!("{tag} BAD Invalid arguments"));
                };
                let store = Store { set: &sequence_set, kind: &kind, response: &response, flags: &flags };
                self.store(tag, &store, uid, Some(unchanged_since), out)
            }
            Ext::Codec(body) => {
                let body = self.swap_set(*body);
                self.execute(tag, body, out)
            }
            Ext::UidExpunge(_) => {
                let set = self.saved_set(true);
                self.expunge(tag, Some(&set), out)
            }
        }
    }

    /// The saved result as a sequence set: UIDs, or the messages' sequence numbers now. An
    /// empty result is a number no message has.
    fn saved_set(&self, by_uid: bool) -> SequenceSet {
        let Some(sel) = self.selected.as_ref() else { return nothing() };
        let numbers: Vec<u32> = if by_uid {
            sel.saved.to_vec()
        } else {
            let msgs = sel.mb.messages();
            sel.saved
                .iter()
                .filter_map(|&u| msgs.binary_search_by_key(&u, |m| m.uid()).ok())
                .map(|i| i as u32 + 1)
                .collect()
        };
        compact(&numbers).parse().unwrap_or_else(|_| nothing())
    }

    /// STORE, COPY or MOVE with its `$` set swapped.
    fn swap_set(&self, body: CommandBody<'static>) -> CommandBody<'static> {
        let fix = |set: SequenceSet, uid: bool| if is_saved(&set) { self.saved_set(uid) } else { set };
        match body {
            CommandBody::Store { sequence_set, kind, response, flags, uid } => {
                CommandBody::Store { sequence_set: fix(sequence_set, uid), kind, response, flags, uid }
            }
            CommandBody::Copy { sequence_set, mailbox, uid } => {
                CommandBody::Copy { sequence_set: fix(sequence_set, uid), mailbox, uid }
            }
            CommandBody::Move { sequence_set, mailbox, uid } => {
                CommandBody::Move { sequence_set: fix(sequence_set, uid), mailbox, uid }
            }
            other => other,
        }
    }

    /// A search key with `$` (as a sequence set or a UID set) swapped for the saved UIDs.
    fn swap_key(&self, key: SearchKey<'static>) -> SearchKey<'static> {
        use SearchKey::*;
        match key {
            SequenceSet(s) | Uid(s) if is_saved(&s) => {
                match self.selected.as_ref().filter(|s| !s.saved.is_empty()) {
                    Some(_) => Uid(self.saved_set(true)),
                    None => Not(Box::new(All)),
                }
            }
            And(keys) => {
                let keys: Vec<SearchKey<'static>> = keys.into_iter().map(|k| self.swap_key(k)).collect();
                And(NonEmptyVec::try_from(keys).expect("as many keys as before"))
            }
            Or(a, b) => Or(Box::new(self.swap_key(*a)), Box::new(self.swap_key(*b))),
            Not(k) => Not(Box::new(self.swap_key(*k))),
            other => other,
        }
    }
}

/// A set that names no message.
fn nothing() -> SequenceSet {
    SequenceSet::try_from(SAVED).expect("a valid number")
}
