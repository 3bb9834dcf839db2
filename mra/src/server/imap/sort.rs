//! SORT and THREAD (RFC 5256), UID SORT and UID THREAD, ESORT's RETURN options (RFC 5267):
//! the SEARCH keys pick the messages, their [`Facts`] come from the envelope header fields in
//! mailstore's cache (References too) and the file's mtime when INTERNALDATE is needed, so no
//! message body is read; `imap::sort` and `imap::thread` order them.

use std::time::UNIX_EPOCH;

use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::search::SearchKey;
use mailstore::MailboxError;

use super::search::charset_ok;
use super::session::{Selected, Session, line};
use crate::imap::extended::Order;
use crate::imap::sort::{self, Facts, SortKey, esort_response};
use crate::imap::thread;

impl Session {
    /// SORT, THREAD and their UID forms; `modseq_key`: the search keys hold MODSEQ.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sort_thread(
        &mut self,
        tag: &str,
        order: &Order,
        charset: Option<&Charset<'_>>,
        key: &SearchKey<'_>,
        by_uid: bool,
        modseq_key: bool,
        out: &mut Vec<u8>,
    ) {
        let ret = match order {
            Order::Sort(_, ret) => *ret,
            Order::Thread(_) => None,
        };
        if !charset_ok(charset) {
            if let (Some(sel), Some(true)) = (self.selected.as_mut(), ret.map(|r| r.save)) {
                sel.saved = Box::default();
            }
            return line(out, &format!("{tag} NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset."));
        }
        if modseq_key {
            if self.selected.as_ref().is_some_and(|s| s.mb.highest_modseq() == 0) {
                return line(out, &format!("{tag} BAD The mailbox has no mod-sequences (NOMODSEQ)."));
            }
            self.enable_condstore(out);
        }
        let indexes = self.matching(key, modseq_key);
        // With the MODSEQ key, SORT also tells the highest mod-sequence found (RFC 7162 §3.1.5).
        let modseq = self
            .selected
            .as_ref()
            .filter(|_| modseq_key)
            .and_then(|sel| indexes.iter().map(|&i| sel.mb.messages()[i].modseq()).max());
        let user = self.user.clone();
        let Some(sel) = self.selected.as_mut() else { return };
        let needs_arrival = matches!(order, Order::Sort(c, _) if c.iter().any(|c| c.key == SortKey::Arrival));
        let mut facts = Vec::with_capacity(indexes.len());
        for index in indexes {
            match message_facts(sel, index, by_uid, needs_arrival) {
                Ok(f) => facts.push(f),
                Err(MailboxError::Expunged(_)) => {}
                Err(e) => tracing::warn!("imap user={user} sort index {index}: {e}"),
            }
        }
        if let Err(e) = sel.mb.save_cache() {
            tracing::debug!("imap user={user} cache: {e}");
        }
        match order {
            Order::Sort(criteria, ret) => {
                let numbers: Vec<u32> =
                    sort::sort(&facts, criteria).into_iter().map(|i| facts[i].seq).collect();
                match ret {
                    None => {
                        let list: String = numbers.iter().map(|n| format!(" {n}")).collect();
                        let modseq = modseq.map(|m| format!(" (MODSEQ {m})")).unwrap_or_default();
                        line(out, &format!("* SORT{list}{modseq}"));
                    }
                    Some(r) => {
                        if r.save {
                            let msgs = sel.mb.messages();
                            let mut uids: Vec<u32> = if by_uid {
                                numbers.clone()
                            } else {
                                numbers
                                    .iter()
                                    .filter_map(|&n| msgs.get(n as usize - 1))
                                    .map(|m| m.uid())
                                    .collect()
                            };
                            let keep = r.saved(&uids);
                            uids = keep;
                            uids.sort_unstable();
                            sel.saved = uids.into_boxed_slice();
                        }
                        if r.min || r.max || r.all || r.count {
                            let modseq = modseq.map(|m| format!(" MODSEQ {m}")).unwrap_or_default();
                            line(out, &format!("{}{modseq}", esort_response(r, tag, by_uid, &numbers)));
                        }
                    }
                }
                line(out, &format!("{tag} OK Sort completed."));
            }
            Order::Thread(algorithm) => {
                line(out, &thread::thread(&facts, *algorithm));
                line(out, &format!("{tag} OK Thread completed."));
            }
        }
    }
}

/// The sort facts of the message at `index`, numbered by UID or sequence number: its envelope
/// header fields from the cache; its INTERNALDATE (a `stat`) only when ARRIVAL asks or the
/// header has no valid Date.
fn message_facts(
    sel: &mut Selected,
    index: usize,
    by_uid: bool,
    needs_arrival: bool,
) -> Result<Facts, MailboxError> {
    let m = &sel.mb.messages()[index];
    let (uid, vsize) = (m.uid(), m.vsize());
    let number = if by_uid { uid } else { index as u32 + 1 };
    let header = sel.mb.envelope_headers(uid)?;
    let size = match vsize {
        Some(s) => s,
        None => sel.mb.cached_entry(uid)?.vsize.unwrap_or(0),
    };
    let mut f = Facts::from_header(number, &header, 0, size);
    if needs_arrival || !f.dated {
        let (file, path) = sel.mb.open_message(uid)?;
        let t =
            file.metadata().and_then(|m| m.modified()).map_err(|source| MailboxError::Io { path, source })?;
        f.arrival = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        if !f.dated {
            f.sent = f.arrival;
        }
    }
    Ok(f)
}
