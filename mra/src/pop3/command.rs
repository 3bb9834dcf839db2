//! POP3 command lines (RFC 1939 §3, RFC 2449, RFC 2595, RFC 5034) parsed into [`Command`]s.
//!
//! A line arrives without its CRLF. Keywords are case-insensitive; arguments are separated by
//! single spaces (runs of spaces are tolerated). PASS takes the rest of the line, spaces and
//! all, since passwords may contain them (RFC 1939 §7 leaves it to the server; Dovecot does the
//! same). Message numbers are decimal, at least 1; their range is the session's business.

use proto::Secret;

/// Longest command line we accept, CRLF excluded. RFC 2449 §4 allows 255 octets for
/// arguments; AUTH initial responses and long passwords need more.
pub const MAX_LINE: usize = 8192;

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name`.
    User(String),
    /// `PASS password` (rest of the line).
    Pass(Secret),
    /// `AUTH [mechanism [initial-response]]`; without a mechanism, list them.
    Auth {
        /// The mechanism name as sent.
        mechanism: Option<String>,
        /// The initial response, still base64 (or `=`).
        initial: Option<String>,
    },
    /// `CAPA`.
    Capa,
    /// `STLS`.
    Stls,
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `UIDL [msg]`.
    Uidl(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `TOP msg lines`.
    Top(u32, u64),
    /// `DELE msg`.
    Dele(u32),
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
}

/// Why a line is not a command we can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// An empty line.
    Empty,
    /// A keyword we do not know (as sent, truncated for the reply).
    Unknown(String),
    /// A known command with wrong arguments; the text says what is expected.
    Syntax(&'static str),
    /// Bytes that are not UTF-8 text, or control characters.
    NotText,
}

/// Parses one command line (without CRLF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotText)?;
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ParseError::NotText);
    }
    let line = line.trim_start_matches(' ');
    let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
    if keyword.is_empty() {
        return Err(ParseError::Empty);
    }
    let args: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
    let none = |c: Command| if args.is_empty() { Ok(c) } else { Err(ParseError::Syntax("no arguments")) };
    match keyword.to_ascii_uppercase().as_str() {
        "USER" => match args[..] {
            [name] => Ok(Command::User(name.to_string())),
            _ => Err(ParseError::Syntax("USER <name>")),
        },
        "PASS" if !rest.is_empty() => Ok(Command::Pass(Secret::new(rest))),
        "PASS" => Err(ParseError::Syntax("PASS <password>")),
        "AUTH" => match args[..] {
            [] => Ok(Command::Auth { mechanism: None, initial: None }),
            [m] => Ok(Command::Auth { mechanism: Some(m.to_string()), initial: None }),
            [m, i] => Ok(Command::Auth { mechanism: Some(m.to_string()), initial: Some(i.to_string()) }),
            _ => Err(ParseError::Syntax("AUTH <mechanism> [<initial response>]")),
        },
        "CAPA" => none(Command::Capa),
        "STLS" => none(Command::Stls),
        "STAT" => none(Command::Stat),
        "RSET" => none(Command::Rset),
        "NOOP" => none(Command::Noop),
        "QUIT" => none(Command::Quit),
        "LIST" => optional_number(&args, "LIST [<message>]").map(Command::List),
        "UIDL" => optional_number(&args, "UIDL [<message>]").map(Command::Uidl),
        "RETR" => one_number(&args, "RETR <message>").map(Command::Retr),
        "DELE" => one_number(&args, "DELE <message>").map(Command::Dele),
        "TOP" => match args[..] {
            [n, lines] => match (number(n), lines.parse::<u64>()) {
                (Some(n), Ok(l)) if lines.bytes().all(|b| b.is_ascii_digit()) => Ok(Command::Top(n, l)),
                _ => Err(ParseError::Syntax("TOP <message> <lines>")),
            },
            _ => Err(ParseError::Syntax("TOP <message> <lines>")),
        },
        _ => Err(ParseError::Unknown(keyword.chars().take(32).collect())),
    }
}

/// A message number: decimal digits only, 1..=u32::MAX.
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n > 0)
}

fn optional_number(args: &[&str], usage: &'static str) -> Result<Option<u32>, ParseError> {
    match args {
        [] => Ok(None),
        [n] => number(n).map(Some).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    }
}

fn one_number(args: &[&str], usage: &'static str) -> Result<u32, ParseError> {
    match args {
        [n] => number(n).ok_or(ParseError::Syntax(usage)),
        _ => Err(ParseError::Syntax(usage)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        use Command::*;
        let auth = |m: Option<&str>, i: Option<&str>| Auth {
            mechanism: m.map(String::from),
            initial: i.map(String::from),
        };
        for (line, want) in [
            ("USER bob@b.test", Ok(User("bob@b.test".into()))),
            ("user bob", Ok(User("bob".into()))),
            ("PASS secret with spaces ", Ok(Pass(Secret::new("secret with spaces ")))),
            ("PASS", Err(ParseError::Syntax("PASS <password>"))),
            ("USER", Err(ParseError::Syntax("USER <name>"))),
            ("USER a b", Err(ParseError::Syntax("USER <name>"))),
            ("AUTH", Ok(auth(None, None))),
            ("AUTH PLAIN", Ok(auth(Some("PLAIN"), None))),
            ("AUTH PLAIN AGJvYgBwdw==", Ok(auth(Some("PLAIN"), Some("AGJvYgBwdw==")))),
            ("capa", Ok(Capa)),
            ("STLS", Ok(Stls)),
            ("STAT", Ok(Stat)),
            ("STAT 1", Err(ParseError::Syntax("no arguments"))),
            ("LIST", Ok(List(None))),
            ("LIST 3", Ok(List(Some(3)))),
            ("list  3", Ok(List(Some(3)))),
            ("LIST 0", Err(ParseError::Syntax("LIST [<message>]"))),
            ("LIST -1", Err(ParseError::Syntax("LIST [<message>]"))),
            ("LIST +1", Err(ParseError::Syntax("LIST [<message>]"))),
            ("LIST 99999999999", Err(ParseError::Syntax("LIST [<message>]"))),
            ("UIDL", Ok(Uidl(None))),
            ("UIDL 2", Ok(Uidl(Some(2)))),
            ("RETR 1", Ok(Retr(1))),
            ("RETR", Err(ParseError::Syntax("RETR <message>"))),
            ("RETR x", Err(ParseError::Syntax("RETR <message>"))),
            ("TOP 1 0", Ok(Top(1, 0))),
            ("TOP 1 10", Ok(Top(1, 10))),
            ("TOP 1", Err(ParseError::Syntax("TOP <message> <lines>"))),
            ("TOP 1 -5", Err(ParseError::Syntax("TOP <message> <lines>"))),
            ("DELE 4", Ok(Dele(4))),
            ("RSET", Ok(Rset)),
            ("NOOP", Ok(Noop)),
            ("QUIT", Ok(Quit)),
            ("", Err(ParseError::Empty)),
            ("   ", Err(ParseError::Empty)),
            ("APOP bob 1234", Err(ParseError::Unknown("APOP".into()))),
            ("XYZZY", Err(ParseError::Unknown("XYZZY".into()))),
            ("USER bob\0", Err(ParseError::NotText)),
            ("NOOP\r", Err(ParseError::NotText)),
        ] {
            assert_eq!(parse(line.as_bytes()), want, "{line:?}");
        }
        assert_eq!(parse(b"USER \xff"), Err(ParseError::NotText));
    }
}
