//! A message as the filters see and change it: its header fields one by one, and its body.

use super::protocol::Modification;

/// One header field: its name and its raw value (what follows the colon, folding CRLFs kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name, as written.
    pub name: String,
    /// The bytes after the colon up to the final CRLF.
    pub raw: Vec<u8>,
}

impl Field {
    /// The value as a filter gets it: folding as LF, the one leading space dropped unless
    /// `leading_space` (SMFIP_HDR_LEADSPC).
    pub fn value(&self, leading_space: bool) -> String {
        let v = String::from_utf8_lossy(&self.raw).replace("\r\n", "\n");
        if leading_space { v } else { v.strip_prefix(' ').map(str::to_string).unwrap_or(v) }
    }

    fn new(name: &str, value: &str, leading_space: bool) -> Field {
        let mut raw = Vec::new();
        if !leading_space {
            raw.push(b' ');
        }
        for b in value.bytes() {
            if b == b'\n' {
                raw.push(b'\r');
            }
            raw.push(b);
        }
        Field { name: name.to_string(), raw }
    }
}

/// A message: its header fields and its body (CRLF lines).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The header fields in order.
    pub fields: Vec<Field>,
    /// Whether an empty line separates header and body (absent in a message of headers only,
    /// or one whose first body line looked like neither a field nor a continuation).
    pub separator: bool,
    /// The body.
    pub body: Vec<u8>,
}

