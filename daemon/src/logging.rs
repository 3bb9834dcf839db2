//! Logs: one line per event on stderr, where journald (or the terminal of a try-out) picks
//! them up. DESIGN §4: no syslog, no log files of our own.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use tracing_subscriber::EnvFilter;

/// Environment variable whose filter, when set, replaces the configured level.
pub const ENV_LOG: &str = "MAILROOM_LOG";

/// Install the global subscriber: `level` is an `EnvFilter` directive ("info", "debug",
/// "mailroom_saslauthd=debug,info") that `MAILROOM_LOG` overrides. A second call does nothing.
pub fn init(level: &str) {
    let (filter, bad) = filter(std::env::var(ENV_LOG).ok().as_deref(), level);
    let stderr = std::io::stderr();
    let result = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr a closed pipe: the parent died) is lost;
        // reporting it with eprintln! would panic in whatever task logged, SIGTERM's included.
        .log_internal_errors(false)
        // Colour codes would end up as garbage in the journal and in files.
        .with_ansi(stderr.is_terminal());
    // journald stamps every line itself; a second timestamp only widens the line.
    let installed = if stderr_is_journal() { result.without_time().try_init() } else { result.try_init() };
    if installed.is_ok()
        && let Some(bad) = bad
    {
        tracing::warn!("ignoring log filter {bad:?}: not a valid filter");
    }
}

/// The filter to use: the environment's when it parses, else `level`, else "info"; also the
/// rejected text, if any, so it can be logged once logging works.
fn filter(env: Option<&str>, level: &str) -> (EnvFilter, Option<String>) {
    if let Some(env) = env.filter(|e| !e.trim().is_empty()) {
        match EnvFilter::try_new(env) {
            Ok(f) => return (f, None),
            Err(_) => return (fallback(level), Some(env.to_string())),
        }
    }
    match EnvFilter::try_new(level) {
        Ok(f) => (f, None),
        Err(_) => (EnvFilter::new("info"), Some(level.to_string())),
    }
}

/// `level` if it parses, else "info": a bad environment must not also lose the config's level.
fn fallback(level: &str) -> EnvFilter {
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Whether stderr is the journal stream systemd set up (`JOURNAL_STREAM=dev:ino` matching
/// stderr), not merely inherited from a parent that was.
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Ok(st) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else { return false };
    value.to_str() == Some(&format!("{}:{}", st.st_dev, st.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_level() {
        let (f, bad) = filter(Some("debug"), "warn");
        assert_eq!(f.to_string(), "debug");
        assert!(bad.is_none());
    }

    #[test]
    fn empty_environment_is_ignored() {
        let (f, bad) = filter(Some(" "), "mailroom_saslauthd=debug");
        assert_eq!(f.to_string(), "mailroom_saslauthd=debug");
        assert!(bad.is_none());
    }

    #[test]
    fn bad_filters_fall_back_and_are_reported() {
        let (f, bad) = filter(Some("x=notalevel"), "warn");
        assert_eq!(f.to_string(), "warn");
        assert_eq!(bad.as_deref(), Some("x=notalevel"));
        let (f, bad) = filter(None, "x=notalevel");
        assert_eq!(f.to_string(), "info");
        assert_eq!(bad.as_deref(), Some("x=notalevel"));
    }
}
