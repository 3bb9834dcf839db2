//! MariaDB for tests (DESIGN §7): the server named by `MAILROOM_TEST_MYSQL_URL`, else a private
//! `mariadbd` started from the installed binaries in a temporary directory; fresh databases on it.
//!
//! A private server is started through a small `sh` wrapper whose stdin is a pipe held by the test
//! process. Statics are never dropped and libtest runs tests on threads that exit, so no destructor
//! can be trusted to stop the server; the pipe, however, is closed by the kernel whenever the test
//! process ends (normally, by panic, by `process::exit` or by SIGKILL), and then the wrapper stops
//! `mariadbd` and, unless told to keep it, removes the server's directory.

use crate::process::wait_timeout;
use std::ffi::OsString;
use std::fs;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sqlx::mysql::MySqlConnection;
use sqlx::{Connection, Executor};

/// Environment variable naming an existing server: `mysql://user:pass@host:port`.
const URL_ENV: &str = "MAILROOM_TEST_MYSQL_URL";
/// How long a private server may take to accept a root login.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a private server may take to shut down before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the bootstrap (system tables) may take.
const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long any single statement from this module may take (connect included).
const SQL_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts to find a free port: another process can take the port between our probe and the bind.
const PORT_ATTEMPTS: usize = 5;

/// The wrapper that owns a private `mariadbd`. Arguments: the server directory, then the command.
/// It prints the server's pid, then waits on stdin: a line `keep` (sent by [`PrivateMariaDb::stop`])
/// or end-of-file (the test process is gone) makes it stop the server with SIGTERM; on end-of-file
/// it also removes the directory, since nobody is left to do it. Signals are ignored after the
/// server is started so that a Ctrl-C to the process group cannot kill the wrapper before the test
/// process and orphan the server: the wrapper always outlives the pipe's writer.
const WRAPPER: &str = r#"d=$1; shift
"$@" </dev/null >>"$d/mariadbd.out" 2>&1 &
m=$!
echo "$m"
trap '' HUP INT QUIT TERM PIPE
read -r cmd
kill -TERM "$m" 2>/dev/null
wait "$m"
[ "$cmd" = keep ] || rm -rf -- "$d"
"#;

/// The reaper of the per-process template directories (its arguments): removes them when the
/// test process is gone.
const REAPER: &str = r#"trap '' HUP INT QUIT TERM PIPE
read -r _
rm -rf -- "$@"
"#;

/// A MariaDB server for tests, shared by all tests of the process.
pub struct ServerInfo {
    /// Admin URL without a database: `mysql://root@127.0.0.1:PORT` for a private server.
    pub admin_url: String,
    /// True when this module started the server (false for `MAILROOM_TEST_MYSQL_URL`).
    pub private: bool,
    /// `SELECT VERSION()`; always contains "MariaDB".
    pub version: String,
}

/// The shared server: `MAILROOM_TEST_MYSQL_URL`, else a private `mariadbd` started once per process.
pub fn shared_server() -> &'static ServerInfo {
    // The Result is cached so that a failure costs one attempt per process, not one per test.
    static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
    match SHARED.get_or_init(start_shared) {
        Ok(shared) => &shared.info,
        Err(e) => panic!("no MariaDB server for tests: {e}"),
    }
}

/// What the static keeps alive: for a private server, the wrapper's stdin (see the module docs).
struct Shared {
    info: ServerInfo,
    _server: Option<Running>,
}

