//! Greylisting over real SMTP sessions against the mailroom-mta binary, on SQLite and MariaDB:
//! postgrey's 450 4.7.1 for a new triplet, the retry after `greylist_delay` accepted, the
//! triplet kept across a restart (it lives in the database), the auto-whitelist after N
//! passes counted once an hour, authenticated clients never greylisted, and a database that
//! cannot answer 451 4.3.5; each decision counted in the metrics.

mod common;

use common::{Options, PASSWORD, Smtp, Stack, TIMEOUT, database, delta, text, wait_until};
use sqlx::Row;
use testsupport::BACKENDS;

/// postgrey's answer through Postfix, for a recipient at b.test.
fn greylisted(rcpt: &str) -> String {
    format!(
        "450 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/b.test.html"
    )
}

/// MAIL and RCPT in a fresh transaction; the RCPT reply.
fn try_rcpt(c: &mut Smtp, from: &str, to: &str) -> common::Reply {
    c.expect("RSET", 250);
    c.expect(&format!("MAIL FROM:<{from}>"), 250);
    c.cmd(&format!("RCPT TO:<{to}>")).unwrap()
}

/// Retry until the RCPT passes (the delay is 1 s; no assertion on how long it took).
fn retry_until_accepted(stack: &Stack, c: &mut Smtp, from: &str, to: &str) {
    let ok = wait_until(TIMEOUT, || try_rcpt(c, from, to).code == 250);
    assert!(ok, "{from} -> {to} never passed greylisting\n{}", stack.logs());
}

/// How many log lines greylisted `to` as a new triplet.
/// `mailroom_mta_greylist_total{result="RESULT"}`.
fn outcome(result: &str) -> String {
    format!("mailroom_mta_greylist_total{{result=\"{result}\"}}")
}

