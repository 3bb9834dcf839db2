//! A user's Sieve scripts where Pigeonhole keeps them, so that Dovecot's managesieve, our
//! ManageSieve, mailroom-web, `mailroomctl sieve` and the delivery agent all see one store:
//!
//! - the scripts are `<home>/sieve/<name>.sieve`;
//! - the active one is the symlink `<home>/.dovecot.sieve` → `sieve/<name>.sieve` (relative, as
//!   Pigeonhole writes it); no symlink means no active script;
//! - uploads are written in `<home>/sieve/tmp/`, fsynced, and renamed into place, so a reader
//!   never sees half a script.
//!
//! A `.dovecot.sieve` that is a regular file (written by hand before ManageSieve was used) is
//! the active script too; activating another moves it to the script `dovecot.orig` first, as
//! Pigeonhole does, so it is never lost.
//!
//! The home of a postfixadmin mailbox is its Maildir's parent when the Maildir is
//! `<home>/Maildir`, else the Maildir itself ([`home`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// The active script's name in the home, Pigeonhole's default `sieve = ~/.dovecot.sieve`.
pub const ACTIVE: &str = ".dovecot.sieve";
/// The scripts' directory in the home, Pigeonhole's default `sieve_dir = ~/sieve`.
pub const DIR: &str = "sieve";
/// What a regular-file `.dovecot.sieve` becomes when another script is activated.
pub const ORIGINAL: &str = "dovecot.orig";
const SUFFIX: &str = ".sieve";

/// The home a Maildir belongs to.
pub fn home(maildir: &Path) -> PathBuf {
    match maildir.file_name() {
        Some(n) if n == "Maildir" => maildir.parent().unwrap_or(maildir).to_path_buf(),
        _ => maildir.to_path_buf(),
    }
}

/// Why a script operation failed, in the terms ManageSieve answers with (RFC 5804 §1.3).
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The name is not a valid script name.
    #[error("invalid script name")]
    BadName,
    /// NONEXISTENT.
    #[error("script does not exist")]
    NotFound,
    /// ALREADYEXISTS.
    #[error("script already exists")]
    Exists,
    /// ACTIVE: the active script cannot be deleted.
    #[error("the active script cannot be deleted")]
    Active,
    /// A file system error: TRYLATER, temporary.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Checks a script name: RFC 5804 §1.6 allows any UTF-8 but control characters; names are
/// also file names here, so no `/`, no leading `.`, and at most 255 bytes with the suffix.
pub fn check_name(name: &str) -> Result<(), ScriptError> {
    let ok = !name.is_empty()
        && name.len() + SUFFIX.len() <= 255
        && !name.starts_with('.')
        && !name.chars().any(|c| c == '/' || c.is_control() || c == '\u{2028}' || c == '\u{2029}');
    if ok { Ok(()) } else { Err(ScriptError::BadName) }
}

/// One user's scripts.
#[derive(Debug, Clone)]
pub struct SieveScripts {
    home: PathBuf,
}

impl SieveScripts {
    pub fn new(home: impl Into<PathBuf>) -> SieveScripts {
        SieveScripts { home: home.into() }
    }

    /// The user's home.
    pub fn home(&self) -> &Path {
        &self.home
    }

    fn dir(&self) -> PathBuf {
        self.home.join(DIR)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(format!("{name}{SUFFIX}"))
    }

