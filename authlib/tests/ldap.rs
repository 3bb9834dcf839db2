//! The directory on LDAP: a private slapd per test, seeded with ldapadd, in two layouts
//! (inetOrgPerson + inetLocalMailRecipient, and the postfix-book schema).

use std::process::Command;

use authlib::{Directory, Rejection, Target, Verdict};
use proto::{Address, Domain, Secret};
use testsupport::ldap::{ROOT_DN, ROOT_PW, Slapd};

fn a(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn slappasswd(scheme: &str, pw: &str) -> String {
    let mut cmd = Command::new("slappasswd");
    cmd.args(["-h", scheme, "-s", pw]);
    if scheme == "{CRYPT}" {
        cmd.args(["-c", "$6$%.16s"]);
    }
    let out = cmd.output().expect("slappasswd (apt-get install slapd)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Fixture {
    slapd: Slapd,
    dir: Directory,
    _vmail: tempfile::TempDir,
}

fn ldap_cfg(
    slapd: &Slapd,
    vmail: &std::path::Path,
    tweak: impl FnOnce(&mut config::Ldap),
) -> config::Database {
    let pwfile = slapd.dir.path().join("bindpw");
    std::fs::write(&pwfile, format!("{ROOT_PW}\n")).unwrap();
    let mut ldap = config::Ldap {
        uris: vec![slapd.uri()],
        bind_dn: ROOT_DN.into(),
        bind_password_file: config::OptionalPath::new(pwfile.display().to_string()).unwrap(),
        base: "dc=test".into(),
        timeout: 2.try_into().unwrap(),
        sender_login_result_attribute: "mail,mailRoutingAddress".into(),
        ..Default::default()
    };
    tweak(&mut ldap);
    config::Database {
        backend: config::DirectoryBackend::Ldap,
        ldap,
        mail_root: config::AbsPath::new(vmail.display().to_string()).unwrap(),
        ..Default::default()
    }
}

const DOMAINS: &str = "dn: ou=domains,dc=test\nobjectClass: organizationalUnit\nou: domains\n\n\
dn: dc=b.test,ou=domains,dc=test\nobjectClass: domain\nobjectClass: domainRelatedObject\ndc: b.test\nassociatedDomain: b.test\n\n\
dn: dc=c.test,ou=domains,dc=test\nobjectClass: domain\nobjectClass: domainRelatedObject\ndc: c.test\nassociatedDomain: c.test\n";

/// Layout 1: inetOrgPerson users with `mail` + `userPassword` in every form, aliases as
/// inetLocalMailRecipient entries (`mailLocalAddress` -> `mailRoutingAddress`).
fn inet_org_person(tweak: impl FnOnce(&mut config::Ldap)) -> Fixture {
    inet_org_person_on(Slapd::start(), tweak)
}

fn inet_org_person_on(slapd: Slapd, tweak: impl FnOnce(&mut config::Ldap)) -> Fixture {
    let vmail = tempfile::tempdir().unwrap();
    let sha512 = password::hash(&Secret::new("erinpass"), password::Scheme::Sha512Crypt).unwrap();
    let ldif = format!(
        "{DOMAINS}\n\
dn: ou=people,dc=test\nobjectClass: organizationalUnit\nou: people\n\n\
dn: uid=bob,ou=people,dc=test\nobjectClass: inetOrgPerson\ncn: Bob\nsn: B\nuid: bob\nmail: bob@b.test\nuserPassword: {ssha}\n\n\
dn: uid=carol,ou=people,dc=test\nobjectClass: inetOrgPerson\ncn: Carol\nsn: C\nuid: carol\nmail: carol@b.test\nuserPassword: {crypt}\n\n\
dn: uid=erin,ou=people,dc=test\nobjectClass: inetOrgPerson\ncn: Erin\nsn: E\nuid: erin\nmail: erin@b.test\nuserPassword: {sha512}\n\n\
dn: uid=frank,ou=people,dc=test\nobjectClass: inetOrgPerson\ncn: Frank\nsn: F\nuid: frank\nmail: frank@b.test\nuserPassword: {{PLAIN}}frankpass\n\n\
dn: ou=aliases,dc=test\nobjectClass: organizationalUnit\nou: aliases\n\n\
dn: cn=postmaster,ou=aliases,dc=test\nobjectClass: organizationalRole\nobjectClass: inetLocalMailRecipient\ncn: postmaster\nmailLocalAddress: postmaster@b.test\nmailRoutingAddress: bob@b.test\n\n\
dn: cn=team1,ou=aliases,dc=test\nobjectClass: organizationalRole\nobjectClass: inetLocalMailRecipient\ncn: team1\nmailLocalAddress: team@b.test\nmailRoutingAddress: bob@b.test\n\n\
dn: cn=team2,ou=aliases,dc=test\nobjectClass: organizationalRole\nobjectClass: inetLocalMailRecipient\ncn: team2\nmailLocalAddress: team@b.test\nmailRoutingAddress: far@remote.example\n\n\
dn: cn=catchall-c,ou=aliases,dc=test\nobjectClass: organizationalRole\nobjectClass: inetLocalMailRecipient\ncn: catchall-c\nmailLocalAddress: @c.test\nmailRoutingAddress: carol@b.test\n",
        ssha = slappasswd("{SSHA}", "bobpass"),
        crypt = slappasswd("{CRYPT}", "carolpass"),
        sha512 = sha512,
    );
    slapd.add(&ldif);
    let dir = Directory::open(&ldap_cfg(&slapd, vmail.path(), tweak)).unwrap();
    Fixture { slapd, dir, _vmail: vmail }
}

/// Layout 2: the postfix-book schema (`PostfixBookMailAccount`, `mailAlias`, `mailEnabled`,
/// `mailHomeDirectory`, `mailStorageDirectory`, `mailQuota`) with Dovecot's attribute mapping.
fn postfix_book() -> Fixture {
    let slapd = Slapd::start();
    let vmail = tempfile::tempdir().unwrap();
    let root = vmail.path().display().to_string();
    let ldif = format!(
        "{DOMAINS}\n\
dn: ou=people,dc=test\nobjectClass: organizationalUnit\nou: people\n\n\
dn: uid=dave,ou=people,dc=test\nobjectClass: inetOrgPerson\nobjectClass: PostfixBookMailAccount\ncn: Dave\nsn: D\nuid: dave\n\
mail: dave@b.test\nmailAlias: d@b.test\nmailAlias: dave@c.test\nmailEnabled: TRUE\nmailHomeDirectory: {root}/b.test/dave\n\
mailStorageDirectory: maildir:~/Maildir\nmailQuota: 2048\nuserPassword: {ssha}\n\n\
dn: uid=gone,ou=people,dc=test\nobjectClass: inetOrgPerson\nobjectClass: PostfixBookMailAccount\ncn: Gone\nsn: G\nuid: gone\n\
mail: gone@b.test\nmailEnabled: FALSE\nuserPassword: {{PLAIN}}gonepass\n\n\
dn: cn=fwd,ou=people,dc=test\nobjectClass: organizationalRole\nobjectClass: PostfixBookMailForward\ncn: fwd\nmail: out@remote.example\nmailAlias: fwd@b.test\n",
        ssha = slappasswd("{SSHA}", "davepass"),
    );
    slapd.add(&ldif);
    let cfg = ldap_cfg(&slapd, vmail.path(), |l| {
        let enabled = "(objectClass=PostfixBookMailAccount)(mailEnabled=TRUE)(mail=%u)";
        l.user_filter = format!("(&{enabled})");
        l.pass_filter = format!("(&{enabled})");
        l.user_attrs =
            "mail=user,mailHomeDirectory=home,mailStorageDirectory=mail,mailQuota=quota_rule=*:storage=%$"
                .into();
        l.alias_query_filter =
            "(&(|(objectClass=PostfixBookMailAccount)(objectClass=PostfixBookMailForward))(mailAlias=%s))"
                .into();
        l.alias_result_attribute = "mail".into();
        l.sender_login_query_filter =
            "(&(objectClass=PostfixBookMailAccount)(|(mail=%s)(mailAlias=%s)))".into();
        l.sender_login_result_attribute = "mail".into();
    });
    let dir = Directory::open(&cfg).unwrap();
    Fixture { slapd, dir, _vmail: vmail }
}

fn locals(t: &[Target]) -> Vec<(String, Option<String>)> {
    t.iter()
        .map(|t| match t {
            Target::Local { mailbox, detail } => (mailbox.address.to_string(), detail.clone()),
            Target::Remote(r) => (format!("remote:{r}"), None),
        })
        .collect()
}

#[tokio::test]
async fn inet_org_person_lookups_aliases_and_sender_rights() {
    let f = inet_org_person(|_| {});
    let d = &f.dir;
    let b = Domain::parse("b.test").unwrap();
    assert_eq!(d.local_domain(&b).await, Ok(Some(b.clone())));
    assert_eq!(d.local_domain(&Domain::parse("other.test").unwrap()).await, Ok(None));
    let m = d.mailbox(&a("bob@b.test")).await.unwrap().unwrap();
    assert!(m.maildir.ends_with("b.test/bob/Maildir"), "{:?}", m.maildir);
    assert_eq!(m.quota, 0);
    assert_eq!(d.mailbox(&a("nobody@b.test")).await, Ok(None));

    let r = |s: &'static str| async move { d.resolve(&a(s)).await.unwrap().map(|t| locals(&t)) };
    assert_eq!(r("bob@b.test").await, Some(vec![("bob@b.test".into(), None)]));
    assert_eq!(r("bob+lists@b.test").await, Some(vec![("bob@b.test".into(), Some("lists".into()))]));
    assert_eq!(r("postmaster@b.test").await, Some(vec![("bob@b.test".into(), None)]));
    assert_eq!(
        r("team@b.test").await,
        Some(vec![("bob@b.test".into(), None), ("remote:far@remote.example".into(), None)])
    );
    assert_eq!(r("anything@c.test").await, Some(vec![("carol@b.test".into(), None)]), "catch-all");
    assert_eq!(r("nobody@b.test").await, None, "no catch-all in b.test");
    assert_eq!(r("bob@other.test").await, None);

    assert_eq!(d.may_send_as(&a("bob@b.test"), &a("bob@b.test")).await, Ok(true));
    assert_eq!(d.may_send_as(&a("bob@b.test"), &a("bob+x@b.test")).await, Ok(true));
    assert_eq!(d.may_send_as(&a("bob@b.test"), &a("postmaster@b.test")).await, Ok(true));
    assert_eq!(d.may_send_as(&a("bob@b.test"), &a("carol@b.test")).await, Ok(false));
    assert_eq!(d.may_send_as(&a("carol@b.test"), &a("postmaster@b.test")).await, Ok(false));
    assert_eq!(d.may_send_as(&a("bob@b.test"), &a("x@other.test")).await, Ok(false));
    assert!(d.server_version().await.unwrap().starts_with("LDAP ldap://127.0.0.1:"));
}

#[tokio::test]
async fn every_password_form_and_injection() {
    let f = inet_org_person(|_| {});
    let d = &f.dir;
    let ok = |u: &str| Verdict::Accepted(a(u));
    for (user, pw) in [
        ("bob@b.test", "bobpass"),
        ("carol@b.test", "carolpass"),
        ("erin@b.test", "erinpass"),
        ("frank@b.test", "frankpass"),
    ] {
        assert_eq!(d.authenticate(user, &Secret::new(pw)).await, Ok(ok(user)), "{user}");
        assert_eq!(
            d.authenticate(user, &Secret::new("wrong")).await,
            Ok(Verdict::Rejected(Rejection::WrongPassword)),
            "{user}"
        );
    }
    let unknown = Ok(Verdict::Rejected(Rejection::UnknownUser));
    assert_eq!(d.authenticate("nobody@b.test", &Secret::new("bobpass")).await, unknown);
    // Filter metacharacters in the login match nothing (they would match bob unescaped).
    for evil in ["*@b.test", "b*@b.test", "*", "bob@b.test)(mail=*", "x)(|(mail=*)@b.test", "bob\0@b.test"] {
        assert_eq!(d.authenticate(evil, &Secret::new("bobpass")).await, unknown, "{evil:?}");
    }
    if let Ok(star) = Address::parse("*@b.test") {
        assert_eq!(d.mailbox(&star).await, Ok(None));
        assert_eq!(d.resolve(&star).await, Ok(None), "no wildcard match, no catch-all in b.test");
    }
    // Admin writes refuse clearly.
    let e = d.add_domain(&Domain::parse("n.test").unwrap(), "").await.unwrap_err();
    assert!(e.to_string().contains("the directory is LDAP: read-only here"), "{e}");
}

#[tokio::test]
async fn auth_bind_with_search_and_with_dn_template() {
    let f = inet_org_person(|l| l.auth_bind = true);
    let d = &f.dir;
    assert_eq!(
        d.authenticate("bob@b.test", &Secret::new("bobpass")).await,
        Ok(Verdict::Accepted(a("bob@b.test")))
    );
    assert_eq!(
        d.authenticate("carol@b.test", &Secret::new("carolpass")).await,
        Ok(Verdict::Accepted(a("carol@b.test")))
    );
    assert_eq!(
        d.authenticate("bob@b.test", &Secret::new("wrong")).await,
        Ok(Verdict::Rejected(Rejection::WrongPassword))
    );
    assert_eq!(
        d.authenticate("bob@b.test", &Secret::new("")).await,
        Ok(Verdict::Rejected(Rejection::WrongPassword)),
        "an empty password is never an (unauthenticated) bind"
    );
    assert_eq!(
        d.authenticate("nobody@b.test", &Secret::new("x")).await,
        Ok(Verdict::Rejected(Rejection::UnknownUser))
    );
    let cfg = ldap_cfg(&f.slapd, f._vmail.path(), |l| {
        l.auth_bind = true;
        l.auth_bind_userdn = "uid=%n,ou=people,dc=test".into();
    });
    let d2 = Directory::open(&cfg).unwrap();
    assert_eq!(
        d2.authenticate("bob@b.test", &Secret::new("bobpass")).await,
        Ok(Verdict::Accepted(a("bob@b.test")))
    );
    assert_eq!(
        d2.authenticate("bob@b.test", &Secret::new("nope")).await,
        Ok(Verdict::Rejected(Rejection::WrongPassword))
    );
    assert!(
        matches!(
            d2.authenticate("a,uid=bob@b.test", &Secret::new("bobpass")).await,
            Ok(Verdict::Rejected(_))
        ),
        "DN metacharacters are escaped"
    );
}

#[tokio::test]
async fn postfix_book_layout() {
    let f = postfix_book();
    let d = &f.dir;
    let m = d.mailbox(&a("dave@b.test")).await.unwrap().unwrap();
    assert_eq!(m.maildir, f._vmail.path().join("b.test/dave/Maildir"));
    assert_eq!(m.quota, 2048 * 1024);
    assert_eq!(d.mailbox(&a("gone@b.test")).await, Ok(None), "mailEnabled FALSE");
    let r = |s: &'static str| async move { d.resolve(&a(s)).await.unwrap().map(|t| locals(&t)) };
    assert_eq!(r("d@b.test").await, Some(vec![("dave@b.test".into(), None)]));
    assert_eq!(r("dave@c.test").await, Some(vec![("dave@b.test".into(), None)]));
    assert_eq!(r("d+x@b.test").await, Some(vec![("dave@b.test".into(), Some("x".into()))]));
    assert_eq!(r("fwd@b.test").await, Some(vec![("remote:out@remote.example".into(), None)]));
    assert_eq!(d.may_send_as(&a("dave@b.test"), &a("d@b.test")).await, Ok(true));
    assert_eq!(d.may_send_as(&a("dave@b.test"), &a("fwd@b.test")).await, Ok(false));
    assert_eq!(
        d.authenticate("dave@b.test", &Secret::new("davepass")).await,
        Ok(Verdict::Accepted(a("dave@b.test")))
    );
    assert_eq!(
        d.authenticate("gone@b.test", &Secret::new("gonepass")).await,
        Ok(Verdict::Rejected(Rejection::UnknownUser))
    );
}

#[tokio::test]
async fn slapd_down_is_unavailable_and_recovers() {
    // With userPassword read by a search, and with binds as the user on the kept bind
    // connections, which die with the server and must be replaced, not reported.
    for auth_bind in [false, true] {
        let mut f = inet_org_person(|l| l.auth_bind = auth_bind);
        assert_eq!(
            f.dir.authenticate("bob@b.test", &Secret::new("bobpass")).await,
            Ok(Verdict::Accepted(a("bob@b.test"))),
            "auth_bind={auth_bind}"
        );
        f.slapd.stop();
        assert!(f.dir.mailbox(&a("bob@b.test")).await.is_err(), "down is unavailable, not unknown");
        assert!(f.dir.authenticate("bob@b.test", &Secret::new("bobpass")).await.is_err());
        assert!(f.dir.resolve(&a("bob@b.test")).await.is_err());
        assert!(f.dir.may_send_as(&a("bob@b.test"), &a("bob@b.test")).await.is_err());
        f.slapd.restart();
        assert!(f.dir.mailbox(&a("bob@b.test")).await.unwrap().is_some(), "recovered without a restart");
        for (pw, want) in [
            ("bobpass", Verdict::Accepted(a("bob@b.test"))),
            ("wrong", Verdict::Rejected(Rejection::WrongPassword)),
            ("bobpass", Verdict::Accepted(a("bob@b.test"))),
        ] {
            assert_eq!(
                f.dir.authenticate("bob@b.test", &Secret::new(pw)).await,
                Ok(want),
                "auth_bind={auth_bind}"
            );
        }
    }
}

#[tokio::test]
async fn fail_over_to_the_second_uri() {
    let f = inet_org_person(|_| {});
    let dead = testsupport::net::free_port();
    let cfg = ldap_cfg(&f.slapd, f._vmail.path(), |l| {
        l.uris = vec![format!("ldap://127.0.0.1:{dead}"), f.slapd.uri()]
    });
    let d = Directory::open(&cfg).unwrap();
    assert!(d.mailbox(&a("bob@b.test")).await.unwrap().is_some());
    assert_eq!(
        d.authenticate("bob@b.test", &Secret::new("bobpass")).await,
        Ok(Verdict::Accepted(a("bob@b.test")))
    );
}

/// A test CA's certificate (PEM) and a server certificate it signed for `names`, with key.
struct TestPki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki(names: &[&str]) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names).unwrap().signed_by(&key, &issuer).unwrap();
    TestPki { ca_pem: ca.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

/// slapd with a certificate for 127.0.0.1 from one CA, the CA's file, and another CA's file
/// (in the directory returned last).
fn tls_fixture() -> (Fixture, std::path::PathBuf, std::path::PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let good = pki(&["127.0.0.1"]);
    let other = pki(&["127.0.0.1"]);
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert, &good.cert_pem).unwrap();
    std::fs::write(&key, &good.key_pem).unwrap();
    let slapd = Slapd::start_tls(&cert, &key);
    let ca = tmp.path().join("ca.pem");
    let wrong_ca = tmp.path().join("other-ca.pem");
    std::fs::write(&ca, &good.ca_pem).unwrap();
    std::fs::write(&wrong_ca, &other.ca_pem).unwrap();
    (inet_org_person_on(slapd, |_| {}), ca, wrong_ca, tmp)
}

fn path(p: &std::path::Path) -> config::OptionalPath {
    config::OptionalPath::new(p.display().to_string()).unwrap()
}

#[tokio::test]
async fn ldaps_and_starttls_verify_the_server_against_the_ca_file() {
    let (f, ca, wrong_ca, _pki) = tls_fixture();
    let ldaps = f.slapd.ldaps_uri();
    let open = |tweak: &dyn Fn(&mut config::Ldap)| {
        Directory::open(&ldap_cfg(&f.slapd, f._vmail.path(), |l| tweak(l))).unwrap()
    };
    let bob = || a("bob@b.test");
    let accepted = Ok(Verdict::Accepted(a("bob@b.test")));

    // Right CA: ldaps://, and ldap:// upgraded with StartTLS; userPassword and auth_bind.
    for (uri, starttls) in [(ldaps.clone(), false), (f.slapd.uri(), true)] {
        for auth_bind in [false, true] {
            let d = open(&|l| {
                l.uris = vec![uri.clone()];
                l.starttls = starttls;
                l.auth_bind = auth_bind;
                l.tls_ca_cert_file = path(&ca);
            });
            assert!(d.mailbox(&bob()).await.unwrap().is_some(), "{uri} starttls={starttls}");
            assert_eq!(d.authenticate("bob@b.test", &Secret::new("bobpass")).await, accepted, "{uri}");
            assert_eq!(
                d.authenticate("bob@b.test", &Secret::new("wrong")).await,
                Ok(Verdict::Rejected(Rejection::WrongPassword))
            );
        }
    }

    // A CA that did not sign the certificate, or the system's CAs (the default): every lookup
    // is unavailable, never "unknown user".
    for (uri, starttls) in [(ldaps.clone(), false), (f.slapd.uri(), true)] {
        for ca_file in [Some(&wrong_ca), None] {
            let d = open(&|l| {
                l.uris = vec![uri.clone()];
                l.starttls = starttls;
                l.auth_bind = true;
                if let Some(c) = ca_file {
                    l.tls_ca_cert_file = path(c);
                }
            });
            let e = d.mailbox(&bob()).await.unwrap_err();
            assert!(e.0.contains("LDAP connect"), "{e:?}");
            assert!(d.authenticate("bob@b.test", &Secret::new("bobpass")).await.is_err(), "{uri}");
            assert!(d.authenticate("nobody@b.test", &Secret::new("x")).await.is_err(), "{uri}");
            assert!(d.resolve(&bob()).await.is_err());
        }
    }

    // The name in the URI must be in the certificate (it names 127.0.0.1 only).
    let port = f.slapd.tls_port.unwrap();
    let d = open(&|l| {
        l.uris = vec![format!("ldaps://localhost:{port}")];
        l.tls_ca_cert_file = path(&ca);
    });
    assert!(d.mailbox(&bob()).await.is_err(), "a certificate for another name is refused");

    // tls_require_cert = never (or allow) accepts any certificate, as Dovecot does.
    for rc in [config::LdapRequireCert::Never, config::LdapRequireCert::Allow] {
        let d = open(&|l| {
            l.uris = vec![ldaps.clone()];
            l.tls_ca_cert_file = path(&wrong_ca);
            l.tls_require_cert = rc;
        });
        assert_eq!(d.authenticate("bob@b.test", &Secret::new("bobpass")).await, accepted, "{rc:?}");
    }

    // A CA file that cannot be read is a configuration error at start.
    let mut cfg = ldap_cfg(&f.slapd, f._vmail.path(), |l| l.uris = vec![ldaps.clone()]);
    cfg.ldap.tls_ca_cert_file = path(&_pki.path().join("missing.pem"));
    let e = Directory::open(&cfg).err().expect("a missing CA file is refused");
    assert!(e.0.contains("tls_ca_cert_file"), "{e:?}");
}
