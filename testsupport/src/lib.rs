//! Test databases: every authlib behaviour runs on SQLite and on MariaDB (DESIGN §7).
//!
//! [`TestDb::new`] gives a fresh, migrated database of either backend and a mail root in a
//! temporary directory. MariaDB is the server named by `MAILROOM_TEST_MYSQL_URL`, else a
//! private `mariadbd` started for the test process ([`mariadb`]); there is no silent skip.

pub mod bin;
pub mod ldap;
pub mod mariadb;
pub mod net;
pub mod nsd;
pub mod postfix;
pub mod process;
pub mod wait;

use std::path::PathBuf;

pub use authlib::Backend;
use authlib::Directory;
use sqlx::AnyPool;

/// Both backends, for table-driven tests.
pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::MariaDb];

/// A fresh database with postfixadmin's schema, a directory opened on it and a mail root.
pub struct TestDb {
    /// Which backend.
    pub backend: Backend,
    /// The `[database]` section pointing at it (mail root inside `tmp`).
    pub cfg: config::Database,
    /// The directory under test.
    pub dir: Directory,
    /// A raw admin pool for fixtures.
    pub pool: AnyPool,
    /// Temporary directory holding the SQLite file and the mail root.
    pub tmp: tempfile::TempDir,
    _mysql: Option<mariadb::FreshDatabase>,
}

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new(backend: Backend) -> TestDb {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (url, mysql) = match backend {
            Backend::Sqlite => {
                (format!("sqlite://{}?mode=rwc", tmp.path().join("mailroom.db").display()), None)
            }
            Backend::MariaDb => {
                let fresh =
                    tokio::task::spawn_blocking(mariadb::fresh_database).await.expect("fresh database");
                (fresh.url.clone(), Some(fresh))
            }
        };
        let cfg = config::Database {
            url: config::UrlList(vec![url.clone()]),
            mail_root: config::AbsPath::new(tmp.path().join("vmail").display().to_string()).unwrap(),
            connect_timeout: 2.try_into().unwrap(),
            ..Default::default()
        };
        let dir = Directory::open(&cfg).expect("open directory");
        dir.migrate().await.expect("migrate");
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(&url).await.expect("admin pool");
        TestDb { backend, cfg, dir, pool, tmp, _mysql: mysql }
    }

    /// Run fixture SQL, one statement per call.
    pub async fn sql(&self, sql: &str) {
        sqlx::query(sql).execute(&self.pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The mail root.
    pub fn mail_root(&self) -> PathBuf {
        PathBuf::from(&self.cfg.mail_root)
    }

    /// Another directory on the same database with a changed configuration.
    pub fn directory_with(&self, f: impl FnOnce(&mut config::Database)) -> Directory {
        let mut cfg = self.cfg.clone();
        f(&mut cfg);
        Directory::open(&cfg).expect("open directory")
    }
}
