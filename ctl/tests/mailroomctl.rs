//! mailroomctl as an admin runs it: the real binary, on SQLite and on MariaDB.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use testsupport::mariadb;

struct Ctl {
    env: Vec<(String, String)>,
    _tmp: tempfile::TempDir,
    _db: Option<mariadb::FreshDatabase>,
}

impl Ctl {
    fn sqlite() -> Ctl {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", tmp.path().join("state/mailroom.db").display());
        Ctl { env: vec![("MAILROOM_DATABASE_URL".into(), url)], _tmp: tmp, _db: None }
    }

    fn mariadb() -> Ctl {
        let db = mariadb::fresh_database();
        let ctl = Ctl {
            env: vec![("MAILROOM_DATABASE_URL".into(), db.url.clone())],
            _tmp: tempfile::tempdir().unwrap(),
            _db: Some(db),
        };
        ctl.ok(&["db", "migrate"], "");
        ctl
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailroomctl"))
            .args(args)
            .env_remove("MAILROOM_CONFIG")
            .env_remove("MAILROOM_DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Run and expect success; returns stdout.
    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run and expect exit `code`; returns stderr.
    fn fails(&self, args: &[&str], stdin: &str, code: i32) -> String {
        let out = self.run(args, stdin);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    }
}

fn admin_session(ctl: &Ctl) {
    ctl.ok(&["domain", "add", "Example.TEST"], "");
    ctl.ok(&["domain", "add", "other.test"], "");
    let e = ctl.fails(&["domain", "add", "example.test"], "", 1);
    assert!(e.contains("already exists") && e.lines().count() == 1, "{e}");
    assert!(ctl.fails(&["domain", "add", "bad..domain"], "", 1).contains("invalid domain"));

    ctl.ok(&["user", "add", "bob@example.test", "--quota", "1048576", "--name", "Bob"], "bobpass\n");
    ctl.ok(&["user", "add", "carol@example.test", "--password-stdin"], "carol pass\n");
    let e = ctl.fails(&["user", "add", "bob@example.test"], "x\n", 1);
    assert!(e.contains("already exists"), "{e}");
    assert!(ctl.fails(&["user", "add", "dan@nowhere.test"], "x\n", 1).contains("unknown domain"));
    assert!(ctl.fails(&["user", "add", "not-an-address"], "x\n", 1).contains("not an address"));
    assert!(ctl.fails(&["user", "add", "erin@example.test"], "\n", 1).contains("empty password"));

    let list = ctl.ok(&["user", "list", "example.test"], "");
    assert!(
        list.contains("bob@example.test") && list.contains("ARGON2ID") && list.contains("1048576"),
        "{list}"
    );
    assert!(!list.contains("$argon2"), "never print hashes: {list}");
    let show = ctl.ok(&["user", "show", "bob@example.test"], "");
    assert!(show.contains("maildir: example.test/bob/") && show.contains("name:    Bob"), "{show}");

    // auth test: 0 accepted, 1 rejected.
    assert!(ctl.ok(&["auth", "test", "bob@example.test"], "bobpass\n").contains("accepted"));
    ctl.ok(&["auth", "test", "carol@example.test"], "carol pass\n");
    ctl.fails(&["auth", "test", "bob@example.test"], "wrong\n", 1);
    ctl.fails(&["auth", "test", "nobody@example.test"], "bobpass\n", 1);

    ctl.ok(&["user", "passwd", "bob@example.test"], "newpass\n");
    ctl.fails(&["auth", "test", "bob@example.test"], "bobpass\n", 1);
    ctl.ok(&["auth", "test", "bob@example.test"], "newpass\n");

    ctl.ok(&["alias", "add", "sales@example.test", "bob@example.test", "carol@example.test"], "");
    ctl.ok(&["alias", "add", "@other.test", "bob@example.test"], "");
    assert!(
        ctl.fails(&["alias", "add", "x@nowhere.test", "bob@example.test"], "", 1).contains("unknown domain")
    );
    let aliases = ctl.ok(&["alias", "list"], "");
    assert!(aliases.contains("sales@example.test") && aliases.contains("@other.test"), "{aliases}");
    assert!(!aliases.contains("bob@example.test  yes  bob@example.test"), "self-aliases hidden: {aliases}");

    let lookup = ctl.ok(&["auth", "lookup", "Sales@example.test"], "");
    assert!(lookup.contains("mailbox: bob@example.test") && lookup.contains("mailbox: carol@example.test"));
    let lookup = ctl.ok(&["auth", "lookup", "bob+news@example.test"], "");
    assert!(lookup.contains("detail:  news") && lookup.contains("quota:   1048576 bytes"), "{lookup}");
    assert!(ctl.ok(&["auth", "lookup", "anyone@other.test"], "").contains("mailbox: bob@example.test"));
    ctl.fails(&["auth", "lookup", "nobody@example.test"], "", 1);
    ctl.fails(&["auth", "lookup", "bob@elsewhere.test"], "", 1);

    let domains = ctl.ok(&["domain", "list"], "");
    assert!(
        domains
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["example.test", "yes", "2", "3"])
    );
    assert!(ctl.fails(&["domain", "del", "example.test"], "", 1).contains("still has mailboxes"));
    ctl.ok(&["alias", "del", "sales@example.test"], "");
    assert!(ctl.fails(&["alias", "del", "bob@example.test"], "", 1).contains("user del"));
    ctl.ok(&["user", "del", "bob@example.test"], "");
    ctl.ok(&["user", "del", "carol@example.test"], "");
    ctl.fails(&["user", "del", "carol@example.test"], "", 1);
    ctl.ok(&["domain", "del", "example.test"], "");
    assert!(!ctl.ok(&["domain", "list"], "").contains("example.test"));

    // mailroom-web's (and postfixadmin's) admins.
    ctl.ok(&["admin", "add", "root@other.test", "--superadmin"], "root pass 1\n");
    ctl.ok(&["admin", "add", "boss@other.test", "--domain", "other.test"], "boss pass 1\n");
    assert!(ctl.fails(&["admin", "add", "x@other.test"], "x pass 12\n", 1).contains("--superadmin or"));
    assert!(
        ctl.fails(&["admin", "add", "y@other.test", "--domain", "none.test"], "y pass 12\n", 1)
            .contains("unknown domain")
    );
    assert!(
        ctl.fails(&["admin", "add", "boss@other.test", "--superadmin"], "z\n", 1).contains("already exists")
    );
    let admins = ctl.ok(&["admin", "list"], "");
    let rows: Vec<Vec<&str>> = admins.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows,
        [vec!["boss@other.test", "no", "yes", "other.test"], vec!["root@other.test", "yes", "yes"]],
        "{admins}"
    );
    assert!(!admins.contains("$argon2"), "never print hashes: {admins}");
    ctl.ok(&["admin", "passwd", "boss@other.test"], "boss pass 2\n");
    ctl.ok(&["admin", "del", "boss@other.test"], "");
    ctl.fails(&["admin", "del", "boss@other.test"], "", 1);
    assert!(!ctl.ok(&["admin", "list"], "").contains("boss@other.test"));
}

