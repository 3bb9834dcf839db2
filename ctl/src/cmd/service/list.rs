//! `mailroomctl service list`: `systemctl show` of every service, then of the sockets that
//! trigger them, parsed into a table like `chkconfig --list`: each daemon's boot and run state,
//! its main socket's, and where all its sockets listen. A daemon has one socket unit per
//! socket name (systemd names every socket of a unit alike), so `mailroom-mta.service` is
//! triggered by `mailroom-mta.socket` (25) and its submission and submissions units.

use std::collections::HashMap;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use super::{TARGET, service, socket};
use crate::cmd::table;

/// The properties asked for; `Listen` is a socket's, one line per address; `TriggeredBy` a
/// service's sockets.
const PROPERTIES: &str = "Id,LoadState,UnitFileState,ActiveState,SubState,Listen,TriggeredBy";

/// What `systemctl show` says about one unit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `Id`, the unit name.
    pub id: String,
    /// `LoadState`: loaded, not-found, masked, ...
    pub load: String,
    /// `UnitFileState`: enabled, disabled, static, ...
    pub file: String,
    /// `ActiveState`: active, inactive, failed, ...
    pub active: String,
    /// `SubState`: running, listening, dead, ...
    pub sub: String,
    /// `Listen` addresses, without the socket type.
    pub listen: Vec<String>,
    /// `TriggeredBy`: the socket units that start this service.
    pub triggered_by: Vec<String>,
}

impl Unit {
    /// Boot state: the unit file state, or why there is none.
    fn enabled(&self) -> String {
        match self.load.as_str() {
            "not-found" => "not installed".into(),
            "masked" => "masked".into(),
            _ if self.file.is_empty() => "-".into(),
            _ => self.file.clone(),
        }
    }

    /// Run state as `systemctl status` words it: `active (running)`.
    fn state(&self) -> String {
        match (self.active.as_str(), self.sub.as_str()) {
            ("", _) => "-".into(),
            (a, "") => a.into(),
            (a, s) => format!("{a} ({s})"),
        }
    }
}

/// Parse `systemctl show` output: blocks of `Key=Value` lines separated by empty lines, one
/// block per unit in the order asked.
pub fn parse(text: &str) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut cur: Option<Unit> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            units.extend(cur.take());
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let u = cur.get_or_insert_with(Unit::default);
        match key {
            "Id" => u.id = value.into(),
            "LoadState" => u.load = value.into(),
            "UnitFileState" => u.file = value.into(),
            "ActiveState" => u.active = value.into(),
            "SubState" => u.sub = value.into(),
            // `Listen=/run/mailroom/mda/lmtp (Stream)`
            "Listen" => u.listen.push(value.rsplit_once(" (").map_or(value, |(a, _)| a).to_string()),
            "TriggeredBy" => u.triggered_by = value.split_whitespace().map(String::from).collect(),
            _ => {}
        }
    }
    units.extend(cur);
    units
}

/// Ask systemctl about the daemons' units (and the target for all) and print the table.
pub fn run((daemons, all): &(Vec<&'static str>, bool)) -> Result<ExitCode> {
    let mut names: Vec<String> = daemons.iter().map(|d| service(d)).collect();
    if *all {
        names.push(TARGET.into());
    }
    let mut units = show(&names)?;
    let sockets: Vec<String> = daemons.iter().flat_map(|d| sockets_of(d, &units)).collect();
    units.extend(show(&sockets)?);
    table(&["DAEMON", "ENABLED", "ACTIVE", "SOCKET", "SOCKET STATE", "LISTEN"], &rows(daemons, *all, &units));
    Ok(ExitCode::SUCCESS)
}

/// `systemctl show` of `names`, by unit name.
fn show(names: &[String]) -> Result<HashMap<String, Unit>> {
    let out = Command::new("systemctl")
        .arg("show")
        .arg(format!("--property={PROPERTIES}"))
        .args(names)
        .output()
        .context("running systemctl show")?;
    if !out.status.success() {
        bail!("systemctl show: {} {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout)).into_iter().map(|u| (u.id.clone(), u)).collect())
}

/// A daemon's socket units: the main one (named after it) first, then the others its service
/// names in `TriggeredBy` (none when the service is not installed).
fn sockets_of(d: &str, units: &HashMap<String, Unit>) -> Vec<String> {
    let main = socket(d);
    let mut others: Vec<String> = units
        .get(&service(d))
        .map(|u| u.triggered_by.iter().filter(|s| **s != main).cloned().collect())
        .unwrap_or_default();
    others.sort();
    std::iter::once(main).chain(others).collect()
}

/// One row per daemon, then the target's.
fn rows(daemons: &[&str], all: bool, units: &HashMap<String, Unit>) -> Vec<Vec<String>> {
    let get = |name: &str| {
        units.get(name).cloned().unwrap_or_else(|| Unit { load: "not-found".into(), ..Default::default() })
    };
    let mut rows: Vec<Vec<String>> = daemons
        .iter()
        .map(|d| {
            let (svc, sock) = (get(&service(d)), get(&socket(d)));
            let listen: Vec<String> = sockets_of(d, units).iter().flat_map(|s| get(s).listen).collect();
            let listen = if listen.is_empty() { "-".to_string() } else { listen.join(" ") };
            vec![d.to_string(), svc.enabled(), svc.state(), sock.enabled(), sock.state(), listen]
        })
        .collect();
    if all {
        let t = get(TARGET);
        rows.push(vec![TARGET.into(), t.enabled(), t.state(), "-".into(), "-".into(), "-".into()]);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like systemd 252's output for a socket-activated service and a missing unit.
    const SHOW: &str = "Id=mailroom-mta.service\nLoadState=loaded\nActiveState=active\nSubState=running\n\
        UnitFileState=enabled\nTriggeredBy=mailroom-mta-submission.socket mailroom-mta.socket\n\n\
        Listen=[::]:25 (Stream)\nListen=/run/mailroom/mta/submit (Stream)\n\
        Id=mailroom-mta.socket\nLoadState=loaded\nActiveState=active\nSubState=running\n\
        UnitFileState=disabled\n\nId=mailroom.target\nLoadState=not-found\nActiveState=inactive\n\
        SubState=dead\nUnitFileState=\n";

    #[test]
    fn parses_blocks_and_listen_lines() {
        let units = parse(SHOW);
        assert_eq!(units.len(), 3);
        assert_eq!(units[0].id, "mailroom-mta.service");
        assert_eq!(units[0].state(), "active (running)");
        assert_eq!(units[0].enabled(), "enabled");
        assert_eq!(units[0].triggered_by, ["mailroom-mta-submission.socket", "mailroom-mta.socket"]);
        assert_eq!(units[1].listen, ["[::]:25", "/run/mailroom/mta/submit"]);
        assert_eq!(units[1].enabled(), "disabled");
        assert_eq!(units[2].enabled(), "not installed");
        assert_eq!(units[2].state(), "inactive (dead)");
    }

    #[test]
    fn a_unit_systemctl_did_not_mention_is_not_installed() {
        let rows = rows(&["mra"], false, &HashMap::new());
        assert_eq!(rows, [vec!["mra", "not installed", "-", "not installed", "-", "-"]]);
    }
}
