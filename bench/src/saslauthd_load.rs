//! saslauthd-load: authentications per second on a cyrus-saslauthd-compatible socket.
//!
//! Speaks the saslauthd Unix-socket protocol directly: four counted fields (u16 big-endian length,
//! then the bytes): login, password, service, realm; the reply is one counted string, `OK` or
//! `NO reason`. One request per connection, as libsasl and testsaslauthd do.
//!
//! First checks that the right password gets `OK` and a wrong one gets `NO` (exit 1 otherwise).
//! Then `-c` threads each loop connect / write / read / close with blocking std sockets, until
//! `--seconds` pass or `--max-requests` requests have started in total, so the client itself
//! costs little CPU on a machine it shares with the server.
//!
//! Prints a table row and, last, the harness's `key=value` line (same keys as
//! `harness/bench/saslauthd_load.py`): conc secs auths auths_per_s errors p50_ms p99_ms
//! wrong_password client_cpu_pct. Client CPU is utime+stime from /proc/self/stat over wall time.
//!
//!     saslauthd-load --socket /run/saslauthd/mux --user bob@b.test --password bobpass -c 4 --seconds 5

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

/// Authentications per second on a saslauthd socket (cyrus protocol, one request per connection).
#[derive(Parser)]
#[command(name = "saslauthd-load")]
struct Args {
    /// The saslauthd socket
    #[arg(long, default_value = "/run/saslauthd/mux")]
    socket: PathBuf,
    /// Login; split at the last '@' into login and realm, as libsasl does (unless --no-split)
    #[arg(long)]
    user: String,
    /// Send --user whole as the login, with an empty realm
    #[arg(long)]
    no_split: bool,
    /// The right password
    #[arg(long)]
    password: String,
    /// Service field
    #[arg(long, default_value = "smtp")]
    service: String,
    /// Concurrent connections (threads)
    #[arg(short = 'c', long = "conc", default_value_t = 4)]
    conc: usize,
    /// Seconds to run
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Most requests in total
    #[arg(long, default_value_t = 10_000_000)]
    max_requests: u64,
    /// Read/write timeout per request, seconds (a wrong password may be answered late on purpose)
    #[arg(long, default_value_t = 15.0)]
    io_timeout: f64,
}

/// The request fields, encoded once.
struct Target {
    socket: PathBuf,
    good: Vec<u8>,
    timeout: Duration,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("saslauthd-load: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    if args.conc == 0 || !(args.seconds > 0.0 && args.seconds <= 3600.0) {
        bail!("need -c >= 1 and 0 < --seconds <= 3600");
    }
    let (login, realm) = split_user(&args.user, args.no_split);
    let fields = |pw: &str| {
        proto::cyrus::encode_request(&[
            login.as_bytes(),
            pw.as_bytes(),
            args.service.as_bytes(),
            realm.as_bytes(),
        ])
    };
    let timeout = Duration::from_secs_f64(args.io_timeout.clamp(0.1, 600.0));
    let target = Arc::new(Target { socket: args.socket.clone(), good: fields(&args.password), timeout });

    let good = auth(&target.socket, &target.good, timeout).context("right-password check")?;
    if !good.starts_with("OK") {
        bail!("right password got {good:?}");
    }
    let wrong = format!("{}-wrong", args.password);
    let bad = auth(&target.socket, &fields(&wrong), timeout).context("wrong-password check")?;
    if !bad.starts_with("NO") {
        bail!("wrong password got {bad:?}");
    }

