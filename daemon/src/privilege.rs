//! Switching from root to the daemon's own user, the last step of startup (DESIGN §4, §9):
//! config is loaded and sockets are bound while root, then everything else runs as the user
//! the role needs (`mailroom`, `vmail`, `mailroom-auth`).
//!
//! glibc applies set*id to every thread of the process, so a tokio runtime already running is
//! not left with a root thread; still, drop before spawning work that handles clients.

use std::ffi::CString;
use std::io;

use nix::unistd::{Gid, Group, Uid, User, getegid, geteuid, getgid, getuid};

/// Whether we run with root's effective user id.
pub fn is_root() -> bool {
    geteuid().is_root()
}

/// Become `user` (and `group`, default the user's primary group) with the user's supplementary
/// groups, for good: the saved ids change too, and we check that root cannot be regained.
///
/// Unprivileged (a try-out), switching is impossible and unnecessary: an empty `user` or our own
/// name is fine, another name is logged as a warning and ignored.
pub fn drop_privileges(user: &str, group: Option<&str>) -> io::Result<()> {
    if !is_root() {
        return stay_unprivileged(user);
    }
    if user.is_empty() {
        tracing::warn!("no user configured: running as root");
        return Ok(());
    }
    let (uid, user_gid) = lookup_user(user)?;
    let gid = match group {
        Some(g) if !g.is_empty() => lookup_group(g)?,
        _ => user_gid,
    };
    if uid.is_root() {
        tracing::warn!("user {user:?} is root: running as root");
        return Ok(());
    }
    set_groups(user, gid)?;
    nix::unistd::setgid(gid).map_err(|e| os_error(e, format!("setgid({gid})")))?;
    nix::unistd::setuid(uid).map_err(|e| os_error(e, format!("setuid({uid}) for user {user:?}")))?;
    verify(uid, gid)?;
    tracing::debug!("running as user {user} (uid {uid}, gid {gid})");
    Ok(())
}

/// The not-root path of [`drop_privileges`].
fn stay_unprivileged(user: &str) -> io::Result<()> {
    let me = User::from_uid(getuid()).ok().flatten().map(|u| u.name);
    if !user.is_empty() && me.as_deref() != Some(user) {
        let me = me.unwrap_or_else(|| getuid().to_string());
        tracing::warn!("not root: cannot switch to user {user:?}; running as {me:?}");
    }
    Ok(())
}

/// The user's supplementary groups from the group database, or just `gid` when it has none
/// there (a user known only to NSS modules without group support).
fn set_groups(user: &str, gid: Gid) -> io::Result<()> {
    let name = CString::new(user).map_err(|_| invalid(format!("user name {user:?} contains NUL")))?;
    match nix::unistd::initgroups(&name, gid) {
        Ok(()) => Ok(()),
        Err(_) => nix::unistd::setgroups(&[gid]).map_err(|e| os_error(e, format!("setgroups([{gid}])"))),
    }
}

/// Refuse to go on unless the switch took and is irreversible.
fn verify(uid: Uid, gid: Gid) -> io::Result<()> {
    if getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid {
        return Err(io::Error::other(format!("switching to uid {uid} gid {gid} did not take")));
    }
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(io::Error::other("still able to become root after dropping privileges"));
    }
    Ok(())
}

/// A user's uid and primary gid, by name or, failing that, as a number.
pub(crate) fn lookup_user(name: &str) -> io::Result<(Uid, Gid)> {
    if let Some(u) = User::from_name(name).map_err(|e| os_error(e, format!("looking up user {name:?}")))? {
        return Ok((u.uid, u.gid));
    }
    if let Ok(n) = name.parse::<u32>() {
        let uid = Uid::from_raw(n);
        let gid = User::from_uid(uid).ok().flatten().map_or(Gid::from_raw(n), |u| u.gid);
        return Ok((uid, gid));
    }
    Err(io::Error::new(io::ErrorKind::NotFound, format!("unknown user {name:?}")))
}

/// A group's gid, by name or, failing that, as a number.
pub(crate) fn lookup_group(name: &str) -> io::Result<Gid> {
    if let Some(g) = Group::from_name(name).map_err(|e| os_error(e, format!("looking up group {name:?}")))? {
        return Ok(g.gid);
    }
    name.parse::<u32>()
        .map(Gid::from_raw)
        .map_err(|_| io::Error::new(io::ErrorKind::NotFound, format!("unknown group {name:?}")))
}

/// An OS error with what we were doing in front of it.
fn os_error(e: nix::Error, doing: String) -> io::Error {
    let e = io::Error::from(e);
    io::Error::new(e.kind(), format!("{doing}: {e}"))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_by_name_and_number() {
        assert_eq!(lookup_user("root").unwrap(), (Uid::from_raw(0), Gid::from_raw(0)));
        assert_eq!(lookup_user("0").unwrap().0, Uid::from_raw(0));
        assert_eq!(lookup_group("root").unwrap(), Gid::from_raw(0));
        assert_eq!(lookup_group("4242").unwrap(), Gid::from_raw(4242));
        let e = lookup_user("no-such-user-here").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("no-such-user-here"), "{e}");
        assert!(lookup_group("no-such-group-here").unwrap_err().to_string().contains("no-such-group-here"));
    }

    #[test]
    fn staying_as_ourselves_is_fine() {
        // Our own name (root's too: uid 0 is "no switch") or none never changes anything.
        let before = (getuid(), geteuid());
        let me = User::from_uid(getuid()).unwrap().unwrap().name;
        drop_privileges(&me, None).unwrap();
        drop_privileges("", None).unwrap();
        assert_eq!((getuid(), geteuid()), before);
    }
}
