//! The user's Sieve script at LMTP delivery, where Pigeonhole keeps it: `.dovecot.sieve` in
//! the home (a symlink into `sieve/`), folders, flags, discard, edited headers, and a broken
//! script keeping the message in INBOX with the error in `.dovecot.sieve.log`.

mod common;

use std::fs;
use std::path::Path;

use common::{Mda, files, lmtp_message};
use testsupport::Backend;

const FIXTURES: [&str; 2] = [
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('bob@b.test', '{PLAIN}x', 'b.test/bob/', 0, 'bob', 'b.test'), \
     ('carol@b.test', '{PLAIN}x', 'b.test/carol/', 0, 'carol', 'b.test')",
];

const SCRIPT: &str = r#"require ["fileinto", "imap4flags", "mailbox", "editheader", "envelope"];
if header :contains "subject" "[list]" { fileinto :create "Lists"; stop; }
if header :contains "subject" "spam" { discard; stop; }
if header :contains "subject" "missing" { fileinto "Nowhere"; stop; }
if envelope :is "from" "boss@x.test" { addflag ["\\Flagged", "work"]; }
addheader "X-Sieved" "yes";
"#;

fn install(home: &Path, script: &str) {
    fs::create_dir_all(home.join("sieve")).unwrap();
    fs::write(home.join("sieve/main.sieve"), script).unwrap();
    std::os::unix::fs::symlink("sieve/main.sieve", home.join(".dovecot.sieve")).unwrap();
}

#[tokio::test]
async fn lmtp_delivery_follows_the_users_script() {
    let db = common::database(Backend::Sqlite, &FIXTURES).await;
    let mda = Mda::start(&db, "");
    let bob = db.mail_root().join("b.test/bob");
    let carol = db.mail_root().join("b.test/carol");
    install(&bob, SCRIPT);
    install(&carol, "require \"fileinto\";\nif true {\n  fileinto :bogus \"x\";\n}\n");
    let socket = mda.socket.clone();
    let send = move |from: &str, rcpt: &str, subject: &str| {
        let body = format!("From: {from}\r\nSubject: {subject}\r\n\r\nhello\r\n");
        lmtp_message(&socket, from, &[rcpt], 1, &body)
    };
    let replies = tokio::task::spawn_blocking(move || {
        let mut r = Vec::new();
        r.extend(send("alice@x.test", "bob@b.test", "[list] news"));
        r.extend(send("alice@x.test", "bob@b.test", "cheap spam"));
        r.extend(send("alice@x.test", "bob@b.test", "missing folder"));
        r.extend(send("boss@x.test", "bob@b.test", "report"));
        r.extend(send("alice@x.test", "carol@b.test", "hi carol"));
        r
    })
    .await
    .unwrap();
    assert_eq!(replies.len(), 5, "{replies:?}");
    assert!(replies.iter().all(|r| r.starts_with("250 ")), "{replies:?}\n{}", mda.log());

    // fileinto :create made the folder.
    let lists = files(&bob.join("Maildir/.Lists/new"));
    assert_eq!(lists.len(), 1, "{}", mda.log());
    assert!(fs::read_to_string(&lists[0]).unwrap().contains("Subject: [list] news"));
    // The discarded message is nowhere; the one for a missing folder is in INBOX, logged.
    let new = files(&bob.join("Maildir/new"));
    assert_eq!(new.len(), 1, "{new:?}");
    let kept = fs::read_to_string(&new[0]).unwrap();
    assert!(kept.starts_with("Return-Path: <alice@x.test>\nDelivered-To: bob@b.test\n"), "{kept}");
    assert!(kept.contains("Subject: missing folder"), "{kept}");
    let log = fs::read_to_string(bob.join(".dovecot.sieve.log")).unwrap();
    assert!(log.contains("fileinto \"Nowhere\": no such folder; kept in INBOX"), "{log}");
    // Flags: cur/ with F and keyword a, named in dovecot-keywords; the added header first.
    let cur = files(&bob.join("Maildir/cur"));
    assert_eq!(cur.len(), 1, "{cur:?}");
    let name = cur[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with(":2,Fa"), "{name}");
    assert_eq!(fs::read_to_string(bob.join("Maildir/dovecot-keywords")).unwrap(), "0 work\n");
    let flagged = fs::read_to_string(&cur[0]).unwrap();
    assert!(
        flagged.starts_with(
            "Return-Path: <boss@x.test>\nDelivered-To: bob@b.test\nX-Sieved: yes\nFrom: boss@x.test\n"
        ),
        "{flagged}"
    );

    // A broken script keeps the message and tells the user where.
    let inbox = files(&carol.join("Maildir/new"));
    assert_eq!(inbox.len(), 1, "{}", mda.log());
    let log = fs::read_to_string(carol.join(".dovecot.sieve.log")).unwrap();
    assert!(log.contains(".dovecot.sieve: line 3, column 12: fileinto has no tag :bogus"), "{log}");
}

