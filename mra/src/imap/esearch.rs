//! ESEARCH (RFC 4731) and SEARCHRES (RFC 5182), both part of IMAP4rev2: SEARCH's
//! `RETURN (MIN MAX ALL COUNT SAVE)` options, the `* ESEARCH (TAG "t") [UID] ...` response,
//! and which matches `SAVE` keeps for `$`.

use super::args::Arg;
use super::sequence::compact;

/// The result options of one SEARCH.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Return {
    /// MIN: the lowest match.
    pub min: bool,
    /// MAX: the highest match.
    pub max: bool,
    /// ALL: every match, as a sequence set.
    pub all: bool,
    /// COUNT: how many matched.
    pub count: bool,
    /// SAVE: remember the matches for `$` (RFC 5182).
    pub save: bool,
}

impl Return {
    /// What a SEARCH without RETURN asks under IMAP4rev2, and what `RETURN ()` asks.
    pub const ALL: Return = Return { min: false, max: false, all: true, count: false, save: false };

    /// Parses the list after RETURN.
    pub fn parse(arg: &Arg) -> Result<Return, &'static str> {
        let Arg::List(opts) = arg else { return Err("RETURN needs a list of options") };
        if opts.is_empty() {
            return Ok(Return::ALL);
        }
        let mut r = Return::default();
        for o in opts {
            match o.keyword().as_deref() {
                Some("MIN") => r.min = true,
                Some("MAX") => r.max = true,
                Some("ALL") => r.all = true,
                Some("COUNT") => r.count = true,
                Some("SAVE") => r.save = true,
                _ => return Err("Unknown SEARCH return option"),
            }
        }
        Ok(r)
    }

    /// Whether an ESEARCH response is sent: not for SAVE alone (RFC 5182 §2.1).
    fn answers(&self) -> bool {
        self.min || self.max || self.all || self.count
    }

    /// The `* ESEARCH ...` line (without CRLF) for `found` (ascending numbers or UIDs), or
    /// `None` when only SAVE was asked.
    pub fn response(&self, tag: &str, uid: bool, found: &[u32]) -> Option<String> {
        if !self.answers() {
            return None;
        }
        let mut s = format!("* ESEARCH (TAG \"{tag}\")");
        if uid {
            s.push_str(" UID");
        }
        if let (Some(first), Some(last)) = (found.first(), found.last()) {
            if self.min {
                s.push_str(&format!(" MIN {first}"));
            }
            if self.max {
                s.push_str(&format!(" MAX {last}"));
            }
            if self.all {
                s.push_str(&format!(" ALL {}", compact(found)));
            }
        }
        if self.count {
            s.push_str(&format!(" COUNT {}", found.len()));
        }
        Some(s)
    }

    /// What SAVE keeps of `found`: only MIN and/or MAX when those are the only other options,
    /// else everything (RFC 5182 §2.4).
    pub fn saved(&self, found: &[u32]) -> Vec<u32> {
        if (self.min || self.max) && !self.all && !self.count {
            let mut v: Vec<u32> = Vec::new();
            if self.min {
                v.extend(found.first());
            }
            if self.max {
                v.extend(found.last().filter(|l| Some(*l) != found.first() || !self.min));
            }
            v
        } else {
            found.to_vec()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ret(opts: &[&str]) -> Return {
        Return::parse(&Arg::List(opts.iter().map(|o| Arg::Atom(o.to_string())).collect())).unwrap()
    }

    #[test]
    fn responses_like_dovecot() {
        let all = ret(&["MIN", "MAX", "COUNT", "ALL"]);
        assert_eq!(
            all.response("t15", false, &[1]).unwrap(),
            "* ESEARCH (TAG \"t15\") MIN 1 MAX 1 ALL 1 COUNT 1"
        );
        assert_eq!(ret(&[]).response("t", false, &[1, 2, 3, 7]).unwrap(), "* ESEARCH (TAG \"t\") ALL 1:3,7");
        assert_eq!(ret(&["count"]).response("t", true, &[4]).unwrap(), "* ESEARCH (TAG \"t\") UID COUNT 1");
        assert_eq!(ret(&["MIN"]).response("t", false, &[]).unwrap(), "* ESEARCH (TAG \"t\")");
        assert_eq!(ret(&["COUNT"]).response("t", false, &[]).unwrap(), "* ESEARCH (TAG \"t\") COUNT 0");
        assert_eq!(ret(&["SAVE"]).response("t", false, &[1]), None);
    }

    #[test]
    fn save_keeps_min_max_or_all() {
        let found = [3, 5, 9];
        assert_eq!(ret(&["SAVE"]).saved(&found), found);
        assert_eq!(ret(&["SAVE", "MIN"]).saved(&found), [3]);
        assert_eq!(ret(&["SAVE", "MAX"]).saved(&found), [9]);
        assert_eq!(ret(&["SAVE", "MIN", "MAX"]).saved(&found), [3, 9]);
        assert_eq!(ret(&["SAVE", "MIN", "MAX"]).saved(&[4]), [4]);
        assert_eq!(ret(&["SAVE", "MIN", "COUNT"]).saved(&found), found);
        assert!(ret(&["SAVE", "MIN"]).saved(&[]).is_empty());
    }

    #[test]
    fn bad_options() {
        assert!(Return::parse(&Arg::List(vec![Arg::Atom("FOO".into())])).is_err());
        assert!(Return::parse(&Arg::Atom("ALL".into())).is_err());
        assert!(Return::parse(&Arg::List(vec![Arg::Str(b"MIN".to_vec())])).is_err());
    }
}
