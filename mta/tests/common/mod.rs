//! What the mailroom-mta integration tests share: the whole inbound stack as child processes
//! (mailroom-mta, mailroom-mda, mailroom-saslauthd) on one generated `mailroom.toml` with free
//! loopback ports, Unix sockets, spool and a self-signed certificate in a temporary directory;
//! a raw SMTP client; swaks and Python smtplib runners; `mailroomctl`; Maildir readers; kill -9
//! and restart.
//!
//! Every daemon runs as root (`user = "root"`), as the mda and saslauthd tests do. The other
//! packages' binaries come from [`testsupport::bin::path`] (built when missing or stale).
//!
//! Each test file is its own crate and uses a part of this module.
#![allow(dead_code)]

pub mod policy_host;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use testsupport::net::free_port;
pub use testsupport::process::output_within;
#[allow(unused_imports)] // not every test binary waits
pub use testsupport::wait::{files, until as wait_until};
use testsupport::{Backend, TestDb};

/// How long a daemon may take to listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a reply, a client program or a delivery may take.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// bob@b.test's and carol@b.test's password.
pub const PASSWORD: &str = "bobpass";

/// The directory every test starts from: domains b.test (mailboxes bob, carol, and full whose
/// quota of 1 byte is always exceeded; alias info@ → bob and carol) and c.test (catch-all →
/// carol), no relay domains.
pub const FIXTURES: &[&str] = &[
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO domain (domain) VALUES ('c.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('bob@b.test', '{PLAIN}bobpass', 'b.test/bob/', 0, 'bob', 'b.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('carol@b.test', '{PLAIN}bobpass', 'b.test/carol/', 0, 'carol', 'b.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('full@b.test', '{PLAIN}bobpass', 'b.test/full/', 1, 'full', 'b.test')",
    "INSERT INTO alias (address, goto, domain) VALUES ('info@b.test', 'bob@b.test,carol@b.test', 'b.test')",
    "INSERT INTO alias (address, goto, domain) VALUES ('@c.test', 'carol@b.test', 'c.test')",
];

/// A fresh database of `backend` with [`FIXTURES`].
pub async fn database(backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    for sql in FIXTURES {
        db.sql(sql).await;
    }
    db
}

/// A receiving side's database (SQLite): for each `(domain, user)`, the domain and the
/// mailbox `user@domain` with the password "x".
pub async fn receiving_db(mailboxes: &[(&str, &str)]) -> TestDb {
    let db = TestDb::new(Backend::Sqlite).await;
    for (domain, user) in mailboxes {
        db.sql(&format!("INSERT INTO domain (domain) VALUES ('{domain}')")).await;
        db.sql(&format!(
            "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
             ('{user}@{domain}', '{{PLAIN}}x', '{domain}/{user}/', 0, '{user}', '{domain}')"
        ))
        .await;
    }
    db
}

/// One message from bob@b.test to `to` through `stack`'s port 25.
pub fn send_from_bob(stack: &Stack, to: &str) {
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.b.test", 250);
    let body = format!("From: <bob@b.test>\r\nTo: <{to}>\r\nSubject: to {to}\r\n\r\nhello\r\n");
    let r = c.message("bob@b.test", &[to], &body).unwrap();
    assert_eq!(r.code, 250, "{}", r.text);
    c.expect("QUIT", 221);
}

/// How to start a [`Stack`]: `[mta]` and `[mda]` keys (TOML values) that replace or add to
/// the defaults, and which daemons to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// `[mta]` overrides: key → TOML value.
    pub mta: BTreeMap<String, String>,
    /// `[mda]` overrides.
    pub mda: BTreeMap<String, String>,
    /// Start mailroom-mda (else the LMTP socket stays absent until [`Stack::start_mda`]).
    pub with_mda: bool,
    /// Start mailroom-saslauthd (AUTH goes to it).
    pub with_saslauthd: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { mta: BTreeMap::new(), mda: BTreeMap::new(), with_mda: true, with_saslauthd: true }
    }
}

impl Options {
    /// Set `[mta] key = value` (value in TOML syntax: `"reject"`, `1024`, `["127.0.0.1/32"]`).
    pub fn mta(mut self, key: &str, value: &str) -> Self {
        self.mta.insert(key.into(), value.into());
        self
    }

