//! Dovecot's configuration: `dovecot.conf` with its `!include`s (or `doveconf -n` output,
//! the same syntax) and the `dovecot-sql.conf.ext` its SQL passdb/userdb name.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::source::{self, Origin, Problem, Setting};

/// Between a section and what it holds in [`Setting::key`].
pub const NEST: &str = " > ";

/// Everything read from a Dovecot configuration directory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dovecot {
    /// Settings in file order; keys inside sections are `section name > key`.
    pub settings: Vec<Setting>,
    /// The SQL passdb/userdb file, when one is configured.
    pub sql_file: Option<PathBuf>,
    /// Its settings (driver, connect, default_pass_scheme, password_query, user_query, ...).
    pub sql: Vec<Setting>,
    /// What could not be read or understood.
    pub problems: Vec<Problem>,
}

impl Dovecot {
    /// Read DIR/dovecot.conf (or DIR itself when it is a file, such as saved `doveconf -n`
    /// output), its includes, and the SQL file its passdb names.
    pub fn read(dir: &Path) -> Dovecot {
        let (conf, base) = if dir.is_file() {
            (dir.to_path_buf(), dir.parent().unwrap_or(Path::new(".")).to_path_buf())
        } else {
            (dir.join("dovecot.conf"), dir.to_path_buf())
        };
        let mut dc = Dovecot::default();
        let mut sections = Vec::new();
        dc.read_file(&conf, &base, &mut sections, 0);
        if !sections.is_empty() {
            dc.problems.push(Problem {
                at: Origin::new(&conf, 0),
                message: "unclosed section at end of file".into(),
            });
        }
        // The SQL file: the args of a passdb (or userdb) block whose driver is sql.
        let sql_driver =
            |db: &str| dc.settings.iter().any(|d| d.key == format!("{db}{NEST}driver") && d.value == "sql");
        let args = ["passdb", "userdb"]
            .into_iter()
            .filter(|db| sql_driver(db))
            .find_map(|db| dc.get(&format!("{db}{NEST}args")))
            .map(|s| s.value.clone());
        if let Some(args) = args {
            let file = source::locate(args.trim(), "/etc/dovecot", &base);
            if let Some(text) = source::read(&file, &mut dc.problems) {
                let (sql, mut problems) = source::key_values(&text, &file, false);
                dc.sql = sql;
                dc.problems.append(&mut problems);
            }
            dc.sql_file = Some(file);
        }
        dc
    }

    /// Parse configuration text alone (no includes followed, no SQL file read).
    #[cfg(test)]
    pub fn parse(text: &str, file: &Path) -> Dovecot {
        let mut dc = Dovecot::default();
        let mut sections = Vec::new();
        dc.parse_text(text, file, Path::new("."), &mut sections, 99);
        dc
    }

    fn read_file(&mut self, file: &Path, base: &Path, sections: &mut Vec<String>, depth: usize) {
        if let Some(text) = source::read(file, &mut self.problems) {
            self.parse_text(&text, file, base, sections, depth);
        }
    }

    fn parse_text(&mut self, text: &str, file: &Path, base: &Path, sections: &mut Vec<String>, depth: usize) {
        for (line, l) in source::logical_lines(text, false) {
            let at = Origin::new(file, line);
            if let Some(rest) = l.strip_prefix("!include_try").or_else(|| l.strip_prefix("!include")) {
                let optional = l.starts_with("!include_try");
                if depth >= 20 {
                    self.problems.push(Problem { at, message: "includes nested too deep".into() });
                    continue;
                }
                let dir = file.parent().unwrap_or(base);
                let pattern = source::locate(rest.trim(), "/etc/dovecot", dir);
                let files = glob(&pattern);
                if files.is_empty() && !optional {
                    self.problems
                        .push(Problem { at, message: format!("{} matches no file", pattern.display()) });
                }
                for f in files {
                    self.read_file(&f, base, sections, depth + 1);
                }
                continue;
            }
            if l == "}" {
                if sections.pop().is_none() {
                    self.problems.push(Problem { at, message: "`}` without a section".into() });
                }
                continue;
            }
            if let Some(head) = l.strip_suffix('{') {
                sections.push(head.split_whitespace().collect::<Vec<_>>().join(" "));
                continue;
            }
            match l.split_once('=') {
                // `doveconf -n` prints secrets as `ssl_key = # hidden, use -P to show it`.
                Some((k, v)) if v.trim().starts_with('#') => self.problems.push(Problem {
                    at,
                    message: format!("{}: value hidden by doveconf (run `doveconf -nP`)", k.trim()),
                }),
                Some((k, v)) if !k.trim().is_empty() && !k.trim().contains(char::is_whitespace) => {
                    let mut key = sections.join(NEST);
                    if !key.is_empty() {
                        key.push_str(NEST);
                    }
                    key.push_str(k.trim());
                    self.settings.push(Setting { key, value: v.trim().to_string(), at });
                }
                _ => self.problems.push(Problem { at, message: format!("not a setting: {l}") }),
            }
        }
    }

