//! RFC 5228 section 8.1: the tokens of a script. Bare LF is accepted like CRLF, as Pigeonhole
//! does, since scripts are edited on Unix.

use crate::error::{Error, Pos};

/// One token with the position of its first character.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Identifier(String),
    Tag(String),
    Number(u64),
    /// A quoted or multi-line string, escapes and dot-stuffing removed.
    String(String),
    Semicolon,
    Comma,
    LeftBracket,
    RightBracket,
    LeftBrace,
    RightBrace,
    LeftParen,
    RightParen,
}

/// The script as tokens, or the first lexical error.
pub fn tokenize(src: &str) -> Result<Vec<(Token, Pos)>, Error> {
    let mut lx = Lexer { src: src.as_bytes(), at: 0, line: 1, col: 1 };
    let mut out = Vec::new();
    while let Some(t) = lx.next()? {
        out.push(t);
    }
    Ok(out)
}

struct Lexer<'a> {
    src: &'a [u8],
    at: usize,
    line: u32,
    col: u32,
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        Pos { line: self.line, col: self.col }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        if c == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if c & 0xC0 != 0x80 {
            self.col += 1;
        }
        Some(c)
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.src[self.at..].starts_with(s)
    }

    fn next(&mut self) -> Result<Option<(Token, Pos)>, Error> {
        loop {
            let pos = self.pos();
            let Some(c) = self.peek() else { return Ok(None) };
            let tok = match c {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.bump();
                    continue;
                }
                b'#' => {
                    while let Some(c) = self.bump() {
                        if c == b'\n' {
                            break;
                        }
                    }
                    continue;
                }
                b'/' if self.starts_with(b"/*") => {
                    self.at += 2;
                    self.col += 2;
                    loop {
                        if self.starts_with(b"*/") {
                            self.at += 2;
                            self.col += 2;
                            break;
                        }
                        if self.bump().is_none() {
                            return Err(Error::at(pos, "unterminated comment"));
                        }
                    }
                    continue;
                }
                b';' => Token::Semicolon,
                b',' => Token::Comma,
                b'[' => Token::LeftBracket,
                b']' => Token::RightBracket,
                b'{' => Token::LeftBrace,
                b'}' => Token::RightBrace,
                b'(' => Token::LeftParen,
                b')' => Token::RightParen,
                b'"' => {
                    self.bump();
                    return Ok(Some((Token::String(self.quoted(pos)?), pos)));
                }
                b':' => {
                    self.bump();
                    let id = self.identifier();
                    if id.is_empty() {
                        return Err(Error::at(pos, "expected a tag name after ':'"));
                    }
                    return Ok(Some((Token::Tag(id.to_ascii_lowercase()), pos)));
                }
                b'0'..=b'9' => return Ok(Some((Token::Number(self.number(pos)?), pos))),
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let id = self.identifier();
                    if id.eq_ignore_ascii_case("text") && self.peek() == Some(b':') {
                        self.bump();
                        return Ok(Some((Token::String(self.multiline(pos)?), pos)));
                    }
                    return Ok(Some((Token::Identifier(id.to_ascii_lowercase()), pos)));
                }
                c => {
                    return Err(Error::at(pos, format!("unexpected character '{}'", c.escape_ascii())));
                }
            };
            self.bump();
            return Ok(Some((tok, pos)));
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.bump();
            } else {
                break;
            }
        }
        String::from_utf8_lossy(&self.src[start..self.at]).into_owned()
    }

    fn number(&mut self, pos: Pos) -> Result<u64, Error> {
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            self.bump();
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| Error::at(pos, "number too large"))?;
        }
        let shift = match self.peek() {
            Some(b'k' | b'K') => 10,
            Some(b'm' | b'M') => 20,
            Some(b'g' | b'G') => 30,
            _ => 0,
        };
        if shift > 0 {
            self.bump();
            n = n.checked_mul(1 << shift).ok_or_else(|| Error::at(pos, "number too large"))?;
        }
        if self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            return Err(Error::at(pos, "invalid number"));
        }
        Ok(n)
    }

    fn quoted(&mut self, pos: Pos) -> Result<String, Error> {
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return Err(Error::at(pos, "unterminated string")),
                Some(b'"') => break,
                // RFC 5228 2.4.2: any backslashed character stands for itself.
                Some(b'\\') => match self.bump() {
                    Some(c) => out.push(c),
                    None => return Err(Error::at(pos, "unterminated string")),
                },
                // Line breaks in strings are CRLF (RFC 5228 2.4.2), whatever the file has.
                Some(b'\n') if out.last() != Some(&b'\r') => out.extend_from_slice(b"\r\n"),
                Some(c) => out.push(c),
            }
        }
        utf8(out, pos)
    }

    /// `text:` up to a line holding only `.`; a leading `..` stands for `.`.
    fn multiline(&mut self, pos: Pos) -> Result<String, Error> {
        while let Some(b' ' | b'\t') = self.peek() {
            self.bump();
        }
        match self.peek() {
            Some(b'#') => {
                while let Some(c) = self.bump() {
                    if c == b'\n' {
                        break;
                    }
                }
            }
            Some(b'\r') if self.src.get(self.at + 1) == Some(&b'\n') => {
                self.bump();
                self.bump();
            }
            Some(b'\n') => {
                self.bump();
            }
            _ => return Err(Error::at(pos, "text: must be followed by a line break")),
        }
        let mut out = Vec::new();
        loop {
            let start = self.at;
            if start >= self.src.len() {
                return Err(Error::at(pos, "unterminated multi-line string"));
            }
            while let Some(c) = self.bump() {
                if c == b'\n' {
                    break;
                }
            }
            let mut line = &self.src[start..self.at];
            let had_nl = line.ends_with(b"\n");
            line = line.strip_suffix(b"\n").unwrap_or(line);
            line = line.strip_suffix(b"\r").unwrap_or(line);
            if line == b"." {
                break;
            }
            if line.starts_with(b".") {
                line = &line[1..];
            }
            out.extend_from_slice(line);
            if !had_nl {
                return Err(Error::at(pos, "unterminated multi-line string"));
            }
            out.extend_from_slice(b"\r\n");
        }
        utf8(out, pos)
    }
}

