//! A real Postfix authenticates MariaDB virtual users through mailroom-saslauthd, both ways
//! Postfix can ask: libsasl2's saslauthd client (`smtpd_sasl_type = cyrus`, `pwcheck_method:
//! saslauthd`, the `mux` socket) and the Dovecot auth protocol (`smtpd_sasl_type = dovecot`, the
//! `auth` socket). swaks is the SMTP client. Every failure message carries Postfix's log, the
//! daemon's log and swaks's transcript.

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use testsupport::postfix::{PostfixInstance, PostfixOptions, reachable_tempdir};
use testsupport::{Backend, TestDb};

const INSTALL_HINT: &str = "apt-get install postfix swaks libsasl2-modules sasl2-bin";

/// bob has a `{PLAIN}` password; carol's hash is from `doveadm pw -s SHA512-CRYPT -p carolpass`;
/// dave is inactive.
const FIXTURES: [&str; 3] = [
    "INSERT INTO domain (domain, active) VALUES ('b.test', 1)",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain, active) VALUES \
     ('bob@b.test', '{PLAIN}bobpass', 'b.test/bob/', 0, 'bob', 'b.test', 1), \
     ('carol@b.test', '{SHA512-CRYPT}$6$L466KYr2WZOD/Pe7$KsEMCj/HCSvuNS86bbW.22PJbUqKsO8T6qvYjtQGJLZTFx2WItEnkCr7CINjpH1LRPOZQqknjJ9KjMMIgW1gu/', 'b.test/carol/', 0, 'carol', 'b.test', 1), \
     ('dave@b.test', '{PLAIN}davepass', 'b.test/dave/', 0, 'dave', 'b.test', 0)",
    "INSERT INTO alias (address, goto, domain, active) VALUES \
     ('bob@b.test', 'bob@b.test', 'b.test', 1), \
     ('carol@b.test', 'carol@b.test', 'b.test', 1), \
     ('dave@b.test', 'dave@b.test', 'b.test', 1)",
];

/// How Postfix's smtpd asks for passwords.
#[derive(Clone, Copy, Debug)]
enum Sasl {
    /// libsasl2 with `pwcheck_method: saslauthd` on `<run_dir>/mux`.
    Cyrus,
    /// The Dovecot auth protocol on `<run_dir>/auth`, given as an absolute path.
    Dovecot,
}

/// A fresh MariaDB database with the fixtures; returns it (kept alive by the caller) and its URL.
async fn database() -> (TestDb, String) {
    let db = TestDb::new(Backend::MariaDb).await;
    for sql in FIXTURES {
        db.sql(sql).await;
    }
    let url = db.cfg.url.0[0].clone();
    (db, url)
}

