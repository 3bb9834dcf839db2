//! The read side on real directories: UIDs through dovecot-uidlist, flags by rename, keywords,
//! expunge, the cache, and deliveries and other sessions changing the mailbox meanwhile.

mod support;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mailstore::{
    Flag, FlagChange, Flags, FolderName, Mailbox, MailboxError, Removal, SessionLock, cache, folders, uidlist,
};
use support::{deliver, maildir};

fn uids(mb: &Mailbox) -> Vec<u32> {
    mb.messages().iter().map(|m| m.uid()).collect()
}

#[test]
fn uids_are_assigned_once_and_persist() {
    let (_tmp, md) = maildir();
    let names: Vec<String> = (0..3).map(|i| deliver(&md, &format!("m{i}"))).collect();
    let mb = Mailbox::open(md.root()).unwrap();
    assert_eq!(uids(&mb), [1, 2, 3]);
    assert_eq!(mb.uid_next(), 4);
    let text = fs::read_to_string(md.root().join(uidlist::FILE)).unwrap();
    assert!(text.starts_with(&format!("3 V{} N4 G", mb.uidvalidity())), "{text}");
    for (i, n) in names.iter().enumerate() {
        assert!(text.contains(&format!("\n{} :{n}\n", i + 1)), "{text}");
    }
    // Sizes come from the names: no cache needed.
    assert!(mb.messages().iter().all(|m| m.vsize().is_some() && m.size().is_some()));

    // Reopening changes nothing and writes nothing.
    let before = fs::metadata(md.root().join(uidlist::FILE)).unwrap().modified().unwrap();
    let again = Mailbox::open(md.root()).unwrap();
    assert_eq!((uids(&again), again.uidvalidity()), (uids(&mb), mb.uidvalidity()));
    assert_eq!(fs::metadata(md.root().join(uidlist::FILE)).unwrap().modified().unwrap(), before);

    // A new delivery is appended with the next UID; UIDVALIDITY stays.
    deliver(&md, "m3");
    let mb2 = Mailbox::open(md.root()).unwrap();
    assert_eq!(uids(&mb2), [1, 2, 3, 4]);
    assert_eq!(mb2.uidvalidity(), mb.uidvalidity());
    assert!(!md.root().join("dovecot-uidlist.lock").exists());
}

#[test]
fn expunged_uids_are_never_reused() {
    let (_tmp, md) = maildir();
    for i in 0..3 {
        deliver(&md, &format!("m{i}"));
    }
    let mut mb = Mailbox::open(md.root()).unwrap();
    mb.expunge(3).unwrap();
    mb.expunge(3).unwrap_err(); // no longer listed
    assert_eq!(uids(&mb), [1, 2]);
    let changes = mb.sync().unwrap();
    assert!(changes.added.is_empty() && changes.expunged.is_empty(), "{changes:?}");
    deliver(&md, "after");
    let changes = mb.sync().unwrap();
    assert_eq!(changes.added, [4]);
    assert_eq!(uids(&mb), [1, 2, 4]);
    let text = fs::read_to_string(md.root().join(uidlist::FILE)).unwrap();
    assert!(text.starts_with(&format!("3 V{} N4 ", mb.uidvalidity())), "rewritten without 3: {text}");
    assert!(!text.contains("\n3 :") && text.contains("\n4 :"), "{text}");
}

