//! `mailroomctl db`: the schema.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use crate::context;

#[derive(Subcommand)]
pub enum Db {
    /// Create postfixadmin's tables where they are missing; existing tables and data are untouched
    Migrate,
}

impl Db {
    pub async fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        match self {
            Db::Migrate => {
                let dir = context::directory(config).await?;
                dir.migrate().await?;
                println!("schema up to date ({})", dir.server_version().await?);
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
