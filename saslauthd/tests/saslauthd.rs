//! mailroom-saslauthd as a process: both protocols over real Unix sockets, on SQLite and
//! MariaDB, cyrus's testsaslauthd against it, malformed input, the database going away.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Saslauthd, cyrus, cyrus_raw};
use proto::cyrus::encode_request;
use testsupport::mariadb::PrivateMariaDb;
use testsupport::{BACKENDS, Backend, TestDb};

/// bob: `openssl passwd -1 -salt abcdefgh bobpass` (postfixadmin's bare md5crypt);
/// erin: `doveadm pw -s SHA512-CRYPT -p erinpass`; carol is inactive.
const FIXTURES: [&str; 3] = [
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO mailbox (username, password, maildir, local_part, domain, active) VALUES \
     ('bob@b.test', '$1$abcdefgh$EJYg0GZtAPbfJ.bigqr/n/', 'b.test/bob/', 'bob', 'b.test', 1), \
     ('carol@b.test', '{PLAIN}carolpass', 'b.test/carol/', 'carol', 'b.test', 0), \
     ('erin@b.test', '{SHA512-CRYPT}$6$TJNGo98UmbFQHCjl$AXO/RcAJlFLt8HNO/Nb8mOqW1tvRJNC7dRZSh7jbIQLZEBavn5OyII2d/OGDu4TMXXJTyCX4apIhL9KjBIdLx1', 'b.test/erin/', 'erin', 'b.test', 1)",
    "INSERT INTO alias (address, goto, domain) VALUES ('bob@b.test', 'bob@b.test', 'b.test')",
];

async fn database(backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    for sql in FIXTURES {
        db.sql(sql).await;
    }
    db
}

/// A private MariaDB with the fixtures, for tests that stop it; returns the server and the URL.
async fn private_database() -> (PrivateMariaDb, String) {
    let server = tokio::task::spawn_blocking(PrivateMariaDb::start).await.unwrap();
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&server.url()).await.unwrap();
    sqlx::query("CREATE DATABASE mailroom").execute(&admin).await.unwrap();
    let url = format!("{}/mailroom", server.url());
    let cfg = config::Database { url: config::UrlList(vec![url.clone()]), ..Default::default() };
    authlib::Directory::open(&cfg).unwrap().migrate().await.unwrap();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    for sql in FIXTURES {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    (server, url)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test]
async fn cyrus_protocol_on_both_backends() {
    for backend in BACKENDS {
        let db = database(backend).await;
        let d = Saslauthd::start(&db.cfg.url.0[0], "");
        let mux = d.mux();
        blocking(move || {
            let ok = |l: &str, p: &str, realm: &str| cyrus(&mux, l, p, "smtp", realm);
            assert_eq!(ok("bob@b.test", "bobpass", ""), "OK");
            assert_eq!(ok("bob", "bobpass", "b.test"), "OK", "login + realm joined (cyrus -r)");
            assert_eq!(
                ok("bob@b.test", "bobpass", "other.test"),
                "OK",
                "a login with a domain is used as is"
            );
            assert_eq!(ok("erin@b.test", "erinpass", ""), "OK");
            assert!(ok("bob@b.test", "wrong", "").starts_with("NO"));
            assert!(ok("nobody@b.test", "bobpass", "").starts_with("NO"));
            assert!(ok("carol@b.test", "carolpass", "").starts_with("NO"), "inactive mailbox");
            assert!(ok("bob", "bobpass", "").starts_with("NO"), "no domain, no realm, no default_realm");
            assert_eq!(ok("", "x", ""), "NO NULL login received");
            assert_eq!(ok("bob@b.test", "", ""), "NO NULL password received");
            let long = "x".repeat(257);
            assert_eq!(ok(&long, "x", ""), "NO");
            let five = encode_request(&[b"bob@b.test", b"bobpass", b"imap", b"", b"192.0.2.9"]);
            assert_eq!(cyrus_raw(&mux, &five).as_deref(), Some("OK"));
            let five_bad = encode_request(&[b"bob@b.test", b"nope", b"imap", b"", b"192.0.2.9"]);
            assert!(cyrus_raw(&mux, &five_bad).unwrap().starts_with("NO"));
            // Truncated and garbage frames close that connection, and only that one.
            let full = encode_request(&[b"bob@b.test", b"bobpass", b"smtp", b""]);
            let mut s = UnixStream::connect(&mux).unwrap();
            s.write_all(&full[..7]).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty(), "no reply to a truncated request");
            assert_eq!(cyrus_raw(&mux, &[0xff; 64]).as_deref(), Some("NO"));
            assert_eq!(ok("bob@b.test", "bobpass", ""), "OK", "still serving");
        })
        .await;
        let text = d.log();
        assert!(
            text.contains("authentication failed")
                && text.contains("user=bob@b.test")
                && text.contains("service=imap")
                && text.contains("client=192.0.2.9"),
            "failures are logged with user, service and client: {text}"
        );
    }
}

