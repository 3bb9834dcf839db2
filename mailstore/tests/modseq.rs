//! Mod-sequences (RFC 7162) on real directories: given at the first open and kept, a new one
//! for every change however it was made (our STORE, a rename behind our back, a delivery, an
//! expunge), UNCHANGEDSINCE between two sessions, expunges remembered for VANISHED, the file
//! rebuilt larger when lost, readers never seeing a torn file, and NOMODSEQ when it cannot be
//! kept.

mod support;

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mailstore::modseq::{self, Log};
use mailstore::{Flag, FlagChange, Flags, Mailbox};
use support::{deliver, maildir};

fn modseqs(mb: &Mailbox) -> Vec<u64> {
    mb.messages().iter().map(|m| m.modseq()).collect()
}

/// `+FLAGS (\Seen)`.
fn seen() -> FlagChange {
    let mut f = Flags::empty();
    f.set(Flag::Seen, true);
    FlagChange::Add(f)
}

#[test]
fn first_open_gives_modseqs_that_stay() {
    let (_tmp, md) = maildir();
    for i in 0..3 {
        deliver(&md, &format!("m{i}"));
    }
    let before = modseq::now_micros();
    let mb = Mailbox::open(md.root()).unwrap();
    let first = modseqs(&mb);
    assert!(first.iter().all(|&m| m >= before && m == first[0]), "one time-based value: {first:?}");
    assert_eq!(mb.highest_modseq(), first[0]);
    let text = fs::read_to_string(md.root().join(modseq::FILE)).unwrap();
    let want =
        format!("mailroom-modseq 1 V{} F{m}\n1 {m} 2,\n2 {m} 2,\n3 {m} 2,\n", mb.uidvalidity(), m = first[0]);
    assert_eq!(text, want);
    // Reopening reads the same values and writes nothing.
    let id = modseq::file_id(md.root());
    let again = Mailbox::open(md.root()).unwrap();
    assert_eq!(modseqs(&again), first);
    assert_eq!(modseq::file_id(md.root()), id);
    // An empty mailbox has a HIGHESTMODSEQ too.
    let f = mailstore::FolderName::new("Empty").unwrap();
    md.create_folder(&f).unwrap();
    assert!(Mailbox::open(&md.folder_path(Some(&f))).unwrap().highest_modseq() > 0);
}

#[test]
fn every_kind_of_change_gets_a_new_modseq() {
    let (_tmp, md) = maildir();
    let names: Vec<String> = (0..3).map(|i| deliver(&md, &format!("m{i}"))).collect();
    let mut mb = Mailbox::open(md.root()).unwrap();
    let m0 = mb.highest_modseq();

    // Another program (Dovecot, a mail client on the Maildir) renames a file behind our back.
    fs::rename(
        md.root().join("new").join(&names[1]),
        md.root().join("cur").join(format!("{}:2,F", names[1])),
    )
    .unwrap();
    let changes = mb.sync().unwrap();
    assert_eq!(changes.flags, [2]);
    let m1 = mb.message(2).unwrap().modseq();
    assert!(m1 > m0);
    assert_eq!(mb.message(1).unwrap().modseq(), m0, "the others keep theirs");
    assert_eq!(mb.highest_modseq(), m1);
    // A second session finds it recorded: the same value, nothing written.
    let id = modseq::file_id(md.root());
    let other = Mailbox::open(md.root()).unwrap();
    assert_eq!(modseqs(&other), modseqs(&mb));
    assert_eq!(modseq::file_id(md.root()), id);

    // Our own change: one new value for every message it changed, none for one left as it was.
    let stored = mb
        .store(
            &[(1, seen()), (3, seen()), (2, FlagChange::Set(mb.message(2).unwrap().flags().clone()))],
            None,
        )
        .unwrap();
    assert_eq!(stored.changed, [1, 3]);
    assert!(stored.modseq > m1);
    assert_eq!(modseqs(&mb), [stored.modseq, m1, stored.modseq]);
    assert!(mb.sync().unwrap().flags.is_empty(), "already known: nothing to report");
    assert_eq!(modseqs(&mb), [stored.modseq, m1, stored.modseq]);

    // A delivery and an expunge.
    deliver(&md, "m3");
    mb.sync().unwrap();
    let m4 = mb.message(4).unwrap().modseq();
    assert!(m4 > stored.modseq);
    assert!(mb.expunge(2).unwrap());
    mb.sync().unwrap();
    assert!(mb.highest_modseq() > m4, "an expunge raises HIGHESTMODSEQ");
    assert_eq!(mb.vanished_since(m4).unwrap(), Some(vec![2]));
    assert_eq!(mb.vanished_since(mb.highest_modseq()).unwrap(), Some(vec![]));
    assert_eq!(mb.vanished_since(m0 - 1).unwrap(), None, "older than the file: not known");
}

