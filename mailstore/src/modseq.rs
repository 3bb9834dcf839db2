//! `mailroom.modseq`: the mod-sequences of one mailbox (RFC 7162 CONDSTORE and QRESYNC). The
//! file is mailroom's own; Dovecot keeps its modseqs in `dovecot.index*`, which mailroom never
//! touches. Maildir stays the source of truth: the file only says which flags each UID had when
//! it last got a mod-sequence, so that any change, by whatever program, is found by comparing.
//!
//! ```text
//! mailroom-modseq 1 V1700000000 F1700000000000000
//! 1 1700000000000000 2,S
//! 2 1700000000000000 2,
//! -3 1700000000412345
//! 1 1700000000523456 2,FS
//! ```
//!
//! The header has the version, `V` the UIDVALIDITY the lines belong to, and `F` the floor:
//! expunges at or below it may be forgotten. Each line records one change, and a later line for
//! a UID replaces the earlier ones: `<uid> <modseq> <info>` gives the message's flags (the
//! Maildir info part, [`crate::flags`]) as of that mod-sequence, `-<uid> <modseq>` its expunge.
//!
//! Values are time-based: a new mod-sequence is `max(highest + 1, microseconds since the
//! epoch)`. A lost, damaged or other-UIDVALIDITY file is therefore rebuilt with every message
//! at a fresh value larger than any handed out before, and the floor at that value (the older
//! expunges are unknown): clients see everything as changed, which is correct. For the same
//! reason a line lost in a crash does no harm (the next sync finds the flags differ and gives a
//! new value), so appends are not fsynced, and a damaged line is skipped.
//!
//! Writers hold `mailroom.modseq.lock` (the dotlock of [`crate::dotlock`]) and append lines, or
//! rewrite the whole file into the lock and rename it (a new file, or compaction once the lines
//! outnumber the live records by far). Readers take no lock: a last line without its newline
//! is one being appended and is ignored, so no reader sees a torn record. Only the newest
//! [`KEEP_EXPUNGED`] expunges survive a compaction; the floor rises to the newest one dropped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::flags::Flags;

/// The file's name in a mailbox directory.
pub const FILE: &str = "mailroom.modseq";

/// How many expunged UIDs a compaction keeps (the newest) for `VANISHED (EARLIER)`.
pub const KEEP_EXPUNGED: usize = 1000;

/// The largest mod-sequence RFC 7162 allows (63 bits).
pub const MAX: u64 = i64::MAX as u64;

const MAGIC: &str = "mailroom-modseq 1";

/// What a file's identity was when it was read or written: change time, inode and length.
pub type FileId = (SystemTime, u64, u64);

/// The identity of `dir`'s file now, if it exists.
pub fn file_id(dir: &Path) -> Option<FileId> {
    let m = fs::metadata(dir.join(FILE)).ok()?;
    Some((m.modified().ok()?, m.ino(), m.len()))
}

/// What the file says about one UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The message has these flags as of the record's mod-sequence.
    Present(Flags),
    /// The message was expunged at the record's mod-sequence.
    Expunged,
}

/// The parsed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// The UIDVALIDITY the records belong to.
    pub uidvalidity: u32,
    /// Expunges at or below this mod-sequence may be forgotten.
    pub floor: u64,
    records: HashMap<u32, (u64, State)>,
    /// The largest mod-sequence in the file, the floor included.
    max: u64,
    /// Record lines in the file (superseded ones included).
    lines: usize,
}

impl Log {
    /// An empty log for a mailbox whose modseqs start now (the floor is set by the first
    /// [`Log::next_modseq`] a caller records with [`Log::set_floor`]).
    pub fn new(uidvalidity: u32) -> Log {
        Log { uidvalidity, floor: 0, records: HashMap::new(), max: 0, lines: 0 }
    }

