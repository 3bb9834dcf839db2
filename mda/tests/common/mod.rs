//! What the mailroom-mda integration tests share: the daemon as a child process, an LMTP
//! client, the `deliver` command, and small polling helpers.
//!
//! Each test file is its own crate and uses a part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use testsupport::process::output_within;
#[allow(unused_imports)] // not every test binary waits
pub use testsupport::wait::{files, until as wait_until};
use testsupport::{Backend, TestDb};

/// How long the daemon may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the daemon may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the deliver command may take.
const DELIVER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an LMTP reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start [`Mda`].
#[derive(Debug, Clone)]
pub struct MdaOptions {
    /// `[mda] user`: the account the daemon switches to after binding.
    pub user: String,
    /// More `[mda]` lines.
    pub extra: String,
    /// `ulimit -f` in 512-byte blocks (RLIMIT_FSIZE, with SIGXFSZ ignored): every file the
    /// daemon writes, spool and Maildir alike, fails with EFBIG past it.
    pub file_size_blocks: Option<u64>,
}

impl Default for MdaOptions {
    fn default() -> Self {
        MdaOptions { user: "root".into(), extra: String::new(), file_size_blocks: None }
    }
}

/// A running `mailroom-mda` with its own config and LMTP socket; SIGTERM on drop.
///
/// Its directory (config, socket, log) is mode 0755 under a base every user can traverse, so
/// Postfix's `lmtp` client (user `postfix`) reaches the socket and the `deliver` command can
/// run as an unprivileged user.
pub struct Mda {
    child: Child,
    /// The LMTP socket.
    pub socket: PathBuf,
    /// The config file.
    pub config: PathBuf,
    /// The daemon's stderr (its log).
    pub stderr: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Mda {
    /// Start as root with `extra` `[mda]` lines.
    pub fn start(db: &TestDb, extra: &str) -> Mda {
        Mda::start_with(db, MdaOptions { extra: extra.into(), ..Default::default() })
    }

    /// Start with `opts`; returns once the LMTP socket accepts connections.
    pub fn start_with(db: &TestDb, opts: MdaOptions) -> Mda {
        let tmp = testsupport::postfix::reachable_tempdir();
        let socket = tmp.path().join("lmtp");
        let config = tmp.path().join("mailroom.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = \"{}\"\nmail_root = \"{}\"\nconnect_timeout = 1\n\n[mda]\nlmtp_socket = \"{}\"\n\
                 lmtp_socket_mode = \"0666\"\nuser = \"{}\"\nhostname = \"mda.test\"\nlog_level = \"debug\"\n{}\n",
                db.cfg.url.0[0],
                db.mail_root().display(),
                socket.display(),
                opts.user,
                opts.extra,
            ),
        )
        .unwrap();
        let stderr = tmp.path().join("stderr.log");
        let exe = env!("CARGO_BIN_EXE_mailroom-mda");
        let mut cmd = match opts.file_size_blocks {
            None => Command::new(exe),
            Some(blocks) => {
                // The shell execs the daemon, so the child's pid is the daemon's.
                let mut c = Command::new("/bin/sh");
                c.arg("-c").arg(format!("ulimit -f {blocks} && trap '' XFSZ && exec \"$0\" \"$@\"")).arg(exe);
                c
            }
        };
        let child = cmd
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let m = Mda { child, socket, config, stderr, _tmp: tmp };
        let deadline = Instant::now() + START_TIMEOUT;
        while UnixStream::connect(&m.socket).is_err() {
            assert!(Instant::now() < deadline, "no LMTP socket: {}", m.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Run `mailroom-mda deliver -f SENDER -a RCPT EXTRA...` with `msg` on stdin, as `uid`
    /// (with group `uid`) when given, like Postfix's pipe(8) with `user=`; returns the exit
    /// status and stderr.
    pub fn deliver(
        &self,
        uid: Option<u32>,
        sender: &str,
        rcpt: &str,
        extra: &[&str],
        msg: &str,
    ) -> (i32, String) {
        let exe = match uid {
            None => PathBuf::from(env!("CARGO_BIN_EXE_mailroom-mda")),
            Some(_) => self.reachable_exe(),
        };
        let mut cmd = Command::new(exe);
        cmd.arg("--config").arg(&self.config).args(["deliver", "-f", sender, "-a", rcpt]).args(extra);
        if let Some(uid) = uid {
            cmd.uid(uid).gid(uid).current_dir("/");
        }
        let out = output_within(&mut cmd, msg.as_bytes(), DELIVER_TIMEOUT);
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// A copy of the binary in the daemon's directory, for other users: the build tree may not
    /// be open to them. Copied by `cp`, so that no descriptor of ours open for writing can
    /// reach a child forked meanwhile and make the exec fail with "text file busy".
    fn reachable_exe(&self) -> PathBuf {
        let copy = self.socket.with_file_name("mailroom-mda");
        if !copy.exists() {
            let ok = Command::new("cp").arg(env!("CARGO_BIN_EXE_mailroom-mda")).arg(&copy).status();
            assert!(ok.is_ok_and(|s| s.success()), "cannot copy mailroom-mda to {}", copy.display());
        }
        copy
    }
}

impl Drop for Mda {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send an LMTP dialogue line by line, reading each reply; returns all reply lines.
/// `data_replies` is how many replies the final `.` gets (one per accepted recipient).
pub fn lmtp(socket: &Path, commands: &[&str], data_replies: usize) -> Vec<String> {
    let s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut out = Vec::new();
    let mut read_reply = |out: &mut Vec<String>| loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end().to_string();
        let last = l.as_bytes().get(3) != Some(&b'-');
        out.push(l);
        if last {
            break;
        }
    };
    read_reply(&mut out);
    let mut in_data = false;
    for c in commands {
        w.write_all(format!("{c}\r\n").as_bytes()).unwrap();
        let n = match (in_data, *c) {
            (true, ".") => data_replies,
            (true, _) => 0,
            _ => 1,
        };
        in_data = (in_data && *c != ".") || (*c == "DATA" && !in_data);
        for _ in 0..n {
            read_reply(&mut out);
        }
    }
    out
}

/// One message over LMTP from `sender` to `rcpts`: `body` is sent as it is, lines separated by
/// CRLF (dot-stuffed here). Returns the reply lines after the final dot, one per accepted
/// recipient, followed by nothing else; `accepted` is how many RCPTs should get 250.
pub fn lmtp_message(socket: &Path, sender: &str, rcpts: &[&str], accepted: usize, body: &str) -> Vec<String> {
    let mut commands = vec!["LHLO mx.test".to_string(), format!("MAIL FROM:<{sender}>")];
    commands.extend(rcpts.iter().map(|r| format!("RCPT TO:<{r}>")));
    commands.push("DATA".into());
    commands.extend(body.lines().map(|l| if l.starts_with('.') { format!(".{l}") } else { l.to_string() }));
    commands.push(".".into());
    commands.push("QUIT".into());
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    let replies = lmtp(socket, &commands, accepted);
    // Greeting, LHLO (multi-line), MAIL, RCPTs, DATA's 354, the per-recipient replies, QUIT.
    let after_data = replies.iter().position(|l| l.starts_with("354")).expect("DATA accepted");
    replies[after_data + 1..after_data + 1 + accepted].to_vec()
}

/// A fresh database with `fixtures` run in it.
pub async fn database(backend: Backend, fixtures: &[&str]) -> TestDb {
    let db = TestDb::new(backend).await;
    for sql in fixtures {
        db.sql(sql).await;
    }
    db
}

/// Whether we run as root.
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// Panic with an install hint unless `program` runs (`program args` exits, whatever its status).
pub fn require(program: &str, args: &[&str], package: &str) {
    if let Err(e) = Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status() {
        panic!("cannot run {program} ({e}): apt-get install {package}");
    }
}