fn start_shared() -> Result<Shared, String> {
    if let Ok(url) = std::env::var(URL_ENV)
        && !url.trim().is_empty()
    {
        let url = url.trim().to_string();
        let (version, _) =
            block_on(identity(&url)).map_err(|e| format!("{URL_ENV}={}: {e}", redact(&url)))?;
        if !version.contains("MariaDB") {
            return Err(format!("{URL_ENV}={} is not MariaDB (version {version})", redact(&url)));
        }
        return Ok(Shared { info: ServerInfo { admin_url: url, private: false, version }, _server: None });
    }
    let inst = installation()?;
    let template = template()?;
    // The wrapper removes this directory when the process ends, so the TempDir must not.
    let dir = new_tempdir()?.keep();
    let layout = Layout { dir: dir.clone() };
    let started = copy_dir(template, &layout.datadir())
        .map_err(|e| format!("copying the template datadir to {}: {e}", dir.display()))
        .and_then(|()| launch(inst, &layout, None));
    match started {
        // mysqld may be MySQL's; the tests are about MariaDB.
        Ok((running, _, version)) if !version.contains("MariaDB") => {
            let _ = shutdown(running, false);
            Err(no_mariadb(&format!("{} is not MariaDB (version {version})", inst.mariadbd.display())))
        }
        Ok((running, port, version)) => Ok(Shared {
            info: ServerInfo { admin_url: root_url(port), private: true, version },
            _server: Some(running),
        }),
        Err(e) => {
            let _ = fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

/// A private server the test owns, for tests that stop and restart the database.
pub struct PrivateMariaDb {
    layout: Layout,
    port: u16,
    running: Option<Running>,
    // Removed after `Drop::drop` has stopped the server (fields drop after it).
    _dir: tempfile::TempDir,
}

impl PrivateMariaDb {
    /// Starts a server with a fresh datadir on a free port; panics with the error log if it fails.
    pub fn start() -> PrivateMariaDb {
        let inst = installation().unwrap_or_else(|e| panic!("cannot start a private mariadbd: {e}"));
        let template = template().unwrap_or_else(|e| panic!("cannot start a private mariadbd: {e}"));
        let dir = new_tempdir().unwrap_or_else(|e| panic!("{e}"));
        let layout = Layout { dir: dir.path().to_path_buf() };
        copy_dir(template, &layout.datadir())
            .unwrap_or_else(|e| panic!("copying the template datadir to {}: {e}", dir.path().display()));
        let (running, port, _version) =
            launch(inst, &layout, None).unwrap_or_else(|e| panic!("cannot start a private mariadbd: {e}"));
        PrivateMariaDb { layout, port, running: Some(running), _dir: dir }
    }

    /// Admin URL: `mysql://root@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        root_url(self.port)
    }

    /// The TCP port, the same across [`stop`](Self::stop) and [`start_again`](Self::start_again).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server cleanly (SIGTERM, SIGKILL after 30 s) and waits until the port refuses connections.
    pub fn stop(&mut self) {
        let Some(running) = self.running.take() else { return };
        if let Err(e) = shutdown(running, true) {
            panic!("stopping the private mariadbd on port {}: {e}", self.port);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while port_accepts(self.port) {
            if Instant::now() >= deadline {
                panic!("port {} still accepts connections after mariadbd stopped", self.port);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same port and datadir (stopping it first if it runs), and waits until ready.
    pub fn start_again(&mut self) {
        self.stop();
        let inst = installation().unwrap_or_else(|e| panic!("{e}"));
        let (running, _, _) = launch(inst, &self.layout, Some(self.port))
            .unwrap_or_else(|e| panic!("cannot restart the private mariadbd on port {}: {e}", self.port));
        self.running = Some(running);
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        // Never panic here: this may run while a failed test unwinds.
        if let Some(running) = self.running.take()
            && let Err(e) = shutdown(running, true)
        {
            eprintln!("warning: stopping the private mariadbd on port {}: {e}", self.port);
        }
    }
}

/// A fresh, empty database on the shared server; dropped (best effort) on Drop.
pub struct FreshDatabase {
    /// Database name, `mailroom_test_<pid>_<counter>_<random>`.
    pub name: String,
    /// The shared server's admin URL with this database selected.
    pub url: String,
    admin_url: String,
}

/// Creates a fresh database on [`shared_server`]; callable from any thread, inside a runtime too.
pub fn fresh_database() -> FreshDatabase {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let server = shared_server();
    // pid + counter are unique on one machine; the random part covers several machines sharing a server.
    let name = format!(
        "mailroom_test_{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let sql = format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci");
    if let Err(e) = block_on(execute(&server.admin_url, &sql)) {
        panic!("creating test database {name} on {}: {e}", redact(&server.admin_url));
    }
    FreshDatabase { url: with_database(&server.admin_url, &name), name, admin_url: server.admin_url.clone() }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        // A thread of its own, with its own runtime, so that dropping inside a (current-thread)
        // runtime works; bounded so a stuck server cannot hang the test; never panics.
        let (tx, rx) = mpsc::channel();
        let url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.name);
        let spawned = thread::Builder::new().name("drop-test-database".into()).spawn(move || {
            let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(execute(&url, &sql)),
                Err(e) => Err(format!("tokio runtime: {e}")),
            };
            let _ = tx.send(result);
        });
        let outcome = match spawned {
            Ok(_) => {
                rx.recv_timeout(SQL_TIMEOUT + Duration::from_secs(5)).unwrap_or_else(|e| Err(e.to_string()))
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = outcome {
            eprintln!("warning: dropping test database {}: {e}", self.name);
        }
    }
}

/// Where the installed MariaDB lives.
struct Installation {
    mariadbd: PathBuf,
    /// Directory holding `mysql_system_tables.sql` etc., for our own fast bootstrap.
    share: Option<PathBuf>,
    /// `mariadb-install-db`, the slower fallback when the SQL files are elsewhere.
    install_db: Option<PathBuf>,
    /// mariadbd refuses to run as root unless told `--user=root`.
    as_root: bool,
}

fn installation() -> Result<&'static Installation, String> {
    static INSTALLATION: OnceLock<Result<Installation, String>> = OnceLock::new();
    INSTALLATION.get_or_init(find_installation).as_ref().map_err(Clone::clone)
}

fn no_mariadb(what: &str) -> String {
    format!(
        "{what}. Install the MariaDB server binaries (`apt-get install mariadb-server`; a private \
         mariadbd is started in a temporary directory, the system service is not needed), or, except \
         for tests that stop and restart their own server, set \
         {URL_ENV}=mysql://USER:PASSWORD@HOST:PORT for a MariaDB account that may CREATE/DROP \
         DATABASE, CREATE USER and GRANT"
    )
}

fn find_installation() -> Result<Installation, String> {
    let mariadbd = find_program(&["mariadbd", "mysqld"])
        .ok_or_else(|| no_mariadb("no mariadbd binary was found (searched PATH, /usr/sbin, /usr/libexec)"))?;
    let mut shares = Vec::new();
    if let Some(prefix) = mariadbd.parent().and_then(Path::parent) {
        shares.push(prefix.join("share/mysql"));
        shares.push(prefix.join("share/mariadb"));
    }
    for dir in ["/usr/share/mysql", "/usr/share/mariadb", "/usr/local/share/mysql", "/usr/local/mysql/share"]
    {
        shares.push(PathBuf::from(dir));
    }
    let share = shares.into_iter().find(|d| {
        ["mysql_system_tables.sql", "mysql_system_tables_data.sql"].iter().all(|f| d.join(f).is_file())
    });
    let install_db = find_program(&["mariadb-install-db", "mysql_install_db"]);
    if share.is_none() && install_db.is_none() {
        return Err(no_mariadb(&format!(
            "{} exists but neither the system table SQL files nor mariadb-install-db were found",
            mariadbd.display()
        )));
    }
    Ok(Installation { mariadbd, share, install_db, as_root: running_as_root() })
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    // sbin and libexec are often not on a non-root PATH.
    for d in ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/libexec", "/usr/bin", "/usr/local/mysql/bin"] {
        dirs.push(PathBuf::from(d));
    }
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
}

fn running_as_root() -> bool {
    // /proc/self is owned by the effective uid; `id -u` covers systems without /proc.
    if let Ok(meta) = fs::metadata("/proc/self") {
        return meta.uid() == 0;
    }
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Options for both the bootstrap and the server: small and fast rather than durable against
/// power loss (a test server dies with its test; crashes of mariadbd itself lose nothing).
fn common_args(inst: &Installation, datadir: &Path, tmpdir: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--no-defaults".into()];
    if inst.as_root {
        args.push("--user=root".into());
    }
    args.push(opt("--datadir=", datadir));
    // Own tmpdir: at startup mariadbd deletes every `#sql*` file in its tmpdir, which in a shared
    // /tmp are the temporary tables of the other test servers running in parallel.
    args.push(opt("--tmpdir=", tmpdir));
    // `loose-` so that an option unknown to another MariaDB version is ignored, not fatal.
    for a in [
        "--lc-messages=en_US",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        "--loose-innodb-buffer-pool-size=16M",
        "--loose-innodb-log-file-size=8M",
        "--loose-innodb-log-buffer-size=2M",
        "--loose-innodb-autoextend-increment=1",
        "--loose-innodb-flush-log-at-trx-commit=2",
        "--loose-innodb-doublewrite=0",
        "--loose-innodb-flush-method=fsync",
        // Native AIO contexts are a machine-wide limit that parallel test servers can exhaust.
        "--loose-innodb-use-native-aio=0",
        "--loose-performance-schema=OFF",
        "--loose-key-buffer-size=1M",
        "--loose-aria-pagecache-buffer-size=8M",
        "--loose-sync-frm=0",
        "--skip-name-resolve",
    ] {
        args.push(a.into());
    }
    args
}

fn opt(name: &str, path: &Path) -> OsString {
    let mut s = OsString::from(name);
    s.push(path);
    s
}

/// The files of one private server.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn datadir(&self) -> PathBuf {
        self.dir.join("data")
    }
    fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }
    fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }
    fn tmpdir(&self) -> PathBuf {
        self.dir.join("tmp")
    }
}

