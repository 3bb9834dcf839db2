//! Every route for every role, over HTTPS against the real binary, on SQLite and on MariaDB:
//! anonymous visitors, a mailbox user, the admin of another domain, the domain's admin and a
//! superadmin. Then what the pages must keep: form tokens, security headers, one answer for
//! every failed login, sessions ended by a password change, postfixadmin's limits and log.

mod common;

use common::*;
use testsupport::{Backend, TestDb};

async fn matrix(backend: Backend) {
    let db = database(backend).await;
    let web = Web::start(&db, "");
    let mut b = sessions(&web).await;

    get_matrix(&mut b, "/admin", [303, 403, 200, 200, 200]).await;
    get_matrix(&mut b, "/admin/domains", [303, 403, 200, 200, 200]).await;
    get_matrix(&mut b, "/admin/domains/a.test", [303, 403, 403, 200, 200]).await;
    get_matrix(&mut b, "/admin/domains/nonexistent.test", [303, 403, 403, 403, 404]).await;
    get_matrix(&mut b, "/admin/mailboxes/bob@a.test", [303, 403, 403, 200, 200]).await;
    get_matrix(&mut b, "/admin/admins", [303, 403, 403, 403, 200]).await;
    get_matrix(&mut b, "/admin/log", [303, 403, 200, 200, 200]).await;
    get_matrix(&mut b, "/account", [303, 200, 403, 403, 403]).await;

    // A domain admin's lists hold their domains only.
    let other = b[2].get("/admin/domains").await.body;
    assert!(other.contains("b.test") && !other.contains("a.test"), "{other}");
    let sup = b[4].get("/admin/domains").await.body;
    assert!(sup.contains("a.test") && sup.contains("b.test"), "{sup}");

    let add_mailbox = |i: usize| {
        let local = format!("new{i}");
        kv(&[
            ("local_part", &local),
            ("name", "New"),
            ("password", "longenough1"),
            ("again", "longenough1"),
            ("quota", "0"),
        ])
    };
    post_matrix(&mut b, "/admin/domains/a.test/mailboxes", add_mailbox, [403, 403, 403, 303, 303]).await;
    let add_alias = |i: usize| kv(&[("local_part", &format!("list{i}")), ("goto", "bob@a.test, bob@b.test")]);
    post_matrix(&mut b, "/admin/domains/a.test/aliases", add_alias, [403, 403, 403, 303, 303]).await;
    let quota = |_| kv(&[("quota", "5"), ("active", "1")]);
    post_matrix(&mut b, "/admin/mailboxes/bob@a.test", quota, [403, 403, 403, 303, 303]).await;
    let reset = |_| kv(&[("password", PASSWORD), ("again", PASSWORD)]);
    post_matrix(&mut b, "/admin/mailboxes/bob@a.test/password", reset, [403, 403, 403, 303, 303]).await;
    // The reset ended bob's session.
    assert_eq!(b[1].get("/account").await.status, 303);
    b[1].cookies.clear();
    assert_eq!(b[1].login(USER_A, PASSWORD).await.status, 303);
    let edit = |_| {
        kv(&[
            ("description", "edited"),
            ("mailboxes", "4"),
            ("aliases", "0"),
            ("maxquota", "10"),
            ("active", "1"),
        ])
    };
    post_matrix(&mut b, "/admin/domains/a.test", edit, [403, 403, 403, 403, 303]).await;
    let add_domain = |i: usize| {
        kv(&[("domain", &format!("new{i}.test")), ("mailboxes", "0"), ("aliases", "0"), ("maxquota", "0")])
    };
    post_matrix(&mut b, "/admin/domains", add_domain, [403, 403, 403, 403, 303]).await;
    let add_admin = |i: usize| {
        kv(&[
            ("username", &format!("helper{i}@a.test")),
            ("password", "longenough1"),
            ("again", "longenough1"),
            ("domains", "a.test"),
        ])
    };
    post_matrix(&mut b, "/admin/admins", add_admin, [403, 403, 403, 403, 303]).await;
    let del_alias = |_| kv(&[]);
    post_matrix(&mut b, "/admin/aliases/list3@a.test/delete", del_alias, [403, 403, 403, 303, 409]).await;
    post_matrix(&mut b, "/admin/domains/new4.test/delete", del_alias, [403, 403, 403, 403, 303]).await;
    post_matrix(&mut b, "/admin/mailboxes/new3@a.test/delete", del_alias, [403, 403, 403, 303, 409]).await;

    // The effects, through authlib (what mailroomctl and the daemons see).
    let users: Vec<String> =
        db.dir.list_users(Some(&dom("a.test"))).await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(users, ["bob@a.test", "new4@a.test"]);
    let bob = db.dir.show_user(&addr("bob@a.test")).await.unwrap().unwrap();
    assert_eq!(bob.quota, 5 * authlib::QUOTA_MULTIPLIER);
    let aliases: Vec<String> =
        db.dir.list_aliases(Some(&dom("a.test"))).await.unwrap().into_iter().map(|a| a.address).collect();
    assert_eq!(aliases, ["list4@a.test"]);
    let settings = db.dir.domain_settings(&dom("a.test")).await.unwrap().unwrap();
    assert_eq!((settings.description.as_str(), settings.mailboxes, settings.maxquota), ("edited", 4, 10));
    let helper = db.dir.admin("helper4@a.test").await.unwrap().unwrap();
    assert_eq!((helper.superadmin, helper.domains.clone()), (false, vec!["a.test".to_string()]));

    // postfixadmin's limits: maxquota 10 MB, 4 mailboxes at most (2 there now).
    let token = b[3].token("/admin").await;
    let mut over =
        kv(&[("local_part", "big"), ("password", "longenough1"), ("again", "longenough1"), ("quota", "11")]);
    over.push(("csrf".into(), token.clone()));
    let pairs: Vec<(&str, &str)> = over.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(b[3].post("/admin/domains/a.test/mailboxes", &pairs).await.status, 400);
    for (i, want) in [(1, 303), (2, 303), (3, 409)] {
        let local = format!("fill{i}");
        let f = [
            ("local_part", local.as_str()),
            ("password", "longenough1"),
            ("again", "longenough1"),
            ("quota", "10"),
            ("csrf", token.as_str()),
        ];
        let r = b[3].post("/admin/domains/a.test/mailboxes", &f).await;
        assert_eq!(r.status, want, "mailbox {i}: {}", r.body);
    }

    // Every change is in postfixadmin's log, with who and from where; a domain admin sees
    // their domains' rows only.
    let log = db.dir.log_rows(None, 100).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r[3].as_str()).collect();
    for a in [
        "create_mailbox",
        "create_alias",
        "edit_mailbox",
        "edit_password",
        "edit_domain",
        "create_domain",
        "create_admin",
        "delete_alias",
        "delete_domain",
        "delete_mailbox",
    ] {
        assert!(actions.contains(&a), "{a} not logged: {log:?}");
    }
    assert!(log.iter().any(|r| r[1] == format!("{ADMIN_A} (127.0.0.1)") && r[2] == "a.test"), "{log:?}");
    let seen_by_b = b[2].get("/admin/log").await.body;
    assert!(!seen_by_b.contains("create_mailbox"), "{seen_by_b}");

    // A form without its token, or with another session's, is refused before it runs.
    let r = b[4].post("/admin/domains", &[("domain", "x.test")]).await;
    assert_eq!(r.status, 403);
    let r = b[4].post("/admin/domains", &[("domain", "x.test"), ("csrf", &token)]).await;
    assert_eq!(r.status, 403);
    assert!(db.dir.domain_settings(&dom("x.test")).await.unwrap().is_none());

    // Discovery answers for our domains only.
    let r = web.raw("GET", "/mail/config-v1.1.xml?emailaddress=bob%40a.test", "", b"").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("<hostname>mail.a.test</hostname>") && r.body.contains("<port>993</port>"),
        "{}",
        r.body
    );
    let r = web.raw("GET", "/mail/config-v1.1.xml?emailaddress=bob%40elsewhere.test", "", b"").await;
    assert_eq!(r.status, 404);
    drop(b);
    drop(web);
}

