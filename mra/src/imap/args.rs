//! A reader for the arguments of the commands imap-codec 1.0 cannot parse (LIST-EXTENDED,
//! SEARCH RETURN, STATUS SIZE): atoms, strings (quoted or literal) and parenthesised lists as
//! RFC 3501 §4 and RFC 9051 §4 write them, nothing more. The framing has already read the whole
//! command, literals included; a literal's bytes follow its `{n}` CRLF here.

use std::ops::Range;

/// One argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// An atom (also `NIL`, numbers, sequence sets, `\Flags`, patterns with `%` and `*`).
    Atom(String),
    /// A quoted string or a literal, its content.
    Str(Vec<u8>),
    /// `( ... )`.
    List(Vec<Arg>),
}

impl Arg {
    /// The atom, upper-cased, for keyword comparison.
    pub fn keyword(&self) -> Option<String> {
        match self {
            Arg::Atom(a) => Some(a.to_ascii_uppercase()),
            _ => None,
        }
    }

    /// The bytes of an astring (an atom or a string).
    pub fn astring(&self) -> Option<&[u8]> {
        match self {
            Arg::Atom(a) => Some(a.as_bytes()),
            Arg::Str(s) => Some(s),
            Arg::List(_) => None,
        }
    }
}

/// Why the arguments could not be read.
pub type Error = &'static str;

/// Deepest nesting of lists we accept.
const MAX_DEPTH: usize = 8;

/// The arguments of a complete command (`buf` ends with CRLF) after its tag and the `words`
/// words of its name (2 for `UID SEARCH`), each with its byte range in `buf`.
pub fn after_name(buf: &[u8], words: usize) -> Result<Vec<(Arg, Range<usize>)>, Error> {
    read(buf, words).map(|r| r.args)
}

/// The offsets in `buf` of every `$` atom of the arguments (SEARCHRES's saved result, RFC
/// 5182), in the order [`after_name`] meets them.
pub fn dollars(buf: &[u8], words: usize) -> Result<Vec<usize>, Error> {
    read(buf, words).map(|r| r.dollars)
}

/// The offsets in `buf` of every atom `MODSEQ` (any case) of the arguments (RFC 7162's search
/// key), in the order [`after_name`] meets them.
pub fn modseq_atoms(buf: &[u8], words: usize) -> Result<Vec<usize>, Error> {
    read(buf, words).map(|r| r.modseqs)
}

/// The `n` arguments (separated by single spaces) from offset `at` of a complete command, and
/// the offset after them.
pub fn read_at(buf: &[u8], at: usize, n: usize) -> Result<(Vec<Arg>, usize), Error> {
    let body = buf.strip_suffix(b"\r\n").ok_or("Missing CRLF")?;
    let mut r = Reader { buf: body, at, dollars: Vec::new(), modseqs: Vec::new() };
    let mut args = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            r.expect(b' ')?;
        }
        args.push(r.arg(0)?);
    }
    Ok((args, r.at))
}

struct Read {
    args: Vec<(Arg, Range<usize>)>,
    dollars: Vec<usize>,
    modseqs: Vec<usize>,
}

fn read(buf: &[u8], words: usize) -> Result<Read, Error> {
    let body = buf.strip_suffix(b"\r\n").ok_or("Missing CRLF")?;
    let mut at = 0;
    for _ in 0..=words {
        match body[at..].iter().position(|&b| b == b' ') {
            Some(sp) => at += sp + 1,
            None => return Ok(Read { args: Vec::new(), dollars: Vec::new(), modseqs: Vec::new() }),
        }
    }
    let mut r = Reader { buf: body, at, dollars: Vec::new(), modseqs: Vec::new() };
    let mut args = Vec::new();
    while r.at < body.len() {
        if !args.is_empty() {
            r.expect(b' ')?;
        }
        let start = r.at;
        let arg = r.arg(0)?;
        args.push((arg, start..r.at));
    }
    Ok(Read { args, dollars: r.dollars, modseqs: r.modseqs })
}

/// The arguments alone, without their ranges.
pub fn plain(args: Vec<(Arg, Range<usize>)>) -> Vec<Arg> {
    args.into_iter().map(|(a, _)| a).collect()
}