    /// Set `[mda] key = value`.
    pub fn mda(mut self, key: &str, value: &str) -> Self {
        self.mda.insert(key.into(), value.into());
        self
    }

    /// Do not start mailroom-mda now.
    pub fn without_mda(mut self) -> Self {
        self.with_mda = false;
        self
    }
}

/// How much `sample` grew between two [`Stack::scrape`]s (absent counts as 0).
pub fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, sample: &str) -> f64 {
    after.get(sample).copied().unwrap_or(0.0) - before.get(sample).copied().unwrap_or(0.0)
}

/// One child daemon with its log.
pub struct Daemon {
    name: &'static str,
    exe: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn spawn(name: &'static str, exe: PathBuf, config: &Path, dir: &Path) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let mut d = Daemon { name, exe, config: config.to_path_buf(), log, child: None };
        d.respawn();
        d
    }

    fn respawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        // Appended: a restarted daemon's log follows the killed one's.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(&self.exe)
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.exe.display()));
        self.child = Some(child);
    }

    /// The daemon's output so far (all its runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panic with the log when the daemon has exited.
    fn assert_running(&mut self) {
        if let Some(c) = self.child.as_mut()
            && let Some(status) = c.try_wait().unwrap()
        {
            panic!("{} exited {status}:\n{}", self.name, self.log());
        }
    }

    /// SIGKILL and reap: no chance to clean up anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait (SIGKILL after 15 s).
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else { return };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Is the process running?
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The inbound stack on a database.
pub struct Stack {
    /// Temporary directory: config, sockets, spool, logs, certificate.
    pub dir: tempfile::TempDir,
    /// The generated configuration.
    pub config: PathBuf,
    /// `[database] url` (empty on LDAP).
    pub url: String,
    /// `[database] mail_root`.
    pub mail_root: PathBuf,
    /// Port 25 role.
    pub smtp: u16,
    /// Port 587 role (STARTTLS, AUTH).
    pub submission: u16,
    /// Port 465 role (implicit TLS).
    pub submissions: u16,
    /// mailroom-mta's metrics endpoint (GET /metrics).
    pub metrics: u16,
    /// `[mta] spool_dir`.
    pub spool: PathBuf,
    /// `[mta] submit_socket`.
    pub submit_socket: PathBuf,
    /// `[mta] control_socket`.
    pub control_socket: PathBuf,
    /// `[mda] lmtp_socket` (what `[mta] lmtp` points at unless overridden).
    pub lmtp_socket: PathBuf,
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// mailroom-mta.
    pub mta: Daemon,
    /// mailroom-mda, when started.
    pub mda: Option<Daemon>,
    /// mailroom-saslauthd, when started.
    pub saslauthd: Option<Daemon>,
    /// Holds the default relayhost's port, where connections are refused.
    _relay: Option<std::os::fd::OwnedFd>,
}

