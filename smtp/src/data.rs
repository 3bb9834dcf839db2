//! Message content decoders: DATA (RFC 5321 §4.1.1.4, §4.5.2) and BDAT chunks (RFC 3030).
//!
//! Only `<CR><LF>.<CR><LF>` ends DATA. The DATA decoder is hand-written because smtp-proto's
//! receiver starts without the DATA line's CRLF (an empty message or a stuffed first line is
//! misread) and accepts `<CR><LF>.<CR><CR>...<LF>` as the end; an end marker that Postfix would
//! not see is a smuggling risk (protocols.md §7).
//!
//! Both decoders hand out content whose line ends are CRLF only, whatever the client sent, so
//! nothing we store or relay can carry a bare CR or LF (DESIGN.md §6): a bare LF becomes CRLF
//! (Postfix 3.9 `smtpd_forbid_bare_newline = normalize`), a bare CR becomes a space (Postfix
//! `cleanup_replace_stray_cr_lf`). They remember the first bare character they met, so the
//! session can refuse the message instead ([`BareLf::Reject`]).

use crate::reply::Reply;

/// What to do with message content that holds a bare LF or CR (Postfix 3.9
/// `smtpd_forbid_bare_newline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BareLf {
    /// Accept it: a bare LF ends a line as CRLF would (but never ends DATA), a bare CR becomes
    /// a space.
    #[default]
    Normalize,
    /// Read to the real end of the content, then refuse the message with 550 5.5.2.
    Reject,
}

/// A line-end character that was not part of a CRLF pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bare {
    /// LF without a CR before it.
    Lf,
    /// CR without an LF after it.
    Cr,
}

impl Bare {
    /// The refusal in [`BareLf::Reject`] mode, in Postfix's words.
    pub fn reply(self) -> Reply {
        let what = match self {
            Bare::Lf => "<LF>",
            Bare::Cr => "<CR>",
        };
        Reply::new(550, "5.5.2", format!("Error: bare {what} received"))
    }
}

/// Where in a line the DATA decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Just after CRLF (or the DATA command): a `.` here is stuffing or the end marker.
    LineStart,
    /// Just after a bare LF: a `.` here is stuffing, but `.CRLF` is not the end.
    BareLineStart,
    /// Inside a line.
    Line,
    /// After a CR, held back until we know whether LF follows.
    Cr,
    /// A line that began with `.`: the dot is dropped.
    Dot,
    /// `.` then CR at a line start: the end, if LF follows.
    DotCr,
}

/// Incremental DATA decoder: dot-unstuffing, the end marker, CRLF-only line ends.
#[derive(Debug, Clone)]
pub struct DataDecoder {
    state: State,
    bare: Option<Bare>,
}

impl Default for DataDecoder {
    fn default() -> Self {
        DataDecoder { state: State::LineStart, bare: None }
    }
}

impl DataDecoder {
    /// Decode from `input` into `out`; returns the bytes consumed and whether the end marker
    /// was reached (everything after it is left unconsumed: pipelined commands).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        for (i, &b) in input.iter().enumerate() {
            self.state = match (self.state, b) {
                (State::LineStart, b'.') => State::Dot,
                (State::BareLineStart, b'.') => State::Line,
                (State::Dot, b'\r') => State::DotCr,
                (State::DotCr, b'\n') => {
                    self.state = State::LineStart;
                    return (i + 1, true);
                }
                (State::Cr, b'\n') => {
                    out.extend_from_slice(b"\r\n");
                    State::LineStart
                }
                (State::Cr | State::DotCr, _) => {
                    // The held CR had no LF after it (the stuffing dot before it stays dropped).
                    stray(&mut self.bare, Bare::Cr, out);
                    self.line_byte(b, out)
                }
                (_, _) => self.line_byte(b, out),
            };
        }
        (input.len(), false)
    }

    /// The first bare CR or LF met so far.
    pub fn bare(&self) -> Option<Bare> {
        self.bare
    }

    fn line_byte(&mut self, b: u8, out: &mut Vec<u8>) -> State {
        match b {
            b'\r' => State::Cr,
            b'\n' => {
                stray(&mut self.bare, Bare::Lf, out);
                State::BareLineStart
            }
            _ => {
                out.push(b);
                State::Line
            }
        }
    }
}

/// Line-end normaliser for BDAT content (no stuffing, no end marker), carried across chunks so
/// a CRLF split between two chunks stays one line end.
#[derive(Debug, Clone, Default)]
pub struct ChunkDecoder {
    /// The last byte seen was a CR, not yet written.
    cr: bool,
    bare: Option<Bare>,
}

