//! Configuration and directory for a command: the file, then `MAILROOM_DATABASE_URL`, then a
//! default SQLite database that an unprivileged user can write.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use authlib::{Backend, Directory};

/// Overrides `[database] url`.
pub const ENV_DATABASE_URL: &str = "MAILROOM_DATABASE_URL";

/// The effective configuration and the file it came from, if any.
pub fn load_config(explicit: Option<&Path>) -> Result<(config::Config, Option<PathBuf>)> {
    let (mut cfg, file) = config::load_or_default(explicit)?;
    if let Some(url) = std::env::var(ENV_DATABASE_URL).ok().filter(|u| !u.is_empty()) {
        cfg.database.url = config::UrlList(vec![url]);
    } else if file.is_none() {
        cfg.database.url = config::UrlList(vec![default_sqlite_url()]);
    }
    Ok((cfg, file))
}

/// root: the system path; anyone else: their XDG data directory.
fn default_sqlite_url() -> String {
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    if root {
        return config::Database::default().url.0.remove(0);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    format!("sqlite://{}", data.join("mailroom/mailroom.db").display())
}

/// Open the directory. A SQLite database (and its directory) is created and migrated on first
/// use, so the embedded default needs no separate setup step; MariaDB needs `db migrate`.
pub async fn directory(explicit: Option<&Path>) -> Result<Directory> {
    let (mut cfg, _) = load_config(explicit)?;
    let url = cfg.database.url.0[0].clone();
    let sqlite = url.starts_with("sqlite:");
    if sqlite {
        let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        if !url.contains("mode=") {
            let sep = if url.contains('?') { '&' } else { '?' };
            cfg.database.url = config::UrlList(vec![format!("{url}{sep}mode=rwc")]);
        }
    }
    let dir = Directory::open(&cfg.database)?;
    if dir.backend() == Backend::Sqlite {
        dir.migrate().await?;
    }
    Ok(dir)
}
