//! The spool directory and the operations on it that must be durable: accepting a message
//! (write, fsync, rename, fsync the directory, batched across sessions), reading one back under
//! a lock, recording delivery state, removing it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{Flock, FlockArg};

use super::{Envelope, QueueId, State};

/// Mode of a queue file being written.
const INCOMPLETE_MODE: u32 = 0o600;
/// Mode of a complete queue file: the owner-execute bit says "accepted".
const COMPLETE_MODE: u32 = 0o700;

/// The spool: `queue/` (envelope + message; complete, hence accepted, once its owner-execute
/// bit is set, as Postfix marks its queue files) and `state/` (delivery state of messages tried
/// at least once).
#[derive(Clone)]
pub struct Spool {
    root: PathBuf,
    queue_sync: Arc<DirSync>,
}

impl Spool {
    /// Open (creating the directories, mode 0700) the spool at `root`.
    pub fn open(root: &Path) -> io::Result<Spool> {
        for sub in ["queue", "state"] {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(root.join(sub))?;
        }
        let queue_sync = Arc::new(DirSync::new(&root.join("queue"))?);
        Ok(Spool { root: root.to_path_buf(), queue_sync })
    }

    /// The spool's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn queue_path(&self, id: &QueueId) -> PathBuf {
        self.root.join("queue").join(id.as_str())
    }

    fn state_path(&self, id: &QueueId) -> PathBuf {
        self.root.join("state").join(id.as_str())
    }

    /// Start receiving a message for `env` (its id is replaced by a fresh unique one).
    pub fn create(&self, mut env: Envelope) -> io::Result<Incoming> {
        env.id = QueueId::generate();
        self.create_as(env)
    }

    /// [`Spool::create`] keeping `env`'s id (one the milters already saw as `i`) unless a file
    /// has it already.
    pub fn create_as(&self, mut env: Envelope) -> io::Result<Incoming> {
        loop {
            let path = self.queue_path(&env.id);
            match OpenOptions::new().write(true).create_new(true).mode(INCOMPLETE_MODE).open(&path) {
                Ok(f) => {
                    let mut file = BufWriter::with_capacity(64 * 1024, f);
                    file.write_all(&env.encode())?;
                    return Ok(Incoming { file: Some(file), path, id: env.id.clone(), size: 0, held: false });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => env.id = QueueId::generate(),
                Err(e) => return Err(e),
            }
        }
    }

    /// Make `incoming` part of the queue: mark it complete (owner-execute), fsync it, then
    /// fsync the directory (one fsync serves every session committing at the same time). Only
    /// after this returns may the client be told 250. One journal commit carries the data, the
    /// mark and, on ext4 and XFS, the new directory entry, so the directory fsync is usually
    /// cheap; it is there because POSIX promises nothing without it.
    pub async fn commit(&self, mut incoming: Incoming) -> io::Result<QueueId> {
        let file = incoming.file.take().expect("an Incoming is committed once");
        let hold = incoming.held.then(|| StateWrite {
            path: self.state_path(&incoming.id),
            text: State { held: true, ..State::default() }.encode(),
            owner: (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw()),
        });
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let file = file.into_inner().map_err(|e| e.into_error())?;
            // On hold before it is complete: the queue manager never sees it due.
            if let Some(w) = hold {
                w.run()?;
            }
            file.set_permissions(fs::Permissions::from_mode(COMPLETE_MODE))?;
            file.sync_all()
        })
        .await
        .map_err(io::Error::other)??;
        self.queue_sync.sync().await?;
        Ok(incoming.id.clone())
    }

    /// Ids of every accepted (complete) message, oldest first.
    pub fn ids(&self) -> io::Result<Vec<QueueId>> {
        Ok(self.scan()?.into_iter().filter_map(|(id, complete)| complete.then_some(id)).collect())
    }

    /// How many accepted messages the queue holds, and when the oldest was written.
    pub fn census(&self) -> io::Result<(usize, Option<std::time::SystemTime>)> {
        let (mut n, mut oldest) = (0, None::<std::time::SystemTime>);
        for e in fs::read_dir(self.root.join("queue"))? {
            let e = e?;
            if e.file_name().to_str().and_then(QueueId::parse).is_none() {
                continue;
            }
            match e.metadata() {
                Ok(m) if m.mode() & 0o100 != 0 => {
                    n += 1;
                    let t = m.modified()?;
                    oldest = Some(oldest.map_or(t, |o| o.min(t)));
                }
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        Ok((n, oldest))
    }

    /// Every queue file, and whether it is complete.
    fn scan(&self) -> io::Result<Vec<(QueueId, bool)>> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.root.join("queue"))? {
            let e = e?;
            let Some(id) = e.file_name().to_str().and_then(QueueId::parse) else { continue };
            match e.metadata() {
                Ok(m) => out.push((id, m.mode() & 0o100 != 0)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove the incomplete files a crash left: never acknowledged, so never promised. Only
    /// at start-up, when no session is writing.
    pub fn clean_incomplete(&self) -> io::Result<usize> {
        let mut n = 0;
        for (id, complete) in self.scan()? {
            if !complete {
                fs::remove_file(self.queue_path(&id))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Open message `id` and lock it against other deliveries and admin changes. `Ok(None)`
    /// when it is gone, or when `wait` is false and someone else holds the lock.
    pub fn lock(&self, id: &QueueId, wait: bool) -> io::Result<Option<Queued>> {
        let file = match File::open(self.queue_path(id)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let arg = if wait { FlockArg::LockExclusive } else { FlockArg::LockExclusiveNonblock };
        let file = match Flock::lock(file, arg) {
            Ok(f) => f,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Ok(None),
            Err((_, e)) => return Err(e.into()),
        };
        // Deleted while we waited for the lock: the name no longer leads to this file.
        if !self.queue_path(id).exists() {
            return Ok(None);
        }
        let mut reader = BufReader::new(&*file);
        let (envelope, offset) = Envelope::decode(&mut reader)?;
        let mut state = self.read_state(id)?;
        state.fit(&envelope);
        Ok(Some(Queued { envelope, state, offset, file, spool: self.clone() }))
    }

    /// The state of `id` (default when never tried).
    pub fn read_state(&self, id: &QueueId) -> io::Result<State> {
        match fs::read_to_string(self.state_path(id)) {
            Ok(s) => State::decode(&s).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("state/{id}: not a state file"))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e),
        }
    }
}

/// A message being received; dropped without commit, it is removed.
pub struct Incoming {
    file: Option<BufWriter<File>>,
    path: PathBuf,
    id: QueueId,
    size: u64,
    held: bool,
}

impl Incoming {
    /// Commit it on hold (a milter's quarantine), as `mailroomctl queue hold` would.
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// The id the message will have.
    pub fn id(&self) -> &QueueId {
        &self.id
    }

    /// Message bytes so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append message bytes (page-cache writes; the fsync comes at commit).
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.size += bytes.len() as u64;
        self.file.as_mut().expect("not committed").write_all(bytes)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// An accepted message, locked for delivery or an admin change.
pub struct Queued {
    /// Its envelope.
    pub envelope: Envelope,
    /// Its delivery state.
    pub state: State,
    offset: u64,
    file: Flock<File>,
    spool: Spool,
}

impl Queued {
    /// A reader over the message itself (after the envelope).
    pub fn message(&self) -> io::Result<File> {
        let mut f = self.file.try_clone()?;
        f.seek(SeekFrom::Start(self.offset))?;
        Ok(f)
    }

    /// The message's size in bytes.
    pub fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len().saturating_sub(self.offset))
    }

    /// Does the message contain a byte above 127? Clients declare BODY=8BITMIME freely; what
    /// matters towards a peer without 8BITMIME is the content itself.
    pub fn has_8bit(&self) -> io::Result<bool> {
        let mut r = io::BufReader::with_capacity(64 * 1024, self.message()?);
        loop {
            let buf = io::BufRead::fill_buf(&mut r)?;
            if buf.is_empty() {
                return Ok(false);
            }
            if buf.iter().any(|&b| b >= 0x80) {
                return Ok(true);
            }
            let n = buf.len();
            io::BufRead::consume(&mut r, n);
        }
    }

    /// The message's header section (up to the first empty line), at most `limit` bytes.
    pub fn headers(&self, limit: usize) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.message()?.take(limit as u64).read_to_end(&mut buf)?;
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end + 2);
        }
        Ok(buf)
    }

    /// Save `self.state` durably; returns once it is. This blocks on the disk: async code
    /// calls [`Queued::store_state`].
    pub fn save_state(&self) -> io::Result<()> {
        self.state_write()?.run()
    }

    /// [`Queued::save_state`] on a blocking thread, so no async worker waits for an fsync.
    pub async fn store_state(&self) -> io::Result<()> {
        let write = self.state_write()?;
        tokio::task::spawn_blocking(move || write.run()).await.map_err(io::Error::other)?
    }

    fn state_write(&self) -> io::Result<StateWrite> {
        let owner = self.file.metadata()?;
        Ok(StateWrite {
            path: self.spool.state_path(&self.envelope.id),
            text: self.state.encode(),
            owner: (owner.uid(), owner.gid()),
        })
    }

    /// Delivery is over for every recipient: remove the message and its state. Blocking (a
    /// lost removal only means a second delivery, which the MDA absorbs: no fsync).
    pub fn remove(self) -> io::Result<()> {
        match fs::remove_file(self.spool.state_path(&self.envelope.id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::remove_file(self.spool.queue_path(&self.envelope.id))
    }
}

/// A state file to write: temporary file, fsync, rename over the old one, fsync the directory.
struct StateWrite {
    path: PathBuf,
    text: String,
    /// The queue file's owner, which the state file keeps.
    owner: (u32, u32),
}

impl StateWrite {
    fn run(self) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(self.text.as_bytes())?;
        // mailroomctl runs as root: the file must stay the MTA's, like the queue file.
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::fchown(&f, Some(self.owner.0), Some(self.owner.1))?;
        }
        f.sync_data()?;
        fs::rename(&tmp, &self.path)?;
        File::open(self.path.parent().expect("state files live in state/"))?.sync_all()
    }
}

/// Group commit for one directory: every caller needs an fsync that began after its rename;
/// one fsync covers everyone who asked before it started, so concurrent sessions share it.
struct DirSync {
    dir: File,
    requested: AtomicU64,
    completed: AtomicU64,
    turn: tokio::sync::Mutex<()>,
}

impl DirSync {
    fn new(path: &Path) -> io::Result<DirSync> {
        Ok(DirSync {
            dir: File::open(path)?,
            requested: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            turn: tokio::sync::Mutex::new(()),
        })
    }

    async fn sync(&self) -> io::Result<()> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = self.turn.lock().await;
        if self.completed.load(Ordering::SeqCst) >= ticket {
            return Ok(());
        }
        let upto = self.requested.load(Ordering::SeqCst);
        let dir = self.dir.try_clone()?;
        tokio::task::spawn_blocking(move || dir.sync_all()).await.map_err(io::Error::other)??;
        self.completed.store(upto, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::envelope::tests::sample;

    #[tokio::test]
    async fn accept_read_state_remove() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mut inc = spool.create(sample()).unwrap();
        inc.write(b"Subject: hi\r\n\r\nbody\r\n").unwrap();
        let id = spool.commit(inc).await.unwrap();
        assert_eq!(spool.ids().unwrap(), vec![id.clone()]);

        let mut q = spool.lock(&id, false).unwrap().unwrap();
        assert_eq!(q.envelope.recipients, sample().recipients);
        assert!(spool.lock(&id, false).unwrap().is_none(), "second lock must fail while held");
        let mut body = String::new();
        q.message().unwrap().read_to_string(&mut body).unwrap();
        assert_eq!(body, "Subject: hi\r\n\r\nbody\r\n");
        assert_eq!(q.headers(1000).unwrap(), b"Subject: hi\r\n");
        assert!(!q.has_8bit().unwrap());
        q.state.attempts = 1;
        q.save_state().unwrap();
        assert_eq!(spool.read_state(&id).unwrap().attempts, 1);
        q.state.attempts = 2;
        q.store_state().await.unwrap();
        drop(q);
        assert_eq!(spool.read_state(&id).unwrap().attempts, 2);
        assert!(!dir.path().join("state").join(format!("{id}.tmp")).exists());
        spool.lock(&id, true).unwrap().unwrap().remove().unwrap();
        assert!(spool.ids().unwrap().is_empty());
        assert!(spool.lock(&id, true).unwrap().is_none());
    }

    #[tokio::test]
    async fn uncommitted_messages_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mut inc = spool.create(sample()).unwrap();
        inc.write(b"x").unwrap();
        drop(inc);
        let kept = spool.create(sample()).unwrap();
        std::mem::forget(kept); // a crash: the incomplete file stays
        assert!(spool.ids().unwrap().is_empty(), "an incomplete file is not a message");
        assert_eq!(spool.clean_incomplete().unwrap(), 1);
        assert!(spool.ids().unwrap().is_empty());
    }

    #[tokio::test]
    async fn concurrent_commits_share_directory_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let spool = spool.clone();
            tasks.push(tokio::spawn(async move {
                let mut inc = spool.create(sample()).unwrap();
                inc.write(b"\r\n").unwrap();
                spool.commit(inc).await.unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(spool.ids().unwrap().len(), 20);
        assert_eq!(spool.queue_sync.requested.load(Ordering::SeqCst), 20);
        assert_eq!(spool.queue_sync.completed.load(Ordering::SeqCst), 20);
    }
}
