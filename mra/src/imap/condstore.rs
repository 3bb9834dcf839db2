//! CONDSTORE and QRESYNC (RFC 7162) syntax, which imap-codec 1.0 lacks (its
//! `ext_condstore_qresync` feature knows only `STATUS (HIGHESTMODSEQ)` and `ENABLE CONDSTORE`):
//! SELECT's and EXAMINE's `(CONDSTORE)` and `(QRESYNC (...))` parameters, FETCH's
//! `(CHANGEDSINCE n [VANISHED])` modifiers, STORE's `(UNCHANGEDSINCE n)`, the MODSEQ search key,
//! mod-sequence values, UID sets without `*`, and the `VANISHED` response.

use super::args::Arg;
use super::sequence::compact;

/// The largest mod-sequence value (RFC 7162 §7: a positive 63-bit number).
pub const MAX_MODSEQ: u64 = i64::MAX as u64;

/// The header name the MODSEQ search key is rewritten to, for imap-codec to parse; the session
/// reads it back as MODSEQ only in a command [`crate::imap::extended`] rewrote.
pub const MODSEQ_KEY: &str = "X-Mailroom-Modseq";

/// A mod-sequence value; `zero` allows 0 (`mod-sequence-valzer`).
pub fn modseq_value(arg: &Arg, zero: bool) -> Result<u64, &'static str> {
    let Arg::Atom(a) = arg else { return Err("Invalid mod-sequence") };
    let ok = !a.is_empty() && a.len() <= 19 && a.bytes().all(|b| b.is_ascii_digit());
    match a.parse::<u64>() {
        Ok(n) if ok && n <= MAX_MODSEQ && (zero || n > 0) => Ok(n),
        _ => Err("Invalid mod-sequence"),
    }
}

/// A set of numbers without `*` (QRESYNC's known UIDs and sequence numbers), as ascending,
/// merged, inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberSet(pub Vec<(u32, u32)>);

impl NumberSet {
    /// Parses `1,3:5,9`; ranges may be written high to low.
    pub fn parse(arg: &Arg) -> Result<NumberSet, &'static str> {
        let Arg::Atom(a) = arg else { return Err("Invalid number set") };
        let num = |s: &str| s.parse::<u32>().ok().filter(|&n| n > 0 && s.bytes().all(|b| b.is_ascii_digit()));
        let mut ranges = Vec::new();
        for part in a.split(',') {
            let (lo, hi) = match part.split_once(':') {
                Some((x, y)) => (num(x), num(y)),
                None => (num(part), num(part)),
            };
            let (Some(x), Some(y)) = (lo, hi) else { return Err("Invalid number set (no * allowed)") };
            ranges.push((x.min(y), x.max(y)));
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Ok(NumberSet(merged))
    }

    /// Whether `n` is in the set.
    pub fn contains(&self, n: u32) -> bool {
        let i = self.0.partition_point(|&(_, hi)| hi < n);
        self.0.get(i).is_some_and(|&(lo, _)| lo <= n)
    }

    /// The members in order (the sets of seq-match-data are short lists).
    fn members(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().flat_map(|&(lo, hi)| lo..=hi)
    }

    /// How many members.
    fn len(&self) -> u64 {
        self.0.iter().map(|&(lo, hi)| u64::from(hi - lo) + 1).sum()
    }
}

/// SELECT's QRESYNC parameter: what the client knew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    /// The UIDVALIDITY it knew.
    pub uidvalidity: u32,
    /// The last HIGHESTMODSEQ it knew.
    pub modseq: u64,
    /// The UIDs it knows (all, when absent).
    pub known_uids: Option<NumberSet>,
    /// Sequence numbers and the UIDs they had (seq-match-data), paired in order.
    pub seq_match: Vec<(u32, u32)>,
}

/// SELECT's and EXAMINE's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    /// `CONDSTORE`: enable CONDSTORE.
    pub condstore: bool,
    /// `QRESYNC (...)`.
    pub qresync: Option<Qresync>,
}

