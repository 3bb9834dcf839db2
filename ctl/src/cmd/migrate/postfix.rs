//! Postfix as the classic stack configures it: `main.cf` (or `postconf -n`), `master.cf` (or
//! `postconf -M`), the `mysql:`/`proxy:mysql:` map files main.cf names, and hash/lmdb tables
//! by their source text (the file without `.db`, which `postmap` compiles).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::source::{self, Origin, Problem, Setting};

/// One master.cf service line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Service name (`smtp`, `submission`, `127.0.0.1:2525`, `pickup`).
    pub name: String,
    /// `inet`, `unix`, `unix-dgram`, `fifo`, `pass`.
    pub kind: String,
    /// The chroot column (`y`, `n` or `-`, which is `y` in Debian's packaging default... and
    /// Postfix's own default `n` since 3.0; kept as written).
    pub chroot: String,
    /// The command (`smtpd`, `pipe`, ...).
    pub command: String,
    /// Its arguments other than `-o` overrides.
    pub args: Vec<String>,
    /// `-o name=value` overrides.
    pub overrides: Vec<Setting>,
    /// The line.
    pub at: Origin,
}

impl Service {
    /// The TCP port of an inet service, from its name (`smtp`, `submission`, `[::1]:25`).
    pub fn port(&self) -> Option<u16> {
        if self.kind != "inet" {
            return None;
        }
        let port = self.name.rsplit_once(':').map_or(self.name.as_str(), |(_, p)| p);
        port.parse().ok().or(match port {
            "smtp" => Some(25),
            "submission" => Some(587),
            "smtps" | "submissions" => Some(465),
            _ => None,
        })
    }

    /// The host part of `host:port` service names.
    pub fn host(&self) -> Option<&str> {
        self.name.rsplit_once(':').map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
    }

    /// An override's value.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        source::last(&self.overrides, key)
    }
}

/// A lookup table named in main.cf or master.cf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Map {
    /// As written: `proxy:mysql:/etc/postfix/mysql-virtual.cf`.
    pub reference: String,
    /// Its type without `proxy:` (`mysql`, `hash`, `lmdb`, `pcre`, ...).
    pub kind: String,
    /// The file read (the map file, or the table's source text).
    pub path: PathBuf,
    /// A mysql map file's settings (hosts, user, password, dbname, query, ...).
    pub settings: Vec<Setting>,
    /// A hash/lmdb/texthash table's entries: key = left-hand side, value = right-hand side.
    pub entries: Vec<Setting>,
}

impl Map {
    /// A setting of a mysql map file.
    pub fn get(&self, key: &str) -> Option<&str> {
        source::last(&self.settings, key).map(|s| s.value.as_str())
    }
}

/// Everything read from a Postfix configuration directory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Postfix {
    /// main.cf settings, in file order.
    pub main: Vec<Setting>,
    /// master.cf services.
    pub master: Vec<Service>,
    /// Tables main.cf and master.cf name, each once.
    pub maps: Vec<Map>,
    /// What could not be read or understood.
    pub problems: Vec<Problem>,
}

/// Table types we read (the source text of the indexed ones).
const TABLE_TYPES: &[&str] = &["hash", "lmdb", "btree", "cdb", "dbm", "sdbm", "texthash"];
/// Every map type Postfix knows, to tell a table reference from other `x:y` values.
const MAP_TYPES: &[&str] = &[
    "mysql",
    "pgsql",
    "sqlite",
    "ldap",
    "memcache",
    "regexp",
    "pcre",
    "cidr",
    "tcp",
    "socketmap",
    "static",
    "inline",
    "unionmap",
    "pipemap",
    "randmap",
    "nis",
    "nisplus",
    "netinfo",
    "environ",
    "fail",
    "internal",
    "unix",
    "hash",
    "lmdb",
    "btree",
    "cdb",
    "dbm",
    "sdbm",
    "texthash",
    "proxy",
];

impl Postfix {
    /// Read DIR/main.cf and DIR/master.cf and the tables they name.
    pub fn read(dir: &Path) -> Postfix {
        let mut problems = Vec::new();
        let main = source::read(&dir.join("main.cf"), &mut problems).unwrap_or_default();
        let master = source::read(&dir.join("master.cf"), &mut problems).unwrap_or_default();
        let mut pf = Postfix::parse(&main, &dir.join("main.cf"), &master, &dir.join("master.cf"));
        problems.append(&mut pf.problems);
        pf.problems = problems;
        pf.read_maps(dir);
        pf
    }

    /// Parse main.cf (or `postconf -n` output) and master.cf (or `postconf -M`) text.
    pub fn parse(main: &str, main_file: &Path, master: &str, master_file: &Path) -> Postfix {
        let (main, mut problems) = source::key_values(main, main_file, true);
        let mut services = Vec::new();
        for (line, l) in source::logical_lines(master, true) {
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields.len() < 8 {
                problems.push(Problem {
                    at: Origin::new(master_file, line),
                    message: format!("not a master.cf service line (8 columns): {l}"),
                });
                continue;
            }
            let at = Origin::new(master_file, line);
            let mut args = Vec::new();
            let mut overrides = Vec::new();
            let mut rest = fields[8..].iter();
            while let Some(a) = rest.next() {
                let o = if *a == "-o" {
                    rest.next().copied()
                } else {
                    a.strip_prefix("-o").filter(|o| !o.is_empty())
                };
                match o.and_then(|o| o.split_once('=')) {
                    Some((k, v)) => {
                        overrides.push(Setting { key: k.into(), value: v.into(), at: at.clone() })
                    }
                    None if *a == "-o" || a.starts_with("-o") => problems.push(Problem {
                        at: at.clone(),
                        message: format!("-o without name=value in service {}", fields[0]),
                    }),
                    None => args.push(a.to_string()),
                }
            }
            services.push(Service {
                name: fields[0].into(),
                kind: fields[1].into(),
                chroot: fields[4].into(),
                command: fields[7].into(),
                args,
                overrides,
                at,
            });
        }
        Postfix { main, master: services, maps: Vec::new(), problems }
    }