#[tokio::test]
async fn many_concurrent_clients() {
    let db = database(Backend::MariaDb).await;
    let d = Saslauthd::start(&db.cfg.url.0[0], "");
    let mux = d.mux();
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let mux = mux.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let (pw, want) = if i % 4 == 0 { ("wrong", "NO") } else { ("bobpass", "OK") };
                    assert!(cyrus(&mux, "bob@b.test", pw, "smtp", "").starts_with(want));
                }
            })
        })
        .collect();
    blocking(move || threads.into_iter().for_each(|t| t.join().unwrap())).await;
}

/// A Dovecot-protocol client: handshake, then lines.
struct DovecotClient {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl DovecotClient {
    fn connect(path: &Path) -> (DovecotClient, Vec<String>) {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = DovecotClient { r: BufReader::new(s.try_clone().unwrap()), w: s };
        c.send("VERSION\t1\t0");
        c.send("CPID\t4242");
        let mut hello = Vec::new();
        loop {
            let l = c.recv();
            let done = l == "DONE";
            hello.push(l);
            if done {
                break;
            }
        }
        (c, hello)
    }

    fn send(&mut self, line: &str) {
        self.w.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    fn recv(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l.trim_end_matches('\n').to_string()
    }
}

#[tokio::test]
async fn dovecot_protocol_plain_and_login() {
    for backend in BACKENDS {
        let db = database(backend).await;
        let d = Saslauthd::start(&db.cfg.url.0[0], "");
        let auth = d.auth();
        blocking(move || {
            let (mut c, hello) = DovecotClient::connect(&auth);
            assert!(hello[0].starts_with("VERSION\t1\t"), "{hello:?}");
            let spid = hello.iter().position(|l| l.starts_with("SPID")).unwrap();
            assert!(
                hello[..spid].iter().any(|l| l == "MECH\tPLAIN\tplaintext"),
                "MECH before SPID: {hello:?}"
            );
            assert!(hello[..spid].iter().any(|l| l == "MECH\tLOGIN\tplaintext"));

            let plain = |u: &str, p: &str| B64.encode(format!("\0{u}\0{p}"));
            c.send(&format!(
                "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=192.0.2.5\tresp={}",
                plain("bob@b.test", "bobpass")
            ));
            assert_eq!(c.recv(), "OK\t1\tuser=bob@b.test");
            c.send(&format!(
                "AUTH\t2\tPLAIN\tservice=smtp\trip=192.0.2.5\tresp={}",
                plain("bob@b.test", "wrong")
            ));
            let fail = c.recv();
            assert!(fail.starts_with("FAIL\t2\t") && !fail.contains("temp"), "{fail}");
            // PLAIN without initial response.
            c.send("AUTH\t3\tPLAIN\tservice=smtp\trip=192.0.2.5");
            assert_eq!(c.recv(), "CONT\t3\t");
            c.send(&format!("CONT\t3\t{}", plain("erin@b.test", "erinpass")));
            assert_eq!(c.recv(), "OK\t3\tuser=erin@b.test");
            // LOGIN, prompts and all.
            c.send("AUTH\t4\tLOGIN\tservice=smtp\trip=192.0.2.5");
            assert_eq!(c.recv(), "CONT\t4\tVXNlcm5hbWU6");
            c.send(&format!("CONT\t4\t{}", B64.encode("bob@b.test")));
            assert_eq!(c.recv(), "CONT\t4\tUGFzc3dvcmQ6");
            c.send(&format!("CONT\t4\t{}", B64.encode("bobpass")));
            assert_eq!(c.recv(), "OK\t4\tuser=bob@b.test");
            // LOGIN with the user name as initial response.
            c.send(&format!("AUTH\t5\tLOGIN\tservice=smtp\tresp={}", B64.encode("carol@b.test")));
            assert_eq!(c.recv(), "CONT\t5\tUGFzc3dvcmQ6");
            c.send(&format!("CONT\t5\t{}", B64.encode("carolpass")));
            assert!(c.recv().starts_with("FAIL\t5\t"), "inactive");
            // Garbage closes this connection only.
            c.send("GARBAGE\tLINE");
            let mut rest = String::new();
            let _ = c.r.read_to_string(&mut rest);
            let (mut c2, _) = DovecotClient::connect(&auth);
            c2.send(&format!("AUTH\t9\tPLAIN\tservice=smtp\tresp={}", plain("bob@b.test", "bobpass")));
            assert_eq!(c2.recv(), "OK\t9\tuser=bob@b.test");
        })
        .await;
    }
}

fn testsaslauthd(mux: &Path, user: &str, realm: &str, pw: &str) -> String {
    let out = Command::new("testsaslauthd")
        .args(["-u", user, "-r", realm, "-p", pw, "-s", "smtp", "-f"])
        .arg(mux)
        .output()
        .expect("testsaslauthd not found: apt-get install sasl2-bin");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn testsaslauthd_and_a_database_that_goes_away() {
    let (mut server, url) = private_database().await;
    let d = Saslauthd::start(&url, "");
    let (mux, auth) = (d.mux(), d.auth());
    let m = mux.clone();
    blocking(move || {
        assert_eq!(testsaslauthd(&m, "bob", "b.test", "bobpass"), "0: OK \"Success.\"");
        assert_eq!(testsaslauthd(&m, "bob@b.test", "", "bobpass"), "0: OK \"Success.\"");
        assert_eq!(testsaslauthd(&m, "erin", "b.test", "erinpass"), "0: OK \"Success.\"");
        assert_eq!(testsaslauthd(&m, "bob", "b.test", "wrong"), "0: NO \"authentication failed\"");
        assert_eq!(testsaslauthd(&m, "nobody", "b.test", "bobpass"), "0: NO \"authentication failed\"");
        assert_eq!(testsaslauthd(&m, "carol", "b.test", "carolpass"), "0: NO \"authentication failed\"");
    })
    .await;

    server = blocking(move || {
        server.stop();
        server
    })
    .await;
    let (m, a) = (mux.clone(), auth.clone());
    blocking(move || {
        assert_eq!(testsaslauthd(&m, "bob", "b.test", "bobpass"), "0: NO \"authentication failed\"");
        let reply = cyrus(&m, "bob@b.test", "bobpass", "smtp", "");
        assert!(reply.starts_with("NO temporary failure"), "{reply}");
        let (mut c, _) = DovecotClient::connect(&a);
        c.send(&format!("AUTH\t1\tPLAIN\tservice=smtp\tresp={}", B64.encode("\0bob@b.test\0bobpass")));
        let fail = c.recv();
        assert!(fail.starts_with("FAIL\t1\t") && fail.contains("code=temp_fail"), "{fail}");
    })
    .await;
    assert!(d.log().contains("authentication temporarily failed"), "{}", d.log());

    let _server = blocking(move || {
        server.start_again();
        server
    })
    .await;
    let m = mux.clone();
    blocking(move || assert_eq!(testsaslauthd(&m, "bob", "b.test", "bobpass"), "0: OK \"Success.\"")).await;
}

/// The credential cache is authlib's and on by default: it spares the hash, never the row, so
/// a changed password or a database outage is seen at once.
#[tokio::test]
async fn credential_cache_never_outlives_a_password_change() {
    let (mut server, url) = private_database().await;
    let d = Saslauthd::start(&url, "");
    let mux = d.mux();
    let m = mux.clone();
    blocking(move || {
        assert_eq!(cyrus(&m, "bob@b.test", "bobpass", "smtp", ""), "OK");
        assert_eq!(cyrus(&m, "bob@b.test", "bobpass", "smtp", ""), "OK", "answered from the cache");
        assert!(cyrus(&m, "bob@b.test", "Bobpass", "smtp", "").starts_with("NO"), "a wrong password");
    })
    .await;
    assert_eq!(d.log().matches("not hashed again").count(), 1, "{}", d.log());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE mailbox SET password = '{PLAIN}newpass' WHERE username = 'bob@b.test'")
        .execute(&pool)
        .await
        .unwrap();
    let m = mux.clone();
    blocking(move || {
        assert!(cyrus(&m, "bob@b.test", "bobpass", "smtp", "").starts_with("NO"), "the old password");
        assert_eq!(cyrus(&m, "bob@b.test", "newpass", "smtp", ""), "OK");
    })
    .await;
    server = blocking(move || {
        server.stop();
        server
    })
    .await;
    blocking(move || {
        let reply = cyrus(&mux, "bob@b.test", "newpass", "smtp", "");
        assert!(reply.starts_with("NO temporary"), "a cached login without its row: {reply}");
    })
    .await;
    drop(server);
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let db = database(Backend::Sqlite).await;
    let mut d = Saslauthd::start(&db.cfg.url.0[0], "");
    assert_eq!(d.stop(), Some(0), "{}", d.log());
    assert!(d.log().contains("shutting down"));
}

#[tokio::test]
async fn drops_privileges_after_binding() {
    let db = database(Backend::MariaDb).await;
    let d = Saslauthd::start(&db.cfg.url.0[0], "user = \"nobody\"");
    // The socket listens before the drop; an answered request proves the drop is done.
    let mux = d.mux();
    blocking(move || assert_eq!(cyrus(&mux, "bob@b.test", "bobpass", "smtp", ""), "OK")).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
    let me = std::fs::read_to_string("/proc/self/status").unwrap();
    let root = me.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if root {
        assert!(uid_line.split_whitespace().skip(1).all(|u| u == "65534"), "still privileged: {uid_line}");
    }
}

#[tokio::test]
async fn a_dead_log_reader_does_not_stop_sigterm() {
    // Started by a supervisor that then died: stderr is a pipe nobody reads. Logging fails
    // from then on; the daemon must still answer and still stop on SIGTERM.
    let db = database(Backend::Sqlite).await;
    let mut d = Saslauthd::start_logging_to(&db.cfg.url.0[0], "", Some(std::process::Stdio::piped()));
    drop(d.child.as_mut().unwrap().stderr.take());
    let mux = d.mux();
    let reply = blocking(move || cyrus(&mux, "bob", "wrong", "smtp", "b.test")).await;
    assert!(reply.starts_with("NO"), "{reply}");
    assert_eq!(blocking(move || d.stop()).await, Some(0), "SIGTERM must end it, with status 0");
}