/// `SELECT mailbox (params)`: the mailbox name as sent and the parameters.
pub fn parse_select(args: &[Arg]) -> Result<(Vec<u8>, SelectParams), &'static str> {
    let (mailbox, params) = match args {
        [m] => (m, None),
        [m, Arg::List(p)] => (m, Some(p)),
        _ => return Err("SELECT takes a mailbox and a list of parameters"),
    };
    let name = mailbox.astring().ok_or("Invalid mailbox name")?.to_vec();
    let mut out = SelectParams::default();
    let mut items = params.map(|p| p.as_slice()).unwrap_or_default().iter();
    while let Some(p) = items.next() {
        match p.keyword().as_deref() {
            Some("CONDSTORE") if !out.condstore => out.condstore = true,
            Some("QRESYNC") if out.qresync.is_none() => {
                let Some(Arg::List(q)) = items.next() else { return Err("QRESYNC needs its parameters") };
                out.qresync = Some(parse_qresync(q)?);
            }
            _ => return Err("Unknown SELECT parameter"),
        }
    }
    Ok((name, out))
}

/// `uidvalidity modseq [known-uids] [(known-sequence-set known-uid-set)]`.
fn parse_qresync(q: &[Arg]) -> Result<Qresync, &'static str> {
    let (validity, modseq, rest) = match q {
        [v, m, rest @ ..] => (v, m, rest),
        _ => return Err("QRESYNC needs a UIDVALIDITY and a mod-sequence"),
    };
    let uidvalidity = match validity {
        Arg::Atom(a) if a.bytes().all(|b| b.is_ascii_digit()) => a.parse::<u32>().ok().filter(|&v| v > 0),
        _ => None,
    }
    .ok_or("Invalid QRESYNC UIDVALIDITY")?;
    let modseq = modseq_value(modseq, true)?;
    let (known_uids, matches) = match rest {
        [] => (None, None),
        [Arg::List(m)] => (None, Some(m)),
        [k] => (Some(NumberSet::parse(k)?), None),
        [k, Arg::List(m)] => (Some(NumberSet::parse(k)?), Some(m)),
        _ => return Err("Invalid QRESYNC parameters"),
    };
    let seq_match = match matches.map(|m| m.as_slice()) {
        None => Vec::new(),
        Some([seqs, uids]) => {
            let (seqs, uids) = (NumberSet::parse(seqs)?, NumberSet::parse(uids)?);
            if seqs.len() != uids.len() || seqs.len() > 1 << 16 {
                return Err("QRESYNC sequence-match sets differ in size");
            }
            seqs.members().zip(uids.members()).collect()
        }
        Some(_) => return Err("Invalid QRESYNC sequence-match data"),
    };
    Ok(Qresync { uidvalidity, modseq, known_uids, seq_match })
}

/// FETCH's modifiers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchModifiers {
    /// `CHANGEDSINCE n`: only messages whose mod-sequence is above n, with MODSEQ.
    pub changed_since: Option<u64>,
    /// `VANISHED` (UID FETCH under QRESYNC): also the UIDs expunged since.
    pub vanished: bool,
}

/// The list after the FETCH items.
pub fn parse_fetch_modifiers(arg: &Arg) -> Result<FetchModifiers, &'static str> {
    let Arg::List(items) = arg else { return Err("FETCH modifiers must be a list") };
    let mut out = FetchModifiers::default();
    let mut it = items.iter();
    while let Some(m) = it.next() {
        match m.keyword().as_deref() {
            Some("CHANGEDSINCE") if out.changed_since.is_none() => {
                out.changed_since = Some(modseq_value(it.next().ok_or("CHANGEDSINCE needs a value")?, true)?);
            }
            Some("VANISHED") if !out.vanished => out.vanished = true,
            _ => return Err("Unknown FETCH modifier"),
        }
    }
    if out.vanished && out.changed_since.is_none() {
        return Err("VANISHED needs CHANGEDSINCE");
    }
    if out.changed_since.is_none() {
        return Err("Empty FETCH modifiers");
    }
    Ok(out)
}

