//! cyrus saslauthd's settings: Debian's `/etc/default/saslauthd` (MECHANISMS, OPTIONS with
//! `-m` the socket directory) and Postfix's `smtpd.conf` for libsasl2 (pwcheck_method,
//! mech_list).

use std::path::Path;

use serde::Serialize;

use super::source::{self, Origin, Problem, Setting};

/// What the cyrus side of the classic stack says.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Saslauthd {
    /// Shell variables of /etc/default/saslauthd (quotes removed).
    pub default: Vec<Setting>,
    /// `smtpd.conf` (`key: value`).
    pub smtpd_conf: Vec<Setting>,
    /// What could not be read or understood.
    pub problems: Vec<Problem>,
}

impl Saslauthd {
    /// Read the defaults file, and `smtpd.conf` when there is one.
    pub fn read(default_file: Option<&Path>, smtpd_conf: Option<&Path>) -> Saslauthd {
        let mut s = Saslauthd::default();
        if let Some(f) = default_file
            && let Some(text) = source::read(f, &mut s.problems)
        {
            s.parse_default(&text, f);
        }
        if let Some(f) = smtpd_conf
            && let Some(text) = source::read(f, &mut s.problems)
        {
            s.parse_smtpd_conf(&text, f);
        }
        s
    }

    /// `NAME="value"` lines.
    pub fn parse_default(&mut self, text: &str, file: &Path) {
        for (line, l) in source::logical_lines(text, false) {
            let l = l.strip_prefix("export ").unwrap_or(&l);
            match l.split_once('=') {
                Some((k, v)) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    let v = v.trim();
                    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                    let v = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v);
                    self.default.push(Setting {
                        key: k.into(),
                        value: v.into(),
                        at: Origin::new(file, line),
                    });
                }
                _ => self.problems.push(Problem {
                    at: Origin::new(file, line),
                    message: format!("not a shell assignment: {l}"),
                }),
            }
        }
    }

    /// `key: value` lines of libsasl2's application configuration.
    pub fn parse_smtpd_conf(&mut self, text: &str, file: &Path) {
        for (line, l) in source::logical_lines(text, false) {
            match l.split_once(':') {
                Some((k, v)) if !k.trim().is_empty() => self.smtpd_conf.push(Setting {
                    key: k.trim().into(),
                    value: v.trim().into(),
                    at: Origin::new(file, line),
                }),
                _ => self.problems.push(Problem {
                    at: Origin::new(file, line),
                    message: format!("not a `key: value` line: {l}"),
                }),
            }
        }
    }

    /// A variable of the defaults file.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        source::last(&self.default, key)
    }

    /// The socket directory: `-m DIR` in OPTIONS, with its origin.
    pub fn socket_dir(&self) -> Option<(String, Origin)> {
        let o = self.get("OPTIONS")?;
        let mut words = o.value.split_whitespace();
        while let Some(w) = words.next() {
            if w == "-m" {
                return words.next().map(|d| (d.to_string(), o.at.clone()));
            }
            if let Some(d) = w.strip_prefix("-m").filter(|d| !d.is_empty()) {
                return Some((d.to_string(), o.at.clone()));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_debian_defaults_and_smtpd_conf() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/migrate");
        let s = Saslauthd::read(Some(&data.join("saslauthd")), Some(&data.join("sasl/smtpd.conf")));
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.get("MECHANISMS").unwrap().value, "sasldb");
        assert_eq!(s.socket_dir().unwrap().0, "/run/saslauthd");
        assert_eq!(source::last(&s.smtpd_conf, "pwcheck_method").unwrap().value, "saslauthd");
        let mut bad = Saslauthd::default();
        bad.parse_default("if [ -x x ]; then\n", Path::new("d"));
        assert_eq!(bad.problems.len(), 1);
    }
}
