//! Socket activation with real inherited sockets: the parent binds, a child started the way
//! systemd starts a service (fds from 3, `LISTEN_*` variables) takes them by name.

mod common;

use std::os::fd::AsRawFd;
use std::time::Duration;

use daemon::listen::{Listener, UnixSocketSpec};
use daemon::run::Sockets;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn takes_passed_sockets_by_name() {
    if common::is_child("takes_passed_sockets_by_name") {
        return common::runtime().block_on(child());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.sock");
    let smtp1 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let auth = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let smtp2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cmd = common::activated_child("takes_passed_sockets_by_name");
    cmd.env("LISTEN_FDS", "4")
        .env("LISTEN_FDNAMES", "smtp:auth:smtp:bogus")
        .env("TEST_SMTP1", smtp1.local_addr().unwrap().to_string())
        .env("TEST_SMTP2", smtp2.local_addr().unwrap().to_string())
        .env("TEST_AUTH", &path);
    common::pass_fds(&mut cmd, vec![smtp1.as_raw_fd(), auth.as_raw_fd(), smtp2.as_raw_fd(), udp.as_raw_fd()]);
    common::run(cmd);
}

async fn child() {
    let var = |k: &str| std::env::var(k).unwrap();

    // Two sockets named "smtp" (one unit, two ListenStream=): Sockets takes both, the name then
    // has none left; the auth socket comes from systemd, so its spec is never bound.
    let mut sockets = Sockets::new("test");
    let unused =
        UnixSocketSpec { path: "/nonexistent/never-bound".into(), mode: 0o600, owner: None, group: None };
    sockets.unix('a', Some("auth"), &unused).unwrap();
    sockets.tcp('s', "smtp", &["203.0.113.1:25".parse().unwrap()]).await.unwrap();
    let addrs: Vec<String> = sockets.tcp_addrs().iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs, [var("TEST_SMTP1"), var("TEST_SMTP2")]);
    assert!(Listener::from_systemd("smtp").unwrap().is_none());

    assert!(Listener::from_systemd("imap").unwrap().is_none(), "a name systemd did not pass");
    let e = Listener::from_systemd("bogus").unwrap_err().to_string();
    assert!(e.contains("\"bogus\"") && e.contains("not a stream socket"), "{e}");
    assert!(Listener::from_systemd("").unwrap().is_none(), "all four taken");

    // The taken sockets serve, each in its role.
    let service = sockets.start("", "", None).unwrap();
    let shutdown = service.shutdown();
    let server = tokio::spawn(service.serve(Duration::from_secs(10), |role, mut stream, peer| async move {
        stream.write_all(format!("{role} {peer}").as_bytes()).await.unwrap();
    }));
    let mut reply = String::new();
    tokio::net::UnixStream::connect(var("TEST_AUTH"))
        .await
        .unwrap()
        .read_to_string(&mut reply)
        .await
        .unwrap();
    assert_eq!(reply, "a unix");
    let mut client = tokio::net::TcpStream::connect(var("TEST_SMTP2")).await.unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, format!("s {}", client.local_addr().unwrap()));
    shutdown.trigger();
    server.await.unwrap().unwrap();

    // Programs we run must not inherit our ports.
    for fd in 3..6 {
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC, "fd {fd}");
    }
    // The variables stay for later names.
    assert_eq!(var("LISTEN_FDS"), "4");
    println!("{}", common::DONE);
}

#[test]
fn a_single_unnamed_socket_answers_any_name() {
    if common::is_child("a_single_unnamed_socket_answers_any_name") {
        return common::runtime().block_on(async {
            let l = Listener::from_systemd("mailroom-saslauthd").unwrap().expect("the one socket");
            assert!(matches!(l, Listener::Tcp(_)));
            assert!(Listener::from_systemd("").unwrap().is_none());
            println!("{}", common::DONE);
        });
    }
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = common::activated_child("a_single_unnamed_socket_answers_any_name");
    cmd.env("LISTEN_FDS", "1").env_remove("LISTEN_FDNAMES");
    common::pass_fds(&mut cmd, vec![tcp.as_raw_fd()]);
    common::run(cmd);
}

#[test]
fn sockets_meant_for_another_process_are_left_alone() {
    if common::is_child("sockets_meant_for_another_process_are_left_alone") {
        return common::runtime().block_on(async {
            assert!(Listener::from_systemd("").unwrap().is_none());
            println!("{}", common::DONE);
        });
    }
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // LISTEN_PID is the parent's (ours), as after a daemon exec'd a helper without clearing it.
    let mut cmd = common::child("sockets_meant_for_another_process_are_left_alone");
    cmd.env("LISTEN_PID", std::process::id().to_string()).env("LISTEN_FDS", "1");
    common::pass_fds(&mut cmd, vec![tcp.as_raw_fd()]);
    common::run(cmd);
}

#[tokio::test]
async fn without_activation_there_is_nothing() {
    // Neither cargo nor a shell sets LISTEN_PID to this test process's pid.
    assert!(Listener::from_systemd("").unwrap().is_none());
}