/// STORE's modifiers: the UNCHANGEDSINCE value.
pub fn parse_store_modifiers(arg: &Arg) -> Result<u64, &'static str> {
    match arg {
        Arg::List(items) => match items.as_slice() {
            [name, value] if name.keyword().as_deref() == Some("UNCHANGEDSINCE") => modseq_value(value, true),
            _ => Err("Unknown STORE modifier"),
        },
        _ => Err("STORE modifiers must be a list"),
    }
}

/// The arguments of a MODSEQ search key after the word MODSEQ: `[entry-name entry-type] n`.
/// Per-flag mod-sequences are not kept, so the entry is checked and ignored.
pub fn search_modseq(args: &[Arg]) -> Result<u64, &'static str> {
    match args {
        [value] => modseq_value(value, true),
        [Arg::Str(entry), kind, value] => {
            let lower = String::from_utf8_lossy(entry).to_ascii_lowercase();
            if !lower.starts_with("/flags/") || lower.len() == "/flags/".len() {
                return Err("Invalid MODSEQ entry name");
            }
            match kind.keyword().as_deref() {
                Some("PRIV" | "SHARED" | "ALL") => modseq_value(value, true),
                _ => Err("Invalid MODSEQ entry type"),
            }
        }
        _ => Err("Invalid MODSEQ search key"),
    }
}

/// `* VANISHED [(EARLIER) ]uids` (without CRLF), or nothing for no UIDs.
pub fn vanished(earlier: bool, uids: &[u32]) -> Option<String> {
    if uids.is_empty() {
        return None;
    }
    Some(format!("* VANISHED {}{}", if earlier { "(EARLIER) " } else { "" }, compact(uids)))
}

