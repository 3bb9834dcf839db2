//! The read side of one Maildir mailbox (INBOX or a folder): its messages with Dovecot's UIDs,
//! flags and keywords, flag changes, expunge, and the sizes POP3 and IMAP report.
//!
//! [`Mailbox::open`] scans `new/` and `cur/` and matches every file to its `dovecot-uidlist`
//! record by base name (the name without the `:2,` info, which stays when flags change). Files
//! with no record get the next UIDs, in delivery order, under the uidlist's dotlock; records
//! whose file is gone are dropped. When nothing changed, opening takes no lock and writes
//! nothing. UIDs are never reused and UIDVALIDITY never changes once the file exists; a new
//! uidlist takes the Maildir's next one ([`crate::uidvalidity`]), never a value used before.
//!
//! Other programs change the directory under us at any time: mailroom-mda and Dovecot deliver
//! into `new/`, other sessions rename files to change flags or unlink them. Hence:
//! - a file seen twice during one scan (renamed meanwhile) counts once, under the name that
//!   exists now;
//! - a recorded file missing from a scan is looked for again before it counts as expunged,
//!   since readdir may miss an entry renamed while the directory is being read: only a miss
//!   over a directory that did not change during the scan counts;
//! - a file that vanished when we open or rename it is looked up again by its base name
//!   ([`Mailbox::open_message`], [`Mailbox::set_flags`]); only if it is gone from both
//!   directories is it expunged. A flag change is applied to the flags of the name found.
//!
//! Sizes come from `,S=`/`,W=` in the name, else the uidlist record's `S`/`W`, else
//! `mailroom.cache` ([`crate::cache`]), else one read of the file, remembered in the cache.

use std::collections::hash_map::Entry as Slot;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cache::{self, Cache, Entry};
use crate::dotlock::{self, DotLock};
use crate::flags::{FlagChange, Flags, base_name};
use crate::keywords::{KeywordError, Keywords};
use crate::modseq::FileId;
use crate::uidlist::{self, Record, UidList};

mod modseqs;
mod shared;
mod stamp;

pub use modseqs::Stored;
pub use stamp::Stamp;

/// Mode of the files mailroom creates in a mailbox (uidlist, keywords, cache, modseqs).
const FILE_MODE: u32 = 0o600;

/// How often a file that vanished from where we saw it is looked for again. Each retry means
/// another session renamed it meanwhile (a look that finds it nowhere ends the loop: it was
/// expunged), so the bound is only a guard against a livelock.
const RELOCATE_TRIES: usize = 100;

/// Why a mailbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// There is no Maildir (no `cur/`) at this path.
    #[error("{}: no such mailbox", .0.display())]
    NotFound(PathBuf),
    /// The message was expunged (by another session) before we could use it.
    #[error("message UID {0} has been expunged")]
    Expunged(u32),
    /// No message with this UID in the mailbox as we last saw it.
    #[error("no message with UID {0}")]
    NoSuchUid(u32),
    /// A keyword could not be added.
    #[error(transparent)]
    Keyword(#[from] KeywordError),
    /// A file operation failed (including a uidlist lock held too long: `WouldBlock`).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> MailboxError + '_ {
    move |source| MailboxError::Io { path: path.to_path_buf(), source }
}

/// One message as the mailbox last saw it. Kept small (an open mailbox holds one per message,
/// and every IMAP session in IDLE holds its list): the base name is a prefix of the file name,
/// sizes fit 32 bits, and what only migrated uidlists carry is boxed apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    uid: u32,
    in_new: bool,
    name: Box<str>,
    flags: Flags,
    /// Sizes the name does not carry (`None` also for a size past `u32::MAX`: read again).
    size: Option<u32>,
    vsize: Option<u32>,
    extra: Option<Box<Extra>>,
    /// Its mod-sequence (RFC 7162), from `mailroom.modseq`; 0 when the mailbox has none.
    modseq: u64,
}

/// The uidlist record's rarely present fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Extra {
    pop3_uidl: Option<String>,
    pop3_order: Option<u32>,
    guid: Option<String>,
}

