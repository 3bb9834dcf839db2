//! FETCH BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) from mail-parser's MIME tree.
//!
//! Sizes and line counts are of each part's body as it stands in the CRLF text (still in its
//! transfer encoding), which is what the client will get from BODY[n].

use mail_parser::{ContentType, MessagePart, MimeHeaders, PartType};

use super::envelope;
use super::mime::{Parsed, PartRef, body_range};
use super::response::{nstring, string};

/// Appends BODYSTRUCTURE (`ext`) or BODY of `p`.
pub fn write(out: &mut Vec<u8>, p: &Parsed<'_>, ext: bool) {
    match &p.msg {
        Some(msg) => part(out, p.raw, PartRef { msg, index: 0 }, ext),
        // No header at all: a plain text body of the whole text.
        None => {
            let lines = p.raw.iter().filter(|&&b| b == b'\n').count();
            out.extend_from_slice(
                format!(
                    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {} {lines}",
                    p.raw.len()
                )
                .as_bytes(),
            );
            if ext {
                out.extend_from_slice(b" NIL NIL NIL NIL");
            }
            out.push(b')');
        }
    }
}

fn part(out: &mut Vec<u8>, raw: &[u8], p: PartRef<'_, '_>, ext: bool) {
    let mp = p.part();
    let ct = mp.content_type();
    out.push(b'(');
    if let PartType::Multipart(children) = &mp.body {
        for &c in children {
            part(out, raw, PartRef { msg: p.msg, index: c as usize }, ext);
        }
        out.push(b' ');
        string(out, ct.and_then(|c| c.subtype()).unwrap_or("mixed").as_bytes());
        if ext {
            out.push(b' ');
            params(out, ct);
            out.push(b' ');
            extension(out, mp);
        }
        out.push(b')');
        return;
    }
    let (ctype, subtype) = match ct {
        Some(c) => (c.ctype().to_ascii_lowercase(), c.subtype().unwrap_or("").to_ascii_lowercase()),
        None => ("text".to_string(), "plain".to_string()),
    };
    string(out, ctype.as_bytes());
    out.push(b' ');
    string(out, subtype.as_bytes());
    out.push(b' ');
    match ct {
        Some(_) => params(out, ct),
        None => out.extend_from_slice(b"(\"charset\" \"us-ascii\")"),
    }
    out.push(b' ');
    nstring(out, mp.content_id().map(str::as_bytes));
    out.push(b' ');
    nstring(out, mp.content_description().map(str::as_bytes));
    out.push(b' ');
    let enc = mp.content_transfer_encoding().map(str::to_ascii_lowercase);
    string(out, enc.as_deref().unwrap_or("7bit").as_bytes());
    let body = body_range(raw, p).map(|r| &raw[r]).unwrap_or(b"");
    let lines = body.iter().filter(|&&b| b == b'\n').count();
    out.extend_from_slice(format!(" {}", body.len()).as_bytes());
    match &mp.body {
        PartType::Message(inner) if ctype == "message" => {
            out.push(b' ');
            envelope::write_parsed(out, inner);
            out.push(b' ');
            part(out, raw, PartRef { msg: inner, index: 0 }, ext);
            out.extend_from_slice(format!(" {lines}").as_bytes());
        }
        _ if ctype == "text" => out.extend_from_slice(format!(" {lines}").as_bytes()),
        _ => {}
    }
    if ext {
        out.extend_from_slice(b" NIL ");
        extension(out, mp);
    }
    out.push(b')');
}

/// `("name" "value" ...)` or NIL.
fn params(out: &mut Vec<u8>, ct: Option<&ContentType<'_>>) {
    match ct.and_then(|c| c.attributes()).filter(|a| !a.is_empty()) {
        None => out.extend_from_slice(b"NIL"),
        Some(attrs) => {
            out.push(b'(');
            for (i, a) in attrs.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, a.name.to_ascii_lowercase().as_bytes());
                out.push(b' ');
                string(out, a.value.as_bytes());
            }
            out.push(b')');
        }
    }
}

/// Disposition, language and location (the extension data both part kinds share).
fn extension(out: &mut Vec<u8>, mp: &MessagePart<'_>) {
    match mp.content_disposition() {
        Some(d) => {
            out.push(b'(');
            string(out, d.ctype().to_ascii_lowercase().as_bytes());
            out.push(b' ');
            params(out, Some(d));
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.extend_from_slice(b" NIL ");
    nstring(out, mp.content_location().map(str::as_bytes));
}

#[cfg(test)]
mod tests {
    use super::super::mime::to_crlf;
    use super::*;

    fn bs(text: &str, ext: bool) -> String {
        let raw = to_crlf(text.as_bytes());
        let mut out = Vec::new();
        write(&mut out, &Parsed::new(&raw), ext);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn simple_text() {
        assert_eq!(
            bs("Subject: x\n\nhello\nworld\n", true),
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 2 NIL NIL NIL NIL)"
        );
    }

    #[test]
    fn multipart_with_attachment() {
        let text = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; \
                    charset=utf-8\n\nhi\n--b\nContent-Type: application/pdf; name=a.pdf\n\
                    Content-Transfer-Encoding: base64\nContent-Disposition: attachment; \
                    filename=a.pdf\n\nAAAA\n--b--\n";
        assert_eq!(
            bs(text, false),
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 2 0)\
             (\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 4) \"mixed\")"
        );
        assert!(
            bs(text, true).ends_with(" \"mixed\" (\"boundary\" \"b\") NIL NIL NIL)"),
            "{}",
            bs(text, true)
        );
        assert!(bs(text, true).contains("(\"attachment\" (\"filename\" \"a.pdf\")) NIL NIL)"));
    }
}