/// Run a blocking scenario off the runtime, re-raising its panic with its own message.
async fn blocking(f: impl FnOnce() + Send + 'static) {
    if let Err(e) = tokio::task::spawn_blocking(f).await {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// mailroom-saslauthd as a child process; SIGKILLed on drop if still running.
struct Daemon {
    child: Option<Child>,
    run_dir: PathBuf,
    stderr: PathBuf,
}

impl Daemon {
    /// Start in `dir` (one Postfix's smtpd can traverse) with `extra` `[saslauthd]` lines,
    /// and wait until both sockets accept connections.
    fn start(db_url: &str, dir: &Path, extra: &str) -> Daemon {
        let run_dir = dir.join("saslauthd");
        let config = dir.join("mailroom.toml");
        fs::write(
            &config,
            format!(
                "[database]\nurl = {db_url:?}\n\n[saslauthd]\nrun_dir = {run_dir:?}\n\
                 user = \"root\"\nfailure_delay_ms = 50\nthrottle_base_ms = 10\nthrottle_max_ms = 200\n\
                 log_level = \"debug\"\n{extra}",
                run_dir = run_dir.display().to_string(),
            ),
        )
        .expect("writing the daemon's config");
        let stderr = dir.join("saslauthd.log");
        let child = Command::new(env!("CARGO_BIN_EXE_mailroom-saslauthd"))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("saslauthd.out")).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("starting mailroom-saslauthd");
        let mut daemon = Daemon { child: Some(child), run_dir, stderr };
        daemon.wait_ready();
        daemon
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let sockets = [self.run_dir.join("mux"), self.run_dir.join("auth")];
        while !sockets.iter().all(|s| UnixStream::connect(s).is_ok()) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mailroom-saslauthd exited {status} before listening:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "mailroom-saslauthd sockets never appeared:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        let text = fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("--- mailroom-saslauthd stderr ---\n{text}--- end of mailroom-saslauthd stderr ---")
    }

    /// SIGTERM and wait (bounded); the exit status, None if it had to be killed.
    fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A private Postfix asking a mailroom-saslauthd for passwords. Fields drop in order: the
/// daemon goes before its directory.
struct Stack {
    daemon: Daemon,
    postfix: PostfixInstance,
    _sockets: tempfile::TempDir,
}

impl Stack {
    /// The daemon with `extra` lines, then Postfix with SASL the `sasl` way (plus `main_cf`).
    /// The daemon comes first: smtpd opens the Dovecot-protocol socket before it greets.
    fn start(sasl: Sasl, db_url: &str, main_cf: &[(&str, &str)], extra: &str) -> Stack {
        let sockets = reachable_tempdir();
        let daemon = Daemon::start(db_url, sockets.path(), extra);
        let run_dir = daemon.run_dir.display().to_string();
        let mut opts = PostfixOptions::default().main("smtpd_sasl_auth_enable", "yes");
        opts = match sasl {
            Sasl::Cyrus => opts
                .main("smtpd_sasl_type", "cyrus")
                .main("smtpd_sasl_path", "smtpd")
                .main("cyrus_sasl_config_path", "{config_dir}/sasl")
                .file(
                    "sasl/smtpd.conf",
                    &format!(
                        "pwcheck_method: saslauthd\nmech_list: PLAIN LOGIN\nsaslauthd_path: {run_dir}/mux\n"
                    ),
                ),
            // Absolute: smtpd is not chrooted, and Postfix takes the path as it is.
            Sasl::Dovecot => {
                opts.main("smtpd_sasl_type", "dovecot").main("smtpd_sasl_path", &format!("{run_dir}/auth"))
            }
        };
        for (name, value) in main_cf {
            opts = opts.main(name, value);
        }
        let postfix = PostfixInstance::start(opts);
        Stack { daemon, postfix, _sockets: sockets }
    }

    /// Everything worth seeing when an assertion fails.
    fn diag(&self, transcript: &str) -> String {
        format!(
            "--- swaks ---\n{transcript}\n--- Postfix log ---\n{}--- end of Postfix log ---\n{}",
            self.postfix.log(),
            self.daemon.log()
        )
    }

    /// swaks: log in with `mech` and quit after AUTH, or after RCPT when `rcpt` is true (so
    /// that smtpd opens a queue file and logs `sasl_username=`). Exit code and transcript.
    fn swaks(&self, mech: &str, user: &str, password: &str, rcpt: bool) -> (Option<i32>, String) {
        let out = Command::new(swaks_path())
            .args(["--server", &format!("127.0.0.1:{}", self.postfix.port())])
            .args(["--helo", "client.test", "--timeout", "30"])
            .args(["--from", "bob@b.test", "--to", "someone@elsewhere.test"])
            .args(["--auth", mech, "--auth-user", user, "--auth-password", password])
            .args(["--quit-after", if rcpt { "RCPT" } else { "AUTH" }])
            .stdin(Stdio::null())
            .output()
            .expect("running swaks");
        let transcript =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code(), transcript)
    }

    /// Logging in must succeed: swaks exits 0 and the server said 235.
    fn accepts(&self, mech: &str, user: &str, password: &str) {
        let (code, transcript) = self.swaks(mech, user, password, false);
        assert!(
            code == Some(0) && transcript.contains("<-  235 "),
            "AUTH {mech} as {user} should succeed (swaks exit {code:?})\n{}",
            self.diag(&transcript)
        );
    }

    /// Logging in must fail: swaks exits non-zero and the server said 535.
    fn refuses(&self, mech: &str, user: &str, password: &str) {
        let (code, transcript) = self.swaks(mech, user, password, false);
        assert!(
            code != Some(0) && transcript.contains("<** 535 "),
            "AUTH {mech} as {user} should fail with 535 (swaks exit {code:?})\n{}",
            self.diag(&transcript)
        );
        assert!(!transcript.contains("<-  235 "), "{}", self.diag(&transcript));
    }

    /// Log in, give MAIL and RCPT, and check the name smtpd logged for the session.
    fn logs_sasl_username(&self, mech: &str, user: &str, password: &str, expected: &str) {
        let (code, transcript) = self.swaks(mech, user, password, true);
        assert_eq!(code, Some(0), "MAIL/RCPT after AUTH {mech} as {user}\n{}", self.diag(&transcript));
        let needle = format!("sasl_method={mech}, sasl_username={expected}");
        assert!(
            self.postfix.wait_for_log(&needle, Duration::from_secs(10)),
            "no {needle:?} in the log\n{}",
            self.diag(&transcript)
        );
    }

    /// Stop Postfix, then the daemon, which must exit 0. In this order, as on a real host: smtpd
    /// keeps its Dovecot-protocol connection open while idle, and the daemon would wait up to
    /// shutdown_timeout for it.
    fn finish(self) {
        let Stack { mut daemon, postfix, _sockets } = self;
        drop(postfix);
        let status = daemon.stop();
        assert!(
            status.is_some_and(|s| s.success()),
            "mailroom-saslauthd did not exit 0 on SIGTERM: {status:?}\n{}",
            daemon.log()
        );
    }
}

fn swaks_path() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/bin".into(), "/usr/local/bin".into()])
        .map(|d| d.join("swaks"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("swaks is not installed: {INSTALL_HINT}"))
}

/// The logins every way must get right: both mechanisms, a plain and a crypt hash, and the
/// three refusals (wrong password, unknown user, inactive user).
fn common_cases(stack: &Stack) {
    for mech in ["PLAIN", "LOGIN"] {
        stack.accepts(mech, "bob@b.test", "bobpass");
        stack.accepts(mech, "carol@b.test", "carolpass");
        stack.refuses(mech, "bob@b.test", "wrongpass");
        stack.refuses(mech, "carol@b.test", "bobpass");
        stack.refuses(mech, "nobody@b.test", "bobpass");
        stack.refuses(mech, "dave@b.test", "davepass");
    }
    // A success after failures: nothing sticks.
    stack.accepts("PLAIN", "bob@b.test", "bobpass");
}

/// libsasl2's saslauthd client splits `bob@b.test` at the last '@' into login "bob" and realm
/// "b.test"; the daemon joins them back (join_realm, the default), so the address just works.
#[tokio::test(flavor = "multi_thread")]
async fn cyrus_libsasl_authenticates_virtual_users() {
    let (_db, url) = database().await;
    blocking(move || {
        let stack = Stack::start(Sasl::Cyrus, &url, &[], "");
        common_cases(&stack);
        // libsasl reports the name the client gave, whole.
        stack.logs_sasl_username("PLAIN", "bob@b.test", "bobpass", "bob@b.test");
        stack.finish();
    })
    .await;
}

/// Proof that the split happens: with join_realm off the daemon sees only "bob" (and the realm
/// beside it) and refuses what succeeds above.
#[tokio::test(flavor = "multi_thread")]
async fn cyrus_realm_split_is_joined_back() {
    let (_db, url) = database().await;
    blocking(move || {
        let stack = Stack::start(Sasl::Cyrus, &url, &[], "join_realm = false\n");
        stack.refuses("PLAIN", "bob@b.test", "bobpass");
        stack.refuses("LOGIN", "bob@b.test", "bobpass");
        let log = stack.daemon.log();
        assert!(
            log.contains("user=bob ") || log.contains("user=bob\t"),
            "the daemon saw another login:\n{log}"
        );
        stack.finish();
    })
    .await;
}

/// A bare login gets Postfix's smtpd_sasl_local_domain as its realm, which the daemon joins.
#[tokio::test(flavor = "multi_thread")]
async fn cyrus_bare_login_takes_the_local_domain() {
    let (_db, url) = database().await;
    blocking(move || {
        let stack = Stack::start(Sasl::Cyrus, &url, &[("smtpd_sasl_local_domain", "b.test")], "");
        stack.accepts("PLAIN", "bob", "bobpass");
        stack.accepts("LOGIN", "carol", "carolpass");
        stack.refuses("PLAIN", "bob", "wrongpass");
        stack.accepts("PLAIN", "bob@b.test", "bobpass");
        stack.finish();
    })
    .await;
}

/// Postfix's own Dovecot client on the `auth` socket, at an absolute path.
#[tokio::test(flavor = "multi_thread")]
async fn dovecot_protocol_authenticates_virtual_users() {
    let (_db, url) = database().await;
    blocking(move || {
        let stack = Stack::start(Sasl::Dovecot, &url, &[], "");
        common_cases(&stack);
        // The name comes from our OK reply's user=.
        stack.logs_sasl_username("LOGIN", "bob@b.test", "bobpass", "bob@b.test");
        stack.finish();
    })
    .await;
}
