//! systemd socket activation (sd_listen_fds(3)): systemd binds the sockets, privileged ports
//! included, and starts us with them as fds 3, 4, ... described by `LISTEN_PID`, `LISTEN_FDS`
//! and `LISTEN_FDNAMES`.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, PoisonError};

use nix::sys::socket::{self, AddressFamily, SockType, SockaddrLike, SockaddrStorage, sockopt};

use super::Listener;

/// The first passed fd (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// Fds already turned into listeners: an fd must have one owner, or two `OwnedFd`s would
/// close it twice.
static TAKEN: Mutex<Option<HashSet<RawFd>>> = Mutex::new(None);

/// The activation variables as read from the environment.
#[derive(Debug, Default)]
pub(super) struct Env {
    pid: Option<String>,
    fds: Option<String>,
    names: Option<String>,
}

impl Env {
    fn from_process() -> Env {
        Env {
            pid: std::env::var("LISTEN_PID").ok(),
            fds: std::env::var("LISTEN_FDS").ok(),
            names: std::env::var("LISTEN_FDNAMES").ok(),
        }
    }
}

/// [`Listener::from_systemd`].
pub(super) fn take(name: &str) -> io::Result<Option<Listener>> {
    let fd = {
        let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = taken.get_or_insert_with(HashSet::new);
        let Some(fd) = select(&Env::from_process(), std::process::id(), name, taken)? else {
            return Ok(None);
        };
        // SAFETY: fcntl(F_GETFD) on any integer is harmless; it only tells whether it is open.
        if unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) } < 0 {
            return Err(invalid(format!("LISTEN_FDS passes fd {fd} ({name:?}) but it is not open")));
        }
        taken.insert(fd);
        fd
    };
    // SAFETY: the fd is open, systemd gave it to this process, and TAKEN makes this its only owner.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let what = format!("systemd socket {name:?} (fd {fd})");
    wrap(owned).map(Some).map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// Which fd to hand out for `name`, if any: the first one not yet taken whose name matches
/// (any name for `""`, and any at all when systemd gave no names and only one socket).
pub(super) fn select(
    env: &Env,
    our_pid: u32,
    name: &str,
    taken: &HashSet<RawFd>,
) -> io::Result<Option<RawFd>> {
    let Some(pid) = env.pid.as_deref() else { return Ok(None) };
    let pid: u32 = pid.trim().parse().map_err(|_| invalid(format!("LISTEN_PID={pid:?} is not a pid")))?;
    if pid != our_pid {
        // Meant for a parent that exec'd us without clearing it, or a stale environment.
        return Ok(None);
    }
    let Some(count) = env.fds.as_deref() else { return Ok(None) };
    // u16: no process is handed 65536 sockets, and FIRST_FD + count must not overflow.
    let count: u16 =
        count.trim().parse().map_err(|_| invalid(format!("LISTEN_FDS={count:?} is not a count")))?;
    let matches: Vec<bool> = match env.names.as_deref() {
        Some(names) => {
            let names: Vec<&str> = names.split(':').collect();
            if names.len() != usize::from(count) {
                return Err(invalid(format!("LISTEN_FDNAMES has {} names for {count} fds", names.len())));
            }
            names.iter().map(|n| name.is_empty() || *n == name).collect()
        }
        None => vec![name.is_empty() || count == 1; usize::from(count)],
    };
    let fds = (FIRST_FD..).zip(matches).filter_map(|(fd, matches)| matches.then_some(fd));
    Ok(fds.into_iter().find(|fd| !taken.contains(fd)))
}

/// A listening stream socket made into a tokio listener of its family; close-on-exec so that
/// programs we run (filters, sendmail) do not inherit our ports.
fn wrap(fd: OwnedFd) -> io::Result<Listener> {
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
    if socket::getsockopt(&fd, sockopt::SockType)? != SockType::Stream {
        return Err(invalid("not a stream socket".into()));
    }
    if !socket::getsockopt(&fd, sockopt::AcceptConn)? {
        // Accept=yes units pass one connected socket per connection: not how we run.
        return Err(invalid("not a listening socket (use Accept=no in the socket unit)".into()));
    }
    let family = socket::getsockname::<SockaddrStorage>(fd.as_raw_fd())?.family();
    match family {
        Some(AddressFamily::Unix) => {
            let l = std::os::unix::net::UnixListener::from(fd);
            l.set_nonblocking(true)?;
            Ok(Listener::Unix(tokio::net::UnixListener::from_std(l)?))
        }
        Some(AddressFamily::Inet | AddressFamily::Inet6) => {
            let l = std::net::TcpListener::from(fd);
            l.set_nonblocking(true)?;
            Ok(Listener::Tcp(tokio::net::TcpListener::from_std(l)?))
        }
        other => Err(invalid(format!("unsupported address family {other:?}"))),
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pid: &str, fds: &str, names: Option<&str>) -> Env {
        Env { pid: Some(pid.into()), fds: Some(fds.into()), names: names.map(Into::into) }
    }

    fn pick(env: &Env, name: &str, taken: &[RawFd]) -> Option<RawFd> {
        select(env, 42, name, &taken.iter().copied().collect()).unwrap()
    }

    #[test]
    fn selection_table() {
        let named = env("42", "3", Some("smtp:submission:smtp"));
        let unnamed = env("42", "2", None);
        let single = env("42", "1", None);
        let cases: &[(&Env, &str, &[RawFd], Option<RawFd>)] = &[
            (&named, "smtp", &[], Some(3)),
            (&named, "smtp", &[3], Some(5)),
            (&named, "smtp", &[3, 5], None),
            (&named, "submission", &[], Some(4)),
            (&named, "imap", &[], None),
            (&named, "", &[3], Some(4)),
            (&unnamed, "", &[], Some(3)),
            (&unnamed, "", &[3], Some(4)),
            (&unnamed, "smtp", &[], None),
            (&single, "anything", &[], Some(3)),
            (&single, "anything", &[3], None),
            (&env("42", "0", None), "", &[], None),
        ];
        for (i, (e, name, taken, want)) in cases.iter().enumerate() {
            assert_eq!(pick(e, name, taken), *want, "case {i}: {name:?} taken {taken:?}");
        }
    }

    #[test]
    fn not_for_us() {
        assert_eq!(pick(&env("41", "1", None), "", &[]), None);
        assert_eq!(pick(&Env::default(), "", &[]), None);
        assert_eq!(pick(&Env { pid: Some("42".into()), ..Env::default() }, "", &[]), None);
    }

    #[test]
    fn malformed_variables_are_errors() {
        let none = HashSet::new();
        for (e, want) in [
            (env("x", "1", None), "LISTEN_PID"),
            (env("42", "many", None), "LISTEN_FDS"),
            (env("42", "-1", None), "LISTEN_FDS"),
            (env("42", "2", Some("a")), "LISTEN_FDNAMES has 1 names for 2 fds"),
        ] {
            let err = select(&e, 42, "", &none).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
