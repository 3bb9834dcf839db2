//! `mailroomctl tls report`: mailroom-mta's TLS reporting (RFC 8460) as it stands: today's
//! sessions per recipient domain and policy, with failures by result type, read from
//! `<spool>/tlsrpt`; `--send` has mailroom-mta close the period now and send its reports.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use mailroom_mta::tlsrpt::store::{self, Period};

use crate::context;

#[derive(Subcommand)]
pub enum TlsCmd {
    /// Show the TLS report counts of the period in progress (today), and closed periods
    /// not yet sent
    Report {
        /// Close the period now and send its reports (through mailroom-mta)
        #[arg(long)]
        send: bool,
    },
}

impl TlsCmd {
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        let (cfg, _) = context::load_config(config)?;
        let TlsCmd::Report { send } = self;
        let dir = store::dir(&PathBuf::from(&cfg.mta.spool_dir));
        if send {
            if !cfg.mta.tls_reporting {
                bail!("tls_reporting is off in [mta]");
            }
            let control: PathBuf = (&cfg.mta.control_socket).into();
            let answer = mailroom_mta::control::request(&control, "tlsreport")
                .await
                .with_context(|| format!("mailroom-mta is not answering on {}", control.display()))?;
            if answer != "ok" {
                bail!("mailroom-mta: {answer}");
            }
            eprintln!("mailroomctl: mailroom-mta is sending the TLS reports (see its log)");
            return Ok(ExitCode::SUCCESS);
        }
        let current = store::current(&dir).with_context(|| format!("reading {}", dir.display()))?;
        match current {
            Some(p) => print(&p, "in progress"),
            None => println!("No TLS report counts yet ({})", dir.display()),
        }
        for (_, p) in store::closed(&dir)? {
            println!();
            print(&p, "closed, not sent yet");
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn datetime(t: u64) -> String {
    mail_builder::headers::date::Date::new(t as i64).to_rfc822()
}

/// One period: a row per domain and policy, then its failures by result type.
fn print(p: &Period, state: &str) {
    let end = p.end.map_or("now".to_string(), datetime);
    println!("Period {} to {end} ({state})", datetime(p.start));
    let mut rows = Vec::new();
    for c in &p.policies {
        let mut failures: Vec<(String, u64)> = Vec::new();
        for d in &c.details {
            match failures.iter_mut().find(|(r, _)| *r == d.failure.result.as_str()) {
                Some((_, n)) => *n += d.count,
                None => failures.push((d.failure.result.as_str().to_string(), d.count)),
            }
        }
        let failures: Vec<String> = failures.iter().map(|(r, n)| format!("{r}={n}")).collect();
        rows.push(vec![
            c.domain.clone(),
            c.policy.kind.as_str().to_string(),
            c.successes.to_string(),
            c.failures.to_string(),
            failures.join(" "),
        ]);
    }
    if rows.is_empty() {
        println!("(no sessions)");
    } else {
        super::table(&["DOMAIN", "POLICY", "SUCCESSFUL", "FAILED", "FAILURES"], &rows);
    }
}
