//! What the mailroom-web tests share: the daemon as a child process over HTTPS on a free
//! loopback port with a self-signed certificate, a database with two domains, their admins and
//! users, and a small HTTP/1.1 client that keeps cookies as a browser does and reads the form
//! tokens from the pages.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use testsupport::net::free_port;
use testsupport::{Backend, TestDb};

/// Every test password.
pub const PASSWORD: &str = "secret-pw-1";
/// The superadmin.
pub const SUPER: &str = "root@admin.test";
/// The admin of a.test.
pub const ADMIN_A: &str = "boss@a.test";
/// The admin of b.test.
pub const ADMIN_B: &str = "boss@b.test";
/// A mailbox user of a.test.
pub const USER_A: &str = "bob@a.test";

/// A domain literal.
pub fn dom(s: &str) -> proto::Domain {
    proto::Domain::parse(s).unwrap()
}

/// An address literal.
pub fn addr(s: &str) -> proto::Address {
    proto::Address::parse(s).unwrap()
}

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A database with domains a.test and b.test, a mailbox in each, a superadmin and one admin
/// per domain, the admins' hashes written as postfixadmin writes them (md5crypt, its default).
pub async fn database(backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    let hash = |s| password::hash(&proto::Secret::from(PASSWORD), s).unwrap();
    let md5 = hash(password::Scheme::Md5Crypt);
    // postfixadmin stores md5crypt without the {MD5-CRYPT} prefix.
    let bare = md5.trim_start_matches("{MD5-CRYPT}");
    for d in ["a.test", "b.test"] {
        db.sql(&format!("INSERT INTO domain (domain, description) VALUES ('{d}', 'domain {d}')")).await;
        db.sql(&format!(
            "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
             ('bob@{d}', '{}', '{d}/bob/', 0, 'bob', '{d}')",
            hash(password::Scheme::Sha512Crypt)
        ))
        .await;
        db.sql(&format!("INSERT INTO alias (address, goto, domain) VALUES ('bob@{d}', 'bob@{d}', '{d}')"))
            .await;
        db.sql(&format!(
            "INSERT INTO admin (username, password, superadmin) VALUES ('boss@{d}', '{bare}', 0)"
        ))
        .await;
        db.sql(&format!("INSERT INTO domain_admins (username, domain) VALUES ('boss@{d}', '{d}')")).await;
    }
    // A pre-3.0 postfixadmin superadmin: a domain_admins row for ALL.
    db.sql(&format!("INSERT INTO admin (username, password) VALUES ('{SUPER}', '{md5}')")).await;
    db.sql(&format!("INSERT INTO domain_admins (username, domain) VALUES ('{SUPER}', 'ALL')")).await;
    db
}

/// A running mailroom-web; SIGTERM on drop.
pub struct Web {
    child: Child,
    /// Its HTTPS port.
    pub port: u16,
    /// Its metrics port.
    pub metrics: u16,
    /// Its stderr (the log).
    pub stderr: PathBuf,
    tls: TlsConnector,
    _tmp: tempfile::TempDir,
}

impl Web {
    /// Start the daemon on `db` with `extra` `[web]` lines.
    pub fn start(db: &TestDb, extra: &str) -> Web {
        let tmp = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let (port, metrics) = (free_port(), free_port());
        let config = tmp.path().join("mailroom.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = \"{}\"\nmail_root = \"{}\"\nconnect_timeout = 2\n\n\
                 [tls]\ncert = \"{}\"\nkey = \"{}\"\n\n\
                 [mra]\nimap_listen = [\"127.0.0.1:143\"]\nimaps_listen = [\"127.0.0.1:993\"]\n\n\
                 [web]\nlisten = [\"127.0.0.1:{port}\"]\nmetrics_listen = [\"127.0.0.1:{metrics}\"]\n\
                 user = \"root\"\nmail_hostname = \"mail.a.test\"\nthrottle_base_ms = 1\nthrottle_max_ms = 2\n\
                 log_level = \"debug\"\n{extra}\n",
                db.cfg.url.0[0],
                db.mail_root().display(),
                cert.display(),
                key.display(),
            ),
        )
        .unwrap();
        let stderr = tmp.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_mailroom-web"))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ck.cert.der().to_vec())).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let web = Web { child, port, metrics, stderr, tls: TlsConnector::from(Arc::new(client)), _tmp: tmp };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mailroom-web did not listen: {}", web.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        web
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// A browser with no cookies yet.
    pub fn browser(&self) -> Browser<'_> {
        Browser { web: self, cookies: HashMap::new() }
    }

    /// One raw HTTPS request (`Connection: close`); `head` holds extra header lines.
    pub async fn raw(&self, method: &str, path: &str, head: &str, body: &[u8]) -> Resp {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut s = self.tls.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{head}Content-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        s.flush().await.unwrap();
        let mut out = Vec::new();
        // A TLS close without close_notify still ends the answer.
        let _ = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut out))
            .await
            .expect("answer in time");
        Resp::parse(&out)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    fn parse(raw: &[u8]) -> Resp {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end: {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        assert!(
            !headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")),
            "chunked answers are not expected"
        );
        Resp { status, headers, body: body.to_string() }
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The `csrf` value of the first form on the page.
    pub fn csrf(&self) -> Option<String> {
        let at = self.body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
        Some(self.body[at..at + self.body[at..].find('"')?].to_string())
    }
}

/// Percent-encode a form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Cookies kept between requests, as a browser keeps them.
pub struct Browser<'a> {
    web: &'a Web,
    pub cookies: HashMap<String, String>,
}