#[test]
fn flags_change_by_rename_and_survive_reopen() {
    let (_tmp, md) = maildir();
    let name = deliver(&md, "x");
    let mut mb = Mailbox::open(md.root()).unwrap();
    assert!(mb.message(1).unwrap().in_new());
    let mut f = Flags::empty();
    f.set(Flag::Seen, true);
    f.set(Flag::Replied, true);
    let junk = mb.keyword_index("$Junk").unwrap();
    f.set_keyword(junk, true);
    mb.set_flags(1, &FlagChange::Set(f.clone())).unwrap();
    assert!(md.root().join("cur").join(format!("{name}:2,RSa")).is_file());
    assert_eq!(fs::read_to_string(md.root().join("dovecot-keywords")).unwrap(), "0 $Junk\n");

    let mut other = Mailbox::open(md.root()).unwrap();
    let m = other.message(1).unwrap();
    assert!(!m.in_new() && m.flags().has(Flag::Seen) && m.flags().has_keyword(0));
    assert_eq!(other.keywords().name(0), Some("$Junk"));

    // Another session renamed the file meanwhile: ours follows it by base name.
    let mut g = f.clone();
    g.set(Flag::Flagged, true);
    mb.set_flags(1, &FlagChange::Set(g.clone())).unwrap();
    let mut h = g.clone();
    h.set(Flag::Seen, false);
    other.set_flags(1, &FlagChange::Set(h)).unwrap();
    assert!(md.root().join("cur").join(format!("{name}:2,FRa")).is_file());
    let (mut file, _) = mb.open_message(1).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).unwrap();
    assert!(text.starts_with("Subject: x\n"));
    let changes = mb.sync().unwrap();
    assert_eq!(changes.flags, [1]);

    // Expunged by the other session: renames and reads say so.
    assert!(other.expunge(1).unwrap(), "this call removed it");
    assert!(matches!(mb.set_flags(1, &FlagChange::Set(f)), Err(MailboxError::Expunged(1))));
    assert!(matches!(mb.open_message(1), Err(MailboxError::Expunged(1))));
    assert!(!mb.expunge(1).unwrap(), "already gone: not removed twice");
    assert!(mb.message(1).is_none(), "no longer listed");
    assert!(mb.sync().unwrap().expunged.is_empty(), "the expunge took it off already");
}

#[test]
fn dovecot_written_uidlist_is_kept() {
    let (_tmp, md) = maildir();
    let a = deliver(&md, "a");
    let b = deliver(&md, "b");
    fs::rename(md.root().join("new").join(&b), md.root().join("cur").join(format!("{b}:2,S"))).unwrap();
    // As Dovecot leaves it: UIDs 7 and 9, a POP3 UIDL from a migration, a stale N.
    let text = format!("3 V1234 N8 G00112233445566778899aabbccddeeff\n7 P0000007 :{a}\n9 :{b}:2,S\n");
    fs::write(md.root().join(uidlist::FILE), &text).unwrap();
    let c = deliver(&md, "c");
    let mb = Mailbox::open(md.root()).unwrap();
    assert_eq!((mb.uidvalidity(), uids(&mb), mb.uid_next()), (1234, vec![7, 9, 10], 11));
    assert_eq!(mb.message(7).unwrap().pop3_uidl(), Some("0000007"));
    assert!(mb.message(9).unwrap().flags().has(Flag::Seen));
    let after = fs::read_to_string(md.root().join(uidlist::FILE)).unwrap();
    assert_eq!(after, format!("{text}10 :{c}\n"), "appended, the rest untouched");
}

#[test]
fn cache_remembers_what_names_do_not_say() {
    let (_tmp, md) = maildir();
    // Postfix virtual(8) style: no ,S= or ,W=.
    fs::write(md.root().join("new/1700000000.V801I2M3.host"), "Subject: p\n\nline\nline\n").unwrap();
    let mut mb = Mailbox::open(md.root()).unwrap();
    assert_eq!(mb.message(1).unwrap().vsize(), None);
    mb.fill_sizes().unwrap();
    assert_eq!((mb.message(1).unwrap().size(), mb.message(1).unwrap().vsize()), (Some(22), Some(26)));
    assert!(md.root().join(cache::FILE).is_file());
    assert_eq!(mb.envelope_headers(1).unwrap(), b"Subject: p\n");
    // Another session gets the sizes from the cache without reading the message: a file
    // made longer meanwhile (Maildir files never change, so only the cache can say 26) ...
    fs::write(md.root().join("new/1700000000.V801I2M3.host"), "Subject: p\n\nline\nline\nmore\n").unwrap();
    let mut again = Mailbox::open(md.root()).unwrap();
    again.fill_sizes().unwrap();
    assert_eq!(again.message(1).unwrap().vsize(), Some(26));
    // The cache is disposable: without it the file is read again.
    fs::remove_file(md.root().join(cache::FILE)).unwrap();
    let mut rebuilt = Mailbox::open(md.root()).unwrap();
    rebuilt.fill_sizes().unwrap();
    assert_eq!(rebuilt.message(1).unwrap().vsize(), Some(32));
}

