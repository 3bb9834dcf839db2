//! Dropping root, in a child process: a uid change is for the whole process and for good.

mod common;

use daemon::privilege::{drop_privileges, is_root};
use nix::unistd::{Gid, Uid, getegid, geteuid, getgid, getgroups, getuid};

#[test]
fn root_becomes_nobody_for_good() {
    if common::is_child("root_becomes_nobody_for_good") {
        return child("nobody", None, 65534);
    }
    common::run(common::child("root_becomes_nobody_for_good"));
}

#[test]
fn an_explicit_group_replaces_the_primary_one() {
    if common::is_child("an_explicit_group_replaces_the_primary_one") {
        return child("nobody", Some("nogroup"), 65534);
    }
    common::run(common::child("an_explicit_group_replaces_the_primary_one"));
}

fn child(user: &str, group: Option<&str>, id: u32) {
    let was_root = is_root();
    let before = (getuid(), getgid());
    drop_privileges(user, group).unwrap();
    if was_root {
        assert_eq!((getuid(), geteuid()), (Uid::from_raw(id), Uid::from_raw(id)));
        assert_eq!((getgid(), getegid()), (Gid::from_raw(id), Gid::from_raw(id)));
        // Root's supplementary groups are gone; only the user's own remain.
        assert!(!getgroups().unwrap().contains(&Gid::from_raw(0)));
        assert!(nix::unistd::setuid(Uid::from_raw(0)).is_err());
        assert!(nix::unistd::setgid(Gid::from_raw(0)).is_err());
        assert!(!is_root());
    } else {
        // A try-out: nothing to switch, and no error either.
        assert_eq!((getuid(), getgid()), before);
    }
    println!("{}", common::DONE);
}

#[test]
fn an_unknown_user_is_an_error_for_root() {
    // Fails before changing anything, so safe in the test process itself.
    let r = drop_privileges("no-such-user-here", None);
    assert_eq!(r.is_err(), is_root());
    if let Err(e) = r {
        assert!(e.to_string().contains("no-such-user-here"), "{e}");
    }
}
