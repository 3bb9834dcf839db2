//! What the end-to-end tests share: `mailroomctl up --dir <tempdir>` as a real process (the
//! README's run command), its output in a file, the demo users' passwords, `mailroomctl
//! --config` against the running stack, real clients (swaks, Python), and the processes the
//! stack is made of, so a test can check that none is left after a stop.
//!
//! `up` listens on fixed ports (2525, 2587, ...), so the tests take [`exclusive`] first: only
//! one stack runs at a time in this test process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testsupport::bin;
use testsupport::process::{output_within, wait_timeout};

/// How long `up` may take to create its directory and start the daemons.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `up` may take to stop after SIGTERM (each daemon drains for at most 5 s).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client program may run.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// The daemons `up` starts.
pub const DAEMONS: [&str; 5] =
    ["mailroom-saslauthd", "mailroom-mda", "mailroom-mta", "mailroom-mra", "mailroom-web"];
/// What `up` prints when the stack answers.
const READY: &str = "mailroom is up";

/// One stack at a time: the ports are fixed.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running `mailroomctl up`.
pub struct Up {
    child: Option<Child>,
    /// `--dir`.
    pub dir: PathBuf,
    /// Its stdout and stderr.
    pub log: PathBuf,
    tmp: Option<tempfile::TempDir>,
}

impl Up {
    /// Build the binaries if needed, run `mailroomctl up --dir <tempdir>/data`, wait for it.
    pub fn start() -> Up {
        // up finds the daemons next to mailroomctl: make sure they are there and current.
        for d in DAEMONS {
            bin::path(d);
        }
        Up::launch(tempfile::tempdir().expect("tempdir"), "up.log")
    }

    /// Run `up` again on the same directory, after [`Up::terminate`]; a new log.
    pub fn restart(mut self) -> Up {
        assert!(self.child.is_none(), "terminate the first run before restarting");
        Up::launch(self.tmp.take().expect("the directory"), "up-again.log")
    }

    fn launch(tmp: tempfile::TempDir, log_name: &str) -> Up {
        let dir = tmp.path().join("data");
        let log = tmp.path().join(log_name);
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin::path("mailroomctl"))
            .arg("up")
            .arg("--dir")
            .arg(&dir)
            .env_remove("MAILROOM_CONFIG")
            .env_remove("MAILROOM_DATABASE_URL")
            .env_remove("MAILROOM_LOG")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("start mailroomctl up");
        let mut up = Up { child: Some(child), dir, log, tmp: Some(tmp) };
        up.wait_ready();
        up
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.output().lines().any(|l| l == READY) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait")) {
                panic!("mailroomctl up exited {status} before it was ready:\n{}", self.output());
            }
            assert!(Instant::now() < deadline, "mailroomctl up not ready:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything `up` printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `DIR/mailroom.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("mailroom.toml")
    }

    /// The self-signed certificate (PEM), to verify the servers against.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("tls/cert.pem")
    }

    /// A demo user's password, as `up` recorded (and printed) it.
    pub fn password(&self, address: &str) -> String {
        let users = std::fs::read_to_string(self.dir.join("demo-users.txt")).expect("demo-users.txt");
        let found = users.lines().find_map(|l| l.strip_prefix(address)?.strip_prefix(' '));
        let pw = found.unwrap_or_else(|| panic!("no password for {address} in:\n{users}")).to_string();
        assert!(self.output().contains(&pw), "up did not print the password of {address}");
        pw
    }

    /// `mailroomctl --config DIR/mailroom.toml ARGS` with `stdin`.
    pub fn ctl(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(bin::path("mailroomctl"))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("MAILROOM_DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mailroomctl");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        child.wait_with_output().expect("mailroomctl")
    }

    /// The pid of `mailroomctl up`.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, and wait for `up` to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
        wait_timeout(&mut child, STOP_TIMEOUT)
            .unwrap_or_else(|| panic!("mailroomctl up did not stop after SIGTERM:\n{}", self.output()))
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            if wait_timeout(&mut child, STOP_TIMEOUT).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A live (not zombie) process: its pid and argv.
#[derive(Debug, Clone)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Command line.
    pub argv: Vec<String>,
}

/// Every live process on the machine (from /proc).
pub fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(process)
        .collect()
}

fn process(pid: u32) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into())
        .collect();
    Some(Process { pid, ppid, argv })
}

/// Live processes whose command line names `path` (the daemons of one stack name its config).
pub fn processes_using(path: &Path) -> Vec<Process> {
    let path = path.display().to_string();
    processes().into_iter().filter(|p| p.argv.contains(&path)).collect()
}

/// Run a client program to completion (empty stdin) and return its output; panics after
/// `CLIENT_TIMEOUT`.
pub fn run(program: &str, args: &[&str]) -> Output {
    output_within(Command::new(program).args(args), b"", CLIENT_TIMEOUT)
}

/// stdout and stderr as text, for assertions and their messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// swaks on the submission port (2587) with STARTTLS and AUTH `mechanism` as `user`, plus
/// `more` arguments; swaks's output.
pub fn swaks(mechanism: &str, user: &str, password: &str, more: &[&str]) -> Output {
    let mut args = vec!["--server", "127.0.0.1", "--port", "2587", "--tls", "--auth", mechanism];
    args.extend(["--auth-user", user, "--auth-password", password]);
    args.extend_from_slice(more);
    run("swaks", &args)
}

/// swaks submitting `from` (with `password`, AUTH PLAIN) to `to`, with `subject` and `body`.
pub fn submit(from: &str, password: &str, to: &str, subject: &str, body: &str) -> Output {
    let header = format!("Subject: {subject}");
    swaks("PLAIN", from, password, &["--from", from, "--to", to, "--header", &header, "--body", body])
}

/// `python3 -c SCRIPT ARGS...`.
pub fn python(script: &str, args: &[&str]) -> Output {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    run("python3", &all)
}

/// imaplib over IMAPS (port 2993, the certificate verified against `cafile`): log in, wait
/// until INBOX holds a message whose Subject contains argv 5, print it whole.
pub const IMAP_FETCH: &str = r#"
import imaplib, ssl, sys, time
cafile, user, password, subject = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
imap = imaplib.IMAP4_SSL("127.0.0.1", 2993, ssl_context=ctx)
imap.login(user, password)
imap.select("INBOX")
deadline = time.monotonic() + 60
while True:
    typ, data = imap.search(None, "SUBJECT", '"%s"' % subject)
    ids = data[0].split()
    if ids:
        break
    if time.monotonic() > deadline:
        sys.exit("no message with subject %r in %s's INBOX" % (subject, user))
    time.sleep(0.1)
    imap.noop()
typ, data = imap.fetch(ids[-1], "(BODY[])")
sys.stdout.write(data[0][1].decode())
imap.logout()
"#;

/// poplib on port 2110 with STLS (the certificate verified): log in, print every message
/// whose Subject contains argv 4.
pub const POP3_FETCH: &str = r#"
import poplib, ssl, sys
cafile, user, password, subject = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
pop = poplib.POP3("127.0.0.1", 2110)
pop.stls(context=ctx)
pop.user(user)
pop.pass_(password)
count, _ = pop.stat()
for i in range(1, count + 1):
    text = b"\n".join(pop.retr(i)[1]).decode()
    if subject in text:
        sys.stdout.write(text + "\n")
pop.quit()
"#;
