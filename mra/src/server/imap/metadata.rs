//! GETMETADATA and SETMETADATA (RFC 5464) on the user's mailboxes and, for the mailbox name
//! `""`, on the server: the user's own server entries (its /shared ones are the
//! administrator's, read-only to users).

use std::collections::BTreeMap;

use mailstore::metadata::{Metadata, MetadataError};

use super::session::{Session, line};
use crate::imap::metadata::{Depth, Get, Set};
use crate::imap::response;

impl Session {
    /// The entries of the mailbox named `wire` (`""`: the server), or the NO to answer.
    fn metadata_of(&self, wire: &[u8]) -> Result<Metadata, &'static str> {
        if wire.is_empty() {
            return Ok(Metadata::of_server(self.maildir.root()));
        }
        match self.target(wire).map(|t| self.path(&t)) {
            Some(d) if d.join("cur").is_dir() => Ok(Metadata::of_mailbox(&d)),
            _ => Err("NO [NONEXISTENT] Mailbox doesn't exist."),
        }
    }

    pub(super) fn getmetadata(&mut self, tag: &str, get: &Get, out: &mut Vec<u8>) {
        let entries = match self.metadata_of(&get.mailbox) {
            Err(no) => return line(out, &format!("{tag} {no}")),
            Ok(md) => match md.load() {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!("imap user={} metadata: {e}", self.user);
                    return line(out, &format!("{tag} NO [SERVERBUG] Cannot read the metadata."));
                }
            },
        };
        let (found, longest) = lookup(&entries, get);
        if !found.is_empty() {
            out.extend_from_slice(b"* METADATA ");
            response::string(out, &get.mailbox);
            out.extend_from_slice(b" (");
            for (i, (name, value)) in found.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                response::astring(out, name.as_bytes());
                out.push(b' ');
                match value {
                    Some(v) => response::string(out, v),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
            out.extend_from_slice(b")\r\n");
        }
        match longest {
            // RFC 5464 §4.2.1: the size of the largest value left out.
            Some(n) => line(out, &format!("{tag} OK [METADATA LONGENTRIES {n}] Getmetadata completed.")),
            None => line(out, &format!("{tag} OK Getmetadata completed.")),
        }
    }

    pub(super) fn setmetadata(&mut self, tag: &str, set: &Set, out: &mut Vec<u8>) {
        let md = match self.metadata_of(&set.mailbox) {
            Ok(m) => m,
            Err(no) => return line(out, &format!("{tag} {no}")),
        };
        if set.mailbox.is_empty()
            && set.entries.iter().any(|(n, _)| n.to_ascii_lowercase().starts_with("/shared/"))
        {
            return line(
                out,
                &format!("{tag} NO [NOPERM] The server's shared entries are the administrator's."),
            );
        }
        match md.set(&set.entries) {
            Ok(()) => line(out, &format!("{tag} OK Setmetadata completed.")),
            Err(MetadataError::Invalid) => line(out, &format!("{tag} BAD Invalid entry name.")),
            Err(MetadataError::TooLarge) => line(
                out,
                &format!("{tag} NO [METADATA MAXSIZE {}] Value too large.", mailstore::metadata::MAX_VALUE),
            ),
            Err(MetadataError::TooMany) => {
                line(out, &format!("{tag} NO [METADATA TOOMANY] Too many entries."))
            }
            Err(MetadataError::Io(e)) => {
                tracing::warn!("imap user={} setmetadata: {e}", self.user);
                line(out, &format!("{tag} NO [SERVERBUG] Cannot write the metadata."))
            }
        }
    }
}

/// Entries as GETMETADATA answers them: a name and its value, NIL for an unset one.
type Found = Vec<(String, Option<Vec<u8>>)>;

/// The entries GETMETADATA answers with (an unset one asked for by name is NIL), and the size
/// of the largest value MAXSIZE left out.
fn lookup(entries: &BTreeMap<String, Vec<u8>>, get: &Get) -> (Found, Option<usize>) {
    let (mut found, mut longest) = (Vec::new(), None::<usize>);
    let mut add = |name: &str, value: &[u8], found: &mut Found| {
        if get.max_size.is_some_and(|m| value.len() as u64 > m) {
            longest = Some(longest.unwrap_or(0).max(value.len()));
        } else {
            found.push((name.to_string(), Some(value.to_vec())));
        }
    };
    for asked in &get.entries {
        let key = asked.to_ascii_lowercase();
        match entries.get(&key) {
            Some(v) => add(asked, v, &mut found),
            None if get.depth == Depth::Zero => found.push((asked.clone(), None)),
            None => {}
        }
        if get.depth == Depth::Zero {
            continue;
        }
        let prefix = format!("{key}/");
        for (name, v) in entries.range(prefix.clone()..).take_while(|(n, _)| n.starts_with(&prefix)) {
            if get.depth == Depth::One && name[prefix.len()..].contains('/') {
                continue;
            }
            add(name, v, &mut found);
        }
    }
    (found, longest)
}
