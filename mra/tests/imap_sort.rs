//! SORT, THREAD and ESORT (RFC 5256, RFC 5957, RFC 5267) through Python's imaplib against the
//! real mailroom-mra, compared with what a private Dovecot answers on the same Maildir: messages
//! crafted for the tricky rules (Re/Fwd/[blob]/(fwd)/[Fwd: ...] subjects, missing and invalid
//! dates, time zones, missing and duplicate Message-IDs, reply chains with missing parents,
//! a reference loop, groups, encoded words). Then a 5,000-message mailbox sorts and threads
//! without the message files being read: only the cache (the files are made unreadable).

mod common;

use common::dovecot::{Dovecot, shared_maildir};
use common::{Imap, Mra, PASSWORD, database, python, require};

/// Each command's untagged answer, as JSON: SORT and THREAD via imaplib's `sort`/`thread`,
/// their UID forms, ESORT (the TAG taken out) and a SORT with search keys.
const QUERIES: &str = r#"
import imaplib, json, re, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
m.select("INBOX", readonly=True)
out = {}
def text(data):
    return " ".join(d.decode() if isinstance(d, bytes) else str(d) for d in data if d is not None)
for crit in ["SUBJECT", "DATE", "REVERSE DATE", "FROM", "TO", "CC", "SIZE", "ARRIVAL",
             "DISPLAYFROM", "DISPLAYTO", "REVERSE SUBJECT DATE", "REVERSE FROM REVERSE SIZE"]:
    typ, data = m.sort(crit, "UTF-8", "ALL")
    out["sort " + crit] = [typ, text(data)]
typ, data = m.sort("SUBJECT", "US-ASCII", 'OR', 'SUBJECT', '"topic"', 'FROM', '"alice"')
out["sort subject searched"] = [typ, text(data)]
typ, data = m.uid("SORT", "(DATE)", "UTF-8", "ALL")
out["uid sort date"] = [typ, text(data)]
for alg in ["REFERENCES", "ORDEREDSUBJECT"]:
    typ, data = m.thread(alg, "UTF-8", "ALL")
    out["thread " + alg] = [typ, text(data)]
    typ, data = m.uid("THREAD", alg, "UTF-8", "ALL")
    out["uid thread " + alg] = [typ, text(data)]
typ, data = m.thread("REFERENCES", "UTF-8", "NOT", "SUBJECT", '"Topic A"')
out["thread searched"] = [typ, text(data)]
typ, data = m._simple_command("SORT", "RETURN", "(MIN MAX COUNT ALL)", "(SUBJECT)", "UTF-8", "ALL")
typ, data = m._untagged_response(typ, data, "ESEARCH")
out["esort"] = [typ, re.sub(r'\(TAG "[^"]*"\) ', "", text(data))]
typ, data = m.sort("DATE", "KOI8-BOGUS", "SUBJECT", '"x"')
out["badcharset"] = [typ, "BADCHARSET" in text(data)]
m.logout()
print(json.dumps(out, sort_keys=True, indent=1))
"#;

