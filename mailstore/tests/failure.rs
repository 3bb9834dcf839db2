//! Real failures: a full filesystem (a 256 KiB tmpfs) and a Maildir we may not write.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use mailstore::{DeliverError, Maildir};
use support::{FailingReader, Lines, is_root, names};

/// Runs these tests one at a time. Each forks (mount, the child test), and a fork while the
/// other test holds a file open keeps that file alive in the child until exec: an unlinked
/// message would still use the tmpfs, a freshly copied binary would be "text file busy".
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` at `dir`, or says why not.
    fn tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Mount(dir.to_owned()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into())
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_full_leaves_nothing_behind() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnt");
    fs::create_dir(&dir).unwrap();
    let _mount = match Mount::tmpfs(&dir, "256k") {
        Ok(m) => m,
        Err(why) => {
            // Only root can mount: without it, the same clean-up path is driven by the input.
            eprintln!("NOTE: cannot mount a tmpfs ({}); testing an input failure instead", why.trim());
            let md = Maildir::new(tmp.path().join("Maildir"));
            let err = md.deliver(None, b"", &mut FailingReader { inner: Lines::new(20_000), good: 1 << 20 });
            assert!(err.unwrap_err().is_temporary());
            assert!(names(&md.root().join("new")).is_empty() && names(&md.root().join("tmp")).is_empty());
            return;
        }
    };
    let md = Maildir::new(dir.join("Maildir"));
    let err = md.deliver(None, b"", &mut Lines::new(13_274)).unwrap_err(); // 1 MiB on the wire
    assert!(matches!(err, DeliverError::Temporary(_)), "{err}");
    assert!(err.is_storage_full(), "{err}");
    assert!(names(&md.root().join("new")).is_empty());
    assert!(names(&md.root().join("tmp")).is_empty());
    // The space came back: a small message still fits.
    md.deliver(None, b"", &mut Lines::new(10)).unwrap();
}

/// Set in the child process that runs [`no_permission_is_permanent`] as an unprivileged user.
const CHILD_ENV: &str = "MAILSTORE_TEST_UNPRIVILEGED_MAILDIR";

#[test]
fn no_permission_is_permanent() {
    if let Ok(root) = std::env::var(CHILD_ENV) {
        return assert_permission_denied(&Maildir::new(root));
    }
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let md = Maildir::new(tmp.path().join("Maildir"));
    md.create().unwrap();
    if !is_root() {
        fs::set_permissions(md.root().join("tmp"), fs::Permissions::from_mode(0o500)).unwrap();
        return assert_permission_denied(&md);
    }
    // Root may write anywhere: run this test again as nobody, against root's private Maildir.
    // From a copy of the test binary, in case the build tree is not open to nobody.
    let bin = tempfile::tempdir().unwrap();
    fs::set_permissions(bin.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let exe = bin.path().join("failure-test");
    fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    let out = Command::new(&exe)
        .args(["--exact", "no_permission_is_permanent", "--nocapture", "--test-threads=1"])
        .current_dir("/")
        .env(CHILD_ENV, md.root())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "child ran no test:\n{stdout}");
}

fn assert_permission_denied(md: &Maildir) {
    let err = md.deliver(None, b"", &mut &b"Subject: x\r\n\r\n"[..]).unwrap_err();
    assert!(matches!(err, DeliverError::Permission(_)), "{err}");
    assert!(!err.is_temporary());
}
