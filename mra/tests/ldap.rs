//! mailroom-mra on `backend = "ldap"` against a private slapd: Python imaplib logs in with the
//! password from `userPassword` and reads the Maildir the directory names; a wrong password is
//! NO [AUTHENTICATIONFAILED], slapd stopped is NO [UNAVAILABLE] (try again later), and the same
//! daemon logs in again once slapd is back.

mod common;

use common::{Mra, deliver, python};
use testsupport::ldap::Slapd;

const IMAPLIB: &str = r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
try:
    m.login(sys.argv[2], sys.argv[3])
except imaplib.IMAP4.error as e:
    print("NO", e)
    sys.exit(0)
typ, data = m.select("INBOX")
print(typ, data[0].decode())
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print(typ, data[0][1].decode().strip())
m.logout()
"#;

fn ssha(pw: &str) -> String {
    let out = std::process::Command::new("slappasswd")
        .args(["-h", "{SSHA}", "-s", pw])
        .output()
        .expect("slappasswd (apt-get install slapd)");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn imaplib_login_over_ldap_and_slapd_down_is_unavailable() {
    let mut slapd = Slapd::start();
    slapd.add_mail_directory(&["b.test"], &[("bob@b.test", &ssha("bobpass"))], &[]);
    let root = tempfile::tempdir().unwrap();
    let maildir = root.path().join("b.test/bob/Maildir");
    std::fs::create_dir_all(&maildir).unwrap();
    mailstore::Maildir::new(&maildir).create().unwrap();
    deliver(&maildir, "hello over ldap", "body\n");
    let mra = Mra::start_with_database(&slapd.database_toml(), root.path(), "root", "auth = \"direct\"");
    let port = mra.imap.to_string();
    let login = |user: &str, pw: &str| python(IMAPLIB, &[&port, user, pw]);

    let out = login("bob@b.test", "bobpass");
    assert_eq!(out, "OK 1\nOK Subject: hello over ldap\n", "{}", mra.log());
    assert!(login("bob@b.test", "wrong").starts_with("NO b'[AUTHENTICATIONFAILED]"));
    assert!(login("nobody@b.test", "bobpass").starts_with("NO b'[AUTHENTICATIONFAILED]"));
    // imaplib quotes only the password; a quoted `*` reaches the directory (inert there).
    let out = login("\"*@b.test\"", "bobpass");
    assert!(out.starts_with("NO b'[AUTHENTICATIONFAILED]"), "{out}");

    slapd.stop();
    let out = login("bob@b.test", "bobpass");
    assert!(out.starts_with("NO b'[UNAVAILABLE]"), "{out}\n{}", mra.log());

    slapd.restart();
    assert_eq!(login("bob@b.test", "bobpass"), "OK 1\nOK Subject: hello over ldap\n", "{}", mra.log());
}
