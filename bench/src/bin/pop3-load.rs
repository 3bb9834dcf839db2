//! pop3-load: POP3 download sessions per second and MB/s, or many held-open sessions for a
//! memory measurement; the native counterpart of `harness/bench/pop3_load.py`, which saturates
//! a core before the servers do.
//!
//! Load mode: `-c` std threads each repeat, until `--seconds` pass or `--max-sessions` have
//! started in total: connect, USER, PASS, STAT, UIDL, RETR every message one at a time in
//! order, QUIT; nothing is deleted. Same session and same counting as the Python script: MB/s
//! counts RETR payload as received (dot-stuffed lines with CRLF, without the `+OK` and final
//! `.` lines), 1 MB = 1e6 bytes; a session with any failed command is an error and not counted.
//! `--user` may contain `{i}`, replaced round-robin by the numbers of `--range A-B` (a POP3
//! server that locks maildrops, like mailroom-mra, needs one user per client).
//!
//! Final line (the Python script's keys): clients secs sessions sessions_per_s MB_per_s
//! msgs_per_session errors session_p50_ms session_p99_ms login_p50_ms login_p99_ms
//! client_cpu_pct. Exit status 1 on any error.
//!
//! Hold mode (`--hold K`): opens K sessions (USER, PASS, STAT; users round-robin from the
//! range), prints `held=K` on stdout, waits until standard input ends, then QUITs them all;
//! meanwhile a script measures the servers' memory.
//!
//!     pop3-load --port 110 --user 'load{i}@b.test' --range 1-4 --password pw -c 4 --seconds 10

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

/// POP3 download sessions per second, or held-open sessions.
#[derive(Parser)]
#[command(name = "pop3-load")]
struct Args {
    /// Server address
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port
    #[arg(long, default_value_t = 110)]
    port: u16,
    /// Login, or a template with {i} (see --range)
    #[arg(long)]
    user: String,
    /// A-B: the numbers {i} in --user takes; clients take users round-robin
    #[arg(long)]
    range: Option<String>,
    /// Password
    #[arg(long)]
    password: String,
    /// Client threads
    #[arg(short = 'c', long = "clients", default_value_t = 4)]
    clients: usize,
    /// Stop starting sessions after this many seconds
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Most sessions in total
    #[arg(long, default_value_t = 100_000)]
    max_sessions: u64,
    /// Untimed sessions first
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Read/write timeout, seconds
    #[arg(long, default_value_t = 60.0)]
    io_timeout: f64,
    /// Hold this many logged-in sessions open until stdin ends (memory measurement)
    #[arg(long)]
    hold: Option<usize>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pop3-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What one session measured.
struct Session {
    bytes: u64,
    msgs: u64,
    login: Duration,
}

/// A POP3 connection with blocking std I/O.
struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
    line: Vec<u8>,
}

impl Conn {
    fn connect(args: &Args) -> Result<Conn> {
        let s = TcpStream::connect((args.host.as_str(), args.port)).context("connect")?;
        let t = Some(Duration::from_secs_f64(args.io_timeout));
        s.set_read_timeout(t)?;
        s.set_write_timeout(t)?;
        s.set_nodelay(true)?;
        let mut c = Conn { r: BufReader::with_capacity(64 * 1024, s.try_clone()?), w: s, line: Vec::new() };
        c.status("greeting")?;
        Ok(c)
    }

    /// Reads one line into `self.line`; its length with the line end.
    fn read_line(&mut self) -> Result<usize> {
        self.line.clear();
        let n = self.r.read_until(b'\n', &mut self.line)?;
        if n == 0 {
            bail!("connection closed");
        }
        Ok(n)
    }

    /// Reads a status line; error unless `+OK`.
    fn status(&mut self, what: &str) -> Result<String> {
        self.read_line()?;
        let text = String::from_utf8_lossy(&self.line).trim_end().to_string();
        if !text.starts_with("+OK") {
            bail!("{what}: {text}");
        }
        Ok(text)
    }

    fn cmd(&mut self, line: &str) -> Result<String> {
        self.w.write_all(format!("{line}\r\n").as_bytes())?;
        let what = line.split(' ').next().unwrap_or(line);
        self.status(what)
    }

    /// A multi-line reply: (lines, payload bytes without the final `.` line).
    fn multi(&mut self, line: &str) -> Result<(u64, u64)> {
        self.cmd(line)?;
        let (mut lines, mut bytes) = (0, 0);
        loop {
            let n = self.read_line()?;
            if self.line == b".\r\n" || self.line == b".\n" {
                return Ok((lines, bytes));
            }
            lines += 1;
            bytes += n as u64;
        }
    }
}

