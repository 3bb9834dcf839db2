//! SMTP replies with RFC 3463 enhanced status codes on every one (RFC 2034).

use std::fmt;

/// One reply: code, enhanced code, text (several lines become a multi-line reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Basic code, e.g. 250.
    pub code: u16,
    /// Enhanced code, e.g. "2.1.0"; empty for the greeting and LHLO/EHLO lines, which take none.
    pub enhanced: &'static str,
    /// Text lines.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Reply {
        Reply { code, enhanced, lines: vec![text.into()] }
    }

    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 4xx.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// Wire form, CRLF-terminated lines.
    pub fn to_wire(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.lines.len().max(1);
        for i in 0..n {
            let sep = if i + 1 == n { ' ' } else { '-' };
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            // Never let a CR or LF from a text smuggle another reply line.
            let text = text.replace(['\r', '\n'], " ");
            if self.enhanced.is_empty() {
                write!(f, "{}{sep}{text}\r\n", self.code)?;
            } else {
                write!(f, "{}{sep}{} {text}\r\n", self.code, self.enhanced)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        assert_eq!(Reply::new(250, "2.1.0", "Ok").to_string(), "250 2.1.0 Ok\r\n");
        let multi = Reply { code: 250, enhanced: "", lines: vec!["mx.test".into(), "PIPELINING".into()] };
        assert_eq!(multi.to_string(), "250-mx.test\r\n250 PIPELINING\r\n");
        assert_eq!(Reply::new(550, "5.1.1", "a\r\nb").to_string(), "550 5.1.1 a  b\r\n");
    }
}
