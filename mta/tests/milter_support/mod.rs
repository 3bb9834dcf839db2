//! Real mail filters from Debian as private child processes for the milter tests: rspamd (its
//! proxy worker in milter mode on a loopback port, the system's rules, maps and DNS cut off),
//! clamd with a signature database built here holding only the EICAR test string, and
//! clamav-milter on a Unix socket; spamd (local tests only) and spamass-milter; opendkim
//! verifying through its own resolver configuration. Each runs in its own process group in a
//! temporary directory and is killed with its children on drop.
#![allow(dead_code)]

use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use testsupport::net::free_port;
use testsupport::wait::until;

/// How long a filter may take to start (rspamd compiles its regular expressions first).
pub const FILTER_START: Duration = Duration::from_secs(120);

/// The GTUBE test string: every spam filter scores it as spam.
pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// The EICAR test file: every virus scanner that has its signature reports it.
pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A child process and its process group, killed on drop.
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Start `cmd` in a new process group, output into `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Proc {
        let out = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name: name.to_string(), child: Some(child), log: log.to_path_buf() }
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panic with the log when it has exited.
    pub fn assert_running(&mut self) {
        if let Some(c) = self.child.as_mut()
            && let Some(status) = c.try_wait().unwrap()
        {
            panic!("{} exited {status}:\n{}", self.name, self.log());
        }
    }

    /// SIGKILL to the whole group, then reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = c.wait();
        }
    }

    /// Wait until `ready`, panicking with the log when the process exits or time runs out.
    pub fn wait(&mut self, mut ready: impl FnMut() -> bool) {
        let ok = until(FILTER_START, || {
            self.assert_running();
            ready()
        });
        assert!(ok, "{} did not start:\n{}", self.name, self.log());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// rspamd with its milter proxy on `milter_port`.
pub struct Rspamd {
    /// The main process and its workers.
    pub proc: Proc,
    /// The proxy worker's port (`inet:127.0.0.1:PORT`).
    pub milter_port: u16,
    /// Its working directory.
    pub dir: tempfile::TempDir,
}

impl Rspamd {
    /// Start a private rspamd: the Debian configuration with every local override in a
    /// temporary directory, its own database, run and log directories, workers on free
    /// loopback ports, DNS pointed at a closed port (no map fetches, no RBL lookups).
    pub fn start() -> Rspamd {
        let dir = testsupport::postfix::reachable_tempdir();
        let d = dir.path();
        for sub in ["local/local.d", "local/override.d", "db", "run", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let (milter_port, normal, controller, dead) = (free_port(), free_port(), free_port(), free_port());
        let o = d.join("local/override.d");
        std::fs::write(
            o.join("worker-proxy.inc"),
            format!(
                "bind_socket = \"127.0.0.1:{milter_port}\";\nmilter = yes;\ntimeout = 120s;\n\
                 upstream \"local\" {{ default = yes; self_scan = yes; }}\ncount = 1;\n\
                 reject_message = \"Spam message rejected\";\n"
            ),
        )
        .unwrap();
        std::fs::write(
            o.join("worker-normal.inc"),
            format!("bind_socket = \"127.0.0.1:{normal}\";\ncount = 1;\n"),
        )
        .unwrap();
        std::fs::write(
            o.join("worker-controller.inc"),
            format!("bind_socket = \"127.0.0.1:{controller}\";\ncount = 1;\n"),
        )
        .unwrap();
        std::fs::write(
            d.join("local/local.d/options.inc"),
            format!("dns {{ nameserver = [\"127.0.0.1:{dead}\"]; timeout = 1s; retransmits = 1; }}\n"),
        )
        .unwrap();
        // rspamd refuses to run as root: its own user owns the directory.
        let _ = Command::new("chown").args(["-R", "_rspamd:_rspamd"]).arg(d).status();
        let var = |k: &str, sub: &str| format!("{k}={}", d.join(sub).display());
        let mut proc = Proc::spawn(
            "rspamd",
            Command::new("rspamd")
                .args(["-f", "-c", "/etc/rspamd/rspamd.conf", "-u", "_rspamd", "-g", "_rspamd"])
                .args(["--var", &var("LOCAL_CONFDIR", "local")])
                .args(["--var", &var("DBDIR", "db")])
                .args(["--var", &var("RUNDIR", "run")])
                .args(["--var", &var("LOGDIR", "log")]),
            &d.join("rspamd.out"),
        );
        // The proxy answers once the scanner behind it is up too.
        proc.wait(|| {
            TcpStream::connect(("127.0.0.1", milter_port)).is_ok()
                && TcpStream::connect(("127.0.0.1", normal)).is_ok()
        });
        Rspamd { proc, milter_port, dir }
    }

    /// `inet:127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("inet:127.0.0.1:{}", self.milter_port)
    }

    /// rspamd's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/rspamd.log")).unwrap_or_default() + &self.proc.log()
    }
}