    /// Reads `dir`'s file; `None` when it is missing or its header is not ours.
    pub fn read(dir: &Path) -> io::Result<Option<Log>> {
        match fs::read(dir.join(FILE)) {
            Ok(bytes) => Ok(Log::parse(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Parses the file's bytes: whole lines only, damaged ones skipped.
    pub fn parse(bytes: &[u8]) -> Option<Log> {
        let complete = &bytes[..bytes.iter().rposition(|&b| b == b'\n')? + 1];
        let text = std::str::from_utf8(complete).ok()?;
        let mut lines = text.split_terminator('\n');
        let mut log = parse_header(lines.next()?)?;
        for line in lines {
            if let Some((uid, modseq, state)) = parse_line(line) {
                log.max = log.max.max(modseq);
                log.records.insert(uid, (modseq, state));
                log.lines += 1;
            }
        }
        Some(log)
    }

    /// The record of `uid`.
    pub fn get(&self, uid: u32) -> Option<&(u64, State)> {
        self.records.get(&uid)
    }

    /// Every record, in no order.
    pub fn records(&self) -> impl Iterator<Item = (u32, u64, &State)> + '_ {
        self.records.iter().map(|(&u, (m, s))| (u, *m, s))
    }

    /// The mod-sequence for the next change: past every value in the file and not before now.
    pub fn next_modseq(&self) -> u64 {
        self.max.saturating_add(1).max(now_micros()).min(MAX)
    }

    /// Raises the floor (expunges at or below `modseq` may be unknown).
    pub fn set_floor(&mut self, modseq: u64) {
        self.floor = self.floor.max(modseq);
        self.max = self.max.max(modseq);
    }

    /// Records a change and returns its line for appending.
    pub fn record(&mut self, uid: u32, modseq: u64, state: State) -> String {
        let line = record_line(uid, modseq, &state);
        self.max = self.max.max(modseq);
        self.records.insert(uid, (modseq, state));
        self.lines += 1;
        line
    }

    /// Whether appending should give way to a rewrite: superseded lines far outnumber the live
    /// records, or more expunges are kept than a compaction would keep.
    pub fn wants_compaction(&self) -> bool {
        let expunged = self.records.values().filter(|(_, s)| *s == State::Expunged).count();
        self.lines > 2 * self.records.len() + 64 || expunged > 2 * KEEP_EXPUNGED
    }

    /// The whole file, keeping only the newest `keep` expunges (the floor rises past the
    /// others).
    pub fn to_text(&mut self, keep: usize) -> String {
        let mut gone: Vec<(u64, u32)> = self
            .records
            .iter()
            .filter(|(_, (_, s))| *s == State::Expunged)
            .map(|(&u, (m, _))| (*m, u))
            .collect();
        if gone.len() > keep {
            gone.sort_unstable();
            for &(m, uid) in &gone[..gone.len() - keep] {
                self.records.remove(&uid);
                self.floor = self.floor.max(m);
            }
        }
        let mut uids: Vec<u32> = self.records.keys().copied().collect();
        uids.sort_unstable();
        let mut text = format!("{MAGIC} V{} F{}\n", self.uidvalidity, self.floor);
        for uid in &uids {
            let (m, s) = &self.records[uid];
            text.push_str(&record_line(*uid, *m, s));
        }
        self.lines = uids.len();
        text
    }
}

/// Appends `lines` to `dir`'s file (the caller holds the lock).
pub fn append(dir: &Path, lines: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().append(true).open(dir.join(FILE))?;
    f.write_all(lines.as_bytes())
}

/// Microseconds since the epoch.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_micros() as u64)
}

fn record_line(uid: u32, modseq: u64, state: &State) -> String {
    let mut line = String::with_capacity(32);
    let _ = match state {
        State::Present(f) => writeln!(line, "{uid} {modseq} {}", f.to_info()),
        State::Expunged => writeln!(line, "-{uid} {modseq}"),
    };
    line
}

fn parse_header(line: &str) -> Option<Log> {
    let rest = line.strip_prefix(MAGIC)?.strip_prefix(' ')?;
    let mut log = Log::new(0);
    for item in rest.split(' ') {
        let (letter, value) = item.split_at_checked(1)?;
        match letter {
            "V" => log.uidvalidity = value.parse().ok()?,
            "F" => log.floor = value.parse().ok()?,
            _ => {}
        }
    }
    log.max = log.floor;
    (log.uidvalidity != 0).then_some(log)
}

fn parse_line(line: &str) -> Option<(u32, u64, State)> {
    // The info is the rest of the line: letters another program wrote may include a space.
    let mut items = line.splitn(3, ' ');
    let uid = items.next()?;
    let modseq: u64 = items.next()?.parse().ok().filter(|&m| m > 0 && m <= MAX)?;
    let (uid, state) = match (uid.strip_prefix('-'), items.next()) {
        (Some(u), None) => (u, State::Expunged),
        (None, Some(info)) if info.starts_with("2,") => (uid, State::Present(Flags::from_info(info))),
        _ => return None,
    };
    let uid: u32 = uid.parse().ok().filter(|&u| u > 0)?;
    Some((uid, modseq, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen() -> State {
        State::Present(Flags::from_info("2,S"))
    }

    #[test]
    fn parses_later_lines_over_earlier_and_skips_damage() {
        let text = "mailroom-modseq 1 V7 F100\n1 100 2,S\n2 100 2,\n-3 150\n1 160 2,FS\nnonsense\n0 5 2,\n4 x 2,\n\
                    -4 5 2,\n5 9 2,S X\n2 170 2,T";
        let log = Log::parse(text.as_bytes()).unwrap();
        assert_eq!((log.uidvalidity, log.floor), (7, 100));
        assert_eq!(log.get(1), Some(&(160, State::Present(Flags::from_info("2,FS")))));
        assert_eq!(log.get(2), Some(&(100, State::Present(Flags::empty()))), "the torn last line is ignored");
        assert_eq!(log.get(3), Some(&(150, State::Expunged)));
        assert_eq!(log.get(4), None);
        assert_eq!(log.get(5), Some(&(9, State::Present(Flags::from_info("2,S X")))), "odd letters kept");
        assert!(log.next_modseq() >= now_micros() - 1_000_000, "time-based");
        let future = Log::parse(b"mailroom-modseq 1 V7 F1\n1 9000000000000000 2,\n").unwrap();
        assert_eq!(future.next_modseq(), 9_000_000_000_000_001, "past every value in the file");
        for bad in ["", "mailroom-modseq 2 V1\n", "mailroom-modseq 1 F1\n", "mailroom-modseq 1 V1"] {
            assert!(Log::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn records_round_trip_and_modseqs_grow() {
        let mut log = Log::new(9);
        let m = log.next_modseq();
        assert!(m >= now_micros() - 1_000_000, "time-based");
        log.set_floor(m);
        let line = log.record(5, m, seen());
        assert_eq!(line, format!("5 {m} 2,S\n"));
        assert!(log.next_modseq() > m);
        log.record(6, m + 1, State::Expunged);
        let text = log.to_text(KEEP_EXPUNGED);
        assert_eq!(text, format!("mailroom-modseq 1 V9 F{m}\n5 {m} 2,S\n-6 {}\n", m + 1));
        assert_eq!(Log::parse(text.as_bytes()).unwrap(), log);
    }

    #[test]
    fn compaction_keeps_the_newest_expunges_and_raises_the_floor() {
        let mut log = Log::new(1);
        log.set_floor(10);
        for uid in 1..=5 {
            log.record(uid, 10 + u64::from(uid), State::Expunged);
        }
        log.record(6, 20, seen());
        let text = log.to_text(2);
        assert_eq!(log.floor, 13, "3 was the newest expunge dropped");
        assert!(log.get(3).is_none() && log.get(4).is_some() && log.get(6).is_some());
        assert_eq!(Log::parse(text.as_bytes()).unwrap().floor, 13);
        // Superseded lines make a rewrite worth it.
        let mut log = Log::new(1);
        for i in 0..200 {
            log.record(1, 100 + i, seen());
        }
        assert!(log.wants_compaction());
        log.to_text(KEEP_EXPUNGED);
        assert!(!log.wants_compaction());
    }
}
