//! Queue ids: 16 upper-case hex digits, arrival time first so that `ls` sorts by age, unique
//! within one spool because the file is created with O_EXCL (a clash just draws again).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A validated queue id; safe to use as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(String);

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl QueueId {
    /// A fresh id: seconds (8 hex), microseconds (5 hex), a per-process counter (3 hex).
    pub fn generate() -> QueueId {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xfff;
        QueueId(format!("{:08X}{:05X}{n:03X}", now.as_secs() as u32, now.subsec_micros()))
    }

    /// Parse an id typed by an admin or found on disk; anything else is refused, so an id can
    /// never name a path outside the spool.
    pub fn parse(s: &str) -> Option<QueueId> {
        (s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
            .then(|| QueueId(s.to_string()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = QueueId::generate();
        let b = QueueId::generate();
        assert_ne!(a, b);
        assert_eq!(QueueId::parse(a.as_str()), Some(a));
        for bad in ["", "../../etc/passwd", "0123456789abcdef", "0123456789ABCDE", "0123456789ABCDEF0"] {
            assert_eq!(QueueId::parse(bad), None, "{bad}");
        }
    }
}
