//! The DATA body as it goes on the wire (RFC 5321 §4.5.2): dot-stuffed while it streams, every
//! line ended by CRLF, then `.` CRLF. A bare CR or bare LF in the input becomes CRLF: the MTA
//! stores CRLF already, but outbound content must never carry a lone one (DESIGN §6, SMTP
//! smuggling: a receiver that takes `LF . LF` or `CR . CR` as the end would see two messages).
//! No I/O.

/// Where in a line the encoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line: a `.` here is doubled.
    LineStart,
    /// Inside a line.
    Line,
    /// After a CR, not yet knowing whether LF follows.
    Cr,
}

/// Incremental body encoder.
#[derive(Debug, Clone)]
pub struct BodyEncoder {
    state: State,
}

impl Default for BodyEncoder {
    fn default() -> Self {
        BodyEncoder { state: State::LineStart }
    }
}

impl BodyEncoder {
    /// Encode `input` (any part of the message) onto `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 64 + 2);
        for &b in input {
            self.state = match (self.state, b) {
                // CR CR: the first was a line end of its own.
                (State::Cr, b'\r') => {
                    out.extend_from_slice(b"\r\n");
                    State::Cr
                }
                (_, b'\r') => State::Cr,
                // CR LF, or a bare LF: one line end.
                (_, b'\n') => {
                    out.extend_from_slice(b"\r\n");
                    State::LineStart
                }
                (State::Cr, _) => {
                    out.extend_from_slice(b"\r\n");
                    Self::line_byte(State::LineStart, b, out)
                }
                (state, _) => Self::line_byte(state, b, out),
            };
        }
    }

    /// End the body: a last line without its CRLF gets one, then the `.` line.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state != State::LineStart {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        self.state = State::LineStart;
    }

    /// A byte that is not a line end, stuffed when it is a dot at a line start.
    fn line_byte(state: State, b: u8, out: &mut Vec<u8>) -> State {
        if state == State::LineStart && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        State::Line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(input: &[u8], n: usize) -> Vec<u8> {
        let mut e = BodyEncoder::default();
        let mut out = Vec::new();
        for chunk in input.chunks(n.max(1)) {
            e.encode(chunk, &mut out);
        }
        e.finish(&mut out);
        out
    }

    #[test]
    fn stuffed_terminated_and_normalised_in_any_chunking() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b"a\r\n.b\r\n..c\r\n", b"a\r\n..b\r\n...c\r\n.\r\n"),
            (b"a.\r\n. \r\n", b"a.\r\n.. \r\n.\r\n"),
            (b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a\r.\rb\r", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a\r\r\nb\n\n", b"a\r\n\r\nb\r\n\r\n.\r\n"),
            (b"a\n\r.", b"a\r\n\r\n..\r\n.\r\n"),
            (b"\r\n\r\n", b"\r\n\r\n.\r\n"),
            (b"x\x00y\r\n", b"x\x00y\r\n.\r\n"),
        ];
        for (input, want) in cases {
            for n in 1..=input.len().max(1) {
                assert_eq!(
                    encode(input, n).escape_ascii().to_string(),
                    want.escape_ascii().to_string(),
                    "{} in chunks of {n}",
                    input.escape_ascii()
                );
            }
        }
    }

    #[test]
    fn the_server_decodes_what_we_encode() {
        // Round trip through the server side's decoder: the body comes back with CRLF ends.
        let input = b"Subject: x\r\n\r\n.\r\n..two\r\nbare\nlf\r\n.\r\nlast";
        let wire = encode(input, 5);
        let mut decoder = crate::data::DataDecoder::default();
        let mut body = Vec::new();
        let (used, done) = decoder.decode(&wire, &mut body);
        assert!(done && used == wire.len());
        assert_eq!(body, b"Subject: x\r\n\r\n.\r\n..two\r\nbare\r\nlf\r\n.\r\nlast\r\n");
        assert!(!wire.windows(2).any(|w| (w[1] == b'\n') != (w[0] == b'\r')), "only CRLF pairs");
    }
}
