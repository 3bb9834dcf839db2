//! ManageSieve commands (RFC 5804 §2, §4): framing and parsing.
//!
//! A command is a line of an atom and arguments, each a quoted string, a literal or a number.
//! Literals (`{N+}` and, from older clients, `{N}`; neither waits for the server) end a line,
//! and the command goes on after their bytes. [`Framer`] sees each line before the literal it
//! announces, so a limit is enforced before the bytes arrive: an oversized literal is read
//! and thrown away, and the command is answered with the refusal. [`parse`] then takes the
//! complete command, literal bytes included.

use crate::imap::command::literal_at_end;

/// The longest command line without its literals.
pub const MAX_LINE: usize = 8 * 1024;
/// The most literal bytes a command other than PUTSCRIPT and CHECKSCRIPT may carry (names,
/// SASL responses).
pub const MAX_OTHER_LITERALS: u64 = 8 * 1024;
/// The longest quoted string (RFC 5804 §4: quoted strings are at most 1024 octets).
pub const MAX_QUOTED: usize = 1024;

/// What the framer needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Read `len` bytes of literal; hand them to [`Framer::literal`] when `keep`, else drop
    /// them. Then go on with the next line.
    Literal {
        /// The literal's length.
        len: u64,
        /// False once the command is refused: the bytes are only skipped.
        keep: bool,
    },
    /// A complete command, literals included (CRLF between the parts, none at the end).
    Command(Vec<u8>),
    /// A complete command that was refused while it arrived.
    Refused(Refusal),
}

/// Why a command was refused before it was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A PUTSCRIPT or CHECKSCRIPT script over the size limit (QUOTA/MAXSIZE).
    ScriptTooLarge,
    /// Another command's literals over [`MAX_OTHER_LITERALS`], or its lines over [`MAX_LINE`].
    TooLong,
}

/// Puts a command together from its lines and literals.
#[derive(Debug)]
pub struct Framer {
    max_script: u64,
    buf: Vec<u8>,
    literals: u64,
    refused: Option<Refusal>,
}

impl Framer {
    /// A framer accepting scripts of up to `max_script` bytes.
    pub fn new(max_script: u64) -> Framer {
        Framer { max_script, buf: Vec::new(), literals: 0, refused: None }
    }

    /// Whether a command has begun (a literal announced, more lines to come).
    pub fn in_command(&self) -> bool {
        !self.buf.is_empty() || self.refused.is_some()
    }

    /// The next line, without its CRLF; `None` (a line over the reader's limit) is refused.
    pub fn line(&mut self, line: Option<&[u8]>) -> Frame {
        let Some(line) = line else {
            self.refused.get_or_insert(Refusal::TooLong);
            // A line too long to read cannot be told to announce a literal: the command ends.
            return self.finish();
        };
        if self.refused.is_none() {
            if self.buf.len() + line.len() > MAX_LINE + self.literals as usize {
                self.refused = Some(Refusal::TooLong);
            } else {
                self.buf.extend_from_slice(line);
            }
        }
        let Some(lit) = literal_at_end(line) else { return self.finish() };
        if self.refused.is_none() {
            let script = is_script_command(&self.buf);
            let limit = if script { self.max_script } else { MAX_OTHER_LITERALS };
            self.literals += lit.len;
            if self.literals > limit {
                self.refused = Some(if script { Refusal::ScriptTooLarge } else { Refusal::TooLong });
            } else {
                self.buf.extend_from_slice(b"\r\n");
            }
        }
        Frame::Literal { len: lit.len, keep: self.refused.is_none() }
    }

