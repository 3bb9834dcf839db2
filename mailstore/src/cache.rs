//! `mailroom.cache`: what a login would otherwise read from every message file, kept per
//! mailbox so that a 10,000-message mailbox opens by reading two small files, not 10,000.
//!
//! Each entry belongs to a UID under one UIDVALIDITY and holds facts that never change for a
//! message: its size on disk, its size with CRLF line ends (POP3 LIST, IMAP RFC822.SIZE), the
//! length of its header, and the header fields of an IMAP ENVELOPE. Messages named with `,S=`
//! and `,W=` (everything Dovecot and mailroom-mda deliver) need no entry for their sizes.
//!
//! The file is a cache: it may be deleted at any time and is rebuilt. It is replaced by writing
//! a private temporary file and renaming it, so concurrent sessions need no lock; the last
//! writer wins and every version is correct.
//!
//! ```text
//! mailroom-cache 2 V1700000000
//! 7 S4100 W4182 H812 E<base64 of the envelope header fields>
//! ```

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The file's name in a mailbox directory.
pub const FILE: &str = "mailroom.cache";

/// The header fields an IMAP ENVELOPE is made of (RFC 3501 §7.4.2), and References, which
/// THREAD=REFERENCES (RFC 5256) reads beside them.
pub const ENVELOPE_FIELDS: [&str; 11] = [
    "date",
    "subject",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "in-reply-to",
    "message-id",
    "references",
];

/// The format version in the first line: 2 since References is kept (a version-1 file is
/// rebuilt).
const VERSION: u32 = 2;

/// The longest envelope header block kept; longer ones are read from the file when needed.
const MAX_ENVELOPE: usize = 16 * 1024;

/// What is known about one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// Size on disk.
    pub size: Option<u64>,
    /// Size with every line end counted as CRLF.
    pub vsize: Option<u64>,
    /// Bytes up to and including the blank line that ends the header.
    pub header_size: Option<u64>,
    /// The envelope header fields, raw (with their line ends).
    pub envelope: Option<Vec<u8>>,
}

/// The cache of one mailbox.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    uidvalidity: u32,
    entries: BTreeMap<u32, Entry>,
    dirty: bool,
}

impl Cache {
    /// Reads `dir/mailroom.cache`; a missing, damaged or other-UIDVALIDITY file gives an empty
    /// cache (to be rebuilt).
    pub fn load(dir: &Path, uidvalidity: u32) -> Cache {
        let mut cache = Cache { uidvalidity, ..Default::default() };
        let Ok(file) = fs::File::open(dir.join(FILE)) else { return cache };
        let mut lines = BufReader::new(file).lines();
        match lines.next() {
            Some(Ok(h)) if h == format!("mailroom-cache {VERSION} V{uidvalidity}") => {}
            _ => return cache,
        }
        for line in lines.map_while(Result::ok) {
            if let Some((uid, entry)) = parse_entry(&line) {
                cache.entries.insert(uid, entry);
            }
        }
        cache
    }

    /// The entry of `uid`.
    pub fn get(&self, uid: u32) -> Option<&Entry> {
        self.entries.get(&uid)
    }

    /// Records facts about `uid`.
    pub fn put(&mut self, uid: u32, entry: Entry) {
        if self.entries.get(&uid) != Some(&entry) {
            self.entries.insert(uid, entry);
            self.dirty = true;
        }
    }

    /// Forgets UIDs no longer in the mailbox.
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|uid, _| keep(*uid));
        self.dirty |= self.entries.len() != before;
    }

    /// Writes the file if anything changed (a private temporary file renamed into place).
    pub fn save(&mut self, dir: &Path, mode: u32) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        static N: AtomicU64 = AtomicU64::new(0);
        let tmp =
            dir.join(format!("{FILE}.{}.{}.tmp", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let mut text = format!("mailroom-cache {VERSION} V{}\n", self.uidvalidity);
        for (uid, e) in &self.entries {
            text.push_str(&entry_line(*uid, e));
        }
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .and_then(|()| fs::rename(&tmp, dir.join(FILE)));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        self.dirty = false;
        Ok(())
    }
}

fn entry_line(uid: u32, e: &Entry) -> String {
    let mut line = uid.to_string();
    let mut item = |letter: char, v: Option<u64>| {
        if let Some(v) = v {
            line.push_str(&format!(" {letter}{v}"));
        }
    };
    item('S', e.size);
    item('W', e.vsize);
    item('H', e.header_size);
    if let Some(env) = &e.envelope {
        line.push_str(" E");
        line.push_str(&B64.encode(env));
    }
    line.push('\n');
    line
}

