//! sd_notify messages as systemd receives them, in a child process with a `NOTIFY_SOCKET` of
//! the test's own (the variable is process-wide; a test run under systemd must not notify it).

mod common;

use std::os::unix::net::UnixDatagram;

#[test]
fn messages_reach_the_notify_socket() {
    if common::is_child("messages_reach_the_notify_socket") {
        daemon::notify::ready();
        daemon::notify::status("serving 2 listeners\nsecond line");
        daemon::notify::reloading();
        daemon::notify::ready();
        daemon::notify::stopping();
        println!("{}", common::DONE);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let systemd = UnixDatagram::bind(&path).unwrap();
    let mut cmd = common::child("messages_reach_the_notify_socket");
    cmd.env("NOTIFY_SOCKET", &path);
    common::run(cmd);

    systemd.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 512];
    while let Ok(n) = systemd.recv(&mut buf) {
        got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[0], "READY=1\n");
    assert_eq!(got[1], "STATUS=serving 2 listeners second line\n");
    let (reloading, monotonic) = got[2].split_once('\n').unwrap();
    assert_eq!(reloading, "RELOADING=1");
    assert!(
        monotonic.strip_prefix("MONOTONIC_USEC=").unwrap().trim_end().parse::<u64>().is_ok(),
        "{monotonic}"
    );
    assert_eq!(got[3], "READY=1\n");
    assert_eq!(got[4], "STOPPING=1\n");
}

#[test]
fn without_a_socket_nothing_fails() {
    if common::is_child("without_a_socket_nothing_fails") {
        daemon::notify::ready();
        daemon::notify::stopping();
        println!("{}", common::DONE);
        return;
    }
    let mut cmd = common::child("without_a_socket_nothing_fails");
    cmd.env_remove("NOTIFY_SOCKET");
    let out = common::run(cmd);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("sd_notify failed"));
}

#[test]
fn a_dead_socket_is_logged_not_fatal() {
    if common::is_child("a_dead_socket_is_logged_not_fatal") {
        daemon::logging::init("warn");
        daemon::notify::ready();
        println!("{}", common::DONE);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = common::child("a_dead_socket_is_logged_not_fatal");
    cmd.env("NOTIFY_SOCKET", dir.path().join("gone")).env_remove("MAILROOM_LOG");
    let out = common::run(cmd);
    assert!(String::from_utf8_lossy(&out.stderr).contains("sd_notify failed"));
}
