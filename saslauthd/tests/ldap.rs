//! mailroom-saslauthd on the LDAP backend, end to end: cyrus's testsaslauthd against it, with
//! a private slapd that is stopped under it (temporary failure, never "unknown user") and
//! started again (answers again without a restart of the daemon).

#[allow(dead_code)]
mod common;

use std::path::Path;
use std::process::Command;

use common::{Saslauthd, cyrus};
use testsupport::ldap::Slapd;

fn testsaslauthd(mux: &Path, user: &str, realm: &str, pw: &str) -> String {
    let out = Command::new("testsaslauthd")
        .args(["-u", user, "-r", realm, "-p", pw, "-s", "smtp", "-f"])
        .arg(mux)
        .output()
        .expect("testsaslauthd not found: apt-get install sasl2-bin");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn slappasswd(pw: &str) -> String {
    let out = Command::new("slappasswd").args(["-h", "{SSHA}", "-s", pw]).output().expect("slappasswd");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn start(auth_bind: bool) -> (Slapd, Saslauthd) {
    let slapd = Slapd::start();
    slapd.add(&format!(
        "dn: ou=people,dc=test\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: uid=bob,ou=people,dc=test\nobjectClass: inetOrgPerson\ncn: Bob\nsn: B\nuid: bob\n\
         mail: bob@b.test\nuserPassword: {}\n",
        slappasswd("bobpass")
    ));
    // `[database.ldap]` is the last table: the key goes into it.
    let db = format!("{}auth_bind = {auth_bind}\n", slapd.database_toml());
    let d = Saslauthd::start_with_database(&db, "", None);
    (slapd, d)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test]
async fn testsaslauthd_against_ldap_with_slapd_going_away() {
    for auth_bind in [false, true] {
        let (mut slapd, d) = start(auth_bind);
        let mux = d.mux();
        let m = mux.clone();
        blocking(move || {
            assert_eq!(testsaslauthd(&m, "bob", "b.test", "bobpass"), "0: OK \"Success.\"");
            assert_eq!(testsaslauthd(&m, "bob@b.test", "", "bobpass"), "0: OK \"Success.\"");
            assert_eq!(testsaslauthd(&m, "bob", "b.test", "wrong"), "0: NO \"authentication failed\"");
            assert_eq!(testsaslauthd(&m, "nobody", "b.test", "bobpass"), "0: NO \"authentication failed\"");
            assert_eq!(testsaslauthd(&m, "*", "b.test", "bobpass"), "0: NO \"authentication failed\"");
        })
        .await;
        slapd.stop();
        let m = mux.clone();
        blocking(move || {
            let reply = cyrus(&m, "bob@b.test", "bobpass", "smtp", "");
            assert!(reply.starts_with("NO temporary failure"), "{reply}");
        })
        .await;
        assert!(d.log().contains("authentication temporarily failed"), "{}", d.log());
        slapd.restart();
        let m = mux.clone();
        blocking(move || assert_eq!(testsaslauthd(&m, "bob", "b.test", "bobpass"), "0: OK \"Success.\""))
            .await;
    }
}
