//! `mailroomctl alias`: aliases and catch-alls.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use super::{address, domain, table};
use crate::context;

#[derive(Subcommand)]
pub enum AliasCmd {
    /// Add an alias; ADDRESS may be @domain (catch-all)
    Add {
        /// The alias, e.g. sales@example.org or @example.org
        address: String,
        /// Where mail goes: mailboxes here or addresses elsewhere
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Delete an alias
    Del {
        /// The alias
        address: String,
    },
    /// List aliases (mailboxes' self-aliases left out)
    List {
        /// Only this domain
        domain: Option<String>,
    },
}

impl AliasCmd {
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        let dir = context::directory(config).await?;
        match self {
            AliasCmd::Add { address: a, targets } => {
                let targets = targets.iter().map(|t| address(t)).collect::<Result<Vec<_>>>()?;
                dir.add_alias(&a, &targets).await?;
                println!("alias {} added", a.to_lowercase());
            }
            AliasCmd::Del { address: a } => {
                dir.del_alias(&a).await?;
                println!("alias {} deleted", a.to_lowercase());
            }
            AliasCmd::List { domain: d } => {
                let d = d.as_deref().map(domain).transpose()?;
                let rows: Vec<Vec<String>> = dir
                    .list_aliases(d.as_ref())
                    .await?
                    .into_iter()
                    .map(|a| vec![a.address, if a.active { "yes" } else { "no" }.into(), a.goto.join(",")])
                    .collect();
                table(&["ALIAS", "ACTIVE", "GOTO"], &rows);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