/// The crafted messages, in delivery order.
const MESSAGES: &[&str] = &[
    // 1
    "From: Zed Zulu <zed@x.test>\nTo: bob@b.test\nSubject: Topic A\n\
     Date: Fri, 22 Feb 2008 10:00:00 +0000\nMessage-ID: <a1@x.test>\n\nfirst\n",
    // 2: a reply dated before its parent.
    "From: alice@x.test\nTo: \"Carol\" <carol@y.test>\nSubject: Re: Topic A\n\
     Date: Fri, 22 Feb 2008 09:00:00 +0000\nMessage-ID: <a2@x.test>\nReferences: <a1@x.test>\n\n\
     a reply dated earlier than its parent\n",
    // 3: no Date (INTERNALDATE instead), no Message-ID, In-Reply-To only, blob and Fwd.
    "From: \"Bob\" <bob@b.test>\nTo: alice@x.test\nCc: dave@z.test\n\
     Subject: RE: [list] Fwd: Topic A\nIn-Reply-To: <a2@x.test>\n\nno date, no id\n",
    // 4: a (fwd) trailer; a time zone.
    "From: erin@x.test\nTo: zed@x.test\nSubject: Topic A (fwd)\n\
     Date: Fri, 22 Feb 2008 11:30:00 +0200\nMessage-ID: <a4@x.test>\n\nforwarded\n",
    // 5: [Fwd: ...]; its parents are missing.
    "From: frank@x.test\nTo: group: one@x.test, two@x.test;\nSubject: [Fwd: Topic B]\n\
     Date: Sat, 23 Feb 2008 08:00:00 -0500\nMessage-ID: <b1@x.test>\n\
     References: <missing@x.test> <b0@x.test>\n\nwrapped forward\n",
    // 6: a sibling under the missing parent.
    "From: grace@x.test\nTo: bob@b.test\nSubject: Re: Topic B\n\
     Date: Sat, 23 Feb 2008 09:00:00 +0000\nMessage-ID: <b2@x.test>\n\
     References: <missing@x.test>\n\nsibling\n",
    // 7: a child whose subject differs.
    "From: heidi@x.test\nSubject: Topic C\nDate: Sun, 24 Feb 2008 12:00:00 +0000\n\
     Message-ID: <c1@x.test>\nReferences: <b1@x.test>\n\nchanged subject\n",
    // 8: no subject, almost no header.
    "From: ivan@x.test\n\nbare\n",
    // 9: a duplicate Message-ID; Re[2].
    "From: judy@x.test\nTo: bob@b.test\nSubject: Re[2]: topic c\n\
     Date: Mon, 25 Feb 2008 12:00:00 +0000\nMessage-ID: <a1@x.test>\n\nduplicate id\n",
    // 10: an invalid Date; a blob that is not a leader.
    "From: \"kate\" <kate@x.test>\nCc: \"Zoe\" <zoe@y.test>\nSubject: [blob] Topic D\n\
     Date: garbage\nMessage-ID: <d1@x.test>\n\ninvalid date\n",
    // 11
    "From: Leo <leo@x.test>\nSubject: Topic D\nDate: Tue, 26 Feb 2008 12:00:00 +0000\n\
     Message-ID: <d2@x.test>\n\nsame base subject\n",
    // 12: a reply to a message that arrives later.
    "From: mallory@x.test\nSubject: re: re: fw: Topic E\nDate: Wed, 27 Feb 2008 12:00:00 +0000\n\
     Message-ID: <e2@x.test>\nReferences: <e0@x.test>\n\nreply first\n",
    // 13
    "From: niaj@x.test\nSubject: Topic E\nDate: Tue, 26 Feb 2008 11:00:00 +0000\n\
     Message-ID: <e0@x.test>\n\nparent later\n",
    // 14, 15: a reference loop.
    "From: olivia@x.test\nSubject: loop one\nDate: Thu, 28 Feb 2008 12:00:00 +0000\n\
     Message-ID: <l1@x.test>\nReferences: <l2@x.test>\n\nloop\n",
    "From: peggy@x.test\nSubject: loop two\nDate: Thu, 28 Feb 2008 13:00:00 +0000\n\
     Message-ID: <l2@x.test>\nReferences: <l1@x.test>\n\nloop\n",
    // 16: encoded words in the subject and the display name.
    "From: =?UTF-8?Q?=C3=89mile?= <emile@x.test>\nTo: =?iso-8859-1?q?foo_aar?= <e@f.g>\n\
     Subject: =?UTF-8?Q?Re:_R=C3=A9sum=C3=A9?=\nDate: Fri, 29 Feb 2008 12:00:00 +0100\n\
     Message-ID: <r1@x.test>\n\nencoded\n",
    // 17: the same second as 1, a tie.
    "From: zed@x.test\nSubject: Fwd: Re: Topic A\nDate: Fri, 22 Feb 2008 10:00:00 +0000\n\
     Message-ID: <a5@x.test>\nReferences: <a4@x.test>\n\ntie\n",
];

fn answers(port: u16) -> String {
    python(QUERIES, &[&port.to_string(), "bob@b.test", PASSWORD])
}