impl Message {
    /// Its UID.
    pub fn uid(&self) -> u32 {
        self.uid
    }
    /// The file's base name, stable across flag changes (Dovecot's GUID for Maildir mail).
    pub fn base_name(&self) -> &str {
        base_name(&self.name)
    }
    /// The file's current name, with info.
    pub fn file_name(&self) -> &str {
        &self.name
    }
    /// Whether the file is in `new/` (IMAP `\Recent` for the first session that sees it).
    pub fn in_new(&self) -> bool {
        self.in_new
    }
    /// Its flags.
    pub fn flags(&self) -> &Flags {
        &self.flags
    }
    /// Its mod-sequence: when its flags last changed, or it arrived (0: no mod-sequences).
    pub fn modseq(&self) -> u64 {
        self.modseq
    }
    /// Size on disk, when known without reading the file.
    pub fn size(&self) -> Option<u64> {
        name_ext(self.base_name(), 'S').or(self.size.map(u64::from))
    }
    /// Size with CRLF line ends (POP3 LIST, IMAP RFC822.SIZE), once known.
    pub fn vsize(&self) -> Option<u64> {
        name_ext(self.base_name(), 'W').or(self.vsize.map(u64::from))
    }
    /// A POP3 UIDL saved in the uidlist (`P`, from a migration), which overrides the format.
    pub fn pop3_uidl(&self) -> Option<&str> {
        self.extra.as_ref()?.pop3_uidl.as_deref()
    }
    /// A POP3 order saved in the uidlist (`O`).
    pub fn pop3_order(&self) -> Option<u32> {
        self.extra.as_ref()?.pop3_order
    }
    /// The message GUID: the uidlist's `G`, else the base name (as Dovecot's maildir does).
    pub fn guid(&self) -> &str {
        self.extra.as_ref().and_then(|e| e.guid.as_deref()).unwrap_or(self.base_name())
    }

    /// Remembers sizes found elsewhere than in the name.
    fn learn_sizes(&mut self, size: Option<u64>, vsize: Option<u64>) {
        let small = |v: Option<u64>| v.and_then(|v| u32::try_from(v).ok());
        self.size = self.size.or(small(size));
        self.vsize = self.vsize.or(small(vsize));
    }
}

/// What a [`Mailbox::sync`] found changed since the previous one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// UIDs of new messages.
    pub added: Vec<u32>,
    /// UIDs of messages gone.
    pub expunged: Vec<u32>,
    /// UIDs whose flags changed.
    pub flags: Vec<u32>,
    /// UIDs whose mod-sequence alone changed (a rebuilt modseq file, a change undone).
    pub modseqs: Vec<u32>,
}

/// What [`Mailbox::expunge_deleted`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// This call unlinked it.
    Removed,
    /// It was gone already (another session expunged it).
    Gone,
    /// Its flags changed meanwhile and it no longer qualifies: still there, still listed.
    Kept,
}

/// One Maildir mailbox directory, opened.
#[derive(Debug)]
pub struct Mailbox {
    dir: PathBuf,
    uidvalidity: u32,
    next_uid: u32,
    /// Shared with every other open mailbox of this directory holding the same list.
    messages: Arc<Vec<Message>>,
    keywords: Keywords,
    cache: Cache,
    /// The cache is not in memory (not read yet, or dropped by [`Mailbox::release_cache`]);
    /// it is read when first needed.
    cache_released: bool,
    /// The directory's stamp taken before the last sync.
    stamp: Stamp,
    lock_wait: Duration,
    /// The highest mod-sequence this mailbox's view covers; 0 until the first sync, and for
    /// a mailbox without mod-sequences.
    highest_modseq: u64,
    /// Whether `mailroom.modseq` can be kept (false when the first sync could not: NOMODSEQ).
    modseqs: bool,
    /// The identity of `mailroom.modseq` when this mailbox last read or wrote it.
    modseq_id: Option<FileId>,
}

/// A file seen by a scan: its name and whether it is in `new/`.
type Seen = HashMap<String, (String, bool)>;

impl Mailbox {
    /// Opens the mailbox at `dir` (a Maildir root or a `.Folder` directory) and syncs it.
    pub fn open(dir: &Path) -> Result<Mailbox, MailboxError> {
        if !dir.join("cur").is_dir() {
            return Err(MailboxError::NotFound(dir.to_path_buf()));
        }
        let mut mb = Mailbox {
            dir: dir.to_path_buf(),
            uidvalidity: 0,
            next_uid: 1,
            messages: Arc::default(),
            keywords: Keywords::default(),
            cache: Cache::default(),
            cache_released: true,
            stamp: Stamp::default(),
            lock_wait: dotlock::WAIT,
            highest_modseq: 0,
            modseqs: true,
            modseq_id: None,
        };
        mb.sync()?;
        Ok(mb)
    }