    /// The last value of a top-level or `section > key` setting.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        source::last(&self.settings, key)
    }

    /// A setting of the SQL file.
    pub fn sql(&self, key: &str) -> Option<&Setting> {
        source::last(&self.sql, key)
    }

    /// The inet listeners of `service` (`imap-login`): (name, port, ssl, origin of the port).
    pub fn inet_listeners(&self, service: &str) -> Vec<(String, u16, bool, Origin)> {
        let prefix = format!("service {service}{NEST}inet_listener ");
        let mut out: Vec<(String, u16, bool, Origin)> = Vec::new();
        for s in &self.settings {
            let Some(rest) = s.key.strip_prefix(&prefix) else { continue };
            let Some((name, key)) = rest.split_once(NEST) else { continue };
            let i = match out.iter().position(|l| l.0 == name) {
                Some(i) => i,
                None => {
                    out.push((name.to_string(), 0, false, s.at.clone()));
                    out.len() - 1
                }
            };
            match key {
                "port" => {
                    out[i].1 = s.value.parse().unwrap_or(0);
                    out[i].3 = s.at.clone();
                }
                "ssl" => out[i].2 = s.value == "yes",
                _ => {}
            }
        }
        out
    }
}

/// The files a `!include` pattern names: `*` and `?` in the last component only, sorted.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if pattern.exists() { vec![pattern.to_path_buf()] } else { Vec::new() };
    }
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| wildcard(name.as_bytes(), n.as_bytes())))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/migrate").join(name)
    }

    #[test]
    fn reads_the_tutorial_layout() {
        let dc = Dovecot::read(&data("dovecot"));
        assert!(dc.problems.is_empty(), "{:?}", dc.problems);
        assert_eq!(dc.get("mail_location").unwrap().value, "maildir:/var/vmail/%d/%n/Maildir");
        assert_eq!(dc.get("ssl_cert").unwrap().value, "</etc/dovecot/private/dovecot.pem");
        let l = dc.get("service auth > unix_listener /var/spool/postfix/private/auth > mode").unwrap();
        assert_eq!(l.value, "0660");
        assert_eq!(dc.inet_listeners("imap-login")[0].1, 143);
        // From the included conf.d file.
        let sieve = dc.get("plugin > sieve").unwrap();
        assert!(sieve.at.file.ends_with("conf.d/90-sieve.conf"), "{}", sieve.at);
        // The SQL file, with backslash continuations.
        assert_eq!(dc.sql("driver").unwrap().value, "mysql");
        let q = dc.sql("password_query").unwrap();
        assert_eq!(
            q.value,
            "SELECT username AS user, password FROM mailbox WHERE username = '%u' AND active = '1'"
        );
        assert_eq!(q.at.line, 5);
    }

    #[test]
    fn doveconf_output_and_problems() {
        let text = "# 2.3.19.1 (9b53102964): /etc/dovecot/dovecot.conf\nmail_location = mbox:~/mail\nnamespace inbox {\n  inbox = yes\n}\n}\ngarbage\n";
        let text = format!("{text}ssl_key = # hidden, use -P to show it\n");
        let dc = Dovecot::parse(&text, Path::new("doveconf-n"));
        assert_eq!(dc.get("namespace inbox > inbox").unwrap().value, "yes");
        assert_eq!(dc.problems.len(), 3, "{:?}", dc.problems);
        assert_eq!(dc.problems[0].at.to_string(), "doveconf-n:6");
        assert!(dc.problems[2].message.contains("doveconf -nP"), "{:?}", dc.problems);
        assert!(dc.get("ssl_key").is_none());
    }

    #[test]
    fn missing_include_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dovecot.conf"), "!include local.conf\n").unwrap();
        let dc = Dovecot::read(dir.path());
        assert_eq!(dc.problems.len(), 1, "{:?}", dc.problems);
        assert!(wildcard(b"*.conf", b"10-mail.conf") && !wildcard(b"*.conf", b"x.conf.bak"));
    }
}
