//! Message flags as Maildir keeps them: the info part of a file name, `:2,` followed by the
//! system flags in ASCII order (D draft, F flagged, P passed, R replied, S seen, T trashed)
//! and then keyword letters `a`..`z`, whose names are in `dovecot-keywords` ([`crate::keywords`]).
//!
//! Characters we do not know (other uppercase letters some clients write) are kept as they are,
//! so a rename by mailroom never loses another program's flag.

use std::fmt;

/// One IMAP system flag and its Maildir letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Draft`, `D`.
    Draft,
    /// `\Flagged`, `F`.
    Flagged,
    /// `$Forwarded` in IMAP terms; Maildir "passed", `P`.
    Passed,
    /// `\Answered`, `R`.
    Replied,
    /// `\Seen`, `S`.
    Seen,
    /// `\Deleted`, `T` (trashed).
    Deleted,
}

impl Flag {
    /// Every system flag, in the order of their letters.
    pub const ALL: [Flag; 6] =
        [Flag::Draft, Flag::Flagged, Flag::Passed, Flag::Replied, Flag::Seen, Flag::Deleted];

    /// The Maildir letter.
    pub fn letter(self) -> char {
        match self {
            Flag::Draft => 'D',
            Flag::Flagged => 'F',
            Flag::Passed => 'P',
            Flag::Replied => 'R',
            Flag::Seen => 'S',
            Flag::Deleted => 'T',
        }
    }

    /// The flag a Maildir letter stands for.
    pub fn from_letter(c: char) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.letter() == c)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The flags of one message: system flags, keyword indexes (0..26) and unknown letters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    system: u8,
    keywords: u32,
    /// Letters we do not know, kept for the next rename (boxed: most messages have none).
    other: Box<str>,
}

/// How many keywords a Maildir file name can carry (`a`..`z`).
pub const MAX_KEYWORDS: usize = 26;

impl Flags {
    /// No flags.
    pub fn empty() -> Flags {
        Flags::default()
    }

    /// The flags of a file name: what follows its last `:2,`; a name without info has none.
    pub fn from_file_name(name: &str) -> Flags {
        match name.rsplit_once(':') {
            Some((_, info)) => Flags::from_info(info),
            None => Flags::empty(),
        }
    }

    /// The flags of an info part such as `2,FS`; anything but version 2 carries no flags.
    pub fn from_info(info: &str) -> Flags {
        let mut flags = Flags::empty();
        let Some(letters) = info.strip_prefix("2,") else { return flags };
        let mut other = String::new();
        for c in letters.chars() {
            match (Flag::from_letter(c), c) {
                (Some(f), _) => flags.system |= f.bit(),
                (None, 'a'..='z') => flags.keywords |= 1 << (c as u8 - b'a'),
                // ',' would end the flags for some readers; drop it, keep anything else.
                (None, ',') => {}
                (None, c) if !other.contains(c) => other.push(c),
                _ => {}
            }
        }
        flags.other = other.into_boxed_str();
        flags
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: Flag) -> bool {
        self.system & flag.bit() != 0
    }

    /// Sets or clears `flag`.
    pub fn set(&mut self, flag: Flag, on: bool) {
        if on {
            self.system |= flag.bit();
        } else {
            self.system &= !flag.bit();
        }
    }

    /// Whether keyword number `index` (its line in dovecot-keywords) is set.
    pub fn has_keyword(&self, index: usize) -> bool {
        index < MAX_KEYWORDS && self.keywords & (1 << index) != 0
    }

    /// Sets or clears keyword number `index`; indexes past `z` are ignored.
    pub fn set_keyword(&mut self, index: usize, on: bool) {
        if index >= MAX_KEYWORDS {
            return;
        }
        if on {
            self.keywords |= 1 << index;
        } else {
            self.keywords &= !(1 << index);
        }
    }

    /// The keyword indexes set, ascending.
    pub fn keyword_indexes(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MAX_KEYWORDS).filter(|&i| self.has_keyword(i))
    }

    /// The system flags set, in letter order.
    pub fn system_flags(&self) -> impl Iterator<Item = Flag> + '_ {
        Flag::ALL.into_iter().filter(|&f| self.has(f))
    }

    /// The info part, `2,` plus every letter in ASCII order (what Dovecot writes).
    pub fn to_info(&self) -> String {
        let mut letters: Vec<char> = self.system_flags().map(Flag::letter).collect();
        letters.extend(self.other.chars());
        letters.extend(self.keyword_indexes().map(|i| (b'a' + i as u8) as char));
        letters.sort_unstable();
        letters.dedup();
        let mut info = String::from("2,");
        info.extend(letters);
        info
    }
}