#[tokio::test(flavor = "multi_thread")]
async fn sort_and_thread_answer_as_dovecot_does() {
    require("dovecot", &["--version"], "dovecot-core dovecot-imapd");
    require("python3", &["--version"], "python3");
    let db = database().await;
    let (user, uid, root) = shared_maildir(&db, "bob");
    let mut dovecot = Dovecot::new(&root, uid);
    // A first message, expunged: UIDs are then one more than sequence numbers.
    dovecot.doveadm(&["save"], "From: gone@x.test\nSubject: gone\n\ngone\n");
    for msg in MESSAGES {
        dovecot.doveadm(&["save"], msg);
    }
    dovecot.doveadm(&["expunge", "mailbox", "INBOX", "uid", "1"], "");
    dovecot.start();
    let from_dovecot = answers(dovecot.imap);
    dovecot.stop();
    assert!(from_dovecot.contains("\"thread REFERENCES\""), "{from_dovecot}");

    let mra = Mra::start_as(&db, &user, "auth = \"direct\"");
    let from_mra = answers(mra.imap);
    assert!(from_mra.contains("\"uid sort date\": [\n  \"OK\",\n  \"3 5 2 "), "{from_mra}");
    assert_eq!(from_mra, from_dovecot, "mailroom-mra (left) and Dovecot (right) differ\n{}", mra.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn five_thousand_messages_sort_and_thread_from_the_cache() {
    let db = database().await;
    let root = common::maildir(&db, "bob");
    let mra = Mra::start(&db, "");
    let maildir = mailstore::Maildir::new(&root);
    for i in 0..5_000u32 {
        let subject = match i % 3 {
            0 => format!("Topic {}", i % 97),
            1 => format!("Re: Topic {}", i % 97),
            _ => format!("[list] Fwd: topic {}", i % 89),
        };
        // One reply chain through the whole mailbox.
        let refs = if i > 0 { format!("References: <m{}@x.test>\r\n", i - 1) } else { String::new() };
        let msg = format!(
            "From: u{}@x.test\r\nSubject: {subject}\r\nDate: Fri, 22 Feb 2008 {:02}:{:02}:{:02} +0000\r\n\
             Message-ID: <m{i}@x.test>\r\n{refs}\r\nbody {i}\r\n",
            i % 13,
            i / 3600,
            (i / 60) % 60,
            i % 60
        );
        maildir.deliver(None, b"", &mut msg.as_bytes()).unwrap();
    }
    let mut imap = Imap::login(mra.imap, "bob");
    imap.ok("SELECT INBOX");
    // The first SORT fills the cache from the files.
    let started = std::time::Instant::now();
    let first = imap.ok("SORT (SUBJECT DATE) UTF-8 ALL");
    let cold = started.elapsed();
    let started = std::time::Instant::now();
    let first_thread = imap.ok("THREAD REFERENCES UTF-8 ALL");
    let warm_thread = started.elapsed();
    // Now every file is empty: the same answers can only come from mailroom.cache.
    let mut files = Vec::new();
    for dir in ["new", "cur"] {
        files.extend(common::names(&root.join(dir)).into_iter().map(|n| root.join(dir).join(n)));
    }
    assert_eq!(files.len(), 5_000);
    for f in &files {
        std::fs::write(f, b"").unwrap();
    }
    let started = std::time::Instant::now();
    let again = imap.ok("SORT (SUBJECT DATE) UTF-8 ALL");
    eprintln!(
        "5,000 messages: SORT (SUBJECT DATE) {cold:?} filling the cache, {:?} from it; \
         THREAD REFERENCES {warm_thread:?}",
        started.elapsed()
    );
    assert_eq!(first[0], again[0]);
    let numbers: Vec<u32> =
        again[0].strip_prefix("* SORT ").unwrap().split(' ').map(|n| n.parse().unwrap()).collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=5_000).collect::<Vec<u32>>());
    let thread = imap.ok("THREAD REFERENCES UTF-8 ALL");
    assert_eq!(thread[0], first_thread[0]);
    // One chain: (1 2 3 ... 5000), in date order, which is delivery order.
    let chain: Vec<String> = (1..=5_000).map(|n| n.to_string()).collect();
    assert_eq!(thread[0], format!("* THREAD ({})", chain.join(" ")));
    let esort = imap.ok("UID SORT RETURN (COUNT MIN) (REVERSE DATE) UTF-8 SUBJECT \"topic 1\"");
    assert!(esort[0].starts_with("* ESEARCH (TAG \"a") && esort[0].contains(") UID MIN "), "{esort:?}");
    assert!(mra.log().lines().all(|l| !l.contains("WARN imap")), "{}", mra.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sort_and_thread_commands_get_bad_or_no_and_the_session_goes_on() {
    let db = database().await;
    let root = common::maildir(&db, "bob");
    common::deliver(&root, "Re: one", "1\n");
    common::deliver(&root, "two", "2\n");
    let mra = Mra::start(&db, "");
    let mut imap = Imap::login(mra.imap, "bob");
    assert!(imap.tagged("SORT (DATE) UTF-8 ALL").starts_with("BAD "), "no mailbox selected");
    imap.ok("SELECT INBOX");
    for bad in [
        "SORT (DATE) UTF-8",
        "SORT DATE UTF-8 ALL",
        "SORT () UTF-8 ALL",
        "SORT (REVERSE) UTF-8 ALL",
        "SORT (BOGUS) UTF-8 ALL",
        "SORT (DATE) UTF-8 BOGUS",
        "SORT RETURN (PARTIAL 1:1) (DATE) UTF-8 ALL",
        "THREAD BOGUS UTF-8 ALL",
        "THREAD REFERENCES UTF-8",
        "UID THREAD (REFERENCES) UTF-8 ALL",
    ] {
        let r = imap.tagged(bad);
        assert!(r.starts_with("BAD "), "{bad}: {r}");
    }
    assert!(imap.tagged("SORT (DATE) KOI8-R ALL").starts_with("NO [BADCHARSET"));
    assert!(imap.tagged("THREAD REFERENCES x-bogus ALL").starts_with("NO [BADCHARSET"));
    assert_eq!(imap.ok("SORT (SUBJECT) UTF-8 ALL"), ["* SORT 1 2"]);
    assert_eq!(imap.ok("THREAD ORDEREDSUBJECT US-ASCII NOT SUBJECT two"), ["* THREAD (1)"]);
    assert_eq!(imap.ok("SORT (SIZE) UTF-8 SUBJECT nothing"), ["* SORT"]);
    assert_eq!(imap.ok("THREAD REFERENCES UTF-8 SUBJECT nothing"), ["* THREAD"]);
    // SEARCHRES: a saved result used as the search keys.
    imap.ok("SEARCH RETURN (SAVE) SUBJECT two");
    assert_eq!(imap.ok("UID SORT (ARRIVAL) UTF-8 $"), ["* SORT 2"]);
    assert!(imap.tagged("NOOP").starts_with("OK"));
}
