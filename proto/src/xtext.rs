//! RFC 3461 xtext: how envelope values (addresses, ENVID, ORCPT) are written in DSN parameters
//! (the client) and in mailroom-mta's queue files. Bytes outside `!`..`~`, and `+` and `=`,
//! become `+HH`, so a value never contains a space or a line end.

/// Encode `s` as xtext.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Decode xtext; `None` when malformed or not UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["", "bob@b.test", "\"a b\"@c.test", "x+y=z@d.test", "rfc822;bøb@d.test", "a\r\nb"] {
            let e = encode(s);
            assert!(!e.contains([' ', '\r', '\n']), "{e}");
            assert_eq!(decode(&e).as_deref(), Some(s));
        }
        assert_eq!(encode("a+b"), "a+2Bb");
        assert_eq!(decode("+4"), None);
        assert_eq!(decode("+ZZ"), None);
    }
}