#[test]
fn concurrent_deliveries_and_sessions_never_share_or_lose_a_uid() {
    let (_tmp, md) = maildir();
    let stop = Arc::new(AtomicBool::new(false));
    let delivered: Vec<String> = {
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let md = md.clone();
                std::thread::spawn(move || {
                    (0..150).map(|i| deliver(&md, &format!("w{w} {i}"))).collect::<Vec<_>>()
                })
            })
            .collect();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (root, stop) = (md.root().to_path_buf(), stop.clone());
                std::thread::spawn(move || {
                    let mut mb = Mailbox::open(&root).unwrap();
                    let mut seen = std::collections::HashMap::new();
                    while !stop.load(Ordering::Relaxed) {
                        mb.sync().unwrap();
                        for m in mb.messages() {
                            let prev = seen.insert(m.uid(), m.base_name().to_string());
                            assert!(prev.is_none_or(|p| p == m.base_name()), "UID {} reused", m.uid());
                        }
                        // Flag changes by other sessions while they sync.
                        if let Some(m) = mb.messages().first().cloned() {
                            let mut f = m.flags().clone();
                            f.set(Flag::Flagged, !f.has(Flag::Flagged));
                            match mb.set_flags(m.uid(), &FlagChange::Set(f)) {
                                Ok(_) | Err(MailboxError::Expunged(_)) => {}
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                    seen
                })
            })
            .collect();
        let names: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        let maps: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        // Every session saw the same UID for the same message.
        let mut all = std::collections::HashMap::new();
        for m in maps {
            for (uid, base) in m {
                let prev = all.insert(uid, base.clone());
                assert!(prev.is_none_or(|p| p == base), "UID {uid} means two messages");
            }
        }
        names
    };
    let mb = Mailbox::open(md.root()).unwrap();
    assert_eq!(mb.messages().len(), delivered.len());
    let mut got: Vec<u32> = uids(&mb);
    got.dedup();
    assert_eq!(got.len(), 300);
    assert_eq!(mb.uid_next(), 301);
    assert!(leftover_locks(md.root()).is_empty());
}

#[test]
fn pop3_sessions_exclude_each_other() {
    let (_tmp, md) = maildir();
    let held = SessionLock::try_acquire(md.root()).unwrap().unwrap();
    assert!(SessionLock::try_acquire(md.root()).unwrap().is_none());
    drop(held);
    assert!(SessionLock::try_acquire(md.root()).unwrap().is_some());
}

#[test]
fn not_a_mailbox() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(Mailbox::open(&tmp.path().join("nope")), Err(MailboxError::NotFound(_))));
}

fn leftover_locks(root: &Path) -> Vec<String> {
    fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".lock") && n != "mailroom-pop3.lock")
        .collect()
}

#[test]
fn ten_thousand_messages_open_from_the_cache() {
    let (_tmp, md) = maildir();
    // Named without ,S= and ,W= (as Postfix's virtual(8) writes): sizes need a read or the cache.
    for i in 0..10_000 {
        let name = format!("{}.V801I{i:x}M1.host", 1_700_000_000 + i);
        fs::write(md.root().join("new").join(name), format!("Subject: {i}\n\nbody\n")).unwrap();
    }
    let mut mb = Mailbox::open(md.root()).unwrap();
    mb.fill_sizes().unwrap();
    let sizes: Vec<Option<u64>> = mb.messages().iter().map(|m| m.vsize()).collect();
    assert!(sizes.iter().all(Option::is_some));
    assert_eq!(mb.message(10_000).unwrap().vsize(), Some("Subject: 9999\n\nbody\n".len() as u64 + 3));

    // Message files never change; if a later login read them, it would see this new content.
    for name in names(&md.root().join("new")) {
        fs::write(md.root().join("new").join(name), "X").unwrap();
    }
    let mut again = Mailbox::open(md.root()).unwrap();
    again.fill_sizes().unwrap();
    assert_eq!(again.messages().iter().map(|m| m.vsize()).collect::<Vec<_>>(), sizes, "sizes from the cache");
    assert_eq!(again.envelope_headers(1).unwrap(), b"Subject: 0\n", "headers from the cache");
}

