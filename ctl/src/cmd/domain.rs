//! `mailroomctl domain`: virtual domains.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use super::{domain, table};
use crate::context;

#[derive(Subcommand)]
pub enum DomainCmd {
    /// Add a virtual domain
    Add {
        /// Domain name, e.g. example.org
        domain: String,
        /// Free-text description
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a domain that has no mailboxes or aliases left
    Del {
        /// Domain name
        domain: String,
    },
    /// List domains with their mailbox and alias counts
    List,
}

impl DomainCmd {
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        let dir = context::directory(config).await?;
        match self {
            DomainCmd::Add { domain: d, description } => {
                let d = domain(&d)?;
                dir.add_domain(&d, &description).await?;
                println!("domain {d} added");
            }
            DomainCmd::Del { domain: d } => {
                let d = domain(&d)?;
                dir.del_domain(&d).await?;
                println!("domain {d} deleted");
            }
            DomainCmd::List => {
                let rows: Vec<Vec<String>> = dir
                    .list_domains()
                    .await?
                    .into_iter()
                    .map(|d| {
                        vec![
                            d.domain,
                            if d.active { "yes" } else { "no" }.into(),
                            d.mailboxes.to_string(),
                            d.aliases.to_string(),
                        ]
                    })
                    .collect();
                table(&["DOMAIN", "ACTIVE", "MAILBOXES", "ALIASES"], &rows);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
