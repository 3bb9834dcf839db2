//! `mailroomctl service`: the tutorial's `chkconfig` and `service` habits on top of systemctl.
//!
//! Each daemon is a service unit with a socket unit of the same name (`mailroom-mta.service`,
//! `mailroom-mta.socket`); `mailroom.target` groups them. `enable`/`disable` act on the service
//! and its socket, `start` on both (the socket first), `stop` on both (a socket left listening
//! would start the service again at the next connection), `restart` on the service only (its
//! socket keeps the listening sockets, so no connection is refused meanwhile).
//!
//! Without systemd (no `/run/systemd/system`, sd_booted(3)'s test) it says so and how to run
//! the daemons otherwise. `MAILROOM_SYSTEMD_DIR` names another directory for that test, so the
//! tests can pretend either way.

mod list;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::Subcommand;

/// Overrides the directory whose presence means systemd is running (for tests).
pub const ENV_SYSTEMD_DIR: &str = "MAILROOM_SYSTEMD_DIR";
/// sd_booted(3): systemd creates this directory at boot.
const SYSTEMD_DIR: &str = "/run/systemd/system";
/// The daemons, by short name.
const DAEMONS: [&str; 4] = ["saslauthd", "mta", "mda", "mra"];
/// The unit that groups them.
const TARGET: &str = "mailroom.target";

/// Which daemons a command acts on.
#[derive(clap::Args, Debug, Clone)]
pub struct Which {
    /// saslauthd, mta, mda, mra (or mailroom-mta, ...), or all [default: all]
    #[arg(value_name = "DAEMON|all")]
    daemon: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Enabled and active state of each daemon and its socket, with the addresses (chkconfig --list)
    List(Which),
    /// Start at boot: the service and its socket (chkconfig DAEMON on)
    Enable(Which),
    /// Do not start at boot (chkconfig DAEMON off)
    Disable(Which),
    /// Start the socket and the service now (service DAEMON start)
    Start(Which),
    /// Stop the service and its socket, so no connection starts it again
    Stop(Which),
    /// Restart the service; its socket keeps listening
    Restart(Which),
    /// systemctl status of the service and its socket
    Status(Which),
}

impl Which {
    /// The selected daemons' short names, or all of them; true when all were meant.
    fn daemons(&self) -> Result<(Vec<&'static str>, bool)> {
        let Some(name) = self.daemon.as_deref().filter(|n| *n != "all") else {
            return Ok((DAEMONS.to_vec(), true));
        };
        let short = name.strip_prefix("mailroom-").unwrap_or(name);
        match DAEMONS.iter().find(|d| **d == short) {
            Some(d) => Ok((vec![*d], false)),
            None => bail!("unknown daemon {name:?}: saslauthd, mta, mda, mra or all"),
        }
    }
}

fn service(d: &str) -> String {
    format!("mailroom-{d}.service")
}

fn socket(d: &str) -> String {
    format!("mailroom-{d}.socket")
}

impl ServiceCmd {
    /// Check for systemd, then run the systemctl command(s).
    pub fn run(self) -> Result<ExitCode> {
        if !systemd_running() {
            no_systemd();
            return Ok(ExitCode::FAILURE);
        }
        let (verb, which) = match &self {
            ServiceCmd::List(w) => return list::run(&w.daemons()?),
            ServiceCmd::Enable(w) => ("enable", w),
            ServiceCmd::Disable(w) => ("disable", w),
            ServiceCmd::Start(w) => ("start", w),
            ServiceCmd::Stop(w) => ("stop", w),
            ServiceCmd::Restart(w) => ("restart", w),
            ServiceCmd::Status(w) => ("status", w),
        };
        let (daemons, all) = which.daemons()?;
        systemctl(verb, &units(verb, &daemons, all))
    }
}

/// The units `verb` acts on, in the order systemctl is given them.
fn units(verb: &str, daemons: &[&str], all: bool) -> Vec<String> {
    let mut out = Vec::new();
    if all && verb != "restart" {
        out.push(TARGET.to_string());
    }
    for d in daemons {
        match verb {
            "restart" => out.push(service(d)),
            // A socket before its service: systemd orders the jobs anyway, humans read it so.
            "start" | "enable" | "disable" => out.extend([socket(d), service(d)]),
            _ => out.extend([service(d), socket(d)]),
        }
    }
    out
}

/// Run `systemctl VERB UNITS...` with our terminal; its exit status is ours.
fn systemctl(verb: &str, units: &[String]) -> Result<ExitCode> {
    let status = Command::new("systemctl").arg(verb).args(units).status().context("running systemctl")?;
    let code = status.code().unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// sd_booted(3), with the directory overridable for the tests.
fn systemd_running() -> bool {
    let dir = std::env::var_os(ENV_SYSTEMD_DIR).map_or_else(|| PathBuf::from(SYSTEMD_DIR), PathBuf::from);
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
}

fn no_systemd() {
    eprintln!(
        "mailroomctl service: systemd is not running on this machine (no {SYSTEMD_DIR}), so there are \
         no mailroom units to manage.\n\
         Run the daemons another way:\n  \
         mailroomctl up [--dir DIR]              the whole stack in the foreground, for a try-out\n  \
         mailroom-saslauthd --config FILE &      or each daemon directly, saslauthd and mda first,\n  \
         mailroom-mda --config FILE &            then mta and mra (they call the first two);\n  \
         mailroom-mta --config FILE &            SIGTERM stops each one\n  \
         mailroom-mra --config FILE &"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_long_or_all() {
        let w = |s: Option<&str>| Which { daemon: s.map(String::from) }.daemons();
        assert_eq!(w(None).unwrap(), (DAEMONS.to_vec(), true));
        assert_eq!(w(Some("all")).unwrap(), (DAEMONS.to_vec(), true));
        assert_eq!(w(Some("mta")).unwrap(), (vec!["mta"], false));
        assert_eq!(w(Some("mailroom-saslauthd")).unwrap(), (vec!["saslauthd"], false));
        assert!(w(Some("postfix")).unwrap_err().to_string().contains("saslauthd, mta, mda, mra or all"));
        assert!(w(Some("mailroom-")).is_err());
    }

    #[test]
    fn units_per_verb() {
        assert_eq!(units("enable", &["mta"], false), ["mailroom-mta.socket", "mailroom-mta.service"]);
        assert_eq!(units("stop", &["mda"], false), ["mailroom-mda.service", "mailroom-mda.socket"]);
        assert_eq!(units("restart", &DAEMONS, true).len(), 4);
        let all = units("start", &DAEMONS, true);
        assert_eq!(all.len(), 9);
        assert_eq!(all[0], TARGET);
    }
}