    /// The bytes of a literal [`Frame::Literal`] asked to keep.
    pub fn literal(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn finish(&mut self) -> Frame {
        let buf = std::mem::take(&mut self.buf);
        self.literals = 0;
        match self.refused.take() {
            Some(r) => Frame::Refused(r),
            None => Frame::Command(buf),
        }
    }
}

/// Whether the command begun in `buf` carries a script (PUTSCRIPT, CHECKSCRIPT).
fn is_script_command(buf: &[u8]) -> bool {
    let word = buf.split(|&b| b == b' ').next().unwrap_or(b"");
    word.eq_ignore_ascii_case(b"PUTSCRIPT") || word.eq_ignore_ascii_case(b"CHECKSCRIPT")
}

/// A command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `AUTHENTICATE mechanism [initial-response]`.
    Authenticate {
        /// The mechanism's name as sent.
        mechanism: String,
        /// The base64 initial response.
        initial: Option<String>,
    },
    StartTls,
    Logout,
    Capability,
    /// `HAVESPACE name size`.
    HaveSpace(String, u64),
    /// `PUTSCRIPT name script`.
    PutScript(String, String),
    /// `CHECKSCRIPT script`.
    CheckScript(String),
    ListScripts,
    /// `SETACTIVE name` (empty: none active).
    SetActive(String),
    GetScript(String),
    DeleteScript(String),
    /// `RENAMESCRIPT old new`.
    RenameScript(String, String),
    /// `NOOP [tag]`.
    Noop(Option<String>),
    Unauthenticate,
}

impl Command {
    /// The command's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Authenticate { .. } => "AUTHENTICATE",
            Command::StartTls => "STARTTLS",
            Command::Logout => "LOGOUT",
            Command::Capability => "CAPABILITY",
            Command::HaveSpace(..) => "HAVESPACE",
            Command::PutScript(..) => "PUTSCRIPT",
            Command::CheckScript(_) => "CHECKSCRIPT",
            Command::ListScripts => "LISTSCRIPTS",
            Command::SetActive(_) => "SETACTIVE",
            Command::GetScript(_) => "GETSCRIPT",
            Command::DeleteScript(_) => "DELETESCRIPT",
            Command::RenameScript(..) => "RENAMESCRIPT",
            Command::Noop(_) => "NOOP",
            Command::Unauthenticate => "UNAUTHENTICATE",
        }
    }
}

/// Why a command did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// An empty line.
    Empty,
    /// A command name we do not know.
    Unknown(String),
    /// Known command, wrong arguments: the usage.
    Syntax(&'static str),
    /// A string that is not UTF-8.
    NotUtf8,
}

/// One argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A quoted string or a literal.
    Str(Vec<u8>),
    /// A number.
    Number(u64),
    /// Anything else unquoted (the command name).
    Atom(String),
}

/// Splits a complete command into its arguments: atoms, numbers, strings (quoted or literal).
pub fn args(buf: &[u8]) -> Result<Vec<Arg>, &'static str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < buf.len() {
        // Arguments are separated by one space (a trailing one is tolerated).
        if !out.is_empty() {
            if buf[i] != b' ' {
                return Err("missing space between arguments");
            }
            i += 1;
            if i == buf.len() {
                break;
            }
        }
        match buf[i] {
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match buf.get(i) {
                        None | Some(b'\r' | b'\n') => return Err("unterminated quoted string"),
                        Some(b'"') => break,
                        Some(b'\\') => match buf.get(i + 1) {
                            Some(c @ (b'"' | b'\\')) => {
                                s.push(*c);
                                i += 2;
                            }
                            _ => return Err("invalid escape in quoted string"),
                        },
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                if s.len() > MAX_QUOTED {
                    return Err("quoted string too long");
                }
                out.push(Arg::Str(s));
                i += 1;
            }
            b'{' => {
                let end = buf[i..].windows(2).position(|w| w == b"\r\n").ok_or("invalid literal")? + i;
                let lit = literal_at_end(&buf[i..end]).ok_or("invalid literal")?;
                let start = end + 2;
                let stop = start.checked_add(lit.len as usize).ok_or("invalid literal")?;
                let bytes = buf.get(start..stop).ok_or("literal shorter than announced")?;
                out.push(Arg::Str(bytes.to_vec()));
                i = stop;
            }
            _ => {
                let end = buf[i..].iter().position(|&b| b == b' ').map_or(buf.len(), |p| p + i);
                let word = std::str::from_utf8(&buf[i..end]).map_err(|_| "invalid characters")?;
                if word.is_empty() || !word.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err("invalid characters");
                }
                if word.bytes().all(|b| b.is_ascii_digit()) && !out.is_empty() {
                    out.push(Arg::Number(word.parse().map_err(|_| "number too large")?));
                } else {
                    out.push(Arg::Atom(word.to_string()));
                }
                i = end;
            }
        }
    }
    Ok(out)
}

