//! Maildir file names: the unique base name of a new message and its `,S=` / `,W=` extensions.
//!
//! A delivered file is named `<secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,W=<vsize>`. The base
//! follows D. J. Bernstein's maildir spec (`M` microseconds, `P` process id, `Q` deliveries by
//! this process); Dovecot writes `<secs>.M<usecs>P<pid>.<host>` and keeps it unique by bumping
//! the microseconds, but every Maildir reader (Dovecot included) treats the base as opaque, so
//! the `Q` counter is the simpler guarantee: a process-wide atomic makes names unique across
//! threads without a lock or a clock that must move. `,S=` is the size on disk, `,W=` the size
//! with every line end counted as CRLF (what IMAP RFC822.SIZE reports); Dovecot reads both
//! back instead of stat()ing or reading the file.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Deliveries made by this process, the `Q` part of every name.
static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// A fresh unique base name, `<secs>.M<usecs>P<pid>Q<n>.<host>`.
pub fn unique() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let n = DELIVERIES.fetch_add(1, Ordering::Relaxed) + 1;
    format!("{}.M{}P{}Q{}.{}", now.as_secs(), now.subsec_micros(), std::process::id(), n, hostname())
}

/// The final name of a delivered message: `base` plus its `,S=` and `,W=` extensions.
pub fn with_sizes(base: &str, size: u64, vsize: u64) -> String {
    format!("{base},S={size},W={vsize}")
}

/// The size recorded as `,S=<n>` in a file name, if there is one.
///
/// Like Dovecot, the digits must end at `,`, `:` or the end of the name; anything else means
/// the extension is not ours and the caller should stat() the file instead.
pub fn size_from_name(name: &str) -> Option<u64> {
    let at = name.find(",S=")? + 3;
    let digits = &name[at..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    match digits[end..].chars().next() {
        None | Some(',') | Some(':') if end > 0 => digits[..end].parse().ok(),
        _ => None,
    }
}

/// This host's name as it appears in file names, computed once.
pub fn hostname() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok());
        escape_host(raw.as_deref().unwrap_or("localhost"))
    })
}

/// Escapes the two characters a host name must not bring into a Maildir name.
///
/// '/' would make a path and ':' would start the info part, so both become the octal escapes
/// the maildir spec and Dovecot use (`\057`, `\072`).
fn escape_host(host: &str) -> String {
    let host = if host.is_empty() { "localhost" } else { host };
    host.replace('/', "\\057").replace(':', "\\072")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn unique_has_the_maildir_shape() {
        let name = unique();
        let (secs, rest) = name.split_once(".M").unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000);
        let (usecs, rest) = rest.split_once('P').unwrap();
        assert!(usecs.parse::<u32>().unwrap() < 1_000_000);
        let (pid, rest) = rest.split_once('Q').unwrap();
        assert_eq!(pid.parse::<u32>().unwrap(), std::process::id());
        let (n, host) = rest.split_once('.').unwrap();
        assert!(n.parse::<u64>().unwrap() >= 1);
        assert_eq!(host, hostname());
        assert!(!name.contains('/') && !name.contains(':'));
    }

    #[test]
    fn unique_across_threads() {
        let threads: Vec<_> =
            (0..8).map(|_| std::thread::spawn(|| (0..1000).map(|_| unique()).collect::<Vec<_>>())).collect();
        let mut all = HashSet::new();
        for t in threads {
            for name in t.join().unwrap() {
                assert!(all.insert(name), "duplicate name");
            }
        }
        assert_eq!(all.len(), 8000);
    }

    #[test]
    fn host_escapes() {
        for (raw, want) in [
            ("mx1.example.org", "mx1.example.org"),
            ("a/b", "a\\057b"),
            ("a:b", "a\\072b"),
            ("", "localhost"),
        ] {
            assert_eq!(escape_host(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn sizes_round_trip() {
        let name = with_sizes("1700000000.M1P2Q3.host", 1234, 1260);
        assert_eq!(name, "1700000000.M1P2Q3.host,S=1234,W=1260");
        assert_eq!(size_from_name(&name), Some(1234));
    }

    #[test]
    fn size_from_name_table() {
        for (name, want) in [
            ("1.M2P3.h,S=10", Some(10)),
            ("1.M2P3.h,S=10,W=12", Some(10)),
            ("1.M2P3.h,S=10:2,S", Some(10)),
            ("1.M2P3.h,W=12,S=7:2,", Some(7)),
            ("1.M2P3.h", None),
            ("1.M2P3.h,S=", None),
            ("1.M2P3.h,S=1x", None),
            ("1.M2P3.h,S=abc", None),
        ] {
            assert_eq!(size_from_name(name), want, "{name}");
        }
    }
}
