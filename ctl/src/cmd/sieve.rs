//! `mailroomctl sieve check FILE` and `sieve test FILE MESSAGE`: compile a script, or run it
//! against a message and print the actions, as Pigeonhole's sievec and sieve-test do. Both use
//! the `sieve` crate as mailroom-mda will.
//!
//! `sieve list|get|put|activate|deactivate|delete USER ...`: a user's scripts for admins, in
//! the store ManageSieve and delivery use ([`mailstore::SieveScripts`], Pigeonhole's files in
//! the home of the user's Maildir, found through the directory). `put` checks the script first.
//! Run as root, what it creates is given to the owner of the home, as mailroom-mra (the mail
//! owner) must be able to change it later.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use mail_parser::MessageParser;
use mailstore::SieveScripts;
use mailstore::sieve_scripts::ScriptError;
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
    /// List USER's scripts; the active one is marked "(active)"
    List {
        /// The mailbox, e.g. bob@example.org
        user: String,
    },
    /// Print USER's script NAME
    Get {
        /// The mailbox
        user: String,
        /// The script's name
        name: String,
    },
    /// Check FILE (or standard input) and store it as USER's script NAME
    Put {
        /// The mailbox
        user: String,
        /// The script's name
        name: String,
        /// The Sieve script; standard input when missing
        file: Option<PathBuf>,
        /// Also make it the active script
        #[arg(long)]
        activate: bool,
    },
    /// Make USER's script NAME the active one (the one delivery runs)
    Activate {
        /// The mailbox
        user: String,
        /// The script's name
        name: String,
    },
    /// Leave USER without an active script
    Deactivate {
        /// The mailbox
        user: String,
    },
    /// Delete USER's script NAME (not the active one)
    Delete {
        /// The mailbox
        user: String,
        /// The script's name
        name: String,
    },
}

impl SieveCmd {
    /// Run the subcommand.
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
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
            SieveCmd::List { user } => {
                let store = scripts(config, &user).await?;
                for (name, active) in store.list().context("listing the scripts")? {
                    println!("{name}{}", if active { " (active)" } else { "" });
                }
                Ok(ExitCode::SUCCESS)
            }
            SieveCmd::Get { user, name } => {
                let store = scripts(config, &user).await?;
                print!("{}", store.get(&name).map_err(|e| script_error(&name, e))?);
                Ok(ExitCode::SUCCESS)
            }
            SieveCmd::Put { user, name, file, activate } => {
                let store = scripts(config, &user).await?;
                let (label, source) = match &file {
                    Some(f) => (
                        f.display().to_string(),
                        std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
                    ),
                    None => ("<stdin>".to_string(), std::io::read_to_string(std::io::stdin())?),
                };
                if let Err(e) = sieve::compile(&source) {
                    eprintln!("{label}:{e}");
                    return Ok(ExitCode::from(1));
                }
                let owner = Owner::before(store.home());
                let put = store.put(&name, &source).and_then(|()| match activate {
                    true => store.activate(&name),
                    false => Ok(()),
                });
                owner.apply(store.home());
                put.map_err(|e| script_error(&name, e))?;
                Ok(ExitCode::SUCCESS)
            }
            SieveCmd::Activate { user, name } => {
                let store = scripts(config, &user).await?;
                let source = store.get(&name).map_err(|e| script_error(&name, e))?;
                if let Err(e) = sieve::compile(&source) {
                    eprintln!("{name}:{e}");
                    return Ok(ExitCode::from(1));
                }
                let owner = Owner::before(store.home());
                let r = store.activate(&name);
                owner.apply(store.home());
                r.map_err(|e| script_error(&name, e))?;
                Ok(ExitCode::SUCCESS)
            }
            SieveCmd::Deactivate { user } => {
                let store = scripts(config, &user).await?;
                let owner = Owner::before(store.home());
                let r = store.deactivate();
                owner.apply(store.home());
                r.map_err(|e| script_error("", e))?;
                Ok(ExitCode::SUCCESS)
            }
            SieveCmd::Delete { user, name } => {
                let store = scripts(config, &user).await?;
                store.delete(&name).map_err(|e| script_error(&name, e))?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// The scripts of `user`, whose Maildir the directory names.
async fn scripts(config: Option<&Path>, user: &str) -> Result<SieveScripts> {
    let address = super::address(user)?;
    let dir = crate::context::directory(config).await?;
    match dir.mailbox(&address).await.with_context(|| format!("looking up {address}"))? {
        Some(mb) => Ok(SieveScripts::new(mailstore::sieve_scripts::home(&mb.maildir))),
        None => bail!("{address}: no such mailbox"),
    }
}

fn script_error(name: &str, e: ScriptError) -> anyhow::Error {
    match e {
        ScriptError::Io(e) => anyhow::Error::new(e).context(format!("script {name}")),
        e if name.is_empty() => e.into(),
        e => anyhow::anyhow!("script {name}: {e}"),
    }
}

/// Who should own what an admin creates in a home: the owner of the home, or of its nearest
/// existing parent when it does not exist yet. Only root changes owners.
struct Owner(Option<(u32, u32)>);

impl Owner {
    fn before(home: &Path) -> Owner {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            return Owner(None);
        }
        let meta = home.ancestors().find_map(|p| std::fs::metadata(p).ok());
        Owner(meta.map(|m| (m.uid(), m.gid())).filter(|&(uid, _)| uid != 0))
    }

    /// Gives the home, its `sieve/` (with `tmp/` and the scripts) and `.dovecot.sieve` to the
    /// owner; the symlink itself, not its target.
    fn apply(&self, home: &Path) {
        let Some((uid, gid)) = self.0 else { return };
        let own = |p: &Path| {
            let _ = std::os::unix::fs::lchown(p, Some(uid), Some(gid));
        };
        own(home);
        own(&home.join(mailstore::sieve_scripts::ACTIVE));
        let dir = home.join(mailstore::sieve_scripts::DIR);
        own(&dir);
        for sub in [dir.clone(), dir.join("tmp")] {
            own(&sub);
            for entry in std::fs::read_dir(&sub).into_iter().flatten().flatten() {
                own(&entry.path());
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
