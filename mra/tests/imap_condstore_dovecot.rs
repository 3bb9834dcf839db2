//! Mod-sequences when Dovecot and mailroom-mra take turns on one Maildir. Each keeps its own
//! (Dovecot in dovecot.index*, mailroom in mailroom.modseq), so the numbers differ; mailroom's
//! are time-based and so far larger than Dovecot's counters that a client holding Dovecot's
//! HIGHESTMODSEQ resynchronises everything against mailroom (every message reported, expunges
//! conservatively) instead of missing a change. Back on Dovecot, a client holding mailroom's
//! much larger value sees Dovecot's HIGHESTMODSEQ lower than the one it knew: what Dovecot
//! answers then is recorded here (no VANISHED and no FETCH: such a client must resynchronise
//! in full, as RFC 7162 clients do when HIGHESTMODSEQ goes down).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};

use common::dovecot::Dovecot;
use common::{Mra, PASSWORD, database, is_root, maildir, python, require};

/// argv: port, uidvalidity (0: none), modseq, known UIDs; with QRESYNC enabled, SELECT INBOX
/// with QRESYNC when a UIDVALIDITY is given, and an optional STORE after. Prints HIGHESTMODSEQ,
/// UIDVALIDITY, the VANISHED data and each FETCH, one per line.
const RESYNC: &str = r#"
import imaplib, re, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("bob@b.test", sys.argv[2])
m.enable("QRESYNC")
validity, modseq = int(sys.argv[3]), int(sys.argv[4])
if validity:
    typ, data = m._simple_command("SELECT", "INBOX", "(QRESYNC (%d %d %s))" % (validity, modseq, sys.argv[5]))
else:
    typ, data = m._simple_command("SELECT", "INBOX")
assert typ == "OK", (typ, data)
m.state = "SELECTED"
print("highest", int(m.untagged_responses["HIGHESTMODSEQ"][-1]))
print("validity", int(m.untagged_responses["UIDVALIDITY"][-1]))
print("vanished", [d.decode() for d in m.untagged_responses.get("VANISHED", [])])
for f in m.untagged_responses.get("FETCH", []):
    f = f.decode()
    print("fetch", re.search(r"UID (\d+)", f).group(1), re.search(r"FLAGS \(([^)]*)\)", f).group(1),
          int(re.search(r"MODSEQ \((\d+)\)", f).group(1)))
if len(sys.argv) > 6:
    m.uid("STORE", sys.argv[6], "+FLAGS.SILENT", "(\\Answered)")
    m._simple_command("NOOP")
    print("after", int(m.untagged_responses["HIGHESTMODSEQ"][-1]) if "HIGHESTMODSEQ" in m.untagged_responses else 0)
m.logout()
"#;

struct Seen {
    highest: u64,
    validity: u32,
    vanished: Vec<String>,
    /// (UID, flags, MODSEQ).
    fetch: Vec<(u32, String, u64)>,
}

