//! What every reader shares: a value with the file and line it came from, and the problems
//! met on the way (unreadable files, lines that are not settings), which are reported and
//! never skipped silently.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where a value was read: file and line (1-based; 0 when the whole file is meant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// Its line, 1-based; 0 for the file as a whole.
    pub line: usize,
}

impl Origin {
    /// `file:line`.
    pub fn new(file: &Path, line: usize) -> Origin {
        Origin { file: file.to_path_buf(), line }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

/// One `key = value` as the classic file has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// Its name (Dovecot: after the enclosing sections, `service auth > unix_listener auth-userdb > mode`).
    pub key: String,
    /// Its value, continuation lines joined with one space.
    pub value: String,
    /// Where it was written.
    pub at: Origin,
}

/// Input that could not be read or understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where.
    pub at: Origin,
    /// What.
    pub message: String,
}

/// Logical lines of a file: comments and blank lines dropped, continuation lines joined.
/// `indent_continues`: a line starting with white space continues the previous one (Postfix);
/// otherwise a trailing backslash does (Dovecot).
pub fn logical_lines(text: &str, indent_continues: bool) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending_backslash = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            // Postfix: a comment or blank line ends nothing, but does not continue either.
            continue;
        }
        let continues = if indent_continues {
            raw.starts_with([' ', '\t']) && !out.is_empty()
        } else {
            pending_backslash && !out.is_empty()
        };
        let mut body = trimmed.to_string();
        pending_backslash = !indent_continues && body.ends_with('\\');
        if pending_backslash {
            body.pop();
            body = body.trim_end().to_string();
        }
        if continues {
            let last = &mut out.last_mut().expect("checked").1;
            if !last.is_empty() && !body.is_empty() {
                last.push(' ');
            }
            last.push_str(&body);
        } else {
            out.push((n, body));
        }
    }
    out
}

/// `key = value` lines (Postfix main.cf, its map files, dovecot-sql.conf.ext): the settings,
/// and a problem for each line that is not one.
pub fn key_values(text: &str, file: &Path, indent_continues: bool) -> (Vec<Setting>, Vec<Problem>) {
    let mut settings = Vec::new();
    let mut problems = Vec::new();
    for (line, l) in logical_lines(text, indent_continues) {
        match l.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !k.trim().contains(char::is_whitespace) => {
                settings.push(Setting {
                    key: k.trim().to_string(),
                    value: v.trim().to_string(),
                    at: Origin::new(file, line),
                });
            }
            _ => problems.push(Problem {
                at: Origin::new(file, line),
                message: format!("not a `name = value` line: {}", l.chars().take(80).collect::<String>()),
            }),
        }
    }
    (settings, problems)
}

/// Read a file, or record why not.
pub fn read(path: &Path, problems: &mut Vec<Problem>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(Problem { at: Origin::new(path, 0), message: format!("cannot read: {e}") });
            None
        }
    }
}

/// A path the classic configuration names, looked for under `dir` when the configuration was
/// copied elsewhere: `/etc/postfix/x.cf` read from a copy in DIR is DIR/x.cf.
pub fn locate(named: &str, classic_dir: &str, dir: &Path) -> PathBuf {
    let p = Path::new(named);
    if p.is_relative() {
        return dir.join(p);
    }
    if let Ok(rest) = p.strip_prefix(classic_dir) {
        let copy = dir.join(rest);
        if copy.exists() || !p.exists() {
            return copy;
        }
    }
    // A file from elsewhere (/etc/aliases) copied next to the configuration.
    match p.file_name().map(|n| dir.join(n)) {
        Some(copy) if copy.exists() && dir != Path::new(classic_dir) => copy,
        _ => p.to_path_buf(),
    }
}

/// The last value of `key` (later lines override earlier ones, as in both programs).
pub fn last<'a>(settings: &'a [Setting], key: &str) -> Option<&'a Setting> {
    settings.iter().rev().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_styles() {
        let postfix = "# c\na = 1\n  2\n\nb=3\n";
        assert_eq!(logical_lines(postfix, true), [(2, "a = 1 2".to_string()), (5, "b=3".to_string())]);
        let dovecot = "q = SELECT \\\n  x\nr = 2\n";
        assert_eq!(
            logical_lines(dovecot, false),
            [(1, "q = SELECT x".to_string()), (3, "r = 2".to_string())]
        );
    }

    #[test]
    fn bad_lines_are_problems() {
        let (s, p) = key_values("a = b\nnonsense here\n", Path::new("f"), true);
        assert_eq!(s.len(), 1);
        assert_eq!(p[0].at.to_string(), "f:2");
    }
}