fn utf8(bytes: Vec<u8>, pos: Pos) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|_| Error::at(pos, "string is not valid UTF-8"))
}

/// `s` as a quoted string (section 2.4.2): `"` and `\` escaped, nothing else changes; what a
/// program writing Sieve (or ManageSieve, whose strings quote alike) needs.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_reads_back() {
        let text = r#"a"b\c é"#;
        assert_eq!(quote(text), r#""a\"b\\c é""#);
        let toks = tokenize(&quote(text)).unwrap();
        assert_eq!(toks[0].0, Token::String(text.to_string()));
    }

    fn toks(s: &str) -> Vec<Token> {
        tokenize(s).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn tokens_and_comments() {
        assert_eq!(
            toks("if header :Is \"a\\\"b\" [\"c\", \"d\"] # x\n/* y\n */ { keep; } 10K"),
            vec![
                Token::Identifier("if".into()),
                Token::Identifier("header".into()),
                Token::Tag("is".into()),
                Token::String("a\"b".into()),
                Token::LeftBracket,
                Token::String("c".into()),
                Token::Comma,
                Token::String("d".into()),
                Token::RightBracket,
                Token::LeftBrace,
                Token::Identifier("keep".into()),
                Token::Semicolon,
                Token::RightBrace,
                Token::Number(10240),
            ]
        );
    }

    #[test]
    fn multiline_dot_stuffing() {
        assert_eq!(
            toks("text: # c\r\nline one\r\n..dot\r\n.\r\n;"),
            vec![Token::String("line one\r\n.dot\r\n".into()), Token::Semicolon]
        );
    }

    #[test]
    fn positions_and_errors() {
        let t = tokenize("keep;\n  stop;").unwrap();
        assert_eq!(t[2].1, Pos { line: 2, col: 3 });
        let e = tokenize("keep;\n \"abc").unwrap_err();
        assert_eq!((e.pos.line, e.pos.col), (2, 2));
        assert!(tokenize("text:\nabc\n").is_err());
        assert!(tokenize("/* open").is_err());
        assert!(tokenize("99999999999999999999").is_err());
        assert!(tokenize("12x").is_err());
    }
}
