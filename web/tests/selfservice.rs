//! A mailbox user's own settings over HTTPS against the real binary: every new route for every
//! role, then what the pages write: the Sieve script delivery runs (out-of-office reply with
//! dates, filter rules edited and read back, the user's own ManageSieve script kept and
//! included), forwarding in postfixadmin's alias row, and the quota use shown.

mod common;

use common::*;
use mailstore::SieveScripts;
use testsupport::Backend;

/// The script store of bob@a.test (his home, his Maildir's parent), where ManageSieve and
/// delivery find it.
fn store(db: &testsupport::TestDb) -> SieveScripts {
    SieveScripts::new(db.mail_root().join("a.test/bob"))
}

/// Run the active script on a message from alice, at `now`.
fn run(src: &str, now: i64) -> sieve::Outcome {
    let script = sieve::compile(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let raw = b"From: Alice <alice@x.test>\r\nTo: bob@a.test\r\nSubject: [list] news\r\n\r\nhello\r\n";
    let msg = mail_parser::MessageParser::default().parse(&raw[..]).unwrap();
    let env = sieve::Envelope { from: "alice@x.test".into(), to: "bob@a.test".into(), orig_to: None };
    let settings = sieve::Settings { now, ..Default::default() };
    sieve::run(&script, &msg, &env, &settings, &mut sieve::NoHost)
}

fn vacation_of(o: &sieve::Outcome) -> Option<&sieve::Vacation> {
    o.actions.iter().find_map(|a| match a {
        sieve::Action::Vacation(v) => Some(v),
        _ => None,
    })
}

const DEC_11_2026: i64 = 1_796_990_400;
const JAN_10_2027: i64 = 1_799_582_400;

#[tokio::test]
async fn routes_for_every_role() {
    let db = database(Backend::Sqlite).await;
    let web = Web::start(&db, "");
    let mut b = sessions(&web).await;
    for path in ["/account", "/account/vacation", "/account/filters"] {
        get_matrix(&mut b, path, [303, 200, 403, 403, 403]).await;
    }
    let vacation = |_| kv(&[("on", "1"), ("subject", "Away"), ("reason", "Back soon."), ("days", "7")]);
    post_matrix(&mut b, "/account/vacation", vacation, [403, 303, 403, 403, 403]).await;
    let rule = |_| kv(&[("field", "subject"), ("op", "contains"), ("value", "x"), ("action", "seen")]);
    post_matrix(&mut b, "/account/filters", rule, [403, 303, 403, 403, 403]).await;
    post_matrix(&mut b, "/account/filters/0", rule, [403, 303, 403, 403, 403]).await;
    let forward = |_| kv(&[("goto", "bob@b.test"), ("keep", "1")]);
    post_matrix(&mut b, "/account/forwarding", forward, [403, 303, 403, 403, 403]).await;
    // Only the user's own settings changed: one rule, the reply on, forwarded with a copy.
    let src = store(&db).active_source().unwrap();
    assert_eq!(src.matches("\nif ").count(), 1, "{src}");
    assert!(vacation_of(&run(&src, DEC_11_2026)).is_some(), "{src}");
    assert_eq!(db.dir.forwarding(&addr(USER_A)).await.unwrap(), ["bob@a.test", "bob@b.test"]);
    // A rule that is not there.
    let token = b[1].token("/account").await;
    let f = [("csrf", token.as_str()), ("field", "from"), ("op", "is"), ("value", "x"), ("action", "seen")];
    assert_eq!(b[1].post("/account/filters/7", &f).await.status, 404);
    drop(b);
}

#[tokio::test]
async fn out_of_office_and_filters_make_the_script_delivery_runs() {
    let db = database(Backend::Sqlite).await;
    let web = Web::start(&db, "");
    let mut u = web.browser();
    assert_eq!(u.login(USER_A, PASSWORD).await.status, 303);

    // bob already has his own script, uploaded with ManageSieve: the page shows it.
    let scripts = store(&db);
    scripts
        .put(
            "mine",
            "require \"fileinto\";\nif header :contains \"subject\" \"[list]\" { fileinto \"Lists\"; }\n",
        )
        .unwrap();
    scripts.activate("mine").unwrap();
    let page = u.get("/account/vacation").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<strong>mine</strong>") && page.body.contains("It runs now."),
        "{}",
        page.body
    );

    // Strings that would break out of a Sieve string or a header stay inside.
    let token = u.token("/account/vacation").await;
    let reason = "Back on \"Monday\".\r\n\\ } discard; stop; {\r\n.\r\n";
    let mut form = vec![
        ("csrf", token.as_str()),
        ("on", "1"),
        ("subject", "Away \"now\""),
        ("reason", reason),
        ("days", "3"),
        ("start", "2026-12-01"),
        ("end", "2026-12-24"),
        ("include", "1"),
    ];
    let r = u.post("/account/vacation", &form).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/account/vacation?ok=vacation"));
    assert_eq!(scripts.active().unwrap().as_deref(), Some("mailroom-web"));
    assert!(scripts.get("mine").is_ok(), "the user's script is kept");
    let src = scripts.active_source().unwrap();
    assert!(src.contains("include :personal :optional \"mine\";"), "{src}");
    let inside = run(&src, DEC_11_2026);
    let v = vacation_of(&inside).unwrap_or_else(|| panic!("{inside:?}\n{src}"));
    assert_eq!(v.reason, "Back on \"Monday\".\r\n\\ } discard; stop; {\r\n.\r\n");
    assert_eq!(v.subject.as_deref(), Some("Away \"now\""));
    assert_eq!(v.seconds, 3 * 86_400);
    assert!(vacation_of(&run(&src, JAN_10_2027)).is_none(), "no reply after the last day");
    // The page shows what was saved.
    let page = u.get("/account/vacation?ok=vacation").await.body;
    assert!(page.contains("Your out-of-office reply was saved.") && page.contains("2026-12-24"), "{page}");
    assert!(page.contains("Back on &quot;Monday&quot;."), "{page}");

    // Bad input is refused with the reason, and nothing changes.
    for (k, v) in [("subject", "a\r\nBcc: x@y.test"), ("days", "0"), ("end", "2026-11-30"), ("start", "soon")]
    {
        let mut bad = form.clone();
        bad.retain(|(n, _)| *n != k);
        bad.push((k, v));
        let r = u.post("/account/vacation", &bad).await;
        assert_eq!(r.status, 400, "{k}={v}: {}", r.body);
    }
    assert_eq!(scripts.active_source().unwrap(), src);

    // Filter rules: added, read back into the form, edited, deleted; the reply stays.
    let token = u.token("/account/filters").await;
    for rule in [
        [
            ("field", "subject"),
            ("op", "contains"),
            ("value", "[list]"),
            ("action", "fileinto"),
            ("arg", "Lists/News"),
        ],
        [("field", "from"), ("op", "is"), ("value", "spam@x.test"), ("action", "discard"), ("arg", "")],
        [
            ("field", "to"),
            ("op", "contains"),
            ("value", "bob"),
            ("action", "redirect"),
            ("arg", "bob@b.test"),
        ],
    ] {
        let mut f = rule.to_vec();
        f.push(("csrf", &token));
        f.push(("include", "1"));
        let r = u.post("/account/filters", &f).await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let bad = [
        ("csrf", token.as_str()),
        ("field", "subject"),
        ("op", "is"),
        ("value", "x"),
        ("action", "fileinto"),
        ("arg", "a.b"),
    ];
    assert_eq!(u.post("/account/filters", &bad).await.status, 400);
    let bad = [
        ("csrf", token.as_str()),
        ("field", "subject"),
        ("op", "is"),
        ("value", "x"),
        ("action", "redirect"),
        ("arg", "nobody"),
    ];
    assert_eq!(u.post("/account/filters", &bad).await.status, 400);
    let bad = [("csrf", token.as_str()), ("field", "body"), ("op", "is"), ("value", "x"), ("action", "seen")];
    assert_eq!(u.post("/account/filters", &bad).await.status, 400);
    let page = u.get("/account/filters").await.body;
    assert!(
        page.contains("action=\"/account/filters/2\"") && page.contains("value=\"Lists/News\""),
        "{page}"
    );
    let src = scripts.active_source().unwrap();
    let o = run(&src, DEC_11_2026);
    let stored: Vec<&sieve::Action> = o
        .actions
        .iter()
        .filter(|a| matches!(a, sieve::Action::Store { .. } | sieve::Action::Redirect { .. }))
        .collect();
    assert!(
        matches!(stored.as_slice(), [sieve::Action::Store { mailbox, create: true, .. }, sieve::Action::Redirect { address, .. }]
            if mailbox == "Lists/News" && address == "bob@b.test"),
        "{o:?}\n{src}"
    );
    assert!(vacation_of(&o).is_some());
    // Edit the first rule to mark as read, delete the redirect.
    let edit = [
        ("csrf", token.as_str()),
        ("field", "subject"),
        ("op", "contains"),
        ("value", "news"),
        ("action", "seen"),
        ("delete", ""),
    ];
    assert_eq!(u.post("/account/filters/0", &edit).await.status, 303);
    let del = [
        ("csrf", token.as_str()),
        ("field", "to"),
        ("op", "is"),
        ("value", "x"),
        ("action", "seen"),
        ("delete", "1"),
    ];
    assert_eq!(u.post("/account/filters/2", &del).await.status, 303);
    let src = scripts.active_source().unwrap();
    let o = run(&src, DEC_11_2026);
    assert_eq!(o.implicit_keep, Some(vec!["\\Seen".to_string()]), "{o:?}\n{src}");
    assert!(!o.actions.iter().any(|a| matches!(a, sieve::Action::Redirect { .. })), "{o:?}");
    assert!(src.contains("include :personal :optional \"mine\";"), "the include stays: {src}");
    // A discarded message gets no reply.
    let spam = src.replace("spam@x.test", "alice@x.test");
    let o = run(&spam, DEC_11_2026);
    assert!(o.actions.contains(&sieve::Action::Discard) && vacation_of(&o).is_none(), "{o:?}");

    // Turned off, with the user's own script left out: it no longer runs, but stays.
    form.retain(|(k, _)| !matches!(*k, "on" | "include"));
    let token = u.token("/account/vacation").await;
    form.retain(|(k, _)| *k != "csrf");
    form.push(("csrf", &token));
    assert_eq!(u.post("/account/vacation", &form).await.status, 303);
    let src = scripts.active_source().unwrap();
    assert!(vacation_of(&run(&src, DEC_11_2026)).is_none(), "{src}");
    assert!(!src.contains("include"), "{src}");
    assert!(scripts.get("mine").is_ok());

    // Every change is in postfixadmin's log under the user's name.
    let log = db.dir.log_rows(None, 100).await.unwrap();
    let actions: Vec<(&str, &str)> = log.iter().map(|r| (r[1].as_str(), r[3].as_str())).collect();
    for a in ["edit_vacation", "create_filter", "edit_filter", "delete_filter"] {
        assert!(actions.contains(&("bob@a.test (127.0.0.1)", a)), "{a}: {actions:?}");
    }
}

#[tokio::test]
async fn forwarding_and_quota_on_the_account_page() {
    let db = database(Backend::Sqlite).await;
    let web = Web::start(&db, "");
    // 1 MB of quota, two messages in the Maildir.
    db.sql("UPDATE mailbox SET quota = 1048576 WHERE username = 'bob@a.test'").await;
    let maildir = db.mail_root().join("a.test/bob/Maildir");
    let cur = maildir.join("cur");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(d)).unwrap();
    }
    std::fs::write(cur.join("1.host,S=262144:2,S"), vec![b'x'; 262_144]).unwrap();
    std::fs::write(cur.join("2.host,S=262144:2,"), vec![b'x'; 262_144]).unwrap();
    let mut u = web.browser();
    assert_eq!(u.login(USER_A, PASSWORD).await.status, 303);
    let page = u.get("/account").await.body;
    assert!(page.contains("0.5 MB of 1.0 MB used (50%) in 2 messages."), "{page}");
    assert!(page.contains("Your mail is not forwarded."), "{page}");

    // Forward without a copy, then with one; the directory resolves it so.
    let token = u.token("/account").await;
    let r = u
        .post("/account/forwarding", &[("csrf", &token), ("goto", "carol@elsewhere.test, bob@b.test")])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(db.dir.forwarding(&addr(USER_A)).await.unwrap(), ["carol@elsewhere.test", "bob@b.test"]);
    let targets = db.dir.resolve(&addr(USER_A)).await.unwrap().unwrap();
    assert!(
        !targets
            .iter()
            .any(|t| matches!(t, authlib::Target::Local { mailbox, .. } if mailbox.address == addr(USER_A))),
        "{targets:?}"
    );
    let page = u.get("/account").await.body;
    assert!(page.contains("forwarded to carol@elsewhere.test, bob@b.test; no copy is kept here."), "{page}");
    let r = u
        .post("/account/forwarding", &[("csrf", &token), ("goto", "carol@elsewhere.test"), ("keep", "1")])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(db.dir.forwarding(&addr(USER_A)).await.unwrap(), ["bob@a.test", "carol@elsewhere.test"]);
    let r = u.post("/account/forwarding", &[("csrf", &token), ("goto", "not an address")]).await;
    assert_eq!(r.status, 400);
    // Off again: the mailbox alone.
    let r = u.post("/account/forwarding", &[("csrf", &token), ("goto", "")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(db.dir.forwarding(&addr(USER_A)).await.unwrap(), ["bob@a.test"]);
    let log = db.dir.log_rows(Some(&["a.test".to_string()]), 10).await.unwrap();
    assert!(log.iter().any(|r| r[3] == "edit_alias" && r[4].contains("carol@elsewhere.test")), "{log:?}");
}
