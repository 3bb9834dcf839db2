//! Unix sockets: mode, owner, what may and may not be replaced at the path.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use daemon::listen::{Listener, UnixSocketSpec};
use daemon::privilege::is_root;

fn spec(path: &Path, mode: u32) -> UnixSocketSpec {
    UnixSocketSpec { path: path.to_path_buf(), mode, owner: None, group: None }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn socket_gets_the_mode_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o600, 0o660, 0o666] {
        let path = dir.path().join(format!("s{mode:o}"));
        let l = Listener::bind_unix(&spec(&path, mode)).unwrap();
        assert!(std::fs::metadata(&path).unwrap().file_type().is_socket());
        assert_eq!(mode_of(&path), mode);
        assert_eq!(l.local_description(), path.display().to_string());
        assert_eq!(l.local_addr(), None);
    }
}

#[tokio::test]
async fn accepts_connections_in_a_new_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/mailroom/lmtp.sock");
    let l = Listener::bind_unix(&spec(&path, 0o660)).unwrap();
    // Connecting works only on a listening socket (a daemon::run test serves one).
    tokio::net::UnixStream::connect(&path).await.unwrap();
    assert_eq!(l.local_description(), path.display().to_string());
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.sock");
    // A crashed run leaves the file behind: a socket nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let l = Listener::bind_unix(&spec(&path, 0o600)).unwrap();
    tokio::net::UnixStream::connect(&path).await.unwrap();
    drop(l);
}

#[tokio::test]
async fn a_live_socket_is_not_stolen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.sock");
    let _running = Listener::bind_unix(&spec(&path, 0o600)).unwrap();
    let e = Listener::bind_unix(&spec(&path, 0o600)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse);
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert!(e.to_string().contains("another process"), "{e}");
}

#[tokio::test]
async fn a_regular_file_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mailroom.toml");
    std::fs::write(&path, "precious").unwrap();
    let e = Listener::bind_unix(&spec(&path, 0o600)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("not a socket"), "{msg}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[tokio::test]
async fn owner_and_group_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.sock");
    let mut s = spec(&path, 0o660);
    s.owner = Some("nobody".into());
    s.group = Some("nogroup".into());
    let _l = Listener::bind_unix(&s).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    if is_root() {
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    } else {
        // Unprivileged the chown is skipped with a warning: the socket stays ours.
        assert_eq!(meta.uid(), nix::unistd::getuid().as_raw());
    }
    assert_eq!(mode_of(&path), 0o660);
}

#[tokio::test]
async fn group_alone_keeps_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lmtp.sock");
    let mut s = spec(&path, 0o660);
    s.group = Some(nix::unistd::getgid().to_string());
    let _l = Listener::bind_unix(&s).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw()));
}

#[tokio::test]
async fn unknown_group_names_the_path_and_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.sock");
    let mut s = spec(&path, 0o660);
    s.group = Some("no-such-group-here".into());
    let e = Listener::bind_unix(&s).unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()) && e.contains("no-such-group-here"), "{e}");
    assert!(!path.exists());
}
