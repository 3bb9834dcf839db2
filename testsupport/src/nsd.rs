//! A private NSD (Debian `nsd`) serving zones on a loopback port, signed with ldns-signzone
//! (Debian `ldnsutils`) where a test asks: the DNSSEC-signed DNS that DANE tests need, with
//! the keys made fresh for each test so its trust anchor is its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A zone signing key made by `ldns-keygen` (a KSK: its DNSKEY can be a trust anchor).
pub struct Key {
    /// `K<zone>+013+<tag>` in the server's directory, without `.key`/`.private`.
    base: PathBuf,
}

impl Key {
    /// The DNSKEY record, zone file syntax (what a trust anchor file holds).
    pub fn dnskey(&self) -> String {
        std::fs::read_to_string(self.key_file()).expect("key file")
    }

    /// The DS record (SHA-256) for the parent zone.
    pub fn ds(&self) -> String {
        let out = run(Command::new("ldns-key2ds").args(["-n", "-2"]).arg(self.key_file()));
        String::from_utf8(out).expect("ldns-key2ds output")
    }

    fn key_file(&self) -> PathBuf {
        with_suffix(&self.base, ".key")
    }
}

/// `path` with `suffix` appended (key names have dots of their own).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = crate::process::output_within(cmd, b"", Duration::from_secs(30));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// NSD with its zones; stopped on drop.
pub struct Nsd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    zones: Vec<(String, String)>,
    child: Option<Child>,
}

impl Default for Nsd {
    fn default() -> Self {
        Nsd::new()
    }
}

impl Nsd {
    /// A server to be given zones, then started.
    pub fn new() -> Nsd {
        Nsd {
            dir: tempfile::tempdir().expect("tempdir"),
            port: crate::net::free_port(),
            zones: Vec::new(),
            child: None,
        }
    }

    /// A new ECDSA P-256 KSK for `zone` (e.g. `test.`).
    pub fn key(&self, zone: &str) -> Key {
        let out = run(Command::new("ldns-keygen").current_dir(self.dir.path()).args([
            "-a",
            "ECDSAP256SHA256",
            "-k",
            zone,
        ]));
        let base = String::from_utf8(out).expect("ldns-keygen output").trim().to_string();
        Key { base: self.dir.path().join(base) }
    }

    /// Serve `zone` from `records` (zone file text; a SOA and NS are added), signed with
    /// `key` (NSEC denial) or unsigned.
    pub fn zone(&mut self, zone: &str, records: &str, key: Option<&Key>) {
        let file = self.dir.path().join(format!("{zone}zone"));
        let text = format!(
            "$TTL 60\n{zone} IN SOA ns.{zone} admin.{zone} 1 3600 600 86400 60\n{zone} IN NS ns.{zone}\n\
             ns.{zone} IN A 127.0.0.1\n{records}\n"
        );
        std::fs::write(&file, text).unwrap();
        let served = match key {
            Some(k) => {
                run(Command::new("ldns-signzone").arg(&file).arg(&k.base));
                with_suffix(&file, ".signed")
            }
            None => file,
        };
        self.zones.push((zone.to_string(), served.display().to_string()));
    }

    /// Start serving on `127.0.0.1:port`, UDP and TCP.
    pub fn start(&mut self) {
        let d = self.dir.path().display();
        let mut conf = format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  \
             zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  zonelistfile: \"{d}/zone.list\"\n  \
             xfrdfile: \"{d}/xfrd.state\"\n  database: \"\"\n  logfile: \"{d}/nsd.log\"\n  \
             server-count: 1\n  verbosity: 1\nremote-control:\n  control-enable: no\n",
            port = self.port
        );
        for (name, file) in &self.zones {
            conf += &format!("zone:\n  name: \"{name}\"\n  zonefile: \"{file}\"\n");
        }
        let conf_file = self.dir.path().join("nsd.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let child = Command::new("/usr/sbin/nsd")
            .arg("-d")
            .arg("-c")
            .arg(&conf_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd (apt-get install nsd)");
        self.child = Some(child);
        let port = self.port;
        let up = crate::wait::until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "nsd did not start on port {port}: {}", self.log());
    }

    /// `127.0.0.1:PORT`, for a resolver's server list.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default()
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM, so the main process also stops the server process it forked.
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            if crate::process::wait_timeout(&mut c, Duration::from_secs(10)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
