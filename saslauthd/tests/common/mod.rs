//! Start the real mailroom-saslauthd binary on a test database and talk to its sockets.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running daemon; SIGTERM and wait on drop.
pub struct Saslauthd {
    pub run_dir: PathBuf,
    pub child: Option<Child>,
    pub stderr: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Saslauthd {
    /// Start with `[database] url` and extra `[saslauthd]` lines.
    pub fn start(db_url: &str, saslauthd_extra: &str) -> Saslauthd {
        Saslauthd::start_logging_to(db_url, saslauthd_extra, None)
    }

    /// The same with stderr given (`None`: a file [`Saslauthd::log`] reads).
    pub fn start_logging_to(db_url: &str, saslauthd_extra: &str, stderr_to: Option<Stdio>) -> Saslauthd {
        let db = format!("url = \"{db_url}\"\nconnect_timeout = 1\n");
        Saslauthd::start_with_database(&db, saslauthd_extra, stderr_to)
    }

    /// Start with the given `[database]` lines (and tables after them, as `[database.ldap]`,
    /// placed at the end of the file).
    pub fn start_with_database(database: &str, saslauthd_extra: &str, stderr_to: Option<Stdio>) -> Saslauthd {
        let (db_keys, db_tables) = match database.find("\n[") {
            Some(i) => database.split_at(i + 1),
            None => (database, ""),
        };
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let run_dir = tmp.path().join("run");
        let cfg = tmp.path().join("mailroom.toml");
        std::fs::write(
            &cfg,
            format!(
                "[database]\n{db_keys}\n[saslauthd]\nrun_dir = \"{}\"\n\
                 {user}failure_delay_ms = 50\nthrottle_base_ms = 5\nthrottle_max_ms = 50\n\
                 log_level = \"debug\"\n{saslauthd_extra}\n{db_tables}\n",
                run_dir.display(),
                user = if saslauthd_extra.contains("user =") { "" } else { "user = \"root\"\n" },
            ),
        )
        .unwrap();
        let stderr = tmp.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_mailroom-saslauthd"))
            .arg("--config")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stderr(stderr_to.unwrap_or_else(|| std::fs::File::create(&stderr).unwrap().into()))
            .spawn()
            .unwrap();
        let mut d = Saslauthd { run_dir, child: Some(child), stderr, _tmp: tmp };
        d.wait_ready();
        d
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(self.mux()).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mailroom-saslauthd exited {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "mux never appeared: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn mux(&self) -> PathBuf {
        self.run_dir.join("mux")
    }

    pub fn auth(&self) -> PathBuf {
        self.run_dir.join("auth")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, wait; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code();
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

impl Drop for Saslauthd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One cyrus-protocol exchange: the raw request bytes in, the reply text out (None if the
/// server closed without replying).
pub fn cyrus_raw(mux: &Path, bytes: &[u8]) -> Option<String> {
    let mut s = UnixStream::connect(mux).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).unwrap();
    let mut len = [0u8; 2];
    if s.read_exact(&mut len).is_err() {
        return None;
    }
    let mut text = vec![0; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut text).unwrap();
    Some(String::from_utf8(text).unwrap())
}

/// A well-formed 4-field request.
pub fn cyrus(mux: &Path, login: &str, password: &str, service: &str, realm: &str) -> String {
    let req = proto::cyrus::encode_request(&[
        login.as_bytes(),
        password.as_bytes(),
        service.as_bytes(),
        realm.as_bytes(),
    ]);
    cyrus_raw(mux, &req).expect("a reply")
}
