//! `mailroomctl check`: validate the configuration and print the effective one, like postconf -n.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use password::Scheme;

use crate::context;

pub fn run(config: Option<&Path>) -> Result<ExitCode> {
    let (cfg, file) = context::load_config(config)?;
    let db = &cfg.database;
    Scheme::from_name(&db.default_pass_scheme).ok_or_else(|| {
        anyhow!("[database] default_pass_scheme: unknown scheme {}", db.default_pass_scheme)
    })?;
    match &file {
        Some(f) => println!("# {}: ok", f.display()),
        None => println!("# no configuration file; built-in defaults"),
    }
    let shown = config::Config { database: db.redacted(), ..cfg.clone() };
    print!("{}", shown.to_toml());
    Ok(ExitCode::SUCCESS)
}