#[test]
fn unchanged_since_lets_one_of_two_sessions_win() {
    let (_tmp, md) = maildir();
    let names: Vec<String> = (0..3).map(|i| deliver(&md, &format!("m{i}"))).collect();
    let mut a = Mailbox::open(md.root()).unwrap();
    let mut b = Mailbox::open(md.root()).unwrap();
    let m0 = a.highest_modseq();
    let mut deleted = Flags::empty();
    deleted.set(Flag::Deleted, true);
    let deleted = FlagChange::Add(deleted);
    let won = a.store(&[(1, seen())], Some(m0)).unwrap();
    assert_eq!((won.changed, won.modified), (vec![1], vec![]));
    // b has not synced: its list still says m0, but the file knows better.
    let lost = b.store(&[(1, deleted.clone()), (2, deleted.clone())], Some(m0)).unwrap();
    assert_eq!((lost.changed, lost.modified), (vec![2], vec![1]));
    assert!(a.message(1).unwrap().flags().has(Flag::Seen));
    b.sync().unwrap();
    assert!(!b.message(1).unwrap().flags().has(Flag::Deleted), "a's change stood");
    // Renamed on disk by another program and not seen since: modified, left alone.
    fs::rename(
        md.root().join("new").join(&names[2]),
        md.root().join("cur").join(format!("{}:2,R", names[2])),
    )
    .unwrap();
    let r = a.store(&[(3, seen())], Some(a.highest_modseq())).unwrap();
    assert_eq!(r.modified, [3]);
    a.sync().unwrap();
    assert!(
        a.message(3).unwrap().flags().has(Flag::Replied) && !a.message(3).unwrap().flags().has(Flag::Seen)
    );
    // UNCHANGEDSINCE 0 fails for every message.
    assert_eq!(a.store(&[(1, deleted)], Some(0)).unwrap().modified, [1]);
}

#[test]
fn a_lost_or_damaged_file_is_rebuilt_with_larger_modseqs() {
    let (_tmp, md) = maildir();
    for i in 0..3 {
        deliver(&md, &format!("m{i}"));
    }
    let mut mb = Mailbox::open(md.root()).unwrap();
    mb.expunge(3).unwrap();
    mb.sync().unwrap();
    let old = mb.highest_modseq();
    fs::remove_file(md.root().join(modseq::FILE)).unwrap();
    let fresh = Mailbox::open(md.root()).unwrap();
    assert!(modseqs(&fresh).iter().all(|&m| m > old), "{:?} after {old}", modseqs(&fresh));
    assert_eq!(fresh.vanished_since(old).unwrap(), None, "the expunge of 3 is forgotten");
    // The session that had it open sees every message changed at its next sync.
    let changes = mb.sync().unwrap();
    assert_eq!((changes.flags, changes.modseqs), (vec![], vec![1, 2]));
    assert_eq!(modseqs(&mb), modseqs(&fresh));

    fs::write(md.root().join(modseq::FILE), "garbage\n").unwrap();
    let again = Mailbox::open(md.root()).unwrap();
    assert!(modseqs(&again).iter().all(|&m| m > fresh.highest_modseq()));
    // A file of another UIDVALIDITY is not ours to trust either.
    let text = fs::read_to_string(md.root().join(modseq::FILE)).unwrap();
    let other = text.replacen(&format!(" V{} ", again.uidvalidity()), " V1 ", 1);
    fs::write(md.root().join(modseq::FILE), other).unwrap();
    let third = Mailbox::open(md.root()).unwrap();
    assert!(modseqs(&third).iter().all(|&m| m > again.highest_modseq()));
}

#[test]
fn no_modseq_file_possible_means_no_modseqs() {
    let (_tmp, md) = maildir();
    deliver(&md, "m0");
    fs::create_dir(md.root().join(modseq::FILE)).unwrap();
    let mut mb = Mailbox::open(md.root()).unwrap();
    assert_eq!(mb.highest_modseq(), 0);
    assert_eq!(modseqs(&mb), [0]);
    let s = mb.store(&[(1, seen())], None).unwrap();
    assert_eq!((s.changed, s.modseq), (vec![1], 0));
    assert_eq!(mb.vanished_since(0).unwrap(), None);
    assert!(mb.message(1).unwrap().flags().has(Flag::Seen));
}