impl ChunkDecoder {
    /// Normalise `input` (all of it) into `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            match (self.cr, b) {
                (true, b'\n') => {
                    out.extend_from_slice(b"\r\n");
                    self.cr = false;
                    continue;
                }
                (true, _) => stray(&mut self.bare, Bare::Cr, out),
                (false, _) => {}
            }
            self.cr = b == b'\r';
            match b {
                b'\r' => {}
                b'\n' => stray(&mut self.bare, Bare::Lf, out),
                _ => out.push(b),
            }
        }
    }

    /// The content is complete (after BDAT LAST): a CR still held back was a bare one.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.cr) {
            stray(&mut self.bare, Bare::Cr, out);
        }
    }

    /// The first bare CR or LF met so far.
    pub fn bare(&self) -> Option<Bare> {
        self.bare
    }
}

/// Record a bare character and write its replacement: CRLF for LF, a space for CR.
fn stray(seen: &mut Option<Bare>, bare: Bare, out: &mut Vec<u8>) {
    seen.get_or_insert(bare);
    match bare {
        Bare::Lf => out.extend_from_slice(b"\r\n"),
        Bare::Cr => out.push(b' '),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode in chunks of `n` bytes; the body, what followed the end marker, the first bare
    /// character.
    fn decode(input: &[u8], n: usize) -> Option<(Vec<u8>, Vec<u8>, Option<Bare>)> {
        let mut d = DataDecoder::default();
        let mut out = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let end = (at + n).min(input.len());
            let (used, done) = d.decode(&input[at..end], &mut out);
            at += used;
            if done {
                return Some((out, input[at..].to_vec(), d.bare()));
            }
        }
        None
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_in_any_chunking() {
        use Bare::{Cr, Lf};
        // (input, Some((body, what follows the end marker, first bare)) or None: never ends)
        type Case<'a> = (&'a [u8], Option<(&'a [u8], &'a [u8], Option<Bare>)>);
        let cases: &[Case] = &[
            (b".\r\nQUIT\r\n", Some((b"", b"QUIT\r\n", None))),
            (b"a\r\n.\r\n", Some((b"a\r\n", b"", None))),
            (b"..x\r\n.\r\n", Some((b".x\r\n", b"", None))),
            (b"a\r\n..\r\nb\r\n.\r\nNOOP", Some((b"a\r\n.\r\nb\r\n", b"NOOP", None))),
            // Smuggling attempts (protocols.md §7): none ends the body, all come out CRLF-only.
            (b"a\n.\nb\r\n.\r\n", Some((b"a\r\n\r\nb\r\n", b"", Some(Lf)))),
            (b"a\r\n.\nb\r\n.\r\n", Some((b"a\r\n\r\nb\r\n", b"", Some(Lf)))),
            (b"a\n.\r\nb\r\n.\r\n", Some((b"a\r\n\r\nb\r\n", b"", Some(Lf)))),
            (b"a\r\n.\r\r\nb\r\n.\r\n", Some((b"a\r\n \r\nb\r\n", b"", Some(Cr)))),
            (b"a\r.\rb\r\n.\r\n", Some((b"a . b\r\n", b"", Some(Cr)))),
            (b"a\r\n.\r.\r\n.\r\n", Some((b"a\r\n .\r\n", b"", Some(Cr)))),
            (b"a\r\n\x00.\r\nb\r\n.\r\n", Some((b"a\r\n\x00.\r\nb\r\n", b"", None))),
            (b"a\r\r\n.\r\n", Some((b"a \r\n", b"", Some(Cr)))),
            // A bare-LF line start still unstuffs, as a client that sends LF lines means it.
            (b"x\n..y\r\n.\r\n", Some((b"x\r\n.y\r\n", b"", Some(Lf)))),
            (b"a\r\n.\r", None),
            (b"no end\r\n", None),
            (b"\n.\n.\r", None),
        ];
        for (input, want) in cases {
            for n in 1..=input.len().max(1) {
                let got = decode(input, n);
                let want = want.map(|(b, r, bare)| (b.to_vec(), r.to_vec(), bare));
                assert_eq!(got, want, "{:?} in chunks of {n}", String::from_utf8_lossy(input));
            }
        }
    }

    #[test]
    fn chunks_normalise_across_boundaries() {
        // (chunks, content, first bare)
        type Case<'a> = (&'a [&'a [u8]], &'a [u8], Option<Bare>);
        let cases: &[Case] = &[
            (&[b"a\r", b"\nb\r\n"], b"a\r\nb\r\n", None),
            (&[b"a\n", b"b"], b"a\r\nb", Some(Bare::Lf)),
            (&[b"a\r", b"b"], b"a b", Some(Bare::Cr)),
            (&[b"a\r"], b"a ", Some(Bare::Cr)),
            (&[b"\r", b"\r", b"\n"], b" \r\n", Some(Bare::Cr)),
            (&[b"", b".\r\n"], b".\r\n", None),
        ];
        for (chunks, want, bare) in cases {
            let mut d = ChunkDecoder::default();
            let mut out = Vec::new();
            for c in *chunks {
                d.decode(c, &mut out);
            }
            d.finish(&mut out);
            assert_eq!((out.as_slice(), d.bare()), (*want, *bare), "{chunks:?}");
        }
    }
}
