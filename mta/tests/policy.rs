//! Who may send what through mailroom-mta (DESIGN §6), against the real binary with swaks,
//! Python smtplib and a raw client: no open relay (554 5.7.1) except for mynetworks and
//! authenticated users (AUTH PLAIN and LOGIN, only after STARTTLS on submission), unknown
//! local users 550 5.1.1, aliases and catch-alls delivered, a database that is down 451 4.3.0
//! (never 5xx), oversize 552 5.3.4, forged senders 553 5.7.1, submission without AUTH 530.
//! And the policy functions themselves on SQLite and MariaDB.

mod common;

use common::{Options, PASSWORD, Smtp, Stack, database, text};
use mailroom_mta::policy::{self, Accepted, Client, Networks, Role};
use testsupport::{BACKENDS, Backend};

/// The sum of swaks's transcript and errors.
fn swaks(stack: &Stack, port: u16, args: &[&str]) -> (i32, String) {
    let out = stack.swaks(port, args);
    (out.status.code().unwrap_or(-1), text(&out))
}

/// `swaks` args for AUTH after STARTTLS as bob.
fn auth_args<'a>(mech: &'a str, password: &'a str) -> Vec<&'a str> {
    vec!["--tls", "--auth", mech, "--auth-user", "bob@b.test", "--auth-password", password]
}

