//! authlib-bench: lookups and password verifications per second against a MariaDB (or SQLite)
//! directory, at several concurrencies, printed as a table.
//!
//! It creates (and afterwards drops) a scratch database `mailroom_bench` on the server given by
//! `--admin-url`, fills it with `--users` postfixadmin-style mailboxes, one per scheme for the
//! verification rows, and runs each cell for `--seconds`, bounded in time and count.
//!
//!     cargo run --release -p bench --bin authlib-bench -- --admin-url mysql://root@127.0.0.1:3306
//!
//! With `--config mailroom.toml` it measures that file's `[database]` instead (an LDAP directory,
//! say), which must already hold `user0@b.test` .. `user<N-1>@b.test` (`--users N`) with the
//! password `--password`: lookups, and verifications of user0's password.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use authlib::{Directory, Verdict};
use clap::Parser;
use password::Scheme;
use proto::{Address, Secret};

#[derive(Parser)]
struct Args {
    /// Server URL with rights to create a database (no database part)
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306")]
    admin_url: String,
    /// Seconds per cell
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Concurrencies to measure
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    concurrency: Vec<usize>,
    /// Mailboxes in the scratch database
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// Schemes to measure verification for
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "PLAIN,PLAIN-MD5,SHA512,SSHA512,MD5-CRYPT,SHA256-CRYPT,SHA512-CRYPT,BLF-CRYPT,ARGON2ID"
    )]
    schemes: Vec<String>,
    /// Measure this mailroom.toml's directory, filled beforehand, instead of a scratch database
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// The users' password with --config
    #[arg(long, default_value = PASSWORD)]
    password: String,
}

const DB: &str = "mailroom_bench";
const PASSWORD: &str = "benchpass";

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    sqlx::any::install_default_drivers();
    if let Some(path) = &args.config {
        let cfg = config::load(path)?;
        let dir = Arc::new(Directory::open(&cfg.database)?);
        return measure_directory(
            &args,
            dir,
            &[("userPassword or bind".to_string(), "user0".to_string())],
            &args.password,
        )
        .await;
    }
    let admin = sqlx::AnyPool::connect(&args.admin_url).await.context("admin connection")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {DB}")).execute(&admin).await?;
    sqlx::query(&format!("CREATE DATABASE {DB}")).execute(&admin).await?;
    let url = format!("{}/{DB}", args.admin_url.trim_end_matches('/'));
    let result = run(&args, &url).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {DB}")).execute(&admin).await?;
    result
}

async fn run(args: &Args, url: &str) -> Result<()> {
    let cfg = config::Database {
        url: config::UrlList(vec![url.to_string()]),
        max_connections: 32.try_into()?,
        ..Default::default()
    };
    let dir = Arc::new(Directory::open(&cfg)?);
    dir.migrate().await?;
    let pool = sqlx::AnyPool::connect(url).await?;
    sqlx::query("INSERT INTO domain (domain) VALUES ('b.test')").execute(&pool).await?;
    let plain = password::hash(&Secret::from(PASSWORD), Scheme::Plain)?;
    for i in 0..args.users {
        add(&pool, &format!("user{i}"), &plain).await?;
    }
    let mut schemes = Vec::new();
    for name in &args.schemes {
        let scheme = Scheme::from_name(name).with_context(|| format!("unknown scheme {name}"))?;
        let local = format!("s-{}", name.to_lowercase());
        add(&pool, &local, &password::hash(&Secret::from(PASSWORD), scheme)?).await?;
        schemes.push((name.clone(), local));
    }
    measure_directory(args, dir, &schemes, PASSWORD).await
}

/// Lookups of `user<n>@b.test`, then verifications of each (row name, local part) in `logins`.
async fn measure_directory(
    args: &Args,
    dir: Arc<Directory>,
    logins: &[(String, String)],
    password: &str,
) -> Result<()> {
    println!("server: {}", dir.server_version().await?);
    println!("{:<28} {:>5} {:>12} {:>10} {:>10}", "operation", "conc", "ops/s", "p50 ms", "p99 ms");
    let users = args.users;
    for &c in &args.concurrency {
        let d = dir.clone();
        let (rate, p50, p99) = measure(args.seconds, c, move |n| {
            let d = d.clone();
            async move {
                let a = Address::parse(&format!("user{}@b.test", n % users)).unwrap();
                assert!(d.resolve(&a).await.unwrap().is_some());
            }
        })
        .await;
        row("lookup (resolve)", c, rate, p50, p99);
    }
    for (name, local) in logins {
        for &c in &args.concurrency {
            let d = dir.clone();
            let login = format!("{local}@b.test");
            let password = password.to_string();
            let (rate, p50, p99) = measure(args.seconds, c, move |_| {
                let (d, login, password) = (d.clone(), login.clone(), password.clone());
                async move {
                    let v = d.authenticate(&login, &Secret::from(password.as_str())).await.unwrap();
                    assert!(matches!(v, Verdict::Accepted(_)));
                }
            })
            .await;
            row(&format!("verify {name}"), c, rate, p50, p99);
        }
    }
    Ok(())
}

async fn add(pool: &sqlx::AnyPool, local: &str, hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO mailbox (username, password, maildir, local_part, domain) VALUES (?, ?, ?, ?, 'b.test')",
    )
    .bind(format!("{local}@b.test"))
    .bind(hash)
    .bind(format!("b.test/{local}/"))
    .bind(local)
    .execute(pool)
    .await?;
    sqlx::query("INSERT INTO alias (address, goto, domain) VALUES (?, ?, 'b.test')")
        .bind(format!("{local}@b.test"))
        .bind(format!("{local}@b.test"))
        .execute(pool)
        .await?;
    Ok(())
}

fn row(op: &str, c: usize, rate: f64, p50: f64, p99: f64) {
    println!("{op:<28} {c:>5} {rate:>12.0} {p50:>10.3} {p99:>10.3}");
}

/// Run `op` from `conc` tasks for `seconds` (at most 10 million operations); ops/s, p50, p99 in ms.
async fn measure<F, Fut>(seconds: f64, conc: usize, op: F) -> (f64, f64, f64)
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..conc {
        let (op, stop) = (op.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = t;
            while !stop.load(Ordering::Relaxed) && lat.len() < 10_000_000 / conc {
                let t0 = Instant::now();
                op(n).await;
                lat.push(t0.elapsed());
                n += conc;
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("bench task"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)));
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    (all.len() as f64 / elapsed, ms(pct(0.50)), ms(pct(0.99)))
}
