//! The DATA body decoder (RFC 5321 §4.1.1.4, §4.5.2): dot-unstuffing, and only
//! `<CR><LF>.<CR><LF>` ends the body. Hand-written because smtp-proto's receiver starts without
//! the DATA line's CRLF (an empty message or a stuffed first line is misread) and accepts
//! `<CR><LF>.<CR><CR>...<LF>` as the end; an end marker that Postfix would not see is a
//! smuggling risk (protocols.md §7).

/// Where in a line the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Just after CRLF (or the DATA command): a `.` here is stuffing or the end marker.
    LineStart,
    /// Inside a line.
    Line,
    /// After a CR inside a line.
    Cr,
    /// A line that began with `.`: the dot is dropped.
    Dot,
    /// `.` then CR at a line start: the end, if LF follows.
    DotCr,
}

/// Incremental DATA decoder.
#[derive(Debug, Clone)]
pub struct DataDecoder {
    state: State,
}

impl Default for DataDecoder {
    fn default() -> Self {
        DataDecoder { state: State::LineStart }
    }
}

impl DataDecoder {
    /// Decode from `input` into `out`; returns the bytes consumed and whether the end marker
    /// was reached (everything after it is left unconsumed: pipelined commands).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        for (i, &b) in input.iter().enumerate() {
            self.state = match (self.state, b) {
                (State::LineStart, b'.') => State::Dot,
                (State::DotCr, b'\n') => {
                    self.state = State::LineStart;
                    return (i + 1, true);
                }
                (State::DotCr, _) => {
                    // `.\r` then something else: data after all (the dot stays dropped).
                    out.push(b'\r');
                    self.byte(b, out)
                }
                (State::Dot, b'\r') => State::DotCr,
                (_, _) => self.byte(b, out),
            };
        }
        (input.len(), false)
    }

    /// An ordinary data byte: emit it and track line ends.
    fn byte(&self, b: u8, out: &mut Vec<u8>) -> State {
        out.push(b);
        match (self.state, b) {
            (_, b'\r') => State::Cr,
            (State::Cr | State::DotCr, b'\n') => State::LineStart,
            _ => State::Line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode in chunks of `n` bytes; the body, and what followed the end marker.
    fn decode(input: &[u8], n: usize) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut d = DataDecoder::default();
        let mut out = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let end = (at + n).min(input.len());
            let (used, done) = d.decode(&input[at..end], &mut out);
            at += used;
            if done {
                return Some((out, input[at..].to_vec()));
            }
        }
        None
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_in_any_chunking() {
        // (input, Some((body, what follows the end marker)) or None when it never ends)
        type Case<'a> = (&'a [u8], Option<(&'a [u8], &'a [u8])>);
        let cases: &[Case] = &[
            (b".\r\nQUIT\r\n", Some((b"", b"QUIT\r\n"))),
            (b"a\r\n.\r\n", Some((b"a\r\n", b""))),
            (b"..x\r\n.\r\n", Some((b".x\r\n", b""))),
            (b"a\r\n..\r\nb\r\n.\r\nNOOP", Some((b"a\r\n.\r\nb\r\n", b"NOOP"))),
            (b"a\n.\nb\r\n.\r\n", Some((b"a\n.\nb\r\n", b""))),
            (b"a\r\n.\nb\r\n.\r\n", Some((b"a\r\n\nb\r\n", b""))),
            (b"a\n.\r\nb\r\n.\r\n", Some((b"a\n.\r\nb\r\n", b""))),
            (b"a\r\n.\r\r\nb\r\n.\r\n", Some((b"a\r\n\r\r\nb\r\n", b""))),
            (b"a\r.\rb\r\n.\r\n", Some((b"a\r.\rb\r\n", b""))),
            (b"a\r\n\x00.\r\nb\r\n.\r\n", Some((b"a\r\n\x00.\r\nb\r\n", b""))),
            (b"a\r\n.\r", None),
            (b"no end\r\n", None),
        ];
        for (input, want) in cases {
            for n in 1..=input.len().max(1) {
                let got = decode(input, n);
                let want = want.map(|(b, r)| (b.to_vec(), r.to_vec()));
                assert_eq!(got, want, "{:?} in chunks of {n}", String::from_utf8_lossy(input));
            }
        }
    }
}
