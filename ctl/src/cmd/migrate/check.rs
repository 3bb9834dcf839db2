//! `migrate check`: the live data against the generated configuration, read-only. Every
//! mailbox and alias resolves; password hashes are counted per scheme and the ones mailroom
//! cannot verify are listed; every Maildir (and its folders) exists, is readable by the
//! configured user, and has a dovecot-uidlist we read (version, UIDVALIDITY); every active
//! Sieve script compiles. The exit status says whether the swap is safe.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use authlib::{Directory, Target};
use serde::Serialize;

use crate::context;

/// What was found.
#[derive(Debug, Default, Serialize)]
pub struct Findings {
    /// Mailboxes checked.
    pub mailboxes: usize,
    /// Aliases checked.
    pub aliases: usize,
    /// Maildirs (INBOX and folders) whose uidlist was read.
    pub uidlists: usize,
    /// Maildirs without a dovecot-uidlist yet (Dovecot never opened them; mailroom starts one).
    pub no_uidlist: usize,
    /// Sieve scripts compiled.
    pub sieve_scripts: usize,
    /// Password hashes per scheme.
    pub schemes: BTreeMap<String, usize>,
    /// Each uidlist's version and UIDVALIDITY, by Maildir.
    pub uidvalidity: BTreeMap<String, (u32, u32)>,
    /// What makes the swap unsafe.
    pub errors: Vec<String>,
    /// What the admin should know but does not block the swap.
    pub warnings: Vec<String>,
}

