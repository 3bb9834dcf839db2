//! What the mailroom-mra integration tests share: the daemon as a child process on free
//! loopback ports with a self-signed certificate, a database with users, a raw POP3 client,
//! Python poplib scripts, and delivery into a user's Maildir.
//!
//! Each test file is its own crate and uses a part of this module.
#![allow(dead_code)]

pub mod dovecot;
pub mod transcript;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use testsupport::net::free_port;
pub use testsupport::process::output_within;
#[allow(unused_imports)] // not every test binary waits
pub use testsupport::wait::{files, until as wait_until};
use testsupport::{Backend, TestDb};

/// How long the daemon may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a reply or a client program may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// bob@b.test's and carol@b.test's password.
pub const PASSWORD: &str = "pw";

/// A database with domain b.test and the mailboxes bob@ and carol@ (password `pw`).
pub async fn database() -> TestDb {
    let db = TestDb::new(Backend::Sqlite).await;
    db.sql("INSERT INTO domain (domain) VALUES ('b.test')").await;
    for user in ["bob", "carol"] {
        db.sql(&format!(
            "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
             ('{user}@b.test', '{{PLAIN}}{PASSWORD}', 'b.test/{user}/', 0, '{user}', 'b.test')"
        ))
        .await;
    }
    db
}

/// The Maildir of `user` (local part) in `db`.
pub fn maildir(db: &TestDb, user: &str) -> PathBuf {
    db.mail_root().join(format!("b.test/{user}/Maildir"))
}

/// Delivers a message with `subject` and `body` into `root` (INBOX) as mailroom-mda would.
pub fn deliver(root: &Path, subject: &str, body: &str) -> PathBuf {
    let md = mailstore::Maildir::new(root);
    let msg = format!("From: a@x.test\nTo: bob@b.test\nSubject: {subject}\n\n{body}");
    md.deliver(None, b"", &mut msg.as_bytes()).unwrap().path
}