fn names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
}

/// Sets the modification times of `new/`, `cur/`, the uidlist and the modseq file to one time
/// long past, as if the mailbox had been left alone since.
fn age(dir: &Path) {
    let then = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    for p in ["new", "cur", uidlist::FILE, mailstore::modseq::FILE] {
        fs::File::open(dir.join(p)).unwrap().set_modified(then).unwrap();
    }
}

#[test]
fn sessions_of_one_mailbox_share_its_list_and_skip_the_scan_while_it_is_unchanged() {
    let (_tmp, md) = maildir();
    for i in 0..3 {
        deliver(&md, &format!("m{i}"));
    }
    let first = Mailbox::open(md.root()).unwrap();
    let second = Mailbox::open(md.root()).unwrap();
    assert_eq!(first.messages().as_ptr(), second.messages().as_ptr(), "one list for both");
    age(md.root());
    let mut third = Mailbox::open(md.root()).unwrap();
    assert_eq!(uids(&third), [1, 2, 3]);
    assert!(!third.changed_on_disk());

    // A delivery whose times stay as they were (a coarse clock) is not seen: proof that the
    // published list was taken without a scan, and why only settled stamps are trusted.
    deliver(&md, "hidden");
    age(md.root());
    let unscanned = Mailbox::open(md.root()).unwrap();
    assert_eq!(uids(&unscanned), [1, 2, 3]);
    // Any real change moves a time: the next sync scans and finds it.
    deliver(&md, "seen");
    assert!(third.changed_on_disk());
    let changes = third.sync().unwrap();
    assert_eq!(changes.added, [4, 5]);
    assert_eq!(uids(&third), [1, 2, 3, 4, 5]);

    // A session that changes flags has its own list until its next sync.
    let mut flags = Flags::empty();
    flags.set(Flag::Seen, true);
    third.set_flags(1, &FlagChange::Set(flags)).unwrap();
    assert!(third.message(1).unwrap().flags().has(Flag::Seen));
    assert!(!first.message(1).unwrap().flags().has(Flag::Seen), "the others' list is unchanged");
    let mut fourth = Mailbox::open(md.root()).unwrap();
    fourth.sync().unwrap();
    third.sync().unwrap();
    assert_eq!(third.messages().as_ptr(), fourth.messages().as_ptr(), "shared again after a sync");
    drop((first, second, unscanned));
}

fn one(flag: Flag) -> Flags {
    let mut f = Flags::empty();
    f.set(flag, true);
    f
}

#[test]
fn sessions_changing_different_flags_of_one_message_keep_both_changes() {
    let (_tmp, md) = maildir();
    deliver(&md, "x");
    let mut first = Mailbox::open(md.root()).unwrap();
    first.store(&[(1, FlagChange::Add(one(Flag::Seen)))], None).unwrap();
    let mut second = Mailbox::open(md.root()).unwrap();
    // Session 1: +FLAGS (\Answered); session 2, which has not synced since: -FLAGS (\Seen).
    assert_eq!(first.store(&[(1, FlagChange::Add(one(Flag::Replied)))], None).unwrap().changed, [1]);
    assert_eq!(second.store(&[(1, FlagChange::Remove(one(Flag::Seen)))], None).unwrap().changed, [1]);
    assert_eq!(second.message(1).unwrap().flags().to_info(), "2,R", "session 2 reports \\Answered too");
    assert_eq!(Mailbox::open(md.root()).unwrap().message(1).unwrap().flags().to_info(), "2,R");
    // The same without the mod-sequence lock (POP3's \Seen, SELECT claiming \Recent).
    first.set_flags(1, &FlagChange::Add(one(Flag::Flagged))).unwrap();
    assert!(second.set_flags(1, &FlagChange::Remove(one(Flag::Replied))).unwrap());
    assert!(!second.set_flags(1, &FlagChange::Add(one(Flag::Flagged))).unwrap(), "already there");
    assert_eq!(Mailbox::open(md.root()).unwrap().message(1).unwrap().flags().to_info(), "2,F");
    // A change that looks like none to a stale view is still made: \Seen was set meanwhile.
    first.set_flags(1, &FlagChange::Add(one(Flag::Seen))).unwrap();
    assert!(second.set_flags(1, &FlagChange::Remove(one(Flag::Seen))).unwrap());
    assert_eq!(Mailbox::open(md.root()).unwrap().message(1).unwrap().flags().to_info(), "2,F");
}

