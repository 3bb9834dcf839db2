//! What `mailroomctl queue` does to the spool (mailq, postqueue, postsuper): list, show, hold,
//! release, delete, requeue. Each change takes the message's lock, so it never races a
//! delivery; the running MTA is then told to rescan through its control socket.

use std::io::{self, Read};

use super::{Envelope, Outcome, QueueId, Recipient, Spool, State};

/// One message as `mailq` shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The envelope.
    pub envelope: Envelope,
    /// Its delivery state: held, attempts, next attempt, each recipient's outcome.
    pub state: State,
    /// Message size in bytes.
    pub size: u64,
}

/// Every queued message, oldest first. Messages being delivered right now are listed too
/// (read without their lock: the envelope never changes).
pub fn list(spool: &Spool) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for id in spool.ids()? {
        match spool.peek(&id) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(e) => eprintln!("{id}: {e}"),
        }
    }
    Ok(out)
}

/// The envelope, state and message of `id` (postcat -q).
pub fn show(spool: &Spool, id: &QueueId) -> io::Result<Option<(Entry, Vec<u8>)>> {
    let Some(entry) = spool.peek(id)? else { return Ok(None) };
    let mut msg = Vec::new();
    spool.open_message(id)?.read_to_end(&mut msg)?;
    Ok(Some((entry, msg)))
}

/// A change to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Never try it until released (postsuper -h).
    Hold,
    /// Undo a hold and make it due now (postsuper -H).
    Release,
    /// Make it due now, forgetting the backoff (postsuper -r, postqueue -i).
    Requeue,
    /// Remove it without a bounce (postsuper -d).
    Delete,
}

/// Apply `change` to `id`, waiting for a delivery in progress to finish. False when no such
/// message exists.
pub fn change(spool: &Spool, id: &QueueId, change: Change) -> io::Result<bool> {
    let Some(mut q) = spool.lock(id, true)? else { return Ok(false) };
    match change {
        Change::Delete => q.remove()?,
        Change::Hold => {
            q.state.held = true;
            q.save_state()?;
        }
        Change::Release | Change::Requeue => {
            q.state.held = false;
            q.state.next_attempt = 0;
            q.save_state()?;
        }
    }
    Ok(true)
}

impl Entry {
    /// Arrival time as an RFC 5322 date.
    pub fn arrival_text(&self) -> String {
        mail_builder::headers::date::Date::new(self.envelope.arrival as i64).to_rfc822()
    }

    /// Every recipient with its outcome so far (`None`: not tried yet).
    pub fn recipients(&self) -> impl Iterator<Item = (&Recipient, Option<&Outcome>)> {
        self.envelope.rcpts().map(|r| (self.envelope.recipient(r), self.state.outcomes.get(&r)))
    }

    /// The recipients still to deliver, with their last temporary failure if any.
    pub fn pending(&self) -> impl Iterator<Item = (&Recipient, Option<&Outcome>)> {
        self.recipients().filter(|(_, o)| !o.is_some_and(|o| o.is_final()))
    }
}

impl Spool {
    /// Read `id`'s envelope and state without locking.
    pub fn peek(&self, id: &QueueId) -> io::Result<Option<Entry>> {
        let file = match std::fs::File::open(self.root().join("queue").join(id.as_str())) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let (env, offset) = Envelope::decode(&mut io::BufReader::new(file))?;
        let mut state = self.read_state(id)?;
        state.fit(&env);
        Ok(Some(Entry { envelope: env, state, size: len.saturating_sub(offset) }))
    }

    /// The message of `id`, positioned after its envelope.
    pub fn open_message(&self, id: &QueueId) -> io::Result<io::BufReader<std::fs::File>> {
        let file = std::fs::File::open(self.root().join("queue").join(id.as_str()))?;
        let mut r = io::BufReader::new(file);
        Envelope::decode(&mut r)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::envelope::tests::sample;

    #[tokio::test]
    async fn hold_release_requeue_delete() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mut inc = spool.create(sample()).unwrap();
        inc.write(b"Subject: x\r\n\r\nhi\r\n").unwrap();
        let id = spool.commit(inc).await.unwrap();

        let all = list(&spool).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].size, all[0].pending().count(), all[0].state.held), (18, 2, false));

        assert!(change(&spool, &id, Change::Hold).unwrap());
        assert!(spool.read_state(&id).unwrap().held);
        assert!(change(&spool, &id, Change::Release).unwrap());
        let st = spool.read_state(&id).unwrap();
        assert!(!st.held && st.next_attempt == 0);
        assert!(change(&spool, &id, Change::Requeue).unwrap());

        let (entry, msg) = show(&spool, &id).unwrap().unwrap();
        assert_eq!(entry.envelope.sender, "alice@a.test");
        assert_eq!(msg, b"Subject: x\r\n\r\nhi\r\n");

        assert!(change(&spool, &id, Change::Delete).unwrap());
        assert!(list(&spool).unwrap().is_empty());
        assert!(!change(&spool, &id, Change::Delete).unwrap());
    }
}