fn string(a: &Arg) -> Result<String, ParseError> {
    match a {
        Arg::Str(s) => String::from_utf8(s.clone()).map_err(|_| ParseError::NotUtf8),
        _ => Err(ParseError::Syntax("")),
    }
}

/// Parses a complete command as [`Framer`] gave it.
pub fn parse(buf: &[u8]) -> Result<Command, ParseError> {
    if buf.iter().all(|&b| b == b' ') {
        return Err(ParseError::Empty);
    }
    let name = buf.split(|&b| b == b' ').next().unwrap_or(b"");
    let name = String::from_utf8_lossy(&name[..name.len().min(32)]).to_ascii_uppercase();
    let usage = usage(&name).ok_or_else(|| ParseError::Unknown(name.clone()))?;
    let syntax = ParseError::Syntax(usage);
    let all = args(buf).map_err(|_| syntax.clone())?;
    let a = &all[1..];
    let s = |i: usize| -> Result<String, ParseError> {
        string(&a[i]).map_err(|e| if e == ParseError::NotUtf8 { e } else { ParseError::Syntax(usage) })
    };
    let cmd = match (name.as_str(), a.len()) {
        ("AUTHENTICATE", 1 | 2) => {
            Command::Authenticate { mechanism: s(0)?, initial: if a.len() == 2 { Some(s(1)?) } else { None } }
        }
        ("STARTTLS", 0) => Command::StartTls,
        ("LOGOUT", 0) => Command::Logout,
        ("CAPABILITY", 0) => Command::Capability,
        ("HAVESPACE", 2) => match a[1] {
            Arg::Number(n) => Command::HaveSpace(s(0)?, n),
            _ => return Err(syntax),
        },
        ("PUTSCRIPT", 2) => Command::PutScript(s(0)?, s(1)?),
        ("CHECKSCRIPT", 1) => Command::CheckScript(s(0)?),
        ("LISTSCRIPTS", 0) => Command::ListScripts,
        ("SETACTIVE", 1) => Command::SetActive(s(0)?),
        ("GETSCRIPT", 1) => Command::GetScript(s(0)?),
        ("DELETESCRIPT", 1) => Command::DeleteScript(s(0)?),
        ("RENAMESCRIPT", 2) => Command::RenameScript(s(0)?, s(1)?),
        ("NOOP", 0) => Command::Noop(None),
        ("NOOP", 1) => Command::Noop(Some(s(0)?)),
        ("UNAUTHENTICATE", 0) => Command::Unauthenticate,
        _ => return Err(syntax),
    };
    Ok(cmd)
}

/// The usage of a known command.
fn usage(name: &str) -> Option<&'static str> {
    Some(match name {
        "AUTHENTICATE" => "AUTHENTICATE \"MECHANISM\" [\"initial response\"]",
        "STARTTLS" => "STARTTLS",
        "LOGOUT" => "LOGOUT",
        "CAPABILITY" => "CAPABILITY",
        "HAVESPACE" => "HAVESPACE \"name\" size",
        "PUTSCRIPT" => "PUTSCRIPT \"name\" {size+} script",
        "CHECKSCRIPT" => "CHECKSCRIPT {size+} script",
        "LISTSCRIPTS" => "LISTSCRIPTS",
        "SETACTIVE" => "SETACTIVE \"name\"",
        "GETSCRIPT" => "GETSCRIPT \"name\"",
        "DELETESCRIPT" => "DELETESCRIPT \"name\"",
        "RENAMESCRIPT" => "RENAMESCRIPT \"old\" \"new\"",
        "NOOP" => "NOOP [\"tag\"]",
        "UNAUTHENTICATE" => "UNAUTHENTICATE",
        _ => return None,
    })
}