impl Message {
    /// Splits CRLF message bytes.
    pub fn parse(bytes: &[u8]) -> Message {
        let mut fields: Vec<Field> = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let end = bytes[at..].windows(2).position(|w| w == b"\r\n").map(|p| at + p);
            let line = &bytes[at..end.unwrap_or(bytes.len())];
            let next = end.map_or(bytes.len(), |e| e + 2);
            if line.is_empty() {
                return Message { fields, separator: true, body: bytes[next..].to_vec() };
            }
            if matches!(line[0], b' ' | b'\t') && !fields.is_empty() {
                let last = fields.last_mut().expect("checked");
                last.raw.extend_from_slice(b"\r\n");
                last.raw.extend_from_slice(line);
            } else if let Some(colon) = line.iter().position(|&b| b == b':')
                && colon > 0
                && line[..colon].iter().all(|&b| (33..=126).contains(&b))
            {
                let name = String::from_utf8_lossy(&line[..colon]).into_owned();
                fields.push(Field { name, raw: line[colon + 1..].to_vec() });
            } else {
                break;
            }
            at = next;
        }
        Message { fields, separator: false, body: bytes[at..].to_vec() }
    }

    /// Back to CRLF bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 64 * self.fields.len() + 2);
        for f in &self.fields {
            out.extend_from_slice(f.name.as_bytes());
            out.push(b':');
            out.extend_from_slice(&f.raw);
            out.extend_from_slice(b"\r\n");
        }
        if self.separator {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// Applies one header or body change; `new_body` is whether an earlier SMFIR_REPLBODY of
    /// the same answer already started the new body (later chunks append). Envelope changes
    /// are not the message's: false for them.
    pub fn apply(&mut self, m: &Modification, leading_space: bool, new_body: &mut bool) -> bool {
        match m {
            Modification::AddHeader { name, value } => {
                self.fields.push(Field::new(name, value, leading_space))
            }
            Modification::InsertHeader { index, name, value } => {
                let at = (*index as usize).min(self.fields.len());
                self.fields.insert(at, Field::new(name, value, leading_space));
            }
            Modification::ChangeHeader { index, name, value } => {
                let found = self
                    .fields
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.name.eq_ignore_ascii_case(name))
                    .nth((*index as usize).max(1) - 1)
                    .map(|(i, _)| i);
                match (found, value.is_empty()) {
                    (Some(i), true) => {
                        self.fields.remove(i);
                    }
                    (Some(i), false) => {
                        self.fields[i] = Field::new(&self.fields[i].name.clone(), value, leading_space)
                    }
                    // Sendmail and Postfix add the header when there is no such occurrence.
                    (None, false) => self.fields.push(Field::new(name, value, leading_space)),
                    (None, true) => {}
                }
            }
            Modification::ReplaceBody(chunk) => {
                if !*new_body {
                    self.body.clear();
                    *new_body = true;
                }
                self.body.extend_from_slice(chunk);
                self.separator = true;
            }
            Modification::ChangeFrom { .. } | Modification::AddRcpt { .. } | Modification::DelRcpt(_) => {
                return false;
            }
        }
        true
    }

    /// Makes a replaced body's line ends CRLF (filters may send bare LF) once a filter is done.
    pub fn normalize_body(&mut self) {
        if !self.body.iter().any(|&b| b == b'\n' || b == b'\r') {
            return;
        }
        let mut out = Vec::with_capacity(self.body.len() + 16);
        let mut i = 0;
        while i < self.body.len() {
            match self.body[i] {
                b'\r' if self.body.get(i + 1) == Some(&b'\n') => {
                    out.extend_from_slice(b"\r\n");
                    i += 1;
                }
                b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
                b => out.push(b),
            }
            i += 1;
        }
        self.body = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] =
        b"Received: from x\r\n\tby y\r\nSubject: hi\r\nX-Spam: old\r\nsubject: two\r\n\r\nbody\r\n";

    #[test]
    fn parse_and_back() {
        let m = Message::parse(MSG);
        assert_eq!(m.fields.len(), 4);
        assert_eq!(m.fields[0].value(false), "from x\n\tby y");
        assert_eq!(m.fields[1].value(true), " hi");
        assert_eq!(m.body, b"body\r\n");
        assert_eq!(m.to_bytes(), MSG);
        for odd in
            [&b"Subject: x\r\n"[..], b"Subject: x\r\nnot a header\r\n", b"", b"\r\nbody", b"A:\r\n\r\n"]
        {
            assert_eq!(Message::parse(odd).to_bytes(), odd, "{odd:?}");
        }
    }

    #[test]
    fn modifications() {
        let mut m = Message::parse(MSG);
        let mut nb = false;
        let add = Modification::AddHeader { name: "X-Spam-Flag".into(), value: "YES".into() };
        assert!(m.apply(&add, false, &mut nb));
        let ins = Modification::InsertHeader { index: 0, name: "X-First".into(), value: "a\n\tb".into() };
        m.apply(&ins, false, &mut nb);
        let chg = Modification::ChangeHeader { index: 2, name: "SUBJECT".into(), value: "[SPAM] two".into() };
        m.apply(&chg, false, &mut nb);
        let del = Modification::ChangeHeader { index: 1, name: "x-spam".into(), value: String::new() };
        m.apply(&del, false, &mut nb);
        let none = Modification::ChangeHeader { index: 3, name: "Subject".into(), value: String::new() };
        m.apply(&none, false, &mut nb);
        m.apply(&Modification::ReplaceBody(b"new\r\n".to_vec()), false, &mut nb);
        m.apply(&Modification::ReplaceBody(b"body\nend".to_vec()), false, &mut nb);
        m.normalize_body();
        assert!(!m.apply(&Modification::DelRcpt("<a@b>".into()), false, &mut nb));
        assert_eq!(
            String::from_utf8(m.to_bytes()).unwrap(),
            "X-First: a\r\n\tb\r\nReceived: from x\r\n\tby y\r\nSubject: hi\r\nsubject: [SPAM] two\r\n\
             X-Spam-Flag: YES\r\n\r\nnew\r\nbody\r\nend"
        );
        let mut lead = Message::parse(b"A: 1\r\n\r\n");
        lead.apply(&Modification::AddHeader { name: "B".into(), value: "\t2".into() }, true, &mut false);
        assert_eq!(lead.to_bytes(), b"A: 1\r\nB:\t2\r\n\r\n");
    }
}
