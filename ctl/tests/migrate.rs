//! `mailroomctl migrate` against the classic stack's layout, built in the test from the same
//! files the harness's setup-classic.sh writes (ctl/tests/data/migrate/, which it copies), on a
//! real MariaDB with the tutorial's postfixadmin tables and SHA512-CRYPT hashes made by
//! `doveadm pw`, with Maildirs written by Dovecot itself (`doveadm save`, `doveadm expunge`).
//! setup-classic.sh itself is not run: it needs root, installs packages and takes ports 25,
//! 587, 143 and 110 for the whole machine; this test takes free ports and a private database.
//!
//! `migrate config` writes a mailroom.toml that `mailroomctl check` accepts; mailroom-saslauthd,
//! mailroom-mda and mailroom-mra run on it (only the daemons' run-as users and the sockets'
//! owners are adjusted, as the test does not have the production accounts); a classic user
//! logs in over IMAP (Python imaplib) with the password the classic stack gave, receives mail
//! over LMTP (Python smtplib) and sees the UIDVALIDITY and UIDs Dovecot gave. The report flags
//! the planted after-queue content filter and carries the milter over; `migrate check` finds
//! a planted broken Maildir and an unknown hash scheme, and exits 0 once they are fixed;
//! `migrate plan` names the lines to change.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use testsupport::mariadb;
use testsupport::net::free_port;
use testsupport::wait;

const NOBODY: u32 = 65534;
const TIMEOUT: Duration = Duration::from_secs(30);

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/migrate")
}

fn ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailroomctl"))
        .args(args)
        .env_remove("MAILROOM_CONFIG")
        .env_remove("MAILROOM_DATABASE_URL")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The `mariadb` client on the test database, SQL on stdin.
fn sql(url: &str, statements: &str) {
    // mysql://user[:pass]@host:port/db
    let rest = url.split_once("://").unwrap().1;
    let (auth, hostdb) = rest.rsplit_once('@').unwrap();
    let (user, pass) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = hostdb.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let mut cmd = Command::new("mariadb");
    cmd.args(["-h", host, "-P", port, "-u", user, db]);
    if !pass.is_empty() {
        cmd.arg(format!("-p{pass}"));
    }
    let mut child = cmd.stdin(Stdio::piped()).spawn().expect("mariadb client (mariadb-client)");
    child.stdin.take().unwrap().write_all(statements.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "SQL failed: {statements}");
}

/// `doveadm pw -s SHA512-CRYPT`, as setup-classic.sh hashes its users.
fn doveadm_hash(password: &str) -> String {
    let o =
        Command::new("doveadm").args(["pw", "-s", "SHA512-CRYPT", "-p", password]).output().expect("doveadm");
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// Dovecot writes `user`'s Maildir: `doveadm save` for each message, as its own mail user.
fn dovecot_writes(dir: &Path, maildir: &Path, user: &str, messages: &[&str], expunge: Option<u32>) {
    let home = maildir.parent().unwrap();
    fs::create_dir_all(home).unwrap();
    for d in [home.parent().unwrap(), home] {
        chown(d, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let conf = dir.join(format!("doveadm-{user}.conf"));
    fs::write(
        &conf,
        format!(
            "base_dir = {d}/doveadm-run\nstate_dir = {d}/doveadm-state\nlog_path = {d}/doveadm.log\nssl = no\n\
             mail_location = maildir:{m}\nmail_uid = {NOBODY}\nmail_gid = {NOBODY}\nfirst_valid_uid = 0\n\
             namespace inbox {{\n  inbox = yes\n}}\n",
            d = dir.display(),
            m = maildir.display()
        ),
    )
    .unwrap();
    let doveadm = |args: &[&str], input: &str| {
        let mut child = Command::new("doveadm")
            .arg("-c")
            .arg(&conf)
            .args(args)
            .env("USER", user)
            .env("HOME", home)
            .current_dir(home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("doveadm (dovecot-core)");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "doveadm {args:?}: {}", text(&out));
    };
    for m in messages {
        doveadm(&["save"], m);
    }
    if let Some(uid) = expunge {
        doveadm(&["expunge", "mailbox", "INBOX", "uid", &uid.to_string()], "");
    }
}

/// The classic configuration copied into `classic/`, pointed at the test's database, Maildirs,
/// ports, certificate and socket directories.
struct Layout {
    postfix: PathBuf,
    dovecot: PathBuf,
    saslauthd: PathBuf,
    imap: u16,
}

fn copy_tree(from: &Path, to: &Path, edit: &dyn Fn(&str) -> String) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &dest, edit);
        } else {
            fs::write(&dest, edit(&fs::read_to_string(e.path()).unwrap())).unwrap();
        }
    }
}