/// A change to a message's flags (IMAP STORE's `FLAGS`, `+FLAGS`, `-FLAGS`). It is applied to
/// the flags the file has when it is renamed, not to what a session saw earlier, so that
/// sessions changing different flags of one message at once all keep their change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagChange {
    /// These system flags and keywords, no others (letters we do not know stay: they are
    /// another program's).
    Set(Flags),
    /// These added.
    Add(Flags),
    /// These removed.
    Remove(Flags),
}

impl FlagChange {
    /// The flags a message with `old` gets.
    pub fn apply(&self, old: &Flags) -> Flags {
        match self {
            FlagChange::Set(f) => Flags { system: f.system, keywords: f.keywords, other: old.other.clone() },
            FlagChange::Add(f) => Flags {
                system: old.system | f.system,
                keywords: old.keywords | f.keywords,
                other: old.other.clone(),
            },
            FlagChange::Remove(f) => Flags {
                system: old.system & !f.system,
                keywords: old.keywords & !f.keywords,
                other: old.other.clone(),
            },
        }
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_info())
    }
}

/// The base name of a file name: everything before the info part (`:`), which is what
/// `dovecot-uidlist` records and what stays the same when flags change.
pub fn base_name(file_name: &str) -> &str {
    file_name.split_once(':').map_or(file_name, |(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_render_table() {
        for (name, info, seen, keywords) in [
            ("1.M2P3.h,S=5", "2,", false, vec![]),
            ("1.M2P3.h,S=5:2,", "2,", false, vec![]),
            ("1.M2P3.h,S=5:2,S", "2,S", true, vec![]),
            ("1.M2P3.h:2,TSRFD", "2,DFRST", true, vec![]),
            ("1.M2P3.h:2,Sba", "2,Sab", true, vec![0, 1]),
            ("1.M2P3.h:2,Sz", "2,Sz", true, vec![25]),
            ("1.M2P3.h:2,XS", "2,SX", true, vec![]),
            ("1.M2P3.h:1,S", "2,", false, vec![]),
        ] {
            let f = Flags::from_file_name(name);
            assert_eq!(f.to_info(), info, "{name}");
            assert_eq!(f.has(Flag::Seen), seen, "{name}");
            assert_eq!(f.keyword_indexes().collect::<Vec<_>>(), keywords, "{name}");
        }
    }

    #[test]
    fn set_and_clear() {
        let mut f = Flags::empty();
        f.set(Flag::Seen, true);
        f.set(Flag::Replied, true);
        f.set_keyword(3, true);
        f.set_keyword(40, true);
        assert_eq!(f.to_info(), "2,RSd");
        f.set(Flag::Seen, false);
        f.set_keyword(3, false);
        assert_eq!(f.to_info(), "2,R");
        assert!(!f.has_keyword(40));
    }

    #[test]
    fn changes_apply_to_the_current_flags() {
        let old = Flags::from_info("2,RSXb");
        let (mut seen, mut flagged_a) = (Flags::empty(), Flags::empty());
        seen.set(Flag::Seen, true);
        flagged_a.set(Flag::Flagged, true);
        flagged_a.set_keyword(0, true);
        assert_eq!(FlagChange::Add(flagged_a.clone()).apply(&old).to_info(), "2,FRSXab");
        assert_eq!(FlagChange::Remove(seen).apply(&old).to_info(), "2,RXb");
        assert_eq!(FlagChange::Set(flagged_a).apply(&old).to_info(), "2,FXa", "X is not ours to drop");
        assert_eq!(FlagChange::Add(Flags::empty()).apply(&old), old);
    }

    #[test]
    fn base_names() {
        assert_eq!(base_name("1.M2P3.h,S=5:2,S"), "1.M2P3.h,S=5");
        assert_eq!(base_name("1.M2P3.h,S=5"), "1.M2P3.h,S=5");
    }
}
