//! mailroom-web in a real browser: Debian's chromium driven by selenium (PyPI) through
//! chromium-driver runs `browser/flow.py` against the binary: a superadmin creates a domain
//! and its admin, the admin adds a mailbox, the user logs in, changes their password and sets
//! an out-of-office reply (the script written is compiled and run as delivery runs it). The
//! screenshots of every page are kept in `target/tmp/mailroom-web-browser/` (the test's
//! artefacts). The directory must then hold what the browser did.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use testsupport::Backend;
use testsupport::process::output_within;

#[tokio::test]
async fn superadmin_domain_admin_and_user_in_chromium() {
    let db = database(Backend::Sqlite).await;
    let web = Web::start(&db, "");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mailroom-web-browser");
    let _ = std::fs::remove_dir_all(&out);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/flow.py");
    let base = format!("https://localhost:{}", web.port);
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(&base).arg(SUPER).arg(PASSWORD).arg(&out).env("SE_OFFLINE", "true");
    let run = tokio::task::spawn_blocking(move || output_within(&mut cmd, b"", Duration::from_secs(300)))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "browser flow failed:\n{stdout}\n{}\nmailroom-web log:\n{}",
        String::from_utf8_lossy(&run.stderr),
        web.log()
    );
    assert!(stdout.contains("browser flow ok"), "{stdout}");
    let shots = std::fs::read_dir(&out).unwrap().count();
    assert!(shots >= 15, "{shots} screenshots in {}", out.display());

    // What the browser did is in the directory and in postfixadmin's log.
    let shop = dom("shop.test");
    assert_eq!(db.dir.domain_settings(&shop).await.unwrap().unwrap().mailboxes, 10);
    let boss = db.dir.admin("boss@shop.test").await.unwrap().unwrap();
    assert_eq!(boss.domains, ["shop.test"]);
    let v = db.dir.authenticate("carol@shop.test", &proto::Secret::from("carol-pass-2")).await.unwrap();
    assert!(matches!(v, authlib::Verdict::Accepted(_)), "{v:?}");
    let carol = db.dir.show_user(&addr("carol@shop.test")).await.unwrap().unwrap();
    assert_eq!(carol.quota, 50 * authlib::QUOTA_MULTIPLIER);
    // The reply is the script delivery runs: carol's active script answers a message.
    let home = db.mail_root().join("shop.test/carol");
    let src = mailstore::SieveScripts::new(&home).active_source().expect("an active script");
    let script = sieve::compile(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let raw = b"From: dave@x.test\r\nTo: carol@shop.test\r\nSubject: hi\r\n\r\nhello\r\n";
    let msg = mail_parser::MessageParser::default().parse(&raw[..]).unwrap();
    let env = sieve::Envelope { from: "dave@x.test".into(), to: "carol@shop.test".into(), orig_to: None };
    let outcome = sieve::run(&script, &msg, &env, &sieve::Settings::default(), &mut sieve::NoHost);
    let reply = outcome.actions.iter().find_map(|a| match a {
        sieve::Action::Vacation(v) => Some(v),
        _ => None,
    });
    let reply = reply.unwrap_or_else(|| panic!("no vacation action: {outcome:?}\n{src}"));
    assert_eq!(reply.subject.as_deref(), Some("Away until Monday"));
    assert_eq!(reply.reason, "Back on Monday.\r\nUrgent: \"ops\" <ops@shop.test>");
    assert_eq!(reply.seconds, 2 * 86_400);
    assert!(outcome.implicit_keep.is_some(), "the message is still kept: {outcome:?}");

    let log = db.dir.log_rows(None, 50).await.unwrap();
    let who_did: Vec<(&str, &str)> = log.iter().map(|r| (r[1].as_str(), r[3].as_str())).collect();
    for (who, what) in [
        ("root@admin.test (127.0.0.1)", "create_domain"),
        ("root@admin.test (127.0.0.1)", "create_admin"),
        ("boss@shop.test (127.0.0.1)", "create_mailbox"),
        ("carol@shop.test (127.0.0.1)", "edit_password"),
        ("carol@shop.test (127.0.0.1)", "edit_vacation"),
    ] {
        assert!(who_did.contains(&(who, what)), "{who} {what} not in {who_did:?}");
    }
}
