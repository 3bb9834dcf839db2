//! Running one test of this binary again as a child process, for what touches process-wide
//! state (environment, signals, uid, inherited fds) and must not disturb the test harness.
//!
//! A test `foo` starts with `if common::is_child("foo") { return child_body(); }` and the
//! parent runs `common::child("foo")`; the child prints [`DONE`] last so that the parent knows
//! the body ran to the end (a typo in the name would otherwise run zero tests and "pass").

#![allow(dead_code)] // each test binary uses a different part

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

/// Names the test a child process is to act out.
const CHILD_ENV: &str = "DAEMON_TEST_CHILD";
/// Printed by a child whose body finished.
pub const DONE: &str = "child body finished";

/// Whether this process is the child for `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(test)
}

/// The command that runs `test` alone as a child.
pub fn child(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(test_args(test)).env(CHILD_ENV, test);
    cmd
}

/// Like [`child`], through `sh` so that `LISTEN_PID` is the child's own pid (the shell execs
/// the test binary, keeping its pid), as systemd sets it.
pub fn activated_child(test: &str) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg(r#"export LISTEN_PID=$$; exec "$0" "$@""#);
    cmd.arg(std::env::current_exe().unwrap()).args(test_args(test)).env(CHILD_ENV, test);
    cmd
}

fn test_args(test: &str) -> [&str; 4] {
    [test, "--exact", "--nocapture", "--test-threads=1"]
}

/// Make `fds` the child's fds 3, 4, ... (without close-on-exec), as systemd passes sockets.
pub fn pass_fds(cmd: &mut Command, fds: Vec<RawFd>) {
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Move every source out of the way first so that dup2 onto 3.. cannot clobber one;
            // the copies are close-on-exec and vanish at exec.
            let mut high = [0; 16];
            for (i, fd) in fds.iter().enumerate() {
                high[i] = check(libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100))?;
            }
            for (i, fd) in high[..fds.len()].iter().enumerate() {
                check(libc::dup2(*fd, 3 + i as RawFd))?;
            }
            Ok(())
        });
    }
}

fn check(r: libc::c_int) -> std::io::Result<libc::c_int> {
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(r) }
}

/// Run a child to the end; panic with its output unless it succeeded and finished its body.
pub fn run(mut cmd: Command) -> Output {
    let out = cmd.output().expect("running the test binary as a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(DONE),
        "child failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    out
}

/// A current-thread runtime for a child body (the harness gave it a plain thread).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}