fn new_tempdir() -> Result<tempfile::TempDir, String> {
    // A unix socket path must fit in 108 bytes; fall back to /tmp when TMPDIR is deep.
    let mut base = std::env::temp_dir();
    if base.as_os_str().len() > 60 {
        base = PathBuf::from("/tmp");
    }
    tempfile::Builder::new()
        .prefix("mailroom-mariadb-")
        .tempdir_in(&base)
        .map_err(|e| format!("creating a temporary directory in {}: {e}", base.display()))
}

/// The per-process template datadir with the system tables; every private server starts from a
/// copy, so the bootstrap (the slow part) runs once per process.
struct Template {
    datadir: PathBuf,
    _reaper: ChildStdin,
}

fn template() -> Result<&'static Path, String> {
    static TEMPLATE: OnceLock<Result<Template, String>> = OnceLock::new();
    match TEMPLATE.get_or_init(build_template) {
        Ok(t) => Ok(&t.datadir),
        Err(e) => Err(e.clone()),
    }
}

fn build_template() -> Result<Template, String> {
    let inst = installation()?;
    let dir = new_tempdir()?.keep();
    // The bootstrap is dominated by fsyncs (DDL log, Aria, InnoDB): on tmpfs it takes ~0.3 s instead
    // of 0.5-2 s on a busy disk. Only the bootstrap runs there; the result is copied to disk at once,
    // so /dev/shm (64 MB in a default container) holds it briefly.
    let shm = Path::new("/dev/shm")
        .is_dir()
        .then(|| tempfile::Builder::new().prefix("mailroom-mariadb-").tempdir_in("/dev/shm").ok())
        .flatten()
        .map(tempfile::TempDir::keep);
    let reaper = Command::new("/bin/sh")
        .args(["-c", REAPER, "mailroom-mariadb-reaper"])
        .arg(&dir)
        .args(&shm)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let remove_all = || {
        let _ = fs::remove_dir_all(&dir);
        if let Some(shm) = &shm {
            let _ = fs::remove_dir_all(shm);
        }
    };
    let mut reaper = match reaper {
        Ok(child) => child,
        Err(e) => {
            remove_all();
            return Err(format!("starting /bin/sh: {e}"));
        }
    };
    let reaper_stdin = reaper.stdin.take().expect("piped stdin");
    let datadir = dir.join("data");
    let on_tmpfs = shm.as_ref().is_some_and(|shm| {
        let fast = shm.join("data");
        let ok = bootstrap(inst, shm, &fast).is_ok() && copy_dir(&fast, &datadir).is_ok();
        let _ = fs::remove_dir_all(shm);
        ok
    });
    // On any tmpfs failure (full, noexec, ...) bootstrap on disk; its error is the one reported.
    let result = if on_tmpfs {
        Ok(())
    } else {
        let _ = fs::remove_dir_all(&datadir);
        bootstrap(inst, &dir, &datadir)
    };
    match result {
        Ok(()) => Ok(Template { datadir, _reaper: reaper_stdin }),
        Err(e) => {
            remove_all();
            Err(e)
        }
    }
}

