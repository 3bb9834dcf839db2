//! The flags every daemon takes, flattened into its own clap parser.

use std::path::PathBuf;

/// `--config FILE`, `--foreground` and `--check`, shared by every daemon
/// (`#[command(flatten)] common: CommonArgs`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Configuration file [default: $MAILROOM_CONFIG, else /etc/mailroom/mailroom.toml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Stay in the foreground (mailroom daemons never fork; accepted for classic scripts)
    #[arg(long)]
    pub foreground: bool,
    /// Check the configuration and exit: 0 when it loads, 1 with the error otherwise
    #[arg(long)]
    pub check: bool,
}

impl CommonArgs {
    /// Load the configuration named by `--config` (else `MAILROOM_CONFIG`, else the default
    /// path, which may be missing); returns it and the file it came from.
    pub fn load(&self) -> Result<(config::Config, Option<PathBuf>), config::ConfigError> {
        config::load_or_default(self.config.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn flags_parse() {
        let c = Cli::try_parse_from(["d", "--config", "/x.toml", "--foreground", "--check"]).unwrap();
        assert_eq!(c.common.config.as_deref(), Some(std::path::Path::new("/x.toml")));
        assert!(c.common.foreground && c.common.check);
        let c = Cli::try_parse_from(["d"]).unwrap();
        assert!(c.common.config.is_none() && !c.common.foreground && !c.common.check);
    }

    #[test]
    fn load_names_a_missing_explicit_file() {
        let args = CommonArgs { config: Some("/nonexistent/mailroom.toml".into()), ..Default::default() };
        let e = args.load().unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/mailroom.toml"), "{e}");
    }

    #[test]
    fn load_reads_an_explicit_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mailroom.toml");
        std::fs::write(&path, "").unwrap();
        let args = CommonArgs { config: Some(path.clone()), ..Default::default() };
        let (_, from) = args.load().unwrap();
        assert_eq!(from, Some(path));
    }
}