#[tokio::test(flavor = "multi_thread")]
async fn stranger_cannot_relay_mynetworks_can() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default());

    // A raw client: RCPT for a foreign domain is refused, for ours accepted.
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    let r = c.expect("RCPT TO:<victim@elsewhere.example>", 554);
    assert!(r.text.starts_with("554 5.7.1 ") && r.text.contains("Relay access denied"), "{}", r.text);
    c.expect("RCPT TO:<bob@b.test>", 250);
    c.expect("QUIT", 221);

    // swaks sees the same, and nothing is queued.
    let (code, out) =
        swaks(&stack, stack.smtp, &["--from", "a@remote.example", "--to", "victim@elsewhere.example"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("* 554 5.7.1"), "{out}");
    // Python too: smtplib raises SMTPRecipientsRefused.
    let py = stack.smtplib(&[
        &stack.smtp.to_string(),
        "plain",
        "-",
        "-",
        "a@remote.example",
        "victim@elsewhere.example",
        "py-relay",
    ]);
    assert!(py.contains("error rcpt 554 5.7.1"), "{py}");
    // Authentication does not come from loopback alone: no AUTH before TLS on port 25 either.
    let (code, out) = swaks(
        &stack,
        stack.smtp,
        &[
            "--auth",
            "PLAIN",
            "--auth-user",
            "bob@b.test",
            "--auth-password",
            PASSWORD,
            "--to",
            "x@elsewhere.example",
        ],
    );
    assert_ne!(code, 0, "AUTH without TLS from loopback: {out}");
    assert_eq!(stack.queued(), 0, "{}", stack.queue_list());
    drop(stack);

    // A client inside mynetworks relays; the message waits in the queue (the test relayhost
    // refuses connections).
    let stack = Stack::start(&db, Options::default().mta("mynetworks", "[\"127.0.0.1/32\"]"));
    let (code, out) = swaks(
        &stack,
        stack.smtp,
        &[
            "--from",
            "a@remote.example",
            "--to",
            "friend@elsewhere.example",
            "--header",
            "Subject: mynetworks",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("<-  250 2.0.0 Ok: queued as "), "{out}");
    let list = stack.queue_list();
    assert!(list.contains("friend@elsewhere.example") && list.contains("a@remote.example"), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn authenticated_user_relays_after_starttls() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default());

    // No AUTH before STARTTLS on submission; STARTTLS is offered.
    let mut c = Smtp::connect(stack.submission);
    let ehlo = c.expect("EHLO client.example", 250);
    assert!(ehlo.text.contains("STARTTLS"), "{}", ehlo.text);
    assert!(!ehlo.text.contains("AUTH"), "AUTH offered before TLS: {}", ehlo.text);
    let r = c.expect("AUTH PLAIN AGJvYkBiLnRlc3QAYm9icGFzcw==", 530);
    assert!(r.text.starts_with("530 5.7.0 Must issue a STARTTLS"), "{}", r.text);
    c.expect("QUIT", 221);

    // swaks, PLAIN and LOGIN after STARTTLS.
    for mech in ["PLAIN", "LOGIN"] {
        let subject = format!("Subject: swaks-{mech}");
        let mut args = auth_args(mech, PASSWORD);
        args.extend(["--from", "bob@b.test", "--to", "far@elsewhere.example", "--header", &subject]);
        let (code, out) = swaks(&stack, stack.submission, &args);
        assert_eq!(code, 0, "{mech}: {out}\n{}", stack.logs());
        assert!(out.contains("235 2.7.0") && out.contains("Ok: queued as "), "{out}");
    }
    // A wrong password is 535, and nothing is queued for it.
    let mut args = auth_args("PLAIN", "wrong");
    args.extend(["--from", "bob@b.test", "--to", "far@elsewhere.example"]);
    let (code, out) = swaks(&stack, stack.submission, &args);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("535 5.7.8"), "{out}");

    // Python smtplib: starttls() + login() on 587, and SMTP_SSL on 465.
    let py = stack.smtplib(&[
        &stack.submission.to_string(),
        "starttls",
        "bob@b.test",
        PASSWORD,
        "bob@b.test",
        "far@elsewhere.example",
        "py-starttls",
    ]);
    assert!(py.contains("before-tls auth no\nehlo auth yes\nlogin 235\nsend ok"), "{py}\n{}", stack.logs());
    let py = stack.smtplib(&[
        &stack.submissions.to_string(),
        "ssl",
        "bob@b.test",
        PASSWORD,
        "bob@b.test",
        "far@elsewhere.example",
        "py-ssl",
    ]);
    assert!(py.contains("ehlo auth yes\nlogin 235\nsend ok"), "{py}");

    // Four relayed messages wait in the queue, each with its authenticated submitter.
    assert_eq!(stack.queued(), 4, "{}", stack.queue_list());
    let list = stack.queue_list();
    assert_eq!(list.matches("far@elsewhere.example").count(), 4, "{list}");
    let ids: Vec<String> = std::fs::read_dir(stack.spool.join("queue"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for id in &ids {
        let out = stack.ctl(&["queue", "show", id], b"");
        let shown = text(&out);
        assert!(shown.contains("auth=bob@b.test"), "{shown}");
        assert!(shown.contains("with ESMTPSA"), "Received: for an authenticated TLS submission: {shown}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_without_auth_is_530() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default());
    let mut c = Smtp::connect(stack.submission);
    c.expect("EHLO client.example", 250);
    let r = c.expect("MAIL FROM:<bob@b.test>", 530);
    assert!(r.text.starts_with("530 5.7.0"), "{}", r.text);
    // Even for a local recipient: submission is for authenticated users only.
    let r = c.expect("RCPT TO:<bob@b.test>", 503);
    assert!(r.text.starts_with("503"), "{}", r.text);
    c.expect("QUIT", 221);
    // swaks after STARTTLS without AUTH: still 530.
    let (code, out) =
        swaks(&stack, stack.submission, &["--tls", "--from", "bob@b.test", "--to", "bob@b.test"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("530 5.7.0"), "{out}");
    assert_eq!(stack.queued(), 0);
    assert!(stack.messages("bob").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_user_refused_alias_and_catchall_delivered() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default());

    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    let r = c.expect("RCPT TO:<nobody@b.test>", 550);
    assert!(r.text.starts_with("550 5.1.1 ") && r.text.contains("User unknown"), "{}", r.text);
    c.expect("QUIT", 221);
    let (code, out) = swaks(&stack, stack.smtp, &["--from", "a@remote.example", "--to", "nobody@b.test"]);
    assert_ne!(code, 0);
    assert!(out.contains("* 550 5.1.1"), "{out}");

    // The alias info@ reaches bob and carol; the catch-all of c.test reaches carol; one message
    // to bob and info@ (which includes bob) is stored once for bob.
    let py = stack.smtplib(&[
        &stack.smtp.to_string(),
        "plain",
        "-",
        "-",
        "a@remote.example",
        "info@b.test",
        "to-alias",
    ]);
    assert!(py.contains("send ok"), "{py}");
    let (code, out) = swaks(
        &stack,
        stack.smtp,
        &["--from", "a@remote.example", "--to", "whoever@c.test", "--header", "Subject: to-catchall"],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = swaks(
        &stack,
        stack.smtp,
        &[
            "--from",
            "a@remote.example",
            "--to",
            "bob@b.test,info@b.test",
            "--header",
            "Subject: bob-and-alias",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let bob = stack.wait_messages("bob", 2);
    let carol = stack.wait_messages("carol", 3);
    stack.wait_queue_empty();
    let subjects = |msgs: &[String]| {
        let mut v: Vec<String> = msgs.iter().filter_map(|m| common::header(m, "Subject")).collect();
        v.sort();
        v
    };
    assert_eq!(subjects(&bob), ["bob-and-alias", "to-alias"], "bob once per message");
    assert_eq!(subjects(&carol), ["bob-and-alias", "to-alias", "to-catchall"]);
    let catchall = carol.iter().find(|m| m.contains("Subject: to-catchall")).unwrap();
    assert!(catchall.starts_with("Return-Path: <a@remote.example>\n"), "{catchall}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_sender_is_553() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default());
    for from in ["carol@b.test", "bob@elsewhere.example", "info@c.test"] {
        let mut args = auth_args("PLAIN", PASSWORD);
        args.extend(["--from", from, "--to", "carol@b.test"]);
        let (code, out) = swaks(&stack, stack.submission, &args);
        assert_ne!(code, 0, "{from}: {out}");
        assert!(out.contains("* 553 5.7.1"), "{from}: {out}");
    }
    let py = stack.smtplib(&[
        &stack.submission.to_string(),
        "starttls",
        "bob@b.test",
        PASSWORD,
        "carol@b.test",
        "carol@b.test",
        "forged",
    ]);
    assert!(py.contains("error SMTPSenderRefused 553"), "{py}");
    // His own address with a subaddress, and an alias that points at him, are his.
    for from in ["bob@b.test", "bob+x@b.test", "info@b.test"] {
        let mut args = auth_args("PLAIN", PASSWORD);
        args.extend(["--from", from, "--to", "carol@b.test"]);
        let (code, out) = swaks(&stack, stack.submission, &args);
        assert_eq!(code, 0, "{from}: {out}");
    }
    stack.wait_messages("carol", 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_is_552() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default().mta("max_message_size", "2000"));
    let mut c = Smtp::connect(stack.smtp);
    let ehlo = c.expect("EHLO client.example", 250);
    assert!(ehlo.text.contains("SIZE 2000"), "{}", ehlo.text);
    // Announced too big: refused at MAIL.
    let r = c.expect("MAIL FROM:<a@remote.example> SIZE=5000", 552);
    assert!(r.text.starts_with("552 5.3.4"), "{}", r.text);
    // Not announced: refused after the final dot, and the session goes on.
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(70).repeat(60).as_str());
    let big: String =
        big.as_bytes().chunks(70).map(|c| format!("{}\r\n", String::from_utf8_lossy(c))).collect();
    let r = c.message("a@remote.example", &["bob@b.test"], &big).unwrap();
    assert_eq!(r.code, 552, "{}", r.text);
    assert!(r.text.starts_with("552 5.3.4"), "{}", r.text);
    let r = c.message("a@remote.example", &["bob@b.test"], "Subject: small\r\n\r\nfits\r\n").unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    c.expect("QUIT", 221);
    // swaks with a body over the limit.
    let body = "y".repeat(3000);
    let (code, out) =
        swaks(&stack, stack.smtp, &["--from", "a@remote.example", "--to", "bob@b.test", "--body", &body]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("552 5.3.4"), "{out}");

    let msgs = stack.wait_messages("bob", 1);
    stack.wait_queue_empty();
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].contains("Subject: small"));
    assert_eq!(stack.queued(), 0, "refused messages leave nothing behind in the queue");
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_loop_is_554() {
    let db = database(Backend::Sqlite).await;
    let stack = Stack::start(&db, Options::default().mta("max_hops", "3"));
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let hops = "Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\r\n".repeat(4);
    let r =
        c.message("a@remote.example", &["bob@b.test"], &format!("{hops}Subject: loop\r\n\r\nx\r\n")).unwrap();
    assert!(r.text.starts_with("554 5.4.6"), "{}", r.text);
    let hops = "Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\r\n".repeat(2);
    let r =
        c.message("a@remote.example", &["bob@b.test"], &format!("{hops}Subject: ok\r\n\r\nx\r\n")).unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    c.expect("QUIT", 221);
    let msgs = stack.wait_messages("bob", 1);
    stack.wait_queue_empty();
    assert_eq!(stack.messages("bob").len(), 1);
    assert_eq!(common::header(&msgs[0], "Subject").as_deref(), Some("ok"));
}

#[tokio::test(flavor = "multi_thread")]
async fn database_down_is_451_never_5xx() {
    let mut server = tokio::task::spawn_blocking(testsupport::mariadb::PrivateMariaDb::start).await.unwrap();
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&server.url()).await.unwrap();
    sqlx::query("CREATE DATABASE mailroom").execute(&admin).await.unwrap();
    admin.close().await;
    let url = format!("{}/mailroom", server.url());
    let cfg = config::Database { url: config::UrlList(vec![url.clone()]), ..Default::default() };
    authlib::Directory::open(&cfg).unwrap().migrate().await.unwrap();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    for sql in common::FIXTURES {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let mail = tempfile::tempdir().unwrap();
    let stack = Stack::start_on(&url, mail.path(), Options::default());

    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.expect("RCPT TO:<bob@b.test>", 250);
    c.expect("RSET", 250);

    tokio::task::block_in_place(|| server.stop());
    // Local, unknown-looking, alias and foreign recipients: all 451 4.3.0 while it is down.
    c.expect("MAIL FROM:<a@remote.example>", 250);
    for rcpt in ["bob@b.test", "nobody@b.test", "info@b.test", "victim@elsewhere.example"] {
        let r = c.cmd(&format!("RCPT TO:<{rcpt}>")).unwrap();
        assert_eq!(r.code, 451, "{rcpt} with the database down: {}", r.text);
        assert!(r.text.starts_with("451 4.3.0"), "{}", r.text);
    }
    c.expect("RSET", 250);
    // AUTH senders cannot be checked either: a temporary failure (saslauthd's or the sender check).
    let mut args = vec!["--tls", "--auth", "PLAIN", "--auth-user", "bob@b.test", "--auth-password", PASSWORD];
    args.extend(["--from", "bob@b.test", "--to", "bob@b.test"]);
    let out = stack.swaks(stack.submission, &args);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(!t.contains("<** 5"), "a 5xx while the database is down: {t}");

    tokio::task::block_in_place(|| server.start_again());
    // The same session works again once the database is back (the pool reconnects).
    c.expect("MAIL FROM:<a@remote.example>", 250);
    let ok = common::wait_until(common::TIMEOUT, || c.cmd("RCPT TO:<bob@b.test>").unwrap().code == 250);
    assert!(ok, "RCPT never accepted after the database came back\n{}", stack.logs());
    c.expect("DATA", 354);
    c.send(b"Subject: after the outage\r\n\r\nback\r\n.\r\n").unwrap();
    let r = c.reply().unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    c.expect("QUIT", 221);
    let msgs = stack.wait_messages("bob", 1);
    assert!(msgs[0].contains("Subject: after the outage"));
}

/// What check_recipient should answer: the mailboxes, or (code, enhanced code).
type Want = Result<Vec<&'static str>, (u16, &'static str)>;

/// The policy functions on each backend: local known, unknown, alias, catch-all, subaddress,
/// foreign with and without the right to relay; and sender ownership.
#[tokio::test(flavor = "multi_thread")]
async fn policy_functions_on_both_backends() {
    for backend in BACKENDS {
        let db = database(backend).await;
        let nets = Networks::parse(&["10.0.0.0/8".into()]).unwrap();
        let client = |role, ip: &str, login: Option<&str>| Client {
            role,
            ip: ip.parse().ok(),
            login: login.map(str::to_string),
        };
        let stranger = client(Role::Mx, "192.0.2.7", None);
        let inside = client(Role::Mx, "10.1.2.3", None);
        let authed = client(Role::Submission, "192.0.2.7", Some("bob@b.test"));
        let local = client(Role::Local, "", None);

        let mailboxes = |a: &Accepted| -> Vec<String> {
            match a {
                Accepted::Local(t) => {
                    let mut v: Vec<String> = t
                        .iter()
                        .map(|t| match t {
                            authlib::Target::Local { mailbox, .. } => mailbox.address.to_string(),
                            authlib::Target::Remote(a) => format!("remote:{a}"),
                        })
                        .collect();
                    v.sort();
                    v
                }
                Accepted::Remote(a) => vec![format!("relay:{a}")],
            }
        };
        // (client, recipient, Ok(mailboxes) or Err(code, enhanced))
        let cases: Vec<(&Client, &str, Want)> = vec![
            (&stranger, "bob@b.test", Ok(vec!["bob@b.test"])),
            (&stranger, "BOB@B.TEST", Ok(vec!["bob@b.test"])),
            (&stranger, "bob+lists@b.test", Ok(vec!["bob@b.test"])),
            (&stranger, "nobody@b.test", Err((550, "5.1.1"))),
            (&stranger, "info@b.test", Ok(vec!["bob@b.test", "carol@b.test"])),
            (&stranger, "anything@c.test", Ok(vec!["carol@b.test"])),
            (&stranger, "x@elsewhere.example", Err((554, "5.7.1"))),
            (&stranger, "not an address", Err((501, "5.1.3"))),
            (&inside, "x@elsewhere.example", Ok(vec!["relay:x@elsewhere.example"])),
            (&inside, "nobody@b.test", Err((550, "5.1.1"))),
            (&authed, "x@elsewhere.example", Ok(vec!["relay:x@elsewhere.example"])),
            (&authed, "nobody@b.test", Err((550, "5.1.1"))),
            (&local, "x@elsewhere.example", Ok(vec!["relay:x@elsewhere.example"])),
        ];
        for (c, rcpt, want) in cases {
            let got = policy::check_recipient(&db.dir, c, &nets, rcpt).await;
            match (got, want) {
                (Ok(a), Ok(w)) => assert_eq!(mailboxes(&a), w, "{backend:?} {c:?} {rcpt}"),
                (Err(r), Err((code, enh))) => {
                    assert_eq!((r.code, r.enhanced), (code, enh), "{backend:?} {c:?} {rcpt}")
                }
                (got, want) => panic!("{backend:?} {c:?} {rcpt}: got {got:?}, want {want:?}"),
            }
        }

        let senders: Vec<(&Client, &str, Option<u16>)> = vec![
            (&authed, "bob@b.test", None),
            (&authed, "Bob@B.test", None),
            (&authed, "bob+tag@b.test", None),
            (&authed, "info@b.test", None),
            (&authed, "", None),
            (&authed, "carol@b.test", Some(553)),
            (&authed, "bob@elsewhere.example", Some(553)),
            (&authed, "garbage", Some(553)),
            // Only authenticated clients are checked (port 25 mail from anyone).
            (&stranger, "carol@b.test", None),
        ];
        for (c, sender, want) in senders {
            let got = policy::check_sender(&db.dir, c, sender).await.map(|r| r.code);
            assert_eq!(got, want, "{backend:?} {c:?} {sender:?}");
        }

        // A directory that cannot answer: 451 4.3.0, never 5xx.
        let broken = db.directory_with(|cfg| {
            cfg.url = config::UrlList(vec!["mysql://root@127.0.0.1:1/none".into()]);
            cfg.connect_timeout = 1.try_into().unwrap();
        });
        for rcpt in ["bob@b.test", "nobody@b.test", "x@elsewhere.example"] {
            let r = policy::check_recipient(&broken, &stranger, &nets, rcpt).await.unwrap_err();
            assert_eq!((r.code, r.enhanced), (451, "4.3.0"), "{rcpt}");
        }
        let r = policy::check_sender(&broken, &authed, "bob@b.test").await.unwrap();
        assert_eq!((r.code, r.enhanced), (451, "4.3.0"));
    }
}