/// Creates the system tables in `datadir`. Feeding the server only the system-table scripts takes
/// about a third of the time of `mariadb-install-db`, which also loads the help tables and the sys
/// schema; the script is the fallback when the SQL files are not where we look.
fn bootstrap(inst: &Installation, dir: &Path, datadir: &Path) -> Result<(), String> {
    let tmpdir = dir.join("tmp");
    for d in [datadir, &tmpdir] {
        fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    }
    let log_path = dir.join("bootstrap.log");
    let log = fs::File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd;
    let mut sql = Vec::new();
    if let Some(share) = &inst.share {
        cmd = Command::new(&inst.mariadbd);
        cmd.args(common_args(inst, datadir, &tmpdir)).args([
            "--bootstrap",
            "--silent-startup",
            "--log-warnings=0",
            "--enforce-storage-engine=",
            "--max-allowed-packet=8M",
            "--net-buffer-length=16K",
        ]);
        // As mariadb-install-db does with --auth-root-authentication-method=normal.
        sql.extend_from_slice(
            b"CREATE DATABASE IF NOT EXISTS mysql;\nUSE mysql;\nSET @auth_root_socket=NULL;\n",
        );
        for file in
            ["mysql_system_tables.sql", "mysql_performance_tables.sql", "mysql_system_tables_data.sql"]
        {
            let path = share.join(file);
            if file == "mysql_performance_tables.sql" && !path.exists() {
                continue;
            }
            sql.extend(fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?);
            sql.push(b'\n');
        }
        // Accounts for the machine's host name only make --skip-name-resolve warn at every start.
        sql.extend_from_slice(
            b"DELETE FROM mysql.global_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');\n\
              DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');\n",
        );
    } else {
        let install_db = inst.install_db.as_ref().expect("checked in find_installation");
        cmd = Command::new(install_db);
        let mut args = common_args(inst, datadir, &tmpdir);
        args.extend(["--auth-root-authentication-method=normal".into(), "--skip-test-db".into()]);
        cmd.args(args);
    }
    let mut child = cmd
        .stdin(if sql.is_empty() { Stdio::null() } else { Stdio::piped() })
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("starting {:?}: {e}", cmd.get_program()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // The server reads as it goes and writes only to the log file, so this cannot deadlock.
        let _ = stdin.write_all(&sql);
    }
    let status = wait_timeout(&mut child, BOOTSTRAP_TIMEOUT);
    let tail = || tail_lines(&fs::read_to_string(&log_path).unwrap_or_default(), 40);
    match status {
        Some(s) if s.success() && datadir.join("mysql").is_dir() => Ok(()),
        Some(s) => Err(format!("bootstrapping a MariaDB datadir failed ({s}):\n{}", tail())),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("bootstrapping a MariaDB datadir took over {BOOTSTRAP_TIMEOUT:?}:\n{}", tail()))
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A running private server: dropping `stdin` (or the process ending) stops it.
struct Running {
    wrapper: Child,
    stdin: Option<ChildStdin>,
    /// Pid of mariadbd itself, to notice an early exit and to SIGKILL a server that hangs.
    pid: u32,
    /// Error log length at start, so messages are about this start, not an earlier one.
    log_offset: u64,
}

enum StartFailure {
    PortInUse,
    Other(String),
}

/// Starts the server in `layout` and waits for a root login; without a fixed port, retries on
/// another free port when the one found is taken before mariadbd binds it.
fn launch(
    inst: &Installation,
    layout: &Layout,
    fixed_port: Option<u16>,
) -> Result<(Running, u16, String), String> {
    for _ in 0..PORT_ATTEMPTS {
        let port = match fixed_port {
            Some(port) => port,
            None => crate::net::try_free_port().map_err(|e| format!("binding 127.0.0.1:0: {e}"))?,
        };
        let mut running = spawn(inst, layout, port)?;
        match wait_ready(&mut running, layout, port) {
            Ok(version) => return Ok((running, port, version)),
            Err(failure) => {
                let tail = log_tail(layout, running.log_offset);
                let _ = shutdown(running, true);
                match failure {
                    StartFailure::PortInUse if fixed_port.is_none() => continue,
                    StartFailure::PortInUse => {
                        return Err(format!("port {port} is in use by another process:\n{tail}"));
                    }
                    StartFailure::Other(msg) => {
                        return Err(format!(
                            "{msg}\n--- last lines of {} ---\n{tail}",
                            layout.error_log().display()
                        ));
                    }
                }
            }
        }
    }
    Err(format!("no free TCP port found in {PORT_ATTEMPTS} attempts"))
}

fn spawn(inst: &Installation, layout: &Layout, port: u16) -> Result<Running, String> {
    let log_offset = fs::metadata(layout.error_log()).map(|m| m.len()).unwrap_or(0);
    fs::create_dir_all(layout.tmpdir())
        .map_err(|e| format!("creating {}: {e}", layout.tmpdir().display()))?;
    let mut args = common_args(inst, &layout.datadir(), &layout.tmpdir());
    args.extend([
        format!("--port={port}").into(),
        "--bind-address=127.0.0.1".into(),
        opt("--socket=", &layout.socket()),
        opt("--pid-file=", &layout.dir.join("mysqld.pid")),
        opt("--log-error=", &layout.error_log()),
        // Many tests in one process, each with a pool, share one server.
        "--max-connections=1000".into(),
    ]);
    let mut wrapper = Command::new("/bin/sh")
        .args(["-c", WRAPPER, "mailroom-mariadb"])
        .arg(&layout.dir)
        .arg(&inst.mariadbd)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting /bin/sh for {}: {e}", inst.mariadbd.display()))?;
    let stdin = wrapper.stdin.take();
    let mut line = String::new();
    let read = BufReader::new(wrapper.stdout.take().expect("piped stdout")).read_line(&mut line);
    match line.trim().parse() {
        Ok(pid) => Ok(Running { wrapper, stdin, pid, log_offset }),
        Err(_) => {
            drop(stdin);
            let _ = wrapper.wait();
            Err(format!("the mariadbd wrapper did not report a pid ({read:?}, {line:?})"))
        }
    }
}

fn wait_ready(running: &mut Running, layout: &Layout, port: u16) -> Result<String, StartFailure> {
    let deadline = Instant::now() + START_TIMEOUT;
    let exited = |running: &Running| {
        let log = log_tail(layout, running.log_offset);
        if log.contains("Address already in use") || log.contains("already have another") {
            StartFailure::PortInUse
        } else {
            StartFailure::Other(format!("mariadbd exited before accepting connections on port {port}"))
        }
    };
    // A TCP connect first: cheap, and no login attempts pile up while InnoDB starts.
    while !port_accepts(port) {
        if !pid_alive(running.pid) {
            return Err(exited(running));
        }
        if Instant::now() >= deadline {
            return Err(StartFailure::Other(format!(
                "mariadbd did not listen on port {port} within {START_TIMEOUT:?}"
            )));
        }
        thread::sleep(Duration::from_millis(10));
    }
    let url = root_url(port);
    let socket = layout.socket().to_string_lossy().into_owned();
    loop {
        match block_on(identity(&url)) {
            Ok((version, sock)) if sock == socket => return Ok(version),
            // Someone else's server took the port between our probe and mariadbd's bind.
            Ok(_) => return Err(StartFailure::PortInUse),
            Err(e) => {
                if !pid_alive(running.pid) {
                    return Err(exited(running));
                }
                if Instant::now() >= deadline {
                    return Err(StartFailure::Other(format!(
                        "no root login without password on 127.0.0.1:{port} within {START_TIMEOUT:?}: {e}"
                    )));
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Stops the server through its wrapper and waits for it; SIGKILLs a server that does not stop.
fn shutdown(mut running: Running, keep_dir: bool) -> Result<(), String> {
    if let Some(mut stdin) = running.stdin.take()
        && keep_dir
    {
        let _ = stdin.write_all(b"keep\n");
    }
    // The pipe is closed here (stdin dropped), so the wrapper has been told in any case.
    if wait_timeout(&mut running.wrapper, STOP_TIMEOUT).is_some() {
        return Ok(());
    }
    let _ =
        Command::new("/bin/sh").args(["-c", "kill -KILL \"$1\"", "sh", &running.pid.to_string()]).status();
    let _ = running.wrapper.wait();
    Err(format!("mariadbd (pid {}) did not stop within {STOP_TIMEOUT:?}; killed", running.pid))
}

fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The wrapper reaps mariadbd only after stdin closes, so a dead server stays a zombie.
        Ok(stat) => {
            !matches!(stat.rsplit_once(')').and_then(|(_, s)| s.trim_start().chars().next()), Some('Z' | 'X'))
        }
        // Without /proc we cannot tell; the start timeout still bounds the wait.
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_millis(250))
        .is_ok()
}

fn log_tail(layout: &Layout, offset: u64) -> String {
    let log = fs::read(layout.error_log()).unwrap_or_default();
    let from = usize::try_from(offset).unwrap_or(0).min(log.len());
    tail_lines(&String::from_utf8_lossy(&log[from..]), 30)
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn root_url(port: u16) -> String {
    format!("mysql://root@127.0.0.1:{port}")
}

/// `url` with its path replaced by `/db`, query string kept.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    format!("{}/{db}{query}", &base[..path])
}

/// `url` with any password replaced, for messages.
fn redact(url: &str) -> String {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let end = url[authority..].find(['/', '?']).map_or(url.len(), |i| authority + i);
    match url[authority..end].rfind('@').map(|i| authority + i) {
        Some(at) => match url[authority..at].find(':').map(|i| authority + i) {
            Some(colon) => format!("{}:***{}", &url[..colon], &url[at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Runs `fut` on a fresh current-thread runtime in a scoped thread, so it works from any thread,
/// including one that is already inside a runtime (where `block_on` would panic).
fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("building a tokio runtime")
                .block_on(fut)
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

async fn connect(url: &str) -> Result<MySqlConnection, String> {
    match tokio::time::timeout(SQL_TIMEOUT, MySqlConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("connecting timed out after {SQL_TIMEOUT:?}")),
    }
}

/// `(VERSION(), @@socket)`: the socket tells our private server from another one on the same port.
async fn identity(url: &str) -> Result<(String, String), String> {
    let mut conn = connect(url).await?;
    let row = tokio::time::timeout(
        SQL_TIMEOUT,
        sqlx::query_as::<_, (String, String)>("SELECT VERSION(), CAST(COALESCE(@@socket, '') AS CHAR)")
            .fetch_one(&mut conn),
    )
    .await
    .map_err(|_| "query timed out".to_string())?
    .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(row)
}

async fn execute(url: &str, sql: &str) -> Result<(), String> {
    let mut conn = connect(url).await?;
    let run = async {
        // A DROP waits for metadata locks of open transactions; fail instead of hanging.
        conn.execute("SET SESSION lock_wait_timeout = 10").await?;
        conn.execute(sql).await
    };
    let result = match tokio::time::timeout(SQL_TIMEOUT, run).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("timed out after {SQL_TIMEOUT:?}")),
    };
    let _ = conn.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn scalar(url: &str, sql: &str) -> Result<Option<String>, String> {
        let mut conn = connect(url).await?;
        let row: Option<(Option<String>,)> =
            sqlx::query_as(sql).fetch_optional(&mut conn).await.map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        Ok(row.and_then(|(v,)| v))
    }

    #[test]
    fn shared_server_is_mariadb() {
        let server = shared_server();
        assert!(server.version.contains("MariaDB"), "{}", server.version);
        assert_eq!(server.private, std::env::var(URL_ENV).map_or(true, |u| u.trim().is_empty()));
        let one = block_on(scalar(&server.admin_url, "SELECT CAST(1 AS CHAR)")).unwrap();
        assert_eq!(one.as_deref(), Some("1"));
        // The same instance for every caller.
        assert!(std::ptr::eq(server, shared_server()));
    }

    #[test]
    fn fresh_databases_are_distinct_and_dropped() {
        let a = fresh_database();
        let b = fresh_database();
        assert_ne!(a.name, b.name);
        assert!(a.name.starts_with("mailroom_test_"));
        assert_eq!(block_on(scalar(&a.url, "SELECT DATABASE()")).unwrap(), Some(a.name.clone()));
        assert_eq!(block_on(scalar(&b.url, "SELECT DATABASE()")).unwrap(), Some(b.name.clone()));
        block_on(execute(&a.url, "CREATE TABLE t (x INT)")).unwrap();
        let admin = shared_server().admin_url.clone();
        let exists = |name: &str| {
            let sql =
                format!("SELECT schema_name FROM information_schema.schemata WHERE schema_name = '{name}'");
            block_on(scalar(&admin, &sql)).unwrap().is_some()
        };
        let name_a = a.name.clone();
        drop(a);
        assert!(!exists(&name_a), "{name_a} still exists after drop");
        assert!(exists(&b.name));
    }

    #[tokio::test]
    async fn fresh_database_inside_a_runtime() {
        let db = fresh_database();
        let name = scalar(&db.url, "SELECT DATABASE()").await.unwrap();
        assert_eq!(name, Some(db.name.clone()));
        let charset = scalar(&db.url, "SELECT @@character_set_database").await.unwrap();
        assert_eq!(charset.as_deref(), Some("utf8mb4"));
        drop(db);
    }

    #[test]
    fn private_server_stops_and_starts_again() {
        let mut db = PrivateMariaDb::start();
        let url = db.url();
        assert_eq!(url, format!("mysql://root@127.0.0.1:{}", db.port()));
        block_on(execute(&url, "CREATE DATABASE kept")).unwrap();
        block_on(execute(&url, "CREATE TABLE kept.t (x INT)")).unwrap();
        block_on(execute(&url, "INSERT INTO kept.t VALUES (42)")).unwrap();

        db.stop();
        assert!(block_on(connect(&url)).is_err(), "connected to a stopped server");
        assert!(!port_accepts(db.port()));

        let port = db.port();
        db.start_again();
        assert_eq!(db.port(), port);
        let x = block_on(scalar(&url, "SELECT CAST(x AS CHAR) FROM kept.t")).unwrap();
        assert_eq!(x.as_deref(), Some("42"));
    }

    #[test]
    fn private_servers_are_independent() {
        let a = PrivateMariaDb::start();
        let b = PrivateMariaDb::start();
        assert_ne!(a.port(), b.port());
        block_on(execute(&a.url(), "CREATE DATABASE only_a")).unwrap();
        let on_b = block_on(scalar(
            &b.url(),
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = 'only_a'",
        ));
        assert_eq!(on_b.unwrap(), None);
        let dir = a.layout.dir.clone();
        drop(a);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn url_helpers() {
        assert_eq!(with_database("mysql://root@127.0.0.1:3306", "d"), "mysql://root@127.0.0.1:3306/d");
        assert_eq!(
            with_database("mysql://u:p@h:1/old?ssl-mode=disabled", "d"),
            "mysql://u:p@h:1/d?ssl-mode=disabled"
        );
        assert_eq!(with_database("mysql://u:p@h:1/", "d"), "mysql://u:p@h:1/d");
        assert_eq!(redact("mysql://u:secret@h:1/x"), "mysql://u:***@h:1/x");
        assert_eq!(redact("mysql://root@h:1"), "mysql://root@h:1");
    }

    /// Env var that makes [`no_mariadbd_outlives_its_test_process`], re-run in a child process,
    /// play the test process that starts servers and is then killed.
    const HELPER_ENV: &str = "MAILROOM_MARIADB_ORPHAN_HELPER";

    /// The child's part: start servers, report them, wait for SIGKILL.
    fn orphan_helper(out: std::ffi::OsString) -> ! {
        let private = PrivateMariaDb::start();
        let mut report = format!(
            "{} {} {}\n",
            private.port(),
            private.layout.dir.display(),
            private.running.as_ref().unwrap().pid
        );
        let shared = shared_server();
        if shared.private {
            let port: u16 = shared.admin_url.rsplit(':').next().unwrap().parse().unwrap();
            let socket = block_on(identity(&shared.admin_url)).unwrap().1;
            report.push_str(&format!("{port} {} -\n", Path::new(&socket).parent().unwrap().display()));
        }
        report.push_str(&format!("- {} -\n", template().unwrap().parent().unwrap().display()));
        let tmp = PathBuf::from(&out).with_extension("tmp");
        fs::write(&tmp, report).unwrap();
        fs::rename(&tmp, &out).unwrap();
        // Neither destructor nor exit runs: the parent SIGKILLs this process.
        std::mem::forget(private);
        loop {
            thread::sleep(Duration::from_secs(1));
        }
    }

    #[test]
    fn no_mariadbd_outlives_its_test_process() {
        if let Some(out) = std::env::var_os(HELPER_ENV) {
            orphan_helper(out);
        }
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("report");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "mariadb::tests::no_mariadbd_outlives_its_test_process",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(HELPER_ENV, &out)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + START_TIMEOUT * 2;
        while !out.exists() {
            assert!(child.try_wait().unwrap().is_none(), "helper exited early");
            assert!(Instant::now() < deadline, "helper did not start its servers");
            thread::sleep(Duration::from_millis(50));
        }
        let report = fs::read_to_string(&out).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();

        let deadline = Instant::now() + STOP_TIMEOUT;
        for line in report.lines() {
            let mut parts = line.split(' ');
            let port: Option<u16> = parts.next().unwrap().parse().ok();
            let (dir, pid) = (parts.next().unwrap(), parts.next().unwrap());
            while port.is_some_and(port_accepts)
                || (dir != "-" && Path::new(dir).exists())
                || (pid != "-" && pid_alive(pid.parse().unwrap()))
            {
                assert!(
                    Instant::now() < deadline,
                    "mariadbd on port {port:?} ({dir}) outlived its test process"
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
