//! Sequence sets (RFC 3501 §9 `sequence-set`) resolved against the selected mailbox: which
//! messages, by index, a set of sequence numbers or UIDs names.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

/// The indexes (0-based, ascending, each once) of the messages `set` names. `uids` is the
/// mailbox's UIDs in ascending order; `by_uid` for the UID commands.
///
/// Sequence numbers past the end name nothing; a UID range names the UIDs inside it that
/// exist, and `*` is the last message (so `UID FETCH 100:*` always names the last message,
/// RFC 3501 §6.4.8).
pub fn resolve(set: &SequenceSet, uids: &[u32], by_uid: bool) -> Vec<usize> {
    let n = uids.len();
    if n == 0 {
        return Vec::new();
    }
    let mut picked = vec![false; n];
    let value = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk if by_uid => uids[n - 1],
        SeqOrUid::Asterisk => n as u32,
    };
    for seq in set.0.as_ref() {
        let (a, b) = match seq {
            Sequence::Single(s) => (value(s), value(s)),
            Sequence::Range(x, y) => (value(x), value(y)),
        };
        let (lo, hi) = (a.min(b), a.max(b));
        if by_uid {
            let start = uids.partition_point(|&u| u < lo);
            let end = uids.partition_point(|&u| u <= hi);
            picked[start..end].iter_mut().for_each(|p| *p = true);
        } else {
            let (lo, hi) = (lo as usize, (hi as usize).min(n));
            if lo >= 1 && lo <= hi {
                picked[lo - 1..hi].iter_mut().for_each(|p| *p = true);
            }
        }
    }
    picked.iter().enumerate().filter(|(_, p)| **p).map(|(i, _)| i).collect()
}

/// Writes UIDs as a compact set (`1:3,7`), for COPYUID and the like.
pub fn compact(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(set: &str, uids: &[u32], by_uid: bool) -> Vec<usize> {
        resolve(&set.parse().unwrap(), uids, by_uid)
    }

    #[test]
    fn sequence_numbers_and_uids() {
        let uids = [3, 5, 9, 10];
        assert_eq!(r("1:*", &uids, false), [0, 1, 2, 3]);
        assert_eq!(r("2,4,9", &uids, false), [1, 3]);
        assert_eq!(r("*:3", &uids, false), [2, 3]);
        assert_eq!(r("4:9", &uids, true), [1, 2]);
        assert_eq!(r("100:*", &uids, true), [3]);
        assert_eq!(r("1,3,6", &uids, true), [0]);
        assert!(r("1:*", &[], true).is_empty());
    }

    #[test]
    fn compact_sets() {
        assert_eq!(compact(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(compact(&[]), "");
    }
}