fn resync(port: u16, validity: u32, modseq: u64, known: &str, store: Option<&str>) -> Seen {
    let (p, v, m) = (port.to_string(), validity.to_string(), modseq.to_string());
    let mut args = vec![p.as_str(), PASSWORD, v.as_str(), m.as_str(), known];
    args.extend(store);
    let out = python(RESYNC, &args);
    let mut seen = Seen { highest: 0, validity: 0, vanished: Vec::new(), fetch: Vec::new() };
    for l in out.lines() {
        let (key, rest) = l.split_once(' ').unwrap();
        match key {
            "highest" => seen.highest = rest.parse().unwrap(),
            "validity" => seen.validity = rest.parse().unwrap(),
            "vanished" => {
                seen.vanished = rest
                    .trim_matches(['[', ']'])
                    .split(", ")
                    .filter(|s| !s.is_empty())
                    .map(|s| s.trim_matches('\'').to_string())
                    .collect()
            }
            "fetch" => {
                let mut it = rest.rsplitn(2, ' ');
                let modseq = it.next().unwrap().parse().unwrap();
                let (uid, flags) = it.next().unwrap().split_once(' ').unwrap();
                seen.fetch.push((uid.parse().unwrap(), flags.to_string(), modseq));
            }
            _ => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn dovecot_and_mailroom_modseqs_both_ways() {
    require("dovecot", &["--version"], "dovecot-core dovecot-imapd");
    require("python3", &["--version"], "python3");
    let db = database().await;
    let (user, uid) = if is_root() {
        ("nobody".to_string(), 65534)
    } else {
        (String::new(), fs::metadata("/proc/self").unwrap().uid())
    };
    fs::set_permissions(db.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for d in [db.mail_root(), db.mail_root().join("b.test"), db.mail_root().join("b.test/bob")] {
        fs::create_dir_all(&d).unwrap();
        chown(&d, Some(uid), Some(uid)).unwrap();
    }
    let root = maildir(&db, "bob");
    let mut dovecot = Dovecot::new(&root, uid);
    for i in 0..4 {
        dovecot.doveadm(&["save"], &format!("From: a@x.test\nSubject: d{i}\n\nbody {i}\n"));
    }
    dovecot.doveadm(&["flags", "add", "\\Seen", "mailbox", "INBOX", "uid", "2"], "");
    dovecot.doveadm(&["expunge", "mailbox", "INBOX", "uid", "4"], "");
    dovecot.start();
    let d = resync(dovecot.imap, 0, 0, "", None);
    dovecot.stop();
    assert!(d.highest > 0 && d.highest < 1_000_000, "Dovecot counts: {}", d.highest);

    // mailroom: a client holding Dovecot's HIGHESTMODSEQ is told everything.
    let mra = Mra::start_as(&db, &user, "auth = \"direct\"");
    let m = resync(mra.imap, d.validity, d.highest, "1:4", Some("1"));
    assert_eq!(m.validity, d.validity, "the same UIDVALIDITY");
    assert!(m.highest > d.highest, "{} after {}", m.highest, d.highest);
    assert_eq!(m.vanished, ["(EARLIER) 4"], "older than mailroom.modseq: every known UID that is gone");
    let uids: Vec<u32> = m.fetch.iter().map(|f| f.0).collect();
    assert_eq!(uids, [1, 2, 3], "every message, changed or not");
    assert!(m.fetch.iter().all(|f| f.2 > d.highest));
    assert_eq!(m.fetch[1].1, "\\Seen");
    // The STORE after it moved HIGHESTMODSEQ again.
    let again = resync(mra.imap, m.validity, m.highest, "1:4", None);
    assert_eq!(again.fetch.iter().map(|f| (f.0, f.1.as_str())).collect::<Vec<_>>(), [(1, "\\Answered")]);
    assert!(again.vanished.is_empty(), "{:?}", again.vanished);
    drop(mra);
    assert!(root.join(mailstore::modseq::FILE).is_file());

    // Back on Dovecot: its own modseqs, the flag mailroom set, and no trouble with our file.
    dovecot.start();
    let back = resync(dovecot.imap, m.validity, again.highest, "1:4", None);
    assert_eq!(back.validity, m.validity);
    assert!(back.highest < again.highest, "Dovecot's counter is far below mailroom's values");
    assert!(back.vanished.is_empty() && back.fetch.is_empty(), "what Dovecot answers a value above its own");
    let fresh = resync(dovecot.imap, 0, 0, "", None);
    assert!(
        fresh.highest > d.highest,
        "Dovecot gave the flag change made under mailroom a modseq of its own"
    );
    let from_old = resync(dovecot.imap, m.validity, d.highest, "1:4", None);
    assert_eq!(from_old.fetch.iter().map(|f| (f.0, f.1.as_str())).collect::<Vec<_>>(), [(1, "\\Answered")]);
    dovecot.stop();
    let log = dovecot.log();
    assert!(!log.contains("Error") && !log.contains("Panic"), "{log}");
}
