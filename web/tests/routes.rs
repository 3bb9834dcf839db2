//! Every route for every role, over HTTPS against the real binary, on SQLite and on MariaDB:
//! anonymous visitors, a mailbox user, the admin of another domain, the domain's admin and a
//! superadmin. Then what the pages must keep: form tokens, security headers, one answer for
//! every failed login, sessions ended by a password change, postfixadmin's limits and log.

mod common;

use common::*;
use testsupport::{Backend, TestDb};

async fn matrix(backend: Backend) {
    let db = database(backend).await;
    let web = Web::start(&db, "page_size = 3");
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

    // The catch-all: an alias with an empty local part, offered on the domain's page.
    assert!(b[3].get("/admin/domains/a.test").await.body.contains("Alias (empty: catch-all)"));
    assert_eq!(delivers_to(&db, "anyone@a.test").await, Vec::<String>::new());
    let catch_all = |_| kv(&[("local_part", ""), ("goto", "bob@a.test")]);
    post_matrix(&mut b, "/admin/domains/a.test/aliases", catch_all, [403, 403, 403, 303, 409]).await;
    assert!(b[3].get("/admin/domains/a.test").await.body.contains("<td>@a.test</td>"));
    assert_eq!(delivers_to(&db, "anyone@a.test").await, ["bob@a.test"]);
    assert_eq!(delivers_to(&db, "bob@a.test").await, ["bob@a.test"], "a mailbox wins over the catch-all");

    // Alias domains (postfixadmin's): both sides are domains of ours, and both the admin's.
    for i in 1..=4 {
        db.sql(&format!("INSERT INTO domain (domain) VALUES ('ad{i}.test')")).await;
        db.sql(&format!("INSERT INTO domain_admins (username, domain) VALUES ('{ADMIN_A}', 'ad{i}.test')"))
            .await;
    }
    get_matrix(&mut b, "/admin/aliasdomains", [303, 403, 200, 200, 200]).await;
    let add_ad = |i: usize| kv(&[("alias_domain", &format!("ad{i}.test")), ("target_domain", "a.test")]);
    post_matrix(&mut b, "/admin/aliasdomains", add_ad, [403, 403, 403, 303, 303]).await;
    assert_eq!(try_ad(&mut b[3], "b.test", "a.test").await.0, 403, "the alias side is not theirs");
    assert_eq!(try_ad(&mut b[3], "ad1.test", "b.test").await.0, 403, "the target is not theirs");
    assert_eq!(try_ad(&mut b[2], "b.test", "ad1.test").await.0, 403);
    assert_eq!(try_ad(&mut b[4], "not a domain", "a.test").await.0, 400);
    let (status, body) = try_ad(&mut b[4], "nowhere.test", "a.test").await;
    assert!(status == 409 && body.contains("unknown domain nowhere.test"), "{status} {body}");
    let (status, body) = try_ad(&mut b[4], "ad1.test", "ad3.test").await;
    assert!(status == 409 && body.contains("no chains"), "{status} {body}");
    let page = b[3].get("/admin/domains/a.test").await.body;
    assert!(page.contains("ad3.test") && page.contains("ad4.test"), "{page}");
    let page = b[2].get("/admin/aliasdomains").await.body;
    assert!(!page.contains("ad3.test") && !page.contains("a.test"), "{page}");
    assert_eq!(b[2].get("/admin/domains/b.test").await.status, 200);
    // Mail to user@ad4.test reaches user@a.test, and the catch-all of a.test answers for it.
    assert_eq!(delivers_to(&db, "bob@ad4.test").await, ["bob@a.test"]);
    assert_eq!(delivers_to(&db, "anyone@ad4.test").await, ["bob@a.test"]);
    let off = |_| kv(&[]);
    post_matrix(&mut b, "/admin/aliasdomains/ad4.test", off, [403, 403, 403, 303, 303]).await;
    assert_eq!(delivers_to(&db, "bob@ad4.test").await, Vec::<String>::new(), "inactive");
    let on = |_| kv(&[("active", "1")]);
    post_matrix(&mut b, "/admin/aliasdomains/ad4.test", on, [403, 403, 403, 303, 303]).await;
    assert_eq!(delivers_to(&db, "bob@ad4.test").await, ["bob@a.test"]);
    post_matrix(&mut b, "/admin/aliasdomains/ad3.test/delete", del_alias, [403, 403, 403, 303, 409]).await;
    let left: Vec<String> =
        db.dir.list_alias_domains(None).await.unwrap().into_iter().map(|r| r.alias_domain).collect();
    assert_eq!(left, ["ad4.test"]);
    post_matrix(&mut b, "/admin/aliases/@a.test/delete", del_alias, [403, 403, 403, 303, 409]).await;
    assert_eq!(delivers_to(&db, "anyone@a.test").await, Vec::<String>::new());

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

    // The domain's lists come a page at a time (page_size = 3): bob, fill1, fill2, new4.
    let one = b[3].get("/admin/domains/a.test").await.body;
    let two = b[3].get("/admin/domains/a.test?page=2").await.body;
    assert!(one.contains(">fill2@a.test<") && !one.contains(">new4@a.test<"), "{one}");
    assert!(one.contains("Mailboxes: 4 of 4") && one.contains("Page 1 of 2"), "{one}");
    assert!(two.contains(">new4@a.test<") && !two.contains(">fill1@a.test<"), "{two}");
    assert!(two.contains("Page 2 of 2") && two.contains("?page=1"), "{two}");
    assert_eq!(b[3].get("/admin/domains/a.test?page=x").await.body, one, "not a number: the first page");

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
        "create_alias_domain",
        "edit_alias_domain",
        "delete_alias_domain",
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

/// Thunderbird's config-v1.1 format (written from its documentation; see the file).
const AUTOCONFIG_XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/autoconfig-v1.1.xsd");

/// Validate `xml` against the XML Schema `xsd` with libxml2's xmllint; its complaint when not.
fn xmllint_schema(xsd: &str, xml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.xml");
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", xsd])
        .arg(&file)
        .output()
        .expect("xmllint (Debian's libxml2-utils) runs");
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// One admin's try at adding an alias domain: status and page.
async fn try_ad(br: &mut Browser<'_>, alias: &str, target: &str) -> (u16, String) {
    let token = br.token("/admin").await;
    let f = [("alias_domain", alias), ("target_domain", target), ("csrf", token.as_str())];
    let r = br.post("/admin/aliasdomains", &f).await;
    (r.status, r.body)
}

/// The mailboxes and remote addresses mail to `rcpt` goes to, by authlib's resolution (what
/// mailroom-mta and mailroom-mda ask).
async fn delivers_to(db: &TestDb, rcpt: &str) -> Vec<String> {
    let targets = db.dir.resolve(&addr(rcpt)).await.unwrap().unwrap_or_default();
    targets
        .into_iter()
        .map(|t| match t {
            authlib::Target::Local { mailbox, .. } => mailbox.address.to_string(),
            authlib::Target::Remote(r) => r.to_string(),
        })
        .collect()
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

    // Thunderbird's autoconfig, on both of its paths, valid by the format's schema; the
    // schema refuses a value outside the format's lists.
    for path in ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"] {
        let r = web.raw("GET", &format!("{path}?emailaddress=bob%40a.test"), "", b"").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(xmllint_schema(AUTOCONFIG_XSD, &r.body), Ok(()), "{path}: {}", r.body);
        let broken = r.body.replacen("<socketType>SSL</socketType>", "<socketType>TLS</socketType>", 1);
        assert_ne!(broken, r.body);
        let e = xmllint_schema(AUTOCONFIG_XSD, &broken).unwrap_err();
        assert!(e.contains("socketType"), "{e}");
    }

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
