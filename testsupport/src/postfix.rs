//! A private Postfix for tests (DESIGN §7): the installed Debian Postfix, run as its own instance
//! from a temporary directory, with smtpd on a free port of 127.0.0.1.
//!
//! Everything the instance touches is its own: `config_directory`, `queue_directory`,
//! `data_directory` and the log file (`maillog_file`, through the `postlog` service) live in one
//! temporary directory, so any number of test processes can each run instances side by side. The
//! system's `/etc/postfix` is only read (it is Debian's `meta_directory`); no service runs
//! chrooted.
//!
//! Needs root (Postfix's daemons start as root and switch to `mail_owner`) and the packages
//! `postfix` and, for SASL, `libsasl2-modules`; there is no silent skip.
//!
//! Postfix's daemons run as user `postfix`: every socket they must reach (a saslauthd `mux`, a
//! Dovecot-protocol `auth` socket, an LMTP socket) needs a path that user can traverse. The
//! instance's directory and [`PostfixInstance::dir`] are mode 0755 under a world-traversable
//! temporary directory (`$TMPDIR` when every directory above it lets others through, else
//! `/tmp`), so sockets placed in [`PostfixInstance::dir`] are reachable.
//!
//! [`PostfixInstance`]'s `Drop` stops Postfix and removes the directory. If the test process dies
//! without unwinding (SIGKILL, `process::exit`), a small `sh` watchdog whose stdin is a pipe held
//! by the instance sees end-of-file and does the same, so no master process outlives its test.

use crate::process::wait_timeout;
use std::fs::{self, Permissions};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// The hint printed when a program is missing.
const INSTALL_HINT: &str = "apt-get install postfix swaks libsasl2-modules sasl2-bin";
/// How long `postfix start` may take (it runs `postfix check`, which walks the directories).
const START_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long smtpd may take to greet after `postfix start` returned.
const GREETING_TIMEOUT: Duration = Duration::from_secs(20);
/// How long Postfix's processes may take to exit after SIGTERM before they are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to find a free port: another process can take the port between our probe and the bind.
const PORT_ATTEMPTS: usize = 5;
/// Lines of the log shown in a panic message.
const LOG_TAIL_LINES: usize = 60;

/// The watchdog: waits on stdin; end-of-file (the test process is gone) makes it stop Postfix and
/// remove the directory, the line `done` (the instance cleaned up itself) makes it just exit.
/// Arguments: the queue directory (for the master's pid file), then the instance's directory.
const WATCHDOG: &str = r#"trap '' HUP INT QUIT TERM PIPE
read -r cmd
[ "$cmd" = done ] && exit 0
pid=$(sed -n '1s/[^0-9]//gp' "$1/pid/master.pid" 2>/dev/null)
if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null
    sleep 3
    kill -KILL -- "-$pid" 2>/dev/null
fi
rm -rf -- "$2"
"#;

/// What to add to the instance's configuration.
///
/// In every `main_cf` value, `master_cf` line and `files` content, these placeholders are replaced
/// before writing: `{dir}` ([`PostfixInstance::dir`]), `{config_dir}`, `{queue_dir}` and `{port}`.
#[derive(Debug, Clone, Default)]
pub struct PostfixOptions {
    /// main.cf parameters; one with the name of a default replaces it, others are appended.
    pub main_cf: Vec<(String, String)>,
    /// Files written into the config directory: (relative path, content), e.g.
    /// `("sasl/smtpd.conf", "pwcheck_method: saslauthd\n")`. Parent directories are created.
    pub files: Vec<(String, String)>,
    /// Extra master.cf lines (services, or `-o` continuation lines), appended to the defaults.
    pub master_cf: Vec<String>,
}

impl PostfixOptions {
    /// Add a main.cf parameter.
    pub fn main(mut self, name: &str, value: &str) -> Self {
        self.main_cf.push((name.to_string(), value.to_string()));
        self
    }

    /// Add a file in the config directory.
    pub fn file(mut self, path: &str, content: &str) -> Self {
        self.files.push((path.to_string(), content.to_string()));
        self
    }

    /// Add a master.cf line.
    pub fn master(mut self, line: &str) -> Self {
        self.master_cf.push(line.to_string());
        self
    }
}

/// A running private Postfix; stopped and removed on drop.
pub struct PostfixInstance {
    port: u16,
    root: PathBuf,
    config_dir: PathBuf,
    queue_dir: PathBuf,
    scratch: PathBuf,
    maillog: PathBuf,
    watchdog: Option<(Child, ChildStdin)>,
    tmp: Option<tempfile::TempDir>,
}