#[test]
fn concurrent_sessions_each_owning_a_flag_never_lose_one_change() {
    let (_tmp, md) = maildir();
    for i in 0..3 {
        deliver(&md, &format!("m{i}"));
    }
    Mailbox::open(md.root()).unwrap();
    // Like imaptest's own_flags: each session toggles only its flag, from a view it rarely
    // syncs; half go through the locked store, half through plain renames.
    let owned = [Flag::Flagged, Flag::Replied, Flag::Passed, Flag::Draft];
    let sessions: Vec<_> = owned
        .into_iter()
        .enumerate()
        .map(|(n, flag)| {
            let root = md.root().to_path_buf();
            std::thread::spawn(move || {
                let mut mb = Mailbox::open(&root).unwrap();
                let mut on = [false; 3];
                for round in 0..60usize {
                    let uid = 1 + (round % 3) as u32;
                    let i = uid as usize - 1;
                    on[i] = !on[i];
                    let change =
                        if on[i] { FlagChange::Add(one(flag)) } else { FlagChange::Remove(one(flag)) };
                    if n % 2 == 0 {
                        mb.store(&[(uid, change)], None).unwrap();
                    } else {
                        mb.set_flags(uid, &change).unwrap();
                    }
                    if round % 7 == 0 {
                        mb.sync().unwrap();
                    }
                }
                (flag, on)
            })
        })
        .collect();
    let finals: Vec<(Flag, [bool; 3])> = sessions.into_iter().map(|s| s.join().unwrap()).collect();
    let mb = Mailbox::open(md.root()).unwrap();
    for m in mb.messages() {
        for (flag, on) in &finals {
            assert_eq!(m.flags().has(*flag), on[m.uid() as usize - 1], "UID {} {flag:?}", m.uid());
        }
    }
}

#[test]
fn a_mailbox_deleted_and_created_again_never_gets_an_old_uidvalidity() {
    let (_tmp, md) = maildir();
    let mut given = vec![Mailbox::open(md.root()).unwrap().uidvalidity()];
    let name = FolderName::new("Lists/Rust").unwrap();
    // All within one second: a time-based value alone would repeat.
    for _ in 0..3 {
        md.create_folder(&name).unwrap();
        let v = Mailbox::open(&md.folder_path(Some(&name))).unwrap().uidvalidity();
        assert!(!given.contains(&v), "{v} given before: {given:?}");
        given.push(v);
        folders::delete(md.root(), &name).unwrap();
    }
    // Dovecot's file in the root says the last value, so Dovecot continues the sequence.
    let file = fs::read_to_string(md.root().join(mailstore::uidvalidity::FILE)).unwrap();
    assert_eq!(u32::from_str_radix(&file, 16).unwrap(), given[3]);

    // Sessions creating mailboxes at once still never share a value.
    let creators: Vec<_> = (0..4)
        .map(|t| {
            let md = md.clone();
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        let f = FolderName::new(&format!("T{t}/{i}")).unwrap();
                        md.create_folder(&f).unwrap();
                        Mailbox::open(&md.folder_path(Some(&f))).unwrap().uidvalidity()
                    })
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    given.extend(creators.into_iter().flat_map(|c| c.join().unwrap()));
    let n = given.len();
    given.sort_unstable();
    given.dedup();
    assert_eq!(given.len(), n, "a UIDVALIDITY given twice");
}

