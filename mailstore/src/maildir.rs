//! One user's Maildir++: the root (INBOX) and its `.Folder` directories, created as Dovecot does.
//!
//! Directories are made mode 0700 and files 0600, like Dovecot with its default permissions, so
//! only the mail owner (`vmail`) can read them. A process running as root (a command-line
//! delivery started by root, an admin tool) sets [`Ownership`] so that what it creates belongs
//! to the mail owner and stays readable by the daemons that run as that user.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, chown, fchown};
use std::path::{Path, PathBuf};

use crate::folder::FolderName;

/// The three directories of every Maildir, in the order Dovecot and Courier create them.
pub(crate) const SUBDIRS: [&str; 3] = ["tmp", "new", "cur"];

/// The empty file that marks a Maildir++ folder (for Courier's and maildrop's quota code).
pub const MAILDIRFOLDER: &str = "maildirfolder";

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// The owner given to everything this crate creates, when running as root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// Numeric user id of the mail owner.
    pub uid: u32,
    /// Numeric group id of the mail owner.
    pub gid: u32,
}

/// A Maildir++ mailbox at a root directory; cheap to build, touches nothing until used.
///
/// All I/O is synchronous std I/O with fsync: async callers run these methods on tokio's
/// blocking pool (`spawn_blocking`), never on a runtime thread.
#[derive(Clone, Debug)]
pub struct Maildir {
    root: PathBuf,
    owner: Option<Ownership>,
}

impl Maildir {
    /// A Maildir at `root`; nothing is created yet.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Maildir { root: root.into(), owner: None }
    }

    /// Makes everything created from now on belong to `owner` (chown; needs root).
    pub fn with_owner(mut self, owner: Ownership) -> Self {
        self.owner = Some(owner);
        self
    }

    /// The root directory, which is INBOX.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The owner set by [`Maildir::with_owner`], if any.
    pub fn owner(&self) -> Option<Ownership> {
        self.owner
    }

    /// The directory of a folder, or of INBOX for `None`.
    pub fn folder_path(&self, folder: Option<&FolderName>) -> PathBuf {
        match folder {
            None => self.root.clone(),
            Some(f) => self.root.join(f.dir_name()),
        }
    }

    /// Creates the root with `cur/ new/ tmp/`, and missing parents; fine if it exists.
    pub fn create(&self) -> io::Result<()> {
        self.mkdir_all(&self.root)?;
        self.create_subdirs(&self.root)
    }

    /// Whether a folder's directory exists.
    pub fn folder_exists(&self, folder: &FolderName) -> io::Result<bool> {
        match fs::metadata(self.folder_path(Some(folder))) {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates a folder (and the Maildir if needed); fine if it exists.
    ///
    /// Only the leaf is created, as Dovecot does: in Maildir++ `.A.B` does not need `.A`, and a
    /// client that wants `A` selectable creates it itself.
    pub fn create_folder(&self, folder: &FolderName) -> io::Result<()> {
        self.create()?;
        let dir = self.folder_path(Some(folder));
        self.mkdir(&dir)?;
        self.create_subdirs(&dir)?;
        self.create_file(&dir.join(MAILDIRFOLDER))
    }

    /// Creates `tmp/ new/ cur/` under `dir`.
    fn create_subdirs(&self, dir: &Path) -> io::Result<()> {
        for sub in SUBDIRS {
            self.mkdir(&dir.join(sub))?;
        }
        Ok(())
    }

    /// Creates `dir` and its missing parents, each 0700 and chowned.
    fn mkdir_all(&self, dir: &Path) -> io::Result<()> {
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => return Err(io::Error::new(io::ErrorKind::NotADirectory, dir.display().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.mkdir_all(parent)?;
        }
        self.mkdir(dir)
    }

    /// Creates one directory 0700 and chowns it; an existing one is left as it is.
    fn mkdir(&self, dir: &Path) -> io::Result<()> {
        match DirBuilder::new().mode(DIR_MODE).create(dir) {
            Ok(()) => self.chown_path(dir),
            // Another delivery may have raced us; what matters is that it is a directory now.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates an empty 0600 file if it does not exist, leaving an existing one untouched.
    fn create_file(&self, path: &Path) -> io::Result<()> {
        match self.create_new(path) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Opens a new file for writing with O_EXCL, mode 0600, owned by the mail owner.
    pub(crate) fn create_new(&self, path: &Path) -> io::Result<File> {
        let file = OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(path)?;
        if let Some(o) = self.owner
            && let Err(e) = fchown(&file, Some(o.uid), Some(o.gid))
        {
            drop(file);
            let _ = fs::remove_file(path);
            return Err(e);
        }
        Ok(file)
    }

    /// Gives a path we just created to the mail owner.
    fn chown_path(&self, path: &Path) -> io::Result<()> {
        match self.owner {
            Some(o) => chown(path, Some(o.uid), Some(o.gid)),
            None => Ok(()),
        }
    }
}

/// fsyncs a directory, so that a rename or create in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn create_is_idempotent_and_private() {
        let tmp = tempfile::tempdir().unwrap();
        let md = Maildir::new(tmp.path().join("example.org/alice/Maildir"));
        md.create().unwrap();
        md.create().unwrap();
        for sub in SUBDIRS {
            assert_eq!(mode(&md.root().join(sub)), 0o700);
        }
        assert_eq!(mode(md.root()), 0o700);
        assert_eq!(mode(&tmp.path().join("example.org")), 0o700);
    }

    #[test]
    fn create_refuses_a_file_in_the_way() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("Maildir"), b"").unwrap();
        let err = Maildir::new(tmp.path().join("Maildir")).create().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotADirectory);
    }

    #[test]
    fn folders() {
        let tmp = tempfile::tempdir().unwrap();
        let md = Maildir::new(tmp.path().join("Maildir"));
        let rust = FolderName::new("Lists/Rust").unwrap();
        assert!(!md.folder_exists(&rust).unwrap());
        md.create_folder(&rust).unwrap();
        md.create_folder(&rust).unwrap();
        assert!(md.folder_exists(&rust).unwrap());
        let dir = md.root().join(".Lists.Rust");
        assert_eq!(fs::metadata(dir.join(MAILDIRFOLDER)).unwrap().len(), 0);
        assert_eq!(mode(&dir.join(MAILDIRFOLDER)), 0o600);
        for sub in SUBDIRS {
            assert!(dir.join(sub).is_dir());
            assert!(md.root().join(sub).is_dir());
        }
        // Only the leaf: Dovecot does not create ".Lists" either.
        assert!(!md.root().join(".Lists").exists());
    }
}