    /// The script names, sorted, with the active one marked.
    pub fn list(&self) -> io::Result<Vec<(String, bool)>> {
        let active = self.active()?;
        let mut names = Vec::new();
        let entries = match fs::read_dir(self.dir()) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(names),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let file = entry.file_name();
            let Some(name) = file.to_str().and_then(|f| f.strip_suffix(SUFFIX)) else { continue };
            if check_name(name).is_ok() {
                let is_active = active.as_deref() == Some(name);
                names.push((name.to_string(), is_active));
            }
        }
        names.sort();
        Ok(names)
    }

    /// The active script's name; `None` when there is none or `.dovecot.sieve` is a regular
    /// file (see [`SieveScripts::active_source`]).
    pub fn active(&self) -> io::Result<Option<String>> {
        let target = match fs::read_link(self.home.join(ACTIVE)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // A regular file: EINVAL.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Ok(None),
            Err(e) => return Err(e),
        };
        let name = target
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_suffix(SUFFIX))
            .map(str::to_string);
        Ok(name.filter(|n| self.path(n).is_file()))
    }

    /// The source delivery runs: what `.dovecot.sieve` holds, symlink or file.
    pub fn active_source(&self) -> Option<String> {
        fs::read_to_string(self.home.join(ACTIVE)).ok()
    }

    /// A script's source.
    pub fn get(&self, name: &str) -> Result<String, ScriptError> {
        check_name(name)?;
        match fs::read_to_string(self.path(name)) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ScriptError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// The total size in bytes of all scripts, for quota checks (HAVESPACE).
    pub fn used(&self) -> io::Result<(usize, u64)> {
        let mut count = 0;
        let mut bytes = 0;
        for (name, _) in self.list()? {
            count += 1;
            bytes += fs::metadata(self.path(&name))?.len();
        }
        Ok((count, bytes))
    }

    /// The size of a script, `None` when it does not exist.
    pub fn size(&self, name: &str) -> Result<Option<u64>, ScriptError> {
        check_name(name)?;
        match fs::metadata(self.path(name)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores `source` as `name`, replacing any script of that name, durably.
    pub fn put(&self, name: &str, source: &str) -> Result<(), ScriptError> {
        check_name(name)?;
        let dir = self.dir();
        let tmp_dir = dir.join("tmp");
        fs::create_dir_all(&tmp_dir)?;
        let tmp = tmp_dir.join(format!("{}.{}{SUFFIX}", std::process::id(), unique()));
        let written = (|| {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(source.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, self.path(name))?;
            File::open(&dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(written?)
    }

    /// Makes `name` the active script.
    pub fn activate(&self, name: &str) -> Result<(), ScriptError> {
        check_name(name)?;
        if !self.path(name).is_file() {
            return Err(ScriptError::NotFound);
        }
        let link = self.home.join(ACTIVE);
        if let Ok(meta) = fs::symlink_metadata(&link)
            && meta.file_type().is_file()
        {
            // A hand-written script: keep it as a script of its own before replacing it.
            let source = fs::read_to_string(&link)?;
            self.put(ORIGINAL, &source)?;
        }
        let tmp = self.home.join(format!("{ACTIVE}.{}.{}.tmp", std::process::id(), unique()));
        symlink(Path::new(DIR).join(format!("{name}{SUFFIX}")), &tmp)?;
        if let Err(e) = fs::rename(&tmp, &link) {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
        File::open(&self.home)?.sync_all()?;
        Ok(())
    }

    /// No active script (SETACTIVE "").
    pub fn deactivate(&self) -> Result<(), ScriptError> {
        let link = self.home.join(ACTIVE);
        match fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() => fs::remove_file(&link)?,
            Ok(_) => {
                // A hand-written script: keep it, as activate does.
                let source = fs::read_to_string(&link)?;
                self.put(ORIGINAL, &source)?;
                fs::remove_file(&link)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        File::open(&self.home)?.sync_all()?;
        Ok(())
    }

    /// Deletes a script that is not active.
    pub fn delete(&self, name: &str) -> Result<(), ScriptError> {
        check_name(name)?;
        if self.active()?.as_deref() == Some(name) {
            return Err(ScriptError::Active);
        }
        match fs::remove_file(self.path(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ScriptError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames a script; the active one stays active under its new name.
    pub fn rename(&self, old: &str, new: &str) -> Result<(), ScriptError> {
        check_name(old)?;
        check_name(new)?;
        if !self.path(old).is_file() {
            return Err(ScriptError::NotFound);
        }
        if self.path(new).exists() {
            return Err(ScriptError::Exists);
        }
        let was_active = self.active()?.as_deref() == Some(old);
        fs::rename(self.path(old), self.path(new))?;
        if was_active {
            self.activate(new)?;
        }
        File::open(self.dir())?.sync_all()?;
        Ok(())
    }
}

/// A per-process counter for temporary names.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_activate_rename_delete() {
        let home = tempfile::tempdir().unwrap();
        let s = SieveScripts::new(home.path());
        assert!(s.list().unwrap().is_empty());
        assert_eq!(s.active().unwrap(), None);
        s.put("main", "keep;\n").unwrap();
        s.put("other", "discard;\n").unwrap();
        s.activate("main").unwrap();
        assert_eq!(fs::read_link(home.path().join(ACTIVE)).unwrap(), Path::new("sieve/main.sieve"));
        assert_eq!(s.active_source().as_deref(), Some("keep;\n"));
        assert_eq!(s.list().unwrap(), vec![("main".into(), true), ("other".into(), false)]);
        assert!(matches!(s.delete("main"), Err(ScriptError::Active)));
        assert!(matches!(s.rename("main", "other"), Err(ScriptError::Exists)));
        s.rename("main", "renamed").unwrap();
        assert_eq!(s.active().unwrap().as_deref(), Some("renamed"));
        s.deactivate().unwrap();
        assert_eq!(s.active().unwrap(), None);
        s.delete("renamed").unwrap();
        assert!(matches!(s.get("renamed"), Err(ScriptError::NotFound)));
        assert_eq!(s.used().unwrap(), (1, 9));
        // Nothing left behind in tmp/.
        assert_eq!(fs::read_dir(home.path().join("sieve/tmp")).unwrap().count(), 0);
    }

    #[test]
    fn hand_written_script_is_kept() {
        let home = tempfile::tempdir().unwrap();
        fs::write(home.path().join(ACTIVE), "fileinto \"x\";\n").unwrap();
        let s = SieveScripts::new(home.path());
        assert_eq!(s.active_source().as_deref(), Some("fileinto \"x\";\n"));
        s.put("new", "keep;\n").unwrap();
        s.activate("new").unwrap();
        assert_eq!(s.get(ORIGINAL).unwrap(), "fileinto \"x\";\n");
        assert_eq!(s.active().unwrap().as_deref(), Some("new"));
    }

    #[test]
    fn names() {
        for bad in ["", ".hidden", "a/b", "a\nb", "x\u{7f}"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["main", "vacation rule", "Üben", "a.b"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
