//! The database going away and coming back: lookups answer "unavailable" (never "not found"
//! or "wrong password") and recover without a restart; fail-over across MariaDB hosts;
//! least-privilege grants.

use std::time::Duration;

use authlib::{Directory, Verdict};
use proto::{Address, Domain, Secret};
use testsupport::mariadb::PrivateMariaDb;
use testsupport::{Backend, TestDb};

fn a(s: &str) -> Address {
    Address::parse(s).unwrap()
}

const FIXTURES: [&str; 3] = [
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO mailbox (username, password, maildir, local_part, domain) VALUES \
     ('bob@b.test', '{PLAIN}bobpass', 'b.test/bob/', 'bob', 'b.test')",
    "INSERT INTO alias (address, goto, domain) VALUES ('bob@b.test', 'bob@b.test', 'b.test')",
];

async fn private_directory(server: &PrivateMariaDb) -> Directory {
    let admin = sqlx::AnyPool::connect(&server.url()).await.expect("connect private server");
    sqlx::query("CREATE DATABASE mailroom").execute(&admin).await.unwrap();
    admin.close().await;
    let cfg = config::Database {
        url: config::UrlList(vec![format!("{}/mailroom", server.url())]),
        connect_timeout: 1.try_into().unwrap(),
        ..Default::default()
    };
    let dir = Directory::open(&cfg).unwrap();
    dir.migrate().await.unwrap();
    let pool = sqlx::AnyPool::connect(&cfg.url.0[0]).await.unwrap();
    for sql in FIXTURES {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    dir
}

#[tokio::test]
async fn mariadb_stops_and_comes_back() {
    sqlx::any::install_default_drivers();
    let mut server = tokio::task::spawn_blocking(PrivateMariaDb::start).await.unwrap();
    let dir = private_directory(&server).await;
    let b = Domain::parse("b.test").unwrap();
    let pw = Secret::from("bobpass");
    assert!(dir.local_domain(&b).await.unwrap().is_some());
    assert_eq!(dir.authenticate("bob@b.test", &pw).await.unwrap(), Verdict::Accepted(a("bob@b.test")));

    server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .unwrap();
    assert!(dir.local_domain(&b).await.is_err(), "domain lookup with the database down");
    assert!(dir.mailbox(&a("bob@b.test")).await.is_err(), "mailbox lookup with the database down");
    assert!(dir.resolve(&a("bob@b.test")).await.is_err(), "resolve with the database down");
    assert!(dir.authenticate("bob@b.test", &pw).await.is_err(), "auth with the database down");
    assert!(dir.may_send_as(&a("bob@b.test"), &a("bob@b.test")).await.is_err());

    let _server = tokio::task::spawn_blocking(move || {
        server.start_again();
        server
    })
    .await
    .unwrap();
    assert_eq!(dir.authenticate("bob@b.test", &pw).await.unwrap(), Verdict::Accepted(a("bob@b.test")));
    assert!(dir.resolve(&a("bob@b.test")).await.unwrap().is_some(), "recovered without a restart");
}

#[tokio::test]
async fn mariadb_fails_over_to_the_next_host() {
    let db = TestDb::new(Backend::MariaDb).await;
    for sql in FIXTURES {
        db.sql(sql).await;
    }
    // A port where nothing listens, then the real server.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let good = db.cfg.url.0[0].clone();
    let dir = db.directory_with(|c| {
        c.url = config::UrlList(vec![format!("mysql://root@127.0.0.1:{dead_port}/x"), good]);
    });
    assert_eq!(
        dir.authenticate("bob@b.test", &Secret::from("bobpass")).await.unwrap(),
        Verdict::Accepted(a("bob@b.test"))
    );
    assert!(dir.mailbox(&a("bob@b.test")).await.unwrap().is_some());
}

#[tokio::test]
async fn sqlite_locked_is_unavailable_then_recovers() {
    let db = TestDb::new(Backend::Sqlite).await;
    for sql in FIXTURES {
        db.sql(sql).await;
    }
    let dir = db.directory_with(|c| c.connect_timeout = 1.try_into().unwrap());
    assert!(dir.mailbox(&a("bob@b.test")).await.unwrap().is_some());
    // Another process holding an exclusive lock: readers must time out into "unavailable".
    let mut locker = db.pool.acquire().await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut *locker).await.unwrap();
    sqlx::query("UPDATE mailbox SET name = 'x'").execute(&mut *locker).await.unwrap();
    let fresh = db.directory_with(|c| c.connect_timeout = 1.try_into().unwrap());
    let r = fresh.authenticate("bob@b.test", &Secret::from("bobpass")).await;
    assert!(r.is_err(), "locked database must be a temporary failure, got {r:?}");
    sqlx::query("COMMIT").execute(&mut *locker).await.unwrap();
    drop(locker);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        fresh.authenticate("bob@b.test", &Secret::from("bobpass")).await.unwrap(),
        Verdict::Accepted(a("bob@b.test"))
    );
}

