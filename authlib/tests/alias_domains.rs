//! postfixadmin's alias domains, written through authlib (what mailroom-web and mailroomctl
//! run) and read back by recipient resolution, on SQLite and on MariaDB.

use authlib::{AdminError, AliasDomainInfo, Target};
use proto::{Address, Domain};
use testsupport::{BACKENDS, TestDb};

fn a(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn d(s: &str) -> Domain {
    Domain::parse(s).unwrap()
}

/// Domains as postfixadmin has them: the alias domain has its own `domain` row.
async fn fixtures(db: &TestDb) {
    for sql in [
        "INSERT INTO domain (domain) VALUES ('target.test'), ('alias.test'), ('other.test'), ('third.test')",
        "INSERT INTO mailbox (username, password, maildir, local_part, domain) VALUES \
         ('bob@target.test', '{PLAIN}x', 'target.test/bob/', 'bob', 'target.test'), \
         ('carol@target.test', '{PLAIN}x', 'target.test/carol/', 'carol', 'target.test')",
        "INSERT INTO alias (address, goto, domain) VALUES \
         ('bob@target.test', 'bob@target.test', 'target.test'), \
         ('carol@target.test', 'carol@target.test', 'target.test'), \
         ('sales@target.test', 'bob@target.test', 'target.test'), \
         ('sales@alias.test', 'carol@target.test', 'alias.test'), \
         ('@target.test', 'carol@target.test', 'target.test')",
    ] {
        db.sql(sql).await;
    }
}

fn mailboxes(t: Option<Vec<Target>>) -> Vec<String> {
    t.unwrap_or_default()
        .into_iter()
        .map(|t| match t {
            Target::Local { mailbox, detail } => {
                format!("{}{}", mailbox.address, detail.map(|d| format!(" +{d}")).unwrap_or_default())
            }
            Target::Remote(r) => format!("remote:{r}"),
        })
        .collect()
}

fn refused(r: Result<(), AdminError>) -> String {
    match r {
        Err(AdminError::Refused(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn alias_domains_are_written_and_resolved() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        fixtures(&db).await;
        let dir = &db.dir;
        let resolve = async |s: &str| mailboxes(dir.resolve(&a(s)).await.unwrap());

        // Before: alias.test is a domain of its own, with no mailboxes.
        assert_eq!(dir.local_domain(&d("alias.test")).await.unwrap(), Some(d("alias.test")));
        assert_eq!(resolve("bob@alias.test").await, Vec::<String>::new());

        // postfixadmin's rules.
        let m = refused(dir.add_alias_domain(&d("alias.test"), &d("alias.test")).await);
        assert!(m.contains("itself"), "{m}");
        let m = refused(dir.add_alias_domain(&d("nowhere.test"), &d("target.test")).await);
        assert!(m.contains("unknown domain nowhere.test"), "{m}");
        let m = refused(dir.add_alias_domain(&d("alias.test"), &d("nowhere.test")).await);
        assert!(m.contains("unknown domain nowhere.test"), "{m}");
        dir.add_alias_domain(&d("alias.test"), &d("target.test")).await.unwrap();
        let m = refused(dir.add_alias_domain(&d("Alias.Test"), &d("other.test")).await);
        assert!(m.contains("already an alias domain"), "{m}");
        let m = refused(dir.add_alias_domain(&d("other.test"), &d("alias.test")).await);
        assert!(m.contains("no chains"), "{m}");
        let m = refused(dir.add_alias_domain(&d("target.test"), &d("third.test")).await);
        assert!(m.contains("no chains"), "{m}");
        dir.add_alias_domain(&d("other.test"), &d("target.test")).await.unwrap();

        let row = |alias: &str, active| AliasDomainInfo {
            alias_domain: alias.into(),
            target_domain: "target.test".into(),
            active,
        };
        assert_eq!(
            dir.list_alias_domains(Some(&d("target.test"))).await.unwrap(),
            [row("alias.test", true), row("other.test", true)]
        );
        assert_eq!(dir.list_alias_domains(Some(&d("alias.test"))).await.unwrap(), [row("alias.test", true)]);
        assert_eq!(dir.list_alias_domains(Some(&d("third.test"))).await.unwrap(), []);
        assert_eq!(dir.list_alias_domains(None).await.unwrap().len(), 2);

        // Mail to user@alias.test reaches user@target.test: mailboxes, subaddresses, aliases
        // and the target's catch-all; an alias row of the alias domain itself wins.
        assert_eq!(dir.local_domain(&d("alias.test")).await.unwrap(), Some(d("target.test")));
        assert_eq!(resolve("bob@alias.test").await, ["bob@target.test"]);
        assert_eq!(resolve("Bob+News@ALIAS.test").await, ["bob@target.test +news"]);
        assert_eq!(resolve("sales@other.test").await, ["bob@target.test"]);
        assert_eq!(resolve("sales@alias.test").await, ["carol@target.test"], "own alias row first");
        assert_eq!(resolve("anyone@alias.test").await, ["carol@target.test"], "target's catch-all");
        assert!(dir.may_send_as(&a("bob@target.test"), &a("bob@alias.test")).await.unwrap());

        // Inactive: the alias domain's addresses are its own again.
        dir.set_alias_domain_active(&d("alias.test"), false).await.unwrap();
        assert_eq!(dir.alias_domain(&d("alias.test")).await.unwrap(), Some(row("alias.test", false)));
        assert_eq!(dir.local_domain(&d("alias.test")).await.unwrap(), Some(d("alias.test")));
        assert_eq!(resolve("bob@alias.test").await, Vec::<String>::new());
        assert_eq!(resolve("sales@alias.test").await, ["carol@target.test"]);
        dir.set_alias_domain_active(&d("alias.test"), true).await.unwrap();
        assert_eq!(resolve("bob@alias.test").await, ["bob@target.test"]);

        // Deleted: the mapping goes, the domain row stays.
        dir.del_alias_domain(&d("alias.test")).await.unwrap();
        assert_eq!(dir.alias_domain(&d("alias.test")).await.unwrap(), None);
        assert_eq!(dir.local_domain(&d("alias.test")).await.unwrap(), Some(d("alias.test")));
        assert_eq!(resolve("bob@alias.test").await, Vec::<String>::new());
        let m = refused(dir.del_alias_domain(&d("alias.test")).await);
        assert!(m.contains("no such alias domain"), "{m}");
        let m = refused(dir.set_alias_domain_active(&d("alias.test"), true).await);
        assert!(m.contains("no such alias domain"), "{m}");

        // Deleting the target domain takes its alias-domain rows along.
        for sql in ["DELETE FROM alias WHERE domain = 'target.test'", "DELETE FROM mailbox"] {
            db.sql(sql).await;
        }
        dir.del_domain(&d("target.test")).await.unwrap();
        assert_eq!(dir.list_alias_domains(None).await.unwrap(), []);
        assert_eq!(dir.local_domain(&d("other.test")).await.unwrap(), Some(d("other.test")));
    }
}
