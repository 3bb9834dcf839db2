//! The maildrop as one POP3 session sees it (RFC 1939 §5): the messages present at login,
//! numbered from 1, each with its size, UIDL and marks. Deliveries during the session are not
//! added (RFC 1939 numbers must stay stable); they are there at the next login.

/// One message of the maildrop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its mailbox UID, for the socket layer to read or expunge it.
    pub uid: u32,
    /// Its unique-id listing.
    pub uidl: String,
    /// Size with CRLF line ends, as RETR sends it (before dot-stuffing).
    pub size: u64,
    /// Marked by DELE.
    pub deleted: bool,
    /// Fetched whole by RETR (gets `\Seen` at QUIT).
    pub retrieved: bool,
}

impl Entry {
    /// A message as found at login.
    pub fn new(uid: u32, uidl: String, size: u64) -> Entry {
        Entry { uid, uidl, size, deleted: false, retrieved: false }
    }
}

/// The session's maildrop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maildrop {
    entries: Vec<Entry>,
}

/// Why a message number cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// No such message number.
    NoSuchMessage,
    /// Marked deleted.
    Deleted,
}

impl Maildrop {
    /// A maildrop of `entries`, numbered in this order.
    pub fn new(entries: Vec<Entry>) -> Maildrop {
        Maildrop { entries }
    }

    /// Every message, deleted or not, by number - 1.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Messages not marked deleted and their total size (STAT).
    pub fn stat(&self) -> (usize, u64) {
        self.live().fold((0, 0), |(n, s), (_, e)| (n + 1, s + e.size))
    }

    /// (number, entry) of the messages not marked deleted.
    pub fn live(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.entries.iter().enumerate().filter(|(_, e)| !e.deleted).map(|(i, e)| (i + 1, e))
    }

    /// The message numbered `n`, if usable.
    pub fn get(&self, n: u32) -> Result<&Entry, Unusable> {
        match self.entries.get((n as usize).wrapping_sub(1)) {
            None => Err(Unusable::NoSuchMessage),
            Some(e) if e.deleted => Err(Unusable::Deleted),
            Some(e) => Ok(e),
        }
    }

    /// Marks message `n` deleted.
    pub fn delete(&mut self, n: u32) -> Result<(), Unusable> {
        self.get(n)?;
        self.entries[n as usize - 1].deleted = true;
        Ok(())
    }

    /// Marks message `n` retrieved.
    pub fn retrieved(&mut self, n: u32) {
        if let Some(e) = self.entries.get_mut((n as usize).wrapping_sub(1)) {
            e.retrieved = true;
        }
    }

    /// Unmarks every deletion (RSET).
    pub fn reset(&mut self) {
        self.entries.iter_mut().for_each(|e| e.deleted = false);
    }

    /// UIDs marked deleted.
    pub fn deleted_uids(&self) -> Vec<u32> {
        self.entries.iter().filter(|e| e.deleted).map(|e| e.uid).collect()
    }

    /// UIDs retrieved and not deleted.
    pub fn retrieved_uids(&self) -> Vec<u32> {
        self.entries.iter().filter(|e| e.retrieved && !e.deleted).map(|e| e.uid).collect()
    }
}