/// A SASL response line of an AUTHENTICATE exchange: one string (RFC 5804 §2.1).
pub fn sasl_response(buf: &[u8]) -> Result<String, ParseError> {
    match args(buf).map_err(|_| ParseError::Syntax("a string"))?.as_slice() {
        [a @ Arg::Str(_)] => string(a),
        _ => Err(ParseError::Syntax("a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `input` (CRLF lines and literal bytes) like the socket loop does.
    pub fn frame_all(f: &mut Framer, mut input: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(p) = input.windows(2).position(|w| w == b"\r\n") {
            let line = &input[..p];
            input = &input[p + 2..];
            let too_long = line.len() > MAX_LINE;
            match f.line(if too_long { None } else { Some(line) }) {
                Frame::Literal { len, keep } => {
                    let (lit, rest) = input.split_at(len as usize);
                    if keep {
                        f.literal(lit);
                    }
                    input = rest;
                }
                done => out.push(done),
            }
        }
        out
    }

    #[test]
    fn quoted_literal_number() {
        let mut f = Framer::new(100);
        let frames = frame_all(
            &mut f,
            b"PUTSCRIPT \"my \\\"x\\\"\" {7+}\r\nkeep;\r\n\r\nHAVESPACE \"a\" 500\r\nputscript {1}\r\nb {3+}\r\nxyz\r\n",
        );
        let cmds: Vec<_> = frames
            .iter()
            .map(|fr| match fr {
                Frame::Command(b) => parse(b).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            cmds,
            vec![
                Command::PutScript("my \"x\"".into(), "keep;\r\n".into()),
                Command::HaveSpace("a".into(), 500),
                Command::PutScript("b".into(), "xyz".into()),
            ]
        );
    }

    #[test]
    fn limits_before_the_bytes() {
        let mut f = Framer::new(10);
        assert_eq!(f.line(Some(b"PUTSCRIPT \"a\" {11+}")), Frame::Literal { len: 11, keep: false });
        assert_eq!(f.line(Some(b"")), Frame::Refused(Refusal::ScriptTooLarge));
        assert_eq!(f.line(Some(b"GETSCRIPT {9000+}")), Frame::Literal { len: 9000, keep: false });
        assert_eq!(f.line(Some(b"")), Frame::Refused(Refusal::TooLong));
        assert_eq!(f.line(None), Frame::Refused(Refusal::TooLong));
        assert_eq!(f.line(Some(b"NOOP")), Frame::Command(b"NOOP".to_vec()));
    }

    #[test]
    fn errors() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"FOO"), Err(ParseError::Unknown("FOO".into())));
        assert!(matches!(parse(b"GETSCRIPT"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"GETSCRIPT \"a"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"GETSCRIPT \"a\"\"b\""), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"HAVESPACE \"a\" \"5\""), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"GETSCRIPT {5+}\r\nab"), Err(ParseError::Syntax(_))));
        assert_eq!(parse(b"GETSCRIPT \"\xff\""), Err(ParseError::NotUtf8));
        assert_eq!(parse(b"logout"), Ok(Command::Logout));
        assert_eq!(parse(b"NOOP \"t1\""), Ok(Command::Noop(Some("t1".into()))));
        assert_eq!(sasl_response(b"\"*\""), Ok("*".into()));
        assert_eq!(sasl_response(b"{4+}\r\nAAAA"), Ok("AAAA".into()));
    }
}