#[test]
fn concurrent_writers_and_readers_never_tear_the_file() {
    let (_tmp, md) = maildir();
    for i in 0..20 {
        deliver(&md, &format!("m{i}"));
    }
    let m0 = Mailbox::open(md.root()).unwrap().highest_modseq();
    let root = md.root().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let log = Log::read(&root).unwrap().expect("a torn or missing file");
                // A line cut short would read as a small number.
                assert!(log.records().all(|(_, m, _)| m >= m0), "a torn line");
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut mb = Mailbox::open(&root).unwrap();
                let mut given = Vec::new();
                for round in 0..25u32 {
                    let uid = 1 + (w * 5 + round) % 20;
                    let mut f = mb.message(uid).unwrap().flags().clone();
                    f.set(Flag::Flagged, !f.has(Flag::Flagged));
                    let s = mb.store(&[(uid, FlagChange::Set(f))], None).unwrap();
                    given.extend((s.modseq != 0).then_some(s.modseq));
                    mb.sync().unwrap();
                }
                given
            })
        })
        .collect();
    let mut all: Vec<u64> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "no value handed out twice");
    // Whatever the interleaving, the file ends up saying what is on disk.
    let mb = Mailbox::open(&root).unwrap();
    let log = Log::read(&root).unwrap().unwrap();
    for m in mb.messages() {
        let (recorded, state) = log.get(m.uid()).unwrap();
        assert_eq!((*recorded, state), (m.modseq(), &modseq::State::Present(m.flags().clone())));
    }
    assert!(!leftover_lock(&root));
}

fn leftover_lock(root: &Path) -> bool {
    root.join(format!("{}.lock", modseq::FILE)).exists()
}

/// imaptest's `own_msgs` mode in miniature: sessions of one process (sharing their lists, as
/// mailroom-mra's do) each append messages and change only their own (`\Deleted` too), while
/// all of them sync, claim new messages for `\Recent` and expunge whatever is `\Deleted`. A session must see the mod-sequence
/// of a message it owns change only by its own STOREs, whatever the others do meanwhile.
#[test]
fn owned_messages_change_modseq_only_by_their_owner() {
    use std::collections::HashMap;
    let (_tmp, md) = maildir();
    let root = md.root().to_path_buf();
    Mailbox::open(&root).unwrap();
    let sessions: Vec<_> = (0..4u32)
        .map(|w| {
            let (root, md) = (root.clone(), mailstore::Maildir::new(md.root()));
            std::thread::spawn(move || {
                let mut mb = Mailbox::open(&root).unwrap();
                // Base name of each message this session appended, and its mod-sequence as
                // last set by this session (None until first seen).
                let mut mine: HashMap<String, Option<u64>> = HashMap::new();
                let mut problems = Vec::new();
                for round in 0..1000u32 {
                    if round % 7 == 0 {
                        let mut flags = Flags::empty();
                        flags.set(Flag::Seen, round % 2 == 0);
                        let body = format!("Subject: {w}/{round}\n\nbody\n");
                        let d = md.save(None, &mut body.as_bytes(), &flags, None).unwrap();
                        let name = d.path.file_name().unwrap().to_str().unwrap();
                        mine.insert(name.split(':').next().unwrap().to_string(), None);
                    }
                    let changes = mb.sync().unwrap();
                    for uid in changes.added {
                        if mb.message(uid).is_some_and(|m| m.in_new()) {
                            let _ = mb.claim_new(uid);
                        }
                    }
                    for m in mb.messages() {
                        match mine.get_mut(m.base_name()) {
                            Some(known @ None) => *known = Some(m.modseq()),
                            Some(Some(k)) if *k != m.modseq() => problems.push(format!(
                                "session {w} round {round}: uid {} modseq {k} -> {}",
                                m.uid(),
                                m.modseq()
                            )),
                            _ => {}
                        }
                    }
                    // Change one of ours (seen by now), sometimes delete and expunge it.
                    let owned: Vec<(u32, String)> = mb
                        .messages()
                        .iter()
                        .filter(|m| mine.contains_key(m.base_name()))
                        .map(|m| (m.uid(), m.base_name().to_string()))
                        .collect();
                    let Some((uid, base)) = owned.get(round as usize % owned.len().max(1)).cloned() else {
                        continue;
                    };
                    if round % 5 == 0 {
                        // EXPUNGE: every message this view shows \Deleted, whoever owns it.
                        let doomed: Vec<u32> = mb
                            .messages()
                            .iter()
                            .filter(|m| m.flags().has(Flag::Deleted))
                            .map(|m| m.uid())
                            .collect();
                        for uid in doomed {
                            mb.expunge(uid).unwrap();
                        }
                        mine.retain(|base, _| mb.messages().iter().any(|m| m.base_name() == base));
                        continue;
                    }
                    let mut f = mb.message(uid).unwrap().flags().clone();
                    let flag = [Flag::Flagged, Flag::Replied, Flag::Seen, Flag::Deleted][round as usize % 4];
                    f.set(flag, !f.has(flag));
                    let s = mb.store(&[(uid, FlagChange::Set(f))], None).unwrap();
                    let now = mb.message(uid).unwrap().modseq();
                    if !s.changed.is_empty() && now != s.modseq {
                        problems.push(format!("session {w}: store gave {} but the view has {now}", s.modseq));
                    }
                    mine.insert(base, Some(now));
                }
                problems
            })
        })
        .collect();
    let problems: Vec<String> = sessions.into_iter().flat_map(|s| s.join().unwrap()).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(!leftover_lock(&root));
}
