//! `mailroomctl pw`: hash and verify passwords, like `doveadm pw`.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Subcommand;
use password::Scheme;

use crate::secret_input;

#[derive(Subcommand)]
pub enum PwCmd {
    /// Hash a password (read from a prompt or stdin) and print it with its {SCHEME} prefix
    Hash {
        /// Scheme: ARGON2ID, ARGON2I, SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT, MD5-CRYPT, SSHA512, SSHA256, SSHA, SHA512, SHA256, SHA, PLAIN-MD5, PLAIN
        #[arg(long, short = 's', default_value = "ARGON2ID")]
        scheme: String,
    },
    /// Check a password (from a prompt or stdin) against HASH; exit 0 on match, 1 on mismatch, 2 if HASH is unusable
    Verify {
        /// A stored value: {SCHEME}hash or a bare crypt string
        hash: String,
    },
}

impl PwCmd {
    pub async fn run(self, config: Option<&std::path::Path>) -> Result<ExitCode> {
        match self {
            PwCmd::Hash { scheme } => {
                let scheme = Scheme::from_name(&scheme).ok_or_else(|| anyhow!("unknown scheme {scheme}"))?;
                let secret = secret_input::read("Enter new password: ", true, false)?;
                let cost = password::Argon2Cost::of(&crate::context::load_config(config)?.0.database);
                let hash = tokio::task::spawn_blocking(move || password::hash_with(&secret, scheme, cost))
                    .await?
                    .map_err(|e| anyhow!("{e}"))?;
                println!("{hash}");
                Ok(ExitCode::SUCCESS)
            }
            PwCmd::Verify { hash } => {
                let secret = secret_input::read("Enter password to verify: ", false, false)?;
                match authlib::verify_password(hash, secret, Scheme::Crypt).await {
                    Ok(true) => {
                        println!("verified");
                        Ok(ExitCode::SUCCESS)
                    }
                    Ok(false) => {
                        println!("mismatch");
                        Ok(ExitCode::from(1))
                    }
                    Err(e) => {
                        eprintln!("mailroomctl: {e}");
                        Ok(ExitCode::from(2))
                    }
                }
            }
        }
    }
}