fn new_triplets(stack: &Stack, to: &str) -> usize {
    let log = stack.mta.log();
    log.lines()
        .filter(|l| l.contains("action=greylist, reason=new") && l.contains(&format!("to=<{to}>")))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn greylisting_over_smtp_on_both_backends() {
    for backend in BACKENDS {
        let db = database(backend).await;
        let mut stack = Stack::start(
            &db,
            Options::default()
                .mta("greylist", "true")
                .mta("greylist_delay", "1")
                .mta("greylist_auto_whitelist", "2")
                .mta("plaintext_auth_on_loopback", "true"),
        );

        // A new triplet: postgrey's answer, stored normalised.
        let mut c = Smtp::connect(stack.smtp);
        c.expect("EHLO client.example", 250);
        let r = try_rcpt(&mut c, "Alice+list@Remote.Example", "bob@b.test");
        assert_eq!(r.text, greylisted("bob@b.test"), "{backend:?}");
        let rows = sqlx::query("SELECT client_net, sender, recipient FROM mailroom_greylist")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        let row: Vec<(String, String, String)> =
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
        assert_eq!(
            row,
            [("127.0.0.0".to_string(), "alice@remote.example".to_string(), "bob@b.test".to_string())],
            "{backend:?}"
        );
        // Another recipient is another triplet.
        assert_eq!(try_rcpt(&mut c, "alice@remote.example", "carol@b.test").text, greylisted("carol@b.test"));
        c.expect("QUIT", 221);

        // The triplet survives a restart: after it, the retry is not a new triplet again.
        stack.restart_mta();
        // The restarted process counts from here; retries until a pass are greylisted a number
        // of times only the log knows.
        let before = stack.scrape();
        let greylisted_lines = || stack.mta.log().matches("action=greylist,").count();
        let greylisted_before = greylisted_lines();
        let mut c = Smtp::connect(stack.smtp);
        c.expect("EHLO client.example", 250);
        retry_until_accepted(&stack, &mut c, "alice+other@remote.example", "bob@b.test");
        assert_eq!(
            new_triplets(&stack, "bob@b.test"),
            1,
            "the restart forgot the triplet\n{}",
            stack.mta.log()
        );
        c.expect("DATA", 354);
        c.send(b"Subject: after greylisting\r\n\r\nhello\r\n.\r\n").unwrap();
        let r = c.reply().unwrap();
        assert_eq!(r.code, 250, "{}", r.text);
        assert!(stack.wait_messages("bob", 1)[0].contains("Subject: after greylisting"));

        // One pass counted for the client. A second one within the hour does not count.
        let passes = || async {
            let row = sqlx::query("SELECT passes FROM mailroom_greylist_clients WHERE client = '127.0.0.1'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            row.get::<i64, _>(0)
        };
        assert_eq!(passes().await, 1, "{backend:?}");
        retry_until_accepted(&stack, &mut c, "alice@remote.example", "carol@b.test");
        assert_eq!(passes().await, 1, "two passes within an hour count once ({backend:?})");
        // An hour later (moved back in the database), the next new triplet's pass makes two:
        // the client is whitelisted, and a triplet never seen passes at once.
        db.sql("UPDATE mailroom_greylist_clients SET last_seen = last_seen - 3600").await;
        assert_eq!(try_rcpt(&mut c, "dave@remote.example", "bob@b.test").code, 450);
        retry_until_accepted(&stack, &mut c, "dave@remote.example", "bob@b.test");
        assert_eq!(passes().await, 2, "{backend:?}");
        let r = try_rcpt(&mut c, "erin@elsewhere.example", "carol@b.test");
        assert_eq!(r.code, 250, "a whitelisted client is greylisted: {}", r.text);
        assert!(stack.mta.log().contains("action=pass, reason=client AWL"), "{}", stack.mta.log());
        c.expect("QUIT", 221);

        // Authenticated clients are never greylisted.
        let mut args = vec!["--auth", "PLAIN", "--auth-user", "bob@b.test", "--auth-password", PASSWORD];
        args.extend(["--from", "bob@b.test", "--to", "frank@remote.example"]);
        let out = stack.swaks(stack.smtp, &args);
        assert!(out.status.success(), "{}", text(&out));
        let log = stack.mta.log();
        assert!(!log.lines().any(|l| l.contains("greylist:") && l.contains("frank@")), "{log}");

        let after = stack.scrape();
        let greylisted = (greylisted_lines() - greylisted_before) as f64;
        assert!(greylisted >= 1.0, "dave's first attempt\n{log}");
        for (result, n) in
            [("passed", 3.0), ("whitelisted", 1.0), ("greylisted", greylisted), ("unavailable", 0.0)]
        {
            assert_eq!(delta(&before, &after, &outcome(result)), n, "{result} ({backend:?})\n{after:#?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn database_down_is_451_4_3_5() {
    let mut server = tokio::task::spawn_blocking(testsupport::mariadb::PrivateMariaDb::start).await.unwrap();
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&server.url()).await.unwrap();
    sqlx::query("CREATE DATABASE mailroom").execute(&admin).await.unwrap();
    admin.close().await;
    let url = format!("{}/mailroom", server.url());
    let cfg = config::Database { url: config::UrlList(vec![url.clone()]), ..Default::default() };
    authlib::Directory::open(&cfg).unwrap().migrate().await.unwrap();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    // postfixadmin's self-alias makes every lookup of bob@b.test a found row, which
    // cache_ttl keeps: then only greylisting needs the database.
    let self_alias =
        "INSERT INTO alias (address, goto, domain) VALUES ('bob@b.test', 'bob@b.test', 'b.test')";
    for sql in common::FIXTURES.iter().chain([&self_alias]) {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let mail = tempfile::tempdir().unwrap();
    let stack = Stack::start_with_database(
        &format!("url = \"{url}\"\nconnect_timeout = 1\ncache_ttl = 3600\n"),
        mail.path(),
        Options::default().mta("greylist", "true"),
    );
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    assert_eq!(try_rcpt(&mut c, "a@remote.example", "bob@b.test").text, greylisted("bob@b.test"));

    tokio::task::block_in_place(|| server.stop());
    let r = try_rcpt(&mut c, "a@remote.example", "bob@b.test");
    assert_eq!(r.text, "451 4.3.5 <bob@b.test>: Recipient address rejected: Server configuration problem");
    assert!(stack.mta.log().contains("greylist: database unavailable"), "{}", stack.mta.log());
    c.expect("QUIT", 221);
    let after = stack.scrape();
    for (result, n) in [("greylisted", 1.0), ("unavailable", 1.0), ("passed", 0.0)] {
        assert_eq!(after.get(&outcome(result)).copied().unwrap_or(0.0), n, "{result}\n{after:#?}");
    }
}