/// A running `mailroom-mra`; SIGTERM on drop.
pub struct Mra {
    child: Child,
    /// POP3 port (STLS offered).
    pub pop3: u16,
    /// POP3-in-TLS port.
    pub pop3s: u16,
    /// IMAP port (STARTTLS offered).
    pub imap: u16,
    /// IMAP-in-TLS port.
    pub imaps: u16,
    /// ManageSieve port (STARTTLS offered).
    pub managesieve: u16,
    /// The certificate (PEM file).
    pub cert: PathBuf,
    /// The daemon's stderr (its log).
    pub stderr: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Mra {
    /// Starts the daemon as root with `auth = "direct"` and `extra` `[mra]` lines.
    pub fn start(db: &TestDb, extra: &str) -> Mra {
        Mra::start_as(db, "root", &format!("auth = \"direct\"\n{extra}"))
    }

    /// Starts the daemon switching to `user` after binding, with `extra` `[mra]` lines.
    pub fn start_as(db: &TestDb, user: &str, extra: &str) -> Mra {
        Mra::start_with_url(db, &db.cfg.url.0[0], user, extra)
    }

    /// Like [`Mra::start_as`] with another database URL (one that is down, say).
    pub fn start_with_url(db: &TestDb, url: &str, user: &str, extra: &str) -> Mra {
        let database = format!("url = \"{url}\"\nconnect_timeout = 1\n");
        Mra::start_with_database(&database, &db.mail_root(), user, extra)
    }

    /// Starts the daemon on the given `[database]` keys (tables such as `[database.ldap]` after
    /// them, as [`testsupport::ldap::Slapd::database_toml`] writes) with mail root `mail_root`.
    pub fn start_with_database(database: &str, mail_root: &Path, user: &str, extra: &str) -> Mra {
        let tmp = testsupport::postfix::reachable_tempdir();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = tmp.path().join("cert.pem");
        let key = tmp.path().join("key.pem");
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let (pop3, pop3s, imap, imaps) = (free_port(), free_port(), free_port(), free_port());
        let managesieve = free_port();
        let config = tmp.path().join("mailroom.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nmail_root = \"{}\"\n{database}\n\n\
                 [tls]\ncert = \"{}\"\nkey = \"{}\"\n\n\
                 [mra]\npop3_listen = [\"127.0.0.1:{pop3}\"]\npop3s_listen = [\"127.0.0.1:{pop3s}\"]\n\
                 imap_listen = [\"127.0.0.1:{imap}\"]\nimaps_listen = [\"127.0.0.1:{imaps}\"]\n\
                 managesieve_listen = [\"127.0.0.1:{managesieve}\"]\n\
                 user = \"{user}\"\nauth_failure_delay = 0\nlog_level = \"debug\"\n{extra}\n",
                mail_root.display(),
                cert.display(),
                key.display(),
            ),
        )
        .unwrap();
        let stderr = tmp.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_mailroom-mra"))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let m = Mra { child, pop3, pop3s, imap, imaps, managesieve, cert, stderr, _tmp: tmp };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", pop3)).is_err()
            || TcpStream::connect(("127.0.0.1", pop3s)).is_err()
            || TcpStream::connect(("127.0.0.1", imap)).is_err()
            || TcpStream::connect(("127.0.0.1", managesieve)).is_err()
        {
            assert!(Instant::now() < deadline, "mailroom-mra did not listen: {}", m.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (at most 20 s) for the daemon to exit; true if it did.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !self.is_running() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Whether the daemon is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Mra {
    fn drop(&mut self) {
        if !self.is_running() {
            return;
        }
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A line-by-line POP3 client on a plain TCP connection.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    /// Connects to 127.0.0.1:`port` and reads the greeting.
    pub fn connect(port: u16) -> (Client, String) {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        let mut c = Client { r: BufReader::new(s.try_clone().unwrap()), w: s };
        let greeting = c.line();
        (c, greeting)
    }

    /// One line, without CRLF ("<closed>" at end of input).
    pub fn line(&mut self) -> String {
        let mut l = Vec::new();
        match self.r.read_until(b'\n', &mut l) {
            Ok(0) => "<closed>".into(),
            Ok(_) => String::from_utf8_lossy(&l).trim_end_matches(['\r', '\n']).to_string(),
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    /// Sends `line` + CRLF and returns the one-line reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.line()
    }

    /// Sends `line` + CRLF and returns the status line and the multi-line body (unstuffed).
    pub fn multi(&mut self, line: &str) -> (String, Vec<String>) {
        let status = self.cmd(line);
        let mut body = Vec::new();
        if status.starts_with("+OK") {
            loop {
                let l = self.line();
                if l == "." || l == "<closed>" {
                    break;
                }
                body.push(l.strip_prefix('.').map(String::from).unwrap_or(l));
            }
        }
        (status, body)
    }

    /// USER/PASS; returns PASS's reply.
    pub fn login(&mut self, user: &str, password: &str) -> String {
        let r = self.cmd(&format!("USER {user}"));
        assert_eq!(r, "+OK", "USER {user}");
        self.cmd(&format!("PASS {password}"))
    }

    /// Reads everything until the server closes.
    pub fn rest(&mut self) -> String {
        let mut s = String::new();
        let _ = self.r.read_to_string(&mut s);
        s
    }
}

/// Runs a Python 3 script (stdlib only) with `args`; returns stdout, panics with stderr on
/// failure.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = output_within(Command::new("python3").arg("-c").arg(script).args(args), b"", REPLY_TIMEOUT);
    assert!(
        out.status.success(),
        "python3 failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Panic with an install hint unless `program` runs.
pub fn require(program: &str, args: &[&str], package: &str) {
    if let Err(e) = Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status() {
        panic!("cannot run {program} ({e}): apt-get install {package}");
    }
}

/// Whether we run as root.
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// The files in `dir` (none when it does not exist), by name, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// A raw IMAP client: tagged commands, every response line until the tagged one.
pub struct Imap {
    /// The connection, for raw lines.
    pub c: Client,
    /// The number in the last tag sent (`a<n>`).
    pub n: u32,
}

impl Imap {
    /// Connects; the client and the greeting.
    pub fn connect(port: u16) -> (Imap, String) {
        let (c, greeting) = Client::connect(port);
        (Imap { c, n: 0 }, greeting)
    }

    /// Connects and logs in as `user`@b.test (password `pw`).
    pub fn login(port: u16, user: &str) -> Imap {
        let (mut i, _) = Imap::connect(port);
        i.log_in(user);
        i
    }

    /// LOGIN as `user`@b.test, which must succeed.
    pub fn log_in(&mut self, user: &str) {
        let r = self.tagged(&format!("LOGIN {user}@b.test pw"));
        assert!(r.starts_with("OK "), "{r}");
    }

    /// Sends `cmd` with a fresh tag; returns every line, the tagged one last.
    pub fn cmd(&mut self, cmd: &str) -> Vec<String> {
        self.n += 1;
        let tag = format!("a{}", self.n);
        self.c.send(format!("{tag} {cmd}\r\n").as_bytes());
        self.until(&tag)
    }

    /// Sends raw bytes that end a command tagged `tag`; every line until its tagged one.
    pub fn raw(&mut self, tag: &str, bytes: &[u8]) -> Vec<String> {
        self.c.send(bytes);
        self.until(tag)
    }

    /// Every line until the one tagged `tag` (or the connection's end), that one last.
    pub fn until(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.c.line();
            let done = l.starts_with(&format!("{tag} ")) || l == "<closed>";
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    /// The tagged line of `cmd`, with its tag.
    pub fn status(&mut self, cmd: &str) -> String {
        self.cmd(cmd).pop().unwrap()
    }

    /// The tagged line of `cmd`, without the tag.
    pub fn tagged(&mut self, cmd: &str) -> String {
        let last = self.cmd(cmd).pop().unwrap();
        last.split_once(' ').map(|(_, r)| r.to_string()).unwrap_or(last)
    }

    /// The untagged lines of `cmd`, after checking it ended OK.
    pub fn ok(&mut self, cmd: &str) -> Vec<String> {
        let mut lines = self.cmd(cmd);
        let last = lines.pop().unwrap();
        assert!(last.contains(" OK"), "{cmd}: {last} after {lines:?}");
        lines
    }

    /// APPENDs `msg` to `mailbox` with a LITERAL+ literal; the tagged line.
    pub fn append(&mut self, mailbox: &str, msg: &str) -> String {
        self.n += 1;
        let tag = format!("a{}", self.n);
        let cmd = format!("{tag} APPEND {mailbox} {{{}+}}\r\n{msg}\r\n", msg.len());
        self.raw(&tag, cmd.as_bytes()).pop().unwrap()
    }
}