fn layout(tmp: &Path, db_url: &str, vmail: &Path) -> Layout {
    let rest = db_url.split_once("://").unwrap().1;
    let (auth, hostdb) = rest.rsplit_once('@').unwrap();
    let (user, pass) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = hostdb.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let (imap, pop3) = (free_port(), free_port());
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    fs::write(tmp.join("cert.pem"), ck.cert.pem()).unwrap();
    fs::write(tmp.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let t = tmp.display().to_string();
    let v = vmail.display().to_string();
    let pass_kv = if pass.is_empty() { String::new() } else { format!(" password={pass}") };
    let edit = move |s: &str| -> String {
        s.replace(
            "host=127.0.0.1 dbname=mailpeer user=mailpeer password=mailpeer-db",
            &format!("host={host} port={port} dbname={db} user={user}{pass_kv}"),
        )
        .replace("user = mailpeer\n", &format!("user = {user}\n"))
        .replace(
            "password = mailpeer-db\n",
            &if pass.is_empty() { String::new() } else { format!("password = {pass}\n") },
        )
        .replace("hosts = 127.0.0.1\n", &format!("hosts = inet:{host}:{port}\n"))
        .replace("dbname = mailpeer\n", &format!("dbname = {db}\n"))
        .replace("/var/vmail", &v)
        .replace("/etc/dovecot/private/dovecot.pem", &format!("{t}/cert.pem"))
        .replace("/etc/dovecot/private/dovecot.key", &format!("{t}/key.pem"))
        .replace("/var/spool/postfix/private", &format!("{t}/private"))
        .replace("-m /run/saslauthd", &format!("-m {t}/saslauthd"))
        .replace("mail_uid = vmail", "mail_uid = nobody")
        .replace("mail_gid = vmail", "mail_gid = nogroup")
        .replace("listen = 127.0.0.1, ::1", "listen = 127.0.0.1")
        .replace("    user = postfix\n    group = postfix\n", "    user = root\n    group = root\n")
        .replace(
            "inet_listener imap {\n    port = 143\n  }",
            &format!(
                "inet_listener imap {{\n    port = {imap}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}"
            ),
        )
        .replace(
            "inet_listener pop3 {\n    port = 110\n  }",
            &format!(
                "inet_listener pop3 {{\n    port = {pop3}\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}"
            ),
        )
        .replace("inet_interfaces = loopback-only", "inet_interfaces = 127.0.0.1")
    };
    let classic = tmp.join("classic");
    copy_tree(&data().join("postfix"), &classic.join("postfix"), &edit);
    copy_tree(&data().join("dovecot"), &classic.join("dovecot"), &edit);
    fs::write(classic.join("saslauthd"), edit(&fs::read_to_string(data().join("saslauthd")).unwrap()))
        .unwrap();
    fs::create_dir_all(tmp.join("private")).unwrap();
    Layout {
        postfix: classic.join("postfix"),
        dovecot: classic.join("dovecot"),
        saslauthd: classic.join("saslauthd"),
        imap,
    }
}

/// A daemon started on the generated configuration; SIGTERM on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &str, config: &Path, dir: &Path) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(testsupport::bin::path(name))
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        if !wait::until(Duration::from_secs(10), || matches!(self.child.try_wait(), Ok(Some(_)))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

const IMAP: &str = r#"
import imaplib, json, re, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]), timeout=30)
m.login(sys.argv[2], sys.argv[3])
typ, _ = m.select("INBOX")
uidvalidity = int(m.response("UIDVALIDITY")[1][0])
typ, data = m.uid("FETCH", "1:*", "(UID)")
uids = [int(re.search(rb"UID (\d+)", d).group(1)) for d in data if d]
m.logout()
print(json.dumps({"uidvalidity": uidvalidity, "uids": uids}))
"#;

const LMTP: &str = r#"
import smtplib, sys
s = smtplib.LMTP(sys.argv[1])
s.sendmail("someone@example.org", [sys.argv[2]], "From: someone@example.org\r\nSubject: after the swap\r\n\r\nhello\r\n")
s.quit()
"#;

