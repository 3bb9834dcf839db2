//! Connection pools and fail-over: one lazy pool per URL, tried in order; a host that stops
//! answering is skipped until it answers again, so no restart is ever needed.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::Unavailable;

/// Which SQL dialect the URL chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:` URLs, the embedded default.
    Sqlite,
    /// `mysql://` and `mariadb://` URLs.
    MariaDb,
}

/// A bound parameter. Values from clients only ever travel as these, never inside SQL text.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// SQL text with `?` placeholders and their values.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Query {
    pub fn new(sql: impl Into<String>) -> Self {
        Query { sql: sql.into(), args: Vec::new() }
    }

    pub fn text(mut self, v: impl Into<String>) -> Self {
        self.args.push(Arg::Text(v.into()));
        self
    }

    pub fn int(mut self, v: i64) -> Self {
        self.args.push(Arg::Int(v));
        self
    }

    fn build(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.sql);
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// A database error as the admin tool sees it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error("{0}")]
    Constraint(String),
}

pub(crate) struct Db {
    backend: Backend,
    pools: Vec<(String, AnyPool)>,
    current: AtomicUsize,
}

impl Db {
    /// Pools for each URL; nothing connects until the first query.
    pub fn open(cfg: &config::Database) -> Result<Db, Unavailable> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let urls = &cfg.url.0;
        let backend = if urls.first().is_some_and(|u| u.starts_with("sqlite:")) {
            Backend::Sqlite
        } else {
            Backend::MariaDb
        };
        let timeout = Duration::from_secs(cfg.connect_timeout.get());
        let mut pools = Vec::new();
        for url in urls {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let busy_ms = timeout.as_millis() as u64;
            let pool = AnyPoolOptions::new()
                .max_connections(cfg.max_connections.get())
                .acquire_timeout(timeout)
                // No ping per lookup (it doubled the round trips); a connection the server
                // dropped fails its query and is retried once on a fresh one below.
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if conn.backend_name() == "SQLite" {
                            // A locked database waits this long, then is "unavailable" (4xx).
                            conn.execute(format!("PRAGMA busy_timeout = {busy_ms}").as_str()).await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                        }
                        Ok(())
                    })
                })
                .connect_lazy(&url)
                .map_err(|e| Unavailable(format!("database URL {}: {e}", config::redact_url(&url))))?;
            pools.push((config::redact_url(&url), pool));
        }
        Ok(Db { backend, pools, current: AtomicUsize::new(0) })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Run `f` against the current host, failing over to the next ones when a host cannot be
    /// reached. Errors of the SQL itself are not a reason to change host.
    async fn with_failover<T, F, Fut>(&self, what: &str, f: F) -> Result<T, sqlx::Error>
    where
        F: Fn(AnyPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let n = self.pools.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..n {
            let idx = (start + i) % n;
            let (name, pool) = &self.pools[idx];
            let mut result = f(pool.clone()).await;
            if matches!(&result, Err(e) if is_connectivity(e)) {
                // Maybe a pooled connection the server closed (restart, wait_timeout): once more.
                result = f(pool.clone()).await;
            }
            match result {
                Ok(v) => {
                    if idx != start {
                        tracing::warn!(host = %name, "database fail-over: now using this host");
                        self.current.store(idx, Ordering::Relaxed);
                    }
                    return Ok(v);
                }
                Err(e) if is_connectivity(&e) && i + 1 < n => {
                    tracing::warn!(host = %name, error = %e, "{what}: database host unreachable, trying the next");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(sqlx::Error::PoolClosed))
    }

    pub async fn fetch_optional(&self, q: &Query) -> Result<Option<AnyRow>, Unavailable> {
        let start = std::time::Instant::now();
        let r =
            self.with_failover("lookup", |pool| async move { q.build().fetch_optional(&pool).await }).await;
        crate::metrics::queried(start, r.is_ok());
        r.map_err(unavailable)
    }

    pub async fn fetch_all(&self, q: &Query) -> Result<Vec<AnyRow>, Unavailable> {
        let start = std::time::Instant::now();
        let r = self.with_failover("lookup", |pool| async move { q.build().fetch_all(&pool).await }).await;
        crate::metrics::queried(start, r.is_ok());
        r.map_err(unavailable)
    }

    /// Run statements in one transaction (admin writes); returns rows affected per statement.
    pub async fn transaction(&self, qs: &[Query]) -> Result<Vec<u64>, DbError> {
        let res = self
            .with_failover("update", |pool| async move {
                let mut tx = pool.begin().await?;
                let mut counts = Vec::new();
                for q in qs {
                    counts.push(q.build().execute(&mut *tx).await?.rows_affected());
                }
                tx.commit().await?;
                Ok(counts)
            })
            .await;
        res.map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                DbError::Constraint(d.message().to_string())
            }
            _ => DbError::Unavailable(unavailable(e)),
        })
    }

    /// Apply mailroom's migrations: postfixadmin's tables only where they are missing.
    pub async fn migrate(&self) -> Result<(), Unavailable> {
        let (_, pool) = &self.pools[self.current.load(Ordering::Relaxed)];
        let res = match self.backend {
            Backend::Sqlite => sqlx::migrate!("../sql/sqlite").run(pool).await,
            Backend::MariaDb => sqlx::migrate!("../sql/mariadb").run(pool).await,
        };
        res.map_err(|e| Unavailable(format!("migration failed: {e}")))
    }

    /// The server's version string (`SELECT VERSION()` / `sqlite_version()`).
    pub async fn server_version(&self) -> Result<String, Unavailable> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
            Backend::MariaDb => "SELECT VERSION()",
        };
        let row = self.fetch_optional(&Query::new(sql)).await?;
        row.map(|r| text(&r, 0)).transpose()?.flatten().ok_or_else(|| Unavailable("no version row".into()))
    }
}

/// Errors that mean "this host is not answering", as opposed to a bad query.
fn is_connectivity(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_)
    )
}

fn unavailable(e: sqlx::Error) -> Unavailable {
    tracing::error!(error = %e, "database error");
    Unavailable(e.to_string())
}

/// A text column by name or index; NULL is `None`. MariaDB may hand TEXT back as bytes.
pub(crate) fn text<I: sqlx::ColumnIndex<AnyRow> + Copy>(
    row: &AnyRow,
    col: I,
) -> Result<Option<String>, Unavailable> {
    if let Ok(v) = row.try_get::<Option<String>, _>(col) {
        return Ok(v);
    }
    match row.try_get::<Option<Vec<u8>>, _>(col) {
        Ok(v) => Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned())),
        Err(e) => Err(Unavailable(format!("unreadable column: {e}"))),
    }
}

/// A number column that may be stored as an integer, a boolean or text (Extman's `"<bytes>S"` quota).
/// sqlx's Any driver cannot read MariaDB TINYINT at all: select flags as `active + 0`.
pub(crate) fn number<I: sqlx::ColumnIndex<AnyRow> + Copy>(row: &AnyRow, col: I) -> Result<i64, Unavailable> {
    if let Ok(v) = row.try_get::<Option<i64>, _>(col) {
        return Ok(v.unwrap_or(0));
    }
    if let Ok(v) = row.try_get::<Option<bool>, _>(col) {
        return Ok(v.map(i64::from).unwrap_or(0));
    }
    let s = text(row, col)?.unwrap_or_default();
    let digits = s.trim().trim_end_matches(['S', 's']);
    if digits.is_empty() {
        return Ok(0);
    }
    digits.parse().map_err(|_| Unavailable(format!("not a number in the database: {s:?}")))
}
