//! Modified UTF-7 (RFC 3501 §5.1.3), the encoding of non-ASCII folder names on disk.
//!
//! Dovecot stores Maildir++ folder names in modified UTF-7 unless `mailbox_list_utf8` is set,
//! so "Entwürfe" lives in `.Entw&APw-rfe`. Printable ASCII stands for itself except `&`, which
//! becomes `&-`; every run of other characters becomes `&` + base64 (with `,` for `/`, no
//! padding) of its UTF-16BE code units + `-`. Written here on the `base64` crate's IMAP alphabet
//! rather than taken from a crate: the small ones found pull in regex and panic on bad input.

use base64::Engine;
use base64::alphabet::IMAP_MUTF7;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const B64: GeneralPurpose = GeneralPurpose::new(
    &IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Whether `c` stands for itself in modified UTF-7 (printable US-ASCII).
fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Encodes a UTF-8 name into modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            flush(&mut out, &mut run);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            run.extend_from_slice(c.encode_utf16(&mut [0; 2]));
        }
    }
    flush(&mut out, &mut run);
    out
}

/// Appends a pending run of non-ASCII UTF-16 units as one `&...-` shift sequence.
fn flush(out: &mut String, run: &mut Vec<u16>) {
    if run.is_empty() {
        return;
    }
    let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    out.push_str(&B64.encode(bytes));
    out.push('-');
    run.clear();
}

/// Decodes modified UTF-7 into UTF-8, or `None` if `name` is not canonical modified UTF-7.
///
/// Canonical means it is exactly what [`encode`] would write for the result, which rejects
/// raw 8-bit bytes, encoded ASCII, split shift sequences and broken surrogates in one check.
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let (encoded, after) = rest[amp + 1..].split_once('-')?;
        if encoded.is_empty() {
            out.push('&');
        } else {
            let bytes = B64.decode(encoded).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units = bytes.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]]));
            out.push_str(&char::decode_utf16(units).collect::<Result<String, _>>().ok()?);
        }
        rest = after;
    }
    out.push_str(rest);
    (encode(&out) == name).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_table() {
        for (utf8, utf7) in [
            ("INBOX", "INBOX"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Gelöschte Elemente", "Gel&APY-schte Elemente"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("théâtre", "th&AOkA4g-tre"),
            ("日本語", "&ZeVnLIqe-"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("😀", "&2D3eAA-"),
            ("", ""),
        ] {
            assert_eq!(encode(utf8), utf7, "{utf8}");
            assert_eq!(decode(utf7).as_deref(), Some(utf8), "{utf7}");
        }
    }

    #[test]
    fn decode_rejects_non_canonical() {
        for bad in [
            "&",             // unterminated
            "&Jjo",          // unterminated
            "&AGE-",         // "a" must not be encoded
            "&APw-&APw-",    // two adjacent runs must be one
            "&APw=-",        // padding
            "&2D0-",         // lone high surrogate
            "&AP-",          // odd byte count
            "Entw\u{fc}rfe", // raw non-ASCII
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