fn python(script: &str, args: &[&str]) -> String {
    let o = Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3");
    assert!(o.status.success(), "python: {}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn uidvalidity(maildir: &Path) -> u32 {
    let list = fs::read_to_string(maildir.join("dovecot-uidlist")).unwrap();
    let v = list.split(' ').find_map(|i| i.strip_prefix('V')).unwrap();
    v.parse().unwrap()
}

#[test]
fn classic_layout_migrates_and_serves_its_users() {
    let db = mariadb::fresh_database();
    let tmp = testsupport::postfix::reachable_tempdir();
    let vmail = tmp.path().join("vmail");
    fs::create_dir_all(&vmail).unwrap();
    chown(&vmail, Some(NOBODY), Some(NOBODY)).unwrap();

    // The tutorial's tables and users, as setup-classic.sh creates them, plus dave, whose
    // hash is in a scheme mailroom does not know.
    let schema = fs::read_to_string(data().join("schema.sql")).unwrap();
    let mut users = String::new();
    for (u, pw) in
        [("bob", "bobpass".to_string()), ("carol", "carolpass".to_string()), ("dave", String::new())]
    {
        let hash = if pw.is_empty() {
            "{NTLM}8846f7eaee8fb117ad06bdd830b7586c".to_string()
        } else {
            doveadm_hash(&pw)
        };
        users.push_str(&format!(
            "INSERT INTO mailbox (username, password, name, maildir, local_part, domain) \
             VALUES ('{u}@b.test', '{hash}', '{u}', 'b.test/{u}/Maildir/', '{u}', 'b.test');\n\
             INSERT INTO alias (address, goto, domain) VALUES ('{u}@b.test', '{u}@b.test', 'b.test');\n"
        ));
    }
    users.push_str(
        "INSERT INTO alias (address, goto, domain) VALUES ('postmaster@b.test', 'bob@b.test', 'b.test');\n",
    );
    sql(
        &db.url,
        &format!(
            "{schema}\nINSERT INTO domain (domain, description, transport) VALUES ('b.test', 'peer', 'virtual');\n{users}"
        ),
    );

    // Dovecot numbers bob's mail: UIDs 1 and 3 (2 expunged); carol's Maildir is broken.
    let bob = vmail.join("b.test/bob/Maildir");
    let msgs = [
        "From: a@x.test\nSubject: one\n\n1\n",
        "From: a@x.test\nSubject: two\n\n2\n",
        "From: a@x.test\nSubject: three\n\n3\n",
    ];
    dovecot_writes(tmp.path(), &bob, "bob@b.test", &msgs, Some(2));
    let carol = vmail.join("b.test/carol/Maildir");
    dovecot_writes(tmp.path(), &carol, "carol@b.test", &msgs[..1], None);
    let dovecot_uidvalidity = uidvalidity(&bob);

    let l = layout(tmp.path(), &db.url, &vmail);
    let config = tmp.path().join("mailroom.toml");
    let report = tmp.path().join("report.txt");
    let (pf, dc, sa) =
        (l.postfix.to_str().unwrap(), l.dovecot.to_str().unwrap(), l.saslauthd.to_str().unwrap());
    let cfg = config.to_str().unwrap();
    let o = ctl(&[
        "migrate",
        "config",
        "--postfix",
        pf,
        "--dovecot",
        dc,
        "--saslauthd",
        sa,
        "--output",
        cfg,
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let toml = fs::read_to_string(&config).unwrap();
    let o = ctl(&["--config", cfg, "check"]);
    assert!(o.status.success(), "mailroomctl check refuses the generated file: {}\n{toml}", text(&o));

    // The report flags the planted after-queue filter with its line, and the sasldb mechanism;
    // the milter is carried over.
    let report = fs::read_to_string(&report).unwrap();
    let filter = report.lines().find(|l| l.contains("content_filter")).unwrap_or_else(|| panic!("{report}"));
    assert!(filter.contains("main.cf:37") && filter.contains("as a milter"), "{filter}");
    let unsupported = report.split("\nunsupported:\n").nth(1).unwrap().split("\n\n").next().unwrap();
    assert!(unsupported.contains("content_filter") && unsupported.contains("MECHANISMS"), "{report}");
    assert!(!unsupported.contains("main.cf:35 smtpd_milters"), "{report}");
    assert!(toml.contains("smtpd_milters = [\"inet:127.0.0.1:8891\"]"), "{toml}");
    let o = ctl(&["migrate", "report", "--postfix", pf, "--dovecot", dc, "--saslauthd", sa, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["setting"] == "content_filter" && e["status"] == "unsupported")
    );

    // `migrate check` finds the unknown scheme and the broken Maildir, and nothing else.
    fs::write(carol.join("dovecot-uidlist"), "garbage header\n").unwrap();
    fs::remove_dir(carol.join("tmp")).unwrap();
    let o = ctl(&["--config", cfg, "migrate", "check"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 3, "{out}");
    assert!(errors.iter().any(|e| e.contains("dave@b.test") && e.contains("cannot verify")), "{out}");
    assert!(errors.iter().any(|e| e.contains("carol@b.test") && e.contains("dovecot-uidlist")), "{out}");
    assert!(errors.iter().any(|e| e.contains("carol@b.test") && e.contains("Maildir/tmp:")), "{out}");
    assert!(out.contains("SHA512-CRYPT 2") && out.contains("unknown 1"), "{out}");
    // Fixed, the swap is safe; the JSON lists bob's UIDVALIDITY as Dovecot wrote it.
    sql(&db.url, "UPDATE mailbox SET active = 0 WHERE username = 'dave@b.test';");
    fs::remove_file(carol.join("dovecot-uidlist")).unwrap();
    fs::create_dir(carol.join("tmp")).unwrap();
    chown(carol.join("tmp"), Some(NOBODY), Some(NOBODY)).unwrap();
    let o = ctl(&["--config", cfg, "migrate", "check", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        found["uidvalidity"][bob.display().to_string()],
        serde_json::json!([3, dovecot_uidvalidity]),
        "{found}"
    );

    // The plan names the exact lines.
    let o = ctl(&["--config", cfg, "migrate", "plan", "--postfix", pf, "--dovecot", dc, "--saslauthd", sa]);
    assert!(o.status.success(), "{}", text(&o));
    let plan = String::from_utf8_lossy(&o.stdout);
    let steps: Vec<&str> = plan.lines().filter(|l| l.starts_with("## Step")).collect();
    assert_eq!(steps.len(), 4, "{plan}");
    assert!(
        steps[0].contains("saslauthd")
            && steps[1].contains("mailroom-mda")
            && steps[2].contains("mailroom-mra")
            && steps[3].contains("mailroom-mta"),
        "{plan}"
    );
    assert!(plan.contains("main.cf:30: `smtpd_sasl_path = private/auth`"), "{plan}");
    // Only the smtpd that offers AUTH must leave its chroot to reach the socket.
    assert!(plan.contains("master.cf:35: service `submission`: chroot"), "{plan}");
    assert!(!plan.contains("master.cf:7: service"), "{plan}");
    assert!(
        plan.contains("dovecot.conf:3: `protocols = imap pop3 lmtp` -> `protocols = imap pop3`"),
        "{plan}"
    );

    // The daemons on the generated file: only who they run as is the test's.
    let run = toml
        .replace("[saslauthd]\n", "[saslauthd]\nuser = \"root\"\n")
        .replace("[mra]\n", "[mra]\nauth_failure_delay = 0\n");
    fs::write(&config, run).unwrap();
    let _saslauthd = Daemon::start("mailroom-saslauthd", &config, tmp.path());
    let mux = tmp.path().join("saslauthd/mux");
    assert!(wait::until(TIMEOUT, || mux.exists()), "{}", _saslauthd.log());
    let mda = Daemon::start("mailroom-mda", &config, tmp.path());
    let lmtp = tmp.path().join("private/dovecot-lmtp");
    assert!(wait::until(TIMEOUT, || lmtp.exists()), "{}", mda.log());
    let mra = Daemon::start("mailroom-mra", &config, tmp.path());
    assert!(
        wait::until(TIMEOUT, || std::net::TcpStream::connect(("127.0.0.1", l.imap)).is_ok()),
        "{}",
        mra.log()
    );

    // bob logs in with his classic password and sees Dovecot's UIDVALIDITY and UIDs.
    let imap = l.imap.to_string();
    let seen: serde_json::Value =
        serde_json::from_str(&python(IMAP, &[&imap, "bob@b.test", "bobpass"])).unwrap();
    assert_eq!(
        seen,
        serde_json::json!({"uidvalidity": dovecot_uidvalidity, "uids": [1, 3]}),
        "{}",
        mra.log()
    );
    // Mail arrives where Postfix delivers today (Dovecot's LMTP socket), and gets UID 4.
    python(LMTP, &[lmtp.to_str().unwrap(), "bob@b.test"]);
    let seen: serde_json::Value =
        serde_json::from_str(&python(IMAP, &[&imap, "bob@b.test", "bobpass"])).unwrap();
    assert_eq!(
        seen,
        serde_json::json!({"uidvalidity": dovecot_uidvalidity, "uids": [1, 3, 4]}),
        "{}\n{}",
        mda.log(),
        mra.log()
    );
    // carol too, with hers.
    let seen: serde_json::Value =
        serde_json::from_str(&python(IMAP, &[&imap, "carol@b.test", "carolpass"])).unwrap();
    assert_eq!(seen["uids"], serde_json::json!([1]), "{}", mra.log());
}
