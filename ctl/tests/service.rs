//! `mailroomctl service` as an admin runs it. This machine does not boot with systemd, so
//! `systemctl` is a script on PATH that records its arguments and answers `show` the way
//! systemd 252 does; `MAILROOM_SYSTEMD_DIR` stands in for /run/systemd/system.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The stand-in: one line of arguments per call into `$FAKE_SYSTEMCTL_LOG`; `show` prints a
/// block per unit (a socket's own properties first, as systemctl does), blank-line separated,
/// for the units systemd/ installs: one socket unit per socket name, named by the services'
/// `TriggeredBy`; `status` exits 3 like systemctl for an inactive unit.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMCTL_LOG"
verb=$1
shift
case $verb in
show)
    first=1
    for unit in "$@"; do
        case $unit in -*) continue ;; esac
        [ $first = 1 ] || echo
        first=0
        case $unit in
        mailroom-saslauthd.socket) echo "Listen=/run/mailroom/saslauthd/mux (Stream)" ;;
        mailroom-saslauthd-auth.socket) echo "Listen=/run/mailroom/saslauthd/auth (Stream)" ;;
        mailroom-mta.socket) echo "Listen=[::]:25 (Stream)" ;;
        mailroom-mta-submission.socket) echo "Listen=[::]:587 (Stream)" ;;
        mailroom-mta-submissions.socket) echo "Listen=[::]:465 (Stream)" ;;
        mailroom-mda.socket) echo "Listen=/run/mailroom/mda/lmtp (Stream)" ;;
        esac
        echo "Id=$unit"
        case $unit in
        mailroom-saslauthd.service) echo "TriggeredBy=mailroom-saslauthd-auth.socket mailroom-saslauthd.socket" ;;
        mailroom-mta.service) echo "TriggeredBy=mailroom-mta-submissions.socket mailroom-mta.socket mailroom-mta-submission.socket" ;;
        mailroom-mda.service) echo "TriggeredBy=mailroom-mda.socket" ;;
        esac
        case $unit in
        mailroom-mra.*) echo "LoadState=not-found"; echo "ActiveState=inactive"; echo "SubState=dead"
                        echo "UnitFileState=" ;;
        mailroom-mda.*) echo "LoadState=loaded"; echo "ActiveState=inactive"; echo "SubState=dead"
                        echo "UnitFileState=disabled" ;;
        mailroom.target) echo "LoadState=loaded"; echo "ActiveState=active"; echo "SubState=active"
                         echo "UnitFileState=enabled" ;;
        *.socket) echo "LoadState=loaded"; echo "ActiveState=active"; echo "SubState=running"
                  echo "UnitFileState=enabled" ;;
        *) echo "LoadState=loaded"; echo "ActiveState=active"; echo "SubState=running"
           echo "UnitFileState=enabled" ;;
        esac
    done ;;
status)
    echo "* $1 - mailroom"
    echo "     Active: inactive (dead)"
    exit 3 ;;
esac
exit 0
"#;

struct Systemd {
    tmp: tempfile::TempDir,
}

impl Systemd {
    /// A fake systemctl in a fresh directory.
    fn new() -> Systemd {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let script = bin.join("systemctl");
        std::fs::write(&script, FAKE_SYSTEMCTL).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(tmp.path().join("run-systemd-system")).unwrap();
        Systemd { tmp }
    }

    fn calls_file(&self) -> PathBuf {
        self.tmp.path().join("calls")
    }