    let started = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(args.seconds);
    let threads: Vec<_> = (0..args.conc)
        .map(|_| {
            let (target, started, first_error) = (target.clone(), started.clone(), first_error.clone());
            let max = args.max_requests;
            std::thread::spawn(move || worker(&target, deadline, &started, max, &first_error))
        })
        .collect();
    let mut lat: Vec<Duration> = Vec::new();
    let mut errors = 0u64;
    for t in threads {
        let (mine, errs) = t.join().map_err(|_| anyhow::anyhow!("worker thread panicked"))?;
        lat.extend(mine);
        errors += errs;
    }
    let secs = t0.elapsed().as_secs_f64();
    let client_cpu_pct = 100.0 * (cpu_seconds() - cpu0) / secs;
    if let Some(e) = first_error.lock().expect("error lock").as_ref() {
        eprintln!("saslauthd-load: first failure: {e}");
    }
    lat.sort_unstable();
    let ms =
        |p: f64| percentile(&lat, p).map_or("na".to_string(), |d| format!("{:.3}", d.as_secs_f64() * 1e3));
    let (p50, p99) = (ms(50.0), ms(99.0));
    let rate = lat.len() as f64 / secs;
    let wrong_word = bad.split(' ').next().unwrap_or("");

    println!(
        "{:<32} {:>5} {:>7} {:>9} {:>10} {:>9} {:>9} {:>7} {:>8}",
        "socket", "conc", "secs", "auths", "auths/s", "p50 ms", "p99 ms", "errors", "client%"
    );
    println!(
        "{:<32} {:>5} {:>7.3} {:>9} {:>10.1} {:>9} {:>9} {:>7} {:>8.1}",
        args.socket.display(),
        args.conc,
        secs,
        lat.len(),
        rate,
        p50,
        p99,
        errors,
        client_cpu_pct
    );
    println!(
        "conc={} secs={secs:.3} auths={} auths_per_s={rate:.3} errors={errors} p50_ms={p50} p99_ms={p99} \
         wrong_password={wrong_word} client_cpu_pct={client_cpu_pct:.3}",
        args.conc,
        lat.len(),
    );
    Ok(if errors > 0 || lat.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// One thread's loop: latencies of the `OK`s, and the count of everything else.
fn worker(
    target: &Target,
    deadline: Instant,
    started: &AtomicU64,
    max: u64,
    first_error: &Mutex<Option<String>>,
) -> (Vec<Duration>, u64) {
    let mut lat = Vec::with_capacity(1 << 16);
    let mut errors = 0;
    while Instant::now() < deadline && started.fetch_add(1, Ordering::Relaxed) < max {
        let t = Instant::now();
        let err = match auth(&target.socket, &target.good, target.timeout) {
            Ok(reply) if reply.starts_with("OK") => {
                lat.push(t.elapsed());
                continue;
            }
            Ok(reply) => format!("reply {reply:?}"),
            Err(e) => format!("{e:#}"),
        };
        errors += 1;
        first_error.lock().expect("error lock").get_or_insert(err);
    }
    (lat, errors)
}

/// `user@realm` → (`user`, `realm`) at the last '@', as libsasl does; whole login otherwise.
fn split_user(user: &str, no_split: bool) -> (String, String) {
    match user.rsplit_once('@') {
        Some((login, realm)) if !no_split && !login.is_empty() => (login.to_string(), realm.to_string()),
        _ => (user.to_string(), String::new()),
    }
}

/// One request on a fresh connection; the reply text.
fn auth(socket: &Path, req: &[u8], timeout: Duration) -> Result<String> {
    let mut s = UnixStream::connect(socket).with_context(|| format!("connect {}", socket.display()))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(req).context("write")?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).context("read reply length")?;
    let mut text = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut text).context("read reply")?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// Nearest-rank percentile of sorted values (as the harness's benchlib does).
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).max(1);
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// User + system CPU seconds of this process from /proc/self/stat (fields 14 and 15, in
/// USER_HZ ticks, which Linux fixes at 100 for userspace on x86 and arm).
fn cpu_seconds() -> f64 {
    const USER_HZ: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / USER_HZ
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_libsasl() {
        let s = |u: &str, n| split_user(u, n);
        assert_eq!(s("bob@b.test", false), ("bob".into(), "b.test".into()));
        assert_eq!(s("a@b@c.test", false), ("a@b".into(), "c.test".into()));
        assert_eq!(s("bob", false), ("bob".into(), String::new()));
        assert_eq!(s("bob@b.test", true), ("bob@b.test".into(), String::new()));
    }

    #[test]
    fn nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
