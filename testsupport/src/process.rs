//! Child-process helpers shared by the private servers.

use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// Wait for `child` to exit, at most `timeout`; `None` if it is still running (or unwaitable).
pub(crate) fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}