    /// Each systemctl call so far, as its argument line.
    fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.calls_file()).unwrap_or_default();
        text.lines().map(String::from).collect()
    }

    /// `mailroomctl service ARGS` with systemd "running" or not.
    fn run(&self, running: bool, args: &[&str]) -> Output {
        let path = format!("{}:{}", self.tmp.path().join("bin").display(), std::env::var("PATH").unwrap());
        let booted =
            if running { self.tmp.path().join("run-systemd-system") } else { self.tmp.path().join("absent") };
        Command::new(env!("CARGO_BIN_EXE_mailroomctl"))
            .arg("service")
            .args(args)
            .env("PATH", path)
            .env("MAILROOM_SYSTEMD_DIR", &booted)
            .env("FAKE_SYSTEMCTL_LOG", self.calls_file())
            .output()
            .unwrap()
    }

    /// Run with systemd, expect exit `code`; the last systemctl call.
    fn call(&self, args: &[&str], code: i32) -> String {
        let out = self.run(true, args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        self.calls().last().cloned().unwrap_or_default()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn without_systemd_it_says_so_and_how_to_run_the_daemons() {
    let s = Systemd::new();
    for args in [&["list"][..], &["start", "mta"], &["enable"]] {
        let out = s.run(false, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("systemd is not running on this machine (no /run/systemd/system)"), "{err}");
        assert!(
            err.contains("mailroomctl up [--dir DIR]") && err.contains("mailroom-mta --config FILE"),
            "{err}"
        );
    }
    assert!(s.calls().is_empty(), "systemctl was called: {:?}", s.calls());
}

#[test]
fn each_verb_becomes_one_systemctl_call_on_the_right_units() {
    let s = Systemd::new();
    assert_eq!(s.call(&["enable", "mta"], 0), "enable mailroom-mta.socket mailroom-mta.service");
    assert_eq!(s.call(&["disable", "mailroom-mda"], 0), "disable mailroom-mda.socket mailroom-mda.service");
    assert_eq!(
        s.call(&["start", "saslauthd"], 0),
        "start mailroom-saslauthd.socket mailroom-saslauthd.service"
    );
    assert_eq!(s.call(&["stop", "mra"], 0), "stop mailroom-mra.service mailroom-mra.socket");
    assert_eq!(s.call(&["restart", "mta"], 0), "restart mailroom-mta.service");
    assert_eq!(
        s.call(&["enable"], 0),
        "enable mailroom.target mailroom-saslauthd.socket mailroom-saslauthd.service mailroom-mta.socket \
         mailroom-mta.service mailroom-mda.socket mailroom-mda.service mailroom-mra.socket mailroom-mra.service"
    );
    assert_eq!(
        s.call(&["stop", "all"], 0),
        "stop mailroom.target mailroom-saslauthd.service mailroom-saslauthd.socket mailroom-mta.service \
         mailroom-mta.socket mailroom-mda.service mailroom-mda.socket mailroom-mra.service mailroom-mra.socket"
    );
    assert_eq!(
        s.call(&["restart", "all"], 0),
        "restart mailroom-saslauthd.service mailroom-mta.service mailroom-mda.service mailroom-mra.service"
    );
    // systemctl's exit status is ours (3: inactive), its output goes to the terminal.
    let out = s.run(true, &["status", "mda"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("mailroom-mda.service - mailroom"), "{}", stdout(&out));
    assert_eq!(s.calls().last().unwrap(), "status mailroom-mda.service mailroom-mda.socket");
}

#[test]
fn an_unknown_daemon_is_refused_before_systemctl() {
    let s = Systemd::new();
    let out = s.run(true, &["start", "postfix"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("unknown daemon \"postfix\": saslauthd, mta, mda, mra or all")
    );
    assert!(s.calls().is_empty());
}

/// The cells of the row for `name`, split on runs of two or more spaces.
fn row(table: &str, name: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name}:\n{table}"));
    line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()
}

#[test]
fn list_shows_each_daemon_like_chkconfig() {
    let s = Systemd::new();
    let out = s.run(true, &["list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let show = "show --property=Id,LoadState,UnitFileState,ActiveState,SubState,Listen,TriggeredBy";
    assert_eq!(
        s.calls(),
        [
            format!(
                "{show} mailroom-saslauthd.service mailroom-mta.service mailroom-mda.service \
                 mailroom-mra.service mailroom.target"
            ),
            format!(
                "{show} mailroom-saslauthd.socket mailroom-saslauthd-auth.socket mailroom-mta.socket \
                 mailroom-mta-submission.socket mailroom-mta-submissions.socket mailroom-mda.socket \
                 mailroom-mra.socket"
            ),
        ]
    );
    let table = stdout(&out);
    assert!(table.starts_with("DAEMON"), "{table}");
    assert_eq!(
        row(&table, "mta"),
        ["mta", "enabled", "active (running)", "enabled", "active (running)", "[::]:25 [::]:587 [::]:465"]
    );
    assert_eq!(row(&table, "saslauthd")[5], "/run/mailroom/saslauthd/mux /run/mailroom/saslauthd/auth");
    assert_eq!(
        row(&table, "mda"),
        ["mda", "disabled", "inactive (dead)", "disabled", "inactive (dead)", "/run/mailroom/mda/lmtp"]
    );
    assert_eq!(row(&table, "mra")[..2], ["mra", "not installed"]);
    assert_eq!(row(&table, "mailroom.target")[..3], ["mailroom.target", "enabled", "active (active)"]);

    // One daemon: its units only, no target row.
    let out = s.run(true, &["list", "mda"]);
    let calls = s.calls();
    assert!(calls[calls.len() - 2].ends_with("TriggeredBy mailroom-mda.service"), "{calls:?}");
    assert!(calls[calls.len() - 1].ends_with("TriggeredBy mailroom-mda.socket"), "{calls:?}");
    assert!(
        !stdout(&out).contains("mailroom.target") && stdout(&out).lines().count() == 2,
        "{}",
        stdout(&out)
    );
}
