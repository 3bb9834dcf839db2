//! `mailroomctl report`: what pflogsumm is to Postfix's log. It reads the daemons' log lines
//! (files, standard input or the journal), counts the events they record and prints a summary:
//! messages received, delivered, deferred, bounced and refused, top senders and recipients,
//! why mail was refused, failed logins by client address, and traffic per hour.
//!
//! The lines it knows are the ones the daemons write for exactly these events (mailroom-mta's
//! `ID: client=..., from=<...>, size=N, nrcpt=N (queue active)` and `ID: to=<...>, relay=...,
//! status=sent|deferred|bounced|expired (...)`, the `sender refused`/`recipient refused` lines
//! with their reply, and the `authentication failed ... client=` lines fail2ban reads); every
//! other line is skipped. A line's time is the first ISO 8601 timestamp on it (tracing's, or
//! `journalctl -o short-iso`'s).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

/// `mailroomctl report [FILE...]`
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Log files to read (`-` is standard input; none: standard input)
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Read mailroom's units from the journal (journalctl) instead of files
    #[arg(long, conflicts_with = "files")]
    journal: bool,
    /// Only lines at or after this time (2026-12-07, 2026-12-07T08:00, or journalctl's forms
    /// with --journal)
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only lines before this time (same forms as --since)
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// How many senders, recipients, reasons and clients to list
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Print the summary as JSON, for scripts
    #[arg(long)]
    json: bool,
}

/// The counts of one report; `--json` prints it as is.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// Messages queued by mailroom-mta (one per `(queue active)` line).
    pub received: u64,
    /// Their total size in bytes.
    pub received_bytes: u64,
    /// Recipients delivered, locally or to another MTA.
    pub delivered: u64,
    /// Delivery attempts that will be retried.
    pub deferred: u64,
    /// Recipients that failed for good (a 5xx reply).
    pub bounced: u64,
    /// Recipients that failed because they stayed queued too long.
    pub expired: u64,
    /// Senders and recipients refused during the SMTP dialogue.
    pub rejected: u64,
    /// Failed logins at mailroom-mta and mailroom-mra.
    pub failed_logins: u64,
    /// Failed password checks at mailroom-saslauthd (each front-end failure is one too).
    pub failed_password_checks: u64,
    pub top_senders: Vec<(String, u64)>,
    pub top_recipients: Vec<(String, u64)>,
    pub reject_reasons: Vec<(String, u64)>,
    pub failed_logins_by_client: Vec<(String, u64)>,
    /// `YYYY-MM-DDTHH` → messages received and recipients delivered in that hour.
    pub per_hour: BTreeMap<String, Hour>,
}

/// One hour's traffic.
#[derive(Debug, Default, Serialize, PartialEq, Clone, Copy)]
pub struct Hour {
    pub received: u64,
    pub delivered: u64,
}