    /// The mailbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Its UIDVALIDITY.
    pub fn uidvalidity(&self) -> u32 {
        self.uidvalidity
    }
    /// The UID the next new message will get (IMAP UIDNEXT).
    pub fn uid_next(&self) -> u32 {
        self.next_uid
    }
    /// The messages, ascending by UID.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }
    /// The keyword names of this mailbox.
    pub fn keywords(&self) -> &Keywords {
        &self.keywords
    }
    /// The highest mod-sequence of the mailbox as this view has it (RFC 7162 HIGHESTMODSEQ:
    /// message changes and expunges); 0 when the mailbox cannot have mod-sequences.
    pub fn highest_modseq(&self) -> u64 {
        if self.modseqs { self.highest_modseq } else { 0 }
    }
    /// The message with `uid`.
    pub fn message(&self, uid: u32) -> Option<&Message> {
        self.index_of(uid).map(|i| &self.messages[i])
    }

    fn index_of(&self, uid: u32) -> Option<usize> {
        self.messages.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Re-reads the directory and the uidlist: new messages get UIDs, vanished ones go. When
    /// the directory's settled stamp is that of a list another open mailbox published, nothing
    /// changed since that list was made, and it is taken without reading anything.
    pub fn sync(&mut self) -> Result<Changes, MailboxError> {
        // Taken before anything is read: a change during the scan leaves the stamp stale.
        let stamp = Stamp::of(&self.dir);
        if stamp.settled()
            && let Some((state, list)) = shared::unchanged(&self.dir, &stamp)
            && (state.highest_modseq != 0 || !self.modseqs)
        {
            self.keywords = Keywords::load(&self.dir).map_err(io_at(&self.dir))?;
            self.stamp = stamp;
            self.highest_modseq = state.highest_modseq;
            self.modseq_id = stamp.modseq_id();
            return Ok(self.install(state.uidvalidity, state.next_uid, list));
        }
        let path = self.dir.join(uidlist::FILE);
        let list = read_uidlist(&path)?;
        let seen = self.scan()?;
        let (list, seen) = match list {
            Some(l)
                if l.records.len() == seen.len() && l.records.iter().all(|r| seen.contains_key(&r.base)) =>
            {
                (l, seen)
            }
            _ => self.assign_uids(&path)?,
        };
        self.keywords = Keywords::load(&self.dir).map_err(io_at(&self.dir))?;
        let (uidvalidity, next_uid) = (list.uidvalidity, list.next_uid);
        self.forget_if_renumbered(uidvalidity);
        let mut messages = self.messages_from(list, seen);
        if let Err(e) = self.assign_modseqs(&mut messages, uidvalidity, next_uid) {
            if self.highest_modseq != 0 {
                return Err(io_at(&self.dir.join(crate::modseq::FILE))(e));
            }
            // The first sync could not keep them: this mailbox has none (NOMODSEQ).
            self.modseqs = false;
            messages.iter_mut().for_each(|m| m.modseq = 0);
        }
        let highest_modseq = self.highest_modseq();
        let state = stamp.settled().then_some(shared::State { stamp, uidvalidity, next_uid, highest_modseq });
        let messages = shared::publish(&self.dir, messages, state);
        self.stamp = stamp;
        Ok(self.install(uidvalidity, next_uid, messages))
    }

    /// Whether the directory changed since the last sync (or may have: see [`Stamp`]).
    pub fn changed_on_disk(&self) -> bool {
        let now = Stamp::of(&self.dir);
        !(self.stamp.settled() && now.same(&self.stamp))
    }

    /// The locked path of a sync: re-read, drop the vanished, number the new, write.
    fn assign_uids(&mut self, path: &Path) -> Result<(UidList, Seen), MailboxError> {
        let lock = DotLock::acquire(path, self.lock_wait, FILE_MODE).map_err(io_at(path))?;
        let old = read_uidlist(path)?;
        let mut seen = self.scan()?;
        let mut list = match &old {
            Some(l) => l.clone(),
            None => {
                let root = maildir_root(&self.dir);
                let uidvalidity = crate::uidvalidity::next(root).map_err(io_at(root))?;
                UidList::new(uidvalidity, random_guid())
            }
        };
        if list.records.iter().any(|r| !seen.contains_key(&r.base)) {
            // readdir may have missed a file being renamed: look again before dropping it.
            for (base, at) in self.scan()? {
                seen.entry(base).or_insert(at);
            }
        }
        let before = list.records.len();
        list.records.retain(|r| seen.contains_key(&r.base));
        let dropped = list.records.len() != before;
        let known: HashSet<&str> = list.records.iter().map(|r| r.base.as_str()).collect();
        let mut fresh: Vec<&String> = seen.keys().filter(|b| !known.contains(b.as_str())).collect();
        fresh.sort_by_key(|b| delivery_order(b));
        let mut added = Vec::new();
        for base in fresh {
            added.push(Record { uid: list.next_uid, ext: Vec::new(), base: base.clone() });
            list.next_uid += 1;
        }
        let appendable = old.is_some() && !dropped && is_v3_ending_in_newline(path);
        if appendable && !added.is_empty() {
            let lines: String = added.iter().map(uidlist::record_line).collect();
            append(path, lines.as_bytes()).map_err(io_at(path))?;
            list.records.extend(added);
            drop(lock);
        } else if old.is_none() || dropped || !added.is_empty() {
            list.records.extend(added);
            lock.replace(list.to_text().as_bytes()).map_err(io_at(path))?;
        }
        Ok((list, seen))
    }

    /// Scans `new/` then `cur/`: base name to (file name, in new/). A file moved from new/ to
    /// cur/ during the scan is seen twice; cur/ wins.
    fn scan(&self) -> Result<Seen, MailboxError> {
        let mut seen = Seen::new();
        for (sub, in_new) in [("new", true), ("cur", false)] {
            let dir = self.dir.join(sub);
            let entries = fs::read_dir(&dir).map_err(io_at(&dir))?;
            for entry in entries {
                let entry = entry.map_err(io_at(&dir))?;
                let Ok(name) = entry.file_name().into_string() else { continue };
                if name.starts_with('.') || entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                match seen.entry(base_name(&name).to_string()) {
                    Slot::Vacant(v) => drop(v.insert((name, in_new))),
                    // Seen twice: renamed while the scan read the directory. The name that
                    // exists now is current (cur/'s, for a file moved out of new/).
                    Slot::Occupied(mut o) => {
                        let (old, old_in_new) = o.get();
                        let old_path = self.dir.join(if *old_in_new { "new" } else { "cur" }).join(old);
                        if *old_in_new != in_new || !old_path.exists() {
                            o.insert((name, in_new));
                        }
                    }
                }
            }
        }
        Ok(seen)
    }

    /// A new UIDVALIDITY means new UIDs: what is known by the old ones is dropped.
    fn forget_if_renumbered(&mut self, uidvalidity: u32) {
        if self.uidvalidity != uidvalidity {
            self.cache = Cache::default();
            self.cache_released = true;
            self.messages = Arc::default();
        }
    }

    /// The records of `list` whose files the scan saw, as messages.
    fn messages_from(&self, list: UidList, mut seen: Seen) -> Vec<Message> {
        let mut messages = Vec::with_capacity(list.records.len());
        for rec in list.records {
            // A file renamed or removed between the uidlist read and this scan: the next sync
            // settles it; until then it is not listed.
            let Some((name, in_new)) = seen.remove(&rec.base) else { continue };
            messages.push(self.message_from(rec, name, in_new));
        }
        messages
    }

    /// Replaces the message list, reporting the differences.
    fn install(&mut self, uidvalidity: u32, next_uid: u32, messages: Arc<Vec<Message>>) -> Changes {
        self.forget_if_renumbered(uidvalidity);
        self.uidvalidity = uidvalidity;
        self.next_uid = next_uid;
        if Arc::ptr_eq(&self.messages, &messages) {
            return Changes::default();
        }
        let changes = diff(&self.messages, &messages);
        self.messages = messages;
        if !self.cache_released && !changes.expunged.is_empty() {
            let messages = &self.messages;
            self.cache.retain(|u| messages.binary_search_by_key(&u, |m| m.uid).is_ok());
        }
        changes
    }

    fn message_from(&self, rec: Record, name: String, in_new: bool) -> Message {
        let cached = self.cache.get(rec.uid);
        // A released cache is empty: sizes the name does not carry stay as last known.
        let known = self.cache_released.then(|| self.message(rec.uid)).flatten();
        // Sizes in the name are read from it on use; only the others are stored, so that every
        // session's list of the same directory compares equal and is shared.
        let size_of = |letter: char, cached: Option<u64>, known: Option<u64>| {
            name_ext(&rec.base, letter)
                .is_none()
                .then(|| rec.ext(letter).and_then(|v| v.parse().ok()).or(cached).or(known))
                .flatten()
        };
        let size = size_of('S', cached.and_then(|c| c.size), known.and_then(Message::size));
        let vsize = size_of('W', cached.and_then(|c| c.vsize), known.and_then(Message::vsize));
        let (pop3_uidl, pop3_order, guid) = (
            rec.ext('P').map(String::from),
            rec.ext('O').and_then(|o| o.parse().ok()),
            rec.ext('G').map(String::from),
        );
        let extra = (pop3_uidl.is_some() || pop3_order.is_some() || guid.is_some())
            .then(|| Box::new(Extra { pop3_uidl, pop3_order, guid }));
        debug_assert_eq!(base_name(&name), rec.base);
        let mut m = Message {
            uid: rec.uid,
            flags: Flags::from_file_name(&name),
            name: name.into_boxed_str(),
            in_new,
            size: None,
            vsize: None,
            extra,
            modseq: 0,
        };
        m.learn_sizes(size, vsize);
        m
    }

    /// Works out the sizes of every message whose name does not carry them (one read of each
    /// such file, remembered in `mailroom.cache`), then saves the cache if it changed.
    pub fn fill_sizes(&mut self) -> Result<(), MailboxError> {
        for i in 0..self.messages.len() {
            if self.messages[i].vsize().is_some() && self.messages[i].size().is_some() {
                continue;
            }
            let uid = self.messages[i].uid;
            match self.cached_entry(uid) {
                Ok(e) => Arc::make_mut(&mut self.messages)[i].learn_sizes(e.size, e.vsize),
                // Expunged by someone else meanwhile: the next sync drops it.
                Err(MailboxError::Expunged(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.save_cache()
    }

    /// Saves the cache and drops it from memory until it is needed again: a session that
    /// only waits (IMAP IDLE) then holds the message list and nothing per message besides.
    pub fn release_cache(&mut self) -> Result<(), MailboxError> {
        self.save_cache()?;
        self.cache = Cache::default();
        self.cache_released = true;
        Ok(())
    }

    /// The cache entry of `uid`, reading the message once if the cache lacks it.
    pub fn cached_entry(&mut self, uid: u32) -> Result<Entry, MailboxError> {
        if self.cache_released {
            self.cache = Cache::load(&self.dir, self.uidvalidity);
            let messages = &self.messages;
            self.cache.retain(|u| messages.binary_search_by_key(&u, |m| m.uid).is_ok());
            self.cache_released = false;
        }
        if let Some(e) = self.cache.get(uid).filter(|e| e.vsize.is_some() && e.header_size.is_some()) {
            return Ok(e.clone());
        }
        let (file, path) = self.open_message(uid)?;
        let entry = cache::scan_message(io::BufReader::new(file)).map_err(io_at(&path))?;
        self.cache.put(uid, entry.clone());
        Ok(entry)
    }

    /// The ENVELOPE header fields of `uid` (see [`cache::ENVELOPE_FIELDS`]), from the cache.
    pub fn envelope_headers(&mut self, uid: u32) -> Result<Vec<u8>, MailboxError> {
        let e = self.cached_entry(uid)?;
        match e.envelope {
            Some(env) => Ok(env),
            // Too long to cache: read the header again.
            None => {
                let (file, path) = self.open_message(uid)?;
                let mut header = Vec::new();
                file.take(e.header_size.unwrap_or(0)).read_to_end(&mut header).map_err(io_at(&path))?;
                Ok(header)
            }
        }
    }

    /// Writes `mailroom.cache` if it changed.
    pub fn save_cache(&mut self) -> Result<(), MailboxError> {
        self.cache.save(&self.dir, FILE_MODE).map_err(io_at(&self.dir))
    }

    /// Opens the file of `uid` for reading, following it if another session renamed it.
    pub fn open_message(&mut self, uid: u32) -> Result<(File, PathBuf), MailboxError> {
        for _ in 0..RELOCATE_TRIES {
            let path = self.path_of(uid)?;
            match File::open(&path) {
                Ok(f) => return Ok((f, path)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.relocate(uid)?,
                Err(e) => return Err(MailboxError::Io { path, source: e }),
            }
        }
        Err(MailboxError::Expunged(uid))
    }

    /// Applies `change` to the flags `uid`'s file has now, renaming it into `cur/` (a message
    /// in `new/` moves to `cur/` even when its flags stay the same); true if its flags changed.
    /// The rename from the name this mailbox knows is what checks that the flags on disk are
    /// still the ones it knows: when another session renamed the file meanwhile, the rename
    /// fails, and the change is applied to the flags of the name found instead, so that
    /// neither session's change is lost.
    pub fn set_flags(&mut self, uid: u32, change: &FlagChange) -> Result<bool, MailboxError> {
        for _ in 0..RELOCATE_TRIES {
            let i = self.index_of(uid).ok_or(MailboxError::NoSuchUid(uid))?;
            let m = &self.messages[i];
            // The name, not `m.flags`: after a relocation those are still the ones last reported.
            let current = Flags::from_file_name(&m.name);
            let flags = change.apply(&current);
            let from = self.path_of(uid)?;
            if !m.in_new && current == flags {
                // Nothing to rename; the file must still be there with those flags.
                match fs::symlink_metadata(&from) {
                    Ok(_) => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        self.relocate(uid)?;
                        continue;
                    }
                    Err(e) => return Err(MailboxError::Io { path: from, source: e }),
                }
            }
            let name = format!("{}:{}", m.base_name(), flags.to_info());
            let to = self.dir.join("cur").join(&name);
            match fs::rename(&from, &to) {
                Ok(()) => {
                    let m = &mut Arc::make_mut(&mut self.messages)[i];
                    if m.flags != flags {
                        // Not recorded in mailroom.modseq: the next sync must read it.
                        self.modseq_id = None;
                    }
                    (m.name, m.in_new, m.flags) = (name.into_boxed_str(), false, flags.clone());
                    return Ok(current != flags);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => self.relocate(uid)?,
                Err(e) => return Err(MailboxError::Io { path: from, source: e }),
            }
        }
        Err(MailboxError::Expunged(uid))
    }

    /// Moves `uid`'s file from `new/` to `cur/`, its flags unchanged: true if this call moved
    /// it, false if it was no longer in `new/` (another session moved it first, or it is
    /// gone). IMAP gives `\Recent` to the one session whose call moved it.
    pub fn claim_new(&mut self, uid: u32) -> Result<bool, MailboxError> {
        let i = self.index_of(uid).ok_or(MailboxError::NoSuchUid(uid))?;
        let m = &self.messages[i];
        if !m.in_new {
            return Ok(false);
        }
        let from = self.path_of(uid)?;
        let name = format!("{}:{}", m.base_name(), Flags::from_file_name(&m.name).to_info());
        match fs::rename(&from, self.dir.join("cur").join(&name)) {
            Ok(()) => {
                let m = &mut Arc::make_mut(&mut self.messages)[i];
                (m.name, m.in_new) = (name.into_boxed_str(), false);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.relocate(uid) {
                Ok(()) | Err(MailboxError::Expunged(_)) => Ok(false),
                Err(e) => Err(e),
            },
            Err(e) => Err(MailboxError::Io { path: from, source: e }),
        }
    }

    /// The index of keyword `name`, adding it to `dovecot-keywords` if it is new.
    pub fn keyword_index(&mut self, name: &str) -> Result<usize, MailboxError> {
        Ok(self.keywords.intern(&self.dir, name, FILE_MODE)?)
    }

    /// Removes the message `uid` (unlinks its file): true if this call removed it, false if it
    /// was already gone (another session expunged it; quota must not count it twice). Its
    /// uidlist record is dropped by the next sync.
    pub fn expunge(&mut self, uid: u32) -> Result<bool, MailboxError> {
        Ok(self.expunge_if(uid, |_| true)? == Removal::Removed)
    }

    /// IMAP EXPUNGE's removal of `uid`: only while its file still has `\Deleted`. The unlink by
    /// name is what checks it: a name with `T` exists only while the flag is set, so a session
    /// that cleared the flag meanwhile (its rename made the name vanish) keeps its message.
    pub fn expunge_deleted(&mut self, uid: u32) -> Result<Removal, MailboxError> {
        self.expunge_if(uid, |name| Flags::from_file_name(name).has(crate::flags::Flag::Deleted))
    }

    fn expunge_if(&mut self, uid: u32, wanted: impl Fn(&str) -> bool) -> Result<Removal, MailboxError> {
        let result = (|| {
            for _ in 0..RELOCATE_TRIES {
                let path = self.path_of(uid)?;
                if !wanted(&self.messages[self.index_of(uid).ok_or(MailboxError::NoSuchUid(uid))?].name) {
                    return Ok(Removal::Kept);
                }
                match fs::remove_file(&path) {
                    Ok(()) => return Ok(Removal::Removed),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => self.relocate(uid)?,
                    Err(e) => return Err(MailboxError::Io { path, source: e }),
                }
            }
            Err(MailboxError::Expunged(uid))
        })();
        let removal = match result {
            Ok(r) => r,
            Err(MailboxError::Expunged(_)) => Removal::Gone,
            Err(e) => return Err(e),
        };
        if removal != Removal::Kept
            && let Some(i) = self.index_of(uid)
        {
            Arc::make_mut(&mut self.messages).remove(i);
            // The expunge is recorded in mailroom.modseq by the next sync, which must read it.
            self.modseq_id = None;
        }
        Ok(removal)
    }

    fn path_of(&self, uid: u32) -> Result<PathBuf, MailboxError> {
        let m = &self.messages[self.index_of(uid).ok_or(MailboxError::NoSuchUid(uid))?];
        Ok(self.dir.join(if m.in_new { "new" } else { "cur" }).join(&*m.name))
    }

    /// Finds the current name of `uid`'s file after it vanished from where we saw it.
    ///
    /// readdir may miss a file renamed while it reads the directory, and under many sessions
    /// changing flags that happens scan after scan; taking such a miss for an expunge would
    /// drop the caller's change on the floor. A rename changes the directory's times, so a
    /// miss counts only from a scan over which `new/` and `cur/` kept times set before it
    /// began (the kernel's clock for them is coarse: a change within its last tick could
    /// leave them equal).
    fn relocate(&mut self, uid: u32) -> Result<(), MailboxError> {
        let i = self.index_of(uid).ok_or(MailboxError::NoSuchUid(uid))?;
        let base = self.messages[i].base_name().to_string();
        for attempt in 0..RESCANS {
            let before = dir_times(&self.dir);
            let started = SystemTime::now();
            let seen = self.scan()?;
            if let Some((name, in_new)) = seen.get(&base) {
                let m = &mut Arc::make_mut(&mut self.messages)[i];
                // The flags stay as last reported, so that the next sync reports the change.
                (m.name, m.in_new) = (name.as_str().into(), *in_new);
                return Ok(());
            }
            let settled = before.iter().all(|t| t.is_some_and(|t| t + CLOCK_TICK <= started));
            if settled && dir_times(&self.dir) == before {
                break;
            }
            if attempt > 0 {
                // Let the sessions renaming it finish before looking again.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        Err(MailboxError::Expunged(uid))
    }
}

/// How many scans [`Mailbox::relocate`] makes of a directory that keeps changing.
const RESCANS: usize = 10;

/// More than the kernel's coarse clock tick (1 to 10 ms) that directory times come from.
const CLOCK_TICK: Duration = Duration::from_millis(20);

/// The modification times of `new/` and `cur/`.
fn dir_times(dir: &Path) -> [Option<SystemTime>; 2] {
    ["new", "cur"].map(|sub| fs::metadata(dir.join(sub)).and_then(|m| m.modified()).ok())
}

/// What changed from `old` to `new`, both ascending by UID.
fn diff(old: &[Message], new: &[Message]) -> Changes {
    let mut changes = Changes::default();
    let (mut i, mut j) = (0, 0);
    loop {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a.uid == b.uid => {
                if a.flags != b.flags {
                    changes.flags.push(b.uid);
                } else if a.modseq != b.modseq {
                    changes.modseqs.push(b.uid);
                }
                (i, j) = (i + 1, j + 1);
            }
            (Some(a), Some(b)) if a.uid > b.uid => {
                changes.added.push(b.uid);
                j += 1;
            }
            (Some(a), _) => {
                changes.expunged.push(a.uid);
                i += 1;
            }
            (None, Some(b)) => {
                changes.added.push(b.uid);
                j += 1;
            }
            (None, None) => return changes,
        }
    }
}

fn read_uidlist(path: &Path) -> Result<Option<UidList>, MailboxError> {
    match fs::read_to_string(path) {
        // A header we cannot read is treated like no file: a new UIDVALIDITY, as Dovecot does.
        Ok(text) => Ok(UidList::parse(&text).ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MailboxError::Io { path: path.to_path_buf(), source: e }),
    }
}

/// Only a version 3 file whose last line is complete can take appended records.
fn is_v3_ending_in_newline(path: &Path) -> bool {
    let Ok(mut f) = File::open(path) else { return false };
    let mut first = [0u8; 2];
    let mut last = [0u8; 1];
    f.read_exact(&mut first).is_ok()
        && &first == b"3 "
        && f.seek(SeekFrom::End(-1)).is_ok()
        && f.read_exact(&mut last).is_ok()
        && last[0] == b'\n'
}

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().append(true).open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// The value of a `,<letter>=<digits>` extension in a base name.
fn name_ext(base: &str, letter: char) -> Option<u64> {
    // Read on every size lookup (FETCH 1:* RFC822.SIZE), so no allocation and no searcher.
    let tag = [b',', letter as u8, b'='];
    let at = base.as_bytes().windows(3).rposition(|w| w == tag)? + tag.len();
    let digits = &base[at..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    (end > 0 && matches!(digits[end..].chars().next(), None | Some(',')))
        .then(|| digits[..end].parse().ok())?
}

/// Sort key for numbering new files: the leading seconds, then the microseconds (`M<usecs>`,
/// not zero-padded), then the name.
fn delivery_order(base: &str) -> (u64, u64, String) {
    let (secs, rest) = base.split_once('.').unwrap_or((base, ""));
    let usecs = rest
        .strip_prefix('M')
        .map(|r| r.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    (secs.parse().unwrap_or(u64::MAX), usecs, base.to_string())
}

/// The Maildir++ root a mailbox directory belongs to, where its UIDVALIDITY comes from: the
/// parent of a `.Folder` directory inside a Maildir, else the directory itself (INBOX).
fn maildir_root(dir: &Path) -> &Path {
    let folder = dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
    match dir.parent() {
        Some(parent) if folder && parent.join("cur").is_dir() => parent,
        _ => dir,
    }
}

/// 32 hex digits from the kernel's random source (the mailbox GUID in the uidlist header).
fn random_guid() -> String {
    let mut bytes = [0u8; 16];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_err() {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        bytes = (t ^ ((std::process::id() as u128) << 64)).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_extensions() {
        assert_eq!(name_ext("1.M2P3.h,S=10,W=12", 'W'), Some(12));
        assert_eq!(name_ext("1.M2P3.h,S=10,W=12", 'S'), Some(10));
        assert_eq!(name_ext("1.M2P3.h,S=10x", 'S'), None);
        assert_eq!(name_ext("1.M2P3.h", 'S'), None);
    }

    #[test]
    fn delivery_order_reads_unpadded_microseconds() {
        let mut v = ["1700000001.M5P1.h", "1700000000.M999P1.h", "1700000000.M10P1.h", "junk"];
        v.sort_by_key(|b| delivery_order(b));
        assert_eq!(v, ["1700000000.M10P1.h", "1700000000.M999P1.h", "1700000001.M5P1.h", "junk"]);
    }

    #[test]
    fn a_released_cache_comes_back_when_needed() {
        let tmp = tempfile::tempdir().unwrap();
        let md = crate::Maildir::new(tmp.path());
        md.create().unwrap();
        // No ,S= or ,W= in the name: the sizes come from reading the file, then the cache.
        fs::write(tmp.path().join("new/1.M1P1.h"), "Subject: x\n\nbody\n").unwrap();
        let mut mb = Mailbox::open(tmp.path()).unwrap();
        mb.fill_sizes().unwrap();
        assert_eq!(mb.messages()[0].vsize(), Some(20));
        mb.release_cache().unwrap();
        fs::write(tmp.path().join("new/2.M1P1.h"), "Subject: y\n\nb\n").unwrap();
        mb.sync().unwrap();
        assert_eq!(mb.messages()[0].vsize(), Some(20), "known sizes stay");
        assert_eq!(mb.messages()[1].vsize(), None);
        assert_eq!(mb.envelope_headers(1).unwrap(), b"Subject: x\n");
        assert_eq!(mb.cached_entry(2).unwrap().vsize, Some(17));
    }

    #[test]
    fn guids_are_hex() {
        let g = random_guid();
        assert_eq!(g.len(), 32);
        assert!(g.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(g, random_guid());
    }
}
