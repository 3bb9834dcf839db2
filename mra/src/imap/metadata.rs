//! GETMETADATA and SETMETADATA (RFC 5464 §4) as typed commands, from [`args`] arguments.

use super::args::Arg;

/// How far below each named entry GETMETADATA looks (RFC 5464 §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// The entry itself.
    #[default]
    Zero,
    /// And its children.
    One,
    /// And everything below it.
    Infinity,
}

/// `GETMETADATA [(MAXSIZE n DEPTH d)] mailbox entry-or-list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Get {
    /// The mailbox name as sent (`""` for the server).
    pub mailbox: Vec<u8>,
    /// The entry names asked for.
    pub entries: Vec<String>,
    /// MAXSIZE: values larger are left out (and counted in `[METADATA LONGENTRIES n]`).
    pub max_size: Option<u64>,
    /// DEPTH.
    pub depth: Depth,
}

/// `SETMETADATA mailbox (entry value ...)`: `None` removes the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// The mailbox name as sent (`""` for the server).
    pub mailbox: Vec<u8>,
    /// Each entry and its new value.
    pub entries: Vec<(String, Option<Vec<u8>>)>,
}

/// Reads GETMETADATA's arguments.
pub fn parse_get(args: &[Arg]) -> Result<Get, &'static str> {
    let (options, rest) = match args {
        [Arg::List(o), rest @ ..] if rest.len() == 2 => (o.as_slice(), rest),
        rest => (&[][..], rest),
    };
    let [mailbox, entries] = rest else { return Err("Expected a mailbox and entries") };
    let mut get = Get {
        mailbox: mailbox.astring().ok_or("Invalid mailbox name")?.to_vec(),
        entries: Vec::new(),
        max_size: None,
        depth: Depth::Zero,
    };
    let mut options = options.iter();
    while let Some(name) = options.next() {
        let value = options.next().and_then(Arg::keyword).ok_or("Option without a value")?;
        match name.keyword().as_deref() {
            Some("MAXSIZE") => get.max_size = Some(value.parse().map_err(|_| "Invalid MAXSIZE")?),
            Some("DEPTH") => {
                get.depth = match value.as_str() {
                    "0" => Depth::Zero,
                    "1" => Depth::One,
                    "INFINITY" => Depth::Infinity,
                    _ => return Err("DEPTH is 0, 1 or infinity"),
                }
            }
            _ => return Err("Unknown GETMETADATA option"),
        }
    }
    let names = match entries {
        Arg::List(l) if !l.is_empty() => l.as_slice(),
        Arg::List(_) => return Err("No entry names"),
        one => std::slice::from_ref(one),
    };
    for n in names {
        get.entries.push(entry_name(n)?);
    }
    Ok(get)
}

/// Reads SETMETADATA's arguments.
pub fn parse_set(args: &[Arg]) -> Result<Set, &'static str> {
    let [mailbox, Arg::List(pairs)] = args else { return Err("Expected a mailbox and (entry value ...)") };
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err("Expected (entry value ...)");
    }
    let mut set =
        Set { mailbox: mailbox.astring().ok_or("Invalid mailbox name")?.to_vec(), entries: Vec::new() };
    for pair in pairs.chunks(2) {
        let value = match &pair[1] {
            Arg::Atom(a) if a.eq_ignore_ascii_case("NIL") => None,
            Arg::Str(s) => Some(s.clone()),
            _ => return Err("A value is a string or NIL"),
        };
        set.entries.push((entry_name(&pair[0])?, value));
    }
    Ok(set)
}

fn entry_name(a: &Arg) -> Result<String, &'static str> {
    let bytes = a.astring().ok_or("Invalid entry name")?;
    String::from_utf8(bytes.to_vec()).map_err(|_| "Invalid entry name")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::args;

    fn args_of(cmd: &str) -> Vec<Arg> {
        args::after_name(cmd.as_bytes(), 1).unwrap().into_iter().map(|(a, _)| a).collect()
    }

    #[test]
    fn get_with_and_without_options() {
        let g = parse_get(&args_of("a GETMETADATA \"\" /shared/comment\r\n")).unwrap();
        assert_eq!(
            (g.mailbox.as_slice(), g.entries.as_slice()),
            (&b""[..], &["/shared/comment".to_string()][..])
        );
        assert_eq!((g.max_size, g.depth), (None, Depth::Zero));
        let g = parse_get(&args_of(
            "a GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX (/private/a /shared/b)\r\n",
        ))
        .unwrap();
        assert_eq!((g.max_size, g.depth, g.entries.len()), (Some(1024), Depth::Infinity, 2));
        for bad in [
            "a GETMETADATA INBOX\r\n",
            "a GETMETADATA (DEPTH 2) INBOX /private/a\r\n",
            "a GETMETADATA (SIZE 1) INBOX /private/a\r\n",
            "a GETMETADATA INBOX ()\r\n",
        ] {
            assert!(parse_get(&args_of(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_values_literals_and_nil() {
        let s =
            parse_set(&args_of("a SETMETADATA INBOX (/private/comment {5}\r\nab\r\nc /shared/x NIL)\r\n"))
                .unwrap();
        assert_eq!(
            s.entries,
            vec![
                ("/private/comment".to_string(), Some(b"ab\r\nc".to_vec())),
                ("/shared/x".to_string(), None)
            ]
        );
        for bad in [
            "a SETMETADATA INBOX ()\r\n",
            "a SETMETADATA INBOX (/private/a)\r\n",
            "a SETMETADATA INBOX /private/a v\r\n",
        ] {
            assert!(parse_set(&args_of(bad)).is_err(), "{bad}");
        }
    }
}