impl PostfixInstance {
    /// Write main.cf and master.cf, run `postfix -c DIR start` and wait for smtpd's 220 greeting;
    /// panics with the log's tail when Postfix does not come up.
    pub fn start(opts: PostfixOptions) -> PostfixInstance {
        let postfix = require_postfix();
        let tmp = new_tempdir("mailroom-postfix-");
        let root = tmp.path().to_path_buf();
        let mut inst = PostfixInstance {
            port: 0,
            config_dir: root.join("etc"),
            queue_dir: root.join("spool"),
            scratch: root.join("scratch"),
            maillog: root.join("maillog"),
            root,
            watchdog: None,
            tmp: Some(tmp),
        };
        for dir in [&inst.root, &inst.config_dir, &inst.queue_dir, &inst.scratch] {
            make_dir(dir);
        }
        inst.watchdog = Some(spawn_watchdog(&inst.queue_dir, &inst.root));
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            inst.port = crate::net::free_port();
            inst.write_config(&opts);
            match inst.run_start(&postfix) {
                Ok(()) => {
                    inst.wait_greeting();
                    return inst;
                }
                // Someone took the port between our probe and master's bind: try another.
                Err(e) if inst.log().contains("Address already in use") => {
                    failures.push(e);
                    inst.stop();
                    let _ = fs::remove_file(&inst.maillog);
                }
                Err(e) => panic!("{e}\n{}", inst.log_tail()),
            }
        }
        panic!("no free port for Postfix after {PORT_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    /// The smtpd port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `config_directory`: main.cf, master.cf and [`PostfixOptions::files`].
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// `queue_directory`; relative socket paths in main.cf (`private/auth`) resolve against it.
    pub fn queue_dir(&self) -> &Path {
        &self.queue_dir
    }

    /// A scratch directory (mode 0755, owned by root) whose contents Postfix's users can reach:
    /// the place for sockets Postfix connects to once running (an LMTP server, a saslauthd `mux`
    /// that libsasl opens at AUTH time). A socket smtpd needs before it greets must exist before
    /// [`start`](Self::start): use [`reachable_tempdir`] for it.
    pub fn dir(&self) -> &Path {
        &self.scratch
    }

    /// The whole Postfix log (`maillog_file`) so far; see [`wait_for_log`](Self::wait_for_log).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.maillog).unwrap_or_default()
    }

    /// Wait until the log contains `needle` (true) or `timeout` passes (false). Postfix's daemons
    /// log through postlogd, so a line shows up a moment after the event it reports.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pids of the live processes of this instance (master and its children).
    pub fn processes(&self) -> Vec<u32> {
        processes_of(&self.config_dir)
    }

    fn placeholders(&self, text: &str) -> String {
        text.replace("{dir}", &self.scratch.display().to_string())
            .replace("{config_dir}", &self.config_dir.display().to_string())
            .replace("{queue_dir}", &self.queue_dir.display().to_string())
            .replace("{port}", &self.port.to_string())
    }

    fn write_config(&self, opts: &PostfixOptions) {
        let mut main = self.default_main_cf();
        for (name, value) in &opts.main_cf {
            let value = self.placeholders(value);
            match main.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = value,
                None => main.push((name.clone(), value)),
            }
        }
        let main: String = main.iter().map(|(n, v)| format!("{n} = {v}\n")).collect();
        write_file(&self.config_dir.join("main.cf"), &main);
        let mut master = master_cf(self.port);
        for line in &opts.master_cf {
            master.push_str(&self.placeholders(line));
            master.push('\n');
        }
        write_file(&self.config_dir.join("master.cf"), &master);
        for (path, content) in &opts.files {
            assert!(
                Path::new(path).is_relative() && !path.split('/').any(|c| c == ".."),
                "PostfixOptions::files: {path:?} must be relative, without '..'"
            );
            let full = self.config_dir.join(path);
            let parent = full.parent().expect("a file has a parent");
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
            fs::set_permissions(parent, Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", parent.display()));
            write_file(&full, &self.placeholders(content));
        }
    }

