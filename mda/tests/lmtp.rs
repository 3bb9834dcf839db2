//! mailroom-mda as a process: LMTP over its Unix socket and the deliver command, writing
//! Maildirs, on SQLite and MariaDB.

mod common;

use common::{Mda, files, lmtp};
use testsupport::{BACKENDS, Backend, TestDb};

const FIXTURES: [&str; 4] = [
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO alias_domain (alias_domain, target_domain) VALUES ('alias.test', 'b.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('bob@b.test', '{PLAIN}x', 'b.test/bob/', 0, 'bob', 'b.test'), \
     ('carol@b.test', '{PLAIN}x', 'b.test/carol/', 600, 'carol', 'b.test')",
    "INSERT INTO alias (address, goto, domain) VALUES ('bob@b.test', 'bob@b.test', 'b.test')",
];

async fn database(backend: Backend) -> TestDb {
    common::database(backend, &FIXTURES).await
}

#[tokio::test]
async fn lmtp_delivers_into_maildirs() {
    for backend in BACKENDS {
        let db = database(backend).await;
        let mda = Mda::start(&db, "");
        let socket = mda.socket.clone();
        let replies = tokio::task::spawn_blocking(move || {
            lmtp(
                &socket,
                &[
                    "LHLO mx.test",
                    "MAIL FROM:<alice@x.test>",
                    "RCPT TO:<bob@b.test>",
                    "RCPT TO:<nobody@b.test>",
                    "RCPT TO:<bob+lists@alias.test>",
                    "DATA",
                    "Subject: test",
                    "",
                    "..hello",
                    ".",
                    "QUIT",
                ],
                2,
            )
        })
        .await
        .unwrap();
        let text = replies.join("\n");
        assert!(text.contains("550 5.1.1 <nobody@b.test> User unknown"), "{text}");
        assert!(text.contains("250 2.0.0 <bob@b.test> Saved"), "{text}\n{}", mda.log());
        assert!(text.contains("250 2.0.0 <bob+lists@alias.test> Saved"), "{text}");
        let new = db.mail_root().join("b.test/bob/Maildir/new");
        let mut got = files(&new);
        got.sort();
        assert_eq!(got.len(), 2, "{got:?}\n{}", mda.log());
        let msg = std::fs::read_to_string(&got[0]).unwrap();
        assert!(msg.starts_with("Return-Path: <alice@x.test>\nDelivered-To: "), "{msg}");
        assert!(msg.ends_with("Subject: test\n\n.hello\n"), "LF line ends, dot-unstuffed: {msg:?}");
        let name = got[0].file_name().unwrap().to_string_lossy().to_string();
        let size = std::fs::metadata(&got[0]).unwrap().len();
        assert!(name.contains(&format!(",S={size},W=")), "{name}");
        assert!(files(&db.mail_root().join("b.test/bob/Maildir/tmp")).is_empty());
    }
}

#[tokio::test]
async fn quota_detail_folder_duplicates_and_database_down() {
    let db = database(Backend::Sqlite).await;
    let mda = Mda::start(&db, "save_to_detail_mailbox = true\nduplicate_window = 600");
    std::fs::create_dir_all(db.mail_root().join("b.test/bob/Maildir/.lists/new")).unwrap();
    std::fs::write(db.mail_root().join("b.test/bob/Maildir/.lists/maildirfolder"), "").unwrap();
    let socket = mda.socket.clone();
    let big = "x".repeat(700);
    let body = big.clone();
    let text = tokio::task::spawn_blocking(move || {
        let big = body;
        let mut all = lmtp(
            &socket,
            &[
                "LHLO mx.test",
                "MAIL FROM:<a@x.test>",
                "RCPT TO:<bob+lists@b.test>",
                "RCPT TO:<carol@b.test>",
                "DATA",
                &big,
                ".",
                "QUIT",
            ],
            2,
        );
        // The same message again (a client that lost our replies): stored once.
        all.extend(lmtp(
            &socket,
            &[
                "LHLO mx.test",
                "MAIL FROM:<a@x.test>",
                "RCPT TO:<bob+lists@b.test>",
                "DATA",
                &big,
                ".",
                "QUIT",
            ],
            1,
        ));
        all.join("\n")
    })
    .await
    .unwrap();
    assert!(text.contains("552 5.2.2 <carol@b.test> Mailbox is full"), "{text}");
    assert!(text.contains("250 2.0.0 <bob+lists@b.test> Saved"), "{text}");
    assert!(text.contains("250 2.0.0 <bob+lists@b.test> Already saved"), "{text}");
    assert_eq!(files(&db.mail_root().join("b.test/bob/Maildir/.lists/new")).len(), 1, "{}", mda.log());
    assert!(files(&db.mail_root().join("b.test/carol/Maildir/new")).is_empty());

    // The deliver command, with sysexits.
    let deliver =
        |rcpt: &str, extra: &[&str], msg: &str| Some(mda.deliver(None, "a@x.test", rcpt, extra, msg).0);
    assert_eq!(deliver("bob@b.test", &[], "Subject: cmd\n\nbody\n"), Some(0));
    assert_eq!(deliver("bob@b.test", &["-m", "Archive/2026"], "Subject: cmd2\n\nbody\n"), Some(0));
    assert_eq!(files(&db.mail_root().join("b.test/bob/Maildir/.Archive.2026/new")).len(), 1);
    assert_eq!(deliver("nobody@b.test", &[], "x\n"), Some(67));
    assert_eq!(deliver("carol@b.test", &[], &format!("{big}\n")), Some(77), "over quota");
    assert_eq!(deliver("bob@b.test", &["-m", "../escape"], "x\n"), Some(73));

    // Database unavailable: lock it, as another process holding a write lock would.
    let mut locker = db.pool.acquire().await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut *locker).await.unwrap();
    sqlx::query("UPDATE mailbox SET name = 'x'").execute(&mut *locker).await.unwrap();
    let socket = mda.socket.clone();
    let text = tokio::task::spawn_blocking(move || {
        lmtp(&socket, &["LHLO mx.test", "MAIL FROM:<a@x.test>", "RCPT TO:<erin@b.test>", "QUIT"], 0)
            .join("\n")
    })
    .await
    .unwrap();
    assert!(text.contains("451 4.3.0"), "{text}");
    assert_eq!(deliver("bob@b.test", &[], "x\n"), Some(75));
    sqlx::query("ROLLBACK").execute(&mut *locker).await.unwrap();
}
