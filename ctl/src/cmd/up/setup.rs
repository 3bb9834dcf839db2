//! What `mailroomctl up` keeps in its directory, and creating it on the first run: the
//! configuration, a migrated SQLite database with the demo domain and users, a self-signed
//! certificate, and the directories for the spool, the sockets and the Maildirs.
//!
//! `mailroom.toml` is written last, so its presence means a complete setup: a first run cut
//! short is simply done again (each step skips what already exists).

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use authlib::Directory;
use password::Scheme;
use proto::{Address, Domain, Secret};
use rand::Rng;
use rand::distributions::Alphanumeric;

/// The demo domain.
pub const DEMO_DOMAIN: &str = "example.test";
/// The demo users' local parts.
const DEMO_USERS: [&str; 2] = ["alice", "bob"];
/// The demo superadmin of mailroom-web (kept in demo-users.txt after the users).
pub const DEMO_ADMIN: &str = "admin@example.test";
/// Length of a generated password (alphanumeric: safe to paste into a shell command).
const PASSWORD_LEN: usize = 16;

/// The try-out's files, all under one directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The directory, absolute.
    pub dir: PathBuf,
}

impl Layout {
    /// The layout under `dir` (made absolute: the config file names absolute paths).
    pub fn new(dir: &Path) -> Result<Layout> {
        let dir = std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
        Ok(Layout { dir })
    }

    /// `mailroom.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("mailroom.toml")
    }

    /// The demo users and their passwords as generated, one `address password` per line.
    pub fn passwords(&self) -> PathBuf {
        self.dir.join("demo-users.txt")
    }

    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }
}

/// A demo user and the password generated for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    /// The address.
    pub address: String,
    /// The password, as generated on the first run.
    pub password: String,
}

/// Create whatever is missing and return the configuration; true when this was the first run.
pub async fn prepare(layout: &Layout) -> Result<(config::Config, bool)> {
    let config_path = layout.config();
    if config_path.exists() {
        let cfg = config::load(&config_path)?;
        make_dirs(layout, &cfg)?;
        return Ok((cfg, false));
    }
    mkdir(&layout.dir, 0o700)?;
    let text = config_text(layout, &invoking_user());
    let cfg = config::parse(&text, &config_path)?;
    make_dirs(layout, &cfg)?;
    write_certificate(&cfg.tls)?;
    let dir = open_creating(&cfg.database).await?;
    // The database holds password hashes: ours alone, whatever DIR's mode or the umask.
    std::fs::set_permissions(layout.dir.join("mailroom.db"), std::fs::Permissions::from_mode(0o600))
        .context("making mailroom.db private")?;
    let users = demo_users(&dir, layout).await?;
    demo_admin(&dir, layout).await?;
    create_maildirs(&dir, &users).await?;
    write_private(&config_path, text.as_bytes())?;
    Ok((cfg, true))
}

/// The demo users recorded on the first run (none when the file is gone).
pub fn read_passwords(layout: &Layout) -> Vec<DemoUser> {
    let text = std::fs::read_to_string(layout.passwords()).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, p)| DemoUser { address: a.to_string(), password: p.to_string() })
        .collect()
}

/// The name of the user we run as: every daemon is told to be that user, which means "do not
/// switch" (daemon::privilege). Without a passwd entry, the number.
fn invoking_user() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid).ok().flatten().map_or_else(|| uid.to_string(), |u| u.name)
}