/// `VANISHED (EARLIER)` when the expunges are not remembered (RFC 7162 §3.2.5.2): every UID
/// the client knows (`known`, all when `None`) below `uid_next` that `present` (ascending) lacks,
/// minus those the sequence-match data shows the client already knew were gone: when message
/// number s still has the UID the client paired with it, nothing below that UID was expunged
/// since. As compact ranges, however large the known set.
pub fn conservative_vanished(
    known: Option<&NumberSet>,
    seq_match: &[(u32, u32)],
    present: &[u32],
    uid_next: u32,
) -> String {
    let mut floor = 0;
    for &(seq, uid) in seq_match {
        match present.get(seq as usize - 1) {
            Some(&u) if u == uid => floor = uid,
            _ => break,
        }
    }
    let all = NumberSet(vec![(1, u32::MAX)]);
    let known = known.unwrap_or(&all);
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &(lo, hi) in &known.0 {
        let (lo, hi) = (lo.max(floor.saturating_add(1)), hi.min(uid_next.saturating_sub(1)));
        if lo > hi {
            continue;
        }
        // The gaps between present UIDs within lo..=hi.
        let mut next = lo;
        let start = present.partition_point(|&u| u < lo);
        for &u in present[start..].iter().take_while(|&&u| u <= hi) {
            if u > next {
                out.push((next, u - 1));
            }
            next = u + 1;
        }
        if next <= hi {
            out.push((next, hi));
        }
    }
    out.iter()
        .map(|&(lo, hi)| if lo == hi { lo.to_string() } else { format!("{lo}:{hi}") })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::args::{after_name, plain};

    fn args(s: &str) -> Vec<Arg> {
        plain(after_name(format!("t X {s}\r\n").as_bytes(), 1).unwrap())
    }

    #[test]
    fn select_parameters() {
        let (name, p) = parse_select(&args("INBOX (CONDSTORE)")).unwrap();
        assert_eq!((name.as_slice(), p.condstore, p.qresync), (&b"INBOX"[..], true, None));
        let (_, p) =
            parse_select(&args("INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))")).unwrap();
        let q = p.qresync.unwrap();
        assert_eq!((q.uidvalidity, q.modseq), (67_890_007, 20_050_715_194_045_000));
        assert_eq!(q.known_uids.unwrap().0, [(41, 41), (43, 211), (214, 541)]);
        let (_, p) = parse_select(&args("INBOX (QRESYNC (1 5 1:10 (1,5:6 2,8:9)) CONDSTORE)")).unwrap();
        assert!(p.condstore);
        assert_eq!(p.qresync.unwrap().seq_match, [(1, 2), (5, 8), (6, 9)]);
        let (_, p) = parse_select(&args("INBOX (QRESYNC (1 5 (3 7)))")).unwrap();
        assert_eq!(p.qresync.unwrap().known_uids, None);
        assert_eq!(parse_select(&args("INBOX ()")).unwrap().1, SelectParams::default());
        for bad in [
            "INBOX (FOO)",
            "INBOX CONDSTORE",
            "INBOX (QRESYNC)",
            "INBOX (QRESYNC 1 2)",
            "INBOX (QRESYNC (1))",
            "INBOX (QRESYNC (0 5))",
            "INBOX (QRESYNC (x 5))",
            "INBOX (QRESYNC (1 -5))",
            "INBOX (QRESYNC (1 99999999999999999999))",
            "INBOX (QRESYNC (1 5 1:*))",
            "INBOX (QRESYNC (1 5 1:4 (1:2 3)))",
            "INBOX (QRESYNC (1 5 1:4 (1)))",
            "INBOX (QRESYNC (1 5 1:4 x y))",
            "INBOX (CONDSTORE CONDSTORE)",
            "INBOX (CONDSTORE) x",
        ] {
            assert!(parse_select(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn modifiers_and_search_keys() {
        let m = parse_fetch_modifiers(&args("(CHANGEDSINCE 12345 VANISHED)")[0]).unwrap();
        assert_eq!((m.changed_since, m.vanished), (Some(12345), true));
        for bad in ["(VANISHED)", "()", "(CHANGEDSINCE)", "(CHANGEDSINCE x)", "(FOO 1)", "CHANGEDSINCE"] {
            assert!(parse_fetch_modifiers(&args(bad)[0]).is_err(), "{bad}");
        }
        assert_eq!(parse_store_modifiers(&args("(unchangedsince 0)")[0]), Ok(0));
        for bad in ["(UNCHANGEDSINCE)", "(UNCHANGEDSINCE -1)", "(FOO 1)", "()"] {
            assert!(parse_store_modifiers(&args(bad)[0]).is_err(), "{bad}");
        }
        assert_eq!(search_modseq(&args("620162338")), Ok(620_162_338));
        assert_eq!(search_modseq(&args("\"/flags/\\\\draft\" all 620162338")), Ok(620_162_338));
        for bad in ["x", "\"/flags/\" all 1", "\"/x/y\" all 1", "\"/flags/a\" none 1", "\"/flags/a\" all"] {
            assert!(search_modseq(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn number_sets() {
        let s = NumberSet::parse(&Arg::Atom("9,1:3,4,20:15".into())).unwrap();
        assert_eq!(s.0, [(1, 4), (9, 9), (15, 20)]);
        assert!(s.contains(4) && s.contains(15) && !s.contains(5) && !s.contains(21));
        for bad in ["", "1:*", "0", "1,,2", "a", "1:"] {
            assert!(NumberSet::parse(&Arg::Atom(bad.into())).is_err(), "{bad}");
        }
    }

    #[test]
    fn vanished_answers() {
        assert_eq!(vanished(true, &[3, 4, 5, 9]).unwrap(), "* VANISHED (EARLIER) 3:5,9");
        assert_eq!(vanished(false, &[7]).unwrap(), "* VANISHED 7");
        assert_eq!(vanished(false, &[]), None);
        // Known 1:10, present 2,5,6; UIDNEXT 9.
        assert_eq!(conservative_vanished(None, &[], &[2, 5, 6], 9), "1,3:4,7:8");
        let known = NumberSet::parse(&Arg::Atom("1:4,1000000:2000000".into())).unwrap();
        assert_eq!(conservative_vanished(Some(&known), &[], &[2, 5, 6], 9), "1,3:4");
        // Message 2 still has UID 5 as the client knew: nothing below 5 went since.
        assert_eq!(conservative_vanished(None, &[(1, 2), (2, 5), (3, 7)], &[2, 5, 6], 9), "7:8");
        assert_eq!(conservative_vanished(None, &[], &[], 1), "");
    }
}