impl ReportArgs {
    pub fn run(self) -> Result<ExitCode> {
        let mut tally = Tally::new(self.since.clone(), self.until.clone());
        if self.journal {
            self.read_journal(&mut tally)?;
        } else if self.files.is_empty() {
            tally.read(std::io::stdin().lock())?;
        } else {
            for f in &self.files {
                if f.as_os_str() == "-" {
                    tally.read(std::io::stdin().lock())?;
                } else {
                    let file = std::fs::File::open(f).with_context(|| format!("{}", f.display()))?;
                    tally.read(BufReader::new(file)).with_context(|| format!("{}", f.display()))?;
                }
            }
        }
        let report = tally.finish(self.top);
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", text(&report));
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Feed the journal of mailroom's four daemons to `tally`; journalctl does the time filter.
    fn read_journal(&self, tally: &mut Tally) -> Result<()> {
        let mut cmd = Command::new("journalctl");
        cmd.args(["--no-pager", "--output=short-iso"]);
        for unit in ["mailroom-saslauthd", "mailroom-mta", "mailroom-mda", "mailroom-mra"] {
            cmd.arg(format!("--unit={unit}.service"));
        }
        if let Some(s) = &self.since {
            cmd.arg(format!("--since={s}"));
        }
        if let Some(u) = &self.until {
            cmd.arg(format!("--until={u}"));
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().context("running journalctl")?;
        tally.since = None;
        tally.until = None;
        tally.read(BufReader::new(child.stdout.take().expect("piped stdout")))?;
        let status = child.wait()?;
        if !status.success() {
            bail!("journalctl: {status}");
        }
        Ok(())
    }
}

/// Counting in progress.
#[derive(Default)]
struct Tally {
    since: Option<String>,
    until: Option<String>,
    report: Report,
    senders: BTreeMap<String, u64>,
    recipients: BTreeMap<String, u64>,
    reasons: BTreeMap<String, u64>,
    clients: BTreeMap<String, u64>,
}

impl Tally {
    fn new(since: Option<String>, until: Option<String>) -> Tally {
        Tally {
            since: since.map(|s| s.replace(' ', "T")),
            until: until.map(|u| u.replace(' ', "T")),
            ..Tally::default()
        }
    }

    fn read(&mut self, input: impl BufRead) -> Result<()> {
        for line in input.split(b'\n') {
            self.line(&String::from_utf8_lossy(&line?));
        }
        Ok(())
    }

    /// Count one log line.
    fn line(&mut self, line: &str) {
        let time = timestamp(line);
        if let Some(t) = time
            && (self.since.as_deref().is_some_and(|s| t < s) || self.until.as_deref().is_some_and(|u| t >= u))
        {
            return;
        }
        let hour = time.map(|t| t[..13].to_string());
        let r = &mut self.report;
        if line.ends_with("(queue active)") && line.contains(": client=") {
            r.received += 1;
            r.received_bytes += field(line, "size=").and_then(|s| s.parse().ok()).unwrap_or(0);
            *self.senders.entry(angle(line, "from=<").unwrap_or_default()).or_default() += 1;
            if let Some(h) = hour {
                r.per_hour.entry(h).or_default().received += 1;
            }
        } else if let Some(status) = field(line, "status=") {
            let counter = match status {
                "sent" => &mut r.delivered,
                "deferred" => &mut r.deferred,
                "bounced" => &mut r.bounced,
                "expired" => &mut r.expired,
                _ => return,
            };
            *counter += 1;
            if status == "sent" {
                if let Some(to) = angle(line, "to=<") {
                    *self.recipients.entry(to).or_default() += 1;
                }
                if let Some(h) = hour {
                    r.per_hour.entry(h).or_default().delivered += 1;
                }
            }
        } else if let Some(at) = line.find("sender refused").or_else(|| line.find("recipient refused")) {
            r.rejected += 1;
            let reason = line[at..].split_once("reply=").map_or("", |(_, reply)| reply);
            *self.reasons.entry(reason_of(reason)).or_default() += 1;
        } else if line.contains("authentication failed user=") {
            if line.contains("saslauthd") {
                r.failed_password_checks += 1;
            } else {
                r.failed_logins += 1;
                let client = field(line, "client=").unwrap_or("-").trim_matches(['[', ']']);
                *self.clients.entry(client.to_string()).or_default() += 1;
            }
        }
    }

    fn finish(mut self, top: usize) -> Report {
        let r = &mut self.report;
        r.top_senders = ranked(self.senders, top);
        r.top_recipients = ranked(self.recipients, top);
        r.reject_reasons = ranked(self.reasons, top);
        r.failed_logins_by_client = ranked(self.clients, top);
        self.report
    }
}

/// The first `YYYY-MM-DDTHH:MM` (or with a space for the T) on the line, as `YYYY-MM-DDTHH:MM:SS`
/// where the seconds are there.
fn timestamp(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    let head = b.len().min(120);
    (0..head.saturating_sub(15)).find_map(|i| {
        let s = &b[i..];
        let digits =
            |r: std::ops::Range<usize>| r.into_iter().all(|j| s.get(j).is_some_and(u8::is_ascii_digit));
        let ok = digits(0..4)
            && s[4] == b'-'
            && digits(5..7)
            && s[7] == b'-'
            && digits(8..10)
            && s[10] == b'T'
            && digits(11..13)
            && s[13] == b':'
            && digits(14..16);
        ok.then(|| {
            let end = if s.get(16) == Some(&b':') && digits(17..19) { 19 } else { 16 };
            &line[i..i + end]
        })
    })
}

/// The value of `key` (`size=`), up to the next comma or space.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)? + key.len();
    let rest = &line[at..];
    Some(rest.split([',', ' ']).next().unwrap_or(rest))
}

/// The address of `key<...>` (`from=<`), lowercased; the null sender is `<>`.
fn angle(line: &str, key: &str) -> Option<String> {
    let at = line.find(key)? + key.len();
    let addr = line[at..].split('>').next()?;
    Some(if addr.is_empty() { "<>".to_string() } else { addr.to_ascii_lowercase() })
}

/// A refusal's reply without the address it names, so equal reasons add up.
fn reason_of(reply: &str) -> String {
    let mut out = String::new();
    let mut rest = reply.trim();
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        match rest[open..].find('>') {
            Some(close) => {
                out.push_str("<...>");
                rest = &rest[open + close + 1..];
            }
            None => {
                rest = &rest[open..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `top` largest counts, largest first, ties by name.
fn ranked(counts: BTreeMap<String, u64>, top: usize) -> Vec<(String, u64)> {
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(top);
    v
}

/// The plain-text summary.
fn text(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "Grand totals\n------------");
    for (n, what) in [
        (r.received, "received"),
        (r.delivered, "delivered"),
        (r.deferred, "deferred"),
        (r.bounced, "bounced"),
        (r.expired, "expired (too long in the queue)"),
        (r.rejected, "rejected (refused during SMTP)"),
        (r.failed_logins, "failed logins (mailroom-mta, mailroom-mra)"),
        (r.failed_password_checks, "failed password checks (mailroom-saslauthd)"),
    ] {
        let _ = writeln!(s, "{n:>8}  {what}");
    }
    let _ = writeln!(s, "{:>8}  bytes received", r.received_bytes);
    for (title, list) in [
        ("Senders by message count", &r.top_senders),
        ("Recipients by delivery count", &r.top_recipients),
        ("Reject reasons", &r.reject_reasons),
        ("Failed logins by client address", &r.failed_logins_by_client),
    ] {
        let _ = writeln!(s, "\n{title}\n{}", "-".repeat(title.len()));
        if list.is_empty() {
            let _ = writeln!(s, "    none");
        }
        for (name, n) in list {
            let _ = writeln!(s, "{n:>8}  {name}");
        }
    }
    let title = "Per-hour traffic (received, delivered)";
    let _ = writeln!(s, "\n{title}\n{}", "-".repeat(title.len()));
    if r.per_hour.is_empty() {
        let _ = writeln!(s, "    none (no timestamps in the log)");
    }
    for (hour, h) in &r.per_hour {
        let _ = writeln!(s, "{hour}:00  {:>8} {:>8}", h.received, h.delivered);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(log: &str, since: Option<&str>) -> Report {
        let mut t = Tally::new(since.map(String::from), None);
        t.read(log.as_bytes()).unwrap();
        t.finish(10)
    }

    #[test]
    fn timestamps_of_tracing_and_the_journal() {
        assert_eq!(timestamp("2026-12-07T04:40:01.123Z  INFO x: y"), Some("2026-12-07T04:40:01"));
        assert_eq!(timestamp("mta       | 2026-12-07T04:40:01Z INFO"), Some("2026-12-07T04:40:01"));
        assert_eq!(
            timestamp("2026-12-07T04:40:01+0000 host mailroom-mta[1]: INFO"),
            Some("2026-12-07T04:40:01")
        );
        assert_eq!(timestamp("INFO no time here at all, just words and more words"), None);
    }

    #[test]
    fn reasons_lose_their_addresses() {
        assert_eq!(
            reason_of("550 5.1.1 <nobody@example.test>: Recipient address rejected"),
            "550 5.1.1 <...>: Recipient address rejected"
        );
    }

    #[test]
    fn delivery_lines_with_tls_reasons() {
        // mailroom-mta's status lines, with the TLS level and its reason before status=.
        let log = "2026-12-07T01:00:00Z INFO m: A1: to=<u@x.test>, relay=mx.x.test[192.0.2.7]:25, delay=0.10, dsn=2.0.0, tls=encrypted (dane: no TLSA), status=sent (250 2.0.0 ok)\n\
                   2026-12-07T01:00:01Z INFO m: A2: to=<v@y.test>, relay=mx.y.test[192.0.2.8]:25, delay=0.10, dsn=4.7.5, status=deferred (451 4.7.5 DANE: 192.0.2.8:25: TLSA records do not authenticate the server: status=x)\n\
                   2026-12-07T01:00:02Z INFO m: A3: to=<w@z.test>, relay=mx.z.test[192.0.2.9]:25, delay=0.10, dsn=2.0.0, tls=encrypted (mta-sts testing: certificate-host-mismatch), status=sent (250 ok)\n";
        let r = report(log, None);
        assert_eq!((r.delivered, r.deferred), (2, 1));
        assert_eq!(r.top_recipients, [("u@x.test".to_string(), 1), ("w@z.test".to_string(), 1)]);
    }

    #[test]
    fn since_skips_earlier_lines() {
        let log = "2026-12-06T23:59:59Z INFO m: A1: client=[192.0.2.1], helo=x, sasl_username=, from=<a@x>, size=10, nrcpt=1 (queue active)\n\
                   2026-12-07T00:00:00Z INFO m: A2: client=[192.0.2.1], helo=x, sasl_username=, from=<a@x>, size=5, nrcpt=1 (queue active)\n";
        let r = report(log, Some("2026-12-07"));
        assert_eq!((r.received, r.received_bytes), (1, 5));
        assert_eq!(r.per_hour.keys().collect::<Vec<_>>(), ["2026-12-07T00"]);
    }
}
