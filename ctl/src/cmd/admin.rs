//! `mailroomctl admin`: postfixadmin's administrators, who log in to mailroom-web (and to
//! postfixadmin itself, on the same tables).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Subcommand;
use password::Scheme;

use super::{address, domain, table};
use crate::{context, secret_input};

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Add an admin (password from a prompt, or stdin): a superadmin, or the admin of domains
    Add {
        /// Login, an address by postfixadmin's convention, e.g. admin@example.org
        username: String,
        /// Manages every domain
        #[arg(long)]
        superadmin: bool,
        /// A domain this admin manages (repeat for more)
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
        /// Read the password from standard input even on a terminal
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an admin's password
    Passwd {
        /// Login
        username: String,
        /// Read the password from standard input even on a terminal
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete an admin
    Del {
        /// Login
        username: String,
    },
    /// List admins with their domains
    List,
}

async fn new_hash(dir: &authlib::Directory, password_stdin: bool) -> Result<String> {
    let secret = secret_input::read("New password: ", true, password_stdin)?;
    dir.hash_password(secret, Scheme::Argon2id).await.map_err(|e| anyhow!("hashing failed: {e}"))
}

impl AdminCmd {
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        let dir = context::directory(config).await?;
        match self {
            AdminCmd::Add { username, superadmin, domains, password_stdin } => {
                let name = address(&username)?;
                let domains = domains.iter().map(|d| domain(d)).collect::<Result<Vec<_>>>()?;
                if !superadmin && domains.is_empty() {
                    return Err(anyhow!("give --superadmin or at least one --domain"));
                }
                let hash = new_hash(&dir, password_stdin).await?;
                dir.add_admin(&name, &hash, superadmin, &domains).await?;
                dir.log_change(
                    "mailroomctl",
                    domains.first().map_or("", |d| d.as_str()),
                    "create_admin",
                    &name.to_string(),
                )
                .await?;
                println!("admin {name} added");
            }
            AdminCmd::Passwd { username, password_stdin } => {
                let hash = new_hash(&dir, password_stdin).await?;
                dir.set_admin_password(&username, &hash).await?;
                println!("password of admin {username} changed");
            }
            AdminCmd::Del { username } => {
                dir.del_admin(&username).await?;
                dir.log_change("mailroomctl", "", "delete_admin", &username).await?;
                println!("admin {username} deleted");
            }
            AdminCmd::List => {
                let rows: Vec<Vec<String>> = dir
                    .list_admins()
                    .await?
                    .into_iter()
                    .map(|a| {
                        vec![
                            a.username,
                            if a.superadmin { "yes" } else { "no" }.into(),
                            if a.active { "yes" } else { "no" }.into(),
                            a.domains.join(","),
                        ]
                    })
                    .collect();
                table(&["ADMIN", "SUPERADMIN", "ACTIVE", "DOMAINS"], &rows);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