/// clamd and clamav-milter.
pub struct Clamav {
    /// clamd.
    pub clamd: Proc,
    /// clamav-milter.
    pub milter: Proc,
    /// The milter's socket.
    pub socket: PathBuf,
    /// Working directory.
    pub dir: tempfile::TempDir,
}

impl Clamav {
    /// clamd on a database of one signature (the EICAR string, as a body pattern, `.ndb`)
    /// written here (no freshclam), and clamav-milter doing `on_infected` (`Reject`,
    /// `Quarantine`, ...) on a Unix socket.
    pub fn start(on_infected: &str) -> Clamav {
        let dir = testsupport::postfix::reachable_tempdir();
        let d = dir.path();
        std::fs::create_dir_all(d.join("db")).unwrap();
        let hex: String = EICAR.bytes().map(|b| format!("{b:02x}")).collect();
        std::fs::write(d.join("db/mailroom-test.ndb"), format!("Mailroom.Test.EICAR:0:*:{hex}\n")).unwrap();
        let clamd_sock = d.join("clamd.sock");
        let socket = d.join("milter.sock");
        std::fs::write(
            d.join("clamd.conf"),
            format!(
                "LocalSocket {}\nDatabaseDirectory {}\nForeground yes\nLogFile {}\nUser root\n",
                clamd_sock.display(),
                d.join("db").display(),
                d.join("clamd.log").display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("clamav-milter.conf"),
            format!(
                "MilterSocket unix:{}\nClamdSocket unix:{}\nForeground yes\nLogFile {}\nUser root\n\
                 OnInfected {on_infected}\nAddHeader Replace\nLogInfected Basic\n",
                socket.display(),
                clamd_sock.display(),
                d.join("clamav-milter.log").display()
            ),
        )
        .unwrap();
        let mut clamd = Proc::spawn(
            "clamd",
            Command::new("clamd").arg("-c").arg(d.join("clamd.conf")),
            &d.join("clamd.out"),
        );
        clamd.wait(|| UnixStream::connect(&clamd_sock).is_ok());
        let mut milter = Proc::spawn(
            "clamav-milter",
            Command::new("clamav-milter").arg("-c").arg(d.join("clamav-milter.conf")),
            &d.join("clamav-milter.out"),
        );
        milter.wait(|| UnixStream::connect(&socket).is_ok());
        Clamav { clamd, milter, socket, dir }
    }

    /// `unix:/path`.
    pub fn endpoint(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// Both logs.
    pub fn log(&self) -> String {
        let d = self.dir.path();
        ["clamd.log", "clamav-milter.log", "clamd.out", "clamav-milter.out"]
            .iter()
            .map(|f| std::fs::read_to_string(d.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// spamd and spamass-milter.
pub struct SpamAssassin {
    /// spamd.
    pub spamd: Proc,
    /// spamass-milter.
    pub milter: Proc,
    /// The milter's port.
    pub port: u16,
    /// Working directory.
    pub dir: tempfile::TempDir,
}

impl SpamAssassin {
    /// spamd with the rules Debian ships (local tests only: no DNS, no network) on a loopback
    /// port, and spamass-milter in front of it on another.
    pub fn start() -> SpamAssassin {
        SpamAssassin::start_with(&[])
    }

    /// [`SpamAssassin::start`] with more spamass-milter options (`-b bucket`, `-r score`).
    pub fn start_with(options: &[&str]) -> SpamAssassin {
        let dir = testsupport::postfix::reachable_tempdir();
        let d = dir.path();
        let (spamd_port, port) = (free_port(), free_port());
        let mut spamd = Proc::spawn(
            "spamd",
            Command::new("spamd")
                .args(["-L", "-x", "-m", "2", "--syslog=stderr", "-u", "nobody", "-A", "127.0.0.1"])
                .arg("-i")
                .arg(format!("127.0.0.1:{spamd_port}"))
                .arg("-r")
                .arg(d.join("spamd.pid")),
            &d.join("spamd.out"),
        );
        spamd.wait(|| TcpStream::connect(("127.0.0.1", spamd_port)).is_ok());
        let mut milter = Proc::spawn(
            "spamass-milter",
            Command::new("spamass-milter")
                .arg("-p")
                .arg(format!("inet:{port}@127.0.0.1"))
                .arg("-P")
                .arg(d.join("spamass-milter.pid"))
                .args(options)
                .args(["--", "-d", "127.0.0.1", "-p", &spamd_port.to_string()]),
            &d.join("spamass-milter.out"),
        );
        milter.wait(|| TcpStream::connect(("127.0.0.1", port)).is_ok());
        SpamAssassin { spamd, milter, port, dir }
    }

    /// `inet:127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("inet:127.0.0.1:{}", self.port)
    }

    /// Both outputs.
    pub fn log(&self) -> String {
        self.spamd.log() + &self.milter.log()
    }
}

/// opendkim as a verifying milter.
pub struct Opendkim {
    /// opendkim.
    pub proc: Proc,
    /// Its socket.
    pub socket: PathBuf,
    /// Working directory.
    pub dir: tempfile::TempDir,
}

impl Opendkim {
    /// opendkim in verify mode only (`Mode v`, no KeyTable, no signing) on a Unix socket,
    /// writing its results under `authserv_id`. Its resolver is Debian's libunbound, told by its
    /// own configuration file to ask the authoritative server at `dns` (`127.0.0.1:PORT`) for
    /// every name under `zone` (`test.`): unbound by default neither queries loopback addresses
    /// nor resolves the special-use `test.` (RFC 6761), so both are switched off here.
    pub fn start(authserv_id: &str, zone: &str, dns: &str) -> Opendkim {
        let dir = testsupport::postfix::reachable_tempdir();
        let d = dir.path();
        let socket = d.join("opendkim.sock");
        let unbound = d.join("unbound.conf");
        let (ip, port) = dns.split_once(':').expect("127.0.0.1:PORT");
        std::fs::write(
            &unbound,
            format!(
                "server:\n  do-not-query-localhost: no\n  do-ip6: no\n  local-zone: \"{zone}\" nodefault\n\
                 stub-zone:\n  name: \"{zone}\"\n  stub-addr: {ip}@{port}\n"
            ),
        )
        .unwrap();
        // The client (127.0.0.1) must not be an internal host: opendkim signs for those.
        std::fs::write(
            d.join("opendkim.conf"),
            format!(
                "Mode v\nSocket local:{}\nAuthservID {authserv_id}\nResolverConfiguration {}\n\
                 InternalHosts 192.0.2.0/24\nSyslog no\nPidFile {}\n",
                socket.display(),
                unbound.display(),
                d.join("opendkim.pid").display()
            ),
        )
        .unwrap();
        let mut proc = Proc::spawn(
            "opendkim",
            Command::new("opendkim").arg("-f").arg("-x").arg(d.join("opendkim.conf")),
            &d.join("opendkim.out"),
        );
        proc.wait(|| UnixStream::connect(&socket).is_ok());
        Opendkim { proc, socket, dir }
    }

    /// `unix:/path`.
    pub fn endpoint(&self) -> String {
        format!("unix:{}", self.socket.display())
    }
}

/// A message with a small attachment (base64), as a mail client writes it.
pub fn with_attachment(subject: &str, name: &str, content: &[u8]) -> String {
    use std::fmt::Write;
    let b64 = base64_lines(content);
    let mut m = String::new();
    write!(
        m,
        "From: a@remote.example\r\nTo: bob@b.test\r\nSubject: {subject}\r\nMessage-ID: <{name}@remote.example>\r\n\
         Date: Mon, 7 Dec 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n\
         see attachment\r\n--b1\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {b64}--b1--\r\n"
    )
    .unwrap();
    m
}

fn base64_lines(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.push_str("\r\n");
    out
}
