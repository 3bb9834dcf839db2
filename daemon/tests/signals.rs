//! Signals and sd_notify, in a child process: signal dispositions and `NOTIFY_SOCKET` are
//! process-wide, and a SIGTERM to the test harness would end every test.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use daemon::shutdown::Shutdown;
use nix::sys::signal::{Signal, raise};

const LONG: Duration = Duration::from_secs(10);

#[test]
fn sighup_requests_reload_and_sigterm_stops() {
    if common::is_child("sighup_requests_reload_and_sigterm_stops") {
        return common::runtime().block_on(child());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let systemd = UnixDatagram::bind(&path).unwrap();
    let mut cmd = common::child("sighup_requests_reload_and_sigterm_stops");
    cmd.env("NOTIFY_SOCKET", &path);
    common::run(cmd);
    systemd.set_nonblocking(true).unwrap();
    let mut buf = [0; 512];
    let n = systemd.recv(&mut buf).expect("STOPPING=1 was sent");
    assert_eq!(&buf[..n], b"STOPPING=1\n");
    assert!(systemd.recv(&mut buf).is_err(), "only one STOPPING=1 for two SIGTERMs");
}

async fn child() {
    let shutdown = Shutdown::new();
    let mut reloads = shutdown.install_signal_handlers();
    for want in 1..=2 {
        raise(Signal::SIGHUP).unwrap();
        tokio::time::timeout(LONG, reloads.changed()).await.unwrap().unwrap();
        assert_eq!(*reloads.borrow_and_update(), want);
    }
    assert!(!shutdown.is_triggered(), "SIGHUP is not a stop");

    raise(Signal::SIGTERM).unwrap();
    tokio::time::timeout(LONG, shutdown.triggered()).await.unwrap();
    // A second SIGTERM is caught (and logged), not fatal.
    raise(Signal::SIGTERM).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("{}", common::DONE);
}

#[test]
fn sigint_stops_too() {
    if common::is_child("sigint_stops_too") {
        return common::runtime().block_on(async {
            let shutdown = Shutdown::new();
            let _reloads = shutdown.install_signal_handlers();
            raise(Signal::SIGINT).unwrap();
            tokio::time::timeout(LONG, shutdown.triggered()).await.unwrap();
            println!("{}", common::DONE);
        });
    }
    let mut cmd = common::child("sigint_stops_too");
    cmd.env_remove("NOTIFY_SOCKET");
    common::run(cmd);
}