struct Reader<'b> {
    buf: &'b [u8],
    at: usize,
    /// Where each `$` atom starts.
    dollars: Vec<usize>,
    /// Where each `MODSEQ` atom starts.
    modseqs: Vec<usize>,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.at).copied()
    }

    fn expect(&mut self, b: u8) -> Result<(), Error> {
        if self.peek() != Some(b) {
            return Err(if b == b')' { "Missing ')'" } else { "Invalid arguments" });
        }
        self.at += 1;
        Ok(())
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, Error> {
        match self.peek() {
            Some(b'(') => self.list(depth),
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            Some(b'~') if self.buf.get(self.at + 1) == Some(&b'{') => {
                self.at += 1;
                self.literal()
            }
            Some(_) => self.atom(),
            None => Err("Missing argument"),
        }
    }

    fn list(&mut self, depth: usize) -> Result<Arg, Error> {
        if depth >= MAX_DEPTH {
            return Err("Lists nested too deep");
        }
        self.at += 1;
        let mut items = Vec::new();
        while self.peek() != Some(b')') {
            if self.peek().is_none() {
                return Err("Missing ')'");
            }
            if !items.is_empty() {
                self.expect(b' ')?;
            }
            items.push(self.arg(depth + 1)?);
        }
        self.at += 1;
        Ok(Arg::List(items))
    }

    fn quoted(&mut self) -> Result<Arg, Error> {
        self.at += 1;
        let mut s = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n' | 0) => return Err("Unterminated quoted string"),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Arg::Str(s));
                }
                Some(b'\\') => match self.buf.get(self.at + 1) {
                    Some(&c @ (b'"' | b'\\')) => {
                        s.push(c);
                        self.at += 2;
                    }
                    _ => return Err("Invalid escape in quoted string"),
                },
                Some(c) => {
                    s.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Arg, Error> {
        let close = self.buf[self.at..].iter().position(|&b| b == b'}').ok_or("Invalid literal")?;
        let spec = &self.buf[self.at + 1..self.at + close];
        let digits = spec.strip_suffix(b"+").or_else(|| spec.strip_suffix(b"-")).unwrap_or(spec);
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return Err("Invalid literal");
        }
        let len: usize =
            std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).ok_or("Invalid literal")?;
        self.at += close + 1;
        if !self.buf[self.at..].starts_with(b"\r\n") {
            return Err("Invalid literal");
        }
        self.at += 2;
        let end = self.at.checked_add(len).filter(|&e| e <= self.buf.len()).ok_or("Literal too short")?;
        let s = self.buf[self.at..end].to_vec();
        self.at = end;
        Ok(Arg::Str(s))
    }

    fn atom(&mut self) -> Result<Arg, Error> {
        let start = self.at;
        while let Some(c) = self.peek() {
            if !is_atom_char(c) {
                break;
            }
            self.at += 1;
        }
        if self.at == start {
            return Err("Invalid arguments");
        }
        if &self.buf[start..self.at] == b"$" {
            self.dollars.push(start);
        }
        if self.buf[start..self.at].eq_ignore_ascii_case(b"MODSEQ") {
            self.modseqs.push(start);
        }
        Ok(Arg::Atom(String::from_utf8_lossy(&self.buf[start..self.at]).into_owned()))
    }
}

/// ATOM-CHAR, plus what list-mailbox, flags and sequence sets add (`%`, `*`, `\`, `]`).
fn is_atom_char(c: u8) -> bool {
    c.is_ascii_graphic() && !b"(){\"".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &str, words: usize) -> Result<Vec<Arg>, Error> {
        after_name(cmd.as_bytes(), words).map(plain)
    }

    fn atom(s: &str) -> Arg {
        Arg::Atom(s.into())
    }

    #[test]
    fn atoms_strings_lists_literals() {
        let got = args("a LIST (SUBSCRIBED) \"\" (% \"a b\") RETURN ()\r\n", 1).unwrap();
        assert_eq!(
            got,
            [
                Arg::List(vec![atom("SUBSCRIBED")]),
                Arg::Str(vec![]),
                Arg::List(vec![atom("%"), Arg::Str(b"a b".to_vec())]),
                atom("RETURN"),
                Arg::List(vec![])
            ]
        );
        let got = args("a UID SEARCH RETURN (MIN) SUBJECT {3}\r\nx\"y\r\n", 2).unwrap();
        assert_eq!(got[2], atom("SUBJECT"));
        assert_eq!(got[3], Arg::Str(b"x\"y".to_vec()));
        assert_eq!(args("a STATUS \"q\\\"\\\\\" (SIZE)\r\n", 1).unwrap()[0], Arg::Str(b"q\"\\".to_vec()));
        assert_eq!(args("a APPEND x ~{2}\r\n\0b\r\n", 1).unwrap()[1], Arg::Str(b"\0b".to_vec()));
        assert_eq!(args("a NOOP\r\n", 1).unwrap(), []);
    }

    #[test]
    fn ranges_point_into_the_buffer() {
        let buf = b"t SEARCH RETURN (ALL) ALL\r\n";
        let a = after_name(buf, 1).unwrap();
        assert_eq!(&buf[a[1].1.clone()], b"(ALL)");
    }

    #[test]
    fn malformed_arguments() {
        for bad in [
            "a LIST (SUBSCRIBED\r\n",
            "a LIST \"open\r\n",
            "a LIST  x\r\n",
            "a LIST x \r\n",
            "a LIST \"\\x\"\r\n",
            "a LIST {5}\r\nab\r\n",
            "a LIST {x}\r\nab\r\n",
            "a LIST ((((((((((x))))))))))\r\n",
            "a LIST )\r\n",
            "a LIST x",
        ] {
            assert!(args(bad, 1).is_err(), "{bad:?}");
        }
    }
}
