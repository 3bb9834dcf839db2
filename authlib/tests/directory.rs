//! Every directory behaviour, on SQLite and on MariaDB.

use authlib::{Backend, Rejection, Target, Verdict};
use config::MaildirSource;
use proto::{Address, Domain, Secret};
use testsupport::{BACKENDS, TestDb};

fn a(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn d(s: &str) -> Domain {
    Domain::parse(s).unwrap()
}

/// A postfixadmin-style data set. Hashes were made by real tools:
/// bob: `openssl passwd -1 -salt abcdefgh bobpass` (postfixadmin 3.x bare md5crypt);
/// carol: `openssl passwd -6 -salt 0123456789abcdef carolpass` (postfixadmin 4.x bare sha512-crypt);
/// erin: `doveadm pw -s SHA512-CRYPT -p erinpass`.
async fn fixtures(db: &TestDb) {
    for sql in [
        "INSERT INTO domain (domain, active) VALUES ('b.test', 1), ('c.test', 1), ('off.test', 0)",
        "INSERT INTO domain (domain, active, backupmx) VALUES ('backup.test', 1, 1)",
        "INSERT INTO alias_domain (alias_domain, target_domain, active) VALUES \
         ('alias.test', 'b.test', 1), ('dead.test', 'off.test', 1), ('offalias.test', 'b.test', 0)",
        "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain, active) VALUES \
         ('bob@b.test', '$1$abcdefgh$EJYg0GZtAPbfJ.bigqr/n/', 'b.test/bob/', 0, 'bob', 'b.test', 1), \
         ('carol@b.test', '$6$0123456789abcdef$dbjNJymgfjVacKhbc8PJDfmID/n71CMKKVNA1cQiztkiNOXq7YV2.6gUDJWsC2JNLWkelj6M1q/nLcd2zIfQJ/', 'b.test/carol/', 1048576, 'carol', 'b.test', 1), \
         ('dave@b.test', '{PLAIN}davepass', 'b.test/dave/', 0, 'dave', 'b.test', 0), \
         ('erin@c.test', '{SHA512-CRYPT}$6$TJNGo98UmbFQHCjl$AXO/RcAJlFLt8HNO/Nb8mOqW1tvRJNC7dRZSh7jbIQLZEBavn5OyII2d/OGDu4TMXXJTyCX4apIhL9KjBIdLx1', 'c.test/erin/', 0, 'erin', 'c.test', 1), \
         ('frank@b.test', '{NOSUCH}abc', 'b.test/frank/', 0, 'frank', 'b.test', 1), \
         ('gina@b.test', '{SHA512-CRYPT}$6$truncated', 'b.test/gina/', 0, 'gina', 'b.test', 1), \
         ('evil@b.test', '{PLAIN}x', '../../etc/', 0, 'evil', 'b.test', 1)",
        "INSERT INTO alias (address, goto, domain, active) VALUES \
         ('bob@b.test', 'bob@b.test', 'b.test', 1), \
         ('carol@b.test', 'carol@b.test', 'b.test', 1), \
         ('sales@b.test', 'bob@b.test, carol@b.test', 'b.test', 1), \
         ('fwd@b.test', 'bob@b.test,someone@remote.test', 'b.test', 1), \
         ('loop1@b.test', 'loop2@b.test', 'b.test', 1), \
         ('loop2@b.test', 'loop1@b.test,bob@b.test', 'b.test', 1), \
         ('bob+special@b.test', 'carol@b.test', 'b.test', 1), \
         ('off@b.test', 'bob@b.test', 'b.test', 0), \
         ('@c.test', 'bob@b.test', 'c.test', 1)",
    ] {
        db.sql(sql).await;
    }
    // A chain of aliases deeper than alias_depth (8): deep0 -> deep1 -> ... -> deep10 -> bob.
    for i in 0..=10 {
        let goto = if i == 10 { "bob@b.test".to_string() } else { format!("deep{}@b.test", i + 1) };
        db.sql(&format!(
            "INSERT INTO alias (address, goto, domain, active) VALUES ('deep{i}@b.test', '{goto}', 'b.test', 1)"
        ))
        .await;
    }
}

async fn each_backend(f: impl AsyncFn(TestDb)) {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        fixtures(&db).await;
        f(db).await;
    }
}