#[tokio::test]
async fn route_matrix_on_sqlite() {
    matrix(Backend::Sqlite).await;
}

#[tokio::test]
async fn route_matrix_on_mariadb() {
    matrix(Backend::MariaDb).await;
}

#[tokio::test]
async fn logins_sessions_and_headers() {
    let db: TestDb = database(Backend::Sqlite).await;
    let web = Web::start(&db, "");

    // Every answer carries the security headers; HTTPS adds HSTS.
    let r = web.raw("GET", "/login", "", b"").await;
    assert_eq!(
        r.header("content-security-policy")
            .map(|v| v.starts_with("default-src 'self'; script-src 'none'; frame-ancestors 'none'")),
        Some(true),
        "{r:?}"
    );
    assert_eq!(r.header("strict-transport-security"), Some("max-age=31536000"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(!r.body.contains("<script"), "{}", r.body);
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // One answer for an unknown login and for a wrong password.
    let mut x = web.browser();
    let unknown = x.login("nobody@a.test", "whatever-pw").await;
    let wrong = x.login(USER_A, "whatever-pw").await;
    let wrong_admin = x.login(ADMIN_A, "whatever-pw").await;
    assert_eq!((unknown.status, wrong.status, wrong_admin.status), (401, 401, 401));
    let strip = |s: &str| {
        s.replace(&Resp { status: 0, headers: vec![], body: s.to_string() }.csrf().unwrap_or_default(), "")
    };
    assert_eq!(strip(&unknown.body), strip(&wrong.body));
    assert_eq!(strip(&wrong.body), strip(&wrong_admin.body));
    let log = web.log();
    assert!(log.contains("authentication failed user=nobody@a.test service=web client=127.0.0.1"), "{log}");
    // A login without the form's token is refused.
    let mut y = web.browser();
    let r = y.post("/login", &[("username", USER_A), ("password", PASSWORD)]).await;
    assert_eq!(r.status, 403);

    // Sessions: the session cookie is Secure, HttpOnly, SameSite=Strict; a password change
    // ends the user's other sessions; logout ends this one.
    let mut one = web.browser();
    let r = one.login(USER_A, PASSWORD).await;
    assert_eq!(r.header("location"), Some("/account"));
    let session_cookie =
        r.headers.iter().find(|(k, v)| k == "set-cookie" && v.starts_with("mailroom_session=")).unwrap();
    assert!(session_cookie.1.contains("Secure; HttpOnly; SameSite=Strict"), "{session_cookie:?}");
    let mut two = web.browser();
    two.login(USER_A, PASSWORD).await;
    assert_eq!(two.get("/account").await.status, 200);
    let token = one.token("/account").await;
    let wrong = one
        .post(
            "/account/password",
            &[("csrf", &token), ("current", "nope-nope"), ("new", "another-pw-2"), ("again", "another-pw-2")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let r = one
        .post(
            "/account/password",
            &[("csrf", &token), ("current", PASSWORD), ("new", "another-pw-2"), ("again", "another-pw-2")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(two.get("/account").await.status, 303, "the other session ended");
    assert_eq!(one.get("/account").await.status, 200, "this session goes on under a new id");
    let v = db.dir.authenticate(USER_A, &proto::Secret::from("another-pw-2")).await.unwrap();
    assert!(matches!(v, authlib::Verdict::Accepted(_)), "{v:?}");
    let token = one.token("/account").await;
    let r = one.post("/logout", &[("csrf", &token)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(one.get("/account").await.status, 303);

    // MTA-STS and autodiscover.
    let r = web.raw("GET", "/.well-known/mta-sts.txt", "", b"").await;
    assert_eq!(r.body, "version: STSv1\r\nmode: enforce\r\nmx: mail.a.test\r\nmax_age: 604800\r\n");
    let req = b"<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>bob@a.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>";
    let r = web.raw("POST", "/autodiscover/autodiscover.xml", "Content-Type: text/xml\r\n", req).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("<LoginName>bob@a.test</LoginName>") && r.body.contains("<Type>IMAP</Type>"),
        "{}",
        r.body
    );

    // Apple's profile, read by Python's plistlib (the format's reference reader outside Apple).
    let r = web.raw("GET", "/apple/mobileconfig?emailaddress=bob@a.test", "", b"").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/x-apple-aspen-config"));
    let check = "import plistlib,sys\n\
                 p=plistlib.loads(sys.stdin.buffer.read())\n\
                 a=p['PayloadContent'][0]\n\
                 assert p['PayloadType']=='Configuration' and p['PayloadVersion']==1, p\n\
                 assert a['PayloadType']=='com.apple.mail.managed', a\n\
                 print(a['EmailAccountType'],a['EmailAddress'],a['IncomingMailServerHostName'],\
                 a['IncomingMailServerPortNumber'],a['IncomingMailServerUseSSL'],\
                 a['OutgoingMailServerPortNumber'],a['OutgoingMailServerUsername'],p['PayloadUUID']!=a['PayloadUUID'])";
    let mut py = std::process::Command::new("python3")
        .args(["-c", check])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    py.stdin.take().unwrap().write_all(r.body.as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), r.body);
    // IMAPS from [mra] imaps_listen; submissions (465) is [mta]'s default.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "EmailTypeIMAP bob@a.test mail.a.test 993 True 465 bob@a.test True"
    );
    assert_eq!(
        web.raw("GET", "/apple/mobileconfig?emailaddress=bob@elsewhere.test", "", b"").await.status,
        404
    );
    assert_eq!(web.raw("GET", "/apple/mobileconfig?emailaddress=nonsense", "", b"").await.status, 400);

    // Unknown pages and malformed requests are 4xx, and the daemon keeps serving.
    assert_eq!(web.raw("GET", "/nope", "", b"").await.status, 404);
    let r = web.raw("POST", "/login", "Content-Type: application/x-www-form-urlencoded\r\n", b"%%%").await;
    assert_eq!(r.status, 403);
    assert_eq!(web.raw("GET", "/login", "", b"").await.status, 200);
}
