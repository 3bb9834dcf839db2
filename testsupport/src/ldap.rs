//! A private OpenLDAP `slapd` for tests: mdb backend in a temporary directory, listening on
//! `ldap://127.0.0.1:PORT`, seeded with `ldapadd`. Debian's `slapd` and `ldap-utils`.
//! Stopping and starting it again (same port, same data) tests "LDAP down" and recovery.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The suffix every test tree lives under.
pub const SUFFIX: &str = "dc=test";
/// The root DN and its password.
pub const ROOT_DN: &str = "cn=admin,dc=test";
pub const ROOT_PW: &str = "rootsecret";

/// A running slapd; killed on drop.
pub struct Slapd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

impl Slapd {
    /// Start one with the core, cosine, inetorgperson, nis, misc and postfix-book schemas and
    /// the base entry `dc=test`.
    pub fn start() -> Slapd {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let mut conf = String::new();
        for s in ["core", "cosine", "inetorgperson", "nis", "misc"] {
            conf += &format!("include /etc/ldap/schema/{s}.schema\n");
        }
        conf += &format!("include {}/postfix-book.schema\n", data_dir().display());
        conf += &format!(
            "pidfile {d}/slapd.pid\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             database mdb\nmaxsize 104857600\nsuffix \"{SUFFIX}\"\nrootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PW}\ndirectory {d}/db\n\
             access to attrs=userPassword by anonymous auth by self read by * none\n\
             access to * by * read\n",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("slapd.conf"), conf).unwrap();
        let mut s = Slapd { dir, port: crate::net::free_port(), child: None };
        s.run();
        s.add(&format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: test\no: test\n"
        ));
        s
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn run(&mut self) {
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &self.uri(), "-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd (apt-get install slapd)");
        self.child = Some(child);
        let port = self.port;
        let up = crate::wait::until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "slapd did not start on port {port}");
    }

    /// Stop the server (the data stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// `ldapadd` the LDIF as the root DN.
    pub fn add(&self, ldif: &str) {
        let out = crate::process::output_within(
            Command::new("ldapadd").args(["-x", "-H", &self.uri(), "-D", ROOT_DN, "-w", ROOT_PW]),
            ldif.as_bytes(),
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "ldapadd failed: {}\n{ldif}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