fn local(mailbox: &str, detail: Option<&str>) -> (String, Option<String>) {
    (mailbox.to_string(), detail.map(str::to_string))
}

fn summary(targets: &[Target]) -> Vec<(String, Option<String>)> {
    targets
        .iter()
        .map(|t| match t {
            Target::Local { mailbox, detail } => (mailbox.address.to_string(), detail.clone()),
            Target::Remote(r) => (format!("remote:{r}"), None),
        })
        .collect()
}

#[tokio::test]
async fn mariadb_tests_run_against_mariadb() {
    let db = TestDb::new(Backend::MariaDb).await;
    let v = db.dir.server_version().await.unwrap();
    assert!(v.contains("MariaDB"), "MariaDB backend is {v}");
    eprintln!("MariaDB backend: {v} ({})", testsupport::mariadb::shared_server().admin_url);
    let db = TestDb::new(Backend::Sqlite).await;
    assert!(db.dir.server_version().await.unwrap().starts_with("SQLite"));
}

#[tokio::test]
async fn local_domains() {
    each_backend(async |db| {
        let dir = &db.dir;
        assert_eq!(dir.local_domain(&d("b.test")).await.unwrap(), Some(d("b.test")));
        assert_eq!(dir.local_domain(&d("B.Test")).await.unwrap(), Some(d("b.test")), "case-insensitive");
        assert_eq!(dir.local_domain(&d("alias.test")).await.unwrap(), Some(d("b.test")), "alias domain");
        for not_ours in ["off.test", "dead.test", "offalias.test", "backup.test", "remote.test"] {
            assert_eq!(dir.local_domain(&d(not_ours)).await.unwrap(), None, "{not_ours} ({:?})", db.backend);
        }
    })
    .await;
}

#[tokio::test]
async fn mailboxes_and_maildirs() {
    each_backend(async |db| {
        let root = db.mail_root();
        let bob = db.dir.mailbox(&a("bob@b.test")).await.unwrap().unwrap();
        assert_eq!(bob.maildir, root.join("b.test/bob/Maildir"));
        assert_eq!(bob.quota, 0);
        let carol = db.dir.mailbox(&a("CAROL@b.test")).await.unwrap().unwrap();
        assert_eq!(carol.quota, 1_048_576);
        assert_eq!(db.dir.mailbox(&a("dave@b.test")).await.unwrap(), None, "inactive");
        assert_eq!(db.dir.mailbox(&a("nobody@b.test")).await.unwrap(), None);

        let by_column = db.directory_with(|c| c.maildir_source = MaildirSource::Column);
        let bob = by_column.mailbox(&a("bob@b.test")).await.unwrap().unwrap();
        assert_eq!(bob.maildir, root.join("b.test/bob"));
        // A row pointing outside the mail root is a temporary failure, never a path we use.
        let evil = by_column.mailbox(&a("evil@b.test")).await;
        assert!(evil.is_err(), "{evil:?}");
    })
    .await;
}

