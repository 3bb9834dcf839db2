//! One daemon of the try-out as a child process: started with the try-out's config, its log
//! lines printed with its name in front, "ready" when its sockets answer, stopped by SIGTERM.

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How often readiness and exits are checked.
pub const POLL: Duration = Duration::from_millis(50);
/// How long a child's remaining output may take to drain after it exited.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Something a ready daemon answers on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(std::net::SocketAddr),
}

impl Endpoint {
    /// Whether a connection is accepted now.
    fn answers(&self) -> bool {
        match self {
            Endpoint::Unix(p) => UnixStream::connect(p).is_ok(),
            Endpoint::Tcp(a) => TcpStream::connect(a).is_ok(),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// A running daemon.
pub struct Daemon {
    /// Its program name, e.g. `mailroom-mta`.
    pub name: &'static str,
    child: Child,
    output: Vec<JoinHandle<()>>,
}

/// The program next to our own executable (a build directory), else in the `sbin` beside our
/// `bin` (the Debian package puts mailroomctl in /usr/bin and the daemons in /usr/sbin, which
/// is not on a user's PATH), else the bare name for a PATH search.
fn program(name: &str) -> PathBuf {
    let me = std::env::current_exe().ok();
    let dir = me.as_deref().and_then(Path::parent);
    let beside = dir.map(|d| d.join(name));
    let sbin = dir.and_then(Path::parent).map(|p| p.join("sbin").join(name));
    [beside, sbin].into_iter().flatten().find(|p| p.is_file()).unwrap_or_else(|| PathBuf::from(name))
}

impl Daemon {
    /// Start `name --config config`; its output goes to our stdout prefixed with `tag`.
    pub fn spawn(name: &'static str, tag: &'static str, config: &Path) -> Result<Daemon> {
        let exe = program(name);
        let mut cmd = Command::new(&exe);
        cmd.arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Ours alone: no systemd sockets or notifications meant for us (under a unit),
            // and no config but the try-out's.
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("MAILROOM_CONFIG")
            // Its own process group: the terminal's Ctrl-C reaches only us, and we stop the
            // daemons in order.
            .process_group(0);
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| spawn_error(name, &exe, e))?;
        let output = [
            child.stdout.take().map(|o| tokio::spawn(relay(tag, o))),
            child.stderr.take().map(|e| tokio::spawn(relay(tag, e))),
        ];
        Ok(Daemon { name, child, output: output.into_iter().flatten().collect() })
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Result<Option<ExitStatus>> {
        self.child.try_wait().with_context(|| format!("waiting for {}", self.name))
    }

    /// Wait until every endpoint answers; fails when the daemon exits first or `timeout` passes.
    pub async fn ready(&mut self, endpoints: &[Endpoint], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited()? {
                self.drain().await;
                bail!("{} exited during startup ({status})", self.name);
            }
            let waiting: Vec<&Endpoint> = endpoints.iter().filter(|e| !e.answers()).collect();
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let list: Vec<String> = waiting.iter().map(|e| e.to_string()).collect();
                bail!("{} did not answer on {} within {timeout:?}", self.name, list.join(", "));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM, then wait up to `timeout` (SIGKILL after that); its output is printed to the
    /// end. The exit status, or `None` when it had already exited (and was reported then).
    pub async fn stop(mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if self.exited()?.is_some() {
            self.drain().await;
            return Ok(None);
        }
        // The child is not reaped until wait() below, so its pid cannot have been reused.
        if let Some(pid) = self.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        let status = match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                eprintln!("mailroomctl: {} did not stop within {timeout:?}; killing it", self.name);
                self.child.kill().await?;
                self.child.wait().await?
            }
        };
        self.drain().await;
        Ok(Some(status))
    }

    /// Let the output relays print what is left in the pipes.
    async fn drain(&mut self) {
        for task in self.output.drain(..) {
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, task).await;
        }
    }
}

/// If `mailroomctl up` dies without stopping them (SIGKILL), the kernel kills each daemon, so
/// none outlives it. SIGKILL, not SIGTERM: with us gone their stderr is a broken pipe, and a
/// daemon logging its shutdown there stops short (tracing-subscriber reports the failed write
/// with `eprintln!`, which panics), so it would run on; the daemons are crash-safe anyway.
fn die_with_parent(cmd: &mut Command) {
    let parent = nix::unistd::getpid();
    // SAFETY: prctl and getppid are async-signal-safe system calls; nothing is allocated.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The parent died before the prctl took effect: nobody would send it.
            if nix::unistd::getppid() != parent {
                return Err(io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
}

fn spawn_error(name: &str, exe: &Path, e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::NotFound {
        let me = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
        return anyhow!(
            "{name} not found next to {me}, in ../sbin or on PATH (in a source tree: `cargo build --bins`)"
        );
    }
    anyhow!("cannot start {}: {e}", exe.display())
}

/// Copy lines from a child's pipe to our stdout, each behind `tag | `. A failed write (our
/// reader went away) is ignored: the pipe is still drained, so the daemon never blocks on it.
async fn relay(tag: &'static str, pipe: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\r', '\n']);
                let _ = writeln!(std::io::stdout().lock(), "{tag:<9} | {text}");
            }
        }
    }
}