/// A TOML string literal.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The try-out's `mailroom.toml`: loopback ports, everything under the directory, no user switch.
fn config_text(l: &Layout, user: &str) -> String {
    let q = |rel: &str| quote(&l.path(rel));
    let user = quote(user);
    let db = quote(&format!("sqlite://{}", l.path("mailroom.db")));
    let lmtp = quote(&format!("unix:{}", l.path("run/mda/lmtp")));
    format!(
        r#"# mailroom try-out, written by `mailroomctl up` on its first run. Everything lives in
# {dir}; the daemons listen on 127.0.0.1 only and stay the user who started them.
# Edit it and restart `mailroomctl up`; `mailroomctl --config <this file> check` shows every key.

[database]
url = {db}
mail_root = {vmail}

[tls]                                   # self-signed, for localhost
cert = {cert}
key = {key}

[saslauthd]
run_dir = {sasl}
user = {user}
shutdown_timeout = 5
metrics_listen = ["127.0.0.1:2981"]     # Prometheus: GET /metrics

[mda]
lmtp_socket = {lmtp_socket}
user = {user}
hostname = "localhost"
shutdown_timeout = 5
metrics_listen = ["127.0.0.1:2983"]

[mta]
smtp_listen = ["127.0.0.1:2525"]        # MX role: mail for example.test from anyone
submission_listen = ["127.0.0.1:2587"]  # AUTH after STARTTLS
submissions_listen = ["127.0.0.1:2465"] # implicit TLS
submit_socket = {submit}
control_socket = {control}
spool_dir = {spool}
hostname = "localhost"
user = {user}
mynetworks = []                         # relaying needs AUTH, even from this machine
lmtp = {lmtp}
saslauthd_socket = {mux}
shutdown_timeout = 5
metrics_listen = ["127.0.0.1:2982"]

[mra]
imap_listen = ["127.0.0.1:2143"]
imaps_listen = ["127.0.0.1:2993"]
pop3_listen = ["127.0.0.1:2110"]
pop3s_listen = ["127.0.0.1:2995"]
managesieve_listen = ["127.0.0.1:2419"]
saslauthd_socket = {mux}
user = {user}
shutdown_timeout = 5
metrics_listen = ["127.0.0.1:2984"]

[web]
listen = ["127.0.0.1:2443"]             # https://127.0.0.1:2443/ (the [tls] certificate)
mail_hostname = "localhost"
user = {user}
shutdown_timeout = 5
metrics_listen = ["127.0.0.1:2985"]
"#,
        dir = l.dir.display(),
        vmail = q("vmail"),
        cert = q("tls/cert.pem"),
        key = q("tls/key.pem"),
        sasl = q("run/saslauthd"),
        lmtp_socket = q("run/mda/lmtp"),
        submit = q("run/mta/submit"),
        control = q("run/mta/control"),
        spool = q("spool"),
        mux = q("run/saslauthd/mux"),
    )
}

/// The directories the configuration names (the daemons create their own sockets, but a
/// missing mail root or socket directory would fail later and less clearly).
fn make_dirs(l: &Layout, cfg: &config::Config) -> Result<()> {
    mkdir(&l.dir, 0o700)?;
    let socket_dirs =
        [cfg.saslauthd.run_dir.as_str(), cfg.mda.lmtp_socket.as_str(), cfg.mta.submit_socket.as_str()];
    for d in socket_dirs.iter().filter_map(|p| Path::new(p).parent()) {
        mkdir(d, 0o700)?;
    }
    mkdir(Path::new(&cfg.saslauthd.run_dir), 0o700)?;
    mkdir(Path::new(&cfg.mta.spool_dir), 0o700)?;
    mkdir(Path::new(&cfg.database.mail_root), 0o700)
}

fn mkdir(d: &Path, mode: u32) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(d)
        .with_context(|| format!("creating {}", d.display()))
}

/// Write `bytes` to a new file readable by us alone.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

/// A self-signed certificate for this machine, unless one is there: CN localhost, valid for a
/// year, with the names and addresses a client of the try-out may use (a mail client shows
/// them when it asks the user to accept the certificate).
fn write_certificate(tls: &config::Tls) -> Result<()> {
    let (cert, key) = (Path::new(&tls.cert), Path::new(&tls.key));
    if cert.exists() && key.exists() {
        return Ok(());
    }
    let (cert_pem, key_pem) = certificate(&daemon::host::name(""))?;
    if let Some(parent) = cert.parent() {
        mkdir(parent, 0o700)?;
    }
    write_private(key, key_pem.as_bytes())?;
    write_private(cert, cert_pem.as_bytes())
}

