//! Unix sockets with a mode and owner: the saslauthd socket must be reachable by the MTA's and
//! MRA's users and nobody else, the LMTP socket by the MTA only.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};

use crate::privilege::{is_root, lookup_group, lookup_user};

/// Where and how to create a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocketSpec {
    /// The socket's path; a missing parent directory is created with mode 0755.
    pub path: PathBuf,
    /// Permission bits, e.g. 0o660.
    pub mode: u32,
    /// User to own the socket (name, or number), when not us.
    pub owner: Option<String>,
    /// Group to own the socket (name, or number), when not our group.
    pub group: Option<String>,
}

/// Create, bind, set mode and owner, then listen. Mode and owner are set between bind() and
/// listen(): until listen() every connect() is refused, so no client ever reaches the socket
/// with the umask's permissions.
pub(super) fn bind(spec: &UnixSocketSpec) -> io::Result<tokio::net::UnixListener> {
    let path = spec.path.as_path();
    let fail =
        |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()));
    create_parent(path).map_err(|e| fail("creating its directory", e))?;
    remove_stale(path)?;
    let fd = socket::socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| fail("socket", e.into()))?;
    let addr = UnixAddr::new(path).map_err(|e| fail("socket address", e.into()))?;
    socket::bind(fd.as_raw_fd(), &addr).map_err(|e| fail("bind", e.into()))?;
    // From here on a failure leaves a socket file nobody listens on: remove it.
    let finish = || -> io::Result<()> {
        fs::set_permissions(path, Permissions::from_mode(spec.mode))
            .map_err(|e| fail(&format!("chmod {:o}", spec.mode), e))?;
        chown(spec).map_err(|e| fail("chown", e))?;
        socket::listen(&fd, Backlog::new(super::BACKLOG)?).map_err(|e| fail("listen", e.into()))
    };
    if let Err(e) = finish() {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    let std = std::os::unix::net::UnixListener::from(fd);
    std.set_nonblocking(true).map_err(|e| fail("setting non-blocking mode", e))?;
    tokio::net::UnixListener::from_std(std).map_err(|e| fail("registering with the runtime", e))
}

/// The socket's directory, created 0755 if missing (under /run it vanishes at each boot).
fn create_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            DirBuilder::new().recursive(true).mode(0o755).create(dir)
        }
        _ => Ok(()),
    }
}

/// Remove what a previous run left at `path`, but only a socket that nobody listens on:
/// a regular file there is a configuration mistake, a live socket another running daemon.
fn remove_stale(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{}: exists and is not a socket; refusing to replace it", path.display()),
        ));
    }
    if is_live(path) {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{}: another process is listening on this socket", path.display()),
        ));
    }
    fs::remove_file(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: removing the stale socket: {e}", path.display())))
}

/// Whether a process accepts connections on the socket at `path`. The connect is non-blocking
/// so that a live daemon with a full backlog counts as live instead of hanging our start.
fn is_live(path: &Path) -> bool {
    let Ok(fd) = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    ) else {
        return false;
    };
    let Ok(addr) = UnixAddr::new(path) else { return false };
    matches!(socket::connect(fd.as_raw_fd(), &addr), Ok(()) | Err(Errno::EAGAIN | Errno::EINPROGRESS))
}

/// Give the socket its owner and group. Unprivileged (a try-out) we cannot; the socket then
/// stays ours, which only narrows who may connect, so that is a warning, not an error.
fn chown(spec: &UnixSocketSpec) -> io::Result<()> {
    let uid = spec.owner.as_deref().map(lookup_user).transpose()?.map(|(uid, _)| uid.as_raw());
    let gid = spec.group.as_deref().map(lookup_group).transpose()?.map(|gid| gid.as_raw());
    if uid.is_none() && gid.is_none() {
        return Ok(());
    }
    match std::os::unix::fs::chown(&spec.path, uid, gid) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && !is_root() => {
            tracing::warn!(
                "{}: not root: cannot give it owner {:?} group {:?}; it stays ours",
                spec.path.display(),
                spec.owner,
                spec.group
            );
            Ok(())
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: &Path, mode: u32) -> UnixSocketSpec {
        UnixSocketSpec { path: path.to_path_buf(), mode, owner: None, group: None }
    }

    #[test]
    fn parent_directory_is_created_0755() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("run/mailroom/auth.sock");
        create_parent(&sock).unwrap();
        let mode = fs::metadata(dir.path().join("run/mailroom")).unwrap().permissions().mode();
        // The umask may only take bits away.
        assert_eq!(mode & 0o7777 & !0o755, 0, "{mode:o}");
        assert!(mode & 0o700 == 0o700);
    }

    #[test]
    fn nothing_to_remove_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        remove_stale(&dir.path().join("none")).unwrap();
    }

    #[tokio::test]
    async fn unknown_owner_is_an_error_naming_the_path_and_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut s = spec(&path, 0o600);
        s.owner = Some("no-such-user-here".into());
        let e = bind(&s).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()) && e.contains("no-such-user-here"), "{e}");
        assert!(!path.exists(), "a failed bind leaves no socket file behind");
    }

    #[tokio::test]
    async fn too_long_a_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x".repeat(120));
        let e = bind(&spec(&path, 0o600)).unwrap_err().to_string();
        assert!(e.contains("socket address"), "{e}");
    }
}
