//! `mailroomctl queue`: what mailq, postqueue and postsuper do, on mailroom-mta's spool.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use mailroom_mta::qmgr::smtp::HeldBy;
use mailroom_mta::queue::admin::{self, Change, Entry};
use mailroom_mta::queue::{Outcome, QueueId, Spool};

use crate::context;

#[derive(Subcommand)]
pub enum QueueCmd {
    /// List queued messages with their pending recipients and last errors (mailq)
    List,
    /// Print a message's envelope, delivery state (and the TLS policy holding a recipient
    /// back) and content (postcat -q)
    Show {
        /// Queue id
        id: String,
    },
    /// Try every deferred message now (postqueue -f)
    Flush,
    /// Stop delivery attempts for messages until released (postsuper -h)
    Hold {
        /// Queue ids, or ALL
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Release held messages and try them now (postsuper -H)
    Release {
        /// Queue ids, or ALL
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Try messages now, forgetting their backoff (postsuper -r)
    Requeue {
        /// Queue ids, or ALL
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Remove messages without a bounce (postsuper -d)
    Delete {
        /// Queue ids, or ALL
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// The spool and control socket named by the configuration.
fn locations(config: Option<&Path>) -> Result<(Spool, PathBuf)> {
    let (cfg, _) = context::load_config(config)?;
    let root = PathBuf::from(&cfg.mta.spool_dir);
    if !root.join("queue").is_dir() {
        bail!("no queue at {} (is [mta] spool_dir right?)", root.display());
    }
    Ok((
        Spool::open(&root).with_context(|| format!("opening {}", root.display()))?,
        (&cfg.mta.control_socket).into(),
    ))
}

impl QueueCmd {
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        let (spool, control) = locations(config)?;
        let (ids, change) = match self {
            QueueCmd::List => return list(&spool),
            QueueCmd::Show { id } => return show(&spool, &id),
            QueueCmd::Flush => {
                let answer = mailroom_mta::control::request(&control, "flush")
                    .await
                    .with_context(|| format!("mailroom-mta is not answering on {}", control.display()))?;
                if answer != "ok" {
                    bail!("mailroom-mta: {answer}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            QueueCmd::Hold { ids } => (ids, Change::Hold),
            QueueCmd::Release { ids } => (ids, Change::Release),
            QueueCmd::Requeue { ids } => (ids, Change::Requeue),
            QueueCmd::Delete { ids } => (ids, Change::Delete),
        };
        let ids = if ids.iter().any(|i| i == "ALL") { spool.ids()? } else { parse_ids(&ids)? };
        let mut missing = 0;
        for id in &ids {
            // Waits for a delivery's lock and an fsync: not on the runtime's thread.
            let (s, i) = (spool.clone(), id.clone());
            let found = tokio::task::spawn_blocking(move || admin::change(&s, &i, change)).await??;
            if !found {
                eprintln!("mailroomctl: {id}: no such message");
                missing += 1;
            }
        }
        let verb = format!("{change:?}").to_lowercase();
        eprintln!("mailroomctl: {verb}: {} message(s)", ids.len() - missing);
        // The queue manager picks changes up at its next scan anyway; telling it is faster.
        if let Err(e) = mailroom_mta::control::request(&control, "rescan").await {
            eprintln!("mailroomctl: mailroom-mta not told ({e}); it sees the change at its next queue scan");
        }
        Ok(if missing > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
    }
}

fn parse_ids(ids: &[String]) -> Result<Vec<QueueId>> {
    ids.iter().map(|s| QueueId::parse(s).with_context(|| format!("{s:?} is not a queue id"))).collect()
}

/// mailq's layout: id (`!` when held), size, arrival, sender, then each pending recipient,
/// after its last temporary failure in parentheses (code, enhanced status, text).
fn list(spool: &Spool) -> Result<ExitCode> {
    let entries = admin::list(spool)?;
    let mut out = std::io::stdout().lock();
    if entries.is_empty() {
        writeln!(out, "Mail queue is empty")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "-Queue ID-        --Size-- ----Arrival Time----------- -Sender/Recipient-------")?;
    let mut total = 0;
    for e in &entries {
        total += e.size;
        print_entry(&mut out, e)?;
    }
    writeln!(
        out,
        "-- {} Kbytes in {} Request{}.",
        total.div_ceil(1024),
        entries.len(),
        if entries.len() == 1 { "" } else { "s" }
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_entry(out: &mut impl Write, e: &Entry) -> std::io::Result<()> {
    let mark = if e.state.held { "!" } else { " " };
    let sender = if e.envelope.sender.is_empty() { "MAILER-DAEMON" } else { &e.envelope.sender };
    writeln!(out, "{}{mark} {:>8} {:<27} {sender}", e.envelope.id, e.size, e.arrival_text())?;
    for (rcpt, outcome) in e.pending() {
        if let Some(o) = outcome {
            writeln!(out, "{:>46}({})", "", o.attempt().reply)?;
        }
        writeln!(out, "{:>46}{}", "", rcpt.address)?;
    }
    writeln!(out)
}

fn show(spool: &Spool, id: &str) -> Result<ExitCode> {
    let id = QueueId::parse(id).with_context(|| format!("{id:?} is not a queue id"))?;
    let Some((entry, message)) = admin::show(spool, &id)? else {
        eprintln!("mailroomctl: {id}: no such message");
        return Ok(ExitCode::from(1));
    };
    let mut out = std::io::stdout().lock();
    let env = &entry.envelope;
    writeln!(out, "*** ENVELOPE RECORDS {id} ***")?;
    writeln!(out, "arrival: {}", entry.arrival_text())?;
    writeln!(out, "sender: {}", env.sender)?;
    writeln!(out, "client: {} helo={} auth={}", env.client, env.helo, env.auth.as_deref().unwrap_or("-"))?;
    writeln!(out, "attempts: {} held: {}", entry.state.attempts, entry.state.held)?;
    for (r, outcome) in entry.recipients() {
        match outcome {
            None => writeln!(out, "recipient: {} (pending)", r.address)?,
            Some(o) => {
                let state = if o.is_final() { o.name() } else { "pending" };
                writeln!(out, "recipient: {} ({state}) {}", r.address, last_reply(o))?;
                if let Some(policy) = HeldBy::of(&o.attempt().reply).filter(|_| !o.is_final()) {
                    writeln!(out, "  held back by: {policy}")?;
                }
            }
        }
    }
    writeln!(out, "*** MESSAGE CONTENTS {id} ***")?;
    out.write_all(&message)?;
    writeln!(out, "*** END OF MESSAGE ***")?;
    Ok(ExitCode::SUCCESS)
}

/// A recipient's last reply with the relay that gave it: `451 4.4.2 [relay] text` (`-` for a
/// missing enhanced status, no relay when format 1 did not record it).
fn last_reply(o: &Outcome) -> String {
    let a = o.attempt();
    let enhanced = a.reply.enhanced.map_or("-".to_string(), |s| s.to_string());
    let relay = a.relay.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
    format!("{} {enhanced}{relay} {}", a.reply.code, a.reply.text)
}