/// The try-out certificate and its key, as PEM.
fn certificate(hostname: &str) -> Result<(String, String)> {
    let mut names =
        vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into(), format!("mail.{DEMO_DOMAIN}")];
    if !names.iter().any(|n| n == hostname) && !hostname.is_empty() {
        names.push(hostname.to_string());
    }
    let mut params = rcgen::CertificateParams::new(names).context("certificate names")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "mailroom up (self-signed try-out)");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let cert = params.self_signed(&key).context("signing the certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Open the SQLite database, creating the file, and migrate it.
async fn open_creating(db: &config::Database) -> Result<Directory> {
    let mut db = db.clone();
    let url = db.url.0.first().cloned().ok_or_else(|| anyhow!("[database] url is empty"))?;
    db.url = config::UrlList(vec![format!("{url}?mode=rwc")]);
    let dir = Directory::open(&db)?;
    dir.migrate().await?;
    Ok(dir)
}

/// The demo domain and users, each created unless present; new passwords are appended to the
/// passwords file, which is what later runs print.
async fn demo_users(dir: &Directory, layout: &Layout) -> Result<Vec<Address>> {
    let domain = Domain::parse(DEMO_DOMAIN).map_err(|e| anyhow!("{e}"))?;
    if !dir.list_domains().await?.iter().any(|d| d.domain == DEMO_DOMAIN) {
        dir.add_domain(&domain, "mailroomctl up demo").await?;
    }
    let mut out = Vec::new();
    // What earlier runs kept, with each new password added as soon as its user exists.
    let mut kept = std::fs::read_to_string(layout.passwords()).unwrap_or_default();
    for local in DEMO_USERS {
        let address = crate::cmd::address(&format!("{local}@{DEMO_DOMAIN}"))?;
        if dir.show_user(&address).await?.is_none() {
            let pw = random_password();
            let secret = Secret::from(pw.clone());
            let hash = dir
                .hash_password(secret, Scheme::Argon2id)
                .await
                .map_err(|e| anyhow!("hashing failed: {e}"))?;
            dir.add_user(&address, &hash, 0, local).await?;
            kept.push_str(&format!("{address} {pw}\n"));
            write_private(&layout.passwords(), kept.as_bytes())?;
        }
        out.push(address);
    }
    Ok(out)
}

/// The demo superadmin of mailroom-web, unless present; its password is appended to the
/// passwords file like the users'.
async fn demo_admin(dir: &Directory, layout: &Layout) -> Result<()> {
    if dir.admin(DEMO_ADMIN).await?.is_some() {
        return Ok(());
    }
    let address = crate::cmd::address(DEMO_ADMIN)?;
    let pw = random_password();
    let hash = dir
        .hash_password(Secret::from(pw.clone()), Scheme::Argon2id)
        .await
        .map_err(|e| anyhow!("hashing failed: {e}"))?;
    dir.add_admin(&address, &hash, true, &[]).await?;
    let mut kept = std::fs::read_to_string(layout.passwords()).unwrap_or_default();
    kept.push_str(&format!("{address} {pw}\n"));
    write_private(&layout.passwords(), kept.as_bytes())
}

fn random_password() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(PASSWORD_LEN).map(char::from).collect()
}

/// Each user's Maildir, where the directory says it is (an IMAP login works before any mail).
async fn create_maildirs(dir: &Directory, users: &[Address]) -> Result<()> {
    for a in users {
        let mb = dir.mailbox(a).await?.ok_or_else(|| anyhow!("{a}: just added, but not found"))?;
        mailstore::Maildir::new(&mb.maildir)
            .create()
            .with_context(|| format!("creating {}", mb.maildir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_config_loads_with_paths_under_the_directory() {
        let l = Layout { dir: PathBuf::from("/srv/try \"it\"") };
        let text = config_text(&l, "someone");
        let cfg = config::parse(&text, Path::new("mailroom.toml")).unwrap();
        assert_eq!(cfg.database.url.0, ["sqlite:///srv/try \"it\"/mailroom.db"]);
        assert_eq!(cfg.mta.lmtp, "unix:/srv/try \"it\"/run/mda/lmtp");
        assert_eq!(cfg.mda.lmtp_socket.as_str(), "/srv/try \"it\"/run/mda/lmtp");
        assert_eq!(cfg.mra.saslauthd_socket.as_str(), "/srv/try \"it\"/run/saslauthd/mux");
        assert_eq!(cfg.mta.saslauthd_socket, cfg.mra.saslauthd_socket);
        for user in [&cfg.saslauthd.user, &cfg.mda.user, &cfg.mta.user, &cfg.mra.user] {
            assert_eq!(user, "someone");
        }
        assert_eq!(cfg.mta.submission_listen, ["127.0.0.1:2587".parse().unwrap()]);
        assert_eq!(cfg.mra.imaps_listen, ["127.0.0.1:2993".parse().unwrap()]);
        assert_eq!(cfg.mra.managesieve_listen, ["127.0.0.1:2419".parse().unwrap()]);
        assert!(cfg.mta.mynetworks.is_empty());
        assert!(cfg.tls.enabled());
    }

    #[test]
    fn the_certificate_names_this_machine_for_a_year() {
        let (cert, _) = certificate("host1.example.net").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cert.pem");
        std::fs::write(&file, cert).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-ext", "subjectAltName", "-enddate", "-checkend"])
            .arg((364 * 86400).to_string())
            .arg("-in")
            .arg(&file)
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "expires within 364 days: {text}");
        assert!(text.contains("CN = localhost"), "{text}");
        for name in
            ["DNS:localhost", "IP Address:127.0.0.1", "DNS:mail.example.test", "DNS:host1.example.net"]
        {
            assert!(text.contains(name), "{name} missing: {text}");
        }
        let later = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-checkend", &(366 * 86400).to_string(), "-in"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!later.status.success(), "valid for more than a year");
    }

    #[test]
    fn passwords_are_alphanumeric_and_differ() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }
}
