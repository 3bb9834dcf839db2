//! Comparators (RFC 4790 as Sieve uses them) and match types: `:is`, `:contains`, `:matches`,
//! `:regex` and the relational `:value`/`:count` (RFC 5231).

use std::cmp::Ordering;

use regex::{Regex, RegexBuilder};

/// A comparator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Octet,
    AsciiCasemap,
    AsciiNumeric,
}

impl Comparator {
    pub fn from_name(name: Option<&str>) -> Comparator {
        match name {
            Some("i;octet") => Comparator::Octet,
            Some("i;ascii-numeric") => Comparator::AsciiNumeric,
            _ => Comparator::AsciiCasemap,
        }
    }

    /// Ordering for `:value` and `:is`.
    pub fn cmp(self, a: &str, b: &str) -> Ordering {
        match self {
            Comparator::Octet => a.as_bytes().cmp(b.as_bytes()),
            Comparator::AsciiCasemap => {
                a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
            }
            Comparator::AsciiNumeric => match (numeric(a), numeric(b)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
            },
        }
    }

    fn eq_char(self, a: char, b: char) -> bool {
        match self {
            Comparator::AsciiCasemap => a.eq_ignore_ascii_case(&b),
            _ => a == b,
        }
    }
}

/// The leading digits without leading zeros, `None` for positive infinity (no digits).
fn numeric(s: &str) -> Option<&str> {
    let end = s.bytes().position(|c| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let digits = &s[..end];
    let trimmed = digits.trim_start_matches('0');
    Some(if trimmed.is_empty() { "0" } else { trimmed })
}

/// A relational operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Relation {
    pub fn parse(s: &str) -> Relation {
        match s {
            "gt" => Relation::Gt,
            "ge" => Relation::Ge,
            "lt" => Relation::Lt,
            "le" => Relation::Le,
            "ne" => Relation::Ne,
            _ => Relation::Eq,
        }
    }

    pub fn holds(self, o: Ordering) -> bool {
        match self {
            Relation::Gt => o == Ordering::Greater,
            Relation::Ge => o != Ordering::Less,
            Relation::Lt => o == Ordering::Less,
            Relation::Le => o != Ordering::Greater,
            Relation::Eq => o == Ordering::Equal,
            Relation::Ne => o != Ordering::Equal,
        }
    }
}

/// Substring match; the numeric comparator has none (RFC 4790), Pigeonhole then compares
/// nothing.
pub fn contains(cmp: Comparator, haystack: &str, needle: &str) -> bool {
    match cmp {
        Comparator::Octet => haystack.contains(needle),
        Comparator::AsciiCasemap => {
            let h = haystack.as_bytes();
            let n = needle.as_bytes();
            n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
        }
        Comparator::AsciiNumeric => false,
    }
}

/// `:matches` with `*` and `?` (and `\` quoting them). On success the captures are the whole
/// value then each wildcard's text, as RFC 5229 defines `${0}`..; each `*` takes as little as
/// it can. Backtracks only to the last `*`, so the time is O(value x pattern) at worst.
pub fn matches(cmp: Comparator, value: &str, pattern: &str) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Lit(char),
        Any,
        Star,
    }
    let mut pat = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        pat.push(match c {
            '\\' => P::Lit(it.next().unwrap_or('\\')),
            '*' => P::Star,
            '?' => P::Any,
            c => P::Lit(c),
        });
    }
    let v: Vec<char> = value.chars().collect();
    // captures[i] = (start, end) in chars for wildcard i.
    let nwild = pat.iter().filter(|p| !matches!(p, P::Lit(_))).count();
    let mut caps: Vec<(usize, usize)> = vec![(0, 0); nwild];
    let wild_index: Vec<usize> = {
        let mut n = 0;
        pat.iter()
            .map(|p| {
                let i = n;
                if !matches!(p, P::Lit(_)) {
                    n += 1;
                }
                i
            })
            .collect()
    };
    let (mut pi, mut vi) = (0usize, 0usize);
    // The last star: its pattern index and the value index where it currently ends.
    let mut star: Option<(usize, usize)> = None;
    let mut saved_caps = caps.clone();
    loop {
        if pi < pat.len() {
            match pat[pi] {
                P::Star => {
                    caps[wild_index[pi]] = (vi, vi);
                    star = Some((pi, vi));
                    saved_caps = caps.clone();
                    pi += 1;
                    continue;
                }
                P::Any if vi < v.len() => {
                    caps[wild_index[pi]] = (vi, vi + 1);
                    pi += 1;
                    vi += 1;
                    continue;
                }
                P::Lit(c) if vi < v.len() && cmp.eq_char(c, v[vi]) => {
                    pi += 1;
                    vi += 1;
                    continue;
                }
                _ => {}
            }
        } else if vi == v.len() {
            break;
        }
        // Mismatch: let the last star take one more character.
        match star {
            Some((sp, sv)) if sv < v.len() => {
                caps = saved_caps.clone();
                caps[wild_index[sp]] = (caps[wild_index[sp]].0, sv + 1);
                saved_caps = caps.clone();
                star = Some((sp, sv + 1));
                pi = sp + 1;
                vi = sv + 1;
            }
            _ => return None,
        }
    }
    let mut out = vec![value.to_string()];
    out.extend(caps.iter().map(|&(s, e)| v[s..e].iter().collect::<String>()));
    Some(out)
}