    /// The effective value of a main.cf parameter as written (the last one wins).
    pub fn get(&self, key: &str) -> Option<&Setting> {
        source::last(&self.main, key)
    }

    /// The table `reference` names, when it was read.
    pub fn map(&self, reference: &str) -> Option<&Map> {
        self.maps.iter().find(|m| m.reference == reference)
    }

    /// Table references in a parameter value (`mysql:/x.cf, hash:/etc/postfix/y`).
    pub fn references(value: &str) -> Vec<String> {
        value
            .split([',', ' ', '\t'])
            .filter(|t| t.split_once(':').is_some_and(|(ty, _)| MAP_TYPES.contains(&ty)))
            .map(str::to_string)
            .collect()
    }

    fn read_maps(&mut self, dir: &Path) {
        let values: Vec<String> = self
            .main
            .iter()
            .chain(self.master.iter().flat_map(|s| s.overrides.iter()))
            .map(|s| s.value.clone())
            .collect();
        for value in values {
            for reference in Postfix::references(&value) {
                if self.maps.iter().any(|m| m.reference == reference) {
                    continue;
                }
                let inner = reference.strip_prefix("proxy:").unwrap_or(&reference);
                let Some((kind, named)) = inner.split_once(':') else { continue };
                let mut map = Map {
                    reference: reference.clone(),
                    kind: kind.into(),
                    path: source::locate(named, "/etc/postfix", dir),
                    settings: Vec::new(),
                    entries: Vec::new(),
                };
                if kind == "mysql" {
                    if let Some(text) = source::read(&map.path, &mut self.problems) {
                        let (settings, mut problems) = source::key_values(&text, &map.path, true);
                        map.settings = settings;
                        self.problems.append(&mut problems);
                    }
                } else if TABLE_TYPES.contains(&kind)
                    && let Some(text) = source::read(&map.path, &mut self.problems)
                {
                    map.entries = table_entries(&text, &map.path, &mut self.problems);
                }
                self.maps.push(map);
            }
        }
    }
}

/// `key value` lines of a postmap source file.
pub fn table_entries(text: &str, file: &Path, problems: &mut Vec<Problem>) -> Vec<Setting> {
    let mut out = Vec::new();
    for (line, l) in source::logical_lines(text, true) {
        match l.split_once(char::is_whitespace) {
            Some((k, v)) => {
                out.push(Setting { key: k.into(), value: v.trim().into(), at: Origin::new(file, line) })
            }
            None => problems.push(Problem {
                at: Origin::new(file, line),
                message: format!("table line without a value: {l}"),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/migrate").join(name)
    }

    #[test]
    fn reads_the_tutorial_layout() {
        let pf = Postfix::read(&data("postfix"));
        assert!(pf.problems.is_empty(), "{:?}", pf.problems);
        let v = pf.get("virtual_mailbox_domains").unwrap();
        assert_eq!(v.value, "mysql:/etc/postfix/mysql-virtual-mailbox-domains.cf");
        assert!(v.at.to_string().ends_with("main.cf:10"), "{}", v.at);
        let m = pf.map(&v.value).unwrap();
        assert_eq!(m.get("hosts"), Some("127.0.0.1"));
        assert_eq!(m.get("query"), Some("SELECT domain FROM domain WHERE domain = '%s' AND active = '1'"));
        let sub = pf.master.iter().find(|s| s.name == "submission").unwrap();
        assert_eq!(sub.port(), Some(587));
        assert_eq!(sub.get("smtpd_sasl_auth_enable").unwrap().value, "yes");
        assert_eq!(sub.get("smtpd_client_restrictions").unwrap().value, "permit_sasl_authenticated,reject");
        let transport = pf.map("hash:/etc/postfix/transport").unwrap();
        assert_eq!(transport.entries[0].key, "lists.b.test");
        assert_eq!(transport.entries[0].value, "smtp:[lists.example.net]:2525");
    }

    #[test]
    fn postconf_output_and_bad_lines() {
        let main = "myhostname = mail.b.test\nmynetworks = 127.0.0.0/8\n    [::1]/128\nbroken line\n";
        let master = "smtp      inet  n       -       y       -       -       smtpd\n\
                      submission inet n - y - - smtpd -o syslog_name=postfix/submission -o smtpd_tls_security_level=encrypt\n\
                      short inet n\n";
        let pf = Postfix::parse(main, Path::new("main.cf"), master, Path::new("master.cf"));
        assert_eq!(pf.get("mynetworks").unwrap().value, "127.0.0.0/8 [::1]/128");
        assert_eq!(pf.problems.len(), 2, "{:?}", pf.problems);
        assert_eq!(pf.problems[0].at.to_string(), "main.cf:4");
        assert_eq!(pf.problems[1].at.to_string(), "master.cf:3");
        assert_eq!(pf.master[1].get("smtpd_tls_security_level").unwrap().value, "encrypt");
        assert_eq!(pf.master[0].port(), Some(25));
    }

    #[test]
    fn missing_map_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.cf"), "virtual_alias_maps = proxy:mysql:/etc/postfix/nope.cf\n")
            .unwrap();
        std::fs::write(dir.path().join("master.cf"), "").unwrap();
        let pf = Postfix::read(dir.path());
        assert_eq!(pf.problems.len(), 1);
        assert!(pf.problems[0].message.contains("cannot read"), "{:?}", pf.problems);
        assert_eq!(pf.maps[0].kind, "mysql");
    }
}
