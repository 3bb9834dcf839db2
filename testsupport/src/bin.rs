//! Other packages' binaries for integration tests.
//!
//! Cargo gives a test `CARGO_BIN_EXE_<name>` only for its own package's binaries; a test that
//! starts the whole stack (mailroom-mta with mailroom-mda and mailroom-saslauthd, mailroomctl)
//! finds the others next to its own executable, in the target directory's profile directory
//! (`target/debug/deps/<test>` → `target/debug/<name>`).
//!
//! [`path`] builds the binary with `cargo build --workspace --bin <name>` when it is missing,
//! and also when a source file of the workspace is newer than it (a stale binary would test old
//! code). Cargo releases its build lock before it runs the tests, so this works inside
//! `cargo test`; when another build holds the lock it waits, as cargo always does. If such a
//! rebuild fails (someone's unfinished edit elsewhere) while a binary exists, the existing one is
//! used and a warning is printed; a missing binary that cannot be built is a panic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// The package that holds each binary of the workspace.
const PACKAGES: &[(&str, &str)] = &[
    ("mailroom-mda", "mailroom-mda"),
    ("mailroom-mta", "mailroom-mta"),
    ("mailroom-mra", "mailroom-mra"),
    ("mailroom-saslauthd", "mailroom-saslauthd"),
    ("mailroom-web", "mailroom-web"),
    ("mailroomctl", "mailroomctl"),
];

/// The workspace root (this crate's parent directory).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testsupport lives in the workspace").to_path_buf()
}

/// The profile directory the running test executable was built into (`target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("the test executable has a directory").to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

/// The newest modification time of the workspace's sources (`*.rs`, `Cargo.toml`, `*.sql`),
/// outside `target/` and `fuzz/`.
fn newest_source() -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !matches!(name.as_ref(), "target" | "fuzz" | ".git") && !name.starts_with('.') {
                    walk(&p, newest);
                }
            } else if (name.ends_with(".rs") || name == "Cargo.toml" || name.ends_with(".sql"))
                && let Ok(m) = e.metadata().and_then(|m| m.modified())
            {
                *newest = Some(newest.map_or(m, |n| n.max(m)));
            }
        }
    }
    let mut newest = None;
    walk(&workspace(), &mut newest);
    newest
}

/// The path of the workspace binary `name` in the tests' target directory, built first when
/// it is missing or older than the sources (once per test process and binary).
pub fn path(name: &str) -> PathBuf {
    static DONE: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    // Held while building: parallel tests wait for one build instead of starting several.
    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = done.get(name) {
        return p.clone();
    }
    let package = PACKAGES
        .iter()
        .find(|(bin, _)| *bin == name)
        .map(|(_, pkg)| *pkg)
        .unwrap_or_else(|| panic!("testsupport::bin: unknown binary {name:?}"));
    let exe = profile_dir().join(name);
    // Cargo leaves a binary untouched when the sources that changed are not its own; the stamp
    // records when cargo last said it was up to date, so that it is not asked again for them.
    let stamp = profile_dir().join(".testsupport-bin").join(format!("{name}.checked"));
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let built = mtime(&exe);
    let checked = built.max(mtime(&stamp));
    let stale = match (built, newest_source()) {
        (None, _) => true,
        (Some(_), Some(src)) => checked.is_none_or(|c| src > c),
        (Some(_), None) => false,
    };
    if stale {
        let started = SystemTime::now();
        if build(package, name, &exe, built.is_some()) {
            // Stamped with the build's start: a source saved during the build is newer.
            let _ = std::fs::create_dir_all(stamp.parent().expect("stamp directory"));
            let _ = std::fs::File::create(&stamp).and_then(|f| f.set_modified(started));
        }
    }
    assert!(exe.is_file(), "{} does not exist after building it", exe.display());
    done.insert(name.to_string(), exe.clone());
    exe
}

/// `cargo build --workspace --bin NAME` into the profile directory of the running tests; true
/// when it succeeded.
fn build(package: &str, name: &str, exe: &Path, exists: bool) -> bool {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile_dir = profile_dir();
    let mut cmd = Command::new(&cargo);
    // --workspace, not -p: features unify as in `cargo build --workspace`, so the binaries
    // share its dependency builds (with -p each package would build its own set of them).
    cmd.current_dir(workspace()).args(["build", "--quiet", "--workspace", "--bin", name]);
    // target/debug → --target-dir target (a release test build lives in target/release).
    if let (Some(profile), Some(target)) = (profile_dir.file_name(), profile_dir.parent()) {
        cmd.arg("--target-dir").arg(target);
        if profile == "release" {
            cmd.arg("--release");
        }
    }
    eprintln!("testsupport::bin: building {name} ({cmd:?})");
    match cmd.status() {
        Ok(s) if s.success() => return true,
        Ok(s) if exists => eprintln!(
            "WARNING: testsupport::bin: `cargo build --bin {name}` ({package}) failed ({s}); using the existing, \
             possibly stale {}",
            exe.display()
        ),
        Ok(s) => panic!("cannot build {name}: `cargo build --workspace --bin {name}` ({package}) exited {s}"),
        Err(e) if exists => eprintln!(
            "WARNING: testsupport::bin: cannot run {cargo:?} ({e}); using the existing, possibly stale {}",
            exe.display()
        ),
        Err(e) => panic!("cannot build {name}: cannot run {cargo:?}: {e}"),
    }
    false
}