/// Compiles a `:regex` key: POSIX extended syntax is close enough to the regex crate's for the
/// patterns scripts use; the engine is linear-time and its size is bounded.
pub fn build_regex(pattern: &str, casemap: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).case_insensitive(casemap).size_limit(1 << 20).dfa_size_limit(1 << 20).build()
}

/// `:regex` captures (`${0}` is the whole match), or `None`.
pub fn regex_captures(re: &Regex, value: &str) -> Option<Vec<String>> {
    let caps = re.captures(value)?;
    Some((0..caps.len()).map(|i| caps.get(i).map(|m| m.as_str().to_string()).unwrap_or_default()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Comparator::*;

    #[test]
    fn comparators() {
        assert_eq!(AsciiCasemap.cmp("ABC", "abc"), Ordering::Equal);
        assert_eq!(Octet.cmp("ABC", "abc"), Ordering::Less);
        assert_eq!(AsciiNumeric.cmp("010", "9"), Ordering::Greater);
        assert_eq!(AsciiNumeric.cmp("5 apples", "5"), Ordering::Equal);
        assert_eq!(AsciiNumeric.cmp("x", "99999"), Ordering::Greater);
        assert_eq!(AsciiNumeric.cmp("x", "y"), Ordering::Equal);
        assert!(contains(AsciiCasemap, "Hello World", "WORLD"));
        assert!(!contains(Octet, "Hello World", "WORLD"));
        assert!(Relation::Ge.holds(Ordering::Equal));
    }

    #[test]
    fn wildcards() {
        assert_eq!(matches(AsciiCasemap, "a b c", "* *").unwrap(), vec!["a b c", "a", "b c"]);
        assert_eq!(
            matches(AsciiCasemap, "[list] Hello", "[*] *").unwrap(),
            vec!["[list] Hello", "list", "Hello"]
        );
        assert_eq!(matches(AsciiCasemap, "abc", "a?c").unwrap()[1], "b");
        assert!(matches(AsciiCasemap, "ABC", "a*").is_some());
        assert!(matches(Octet, "ABC", "a*").is_none());
        assert!(matches(AsciiCasemap, "a*c", "a\\*c").is_some());
        assert!(matches(AsciiCasemap, "abc", "a\\*c").is_none());
        assert!(matches(AsciiCasemap, "", "*").is_some());
        assert!(matches(AsciiCasemap, "abc", "").is_none());
        assert!(matches(AsciiCasemap, "x.y.z", "*.*").is_some_and(|c| c[1] == "x" && c[2] == "y.z"));
        // No exponential blow-up.
        let long = "a".repeat(5000);
        assert!(matches(AsciiCasemap, &long, "*a*a*a*a*a*a*a*a*b").is_none());
    }

    #[test]
    fn regexes() {
        let re = build_regex("^(.*)@(example)\\.com$", true).unwrap();
        assert_eq!(
            regex_captures(&re, "Bob@EXAMPLE.com").unwrap(),
            vec!["Bob@EXAMPLE.com", "Bob", "EXAMPLE"]
        );
        assert!(build_regex("(", true).is_err());
    }
}