#[test]
fn admin_session_on_sqlite() {
    admin_session(&Ctl::sqlite());
}

#[test]
fn admin_session_on_mariadb() {
    admin_session(&Ctl::mariadb());
}

#[test]
fn pw_hash_and_verify_like_doveadm() {
    let ctl = Ctl::sqlite();
    for scheme in ["ARGON2ID", "SHA512-CRYPT", "MD5-CRYPT", "SSHA256", "PLAIN-MD5"] {
        let hash = ctl.ok(&["pw", "hash", "--scheme", scheme], "s3cret\n");
        let hash = hash.trim();
        assert!(hash.starts_with(&format!("{{{scheme}}}")), "{hash}");
        ctl.ok(&["pw", "verify", hash], "s3cret\n");
        ctl.fails(&["pw", "verify", hash], "other\n", 1);
    }
    // Made by `openssl passwd -1 -salt abcdefgh bobpass`, as postfixadmin stores it.
    ctl.ok(&["pw", "verify", "$1$abcdefgh$EJYg0GZtAPbfJ.bigqr/n/"], "bobpass\n");
    ctl.fails(&["pw", "verify", "{NOPE}xyz"], "bobpass\n", 2);
    ctl.fails(&["pw", "hash", "--scheme", "NOPE"], "x\n", 1);
}

#[test]
fn database_down_is_a_temporary_failure() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let mut ctl = Ctl::sqlite();
    ctl.env = vec![("MAILROOM_DATABASE_URL".into(), format!("mysql://root@127.0.0.1:{port}/mailroom"))];
    ctl.fails(&["auth", "test", "bob@example.test"], "bobpass\n", 2);
    ctl.fails(&["auth", "lookup", "bob@example.test"], "", 2);
}

#[test]
fn check_names_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mailroom.toml");
    std::fs::write(&file, "[database]\nurl = \"sqlite:///tmp/x.db\"\nalias_dpeth = 3\n").unwrap();
    let ctl = Ctl::sqlite();
    let f = file.to_str().unwrap();
    let e = ctl.fails(&["--config", f, "check"], "", 1);
    assert!(e.contains(&format!("{f}:3: key `alias_dpeth`")), "{e}");

    std::fs::write(&file, "[database]\nurl = \"mysql://mail:hunter2@db1/mail\"\nalias_depth = 3\n").unwrap();
    let mut ctl = Ctl::sqlite();
    ctl.env.clear();
    let out = ctl.ok(&["--config", f, "check"], "");
    assert!(out.contains("alias_depth = 3") && out.contains("maildir_template = \"%d/%n/Maildir\""), "{out}");
    assert!(out.contains("mail:****@db1") && !out.contains("hunter2"), "{out}");
    assert!(ctl.fails(&["--config", "/nonexistent/mailroom.toml", "check"], "", 1).contains("No such file"));
}