#[tokio::test]
async fn recipient_resolution() {
    each_backend(async |db| {
        let r = async |s: &str| db.dir.resolve(&a(s)).await.unwrap().map(|t| summary(&t));
        assert_eq!(r("bob@b.test").await, Some(vec![local("bob@b.test", None)]));
        assert_eq!(r("Bob+Lists@B.test").await, Some(vec![local("bob@b.test", Some("lists"))]), "subaddress");
        assert_eq!(r("bob+special@b.test").await, Some(vec![local("carol@b.test", Some("special"))]));
        assert_eq!(
            r("sales@b.test").await,
            Some(vec![local("bob@b.test", None), local("carol@b.test", None)]),
            "multiple targets"
        );
        assert_eq!(
            r("fwd@b.test").await,
            Some(vec![local("bob@b.test", None), ("remote:someone@remote.test".into(), None)])
        );
        assert_eq!(r("loop1@b.test").await, Some(vec![local("bob@b.test", None)]), "loop cut");
        assert_eq!(r("deep3@b.test").await, Some(vec![local("bob@b.test", None)]), "7 levels deep");
        assert_eq!(r("deep0@b.test").await, None, "deeper than alias_depth");
        assert_eq!(r("bob@alias.test").await, Some(vec![local("bob@b.test", None)]), "alias domain");
        assert_eq!(r("sales@alias.test").await.map(|v| v.len()), Some(2));
        assert_eq!(r("anyone@c.test").await, Some(vec![local("bob@b.test", None)]), "catch-all");
        assert_eq!(r("erin@c.test").await, Some(vec![local("erin@c.test", None)]), "mailbox beats catch-all");
        assert_eq!(r("nobody@b.test").await, None);
        assert_eq!(r("off@b.test").await, None, "inactive alias");
        assert_eq!(r("dave@b.test").await, None, "inactive mailbox");
        assert_eq!(r("bob@remote.test").await, None, "not our domain");
        assert_eq!(r("x'or'1'='1@b.test").await, None, "SQL metacharacters are data");
        let deeper = db.directory_with(|c| c.alias_depth = 20);
        assert_eq!(deeper.resolve(&a("deep0@b.test")).await.unwrap().map(|t| t.len()), Some(1));
        let no_delim = db.directory_with(|c| c.recipient_delimiter = String::new());
        assert_eq!(no_delim.resolve(&a("bob+lists@b.test")).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn sender_login_rights() {
    each_backend(async |db| {
        let may = async |login: &str, sender: &str| db.dir.may_send_as(&a(login), &a(sender)).await.unwrap();
        assert!(may("bob@b.test", "bob@b.test").await);
        assert!(may("bob@b.test", "Bob+news@B.test").await, "own subaddress");
        assert!(may("bob@b.test", "bob@alias.test").await, "alias domain");
        assert!(may("bob@b.test", "sales@b.test").await, "alias that delivers to bob");
        assert!(may("carol@b.test", "sales@b.test").await);
        assert!(!may("carol@b.test", "bob@b.test").await, "someone else's address");
        assert!(!may("bob@b.test", "bob@remote.test").await, "foreign domain");
        assert!(!may("bob@b.test", "nobody@b.test").await);
    })
    .await;
}

#[tokio::test]
async fn authentication() {
    each_backend(async |db| {
        let auth = async |login: &str, pw: &str| db.dir.authenticate(login, &Secret::from(pw)).await.unwrap();
        assert_eq!(auth("bob@b.test", "bobpass").await, Verdict::Accepted(a("bob@b.test")), "bare $1$");
        assert_eq!(auth("carol@b.test", "carolpass").await, Verdict::Accepted(a("carol@b.test")), "bare $6$");
        assert_eq!(
            auth("erin@c.test", "erinpass").await,
            Verdict::Accepted(a("erin@c.test")),
            "{{SHA512-CRYPT}}"
        );
        assert_eq!(auth("BOB@B.TEST", "bobpass").await, Verdict::Accepted(a("bob@b.test")));
        assert_eq!(auth("bob@b.test", "wrong").await, Verdict::Rejected(Rejection::WrongPassword));
        assert_eq!(auth("bob@b.test", "").await, Verdict::Rejected(Rejection::WrongPassword));
        assert_eq!(
            auth("dave@b.test", "davepass").await,
            Verdict::Rejected(Rejection::UnknownUser),
            "inactive"
        );
        assert_eq!(auth("nobody@b.test", "x").await, Verdict::Rejected(Rejection::UnknownUser));
        assert_eq!(auth("frank@b.test", "x").await, Verdict::Rejected(Rejection::BadHash("NOSUCH".into())));
        assert!(matches!(auth("gina@b.test", "x").await, Verdict::Rejected(Rejection::BadHash(_))));
        for login in [
            "bob@b.test' OR '1'='1",
            "' OR 1=1 -- @b.test",
            "x'or'1'='1@b.test",
            "bob@b.test\0",
            "bob",
            "",
            &format!("{}@b.test", "a".repeat(10_000)),
            &format!("bob@{}", "b".repeat(100_000)),
        ] {
            assert_eq!(
                auth(login, "bobpass").await,
                Verdict::Rejected(Rejection::UnknownUser),
                "{login:.40}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn custom_queries_bind_their_placeholders() {
    each_backend(async |db| {
        let dir = db.directory_with(|c| {
            c.queries.mailbox = Some(
                "SELECT username, maildir, quota FROM mailbox WHERE local_part = '%n' AND domain = '%d' AND active = 1"
                    .into(),
            );
            c.queries.domain = Some("SELECT domain FROM domain WHERE domain = %s".into());
        });
        assert!(dir.mailbox(&a("carol@b.test")).await.unwrap().is_some());
        assert!(dir.mailbox(&a("x'or'1'='1@b.test")).await.unwrap().is_none());
        // The custom domain query ignores `active`, so off.test is ours now.
        assert!(dir.local_domain(&d("off.test")).await.unwrap().is_some());
        // A broken custom query is a temporary failure, not "unknown".
        let broken = db.directory_with(|c| c.queries.mailbox = Some("SELECT nonsense FROM nowhere".into()));
        assert!(broken.mailbox(&a("bob@b.test")).await.is_err());
    })
    .await;
}

/// Databases created by postfixadmin before mailroom: migrations must leave them as they are.
#[tokio::test]
async fn migrations_leave_an_existing_postfixadmin_database_alone() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        // Make the schema look like an older, different postfixadmin: an extra column and data.
        db.sql("INSERT INTO domain (domain) VALUES ('old.test')").await;
        db.sql("ALTER TABLE mailbox ADD COLUMN totp_secret VARCHAR(255) DEFAULT NULL").await;
        db.sql(
            "INSERT INTO mailbox (username, password, maildir, local_part, domain, totp_secret) VALUES \
             ('old@old.test', '{PLAIN}oldpass', 'old.test/old/', 'old', 'old.test', 'TOTP')",
        )
        .await;
        db.sql("DELETE FROM _sqlx_migrations").await;
        db.dir.migrate().await.unwrap();
        db.dir.migrate().await.unwrap();
        let row: (String,) =
            sqlx::query_as("SELECT totp_secret FROM mailbox WHERE username = 'old@old.test'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(row.0, "TOTP");
        assert_eq!(
            db.dir.authenticate("old@old.test", &Secret::from("oldpass")).await.unwrap(),
            Verdict::Accepted(a("old@old.test"))
        );
    }
}

#[tokio::test]
async fn cache_ttl_keeps_found_rows_but_never_misses_or_passwords() {
    each_backend(async |db| {
        let cached = db.directory_with(|c| c.cache_ttl = 3600);
        assert!(cached.mailbox(&a("bob@b.test")).await.unwrap().is_some());
        assert!(cached.mailbox(&a("new@b.test")).await.unwrap().is_none());
        db.sql("UPDATE mailbox SET active = 0 WHERE username = 'bob@b.test'").await;
        db.sql(
            "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain, active) VALUES \
             ('new@b.test', '{PLAIN}x', 'b.test/new/', 0, 'new', 'b.test', 1)",
        )
        .await;
        // Found rows are reused for the TTL; a miss is never cached, so a new user is seen at once.
        assert!(cached.mailbox(&a("bob@b.test")).await.unwrap().is_some());
        assert!(cached.mailbox(&a("new@b.test")).await.unwrap().is_some());
        // Passwords always come from the database.
        let v = cached.authenticate("bob@b.test", &Secret::new("bobpass")).await.unwrap();
        assert!(matches!(v, Verdict::Rejected(_)), "{v:?}");
        // Without a TTL every lookup asks the database.
        assert!(db.dir.mailbox(&a("bob@b.test")).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn verified_passwords_are_cached_per_stored_hash() {
    each_backend(async |db| {
        let dir = &db.dir;
        let bob = a("bob@b.test");
        let hash = |pw: &str| password::hash(&Secret::from(pw), password::Scheme::Argon2id);
        dir.set_password(&bob, &hash("first").unwrap()).await.unwrap();
        let ok = Verdict::Accepted(bob.clone());
        let wrong = Verdict::Rejected(Rejection::WrongPassword);
        assert_eq!(dir.authenticate("bob@b.test", &Secret::from("first")).await.unwrap(), ok);
        assert_eq!(dir.password_cache_hits(), 0);
        assert_eq!(dir.authenticate("bob@b.test", &Secret::from("first")).await.unwrap(), ok);
        assert_eq!(dir.password_cache_hits(), 1, "the second login is answered from the cache");
        // A wrong password never hits, however often the right one was cached.
        assert_eq!(dir.authenticate("bob@b.test", &Secret::from("First")).await.unwrap(), wrong);
        assert_eq!(dir.authenticate("bob@b.test", &Secret::from("")).await.unwrap(), wrong);
        assert_eq!(dir.password_cache_hits(), 1);
        // A changed password: the old one misses at once and fails, the new one works.
        dir.set_password(&bob, &hash("second").unwrap()).await.unwrap();
        assert_eq!(dir.authenticate("bob@b.test", &Secret::from("first")).await.unwrap(), wrong);
        assert_eq!(dir.password_cache_hits(), 1, "the old password hit after a change");
        assert_eq!(dir.authenticate("bob@b.test", &Secret::from("second")).await.unwrap(), ok);
        assert_eq!(dir.authenticate("bob@b.test", &Secret::from("second")).await.unwrap(), ok);
        assert_eq!(dir.password_cache_hits(), 2);
        // The row is read on every login: a deactivated user is refused with a cached password.
        db.sql("UPDATE mailbox SET active = 0 WHERE username = 'bob@b.test'").await;
        let v = dir.authenticate("bob@b.test", &Secret::from("second")).await.unwrap();
        assert_eq!(v, Verdict::Rejected(Rejection::UnknownUser));
        // Off with a zero TTL.
        db.sql("UPDATE mailbox SET active = 1 WHERE username = 'bob@b.test'").await;
        let uncached = db.directory_with(|c| c.password_cache_ttl = 0);
        for _ in 0..2 {
            assert_eq!(uncached.authenticate("bob@b.test", &Secret::from("second")).await.unwrap(), ok);
        }
        assert_eq!(uncached.password_cache_hits(), 0);
    })
    .await;
}

#[tokio::test]
async fn pages_walk_the_whole_alias_and_mailbox_lists() {
    each_backend(async |db| {
        let all: Vec<String> =
            db.dir.list_aliases(Some(&d("b.test"))).await.unwrap().into_iter().map(|a| a.address).collect();
        assert!(all.len() > 10 && !all.contains(&"bob@b.test".to_string()), "{all:?}");
        for size in [1, 3, 4, 100] {
            let mut walked = Vec::new();
            for offset in (0..all.len() as i64 + size).step_by(size as usize) {
                let (rows, count) = db.dir.list_aliases_page(&d("b.test"), offset, size).await.unwrap();
                assert_eq!(count, all.len() as i64, "page size {size}, offset {offset}");
                assert!(rows.len() as i64 <= size);
                walked.extend(rows.into_iter().map(|a| a.address));
            }
            assert_eq!(walked, all, "page size {size}");
        }
        let users: Vec<String> =
            db.dir.list_users(Some(&d("b.test"))).await.unwrap().into_iter().map(|u| u.username).collect();
        for size in [1, 4] {
            let mut walked = Vec::new();
            for offset in (0..users.len() as i64 + size).step_by(size as usize) {
                let (rows, count) = db.dir.list_users_page(&d("b.test"), offset, size).await.unwrap();
                assert_eq!(count, users.len() as i64);
                walked.extend(rows.into_iter().map(|u| u.username));
            }
            assert_eq!(walked, users, "mailbox page size {size}");
        }
        let (rows, count) = db.dir.list_aliases_page(&d("none.test"), 0, 10).await.unwrap();
        assert_eq!((rows.len(), count), (0, 0));
        if db.backend == Backend::Sqlite {
            // The list and its count read the partial index of aliases, not the domain's rows.
            for q in [
                "EXPLAIN QUERY PLAN SELECT address, goto FROM alias WHERE domain = 'b.test' \
                 AND address <> goto ORDER BY address LIMIT 3 OFFSET 3",
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM alias WHERE domain = 'b.test' AND address <> goto",
            ] {
                let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(q).fetch_all(&db.pool).await.unwrap();
                let plan: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
                assert!(
                    plan.iter().all(|s| s.contains("alias_domain_own") && !s.contains("TEMP B-TREE")),
                    "{plan:?}"
                );
            }
        }
    })
    .await;
}