fn parse_entry(line: &str) -> Option<(u32, Entry)> {
    let mut items = line.split(' ');
    let uid = items.next()?.parse().ok()?;
    let mut e = Entry::default();
    for item in items {
        let (letter, value) = item.split_at_checked(1)?;
        match letter {
            "S" => e.size = Some(value.parse().ok()?),
            "W" => e.vsize = Some(value.parse().ok()?),
            "H" => e.header_size = Some(value.parse().ok()?),
            "E" => e.envelope = Some(B64.decode(value).ok()?),
            _ => {}
        }
    }
    Some((uid, e))
}

/// Reads a message once and works out every fact the cache keeps.
pub fn scan_message(mut reader: impl Read) -> io::Result<Entry> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut size, mut vsize) = (0u64, 0u64);
    let mut prev = 0u8;
    let mut header = Vec::new();
    let mut header_size = None;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in &buf[..n] {
            size += 1;
            vsize += 1;
            if b == b'\n' && prev != b'\r' {
                vsize += 1;
            }
            if header_size.is_none() {
                header.push(b);
                if header.ends_with(b"\n\n")
                    || header.ends_with(b"\n\r\n")
                    || header == b"\n"
                    || header == b"\r\n"
                {
                    header_size = Some(size);
                }
            }
            prev = b;
        }
    }
    let header_size = header_size.unwrap_or(size);
    let envelope = envelope_fields(&header);
    Ok(Entry { size: Some(size), vsize: Some(vsize), header_size: Some(header_size), envelope })
}

/// The raw lines (with continuations) of the envelope fields in a header block; `None` when
/// they are too long to cache.
fn envelope_fields(header: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            if keep {
                out.extend_from_slice(line);
            }
            continue;
        }
        keep = line.iter().position(|&b| b == b':').is_some_and(|colon| {
            let name = String::from_utf8_lossy(&line[..colon]).trim().to_ascii_lowercase();
            ENVELOPE_FIELDS.contains(&name.as_str())
        });
        if keep {
            out.extend_from_slice(line);
        }
    }
    (out.len() <= MAX_ENVELOPE).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_sizes_and_envelope() {
        let msg = b"From: a@x\nX-Other: 1\nSubject: hi\n there\n\nbody\r\nline\n";
        let e = scan_message(&msg[..]).unwrap();
        assert_eq!(e.size, Some(msg.len() as u64));
        assert_eq!(e.vsize, Some(msg.len() as u64 + 6));
        assert_eq!(e.header_size, Some(41));
        assert_eq!(e.envelope.as_deref(), Some(&b"From: a@x\nSubject: hi\n there\n"[..]));
        let e = scan_message(&b"References: <a@b>\n <c@d>\nX: y\n\n"[..]).unwrap();
        assert_eq!(e.envelope.as_deref(), Some(&b"References: <a@b>\n <c@d>\n"[..]), "for THREAD");
        let e = scan_message(&b"\nbody\n"[..]).unwrap();
        assert_eq!(e.header_size, Some(1));
        let e = scan_message(&b"Subject: no body"[..]).unwrap();
        assert_eq!(e.header_size, Some(16));
    }

    #[test]
    fn saves_loads_and_rebuilds() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = Cache::load(tmp.path(), 42);
        c.save(tmp.path(), 0o600).unwrap();
        assert!(!tmp.path().join(FILE).exists(), "nothing to write");
        let e = scan_message(&b"Subject: x\n\nbody\n"[..]).unwrap();
        c.put(3, e.clone());
        c.put(9, Entry { vsize: Some(5), ..Default::default() });
        c.save(tmp.path(), 0o600).unwrap();
        let again = Cache::load(tmp.path(), 42);
        assert_eq!(again.get(3), Some(&e));
        assert_eq!(again.get(9).unwrap().vsize, Some(5));
        assert!(Cache::load(tmp.path(), 43).get(3).is_none(), "other UIDVALIDITY");
        // A version-1 file (no References kept) is rebuilt.
        let text = fs::read_to_string(tmp.path().join(FILE)).unwrap();
        fs::write(tmp.path().join(FILE), text.replace("mailroom-cache 2 ", "mailroom-cache 1 ")).unwrap();
        assert!(Cache::load(tmp.path(), 42).get(3).is_none(), "old version");
        fs::write(tmp.path().join(FILE), "garbage").unwrap();
        assert!(Cache::load(tmp.path(), 42).get(3).is_none());
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [FILE]);
    }
}
