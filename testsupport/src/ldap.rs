//! A private OpenLDAP `slapd` for tests: mdb backend in a temporary directory, listening on
//! `ldap://127.0.0.1:PORT`, seeded with `ldapadd`. Debian's `slapd` and `ldap-utils`.
//! Stopping and starting it again (same port, same data) tests "LDAP down" and recovery.
//! [`Slapd::start_tls`] adds a certificate: StartTLS on `ldap://` and `ldaps://` on a second port.

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
    /// The `ldaps://` port, with a certificate.
    pub tls_port: Option<u16>,
    child: Option<Child>,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

impl Slapd {
    /// Start one with the core, cosine, inetorgperson, nis, misc and postfix-book schemas and
    /// the base entry `dc=test`.
    pub fn start() -> Slapd {
        Slapd::start_with(None)
    }

    /// The same, presenting the PEM certificate chain `cert` with key `key` for StartTLS and
    /// on an `ldaps://` port.
    pub fn start_tls(cert: &Path, key: &Path) -> Slapd {
        Slapd::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Slapd {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let mut conf = String::new();
        for s in ["core", "cosine", "inetorgperson", "nis", "misc"] {
            conf += &format!("include /etc/ldap/schema/{s}.schema\n");
        }
        conf += &format!("include {}/postfix-book.schema\n", data_dir().display());
        if let Some((cert, key)) = tls {
            conf +=
                &format!("TLSCertificateFile {}\nTLSCertificateKeyFile {}\n", cert.display(), key.display());
        }
        conf += &format!(
            "pidfile {d}/slapd.pid\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             database mdb\nmaxsize 104857600\nsuffix \"{SUFFIX}\"\nrootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PW}\ndirectory {d}/db\n\
             access to attrs=userPassword by anonymous auth by self read by * none\n\
             access to * by * read\n",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("slapd.conf"), conf).unwrap();
        let tls_port = tls.map(|_| crate::net::free_port());
        let mut s = Slapd { dir, port: crate::net::free_port(), tls_port, child: None };
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

    /// `ldaps://127.0.0.1:TLS_PORT` (after [`Slapd::start_tls`]).
    pub fn ldaps_uri(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port.expect("started with start_tls"))
    }

    fn run(&mut self) {
        let mut listen = self.uri();
        if self.tls_port.is_some() {
            listen = format!("{listen} {}", self.ldaps_uri());
        }
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &listen, "-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd (apt-get install slapd)");
        self.child = Some(child);
        let ports = [Some(self.port), self.tls_port];
        let up = crate::wait::until(Duration::from_secs(20), || {
            ports.iter().flatten().all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
        });
        assert!(up, "slapd did not start on {listen}");
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

impl Slapd {
    /// Seed the layout `[database.ldap]`'s defaults read: `domains` as `domainRelatedObject`
    /// entries under `ou=domains`, `users` (address, `userPassword` value) as `inetOrgPerson`
    /// entries `mail=ADDRESS` under `ou=people`, and `aliases` (address or `@domain`,
    /// target) as `inetLocalMailRecipient` entries under `ou=aliases`.
    pub fn add_mail_directory(&self, domains: &[&str], users: &[(&str, &str)], aliases: &[(&str, &str)]) {
        let mut ldif = format!(
            "dn: ou=domains,{SUFFIX}\nobjectClass: organizationalUnit\nou: domains\n\n\
             dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=aliases,{SUFFIX}\nobjectClass: organizationalUnit\nou: aliases\n\n"
        );
        for d in domains {
            ldif += &format!(
                "dn: dc={d},ou=domains,{SUFFIX}\nobjectClass: domain\nobjectClass: domainRelatedObject\n\
                 dc: {d}\nassociatedDomain: {d}\n\n"
            );
        }
        for (mail, pw) in users {
            let local = mail.split_once('@').expect("user@domain").0;
            ldif += &format!(
                "dn: mail={mail},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\ncn: {local}\n\
                 sn: {local}\nuid: {local}\nmail: {mail}\nuserPassword: {pw}\n\n"
            );
        }
        for (i, (from, to)) in aliases.iter().enumerate() {
            ldif += &format!(
                "dn: cn=alias{i},ou=aliases,{SUFFIX}\nobjectClass: organizationalRole\n\
                 objectClass: inetLocalMailRecipient\ncn: alias{i}\nmailLocalAddress: {from}\n\
                 mailRoutingAddress: {to}\n\n"
            );
        }
        self.add(&ldif);
    }

    /// The keys of `[database]` (and its `[database.ldap]` table, so they go last) that read this
    /// server as the root DN with the search defaults, the password in a file next to the data.
    pub fn database_toml(&self) -> String {
        let pwfile = self.dir.path().join("bindpw");
        std::fs::write(&pwfile, format!("{ROOT_PW}\n")).unwrap();
        format!(
            "backend = \"ldap\"\n\n[database.ldap]\nuris = [\"{}\"]\nbind_dn = \"{ROOT_DN}\"\n\
             bind_password_file = \"{}\"\nbase = \"{SUFFIX}\"\ntimeout = 2\n",
            self.uri(),
            pwfile.display()
        )
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
