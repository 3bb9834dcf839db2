//! The message's header fields as the script sees them, changed by RFC 5293's `addheader`
//! and `deleteheader`.

/// Header fields a script may neither add nor delete (RFC 5293 section 6, Pigeonhole's
/// defaults).
pub const PROTECTED: &[&str] = &["received", "auto-submitted"];

/// Longest value `addheader` accepts (Pigeonhole's `sieve_editheader_max_header_size`).
pub const MAX_HEADER: usize = 2048;

/// A field name: printable ASCII without `:` (RFC 5322 ftext).
pub fn valid_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// Whether a script may change this field.
pub fn protected(name: &str) -> bool {
    PROTECTED.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// The header fields in order: name and raw value (unfolded later, when read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers {
    pub fields: Vec<(String, String)>,
    /// Set once a script changed them.
    pub changed: bool,
}

impl Headers {
    /// The top-level header fields of a parsed message, with their raw values.
    pub fn of(message: &mail_parser::Message<'_>) -> Headers {
        let fields = message
            .parts
            .first()
            .map(|p| {
                p.headers
                    .iter()
                    .map(|h| {
                        let raw = message
                            .raw_message
                            .get(h.offset_start as usize..h.offset_end as usize)
                            .unwrap_or_default();
                        (h.name.as_str().to_string(), String::from_utf8_lossy(raw).into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Headers { fields, changed: false }
    }

    /// Raw values of every field called `name`, in order.
    pub fn raw<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn add(&mut self, name: &str, value: &str, last: bool) {
        let field = (name.to_string(), format!(" {value}"));
        if last {
            self.fields.push(field);
        } else {
            self.fields.insert(0, field);
        }
        self.changed = true;
    }

    /// Deletes the fields called `name` (the `index`th only, counted from the end with
    /// `last`) whose decoded value `keep_if` says to delete.
    pub fn delete(
        &mut self,
        name: &str,
        index: Option<(usize, bool)>,
        mut delete_value: impl FnMut(&str) -> bool,
    ) {
        let positions: Vec<usize> = self
            .fields
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| n.eq_ignore_ascii_case(name))
            .map(|(i, _)| i)
            .collect();
        let chosen: Vec<usize> = match index {
            None => positions,
            Some((i, last)) => {
                let pick = if last { positions.len().checked_sub(i) } else { i.checked_sub(1) };
                pick.and_then(|p| positions.get(p).copied()).into_iter().collect()
            }
        };
        let mut remove = Vec::new();
        for i in chosen {
            if delete_value(&self.fields[i].1) {
                remove.push(i);
            }
        }
        for i in remove.into_iter().rev() {
            self.fields.remove(i);
            self.changed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits() {
        let mut h = Headers {
            fields: vec![("X-A".into(), " 1".into()), ("X-A".into(), " 2".into())],
            changed: false,
        };
        h.add("X-B", "v", false);
        assert_eq!(h.fields[0], ("X-B".into(), " v".into()));
        h.delete("x-a", Some((1, true)), |_| true);
        assert_eq!(h.raw("x-a").collect::<Vec<_>>(), vec![" 1"]);
        h.delete("x-a", None, |v| v.contains('2'));
        assert_eq!(h.raw("x-a").count(), 1);
        assert!(h.changed);
        assert!(valid_field_name("X-Foo") && !valid_field_name("X Foo") && !valid_field_name("a:b"));
        assert!(protected("Received"));
    }
}
