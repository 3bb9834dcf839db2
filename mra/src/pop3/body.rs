//! A message as RETR and TOP send it (RFC 1939 §3): CRLF line ends, every line that starts with
//! `.` stuffed with another `.`, then the terminating `.` line. TOP sends the header, the blank
//! line and the first N body lines.
//!
//! Stored messages have LF line ends (Dovecot's `mail_save_crlf = no`, what mailroom-mda
//! writes) or CRLF (other writers); both come out as CRLF. The encoder is fed the file in
//! chunks of any size and keeps its state between them.

/// Streams one message into wire form.
#[derive(Debug, Clone)]
pub struct Encoder {
    line_start: bool,
    prev_cr: bool,
    in_header: bool,
    empty_line: bool,
    body_lines_left: Option<u64>,
    done: bool,
}

impl Encoder {
    /// For RETR (`top` = None) or TOP with `top` body lines.
    pub fn new(top: Option<u64>) -> Encoder {
        Encoder {
            line_start: true,
            prev_cr: false,
            in_header: true,
            empty_line: true,
            body_lines_left: top,
            done: false,
        }
    }

    /// Whether TOP has sent all it should: the rest of the file need not be read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Appends the wire form of `chunk` to `out`. Works a line at a time (a search for LF and
    /// one copy per line), not a byte at a time: RETR throughput depends on it.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 32 + 8);
        let mut rest = chunk;
        while !rest.is_empty() && !self.done {
            if self.line_start && rest[0] == b'.' {
                out.push(b'.');
            }
            let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                // A partial line: its end comes with the next chunk.
                out.extend_from_slice(rest);
                self.note_content(rest);
                return;
            };
            let line = &rest[..lf];
            out.extend_from_slice(line);
            self.note_content(line);
            if !self.prev_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
            self.end_line();
            rest = &rest[lf + 1..];
        }
    }

    /// Records that `bytes` (no LF among them) were part of the current line.
    fn note_content(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else { return };
        self.prev_cr = last == b'\r';
        self.line_start = false;
        // Only the header's end (an empty line, CRs aside) matters for TOP.
        if self.in_header && self.empty_line && bytes.iter().any(|&b| b != b'\r') {
            self.empty_line = false;
        }
    }

    fn end_line(&mut self) {
        let was_empty = self.empty_line;
        self.line_start = true;
        self.prev_cr = false;
        self.empty_line = true;
        if self.in_header {
            self.in_header = !was_empty;
            if !self.in_header && self.body_lines_left == Some(0) {
                self.done = true;
            }
            return;
        }
        if let Some(n) = self.body_lines_left.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.done = true;
            }
        }
    }

    /// Ends the message: a CRLF if the last line had none, then `.` CRLF.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.line_start {
            if !self.prev_cr {
                out.push(b'\r');
            }
            out.push(b'\n');
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// The whole wire form of `message` (for tests and small messages).
pub fn encode(message: &[u8], top: Option<u64>) -> Vec<u8> {
    let mut e = Encoder::new(top);
    let mut out = Vec::new();
    e.feed(message, &mut out);
    e.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Subject: x\n\n.dot\nline 2\r\nline 3\n..two\n";

    #[test]
    fn retr_is_crlf_and_stuffed() {
        assert_eq!(encode(MSG, None), b"Subject: x\r\n\r\n..dot\r\nline 2\r\nline 3\r\n...two\r\n.\r\n");
        assert_eq!(encode(b"no final newline", None), b"no final newline\r\n.\r\n");
        assert_eq!(encode(b"", None), b".\r\n");
        assert_eq!(encode(b"a\rb\n", None), b"a\rb\r\n.\r\n");
        assert_eq!(encode(b"cr end\r", None), b"cr end\r\n.\r\n");
    }

    #[test]
    fn top_counts_body_lines() {
        assert_eq!(encode(MSG, Some(0)), b"Subject: x\r\n\r\n.\r\n");
        assert_eq!(encode(MSG, Some(2)), b"Subject: x\r\n\r\n..dot\r\nline 2\r\n.\r\n");
        assert_eq!(encode(MSG, Some(100)), encode(MSG, None));
        assert_eq!(encode(b"H: 1\r\n\r\nbody\r\n", Some(0)), b"H: 1\r\n\r\n.\r\n");
        assert_eq!(encode(b"H: only header", Some(0)), b"H: only header\r\n.\r\n");
    }

    #[test]
    fn any_chunking_gives_the_same_bytes() {
        for top in [None, Some(0), Some(1), Some(3)] {
            let whole = encode(MSG, top);
            for size in 1..MSG.len() {
                let mut e = Encoder::new(top);
                let mut out = Vec::new();
                for chunk in MSG.chunks(size) {
                    e.feed(chunk, &mut out);
                }
                e.finish(&mut out);
                assert_eq!(out, whole, "chunks of {size}, top {top:?}");
            }
        }
    }
}