fn toml_str(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

impl Stack {
    /// Start on `db` with `opts`.
    pub fn start(db: &TestDb, opts: Options) -> Stack {
        Stack::start_on(&db.cfg.url.0[0], &db.mail_root(), opts)
    }

    /// Start on the database at `url` with mail root `mail_root`.
    pub fn start_on(url: &str, mail_root: &Path, opts: Options) -> Stack {
        let mut stack =
            Stack::start_with_database(&format!("url = \"{url}\"\nconnect_timeout = 1\n"), mail_root, opts);
        stack.url = url.to_string();
        stack
    }

    /// Start with the given `[database]` keys (tables such as `[database.ldap]` after them, as
    /// [`testsupport::ldap::Slapd::database_toml`] writes) and mail root `mail_root`.
    pub fn start_with_database(database: &str, mail_root: &Path, opts: Options) -> Stack {
        let dir = testsupport::postfix::reachable_tempdir();
        let d = dir.path();
        let ck = rcgen::generate_simple_self_signed(vec!["mx.b.test".to_string(), "localhost".to_string()])
            .unwrap();
        let cert = d.join("cert.pem");
        let key = d.join("key.pem");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let (smtp, submission, submissions, metrics) = (free_port(), free_port(), free_port(), free_port());
        let spool = d.join("spool");
        let submit_socket = d.join("run/submit");
        let control_socket = d.join("run/control");
        let lmtp_socket = d.join("run/lmtp");
        let sasl_run = d.join("sasl");

        let mut mta: BTreeMap<String, String> = [
            ("smtp_listen", format!("[\"127.0.0.1:{smtp}\"]")),
            ("submission_listen", format!("[\"127.0.0.1:{submission}\"]")),
            ("submissions_listen", format!("[\"127.0.0.1:{submissions}\"]")),
            ("metrics_listen", format!("[\"127.0.0.1:{metrics}\"]")),
            ("submit_socket", toml_str(&submit_socket)),
            ("control_socket", toml_str(&control_socket)),
            ("spool_dir", toml_str(&spool)),
            ("user", "\"root\"".into()),
            ("hostname", "\"mx.b.test\"".into()),
            ("lmtp", format!("\"unix:{}\"", lmtp_socket.display())),
            ("saslauthd_socket", toml_str(&sasl_run.join("mux"))),
            ("mynetworks", "[]".into()),
            // Nothing happens behind a test's back: retries and scans only when it asks.
            ("min_backoff", "3600".into()),
            ("max_backoff", "3600".into()),
            ("queue_run_delay", "3600".into()),
            ("shutdown_timeout", "5".into()),
            ("log_level", "\"info\"".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // Unless a test routes remote mail itself, relayed mail goes to a port nobody listens
        // on: it is deferred and stays queued (no DNS lookups of test domains).
        let mut relay = None;
        if !["relayhost", "smtp_port", "dns_servers"].iter().any(|k| opts.mta.contains_key(*k)) {
            // Held, not released: a released port can be handed to this stack's own listener.
            let (port, held) = testsupport::net::refusing_port();
            relay = Some(held);
            mta.insert("relayhost".into(), format!("\"[127.0.0.1]:{port}\""));
        }
        mta.extend(opts.mta.clone());
        let mut mda: BTreeMap<String, String> = [
            ("lmtp_socket", toml_str(&lmtp_socket)),
            ("lmtp_socket_mode", "\"0666\"".into()),
            ("user", "\"root\"".into()),
            ("hostname", "\"mda.b.test\"".into()),
            ("log_level", "\"info\"".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        mda.extend(opts.mda.clone());
        let section =
            |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>();
        let config = d.join("mailroom.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nmail_root = {}\n{database}\n\n\
                 [tls]\ncert = {}\nkey = {}\n\n\
                 [saslauthd]\nrun_dir = {}\nuser = \"root\"\nfailure_delay_ms = 50\n\
                 throttle_base_ms = 5\nthrottle_max_ms = 50\n\n\
                 [mda]\n{}\n[mta]\n{}",
                toml_str(mail_root),
                toml_str(&cert),
                toml_str(&key),
                toml_str(&sasl_run),
                section(&mda),
                section(&mta),
            ),
        )
        .unwrap();

        let saslauthd = opts.with_saslauthd.then(|| {
            let mut s = Daemon::spawn("saslauthd", testsupport::bin::path("mailroom-saslauthd"), &config, d);
            let mux = sasl_run.join("mux");
            wait_ready(&mut s, || UnixStream::connect(&mux).is_ok());
            s
        });
        let mta_daemon = Daemon::spawn("mta", PathBuf::from(env!("CARGO_BIN_EXE_mailroom-mta")), &config, d);
        let mut stack = Stack {
            dir,
            config,
            url: String::new(),
            mail_root: mail_root.to_path_buf(),
            smtp,
            submission,
            submissions,
            metrics,
            spool,
            submit_socket,
            control_socket,
            lmtp_socket,
            cert,
            mta: mta_daemon,
            mda: None,
            saslauthd,
            _relay: relay,
        };
        stack.wait_mta();
        if opts.with_mda {
            stack.start_mda();
        }
        stack
    }

    /// Start mailroom-mda (after [`Options::without_mda`] or [`Stack::kill9_mda`]).
    pub fn start_mda(&mut self) {
        match self.mda.as_mut() {
            Some(m) if m.child.is_some() => panic!("mailroom-mda already runs"),
            Some(m) => m.respawn(),
            None => {
                self.mda = Some(Daemon::spawn(
                    "mda",
                    testsupport::bin::path("mailroom-mda"),
                    &self.config,
                    self.dir.path(),
                ))
            }
        }
        let socket = self.lmtp_socket.clone();
        wait_ready(self.mda.as_mut().unwrap(), || UnixStream::connect(&socket).is_ok());
    }

    /// kill -9 mailroom-mda.
    pub fn kill9_mda(&mut self) {
        self.mda.as_mut().expect("mailroom-mda started").kill9();
    }

    /// Wait until the MTA answers on its ports and sockets.
    fn wait_mta(&mut self) {
        let (smtp, sub, subs) = (self.smtp, self.submission, self.submissions);
        let (submit, control) = (self.submit_socket.clone(), self.control_socket.clone());
        wait_ready(&mut self.mta, || {
            [smtp, sub, subs].iter().all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
                && UnixStream::connect(&submit).is_ok()
                && UnixStream::connect(&control).is_ok()
        });
    }

    /// kill -9 mailroom-mta: sessions, deliveries and unsynced writes die with it.
    pub fn kill9_mta(&mut self) {
        self.mta.kill9();
    }

    /// Start mailroom-mta again on the same configuration and spool.
    pub fn restart_mta(&mut self) {
        self.mta.stop();
        self.mta.respawn();
        self.wait_mta();
    }

    /// One scrape of mailroom-mta's `/metrics`: each sample as encoded (`name{k="v"}`) and
    /// its value.
    pub fn scrape(&self) -> BTreeMap<String, f64> {
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
        let response = String::from_utf8(read_all(s)).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect()
    }

    /// All the daemons' logs, for assertion messages.
    pub fn logs(&self) -> String {
        let mut s = format!("--- mta ---\n{}", self.mta.log());
        if let Some(m) = &self.mda {
            s += &format!("--- mda ---\n{}", m.log());
        }
        if let Some(m) = &self.saslauthd {
            s += &format!("--- saslauthd ---\n{}", m.log());
        }
        s
    }

    /// The Maildir of `user@b.test`.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.mail_root.join(format!("b.test/{user}/Maildir"))
    }

    /// The messages in `user@b.test`'s INBOX (new/ and cur/), by file name.
    pub fn messages(&self, user: &str) -> Vec<String> {
        messages_in(&self.maildir(user))
    }

    /// Wait until `user`'s INBOX holds at least `n` messages; return them.
    pub fn wait_messages(&self, user: &str, n: usize) -> Vec<String> {
        let ok = wait_until(TIMEOUT, || self.messages(user).len() >= n);
        let got = self.messages(user);
        assert!(ok, "{user}: {} message(s), want {n}\n{}\n{}", got.len(), self.queue_list(), self.logs());
        got
    }

    /// Messages in `queue/` (accepted, not finished).
    pub fn queued(&self) -> usize {
        files(&self.spool.join("queue")).len()
    }

    /// Wait until the queue is empty.
    pub fn wait_queue_empty(&self) {
        let ok = wait_until(TIMEOUT, || self.queued() == 0);
        assert!(ok, "queue not empty:\n{}\n{}", self.queue_list(), self.logs());
    }

    /// `mailroomctl --config CONFIG ARGS` with `stdin`.
    pub fn ctl(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut cmd = Command::new(testsupport::bin::path("mailroomctl"));
        cmd.arg("--config").arg(&self.config).args(args);
        output_within(&mut cmd, stdin, TIMEOUT)
    }

    /// `mailroomctl queue list` output (asserting success).
    pub fn queue_list(&self) -> String {
        let out = self.ctl(&["queue", "list"], b"");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "queue list: {}{}", text, String::from_utf8_lossy(&out.stderr));
        text
    }

    /// `mailroomctl queue flush`, asserting success.
    pub fn flush(&self) {
        let out = self.ctl(&["queue", "flush"], b"");
        assert!(out.status.success(), "queue flush: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// swaks against `port` with `args` (`--server`, `--port` and a timeout are added).
    pub fn swaks(&self, port: u16, args: &[&str]) -> Output {
        let mut cmd = Command::new("swaks");
        cmd.args(["--server", "127.0.0.1", "--port", &port.to_string(), "--timeout", "30"]).args(args);
        output_within(&mut cmd, b"", TIMEOUT)
    }

    /// Run Python smtplib ([`SMTPLIB`]) with `args`; returns its output lines.
    pub fn smtplib(&self, args: &[&str]) -> String {
        let script = self.dir.path().join("smtplib_client.py");
        if !script.exists() {
            std::fs::write(&script, SMTPLIB).unwrap();
        }
        let mut cmd = Command::new("python3");
        cmd.arg(&script).args(args);
        let out = output_within(&mut cmd, b"", TIMEOUT);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "python3 smtplib {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

/// An smtp-sink child, killed when dropped.
pub struct Sink(Child);

impl Sink {
    /// smtp-sink on `ip:port` with extra `flags` (`-r RCPT`: 4xx to RCPT; `-f RCPT`: 5xx).
    pub fn start(ip: &str, port: u16, flags: &[&str]) -> Sink {
        // As root it must be told whom to run as.
        let child = Command::new("smtp-sink")
            .args(["-u", "postfix"])
            .args(flags)
            .arg(format!("{ip}:{port}"))
            .arg("32")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink (Debian package postfix) must be installed");
        let up = wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((ip, port)).is_ok());
        assert!(up, "smtp-sink on {ip}:{port} did not start");
        Sink(child)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Poll `ready` until it holds; panic with the daemon's log if it exits or takes too long.
fn wait_ready(d: &mut Daemon, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + START_TIMEOUT;
    while !ready() {
        d.assert_running();
        assert!(Instant::now() < deadline, "{} did not get ready:\n{}", d.name, d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Python smtplib client. Arguments: PORT MODE USER PASSWORD FROM TO[,TO...] SUBJECT
/// [MAIL-OPTION,...], where MODE is `plain`, `starttls` or `ssl` and USER `-` means no AUTH. Prints one line per step:
/// `ehlo <auth advertised yes/no>`, `login <code>`, `send ok` or `refused <rcpt> <code>` or
/// `error <class> <code> <text>`.
pub const SMTPLIB: &str = r#"
import smtplib, ssl, sys
port, mode, user, password, sender, rcpts, subject = sys.argv[1:8]
mail_options = sys.argv[8].split(",") if len(sys.argv) > 8 else []
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    if mode == "ssl":
        s = smtplib.SMTP_SSL("127.0.0.1", int(port), context=ctx, timeout=30)
    else:
        s = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
    s.ehlo("client.example")
    if mode == "starttls":
        print("before-tls auth", "yes" if s.has_extn("auth") else "no")
        s.starttls(context=ctx)
        s.ehlo("client.example")
    print("ehlo auth", "yes" if s.has_extn("auth") else "no")
    if user != "-":
        code, _ = s.login(user, password)
        print("login", code)
    msg = "From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@client.example>\r\n\r\nbody of %s\r\n" % (
        sender, rcpts, subject, subject, subject)
    refused = s.sendmail(sender, rcpts.split(","), msg, mail_options)
    for r, (code, text) in refused.items():
        print("refused", r, code)
    print("send ok")
    s.quit()
except smtplib.SMTPRecipientsRefused as e:
    for r, (code, text) in e.recipients.items():
        print("error rcpt", code, text.decode(errors="replace"))
except smtplib.SMTPResponseException as e:
    print("error", type(e).__name__, e.smtp_code, e.smtp_error.decode(errors="replace"))
except smtplib.SMTPException as e:
    print("error", type(e).__name__, 0, e)
"#;

/// One SMTP reply: code and the text of all lines joined by newlines.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// Every line as received, without CRLF.
    pub text: String,
}

/// A plain (no TLS) SMTP client over a raw TCP socket, one command at a time.
pub struct Smtp {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Smtp {
    /// Connect without reading the greeting.
    pub fn connect_raw(port: u16) -> std::io::Result<Smtp> {
        Smtp::over(TcpStream::connect(("127.0.0.1", port))?)
    }

    /// Connect from `source` (every 127.0.0.0/8 address is the loopback's on Linux), to
    /// 127.0.0.1, without reading the greeting.
    pub fn connect_raw_from(source: std::net::Ipv4Addr, port: u16) -> std::io::Result<Smtp> {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket};
        use std::net::{Ipv4Addr, SocketAddrV4};
        use std::os::fd::AsRawFd;
        let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
        bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(source, 0)))?;
        connect(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)))?;
        Smtp::over(TcpStream::from(fd))
    }

    /// [`Smtp::connect_raw_from`], then the 220 greeting.
    pub fn connect_from(source: std::net::Ipv4Addr, port: u16) -> Smtp {
        let mut s = Smtp::connect_raw_from(source, port).unwrap();
        let g = s.reply().unwrap();
        assert_eq!(g.code, 220, "{source}: {g:?}");
        s
    }

    fn over(s: TcpStream) -> std::io::Result<Smtp> {
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        Ok(Smtp { r: BufReader::new(s.try_clone()?), w: s })
    }

    /// Connect and read the 220 greeting.
    pub fn connect(port: u16) -> Smtp {
        let mut s = Smtp::connect_raw(port).unwrap();
        let g = s.reply().unwrap();
        assert_eq!(g.code, 220, "{g:?}");
        s
    }

    /// Read one (possibly multi-line) reply.
    pub fn reply(&mut self) -> std::io::Result<Reply> {
        let mut text = String::new();
        loop {
            let mut l = String::new();
            if self.r.read_line(&mut l)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("closed after {text:?}"),
                ));
            }
            let l = l.trim_end_matches(['\r', '\n']);
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(l);
            if l.as_bytes().get(3) != Some(&b'-') {
                let code = l.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                return Ok(Reply { code, text });
            }
        }
    }

    /// Send raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes)
    }

    /// Send a command line and read its reply.
    pub fn cmd(&mut self, line: &str) -> std::io::Result<Reply> {
        self.send(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// `cmd`, asserting the reply code.
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        let r = self.cmd(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(r.code, code, "{line} -> {}", r.text);
        r
    }

    /// Whether the server has closed the connection (reads to EOF, within the read timeout).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.r.read_to_end(&mut rest) {
            Ok(_) => true,
            // Closed with our unread bytes in its buffer: a reset.
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// EHLO, MAIL, RCPTs (each must be 250), DATA with `body` (CRLF lines, dot-stuffed here),
    /// returning the reply to the final dot.
    pub fn message(&mut self, from: &str, to: &[&str], body: &str) -> std::io::Result<Reply> {
        let r = self.cmd(&format!("MAIL FROM:<{from}>"))?;
        if r.code != 250 {
            return Ok(r);
        }
        for t in to {
            let r = self.cmd(&format!("RCPT TO:<{t}>"))?;
            if r.code != 250 {
                return Ok(r);
            }
        }
        let r = self.cmd("DATA")?;
        if r.code != 354 {
            return Ok(r);
        }
        let mut data = String::new();
        for l in body.lines() {
            if l.starts_with('.') {
                data.push('.');
            }
            data.push_str(l);
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        self.send(data.as_bytes())?;
        self.reply()
    }
}

/// The messages (contents) in a Maildir's new/ and cur/.
pub fn messages_in(maildir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for f in files(&maildir.join(sub)) {
            if let Ok(bytes) = std::fs::read(&f) {
                out.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    out
}

/// stdout and stderr of an output, for messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The value of header `name` in `msg` (first occurrence, unfolded), if any.
pub fn header(msg: &str, name: &str) -> Option<String> {
    let head = msg.split("\n\n").next().unwrap_or("");
    let mut out: Option<String> = None;
    let mut in_it = false;
    for l in head.lines() {
        if l.starts_with([' ', '\t']) {
            if in_it {
                out.as_mut().unwrap().push_str(l);
            }
            continue;
        }
        if out.is_some() {
            break;
        }
        in_it = l.len() > name.len()
            && l[..name.len()].eq_ignore_ascii_case(name)
            && l.as_bytes()[name.len()] == b':';
        if in_it {
            out = Some(l[name.len() + 1..].trim().to_string());
        }
    }
    out
}

/// Read a reply-less stream to EOF (for a connection the server closes).
pub fn read_all(mut s: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    v
}
