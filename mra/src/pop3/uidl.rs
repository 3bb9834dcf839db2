//! UIDLs the way Dovecot makes them from `pop3_uidl_format`, so that a client moved from Dovecot
//! to mailroom-mra sees the same UIDL for every message and downloads nothing again.
//!
//! Dovecot's default is `%08Xu%08Xv`: the UID then the UIDVALIDITY, each as 8 hex digits.
//! Dovecot's `X` modifier writes lower-case hex (`%llx` in its var_expand), and so do we. A UIDL saved in `dovecot-uidlist` (`P` extension, from an earlier migration) wins
//! over the format, as in Dovecot. The format was checked when the config was loaded
//! ([`config::check_uidl_format`]); anything unexpected here is copied literally.

/// What a UIDL may be made of.
#[derive(Debug, Clone, Copy)]
pub struct UidlVars<'a> {
    /// `%u`.
    pub uid: u32,
    /// `%v`.
    pub uidvalidity: u32,
    /// `%f`: the file's base name.
    pub filename: &'a str,
    /// `%g`: the message GUID (the base name for Maildir mail without a `G` record).
    pub guid: &'a str,
}

/// Expands `format` for one message. RFC 1939 limits a UIDL to 70 printable characters
/// (0x21-0x7E); longer or unprintable results are cut and cleaned.
pub fn expand(format: &str, v: &UidlVars<'_>) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit() || **d == 'X' || **d == 'x') {
            spec.push(d);
            chars.next();
        }
        let var = match chars.next() {
            Some('{') => chars.by_ref().take_while(|&c| c != '}').collect::<String>(),
            Some(c) => c.to_string(),
            None => String::new(),
        };
        let number = |n: u32| {
            let hex = spec.contains(['X', 'x']);
            let width: usize = spec.trim_matches(['X', 'x']).trim_start_matches('0').parse().unwrap_or(0);
            let zero = spec.starts_with('0');
            match (hex, zero) {
                (true, true) => format!("{n:0width$x}"),
                (true, false) => format!("{n:width$x}"),
                (false, true) => format!("{n:0width$}"),
                (false, false) => format!("{n:width$}"),
            }
        };
        match var.as_str() {
            "u" | "uid" => out.push_str(&number(v.uid)),
            "v" | "uidvalidity" => out.push_str(&number(v.uidvalidity)),
            "f" | "filename" => out.push_str(v.filename),
            "g" | "guid" => out.push_str(v.guid),
            "%" => out.push('%'),
            other => {
                out.push('%');
                out.push_str(&spec);
                out.push_str(other);
            }
        }
    }
    sanitize(out)
}

/// Keeps a UIDL within RFC 1939 §7: 1-70 characters in 0x21..=0x7E.
pub fn sanitize(uidl: String) -> String {
    if uidl.len() <= 70 && !uidl.is_empty() && uidl.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return uidl;
    }
    let cleaned: String =
        uidl.chars().map(|c| if ('\x21'..='\x7e').contains(&c) { c } else { '_' }).take(70).collect();
    if cleaned.is_empty() { "_".into() } else { cleaned }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: UidlVars<'static> =
        UidlVars { uid: 26, uidvalidity: 1_700_000_000, filename: "1700.M1P2.host,S=5", guid: "g-1" };

    #[test]
    fn dovecot_formats() {
        for (format, want) in [
            ("%08Xu%08Xv", "0000001a6553f100"),
            ("%{uid}%{uidvalidity}", "261700000000"),
            ("%v.%u", "1700000000.26"),
            ("%f", "1700.M1P2.host,S=5"),
            ("%g", "g-1"),
            ("%4u", "__26"),
            ("%04u", "0026"),
            ("%Xu", "1a"),
            ("u%%%u", "u%26"),
        ] {
            assert_eq!(expand(format, &V), want, "{format}");
        }
    }

    #[test]
    fn rfc1939_limits() {
        let long = UidlVars { filename: &"x".repeat(100), ..V };
        assert_eq!(expand("%f", &long).len(), 70);
        let spaced = UidlVars { filename: "a b", ..V };
        assert_eq!(expand("%f", &spaced), "a_b");
    }
}