impl Browser<'_> {
    fn cookie_header(&self) -> String {
        if self.cookies.is_empty() {
            return String::new();
        }
        let c: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("Cookie: {}\r\n", c.join("; "))
    }

    fn keep(&mut self, r: &Resp) {
        for (k, v) in &r.headers {
            if k != "set-cookie" {
                continue;
            }
            let first = v.split(';').next().unwrap();
            let (name, value) = first.split_once('=').unwrap();
            if v.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
    }

    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Resp {
        let r = self.web.raw("GET", path, &self.cookie_header(), b"").await;
        self.keep(&r);
        r
    }

    /// POST `fields` as a form to `path`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
        let head = format!("{}Content-Type: application/x-www-form-urlencoded\r\n", self.cookie_header());
        let r = self.web.raw("POST", path, &head, body.join("&").as_bytes()).await;
        self.keep(&r);
        r
    }

    /// Log in through the form; the answer to the POST.
    pub async fn login(&mut self, user: &str, password: &str) -> Resp {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200, "{form:?}");
        let csrf = form.csrf().expect("login form token");
        self.post("/login", &[("csrf", &csrf), ("username", user), ("password", password)]).await
    }

    /// The session's form token, read from a page.
    pub async fn token(&mut self, page: &str) -> String {
        let r = self.get(page).await;
        r.csrf().unwrap_or_else(|| panic!("no form token on {page}: {r:?}"))
    }
}

/// The roles, in the order of each expectation row.
pub const ROLES: [&str; 5] = ["anonymous", "user", "other-admin", "domain-admin", "superadmin"];

/// One browser per role, logged in (the anonymous one not).
pub async fn sessions(web: &Web) -> Vec<Browser<'_>> {
    let mut out = vec![web.browser()];
    for login in [USER_A, ADMIN_B, ADMIN_A, SUPER] {
        let mut b = web.browser();
        let r = b.login(login, PASSWORD).await;
        assert_eq!(r.status, 303, "{login} logs in: {r:?}\n{}", web.log());
        out.push(b);
    }
    out
}

/// Status of `path` for each role, anonymous first.
pub async fn get_matrix(browsers: &mut [Browser<'_>], path: &str, want: [u16; 5]) {
    for (i, b) in browsers.iter_mut().enumerate() {
        let r = b.get(path).await;
        assert_eq!(r.status, want[i], "GET {path} as {}: {}", ROLES[i], r.body);
        if r.status == 303 {
            assert_eq!(r.header("location"), Some("/login"), "GET {path} as {}", ROLES[i]);
        }
    }
}

/// Status of a form POST for each role, each with its own session's token (the anonymous
/// visitor has none to send); `fields` gets the role's index for unique names.
pub async fn post_matrix(
    browsers: &mut [Browser<'_>],
    path: &str,
    fields: impl Fn(usize) -> Vec<(String, String)>,
    want: [u16; 5],
) {
    for (i, b) in browsers.iter_mut().enumerate() {
        let token =
            if i == 0 { String::new() } else { b.token(if i == 1 { "/account" } else { "/admin" }).await };
        let mut f = fields(i);
        f.push(("csrf".into(), token));
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = b.post(path, &pairs).await;
        assert_eq!(r.status, want[i], "POST {path} as {}: {}", ROLES[i], r.body);
    }
}

pub fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
