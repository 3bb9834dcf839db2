//! Opening a user's INBOX for a session and the UPDATE state's changes, on the blocking pool
//! (mailstore is synchronous file I/O).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use mailstore::{Flag, FlagChange, Flags, Mailbox, MailboxError, Maildir, Quota, SessionLock, quota};

use crate::pop3::uidl::{self, UidlVars};
use crate::pop3::{Entry, Maildrop};

/// An open INBOX held by one POP3 session.
#[derive(Debug)]
pub struct Store {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// The user's limits: what UPDATE removes is taken off `maildirsize`, as Dovecot's quota
    /// plugin does (none: no `maildirsize`).
    quota: Quota,
    _lock: SessionLock,
}

/// Opens the INBOX of the Maildir at `root` for POP3 (creating an empty Maildir, as Dovecot
/// does for a user who never got mail): `Ok(None)` when another POP3 session holds it.
pub fn open_pop3(
    root: &Path,
    uidl_format: &str,
    quota: Quota,
) -> Result<Option<(Store, Maildrop)>, MailboxError> {
    let io_err = |source| MailboxError::Io { path: root.to_path_buf(), source };
    Maildir::new(root).create().map_err(io_err)?;
    let Some(lock) = SessionLock::try_acquire(root).map_err(io_err)? else { return Ok(None) };
    let mut mailbox = Mailbox::open(root)?;
    mailbox.fill_sizes()?;
    let maildrop = maildrop(&mailbox, uidl_format);
    Ok(Some((Store { mailbox, quota, _lock: lock }, maildrop)))
}

/// The POP3 view of a mailbox: messages in UID order (or in the saved POP3 order, `O` records,
/// when every message has one), UIDLs from the format unless saved (`P`).
pub fn maildrop(mb: &Mailbox, uidl_format: &str) -> Maildrop {
    let mut messages: Vec<_> = mb.messages().iter().collect();
    if messages.iter().all(|m| m.pop3_order().is_some()) {
        messages.sort_by_key(|m| (m.pop3_order(), m.uid()));
    }
    let entries = messages
        .into_iter()
        .map(|m| {
            let uidl = match m.pop3_uidl() {
                Some(saved) => uidl::sanitize(saved.to_string()),
                None => uidl::expand(
                    uidl_format,
                    &UidlVars {
                        uid: m.uid(),
                        uidvalidity: mb.uidvalidity(),
                        filename: m.base_name(),
                        guid: m.guid(),
                    },
                ),
            };
            Entry::new(m.uid(), uidl, m.vsize().unwrap_or(0))
        })
        .collect();
    Maildrop::new(entries)
}

/// The UPDATE state: removes `expunge`, marks `seen` `\Seen` (moving them to `cur/`), then
/// syncs so the uidlist drops the removed records now. Failures are logged; false if any.
pub fn update(store: &mut Store, expunge: &[u32], seen: &[u32]) -> bool {
    let mut ok = true;
    let (mut bytes, mut count) = (0, 0);
    for &uid in expunge {
        let size = store.mailbox.message(uid).and_then(|m| m.size());
        match store.mailbox.expunge(uid) {
            Ok(true) => (bytes, count) = (bytes + size.unwrap_or(0) as i64, count + 1),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!("expunge UID {uid}: {e}");
                ok = false;
            }
        }
    }
    if store.quota != Quota::default()
        && let Err(e) = quota::add(&Maildir::new(store.mailbox.dir()), store.quota, -bytes, -count)
    {
        // The mail is gone as asked; only the numbers lag until maildirsize is rebuilt.
        tracing::warn!("maildirsize: {e}");
    }
    let mut flags = Flags::empty();
    flags.set(Flag::Seen, true);
    let mark = FlagChange::Add(flags);
    for &uid in seen {
        match store.mailbox.set_flags(uid, &mark) {
            Ok(_) | Err(MailboxError::Expunged(_)) | Err(MailboxError::NoSuchUid(_)) => {}
            Err(e) => tracing::warn!("flag UID {uid} seen: {e}"),
        }
    }
    if !expunge.is_empty()
        && let Err(e) = store.mailbox.sync()
    {
        tracing::warn!("sync after expunge: {e}");
    }
    ok
}

/// Reads up to `max` bytes (fewer only at the end of the file); the bool says "end reached".
/// The buffer grows as data arrives instead of being zeroed up front: most messages are a few
/// KiB and a 128 KiB memset per RETR showed in profiles.
pub fn read_chunk(file: &mut File, max: usize) -> io::Result<(Vec<u8>, bool)> {
    let mut buf = Vec::new();
    let n = file.take(max as u64).read_to_end(&mut buf)?;
    Ok((buf, n < max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildrop_follows_saved_uidls_and_order() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("Maildir");
        let md = Maildir::new(&root);
        md.create().unwrap();
        let names: Vec<String> = ["a", "b"]
            .iter()
            .map(|s| {
                let d = md.deliver(None, b"", &mut format!("Subject: {s}\n\nx\n").as_bytes()).unwrap();
                d.path.file_name().unwrap().to_str().unwrap().to_string()
            })
            .collect();
        // A migration left POP3 UIDLs and an order (from another server) in the uidlist.
        let uidlist = format!("3 V77 N3 G00\n1 P17 O2 :{}\n2 Pold-two O1 :{}\n", names[0], names[1]);
        std::fs::write(root.join("dovecot-uidlist"), uidlist).unwrap();
        let mb = Mailbox::open(&root).unwrap();
        let m = maildrop(&mb, config::DOVECOT_UIDL_FORMAT);
        let got: Vec<(u32, &str)> = m.entries().iter().map(|e| (e.uid, e.uidl.as_str())).collect();
        assert_eq!(got, [(2, "old-two"), (1, "17")]);

        // Without them, Dovecot's default format, in UID order.
        std::fs::write(root.join("dovecot-uidlist"), format!("3 V77 N3\n1 :{}\n2 :{}\n", names[0], names[1]))
            .unwrap();
        let mb = Mailbox::open(&root).unwrap();
        let m = maildrop(&mb, config::DOVECOT_UIDL_FORMAT);
        let got: Vec<&str> = m.entries().iter().map(|e| e.uidl.as_str()).collect();
        assert_eq!(got, ["000000010000004d", "000000020000004d"]);
        assert!(m.entries().iter().all(|e| e.size == 17));
    }
}
