//! Reading the file: errors name the file, the line and the key.

use std::path::{Path, PathBuf};

use crate::Config;

/// Where the configuration lives unless `--config` or `MAILROOM_CONFIG` say otherwise.
pub const DEFAULT_PATH: &str = "/etc/mailroom/mailroom.toml";
/// Environment variable overriding [`DEFAULT_PATH`].
pub const ENV_CONFIG: &str = "MAILROOM_CONFIG";

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or holds an unknown key or a bad value.
    #[error("{path}:{line}: {key}{message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending key or value (0 when unknown).
        line: usize,
        /// `key `name`: ` when the key is known, else empty.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Parse configuration text and check it; `path` is used only in errors.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let (line, key) = match e.span() {
            Some(span) => {
                let line = text[..span.start].matches('\n').count() + 1;
                (line, key_on_line(text, line, &e))
            }
            None => (0, None),
        };
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            key: key.map(|k| format!("key `{k}`: ")).unwrap_or_default(),
            message: e.message().trim().to_string(),
        }
    })?;
    match config.conflicts() {
        None => Ok(config),
        Some(c) => Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            line: line_of(text, c.section, c.key),
            key: format!("key `{}`: ", c.key),
            message: c.message,
        }),
    }
}

/// The line of `key` in `[section]`, else of the section's header, else 0.
fn line_of(text: &str, section: &str, key: &str) -> usize {
    let mut in_section = false;
    let mut header = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line.trim_matches(['[', ']']).trim() == section;
            if in_section {
                header = i + 1;
            }
        } else if in_section && line.split_once('=').is_some_and(|(k, _)| k.trim().trim_matches('"') == key) {
            return i + 1;
        }
    }
    header
}

/// The key an error points at: the left side of `key = value` on that line, or the section
/// header's name when a whole table is wrong.
fn key_on_line(text: &str, line: usize, e: &toml::de::Error) -> Option<String> {
    let src = text.lines().nth(line - 1)?.trim();
    if let Some((k, _)) = src.split_once('=') {
        return Some(k.trim().trim_matches('"').to_string());
    }
    if src.starts_with('[') {
        // serde names the missing or unknown field in the message; the header is the best key.
        let _ = e;
        return Some(src.trim_matches(|c| c == '[' || c == ']').to_string());
    }
    None
}

/// Load a file that must exist.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path)
}

/// The path to use: the explicit one, else `MAILROOM_CONFIG`, else [`DEFAULT_PATH`].
pub fn resolve_path(explicit: Option<&Path>) -> (PathBuf, bool) {
    if let Some(p) = explicit {
        return (p.to_path_buf(), true);
    }
    match std::env::var_os(ENV_CONFIG) {
        Some(p) if !p.is_empty() => (PathBuf::from(p), true),
        _ => (PathBuf::from(DEFAULT_PATH), false),
    }
}

/// Load the configuration: a file named explicitly (argument or `MAILROOM_CONFIG`) must exist;
/// a missing default file means every default. Returns the config and the file it came from.
pub fn load_or_default(explicit: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
    let (path, named) = resolve_path(explicit);
    if !named && !path.exists() {
        return Ok((Config::default(), None));
    }
    load(&path).map(|c| (c, Some(path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MaildirSource;

    fn err(text: &str) -> String {
        parse(text, Path::new("/etc/mailroom/mailroom.toml")).unwrap_err().to_string()
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = parse("", Path::new("x")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.database.maildir_source, MaildirSource::Template);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = err("[database]\nurl = \"sqlite:///tmp/x.db\"\nmax_conections = 3\n");
        assert!(e.starts_with("/etc/mailroom/mailroom.toml:3: key `max_conections`: "), "{e}");
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_value_names_line_and_key() {
        let e = err("[database]\n\nmax_connections = \"ten\"\n");
        assert!(e.starts_with("/etc/mailroom/mailroom.toml:3: key `max_connections`: "), "{e}");
    }

    #[test]
    fn unknown_section_is_an_error() {
        let e = err("[databse]\nurl = \"x\"\n");
        assert!(e.contains(":1:") && e.contains("unknown field"), "{e}");
    }

    #[test]
    fn url_list_and_bad_urls() {
        let c =
            parse("[database]\nurl = [\"mysql://a/mail\", \"mysql://b/mail\"]\n", Path::new("x")).unwrap();
        assert_eq!(c.database.url.0.len(), 2);
        assert!(err("[database]\nurl = \"postgres://x\"\n").contains("neither"));
        assert!(err("[database]\nurl = []\n").contains("at least one"));
    }

    #[test]
    fn modes_are_octal() {
        let c = parse("[saslauthd]\nsocket_mode = \"0660\"\n", Path::new("x")).unwrap();
        assert_eq!(c.saslauthd.socket_mode.0, 0o660);
        let c = parse("[saslauthd]\nsocket_mode = 0o600\n", Path::new("x")).unwrap();
        assert_eq!(c.saslauthd.socket_mode.0, 0o600);
        assert!(err("[saslauthd]\nsocket_mode = \"rw\"\n").contains("key `socket_mode`"));
    }

    #[test]
    fn bounds_are_checked_at_load_with_line_and_key() {
        let e = err("[mta]\nlmtp_concurrency = 0\n");
        assert!(e.starts_with("/etc/mailroom/mailroom.toml:2: key `lmtp_concurrency`: "), "{e}");
        assert!(e.contains("nonzero"), "{e}");
        let e = err("[mta]\nspool_dir = \"spool\"\n");
        assert!(e.contains(":2: key `spool_dir`: `spool` is not an absolute path"), "{e}");
        let e = err("[mra]\n\nimap_listen = [\"localhost:143\"]\n");
        assert!(e.starts_with("/etc/mailroom/mailroom.toml:3: key `imap_listen`: "), "{e}");
        let e = err("[database]\nconnect_timeout = 0\n");
        assert!(e.contains(":2: key `connect_timeout`"), "{e}");
    }

    #[test]
    fn invariants_between_keys_name_the_key() {
        let e = err("[mta]\nmin_backoff = 600\nmax_backoff = 300\n");
        assert!(
            e.starts_with("/etc/mailroom/mailroom.toml:3: key `max_backoff`: below min_backoff (600)"),
            "{e}"
        );
        let e = err("[tls]\ncert = \"/etc/ssl/c.pem\"\n");
        assert!(e.starts_with("/etc/mailroom/mailroom.toml:2: key `cert`: cert and key go together"), "{e}");
        let e = err("[mda]\nlmtp_tcp = \"localhost\"\n");
        assert!(e.contains(":2: key `lmtp_tcp`: `localhost` is not an address"), "{e}");
        let e = err("[saslauthd]\nthrottle_base_ms = 5\nthrottle_max_ms = 1\n");
        assert!(e.contains(":3: key `throttle_max_ms`"), "{e}");
        // New password hashes must stay within what verification accepts.
        let e = err("[database]\nargon2_memory_kib = 524288\n");
        assert!(e.contains(":2: key `argon2_memory_kib`: above 262144"), "{e}");
        let e = err("[database]\nargon2_memory_kib = 262144\nargon2_passes = 8\n");
        assert!(e.contains(":3: key `argon2_passes`: memory x passes"), "{e}");
        let e = err("[database]\nargon2_memory_kib = 8\nargon2_lanes = 2\n");
        assert!(e.contains(":2: key `argon2_memory_kib`: below 8 KiB per lane"), "{e}");
    }

    #[test]
    fn effective_config_round_trips() {
        let c = Config::default();
        assert_eq!(parse(&c.to_toml(), Path::new("x")).unwrap(), c);
    }
}