    /// main.cf before the caller's parameters: private paths, loopback only, no local delivery,
    /// no DNS-dependent waits, fast retries.
    fn default_main_cf(&self) -> Vec<(String, String)> {
        let root = self.root.display().to_string();
        [
            ("compatibility_level", "3.6".to_string()),
            ("queue_directory", self.queue_dir.display().to_string()),
            // Not created by us: post-install creates it owned by mail_owner, mode 0700.
            ("data_directory", self.root.join("data").display().to_string()),
            ("maillog_file", self.maillog.display().to_string()),
            // The default (/var, /dev/stdout) makes every command die silently on our path.
            ("maillog_file_prefixes", root),
            ("inet_interfaces", "127.0.0.1".into()),
            ("inet_protocols", "ipv4".into()),
            ("myhostname", "mx.mailroom.test".into()),
            ("mydomain", "mailroom.test".into()),
            ("mydestination", String::new()),
            ("mynetworks", "127.0.0.0/8".into()),
            ("relay_domains", String::new()),
            ("alias_maps", String::new()),
            ("alias_database", String::new()),
            ("biff", "no".into()),
            ("append_dot_mydomain", "no".into()),
            // No reverse lookup of 127.0.0.1, no penalty sleeps for the failures tests provoke.
            ("smtpd_peername_lookup", "no".into()),
            ("smtpd_error_sleep_time", "0s".into()),
            ("smtpd_soft_error_limit", "100".into()),
            // Deferred mail (e.g. an LMTP server not yet listening) is retried within seconds.
            ("queue_run_delay", "1s".into()),
            ("minimal_backoff_time", "1s".into()),
            ("maximal_backoff_time", "2s".into()),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect()
    }

    /// `postfix -c DIR start`, output to a file: the master daemon it leaves behind must not hold
    /// a pipe of ours.
    fn run_start(&self, postfix: &Path) -> Result<(), String> {
        let out_path = self.root.join("postfix-start.out");
        let out = fs::File::create(&out_path).unwrap_or_else(|e| panic!("{}: {e}", out_path.display()));
        let err = out.try_clone().expect("dup");
        let mut child = Command::new(postfix)
            .arg("-c")
            .arg(&self.config_dir)
            .arg("start")
            .env_remove("MAIL_CONFIG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("running {}: {e}", postfix.display()));
        let status = wait_timeout(&mut child, START_COMMAND_TIMEOUT);
        let output = fs::read_to_string(&out_path).unwrap_or_default();
        match status {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(format!("postfix -c {} start: {s}\n{output}", self.config_dir.display())),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("postfix start did not finish within {START_COMMAND_TIMEOUT:?}\n{output}"))
            }
        }
    }

    /// Wait until smtpd answers with `220`, on one connection while it stays open: smtpd may
    /// take a moment to start, and master queues our connection meanwhile.
    fn wait_greeting(&self) {
        let deadline = Instant::now() + GREETING_TIMEOUT;
        let mut last = String::from("no answer");
        let mut conn: Option<BufReader<TcpStream>> = None;
        loop {
            let reader = match conn.as_mut() {
                Some(r) => r,
                None => match connect(self.port) {
                    Ok(stream) => conn.insert(BufReader::new(stream)),
                    Err(e) => {
                        last = e;
                        self.give_up_if_stuck(deadline, &last);
                        thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                },
            };
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => (last, conn) = ("connection closed before the greeting".into(), None),
                Ok(_) if line.starts_with("220") => {
                    let _ = reader.get_mut().write_all(b"QUIT\r\n");
                    return;
                }
                Ok(_) => (last, conn) = (format!("greeting {:?}", line.trim_end()), None),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => (last, conn) = (format!("reading the greeting: {e}"), None),
            }
            self.give_up_if_stuck(deadline, &last);
        }
    }

    /// Panic with the log when the deadline has passed or master has stopped starting smtpd
    /// (it throttles a daemon that dies at once, so waiting longer is no use).
    fn give_up_if_stuck(&self, deadline: Instant, last: &str) {
        let throttled = self.log().contains("bad command startup -- throttling");
        if throttled || Instant::now() >= deadline {
            let why = if throttled { "smtpd dies at startup" } else { "timed out" };
            panic!("Postfix on 127.0.0.1:{} did not greet ({why}): {last}\n{}", self.port, self.log_tail());
        }
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        format!("--- Postfix log {} (tail) ---\n{tail}\n--- end of Postfix log ---", self.maillog.display())
    }