/// `reject` answers 550 5.7.1 with the script's reason in LMTP and stores nothing; a message
/// handed over again after mailroom-mda restarted (an MTA that died before recording our 250
/// does that) is answered "Already saved" and stored once: the duplicate store is on disk.
#[tokio::test]
async fn reject_in_lmtp_and_no_second_copy_across_a_restart() {
    let db = common::database(Backend::Sqlite, &FIXTURES).await;
    let bob = db.mail_root().join("b.test/bob");
    let carol = db.mail_root().join("b.test/carol");
    install(
        &bob,
        "require \"reject\";\nif header :contains \"subject\" \"offer\" { reject \"No offers, thanks.\"; }\n",
    );
    let mda = Mda::start(&db, "");
    let socket = mda.socket.clone();
    let replies = tokio::task::spawn_blocking(move || {
        let body = "From: shop@x.test\r\nSubject: special offer\r\n\r\nbuy\r\n";
        lmtp_message(&socket, "shop@x.test", &["bob@b.test", "carol@b.test"], 2, body)
    })
    .await
    .unwrap();
    assert_eq!(replies[0], "550 5.7.1 <bob@b.test> No offers, thanks.", "{replies:?}\n{}", mda.log());
    assert!(replies[1].starts_with("250 2.0.0 <carol@b.test> Saved"), "{replies:?}");
    assert!(files(&bob.join("Maildir/new")).is_empty() && files(&bob.join("Maildir/cur")).is_empty());
    assert_eq!(files(&carol.join("Maildir/new")).len(), 1);
    drop(mda);

    let mda = Mda::start(&db, "");
    let socket = mda.socket.clone();
    let again = tokio::task::spawn_blocking(move || {
        let body = "From: shop@x.test\r\nSubject: special offer\r\n\r\nbuy\r\n";
        lmtp_message(&socket, "shop@x.test", &["carol@b.test"], 1, body)
    })
    .await
    .unwrap();
    assert_eq!(again, vec!["250 2.0.0 <carol@b.test> Already saved".to_string()], "{}", mda.log());
    assert_eq!(files(&carol.join("Maildir/new")).len(), 1, "stored once across the restart");
}

/// The admin's scripts, as Pigeonhole's sieve_before (a directory, in name order),
/// sieve_default (for users without a script) and sieve_global (`include :global`).
#[tokio::test]
async fn global_before_default_and_include() {
    let db = common::database(Backend::Sqlite, &FIXTURES).await;
    let etc = tempfile::tempdir().unwrap();
    let before = etc.path().join("before.d");
    fs::create_dir_all(&before).unwrap();
    fs::create_dir_all(etc.path().join("global")).unwrap();
    fs::write(
        before.join("10-spam.sieve"),
        "require [\"fileinto\", \"mailbox\"];\nif header :contains \"X-Spam-Flag\" \"YES\" { fileinto :create \"Junk\"; }\n",
    )
    .unwrap();
    fs::write(before.join("20-flag.sieve"), "require \"imap4flags\";\naddflag \"$checked\";\n").unwrap();
    fs::write(before.join("README"), "not a script").unwrap();
    fs::write(etc.path().join("default.sieve"), "require \"include\";\ninclude :global \"lists\";\n")
        .unwrap();
    fs::write(
        etc.path().join("global/lists.sieve"),
        "require [\"fileinto\", \"mailbox\"];\nif exists \"List-Id\" { fileinto :create \"Lists\"; }\n",
    )
    .unwrap();
    let bob = db.mail_root().join("b.test/bob");
    let carol = db.mail_root().join("b.test/carol");
    install(&bob, "keep;\n");
    let mda = Mda::start(
        &db,
        &format!(
            "sieve_before = [\"{}\"]\nsieve_default = \"{}\"\nsieve_global = \"{}\"",
            before.display(),
            etc.path().join("default.sieve").display(),
            etc.path().join("global").display()
        ),
    );
    let socket = mda.socket.clone();
    let replies = tokio::task::spawn_blocking(move || {
        let mut r = Vec::new();
        for (rcpt, head) in [
            ("bob@b.test", "X-Spam-Flag: YES\r\nSubject: spam"),
            ("carol@b.test", "List-Id: <l.x.test>\r\nSubject: list"),
            ("carol@b.test", "Subject: plain"),
        ] {
            let body = format!("From: a@x.test\r\n{head}\r\n\r\nhello\r\n");
            r.extend(lmtp_message(&socket, "a@x.test", &[rcpt], 1, &body));
        }
        r
    })
    .await
    .unwrap();
    assert!(replies.iter().all(|r| r.starts_with("250 ")), "{replies:?}\n{}", mda.log());
    // sieve_before filed bob's spam: his own script did not run (the keep was cancelled).
    assert_eq!(files(&bob.join("Maildir/.Junk/new")).len(), 1, "{}", mda.log());
    assert!(files(&bob.join("Maildir/new")).is_empty() && files(&bob.join("Maildir/cur")).is_empty());
    // carol has no script: sieve_default includes the global one; the flag from before.
    let lists = files(&carol.join("Maildir/.Lists/cur"));
    assert_eq!(lists.len(), 1, "{}", mda.log());
    let inbox = files(&carol.join("Maildir/cur"));
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert!(inbox[0].to_string_lossy().ends_with(":2,a"), "{inbox:?}");
    assert_eq!(fs::read_to_string(carol.join("Maildir/dovecot-keywords")).unwrap(), "0 $checked\n");
}
