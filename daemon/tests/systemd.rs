//! Socket activation with real inherited sockets: the parent binds, a child started the way
//! systemd starts a service (fds from 3, `LISTEN_*` variables) takes them by name.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use daemon::listen::{Listener, Peer};
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

    let auth = Listener::from_systemd("auth").unwrap().expect("auth socket");
    assert_eq!(auth.local_description(), var("TEST_AUTH"));
    let mut client = std::os::unix::net::UnixStream::connect(var("TEST_AUTH")).unwrap();
    client.write_all(b"hi").unwrap();
    let (mut stream, peer) = auth.accept().await.unwrap();
    assert_eq!(peer, Peer::Unix);
    let mut buf = [0; 2];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi");

    // Two sockets named "smtp" (one unit, two ListenStream=): one each call, then none.
    let first = Listener::from_systemd("smtp").unwrap().expect("first smtp socket");
    let second = Listener::from_systemd("smtp").unwrap().expect("second smtp socket");
    assert!(Listener::from_systemd("smtp").unwrap().is_none());
    assert_eq!(first.local_addr().unwrap().to_string(), var("TEST_SMTP1"));
    assert_eq!(second.local_addr().unwrap().to_string(), var("TEST_SMTP2"));
    let mut client = std::net::TcpStream::connect(var("TEST_SMTP2")).unwrap();
    let (mut stream, peer) = second.accept().await.unwrap();
    assert_eq!(peer, Peer::Tcp(client.local_addr().unwrap()));
    stream.write_all(b"220").await.unwrap();
    let mut buf = [0; 3];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"220");

    assert!(Listener::from_systemd("imap").unwrap().is_none(), "a name systemd did not pass");
    let e = Listener::from_systemd("bogus").unwrap_err().to_string();
    assert!(e.contains("\"bogus\"") && e.contains("not a stream socket"), "{e}");
    assert!(Listener::from_systemd("").unwrap().is_none(), "all four taken");

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
