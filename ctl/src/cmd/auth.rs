//! `mailroomctl auth`: test a login and show how an address resolves, against the live directory.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use authlib::{Target, Verdict};
use clap::Subcommand;

use super::address;
use crate::{context, secret_input};

#[derive(Subcommand)]
pub enum AuthCmd {
    /// Check ADDRESS's password (from a prompt or stdin): exit 0 accepted, 1 rejected, 2 temporary failure
    Test {
        /// Login, e.g. bob@example.org
        address: String,
    },
    /// Show the mailbox, maildir, quota and alias expansion of ADDRESS: exit 0 found, 1 not found, 2 temporary failure
    Lookup {
        /// Address, e.g. sales@example.org
        address: String,
    },
}

fn temp(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("mailroomctl: temporary failure: {e}");
    ExitCode::from(2)
}

impl AuthCmd {
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        let dir = match context::directory(config).await {
            Ok(d) => d,
            Err(e) => return Ok(temp(e)),
        };
        match self {
            AuthCmd::Test { address: login } => {
                let secret = secret_input::read("Password: ", false, false)?;
                match dir.authenticate(&login, &secret).await {
                    Ok(Verdict::Accepted(user)) => {
                        println!("accepted: {user}");
                        Ok(ExitCode::SUCCESS)
                    }
                    Ok(Verdict::Rejected(why)) => {
                        println!("rejected: {why:?}");
                        Ok(ExitCode::from(1))
                    }
                    Err(e) => Ok(temp(e)),
                }
            }
            AuthCmd::Lookup { address: a } => {
                let a = address(&a)?;
                let domain = match dir.local_domain(a.domain()).await {
                    Ok(Some(d)) => d,
                    Ok(None) => {
                        println!("{a}: domain {} is not local", a.domain());
                        return Ok(ExitCode::from(1));
                    }
                    Err(e) => return Ok(temp(e)),
                };
                println!("address: {a}");
                if &domain != a.domain() {
                    println!("domain:  {} (alias domain of {domain})", a.domain());
                } else {
                    println!("domain:  {domain}");
                }
                let targets = match dir.resolve(&a).await {
                    Ok(Some(t)) => t,
                    Ok(None) => {
                        println!("result:  no such recipient");
                        return Ok(ExitCode::from(1));
                    }
                    Err(e) => return Ok(temp(e)),
                };
                for t in targets {
                    match t {
                        Target::Local { mailbox, detail } => {
                            let q = if mailbox.quota == 0 {
                                "none".into()
                            } else {
                                format!("{} bytes", mailbox.quota)
                            };
                            println!("mailbox: {}", mailbox.address);
                            println!("  maildir: {}", mailbox.maildir.display());
                            println!("  quota:   {q}");
                            if let Some(d) = detail {
                                println!("  detail:  {d}");
                            }
                        }
                        Target::Remote(r) => println!("forward: {r}"),
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
