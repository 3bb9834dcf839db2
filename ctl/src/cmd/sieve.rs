//! `mailroomctl sieve check FILE` and `sieve test FILE MESSAGE`: compile a script, or run it
//! against a message and print the actions, as Pigeonhole's sievec and sieve-test do. Both use
//! the `sieve` crate as mailroom-mda will.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use clap::Subcommand;
use mail_parser::MessageParser;
use sieve::{Envelope, Host, Settings};

/// `mailroomctl sieve ...`
#[derive(Subcommand)]
pub enum SieveCmd {
    /// Compile a script; print the first error as FILE:LINE:COLUMN and exit 1
    Check {
        /// The Sieve script
        file: PathBuf,
    },
    /// Run a script against a message and print the actions it takes (like sieve-test)
    Test {
        /// The Sieve script; scripts it includes are looked for next to it (NAME.sieve)
        file: PathBuf,
        /// The message (RFC 5322)
        message: PathBuf,
        /// Envelope sender
        #[arg(long, default_value = "sender@example.com")]
        from: String,
        /// Envelope recipient
        #[arg(long, default_value = "recipient@example.com")]
        to: String,
        /// A mailbox that exists, for mailboxexists (repeatable; INBOX always exists)
        #[arg(long = "mailbox", value_name = "NAME")]
        mailboxes: Vec<String>,
    },
}

impl SieveCmd {
    /// Run the subcommand.
    pub fn run(self) -> Result<ExitCode> {
        match self {
            SieveCmd::Check { file } => {
                let Some(_) = compile(&file)? else { return Ok(ExitCode::from(1)) };
                println!("{}: ok", file.display());
                Ok(ExitCode::SUCCESS)
            }
            SieveCmd::Test { file, message, from, to, mailboxes } => {
                let Some(script) = compile(&file)? else { return Ok(ExitCode::from(1)) };
                let raw =
                    std::fs::read(&message).with_context(|| format!("reading {}", message.display()))?;
                let msg = MessageParser::default()
                    .parse(&raw)
                    .with_context(|| format!("{}: not a message", message.display()))?;
                let from = if from == "<>" { String::new() } else { from };
                let envelope = Envelope { from, to, orig_to: None };
                let now =
                    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
                let settings = Settings { now, ..Settings::default() };
                let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
                let mut host = TestHost { dir, mailboxes };
                let outcome = sieve::run(&script, &msg, &envelope, &settings, &mut host);
                if outcome.actions.is_empty() && outcome.implicit_keep.is_none() {
                    println!("(no actions)");
                }
                print!("{outcome}");
                Ok(if outcome.error.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
            }
        }
    }
}

/// The script, or `None` after printing its error as FILE:LINE:COLUMN: MESSAGE.
fn compile(file: &Path) -> Result<Option<sieve::Script>> {
    let src = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    match sieve::compile(&src) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            eprintln!("{}:{e}", file.display());
            Ok(None)
        }
    }
}

/// Includes from the script's directory, the mailboxes named on the command line, and the
/// environment of a delivery.
struct TestHost {
    dir: PathBuf,
    mailboxes: Vec<String>,
}

impl Host for TestHost {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        name.eq_ignore_ascii_case("INBOX") || self.mailboxes.iter().any(|m| m == name)
    }

    fn include(&mut self, global: bool, name: &str) -> Option<String> {
        if global {
            return None;
        }
        std::fs::read_to_string(self.dir.join(format!("{name}.sieve"))).ok()
    }

    fn environment(&mut self, name: &str) -> Option<String> {
        sieve::delivery_environment(name)
    }
}
