//! `mailroomctl user`: mailboxes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Subcommand;
use password::Scheme;

use super::{address, domain, table};
use crate::{context, secret_input};

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a mailbox (password from a prompt, or stdin)
    Add {
        /// Address, e.g. bob@example.org; its domain must exist
        address: String,
        /// Read the password from standard input even on a terminal
        #[arg(long)]
        password_stdin: bool,
        /// Quota in bytes (0 = none)
        #[arg(long, default_value_t = 0)]
        quota: u64,
        /// Full name
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Change a mailbox's password
    Passwd {
        /// Address
        address: String,
        /// Read the password from standard input even on a terminal
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a mailbox (its Maildir is left on disk)
    Del {
        /// Address
        address: String,
    },
    /// List mailboxes, of one domain or all
    List {
        /// Only this domain
        domain: Option<String>,
    },
    /// Show one mailbox
    Show {
        /// Address
        address: String,
    },
}

async fn new_hash(dir: &authlib::Directory, password_stdin: bool) -> Result<String> {
    let secret = secret_input::read("New password: ", true, password_stdin)?;
    dir.hash_password(secret, Scheme::Argon2id).await.map_err(|e| anyhow!("hashing failed: {e}"))
}

fn quota(q: i64) -> String {
    if q == 0 { "none".into() } else { q.to_string() }
}

impl UserCmd {
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        let dir = context::directory(config).await?;
        match self {
            UserCmd::Add { address: a, password_stdin, quota, name } => {
                let a = address(&a)?;
                let hash = new_hash(&dir, password_stdin).await?;
                dir.add_user(&a, &hash, quota, &name).await?;
                println!("user {a} added");
            }
            UserCmd::Passwd { address: a, password_stdin } => {
                let a = address(&a)?;
                let hash = new_hash(&dir, password_stdin).await?;
                dir.set_password(&a, &hash).await?;
                println!("password of {a} changed");
            }
            UserCmd::Del { address: a } => {
                let a = address(&a)?;
                dir.del_user(&a).await?;
                println!("user {a} deleted");
            }
            UserCmd::List { domain: d } => {
                let d = d.as_deref().map(domain).transpose()?;
                let rows: Vec<Vec<String>> = dir
                    .list_users(d.as_ref())
                    .await?
                    .into_iter()
                    .map(|u| {
                        vec![
                            u.username,
                            if u.active { "yes" } else { "no" }.into(),
                            quota(u.quota),
                            u.scheme,
                            u.name,
                        ]
                    })
                    .collect();
                table(&["USER", "ACTIVE", "QUOTA", "SCHEME", "NAME"], &rows);
            }
            UserCmd::Show { address: a } => {
                let a = address(&a)?;
                let u = dir.show_user(&a).await?.ok_or_else(|| anyhow!("no such user {a}"))?;
                println!("user:    {}", u.username);
                println!("name:    {}", u.name);
                println!("active:  {}", if u.active { "yes" } else { "no" });
                println!("quota:   {}", quota(u.quota));
                println!("maildir: {}", u.maildir);
                println!("scheme:  {}", u.scheme);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
