//! QRESYNC's answers (RFC 7162 §3.2): what changed since the client's mod-sequence, at SELECT
//! (`VANISHED (EARLIER)` and a FETCH for each changed message) and for UID FETCH's VANISHED
//! modifier. The expunges come from `mailroom.modseq` ([`mailstore::Mailbox::vanished_since`]);
//! when they are older than it remembers, every UID the client may know that is gone is named
//! (§3.2.5.2), narrowed by the client's sequence-match data.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use super::session::{Selected, Session, line};
use crate::imap::condstore::{NumberSet, Qresync, conservative_vanished, vanished};
use crate::imap::response::flag_list;

/// ` MODSEQ (n)`, as it follows the other FETCH items.
pub(super) fn modseq_item(modseq: u64) -> String {
    format!(" MODSEQ ({modseq})")
}

impl Session {
    /// After SELECT (QRESYNC) with the right UIDVALIDITY: the UIDs the client knows that were
    /// expunged since its mod-sequence, then `UID FLAGS MODSEQ` of every known message changed
    /// since.
    pub(super) fn qresync_changes(&mut self, q: &Qresync, out: &mut Vec<u8>) {
        let rev2 = self.rev2;
        let Some(sel) = self.selected.as_ref() else { return };
        let known = |uid: u32| q.known_uids.as_ref().is_none_or(|k| k.contains(uid));
        vanished_earlier(sel, &self.user, q.modseq, q.known_uids.as_ref(), &q.seq_match, &known, out);
        for (i, m) in sel.mb.messages().iter().enumerate() {
            if m.modseq() > q.modseq && known(m.uid()) {
                let flags = flag_list(m.flags(), sel.mb.keywords(), !rev2 && sel.recent.contains(&m.uid()));
                line(
                    out,
                    &format!("* {} FETCH (UID {} FLAGS {flags}{})", i + 1, m.uid(), modseq_item(m.modseq())),
                );
                let _ = super::output::spill(&self.spill, out);
            }
        }
    }

    /// UID FETCH's `VANISHED` (RFC 7162 §3.2.6): the UIDs of `set` expunged after `since`.
    pub(super) fn fetch_vanished(&self, set: &SequenceSet, since: u64, out: &mut Vec<u8>) {
        let Some(sel) = self.selected.as_ref() else { return };
        let largest = sel.mb.messages().last().map_or(sel.mb.uid_next().saturating_sub(1), |m| m.uid());
        let wanted = numbers(set, largest);
        vanished_earlier(sel, &self.user, since, Some(&wanted), &[], &|uid| wanted.contains(uid), out);
    }
}

/// `* VANISHED (EARLIER) ...` for the UIDs `known` (as a set, and as a test) expunged after
/// `since`: exactly when the modseq file remembers, conservatively when not.
fn vanished_earlier(
    sel: &Selected,
    user: &str,
    since: u64,
    known_set: Option<&NumberSet>,
    seq_match: &[(u32, u32)],
    known: &dyn Fn(u32) -> bool,
    out: &mut Vec<u8>,
) {
    let remembered = sel.mb.vanished_since(since).unwrap_or_else(|e| {
        tracing::warn!("imap user={user} modseq file: {e}");
        None
    });
    match remembered {
        Some(gone) => {
            let gone: Vec<u32> = gone.into_iter().filter(|&u| known(u)).collect();
            if let Some(v) = vanished(true, &gone) {
                line(out, &v);
            }
        }
        None => {
            let present: Vec<u32> = sel.mb.messages().iter().map(|m| m.uid()).collect();
            let text = conservative_vanished(known_set, seq_match, &present, sel.mb.uid_next());
            if !text.is_empty() {
                line(out, &format!("* VANISHED (EARLIER) {text}"));
            }
        }
    }
}

/// A UID set as ranges, `*` being `largest`.
fn numbers(set: &SequenceSet, largest: u32) -> NumberSet {
    let value = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => largest.max(1),
    };
    let mut ranges: Vec<(u32, u32)> = set
        .0
        .as_ref()
        .iter()
        .map(|seq| match seq {
            Sequence::Single(s) => (value(s), value(s)),
            Sequence::Range(a, b) => (value(a).min(value(b)), value(a).max(value(b))),
        })
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::new();
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    NumberSet(merged)
}