/// Run the checks; exit 0 when the swap is safe, 1 when not.
pub async fn run(config: Option<&Path>, json: bool) -> Result<ExitCode> {
    let (cfg, _) = context::load_config(config)?;
    let dir = Directory::open(&cfg.database).map_err(|e| anyhow::anyhow!("{e}"))?;
    let owner = nix::unistd::User::from_name(&cfg.mra.user).ok().flatten();
    let mut f = Findings::default();
    if owner.is_none() {
        f.warnings
            .push(format!("[mra] user {:?} does not exist here: Maildir access not checked", cfg.mra.user));
    }
    let users = dir.list_users(None).await.context("listing mailboxes")?;
    let aliases = dir.list_aliases(None).await.context("listing aliases")?;
    let total = users.len() + aliases.len();
    let progress = Progress::new(total);
    for u in &users {
        progress.tick(&u.username);
        if !u.active {
            continue;
        }
        f.mailboxes += 1;
        *f.schemes.entry(u.scheme.clone()).or_default() += 1;
        if u.scheme == "unknown" {
            f.errors.push(format!("{}: password hash in a scheme mailroom cannot verify", u.username));
        }
        let addr = match proto::Address::parse(&u.username) {
            Ok(a) => a,
            Err(e) => {
                f.errors.push(format!("{}: not an address ({e})", u.username));
                continue;
            }
        };
        let mailbox = match dir.mailbox(&addr).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                f.errors.push(format!("{addr}: the mailbox query does not find it"));
                continue;
            }
            Err(e) => {
                f.errors.push(format!("{addr}: {e}"));
                continue;
            }
        };
        check_maildir(&addr.to_string(), &mailbox.maildir, owner.as_ref(), &mut f);
        check_sieve(&addr.to_string(), &mailbox.maildir, &mut f);
    }
    for a in &aliases {
        progress.tick(&a.address);
        if !a.active || a.address.starts_with('@') {
            continue;
        }
        f.aliases += 1;
        let Ok(addr) = proto::Address::parse(&a.address) else {
            f.errors.push(format!("alias {}: not an address", a.address));
            continue;
        };
        match dir.resolve(&addr).await {
            Ok(Some(targets)) if !targets.is_empty() => {
                for t in targets {
                    if let Target::Local { mailbox, .. } = t
                        && !mailbox.maildir.is_dir()
                    {
                        f.warnings.push(format!("alias {addr}: {} has no Maildir yet", mailbox.address));
                    }
                }
            }
            Ok(_) => {
                f.errors.push(format!("alias {addr}: resolves to nothing (domain not ours, or no target)"))
            }
            Err(e) => f.errors.push(format!("alias {addr}: {e}")),
        }
    }
    progress.finish();
    if json {
        println!("{}", serde_json::to_string_pretty(&f)?);
    } else {
        print_text(&f);
    }
    Ok(if f.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_text(f: &Findings) {
    println!(
        "mailboxes: {}  aliases: {}  Maildirs with a uidlist: {}  without: {}  Sieve scripts: {}",
        f.mailboxes, f.aliases, f.uidlists, f.no_uidlist, f.sieve_scripts
    );
    let schemes: Vec<String> = f.schemes.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!("password schemes: {}", schemes.join(", "));
    for w in &f.warnings {
        println!("warning: {w}");
    }
    for e in &f.errors {
        println!("error: {e}");
    }
    if f.errors.is_empty() {
        println!("safe to swap: every mailbox, alias, Maildir and Sieve script checks out");
    } else {
        println!("NOT safe to swap: {} error(s)", f.errors.len());
    }
}

/// The Maildir and each Maildir++ folder in it: cur/new/tmp, owner, dovecot-uidlist.
fn check_maildir(user: &str, maildir: &Path, owner: Option<&nix::unistd::User>, f: &mut Findings) {
    let meta = match std::fs::metadata(maildir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            f.errors.push(format!("{user}: {} is not a directory", maildir.display()));
            return;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            f.warnings
                .push(format!("{user}: no Maildir yet at {} (created at first delivery)", maildir.display()));
            return;
        }
        Err(e) => {
            f.errors.push(format!("{user}: {}: {e}", maildir.display()));
            return;
        }
    };
    if let Some(o) = owner {
        let readable = meta.uid() == o.uid.as_raw()
            || (meta.gid() == o.gid.as_raw() && meta.mode() & 0o050 == 0o050)
            || meta.mode() & 0o005 == 0o005;
        if !readable {
            f.errors.push(format!(
                "{user}: {} is not readable by {} (owner uid {}, mode {:o})",
                maildir.display(),
                o.name,
                meta.uid(),
                meta.mode() & 0o7777
            ));
        }
    }
    let mut dirs = vec![(String::from("INBOX"), maildir.to_path_buf())];
    if let Ok(entries) = std::fs::read_dir(maildir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name != "." && name != ".." && e.path().is_dir() {
                dirs.push((name, e.path()));
            }
        }
    }
    dirs.sort();
    for (folder, d) in dirs {
        for sub in ["cur", "new", "tmp"] {
            match std::fs::read_dir(d.join(sub)) {
                Ok(_) => {}
                Err(e) => f.errors.push(format!("{user} {folder}: {}/{sub}: {e}", d.display())),
            }
        }
        let list = d.join(mailstore::uidlist::FILE);
        match std::fs::read_to_string(&list) {
            Ok(text) => {
                let version = text.split(' ').next().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
                match mailstore::uidlist::UidList::parse(&text) {
                    Ok(l) => {
                        f.uidlists += 1;
                        f.uidvalidity.insert(d.display().to_string(), (version, l.uidvalidity));
                    }
                    Err(e) => f.errors.push(format!("{user} {folder}: {}: {e}", list.display())),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => f.no_uidlist += 1,
            Err(e) => f.errors.push(format!("{user} {folder}: {}: {e}", list.display())),
        }
    }
}

/// The active Sieve script (`.dovecot.sieve` in the home) compiles.
fn check_sieve(user: &str, maildir: &Path, f: &mut Findings) {
    let scripts = mailstore::SieveScripts::new(mailstore::sieve_scripts::home(maildir));
    let Some(source) = scripts.active_source() else { return };
    f.sieve_scripts += 1;
    if let Err(e) = sieve::compile(&source) {
        f.errors.push(format!("{user}: Sieve script {}/.dovecot.sieve: {e}", scripts.home().display()));
    }
}

/// A progress bar on standard error (indicatif draws nothing when it is not a terminal).
struct Progress(indicatif::ProgressBar);

impl Progress {
    fn new(total: usize) -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template("checking {bar:40} {pos}/{len} {msg}") {
            bar.set_style(style);
        }
        Progress(bar)
    }

    fn tick(&self, what: &str) {
        self.0.set_message(what.to_string());
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