/// readdir may miss a file another session renames while the directory is read. In a big
/// `cur/` where every message is renamed all the time, such misses are frequent; a session that
/// took one (or two in a row) for an expunge applied its change to its own view only, and the
/// change was lost on disk (imaptest's own_flags: "Owned keyword changed"). No message here is
/// ever expunged, so no change may report one, and every owner's last change must be on disk.
#[test]
fn a_file_renamed_during_every_scan_is_never_taken_for_expunged() {
    let (_tmp, md) = maildir();
    for i in 0..500 {
        deliver(&md, &format!("m{i}"));
    }
    Mailbox::open(md.root()).unwrap().store(&[], None).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flags = [Flag::Seen, Flag::Replied, Flag::Flagged, Flag::Draft];
    let sessions: Vec<_> = flags
        .into_iter()
        .enumerate()
        .map(|(n, flag)| {
            let (root, stop) = (md.root().to_path_buf(), stop.clone());
            std::thread::spawn(move || {
                let mut mb = Mailbox::open(&root).unwrap();
                // Claim everything first so that renames stay within cur/.
                let all: Vec<u32> = mb.messages().iter().map(|m| m.uid()).collect();
                all.iter().for_each(|&u| drop(mb.claim_new(u)));
                let mut on = [false; 8];
                let mut rounds = 0;
                while !stop.load(Ordering::Relaxed) || rounds < 200 {
                    let uid = 1 + (rounds % 8) as u32;
                    let i = uid as usize - 1;
                    on[i] = !on[i];
                    let change =
                        if on[i] { FlagChange::Add(one(flag)) } else { FlagChange::Remove(one(flag)) };
                    let done = if n % 2 == 0 {
                        mb.store(&[(uid, change)], None).map(|s| s.changed == [uid])
                    } else {
                        mb.set_flags(uid, &change)
                    };
                    match done {
                        Ok(changed) => assert!(changed, "UID {uid} {flag:?} round {rounds}: no change made"),
                        Err(e) => panic!("UID {uid} {flag:?} round {rounds}: {e}"),
                    }
                    rounds += 1;
                    if rounds >= 200 {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                (flag, on)
            })
        })
        .collect();
    let finals: Vec<(Flag, [bool; 8])> = sessions.into_iter().map(|s| s.join().unwrap()).collect();
    let mb = Mailbox::open(md.root()).unwrap();
    for m in mb.messages().iter().take(8) {
        for (flag, on) in &finals {
            assert_eq!(m.flags().has(*flag), on[m.uid() as usize - 1], "UID {} {flag:?}", m.uid());
        }
    }
}

/// IMAP EXPUNGE removes what has `\Deleted` when it runs, not what a stale view says: a
/// message another session undeleted meanwhile stays, one that only gained another flag goes.
#[test]
fn expunge_removes_only_what_is_still_deleted() {
    let (_tmp, md) = maildir();
    deliver(&md, "a");
    deliver(&md, "b");
    let mut stale = Mailbox::open(md.root()).unwrap();
    stale
        .store(&[(1, FlagChange::Add(one(Flag::Deleted))), (2, FlagChange::Add(one(Flag::Deleted)))], None)
        .unwrap();
    let mut other = Mailbox::open(md.root()).unwrap();
    other
        .store(&[(1, FlagChange::Remove(one(Flag::Deleted))), (2, FlagChange::Add(one(Flag::Seen)))], None)
        .unwrap();
    assert_eq!(stale.expunge_deleted(1).unwrap(), Removal::Kept);
    assert_eq!(stale.expunge_deleted(2).unwrap(), Removal::Removed);
    assert_eq!(uids(&stale), [1]);
    let changes = stale.sync().unwrap();
    assert_eq!((changes.flags, changes.expunged), (vec![1], vec![]));
    assert!(!stale.message(1).unwrap().flags().has(Flag::Deleted));
    assert_eq!(uids(&Mailbox::open(md.root()).unwrap()), [1]);
}
