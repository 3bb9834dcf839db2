//! `mailroomctl migrate`: read a running classic stack (Postfix, Dovecot, cyrus saslauthd),
//! write mailroom's configuration, check it against the live data, and plan the swap.
//!
//! One module per reader (`postfix`, `dovecot`, `saslauthd`, over `source`), then `config`
//! (the translation), `report`, `check` and `plan`.

pub mod check;
pub mod config;
pub mod dovecot;
pub mod plan;
pub mod postfix;
pub mod report;
pub mod saslauthd;
pub mod source;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow};
use clap::{Args, Subcommand};

/// Where the classic configuration is.
#[derive(Args, Clone)]
pub struct Classic {
    /// Postfix's configuration directory (main.cf, master.cf, the map files, sasl/smtpd.conf)
    #[arg(long, value_name = "DIR", default_value = "/etc/postfix")]
    postfix: PathBuf,
    /// Dovecot's configuration directory (dovecot.conf), or a file of `doveconf -n` output
    #[arg(long, value_name = "DIR", default_value = "/etc/dovecot")]
    dovecot: PathBuf,
    /// cyrus saslauthd's settings (Debian's /etc/default/saslauthd); `none` to skip
    #[arg(long, value_name = "FILE", default_value = "/etc/default/saslauthd")]
    saslauthd: PathBuf,
}

impl Classic {
    fn read(&self) -> (postfix::Postfix, dovecot::Dovecot, saslauthd::Saslauthd) {
        let pf = postfix::Postfix::read(&self.postfix);
        let dc = dovecot::Dovecot::read(&self.dovecot);
        let smtpd = self.postfix.join("sasl/smtpd.conf");
        let smtpd = smtpd.exists().then_some(smtpd);
        let sa_file = (self.saslauthd != Path::new("none")).then_some(self.saslauthd.as_path());
        let sa = saslauthd::Saslauthd::read(sa_file, smtpd.as_deref());
        (pf, dc, sa)
    }
}

/// `mailroomctl migrate ...`
#[derive(Subcommand)]
pub enum MigrateCmd {
    /// Write mailroom.toml from the classic configuration (report on standard error)
    Config {
        #[command(flatten)]
        classic: Classic,
        /// Write the configuration here instead of standard output
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write the report here instead of standard error
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// The report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the report alone: each classic setting mapped, approximated or unsupported
    Report {
        #[command(flatten)]
        classic: Classic,
        /// As JSON
        #[arg(long)]
        json: bool,
    },
    /// Check the live data against the configuration (--config); exit 0 when the swap is safe
    Check {
        /// As JSON
        #[arg(long)]
        json: bool,
    },
    /// The swap, daemon by daemon, for the configuration (--config) and the classic files
    Plan {
        #[command(flatten)]
        classic: Classic,
    },
}

impl MigrateCmd {
    /// Run the subcommand.
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        match self {
            MigrateCmd::Config { classic, output, report, json } => {
                let (pf, dc, sa) = classic.read();
                let out = config::translate(&pf, &dc, &sa);
                let name = output.clone().unwrap_or_else(|| PathBuf::from("mailroom.toml"));
                let cfg = ::config::parse(&out.toml, &name)
                    .map_err(|e| anyhow!("the generated configuration does not load (a bug): {e}"))?;
                if let Some(c) = cfg.conflicts() {
                    return Err(anyhow!(
                        "the generated configuration is inconsistent (a bug): [{}] {}: {}",
                        c.section,
                        c.key,
                        c.message
                    ));
                }
                let text = if json { out.report.to_json() } else { out.report.to_text() };
                match &report {
                    Some(f) => std::fs::write(f, text).with_context(|| format!("writing {}", f.display()))?,
                    None => eprint!("{text}"),
                }
                match &output {
                    Some(f) => {
                        std::fs::write(f, &out.toml).with_context(|| format!("writing {}", f.display()))?
                    }
                    None => print!("{}", out.toml),
                }
                Ok(ExitCode::SUCCESS)
            }
            MigrateCmd::Report { classic, json } => {
                let (pf, dc, sa) = classic.read();
                let out = config::translate(&pf, &dc, &sa);
                print!("{}", if json { out.report.to_json() } else { out.report.to_text() });
                Ok(ExitCode::SUCCESS)
            }
            MigrateCmd::Check { json } => check::run(config, json).await,
            MigrateCmd::Plan { classic } => {
                let (cfg, _) = crate::context::load_config(config)?;
                let (pf, dc, sa) = classic.read();
                let out = config::translate(&pf, &dc, &sa);
                print!("{}", plan::plan(&cfg, &pf, &dc, &sa, &out.report));
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