fn session(args: &Args, user: &str) -> Result<Session> {
    let mut c = Conn::connect(args)?;
    let t = Instant::now();
    c.cmd(&format!("USER {user}"))?;
    c.cmd(&format!("PASS {}", args.password))?;
    let login = t.elapsed();
    let stat = c.cmd("STAT")?;
    let n: u64 = stat.split(' ').nth(1).and_then(|n| n.parse().ok()).context("STAT count")?;
    let (uidls, _) = c.multi("UIDL")?;
    if uidls != n {
        bail!("UIDL listed {uidls} of {n} messages");
    }
    let mut bytes = 0;
    for i in 1..=n {
        bytes += c.multi(&format!("RETR {i}"))?.1;
    }
    c.cmd("QUIT")?;
    Ok(Session { bytes, msgs: n, login })
}

fn users(args: &Args) -> Result<Vec<String>> {
    let Some(range) = &args.range else { return Ok(vec![args.user.clone()]) };
    let (a, b) = range.split_once('-').context("--range A-B")?;
    let (a, b): (u32, u32) = (a.parse()?, b.parse()?);
    Ok((a..=b).map(|i| args.user.replace("{i}", &i.to_string())).collect())
}

fn run(args: Args) -> Result<ExitCode> {
    let users = users(&args)?;
    if let Some(k) = args.hold {
        return hold(&args, &users, k);
    }
    for i in 0..args.warmup {
        session(&args, &users[i % users.len()]).context("warmup session")?;
    }
    let args = Arc::new(args);
    let started = Arc::new(AtomicU64::new(0));
    let results = Arc::new(Mutex::new((Vec::new(), 0u64, None::<String>)));
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let (t0, cpu0) = (Instant::now(), cpu_seconds());
    let threads: Vec<_> = (0..args.clients)
        .map(|idx| {
            let (args, started, results, user) =
                (args.clone(), started.clone(), results.clone(), users[idx % users.len()].clone());
            std::thread::spawn(move || {
                while Instant::now() < deadline && started.fetch_add(1, Ordering::Relaxed) < args.max_sessions
                {
                    let t = Instant::now();
                    let r = session(&args, &user);
                    let mut res = results.lock().unwrap();
                    match r {
                        Ok(s) => res.0.push((t.elapsed(), s)),
                        Err(e) => {
                            res.1 += 1;
                            res.2.get_or_insert_with(|| format!("{user}: {e:#}"));
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let secs = t0.elapsed().as_secs_f64();
    let client_cpu_pct = 100.0 * (cpu_seconds() - cpu0) / secs;
    let (done, errors, first) = std::mem::take(&mut *results.lock().unwrap());
    if let Some(e) = first {
        eprintln!("pop3-load: first error: {e}");
    }
    let n = done.len();
    let bytes: u64 = done.iter().map(|(_, s)| s.bytes).sum();
    let msgs: u64 = done.iter().map(|(_, s)| s.msgs).sum();
    let mut sess: Vec<Duration> = done.iter().map(|(d, _)| *d).collect();
    let mut login: Vec<Duration> = done.iter().map(|(_, s)| s.login).collect();
    sess.sort();
    login.sort();
    let ms = |v: &[Duration], p: f64| {
        percentile(v, p).map_or("-".into(), |d| format!("{:.3}", d.as_secs_f64() * 1e3))
    };
    println!(
        "clients={} secs={secs:.3} sessions={n} sessions_per_s={:.3} MB_per_s={:.3} msgs_per_session={} errors={errors} \
         session_p50_ms={} session_p99_ms={} login_p50_ms={} login_p99_ms={} client_cpu_pct={client_cpu_pct:.3}",
        args.clients,
        n as f64 / secs,
        bytes as f64 / secs / 1e6,
        if n > 0 { format!("{:.1}", msgs as f64 / n as f64) } else { "-".into() },
        ms(&sess, 50.0),
        ms(&sess, 99.0),
        ms(&login, 50.0),
        ms(&login, 99.0),
    );
    Ok(if errors > 0 || n == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Opens `k` logged-in sessions, reports, waits for stdin to end, quits them.
fn hold(args: &Args, users: &[String], k: usize) -> Result<ExitCode> {
    let mut conns = Vec::with_capacity(k);
    for i in 0..k {
        let user = &users[i % users.len()];
        let mut c = Conn::connect(args).with_context(|| format!("session {i}"))?;
        c.cmd(&format!("USER {user}"))?;
        c.cmd(&format!("PASS {}", args.password)).with_context(|| format!("session {i} as {user}"))?;
        c.cmd("STAT")?;
        conns.push(c);
    }
    println!("held={k}");
    std::io::stdout().flush()?;
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink)?;
    for mut c in conns {
        let _ = c.cmd("QUIT");
    }
    Ok(ExitCode::SUCCESS)
}

/// Nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// This process's utime+stime in seconds, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, r)| r.split(' ').collect()).unwrap_or_default();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
