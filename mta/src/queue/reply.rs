//! A server's reply as data: the reply code, the RFC 3463 enhanced status code and the text.
//! Kept per recipient in the delivery state, shown by `mailroomctl queue`, and the source of a
//! DSN's Status and Diagnostic-Code fields, so nothing has to parse a status out of text.

use std::fmt;

use smtp::client::ServerReply;

/// An RFC 3463 enhanced status code, `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// 0 to 999.
    pub subject: u16,
    /// 0 to 999.
    pub detail: u16,
}

impl Status {
    /// RFC 3463 X.4.7: delivery time expired (the message stayed in the queue too long).
    pub const EXPIRED: Status = Status { class: 4, subject: 4, detail: 7 };

    /// Parse `5.1.1`; anything else (another class, a part over three digits) is `None`.
    pub fn parse(s: &str) -> Option<Status> {
        let mut parts = s.split('.');
        let class = match parts.next()? {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        let number = |p: Option<&str>| {
            p.filter(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
        };
        let (subject, detail) = (number(parts.next())?, number(parts.next())?);
        parts.next().is_none().then_some(Status { class, subject, detail })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// What a server answered for one recipient, or what we say ourselves when no server could
/// (a refused connection, an unreadable queue file): then the code is a 4xx of our choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The enhanced status code, when the server sent a valid one.
    pub enhanced: Option<Status>,
    /// The text, one line without control characters.
    pub text: String,
}

impl Reply {
    /// A reply; control characters in `text` become spaces so it fits on one line anywhere.
    pub fn new(code: u16, enhanced: Option<Status>, text: &str) -> Reply {
        Reply { code, enhanced, text: text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect() }
    }

    /// 2xx: delivered.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 5xx: will never be delivered.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The status a DSN reports: the enhanced code, else `X.0.0` of the reply's class (RFC
    /// 3463 §3.1; anything that is neither success nor permanent counts as transient).
    pub fn status(&self) -> Status {
        let class = match self.code / 100 {
            2 => 2,
            5 => 5,
            _ => 4,
        };
        self.enhanced.unwrap_or(Status { class, subject: 0, detail: 0 })
    }

    /// Parse `550 5.1.1 text` or `550 text`, the [`Display`](fmt::Display) form (format 1
    /// state files kept nothing else).
    pub fn parse(s: &str) -> Option<Reply> {
        let (code, rest) = s.split_once(' ').unwrap_or((s, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let code: u16 = code.parse().ok().filter(|c| (200..600).contains(c))?;
        let (first, after) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(match Status::parse(first) {
            Some(st) => Reply::new(code, Some(st), after),
            None => Reply::new(code, None, rest),
        })
    }
}

impl From<ServerReply> for Reply {
    /// An enhanced code that is not valid RFC 3463 is dropped rather than trusted.
    fn from(r: ServerReply) -> Reply {
        Reply::new(r.code, r.enhanced.as_deref().and_then(Status::parse), &r.text)
    }
}

impl fmt::Display for Reply {
    /// `550 5.1.1 text`, or `550 text` without an enhanced code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(st) = self.enhanced {
            write!(f, " {st}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(Status::parse("5.1.10"), Some(Status { class: 5, subject: 1, detail: 10 }));
        assert_eq!(Status::parse("4.4.7"), Some(Status::EXPIRED));
        for bad in ["", "5.1", "5.1.1.1", "3.1.1", "5.1000.1", "5.a.1", "5..1", "x"] {
            assert_eq!(Status::parse(bad), None, "{bad}");
        }
        assert_eq!(Status::EXPIRED.to_string(), "4.4.7");
    }

    #[test]
    fn replies_parse_print_and_classify() {
        let r = Reply::parse("550 5.1.1 <nobody@b.test> User unknown").unwrap();
        assert_eq!(
            (r.code, r.enhanced, r.text.as_str()),
            (550, Status::parse("5.1.1"), "<nobody@b.test> User unknown")
        );
        assert_eq!(r.to_string(), "550 5.1.1 <nobody@b.test> User unknown");
        assert!(r.is_permanent() && !r.is_positive());
        let plain = Reply::parse("451 try later").unwrap();
        assert_eq!((plain.enhanced, plain.text.as_str()), (None, "try later"));
        assert_eq!(plain.status().to_string(), "4.0.0");
        assert_eq!(Reply::parse("250").unwrap().to_string(), "250");
        assert_eq!(Reply::parse("550 User unknown").unwrap().status().to_string(), "5.0.0");
        for bad in ["", "garbage", "55 x", "5500 x", "150 x", "650 x"] {
            assert_eq!(Reply::parse(bad), None, "{bad}");
        }
        let from = Reply::from(ServerReply::new(452, Some("4.2.22"), "full\r\nreally"));
        assert_eq!(from.to_string(), "452 4.2.22 full  really");
        let bogus = Reply::from(ServerReply::new(550, Some("9.9.9"), "x"));
        assert_eq!((bogus.enhanced, bogus.status().to_string()), (None, "5.0.0".to_string()));
    }
}