/// sql/mariadb/grants.sql: the lookup account resolves users but cannot read passwords; the
/// auth account can authenticate.
#[tokio::test]
async fn grants_keep_password_hashes_from_the_lookup_account() {
    let db = TestDb::new(Backend::MariaDb).await;
    for sql in FIXTURES {
        db.sql(sql).await;
    }
    let dbname = db.cfg.url.0[0].rsplit('/').next().unwrap().to_string();
    let tag = &dbname[dbname.len().saturating_sub(12)..];
    let (lookup, auth) = (format!("lk{tag}"), format!("au{tag}"));
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/mariadb/grants.sql"))
        .unwrap()
        .replace("`mailroom`.", &format!("`{dbname}`."))
        .replace("'mailroom_lookup'@'localhost'", &format!("'{lookup}'@'%'"))
        .replace("'mailroom_auth'@'localhost'", &format!("'{auth}'@'%'"))
        .replace("@LOOKUP_PASSWORD@", "lookpw")
        .replace("@AUTH_PASSWORD@", "authpw");
    for stmt in script.lines().filter(|l| !l.starts_with("--")).collect::<Vec<_>>().join("\n").split(';') {
        if !stmt.trim().is_empty() {
            db.sql(stmt).await;
        }
    }
    let server = db.cfg.url.0[0].rsplit_once('@').unwrap().1.split('/').next().unwrap().to_string();
    let as_user = |user: &str, pw: &str| {
        let url = format!("mysql://{user}:{pw}@{server}/{dbname}");
        db.directory_with(|c| c.url = config::UrlList(vec![url]))
    };
    let lookup_dir = as_user(&lookup, "lookpw");
    assert!(lookup_dir.resolve(&a("bob@b.test")).await.unwrap().is_some(), "lookup account resolves");
    assert!(
        lookup_dir.authenticate("bob@b.test", &Secret::from("bobpass")).await.is_err(),
        "lookup account must not read mailbox.password"
    );
    // mailroom-mta's greylisting writes its own tables with the lookup account.
    let t = authlib::Triplet {
        client_net: "192.0.2.0".into(),
        sender: "a@remote.example".into(),
        recipient: "bob@b.test".into(),
    };
    let seen = authlib::Seen { first: 1000, last: 1300 };
    lookup_dir.greylist_set_triplet(&t, seen).await.expect("lookup account writes greylist triplets");
    assert_eq!(lookup_dir.greylist_triplet(&t).await.unwrap(), Some(seen));
    let passes = authlib::Passes { count: 1, last: 1300 };
    lookup_dir.greylist_set_client("192.0.2.7", passes).await.expect("and the auto-whitelist");
    assert_eq!(lookup_dir.greylist_expire(2000, 0, 300).await.unwrap(), 2, "expired rows removed");
    let auth_dir = as_user(&auth, "authpw");
    assert_eq!(
        auth_dir.authenticate("bob@b.test", &Secret::from("bobpass")).await.unwrap(),
        Verdict::Accepted(a("bob@b.test"))
    );
    db.sql(&format!("DROP USER '{lookup}'@'%'")).await;
    db.sql(&format!("DROP USER '{auth}'@'%'")).await;
}
