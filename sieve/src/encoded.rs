//! RFC 5228 2.4.2.4: `${hex:...}` and `${unicode:...}` in strings, decoded when the script
//! requires "encoded-character". Malformed sequences stay as written.

pub fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let decoded = after.find('}').and_then(|end| {
            let inner = &after[..end];
            let (kind, body) = inner.split_once(':')?;
            let text = match kind.trim().to_ascii_lowercase().as_str() {
                "hex" => hex(body)?,
                "unicode" => unicode(body)?,
                _ => return None,
            };
            Some((text, end))
        });
        match decoded {
            Some((text, end)) => {
                out.push_str(&text);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn hex(body: &str) -> Option<String> {
    let mut bytes = Vec::new();
    for w in body.split_ascii_whitespace() {
        if w.is_empty() || w.len() > 2 {
            return None;
        }
        bytes.push(u8::from_str_radix(w, 16).ok()?);
    }
    String::from_utf8(bytes).ok()
}

fn unicode(body: &str) -> Option<String> {
    body.split_ascii_whitespace().map(|w| u32::from_str_radix(w, 16).ok().and_then(char::from_u32)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes() {
        assert_eq!(super::decode("a${hex: 42 43}d"), "aBCd");
        assert_eq!(super::decode("${unicode:263a}!"), "\u{263a}!");
        assert_eq!(super::decode("${hex:zz} ${x}"), "${hex:zz} ${x}");
        assert_eq!(super::decode("${HEX:4 2}"), "\u{4}\u{2}");
    }
}
