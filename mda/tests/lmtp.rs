//! mailroom-mda as a process: LMTP over its Unix socket and the deliver command, writing
//! Maildirs, on SQLite and MariaDB.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testsupport::{BACKENDS, Backend, TestDb};

const FIXTURES: [&str; 4] = [
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO alias_domain (alias_domain, target_domain) VALUES ('alias.test', 'b.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('bob@b.test', '{PLAIN}x', 'b.test/bob/', 0, 'bob', 'b.test'), \
     ('carol@b.test', '{PLAIN}x', 'b.test/carol/', 600, 'carol', 'b.test')",
    "INSERT INTO alias (address, goto, domain) VALUES ('bob@b.test', 'bob@b.test', 'b.test')",
];

struct Mda {
    child: Child,
    socket: PathBuf,
    config: PathBuf,
    stderr: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Mda {
    fn start(db: &TestDb, extra: &str) -> Mda {
        let tmp = tempfile::tempdir().unwrap();
        let socket = tmp.path().join("lmtp");
        let config = tmp.path().join("mailroom.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = \"{}\"\nmail_root = \"{}\"\nconnect_timeout = 1\n\n[mda]\nlmtp_socket = \"{}\"\n\
                 user = \"root\"\nhostname = \"mda.test\"\nlog_level = \"debug\"\n{extra}\n",
                db.cfg.url.0[0],
                db.mail_root().display(),
                socket.display()
            ),
        )
        .unwrap();
        let stderr = tmp.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_mailroom-mda"))
            .arg("--config")
            .arg(&config)
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let m = Mda { child, socket, config, stderr, _tmp: tmp };
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&m.socket).is_err() {
            assert!(Instant::now() < deadline, "no LMTP socket: {}", m.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Mda {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// Send an LMTP dialogue line by line, reading each reply; returns all reply lines.
fn lmtp(socket: &Path, commands: &[&str], data_replies: usize) -> Vec<String> {
    let s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut out = Vec::new();
    let mut read_reply = |out: &mut Vec<String>| loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end().to_string();
        let last = l.as_bytes().get(3) != Some(&b'-');
        out.push(l);
        if last {
            break;
        }
    };
    read_reply(&mut out);
    let mut in_data = false;
    for c in commands {
        w.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        let n = match (in_data, *c) {
            (true, ".") => data_replies,
            (true, _) => 0,
            _ => 1,
        };
        in_data = (in_data && *c != ".") || (*c == "DATA" && !in_data);
        for _ in 0..n {
            read_reply(&mut out);
        }
    }
    out
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default()
}

async fn database(backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    for sql in FIXTURES {
        db.sql(sql).await;
    }
    db
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
    let deliver = |rcpt: &str, extra: &[&str], msg: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mailroom-mda"))
            .arg("--config")
            .arg(&mda.config)
            .args(["deliver", "-f", "a@x.test", "-a", rcpt])
            .args(extra)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(msg.as_bytes()).unwrap();
        c.wait_with_output().unwrap().status.code()
    };
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