    /// SIGTERM to the master (which terminates its children), wait for every process of the
    /// instance to go, SIGKILL what is left.
    fn stop(&self) {
        let pid_file = self.queue_dir.join("pid/master.pid");
        if let Ok(text) = fs::read_to_string(&pid_file)
            && let Ok(pid) = text.trim().parse::<u32>()
            && processes_of(&self.config_dir).contains(&pid)
        {
            signal("TERM", pid);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            let left = processes_of(&self.config_dir);
            if left.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                for pid in left {
                    signal("KILL", pid);
                }
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PostfixInstance {
    fn drop(&mut self) {
        self.stop();
        if let Some((mut child, mut stdin)) = self.watchdog.take() {
            let _ = stdin.write_all(b"done\n");
            drop(stdin);
            if wait_timeout(&mut child, STOP_TIMEOUT).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        drop(self.tmp.take());
    }
}

/// Pids of the live processes whose environment has `MAIL_CONFIG=<config_dir>`: Postfix's master
/// and every daemon it runs (the master's command line does not name its configuration).
pub fn processes_of(config_dir: &Path) -> Vec<u32> {
    let needle = format!("MAIL_CONFIG={}", config_dir.display());
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // A zombie's environ reads empty, so exited processes never match.
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

/// master.cf: the SMTP server on 127.0.0.1:`port` and the services it and the queue manager use;
/// nothing chrooted (column 5 `n`), so absolute socket paths work.
fn master_cf(port: u16) -> String {
    let services = [
        format!("127.0.0.1:{port} inet n - n - - smtpd"),
        "pickup    unix  n - n 60    1 pickup".into(),
        "cleanup   unix  n - n -     0 cleanup".into(),
        "qmgr      unix  n - n 300   1 qmgr".into(),
        "rewrite   unix  - - n -     - trivial-rewrite".into(),
        "bounce    unix  - - n -     0 bounce".into(),
        "defer     unix  - - n -     0 bounce".into(),
        "trace     unix  - - n -     0 bounce".into(),
        "verify    unix  - - n -     1 verify".into(),
        "flush     unix  n - n 1000? 0 flush".into(),
        "proxymap  unix  - - n -     - proxymap".into(),
        "proxywrite unix - - n -     1 proxymap".into(),
        "smtp      unix  - - n -     - smtp".into(),
        "relay     unix  - - n -     - smtp".into(),
        "showq     unix  n - n -     - showq".into(),
        "error     unix  - - n -     - error".into(),
        "retry     unix  - - n -     - error".into(),
        "discard   unix  - - n -     - discard".into(),
        "local     unix  - n n -     - local".into(),
        "virtual   unix  - n n -     - virtual".into(),
        "lmtp      unix  - - n -     - lmtp".into(),
        "anvil     unix  - - n -     1 anvil".into(),
        "scache    unix  - - n -     1 scache".into(),
        "postlog   unix-dgram n - n - 1 postlogd".into(),
    ];
    services.iter().map(|s| format!("{s}\n")).collect()
}

/// The `postfix` command, or a panic that says how to install it; also requires root.
fn require_postfix() -> PathBuf {
    let found = ["/usr/sbin/postfix", "/usr/local/sbin/postfix", "/sbin/postfix"]
        .iter()
        .map(PathBuf::from)
        .chain(
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).map(|d| d.join("postfix")).collect::<Vec<_>>()),
        )
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0));
    let Some(postfix) = found else {
        panic!("Postfix is not installed (no postfix command): {INSTALL_HINT}");
    };
    let root = fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or_else(|_| {
        Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
    });
    assert!(root, "a private Postfix needs root: its daemons start as root and switch to user postfix");
    postfix
}

/// A temporary directory, mode 0755, under a base every user can traverse (`$TMPDIR`, else
/// `/tmp`), with room left for Unix socket paths (108 bytes): the place for sockets Postfix must
/// reach that have to exist before [`PostfixInstance::start`], such as a Dovecot-protocol SASL
/// socket, which smtpd opens as each client connects, so before it greets.
pub fn reachable_tempdir() -> tempfile::TempDir {
    new_tempdir("mailroom-sockets-")
}

fn new_tempdir(prefix: &str) -> tempfile::TempDir {
    let mut base = std::env::temp_dir();
    if base.as_os_str().len() > 60 || !traversable(&base) {
        base = PathBuf::from("/tmp");
    }
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("creating a temporary directory in {}: {e}", base.display()));
    fs::set_permissions(tmp.path(), Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", tmp.path().display()));
    tmp
}

/// Whether `dir` and every directory above it let others search them.
fn traversable(dir: &Path) -> bool {
    dir.is_absolute()
        && dir.ancestors().all(|d| fs::metadata(d).is_ok_and(|m| m.is_dir() && m.mode() & 0o001 != 0))
}

/// A directory with mode 0755 whatever the umask.
fn make_dir(dir: &Path) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    fs::set_permissions(dir, Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
}

/// A file with mode 0644 whatever the umask (Postfix's daemons read some after dropping root),
/// dated a minute back: Postfix rereads a main.cf changed in the last seconds, 300 ms apart, until
/// it looks settled, which would add two seconds to every start.
fn write_file(path: &Path, content: &str) {
    fs::write(path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    fs::set_permissions(path, Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    let past = SystemTime::now() - Duration::from_secs(60);
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(past))
        .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", path.display()));
}

fn spawn_watchdog(queue_dir: &Path, root: &Path) -> (Child, ChildStdin) {
    let mut child = Command::new("/bin/sh")
        .args(["-c", WATCHDOG, "sh"])
        .arg(queue_dir)
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the Postfix watchdog (/bin/sh): {e}"));
    let stdin = child.stdin.take().expect("piped stdin");
    (child, stdin)
}

/// A connection to smtpd whose reads time out quickly, so the caller can check the log between.
fn connect(port: u16) -> Result<TcpStream, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    Ok(stream)
}

fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
