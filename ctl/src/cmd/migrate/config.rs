//! `migrate config`: the classic settings translated into a `mailroom.toml`, each key under a
//! comment naming the classic setting(s) it came from, and the [`Report`] of what was mapped,
//! approximated or left out.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use password::Scheme;

use super::dovecot::{Dovecot, NEST};
use super::postfix::{Map, Postfix};
use super::report::{Report, Status};
use super::saslauthd::Saslauthd;
use super::source::Setting;

/// Where the LMTP socket of a Dovecot `unix_listener` with a relative name lives.
const DOVECOT_BASE_DIR: &str = "/run/dovecot";

/// A value of the file being written.
#[derive(Debug, Clone)]
enum Value {
    Str(String),
    Int(u64),
    Signed(i64),
    Bool(bool),
    List(Vec<String>),
    Table(BTreeMap<String, String>),
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Value {
    fn render(&self) -> String {
        match self {
            Value::Str(s) => quote(s),
            Value::Int(i) => i.to_string(),
            Value::Signed(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::List(v) => format!("[{}]", v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")),
            Value::Table(t) => format!(
                "{{ {} }}",
                t.iter().map(|(k, v)| format!("{} = {}", quote(k), quote(v))).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// The translation in progress.
pub struct Translation<'a> {
    pf: &'a Postfix,
    dc: &'a Dovecot,
    sa: &'a Saslauthd,
    /// Section name -> lines.
    sections: Vec<(&'static str, Vec<String>)>,
    /// Settings already accounted for in the report ("file:line key").
    used: HashSet<String>,
    /// The report.
    pub report: Report,
}

fn id(s: &Setting) -> String {
    format!("{} {}", s.at, s.key)
}

/// The result: the file's text and the report.
pub struct Output {
    /// mailroom.toml.
    pub toml: String,
    /// What became of each classic setting.
    pub report: Report,
}

/// Translate the classic configuration.
pub fn translate(pf: &Postfix, dc: &Dovecot, sa: &Saslauthd) -> Output {
    let mut t = Translation {
        pf,
        dc,
        sa,
        sections: ["database", "database.queries", "saslauthd", "tls", "mta", "mda", "mra"]
            .into_iter()
            .map(|s| (s, Vec::new()))
            .collect(),
        used: HashSet::new(),
        report: Report::default(),
    };
    t.report.problems(&pf.problems);
    t.report.problems(&dc.problems);
    t.report.problems(&sa.problems);
    let run_dir = t.saslauthd();
    t.database();
    t.tls();
    let lmtp = t.mda();
    t.mta(&run_dir, &lmtp);
    t.mra(&run_dir);
    t.leftovers();
    let mut toml = String::from(
        "# mailroom.toml written by `mailroomctl migrate config` from the classic configuration.\n\
         # Each key's comment names the classic setting it came from (file:line); keys not\n\
         # written keep mailroom's defaults (see mailroom.toml(5)). Review with `mailroomctl check`.\n",
    );
    for (name, lines) in &t.sections {
        if lines.is_empty() {
            continue;
        }
        let _ = write!(toml, "\n[{name}]\n");
        for l in lines {
            toml.push_str(l);
            toml.push('\n');
        }
    }
    Output { toml, report: t.report }
}

impl Translation<'_> {
    /// Write `key = value` in `section` under a comment naming its sources, and report each
    /// source with `status` and `note`.
    fn set(
        &mut self,
        section: &'static str,
        key: &str,
        value: Value,
        from: &[&Setting],
        status: Status,
        note: &str,
    ) {
        let lines = &mut self.sections.iter_mut().find(|(s, _)| *s == section).expect("known section").1;
        for s in from {
            lines.push(format!("# from {} {}", s.at, s.key));
        }
        if !note.is_empty() && status != Status::Mapped {
            lines.push(format!(
                "# {}: {note}",
                if status == Status::Approximated { "approximated" } else { "note" }
            ));
        }
        lines.push(format!("{key} = {}", value.render()));
        let target = format!("[{section}] {key}");
        for s in from {
            self.mark(s, status, Some(&target), note);
        }
    }

    /// A comment line in `section`, above the next key.
    fn comment(&mut self, section: &'static str, text: &str) {
        let lines = &mut self.sections.iter_mut().find(|(s, _)| *s == section).expect("known section").1;
        lines.push(format!("# {text}"));
    }

    /// Report a setting once.
    fn mark(&mut self, s: &Setting, status: Status, target: Option<&str>, note: &str) {
        if self.used.insert(id(s)) {
            self.report.add(status, s, target, note);
        }
    }

    fn pf(&self, key: &str) -> Option<&Setting> {
        self.pf.get(key).filter(|s| !s.value.is_empty())
    }

    // ---------------------------------------------------------------- [saslauthd]

    /// The saslauthd section; returns its run_dir.
    fn saslauthd(&mut self) -> String {
        let sa = self.sa;
        let mut run_dir = "/run/mailroom/saslauthd".to_string();
        if let Some((dir, at)) = sa.socket_dir() {
            let s = Setting { key: "OPTIONS -m".into(), value: dir.clone(), at };
            self.set("saslauthd", "run_dir", Value::Str(dir.clone()), &[&s], Status::Mapped, "");
            run_dir = dir;
        }
        if let Some(o) = sa.get("OPTIONS") {
            let words: Vec<&str> = o.value.split_whitespace().collect();
            let mut notes = Vec::new();
            if words.contains(&"-r") {
                notes.push("-r: realms joined (join_realm = true, the default)");
            }
            if words.contains(&"-c") {
                notes.push("-c: credential cache becomes [database] password_cache_ttl");
            }
            if words.contains(&"-n") {
                notes.push("-n: one process serves every request concurrently");
            }
            self.mark(o, Status::Approximated, Some("[saslauthd]"), &notes.join("; "));
        }
        if let Some(m) = sa.get("MECHANISMS") {
            let note = match m.value.as_str() {
                "" => String::new(),
                mech => format!(
                    "mailroom-saslauthd checks the SQL directory only; users of the `{mech}` mechanism \
                     (e.g. /etc/sasldb2 entries) that are not mailboxes can no longer log in"
                ),
            };
            self.mark(m, Status::Unsupported, None, &note);
        }
        if let Some(m) = sa.get("MECH_OPTIONS").filter(|m| !m.value.is_empty()) {
            self.mark(m, Status::Unsupported, None, "mechanism options have no equivalent");
        }
        for s in &sa.default {
            let note = match s.key.as_str() {
                "START" | "DESC" | "NAME" | "THREADS" => "init-script setting; systemd units replace it",
                _ => "",
            };
            if !note.is_empty() {
                self.mark(s, Status::Approximated, None, note);
            }
        }
        for s in &sa.smtpd_conf {
            let (status, note) = match (s.key.as_str(), s.value.to_ascii_lowercase()) {
                ("pwcheck_method", v) if v == "saslauthd" => {
                    (Status::Mapped, format!("libsasl2 keeps asking {run_dir}/mux, now mailroom-saslauthd"))
                }
                ("mech_list", v) if v.split_whitespace().all(|m| m == "plain" || m == "login") => {
                    (Status::Mapped, "PLAIN and LOGIN are what mailroom offers".to_string())
                }
                ("mech_list", v) => {
                    (Status::Unsupported, format!("only PLAIN and LOGIN are offered, not all of `{v}`"))
                }
                ("saslauthd_path", _) => (Status::Mapped, format!("the cyrus socket is {run_dir}/mux")),
                _ => (Status::Unsupported, "libsasl2 option with no mailroom equivalent".to_string()),
            };
            self.mark(s, status, Some("[saslauthd]"), &note);
        }
        run_dir
    }

    // ---------------------------------------------------------------- [database]

    fn database(&mut self) {
        let dc = self.dc;
        let pf = self.pf;
        // The URL: Dovecot's connect (the one that checks passwords), else a Postfix mysql map.
        let mysql_maps: Vec<&Map> = pf.maps.iter().filter(|m| m.kind == "mysql").collect();
        let driver = dc.sql("driver").map(|s| s.value.clone());
        let mut url_done = false;
        if let (Some(d), Some(c)) = (dc.sql("driver"), dc.sql("connect")) {
            match (d.value.as_str(), connect_urls(&d.value, &c.value)) {
                ("mysql" | "sqlite", Ok(urls)) => {
                    self.set("database", "url", Value::List(urls), &[d, c], Status::Mapped, "");
                    url_done = true;
                }
                (_, Err(e)) => {
                    self.mark(d, Status::Unsupported, None, &e);
                    self.mark(c, Status::Unsupported, None, &e);
                }
                _ => {}
            }
        }
        if !url_done && let Some(m) = mysql_maps.first() {
            let from: Vec<Setting> = ["hosts", "user", "password", "dbname"]
                .iter()
                .filter_map(|k| m.settings.iter().rev().find(|s| s.key == *k).cloned())
                .collect();
            let urls = map_urls(m);
            let refs: Vec<&Setting> = from.iter().collect();
            self.set("database", "url", Value::List(urls), &refs, Status::Mapped, "");
        }
        // The other maps' connection settings: the same database, or say so.
        for m in &mysql_maps {
            let urls = map_urls(m);
            for s in &m.settings {
                if ["hosts", "user", "password", "dbname"].contains(&s.key.as_str()) {
                    let same = driver.as_deref() != Some("mysql")
                        || dc
                            .sql("connect")
                            .is_some_and(|c| connect_urls("mysql", &c.value).ok() == Some(urls.clone()));
                    let (status, note) = if same {
                        (Status::Mapped, "the same database as [database] url")
                    } else {
                        (
                            Status::Approximated,
                            "Postfix's maps name another database or login than Dovecot's; mailroom uses Dovecot's for both",
                        )
                    };
                    self.mark(s, status, Some("[database] url"), note);
                }
            }
        }
        if let Some(s) = dc.sql("default_pass_scheme") {
            match Scheme::from_name(&s.value) {
                Some(_) => self.set(
                    "database",
                    "default_pass_scheme",
                    Value::Str(s.value.clone()),
                    &[s],
                    Status::Mapped,
                    "",
                ),
                None => self.mark(
                    s,
                    Status::Unsupported,
                    None,
                    "scheme unknown to mailroom: hashes without a {SCHEME} prefix cannot be verified",
                ),
            }
        }
        // Where Maildirs are.
        self.mail_location();
        // Queries.
        if let Some(s) = dc.sql("password_query") {
            match dovecot_query(&s.value) {
                Ok((q, note)) => {
                    let status = if note.is_empty() { Status::Mapped } else { Status::Approximated };
                    self.set("database.queries", "password", Value::Str(q), &[s], status, &note);
                }
                Err(e) => self.mark(
                    s,
                    Status::Unsupported,
                    None,
                    &format!("{e}; the built-in postfixadmin query is used"),
                ),
            }
        }
        for key in ["user_query", "iterate_query"] {
            if let Some(s) = dc.sql(key) {
                let note = if key == "user_query" {
                    "home, uid and gid: Maildirs come from [database] maildir_template, the owner from [mra]/[mda] user"
                } else {
                    "mailroomctl lists users from the mailbox table"
                };
                self.mark(s, Status::Approximated, None, note);
            }
        }
        for (param, key) in [
            ("virtual_mailbox_domains", "domain"),
            ("virtual_alias_maps", "alias"),
            ("smtpd_sender_login_maps", "sender_login"),
            ("virtual_mailbox_maps", "mailbox"),
        ] {
            let Some(s) = self.pf(param).cloned() else { continue };
            let refs = Postfix::references(&s.value);
            let maps: Vec<&Map> = refs.iter().filter_map(|r| pf.map(r)).collect();
            let sql: Vec<&Map> = maps.iter().copied().filter(|m| m.kind == "mysql").collect();
            if sql.len() != 1 || maps.len() != 1 {
                let note = format!("only one mysql: table per lookup is carried over; `{}` is not", s.value);
                self.mark(&s, Status::Unsupported, None, &note);
                continue;
            }
            let m = sql[0];
            let Some(q) = m.settings.iter().rev().find(|x| x.key == "query") else {
                self.mark(
                    &s,
                    Status::Unsupported,
                    None,
                    "the map has no `query` (old table/select_field style)",
                );
                continue;
            };
            for extra in m
                .settings
                .iter()
                .filter(|x| !["hosts", "user", "password", "dbname", "query"].contains(&x.key.as_str()))
            {
                self.mark(extra, Status::Unsupported, None, "map option with no mailroom equivalent");
            }
            if key == "mailbox" {
                // Postfix returns only the maildir column; mailroom's mailbox lookup needs
                // username, maildir and quota, and takes the path from maildir_template.
                let note = "mailroom's built-in postfixadmin mailbox query (username, maildir, quota) replaces it; \
                            the Maildir path comes from maildir_template, as Dovecot's mail_location";
                let status =
                    if q.value.contains("mailbox") { Status::Approximated } else { Status::Unsupported };
                self.mark(&s, status, Some("[database] queries.mailbox"), note);
                self.mark(q, status, Some("[database] queries.mailbox"), note);
                continue;
            }
            match postfix_query(&q.value) {
                Ok(sqltext) => {
                    self.set("database.queries", key, Value::Str(sqltext), &[&s, q], Status::Mapped, "");
                }
                Err(e) => {
                    self.mark(&s, Status::Unsupported, None, &e);
                    self.mark(q, Status::Unsupported, None, &e);
                }
            }
        }
        if let Some(s) = self.pf("recipient_delimiter").cloned() {
            self.set(
                "database",
                "recipient_delimiter",
                Value::Str(s.value.clone()),
                &[&s],
                Status::Mapped,
                "",
            );
        }
    }

    fn mail_location(&mut self) {
        let dc = self.dc;
        let Some(s) = dc.get("mail_location") else { return };
        let mut parts = s.value.split(':');
        let format = parts.next().unwrap_or_default();
        let path = parts.next().unwrap_or_default();
        let options: Vec<&str> = parts.collect();
        if format != "maildir" {
            self.mark(
                s,
                Status::Unsupported,
                None,
                &format!("mail format `{format}`: mailroom reads Maildir++ only; convert with dsync first"),
            );
            return;
        }
        let mut notes: Vec<String> = Vec::new();
        let mut path = path.to_string();
        if let Some(rest) = path.strip_prefix("~/") {
            // The home from user_query: CONCAT('/var/vmail/', domain, '/', local_part) AS home.
            match dc.sql("user_query").and_then(|q| home_template(&q.value)) {
                Some(home) => {
                    path = format!("{home}/{rest}");
                    notes.push(format!("~ is the home from user_query, {home}"));
                }
                None => {
                    self.mark(s, Status::Unsupported, None, "~ needs the home from user_query, which is not CONCAT('/dir/', domain, '/', local_part)");
                    return;
                }
            }
        }
        for o in &options {
            let (name, _) = o.split_once('=').unwrap_or((*o, ""));
            match name {
                "INDEX" | "VOLATILEDIR" => {
                    notes.push(format!("{name}= dropped: mailroom keeps its own cache in the Maildir"))
                }
                "LAYOUT" if *o == "LAYOUT=maildir++" => {}
                _ => {
                    self.mark(
                        s,
                        Status::Unsupported,
                        None,
                        &format!(
                            "option `{o}`: mailroom reads Maildir++ with dovecot-uidlist in the Maildir"
                        ),
                    );
                    return;
                }
            }
        }
        let (template, approx) = dovecot_vars(&path);
        if let Some(a) = approx {
            notes.push(a);
        }
        let Some(cut) = template.find('%').and_then(|i| template[..i].rfind('/')) else {
            self.mark(s, Status::Unsupported, None, "no per-user variable (%d, %n, %u) in the path");
            return;
        };
        if template.contains("%h") || template[..cut].is_empty() {
            self.mark(s, Status::Unsupported, None, "the path must be ROOT/...%d/%n...");
            return;
        }
        let status = if notes.is_empty() { Status::Mapped } else { Status::Approximated };
        let note = notes.join("; ");
        self.set("database", "mail_root", Value::Str(template[..cut].to_string()), &[s], status, &note);
        self.set("database", "maildir_source", Value::Str("template".into()), &[s], status, &note);
        self.set(
            "database",
            "maildir_template",
            Value::Str(template[cut + 1..].trim_end_matches('/').to_string()),
            &[s],
            status,
            &note,
        );
    }

    // ---------------------------------------------------------------- [tls]

    fn tls(&mut self) {
        let dc = self.dc;
        let ssl_off = dc.get("ssl").is_some_and(|s| s.value == "no");
        let dcert = dc.get("ssl_cert").filter(|_| !ssl_off);
        let dkey = dc.get("ssl_key").filter(|_| !ssl_off);
        let pcert = self.pf("smtpd_tls_cert_file").cloned();
        let pkey = self.pf("smtpd_tls_key_file").cloned();
        let file = |s: &Setting| s.value.trim_start_matches('<').trim().to_string();
        match (dcert, dkey) {
            (Some(c), Some(k)) => {
                self.set("tls", "cert", Value::Str(file(c)), &[c], Status::Mapped, "");
                self.set("tls", "key", Value::Str(file(k)), &[k], Status::Mapped, "");
                for p in [pcert, pkey].into_iter().flatten() {
                    if file(&p) == file(c) || file(&p) == file(k) {
                        self.mark(&p, Status::Mapped, Some("[tls]"), "the same file as Dovecot's");
                    } else {
                        self.mark(
                            &p,
                            Status::Approximated,
                            Some("[tls]"),
                            "mailroom presents one certificate on every listener: Dovecot's",
                        );
                    }
                }
            }
            (c, k) => {
                for half in [c, k].into_iter().flatten() {
                    let note = "Dovecot's certificate and key come as a pair: one of them is missing";
                    self.mark(half, Status::Unsupported, None, note);
                }
                if let (Some(c), Some(k)) = (pcert, pkey) {
                    self.set("tls", "cert", Value::Str(file(&c)), &[&c], Status::Mapped, "");
                    self.set("tls", "key", Value::Str(file(&k)), &[&k], Status::Mapped, "");
                }
            }
        }
        if let Some(s) = dc.get("ssl") {
            self.mark(
                s,
                Status::Mapped,
                Some("[tls]"),
                if ssl_off { "no TLS" } else { "TLS with [tls] cert and key" },
            );
        }
    }

    // ---------------------------------------------------------------- [mda]

    /// The MDA section; returns the LMTP socket path.
    fn mda(&mut self) -> String {
        let dc = self.dc;
        let prefix = format!("service lmtp{NEST}unix_listener ");
        let mut socket = None;
        for s in &dc.settings {
            let Some(rest) = s.key.strip_prefix(&prefix) else { continue };
            let Some((path, key)) = rest.split_once(NEST) else { continue };
            let path =
                if path.starts_with('/') { path.to_string() } else { format!("{DOVECOT_BASE_DIR}/{path}") };
            if socket.as_ref().is_none_or(|p: &String| *p == path) {
                socket = Some(path.clone());
                let (k, v) = match key {
                    "mode" => ("lmtp_socket_mode", Value::Str(s.value.clone())),
                    "user" => ("lmtp_socket_owner", Value::Str(s.value.clone())),
                    "group" => ("lmtp_socket_group", Value::Str(s.value.clone())),
                    _ => {
                        self.mark(
                            s,
                            Status::Unsupported,
                            None,
                            "listener option with no mailroom equivalent",
                        );
                        continue;
                    }
                };
                if key == "mode" {
                    let first = !self
                        .sections
                        .iter()
                        .any(|(n, l)| *n == "mda" && l.iter().any(|l| l.starts_with("lmtp_socket =")));
                    if first {
                        self.set("mda", "lmtp_socket", Value::Str(path.clone()), &[s], Status::Mapped, "");
                    }
                }
                let v = match v {
                    Value::Str(m) if key == "mode" => {
                        Value::Str(format!("{:04o}", u32::from_str_radix(&m, 8).unwrap_or(0o600)))
                    }
                    v => v,
                };
                self.set("mda", k, v, &[s], Status::Mapped, "");
            }
        }
        let socket = socket.unwrap_or_else(|| "/run/mailroom/mda/lmtp".to_string());
        if !self.sections.iter().any(|(n, l)| *n == "mda" && l.iter().any(|l| l.starts_with("lmtp_socket =")))
        {
            // No mode line came first: name the socket plainly.
            let lines = &mut self.sections.iter_mut().find(|(n, _)| *n == "mda").expect("mda").1;
            lines.insert(0, format!("lmtp_socket = {}", quote(&socket)));
            lines.insert(0, "# Dovecot's LMTP listener, where Postfix delivers today".to_string());
        }
        // lmtp over TCP.
        for (_, port, _, at) in dc.inet_listeners("lmtp") {
            let s = Setting { key: "service lmtp > inet_listener".into(), value: port.to_string(), at };
            self.set(
                "mda",
                "lmtp_tcp",
                Value::Str(format!("127.0.0.1:{port}")),
                &[&s],
                Status::Approximated,
                "listens on loopback only",
            );
        }
        if let Some(s) = dc.get("mail_uid") {
            self.set("mda", "user", Value::Str(s.value.clone()), &[s], Status::Mapped, "");
        }
        if let Some(s) = self.pf("myhostname").cloned()
            && !s.value.contains('$')
        {
            self.set("mda", "hostname", Value::Str(s.value.clone()), &[&s], Status::Mapped, "");
        }
        if let Some(s) = self.pf("message_size_limit").cloned()
            && let Ok(n) = s.value.parse::<u64>()
        {
            self.set("mda", "max_message_size", Value::Int(n), &[&s], Status::Mapped, "");
        }
        let sieve = dc.settings.iter().find(|s| s.key == format!("plugin{NEST}sieve")).cloned();
        let plugins: Vec<Setting> =
            dc.settings.iter().filter(|s| s.key.ends_with("mail_plugins")).cloned().collect();
        let uses_sieve = plugins.iter().any(|p| p.value.split_whitespace().any(|w| w == "sieve"));
        let mut from: Vec<&Setting> = plugins.iter().filter(|p| p.value.contains("sieve")).collect();
        if let Some(s) = &sieve {
            from.push(s);
        }
        let standard = sieve.as_ref().is_none_or(|s| {
            let v = s.value.replace(' ', "");
            v == "~/.dovecot.sieve" || v == "file:~/sieve;active=~/.dovecot.sieve"
        });
        let note = if standard { "" } else { "mailroom runs ~/.dovecot.sieve (scripts in ~/sieve) only" };
        let status = if standard { Status::Mapped } else { Status::Approximated };
        self.set("mda", "sieve", Value::Bool(uses_sieve), &from, status, note);
        for (key, target) in [
            ("lmtp_save_to_detail_mailbox", "save_to_detail_mailbox"),
            ("quota_full_tempfail", "quota_full_tempfail"),
            ("lda_mailbox_autocreate", "mailbox_autocreate"),
        ] {
            if let Some(s) = dc
                .settings
                .iter()
                .rev()
                .find(|s| s.key == key || s.key.ends_with(&format!("{NEST}{key}")))
                .cloned()
            {
                self.set("mda", target, Value::Bool(s.value == "yes"), &[&s], Status::Mapped, "");
            }
        }
        socket
    }

    // ---------------------------------------------------------------- [mta]

    fn mta(&mut self, run_dir: &str, lmtp: &str) {
        let pf = self.pf;
        // Listener addresses: inet_interfaces x inet_protocols.
        let v4 = self.pf("inet_protocols").is_none_or(|p| p.value.contains("ipv4") || p.value == "all");
        let v6 = self.pf("inet_protocols").is_none_or(|p| p.value.contains("ipv6") || p.value == "all");
        let mut hosts: Vec<String> = Vec::new();
        let mut hosts_from = Vec::new();
        if let Some(s) = self.pf("inet_interfaces").cloned() {
            for w in s.value.split([',', ' ']).filter(|w| !w.is_empty()) {
                match w {
                    "all" => {
                        hosts.extend(if v6 { vec!["[::]".to_string()] } else { vec!["0.0.0.0".to_string()] })
                    }
                    "loopback-only" | "localhost" => {
                        if v4 {
                            hosts.push("127.0.0.1".into());
                        }
                        if v6 {
                            hosts.push("[::1]".into());
                        }
                    }
                    a if a.parse::<std::net::IpAddr>().is_ok() => {
                        hosts.push(if a.contains(':') { format!("[{a}]") } else { a.to_string() })
                    }
                    a => {
                        let note = format!("`{a}` is a host name: give mailroom its addresses");
                        self.mark(&s, Status::Unsupported, None, &note);
                    }
                }
            }
            hosts_from.push(s);
        }
        if let Some(p) = self.pf("inet_protocols").cloned() {
            hosts_from.push(p);
        }
        if hosts.is_empty() {
            hosts = vec!["[::]".into()];
        }
        let mut listen: BTreeMap<&str, (Vec<String>, Vec<Setting>)> = BTreeMap::new();
        for svc in &pf.master {
            let at = svc.at.clone();
            let name = format!("master.cf {} {}", svc.name, svc.kind);
            let Some(port) = svc.port() else {
                let (status, note) = match svc.command.as_str() {
                    "pickup" | "cleanup" | "qmgr" | "tlsmgr" | "trivial-rewrite" | "bounce" | "verify"
                    | "flush" | "proxymap" | "smtp" | "showq" | "error" | "discard" | "lmtp" | "anvil"
                    | "scache" | "postlogd" | "local" | "virtual" | "dnsblog" | "tlsproxy" => (
                        Status::Approximated,
                        "Postfix internal service; built into mailroom-mta".to_string(),
                    ),
                    "pipe" => {
                        let used = pf
                            .main
                            .iter()
                            .any(|s| s.value.split([':', ' ', ',']).any(|w| w == svc.name))
                            || pf.maps.iter().any(|m| {
                                m.entries.iter().any(|e| e.value.split(':').next() == Some(svc.name.as_str()))
                            });
                        if used {
                            (
                                Status::Unsupported,
                                format!(
                                    "pipe transport `{}` ({}): mailroom-mta has no pipe delivery",
                                    svc.name,
                                    svc.args.join(" ")
                                ),
                            )
                        } else {
                            (Status::Approximated, "pipe service no transport uses; dropped".to_string())
                        }
                    }
                    // The smtpd postscreen hands its clients to.
                    "smtpd" if svc.kind == "pass" => {
                        for o in &svc.overrides {
                            let (status, note) = smtpd_override(&o.key, &o.value);
                            let s = Setting {
                                key: format!("{} -o {}", svc.name, o.key),
                                value: o.value.clone(),
                                at: o.at.clone(),
                            };
                            self.report.add(status, &s, Some("[mta] smtp_listen"), note);
                        }
                        (
                            Status::Approximated,
                            "smtpd behind postscreen: mailroom-mta's port-25 listener is both".to_string(),
                        )
                    }
                    c => (Status::Unsupported, format!("service `{c}` has no mailroom equivalent")),
                };
                self.report.add_named(status, &name, &at, None, note);
                continue;
            };
            // postscreen in front of port 25: mailroom-mta's listener screens its clients itself.
            let postscreen = svc.command == "postscreen";
            if svc.command != "smtpd" && !postscreen {
                let note =
                    format!("`{}` on port {port}: mailroom-mta's listener does the SMTP itself", svc.command);
                self.report.add_named(Status::Unsupported, &name, &at, None, note);
                continue;
            }
            // The role: by port, else by what the overrides make of it (submission on 2587).
            let o = |k: &str| svc.get(k).map(|s| s.value.replace(' ', ""));
            let key = if postscreen {
                "smtp_listen"
            } else if port == 465 || o("smtpd_tls_wrappermode").as_deref() == Some("yes") {
                "submissions_listen"
            } else if port == 587
                || o("syslog_name").is_some_and(|v| v.ends_with("/submission"))
                || o("smtpd_client_restrictions").as_deref() == Some("permit_sasl_authenticated,reject")
            {
                "submission_listen"
            } else {
                "smtp_listen"
            };
            let addrs: Vec<String> = match svc.host() {
                Some(h) if !h.is_empty() => {
                    vec![if h.contains(':') { format!("[{h}]:{port}") } else { format!("{h}:{port}") }]
                }
                _ => hosts.iter().map(|h| format!("{h}:{port}")).collect(),
            };
            let e = listen.entry(key).or_default();
            e.0.extend(addrs);
            e.1.push(Setting { key: name.clone(), value: svc.name.clone(), at: at.clone() });
            for o in &svc.overrides {
                let (status, note) = smtpd_override(&o.key, &o.value);
                let s = Setting {
                    key: format!("{} -o {}", svc.name, o.key),
                    value: o.value.clone(),
                    at: o.at.clone(),
                };
                self.report.add(status, &s, Some(&format!("[mta] {key}")), note);
            }
        }
        for key in ["smtp_listen", "submission_listen", "submissions_listen"] {
            match listen.get(key) {
                Some((addrs, from)) => {
                    let mut refs: Vec<&Setting> = from.iter().collect();
                    refs.extend(hosts_from.iter());
                    self.set("mta", key, Value::List(addrs.clone()), &refs, Status::Mapped, "");
                }
                None => {
                    let lines = &mut self.sections.iter_mut().find(|(n, _)| *n == "mta").expect("mta").1;
                    lines.push("# no such service in master.cf".into());
                    lines.push(format!("{key} = []"));
                }
            }
        }
        if let Some(s) = self.pf("myhostname").cloned() {
            if s.value.contains('$') {
                self.mark(&s, Status::Unsupported, None, "contains a $variable: set [mta] hostname by hand");
            } else {
                self.set("mta", "hostname", Value::Str(s.value.clone()), &[&s], Status::Mapped, "");
            }
        }
        match self.pf("mynetworks").cloned() {
            Some(s) => {
                let (nets, bad) = networks(&s.value);
                let (status, note) = if bad.is_empty() {
                    (Status::Mapped, String::new())
                } else {
                    (Status::Approximated, format!("left out (tables, $variables, names): {}", bad.join(" ")))
                };
                self.set("mta", "mynetworks", Value::List(nets), &[&s], status, &note);
            }
            None => {
                if let Some(st) = self.pf("mynetworks_style").cloned() {
                    self.mark(
                        &st,
                        Status::Approximated,
                        Some("[mta] mynetworks"),
                        "mailroom's default: loopback only",
                    );
                }
            }
        }
        if let Some(s) = self.pf("relayhost").cloned() {
            self.set("mta", "relayhost", Value::Str(s.value.clone()), &[&s], Status::Mapped, "");
        }
        if let Some(s) = self.pf("smtp_sasl_password_maps").cloned() {
            self.mark(
                &s,
                Status::Approximated,
                Some("[mta] relayhost_username"),
                "set relayhost_username and relayhost_password_file from this table by hand",
            );
        }
        if let Some(s) = self.pf("message_size_limit").cloned() {
            match s.value.parse::<u64>() {
                Ok(n) => self.set("mta", "max_message_size", Value::Int(n), &[&s], Status::Mapped, ""),
                Err(_) => self.mark(&s, Status::Unsupported, None, "not a number"),
            }
        }
        // Transport tables.
        if let Some(s) = self.pf("transport_maps").cloned() {
            let mut table = BTreeMap::new();
            for r in Postfix::references(&s.value) {
                let Some(m) = pf.map(&r) else { continue };
                if m.entries.is_empty() && m.kind != "hash" && m.kind != "lmdb" && m.kind != "texthash" {
                    let note =
                        format!("`{}` tables are not read; enter its routes in [mta] transport_map", m.kind);
                    self.mark(&s, Status::Unsupported, None, &note);
                    continue;
                }
                for e in &m.entries {
                    let dest = e.key.as_str();
                    let route = e.value.as_str();
                    let kind = route.split(':').next().unwrap_or_default();
                    let ok_key = !dest.contains('@') && dest != "*";
                    let target = match kind {
                        "smtp" | "lmtp" => Some(route.to_string()),
                        "relay" => Some(route.replacen("relay:", "smtp:", 1)),
                        _ => None,
                    };
                    let file =
                        m.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let name = format!("{file} {dest}");
                    match (ok_key, target) {
                        (true, Some(t)) => {
                            let status = if kind == "relay" { Status::Approximated } else { Status::Mapped };
                            let note = if kind == "relay" { "relay: is delivered as smtp:" } else { "" };
                            self.report.add_named(status, &name, &e.at, Some("[mta] transport_map"), note);
                            table.insert(dest.to_string(), t);
                        }
                        (false, _) => self.report.add_named(
                            Status::Unsupported,
                            &name,
                            &e.at,
                            None,
                            "routes per address or `*` are not supported; use relayhost for `*`",
                        ),
                        (true, None) => self.report.add_named(
                            Status::Unsupported,
                            &name,
                            &e.at,
                            None,
                            format!(
                                "transport `{kind}` is not supported: mail for {dest} would be routed by MX"
                            ),
                        ),
                    }
                }
            }
            if !table.is_empty() {
                self.set("mta", "transport_map", Value::Table(table), &[&s], Status::Mapped, "");
            } else {
                self.mark(&s, Status::Approximated, None, "no route carried over");
            }
        }
        self.milters(pf);
        self.postscreen(pf);
        self.anvil();
        self.outbound_tls(pf);
        // AUTH: every classic SASL setup becomes mailroom-saslauthd's cyrus socket.
        if let Some(s) = self.pf("smtpd_sasl_type").cloned() {
            let mux = format!("{run_dir}/mux");
            self.set("mta", "auth", Value::Str("saslauthd".into()), &[&s], Status::Mapped, "");
            let path = self.pf("smtpd_sasl_path").cloned();
            let mut from = vec![s.clone()];
            from.extend(path);
            let refs: Vec<&Setting> = from.iter().collect();
            let note =
                if s.value == "dovecot" { "mailroom-mta asks mailroom-saslauthd's cyrus socket" } else { "" };
            let status = if note.is_empty() { Status::Mapped } else { Status::Approximated };
            self.set("mta", "saslauthd_socket", Value::Str(mux), &refs, status, note);
        }
        if let Some(s) = self.pf("smtpd_sender_login_maps").cloned() {
            self.set("mta", "sender_login_check", Value::Bool(true), &[&s], Status::Mapped, "");
        }
        let lmtp_from = self.pf("virtual_transport").cloned();
        match lmtp_from {
            Some(s) if s.value.starts_with("lmtp:") => {
                let note = "mailroom-mta delivers to mailroom-mda's socket (where Postfix delivers to Dovecot today)";
                self.set(
                    "mta",
                    "lmtp",
                    Value::Str(format!("unix:{lmtp}")),
                    &[&s],
                    Status::Approximated,
                    note,
                );
            }
            Some(s) => {
                let note = format!("`{}`: mailroom-mta delivers over LMTP to mailroom-mda ({lmtp})", s.value);
                self.set(
                    "mta",
                    "lmtp",
                    Value::Str(format!("unix:{lmtp}")),
                    &[&s],
                    Status::Approximated,
                    &note,
                );
            }
            None => {}
        }
    }

    // ---------------------------------------------------------------- [mra]

    fn mra(&mut self, run_dir: &str) {
        let dc = self.dc;
        let protocols: Vec<String> = dc
            .get("protocols")
            .map(|p| p.value.split_whitespace().map(str::to_string).collect())
            .unwrap_or_else(|| vec!["imap".into(), "pop3".into(), "lmtp".into()]);
        let listen_s = dc.get("listen").cloned();
        let hosts: Vec<String> = match &listen_s {
            None => vec!["[::]".into()],
            Some(l) => {
                let words: Vec<&str> = l.value.split([',', ' ']).filter(|w| !w.is_empty()).collect();
                if words.contains(&"::") || words.contains(&"[::]") {
                    vec!["[::]".into()]
                } else {
                    words
                        .iter()
                        .map(|w| match *w {
                            "*" => "0.0.0.0".to_string(),
                            a if a.contains(':') => format!("[{}]", a.trim_matches(['[', ']'])),
                            a => a.to_string(),
                        })
                        .collect()
                }
            }
        };
        for (proto, service, plain, tls, pd, td) in [
            ("imap", "imap-login", "imap_listen", "imaps_listen", 143u16, 993u16),
            ("pop3", "pop3-login", "pop3_listen", "pop3s_listen", 110, 995),
        ] {
            let enabled = protocols.iter().any(|p| p == proto);
            let listeners = dc.inet_listeners(service);
            for (key, name, default) in [(plain, proto.to_string(), pd), (tls, format!("{proto}s"), td)] {
                let found = listeners.iter().find(|l| l.0 == name);
                let port = found.map_or(default, |l| l.1);
                let mut from: Vec<Setting> = Vec::new();
                if let Some(p) = dc.get("protocols") {
                    from.push(p.clone());
                }
                if let Some(l) = &listen_s {
                    from.push(l.clone());
                }
                if let Some(l) = found {
                    from.push(Setting {
                        key: format!("service {service} > inet_listener {name} > port"),
                        value: port.to_string(),
                        at: l.3.clone(),
                    });
                }
                let addrs: Vec<String> = if enabled && port != 0 {
                    hosts.iter().map(|h| format!("{h}:{port}")).collect()
                } else {
                    Vec::new()
                };
                let refs: Vec<&Setting> = from.iter().collect();
                let note = if found.is_none() && enabled {
                    format!("Dovecot's built-in {name} listener on port {default}")
                } else {
                    String::new()
                };
                let status = if note.is_empty() { Status::Mapped } else { Status::Approximated };
                self.set("mra", key, Value::List(addrs), &refs, status, &note);
            }
        }
        self.set("mra", "auth", Value::Str("saslauthd".into()), &[], Status::Mapped, "");
        let mux = format!("{run_dir}/mux");
        let lines = &mut self.sections.iter_mut().find(|(n, _)| *n == "mra").expect("mra").1;
        lines.push(format!("saslauthd_socket = {}", quote(&mux)));
        if let Some(s) = dc.get("disable_plaintext_auth").or_else(|| dc.get("auth_allow_cleartext")) {
            let anywhere = (s.key == "disable_plaintext_auth") == (s.value == "no");
            self.set("mra", "plaintext_auth_anywhere", Value::Bool(anywhere), &[s], Status::Mapped, "");
        }
        if let Some(s) = dc.get("mail_uid") {
            self.set("mra", "user", Value::Str(s.value.clone()), &[s], Status::Mapped, "");
        }
        if let Some(s) = dc.get("mail_gid") {
            self.set("mra", "group", Value::Str(s.value.clone()), &[s], Status::Mapped, "");
            self.set("mda", "group", Value::Str(s.value.clone()), &[s], Status::Mapped, "");
        }
        let userip = dc
            .settings
            .iter()
            .filter(|s| s.key.ends_with("mail_max_userip_connections"))
            .cloned()
            .collect::<Vec<_>>();
        if let Some(max) = userip.iter().filter_map(|s| s.value.parse::<u64>().ok()).max() {
            let refs: Vec<&Setting> = userip.iter().collect();
            let note = if userip.len() > 1 { "one limit for IMAP and POP3: the largest" } else { "" };
            let status = if note.is_empty() { Status::Mapped } else { Status::Approximated };
            self.set("mra", "max_user_ip_connections", Value::Int(max.max(1)), &refs, status, note);
        }
        if let Some(s) = dc.settings.iter().rev().find(|s| s.key.ends_with("pop3_uidl_format")).cloned() {
            match config::check_uidl_format(&s.value) {
                Ok(()) => self.set(
                    "mra",
                    "pop3_uidl_format",
                    Value::Str(s.value.clone()),
                    &[&s],
                    Status::Mapped,
                    "",
                ),
                Err(e) => self.mark(
                    &s,
                    Status::Unsupported,
                    None,
                    &format!("{e}: POP3 clients will download every message again"),
                ),
            }
        }
        if let Some(s) = dc.get("auth_mechanisms") {
            let lower = s.value.to_ascii_lowercase();
            let other: Vec<&str> =
                lower.split_whitespace().filter(|m| *m != "plain" && *m != "login").collect();
            if other.is_empty() {
                self.mark(s, Status::Mapped, Some("[mra]"), "PLAIN and LOGIN");
            } else {
                self.mark(
                    s,
                    Status::Unsupported,
                    None,
                    &format!("only PLAIN and LOGIN are offered: {} are lost", other.join(" ")),
                );
            }
        }
        if let Some(s) = dc.get("auth_failure_delay")
            && let Ok(n) = s.value.trim_end_matches(" secs").trim_end_matches('s').parse::<u64>()
        {
            self.set("mra", "auth_failure_delay", Value::Int(n), &[s], Status::Mapped, "");
        }
    }

    // ---------------------------------------------------------------- milters

    /// smtpd_milters and non_smtpd_milters (addresses as mailroom-mta writes them) and the
    /// milter_* parameters mailroom-mta has.
    fn milters(&mut self, pf: &Postfix) {
        // Debian's master.cf chroots smtpd: its unix: paths are then under queue_directory.
        let chrooted = pf.master.iter().any(|s| s.command == "smtpd" && s.chroot != "n");
        let queue_dir =
            self.pf("queue_directory").map_or("/var/spool/postfix".to_string(), |s| s.value.clone());
        let smtpd = self.pf("smtpd_milters").cloned();
        for (key, in_chroot) in [("smtpd_milters", chrooted), ("non_smtpd_milters", false)] {
            let Some(s) = self.pf(key).cloned() else { continue };
            // `non_smtpd_milters = $smtpd_milters` is the usual way to filter both alike.
            let value = match (s.value.as_str(), &smtpd) {
                ("$smtpd_milters" | "${smtpd_milters}" | "$(smtpd_milters)", Some(m)) => m.value.clone(),
                (v, _) => v.to_string(),
            };
            let (addrs, dropped) = milter_addresses(&value, in_chroot.then_some(queue_dir.as_str()));
            let mut notes = Vec::new();
            if value.contains(":8891") {
                notes.push("8891 is OpenDKIM's port: [mta.dkim] can sign instead".to_string());
            }
            if !dropped.is_empty() {
                notes.push(format!("not carried over: {}", dropped.join(", ")));
            }
            let status = if dropped.is_empty() { Status::Mapped } else { Status::Approximated };
            self.set("mta", key, Value::List(addrs), &[&s], status, &notes.join("; "));
        }
        if let Some(s) = self.pf("milter_default_action").cloned() {
            match s.value.as_str() {
                "accept" | "reject" | "tempfail" => self.set(
                    "mta",
                    "milter_default_action",
                    Value::Str(s.value.clone()),
                    &[&s],
                    Status::Mapped,
                    "",
                ),
                _ => self.mark(
                    &s,
                    Status::Unsupported,
                    None,
                    "only accept, reject and tempfail: tempfail applies",
                ),
            }
        }
        for key in ["milter_connect_timeout", "milter_command_timeout", "milter_content_timeout"] {
            let Some(s) = self.pf(key).cloned() else { continue };
            match postfix_seconds(&s.value).filter(|&n| n > 0) {
                Some(n) => self.set("mta", key, Value::Int(n), &[&s], Status::Mapped, ""),
                None => self.mark(&s, Status::Unsupported, None, "not a Postfix time: the default applies"),
            }
        }
    }

    // ---------------------------------------------------------------- connection stage

    /// postscreen's DNS lists, carried over only when master.cf runs postscreen (Debian ships
    /// its `smtp inet ... postscreen` line commented out, and then Postfix ignores them).
    fn postscreen(&mut self, pf: &Postfix) {
        const KEYS: [&str; 6] = [
            "postscreen_dnsbl_sites",
            "postscreen_dnsbl_threshold",
            "postscreen_dnsbl_action",
            "postscreen_dnsbl_allowlist_threshold",
            "postscreen_dnsbl_whitelist_threshold",
            "postscreen_dnsbl_timeout",
        ];
        let running = pf.master.iter().any(|s| s.command == "postscreen" && s.port().is_some());
        if !running {
            for key in KEYS {
                if let Some(s) = self.pf(key).cloned() {
                    let note =
                        "master.cf does not run postscreen, so Postfix does not use this; not carried over";
                    self.mark(&s, Status::Approximated, None, note);
                }
            }
            return;
        }
        let sites = self.pf("postscreen_dnsbl_sites").cloned();
        let (lists, dropped) = sites.as_ref().map(|s| dnsbl_sites(&s.value)).unwrap_or_default();
        let Some(sites) = sites.filter(|_| !lists.is_empty()) else {
            if let Some(s) = self.pf("postscreen_dnsbl_sites").cloned() {
                let note = format!("no usable entry: {}", dropped.join(", "));
                self.mark(&s, Status::Unsupported, None, &note);
            }
            for key in &KEYS[1..] {
                if let Some(s) = self.pf(key).cloned() {
                    self.mark(&s, Status::Approximated, None, "no DNS list to weigh; not carried over");
                }
            }
            return;
        };
        let (status, note) = if dropped.is_empty() {
            (Status::Mapped, String::new())
        } else {
            (Status::Approximated, format!("not carried over: {}", dropped.join(", ")))
        };
        self.set("mta", "dnsbl_sites", Value::List(lists), &[&sites], status, &note);
        if let Some(s) = self.pf("postscreen_dnsbl_threshold").cloned() {
            match s.value.parse::<u64>() {
                Ok(n) if (1..=i32::MAX as u64).contains(&n) => {
                    self.set("mta", "dnsbl_threshold", Value::Int(n), &[&s], Status::Mapped, "")
                }
                _ => self.mark(&s, Status::Unsupported, None, "not a whole number of 1 or more: 1 applies"),
            }
        }
        match self.pf("postscreen_dnsbl_action").cloned() {
            Some(s) => match s.value.as_str() {
                "ignore" | "enforce" | "drop" => {
                    self.set("mta", "dnsbl_action", Value::Str(s.value.clone()), &[&s], Status::Mapped, "")
                }
                _ => self.mark(&s, Status::Unsupported, None, "not ignore, enforce or drop: enforce applies"),
            },
            // Postfix's default; mailroom's is enforce.
            None => {
                self.comment("mta", "postscreen_dnsbl_action's default (mailroom's default is enforce)");
                self.set("mta", "dnsbl_action", Value::Str("ignore".into()), &[], Status::Mapped, "");
            }
        }
        // The name since Postfix 3.6, else the one before; the newer wins when both are set.
        let allow = self.pf("postscreen_dnsbl_allowlist_threshold").cloned();
        let white = self.pf("postscreen_dnsbl_whitelist_threshold").cloned();
        if let (Some(_), Some(w)) = (&allow, &white) {
            let note = "postscreen_dnsbl_allowlist_threshold (its newer name) applies";
            self.mark(w, Status::Approximated, None, note);
        }
        if let Some(s) = allow.or(white) {
            match s.value.parse::<i32>() {
                Ok(n) if n < 0 => {
                    let note = "allowlisted clients also skip greylisting, which postgrey behind Postfix \
                                does not know to do";
                    let key = "dnsbl_allowlist_threshold";
                    self.set("mta", key, Value::Signed(n.into()), &[&s], Status::Approximated, note);
                }
                Ok(_) => {
                    self.mark(&s, Status::Mapped, None, "not negative: no allowlisting, mailroom's default")
                }
                Err(_) => self.mark(&s, Status::Unsupported, None, "not a whole number: no allowlisting"),
            }
        }
        if let Some(s) = self.pf("postscreen_dnsbl_timeout").cloned() {
            match postfix_seconds(&s.value).filter(|&n| n > 0) {
                Some(n) => self.set("mta", "dnsbl_timeout", Value::Int(n), &[&s], Status::Mapped, ""),
                None => self.mark(&s, Status::Unsupported, None, "not a Postfix time: the default applies"),
            }
        }
    }

    /// anvil's per-client limits for smtpd.
    fn anvil(&mut self) {
        for key in [
            "smtpd_client_connection_rate_limit",
            "smtpd_client_message_rate_limit",
            "smtpd_client_recipient_rate_limit",
        ] {
            let Some(s) = self.pf(key).cloned() else { continue };
            match s.value.parse::<u32>() {
                Ok(n) => self.set("mta", key, Value::Int(n.into()), &[&s], Status::Mapped, ""),
                Err(_) => self.mark(&s, Status::Unsupported, None, "not a number: no limit applies"),
            }
        }
        if let Some(s) = self.pf("smtpd_client_connection_count_limit").cloned() {
            match s.value.parse::<u64>() {
                Ok(n) => {
                    let note = "counted over all of mailroom-mta's listeners together, where Postfix \
                                counts per service";
                    let key = "max_connections_per_client";
                    self.set("mta", key, Value::Int(n), &[&s], Status::Approximated, note);
                }
                Err(_) => self.mark(&s, Status::Unsupported, None, "not a number: 50 applies"),
            }
        }
        if let Some(s) = self.pf("anvil_rate_time_unit").cloned() {
            match postfix_seconds(&s.value).filter(|&n| n > 0) {
                Some(n) => self.set("mta", "anvil_rate_time_unit", Value::Int(n), &[&s], Status::Mapped, ""),
                None => self.mark(&s, Status::Unsupported, None, "not a Postfix time: 60 s applies"),
            }
        }
        // The name since Postfix 2.9, whose default is the older name's value, else mynetworks.
        let event = self.pf("smtpd_client_event_limit_exceptions").cloned();
        let old = self.pf("smtpd_client_connection_limit_exceptions").cloned();
        let (value, from) = match (event, old) {
            (Some(e), Some(o)) if e.value.contains("smtpd_client_connection_limit_exceptions") => {
                (o.value.clone(), vec![e, o])
            }
            (Some(e), Some(o)) => {
                self.mark(&o, Status::Approximated, None, "smtpd_client_event_limit_exceptions applies");
                (e.value.clone(), vec![e])
            }
            (Some(e), None) if e.value.contains("smtpd_client_connection_limit_exceptions") => {
                ("$mynetworks".to_string(), vec![e])
            }
            (Some(s), None) | (None, Some(s)) => (s.value.clone(), vec![s]),
            (None, None) => return,
        };
        let from: Vec<&Setting> = from.iter().collect();
        let key = "smtpd_client_event_limit_exceptions";
        let words: Vec<&str> = value.split([',', ' ', '\t']).filter(|w| !w.is_empty()).collect();
        let is_mynetworks = |w: &str| w == "$mynetworks" || w == "${mynetworks}";
        if words.len() == 1 && is_mynetworks(words[0]) {
            for f in from {
                let note = "mynetworks: mailroom's default (an empty list)";
                self.mark(f, Status::Mapped, Some(&format!("[mta] {key}")), note);
            }
            return;
        }
        let mut notes = Vec::new();
        let mut expanded = Vec::new();
        for w in words {
            if !is_mynetworks(w) {
                expanded.push(w.to_string());
            } else if let Some(m) = self.pf("mynetworks") {
                expanded.push(m.value.clone());
            } else {
                expanded.push("127.0.0.0/8 [::1]/128".into());
                notes.push("$mynetworks as mailroom's default (loopback)".to_string());
            }
        }
        let (nets, bad) = networks(&expanded.join(" "));
        if !bad.is_empty() {
            notes.push(format!("left out (tables, $variables, names): {}", bad.join(" ")));
        }
        let status = if notes.is_empty() { Status::Mapped } else { Status::Approximated };
        self.set("mta", key, Value::List(nets), &from, status, &notes.join("; "));
    }

    // ---------------------------------------------------------------- outbound TLS

    /// smtp_tls_security_level and smtp_tls_policy_maps as [mta] tls_policy and tls_policy_map.
    fn outbound_tls(&mut self, pf: &Postfix) {
        if let Some(s) = self.pf("smtp_tls_security_level").cloned() {
            match tls_level(&s.value) {
                Some((level, status, note)) => {
                    self.set("mta", "tls_policy", Value::Str(level.into()), &[&s], status, note)
                }
                None => {
                    self.mark(&s, Status::Unsupported, None, "no such level in mailroom-mta: `may` applies")
                }
            }
        }
        let Some(s) = self.pf("smtp_tls_policy_maps").cloned() else { return };
        let mut table = BTreeMap::new();
        for r in Postfix::references(&s.value) {
            let Some(m) = pf.map(&r) else { continue };
            if m.entries.is_empty() && !matches!(m.kind.as_str(), "hash" | "lmdb" | "texthash") {
                let note =
                    format!("`{}` tables are not read; enter its entries in [mta] tls_policy_map", m.kind);
                self.mark(&s, Status::Unsupported, None, &note);
                continue;
            }
            let file = m.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            for e in &m.entries {
                let name = format!("{file} {}", e.key);
                let mut words = e.value.split_whitespace();
                let level = words.next().and_then(tls_level);
                let attrs = words.count() > 0;
                // `[host]:port` names a next hop given as relayhost or in a transport: its host.
                let host = e.key.strip_prefix('[').and_then(|k| k.split_once(']')).map(|(h, _)| h);
                match (e.key.starts_with('.'), level) {
                    (false, Some((level, status, note))) => {
                        let mut notes: Vec<&str> = vec![note].into_iter().filter(|n| !n.is_empty()).collect();
                        if host.is_some() {
                            notes.push("`[host]:port` becomes the host name");
                        }
                        if attrs {
                            notes.push("match=, protocols= and ciphers= attributes are not carried over");
                        }
                        let status = if notes.is_empty() { status } else { Status::Approximated };
                        let target = Some("[mta] tls_policy_map");
                        self.report.add_named(status, &name, &e.at, target, notes.join("; "));
                        table.insert(host.unwrap_or(&e.key).to_ascii_lowercase(), level.to_string());
                    }
                    (true, _) => self.report.add_named(
                        Status::Unsupported,
                        &name,
                        &e.at,
                        None,
                        "`.domain` (every subdomain) entries are not supported: list the domains",
                    ),
                    (false, None) => self.report.add_named(
                        Status::Unsupported,
                        &name,
                        &e.at,
                        None,
                        "unknown security level",
                    ),
                }
            }
        }
        if table.is_empty() {
            self.mark(&s, Status::Approximated, None, "no entry carried over");
        } else {
            self.set("mta", "tls_policy_map", Value::Table(table), &[&s], Status::Mapped, "");
        }
    }

    // ---------------------------------------------------------------- the rest

    /// Every setting not yet reported: known ones with their fate, the rest unsupported.
    fn leftovers(&mut self) {
        let pf = self.pf;
        let dc = self.dc;
        for s in &pf.main {
            if self.used.contains(&id(s)) {
                continue;
            }
            let (status, note) = postfix_leftover(&s.key, &s.value);
            self.mark(s, status, None, note);
        }
        for s in &dc.settings {
            if self.used.contains(&id(s)) {
                continue;
            }
            let (status, note) = dovecot_leftover(&s.key, &s.value);
            self.mark(s, status, None, note);
        }
        for s in &dc.sql {
            if !self.used.contains(&id(s)) {
                self.mark(s, Status::Unsupported, None, "SQL setting with no mailroom equivalent");
            }
        }
    }
}

/// The milters of a Postfix milter list as mailroom-mta's addresses, and what could not be
/// carried over. Entries are separated by commas or spaces; `{ address, name=value ... }`
/// groups (Postfix 3.0) keep only their address. `local:` is `unix:`; a unix socket path
/// is relative to the queue directory, and so is an absolute one when `chroot_dir` is given.
fn milter_addresses(value: &str, chroot_dir: Option<&str>) -> (Vec<String>, Vec<String>) {
    let (mut addrs, mut dropped) = (Vec::new(), Vec::new());
    let mut rest = value.trim();
    while !rest.is_empty() {
        let (item, after) = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            let mut parts = group[..end].split([',', ' ', '\t', '\n']).filter(|p| !p.is_empty());
            let addr = parts.next().unwrap_or_default();
            dropped.extend(parts.map(|p| format!("`{p}` of {addr}")));
            (addr, group.get(end + 1..).unwrap_or_default())
        } else {
            let end = rest.find([',', ' ', '\t', '\n']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        rest = after.trim_start_matches([',', ' ', '\t', '\n']);
        if item.is_empty() {
            continue;
        }
        let addr = match item.split_once(':') {
            Some(("inet", hostport)) => format!("inet:{hostport}"),
            Some(("unix" | "local", path)) => match (path.starts_with('/'), chroot_dir) {
                (true, None) => format!("unix:{path}"),
                (true, Some(root)) => format!("unix:{}{path}", root.trim_end_matches('/')),
                (false, _) => {
                    let root = chroot_dir.unwrap_or("/var/spool/postfix").trim_end_matches('/');
                    format!("unix:{root}/{path}")
                }
            },
            _ => {
                dropped.push(format!("`{item}` (not inet: or unix:)"));
                continue;
            }
        };
        addrs.push(addr);
    }
    (addrs, dropped)
}

/// The addresses and networks of a Postfix address list (`127.0.0.0/8 [::1]/128`), and the
/// words that are not (tables, `$variables`, host names).
fn networks(value: &str) -> (Vec<String>, Vec<String>) {
    let (mut nets, mut bad) = (Vec::new(), Vec::new());
    for w in value.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
        let n = w.replace(['[', ']'], "");
        let (a, _) = n.split_once('/').unwrap_or((&n, ""));
        if a.parse::<std::net::IpAddr>().is_ok() {
            nets.push(n);
        } else {
            bad.push(w.to_string());
        }
    }
    (nets, bad)
}

/// The entries of postscreen_dnsbl_sites that mailroom-mta reads alike, and the others.
fn dnsbl_sites(value: &str) -> (Vec<String>, Vec<String>) {
    let (mut sites, mut dropped) = (Vec::new(), Vec::new());
    for w in value.split([',', ' ', '\t', '\n']).filter(|w| !w.is_empty()) {
        // A `$variable` is no domain name: dropped too.
        match mailroom_mta::smtpd::dnsbl::Site::parse(w) {
            Ok(_) => sites.push(w.to_string()),
            Err(_) => dropped.push(format!("`{w}`")),
        }
    }
    (sites, dropped)
}

/// A Postfix time value (`30s`, `5m`, `1h`, `1d`, `1w`; bare numbers are seconds) in seconds.
fn postfix_seconds(value: &str) -> Option<u64> {
    let v = value.trim();
    let (digits, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 604800,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// A Postfix smtp_tls_security_level as mailroom-mta's tls_policy, with how faithful it is.
fn tls_level(level: &str) -> Option<(&'static str, Status, &'static str)> {
    Some(match level {
        "none" => ("none", Status::Mapped, ""),
        "may" => ("may", Status::Mapped, ""),
        "encrypt" => ("encrypt", Status::Mapped, ""),
        "verify" => ("verify", Status::Mapped, ""),
        "secure" => (
            "verify",
            Status::Approximated,
            "secure: the certificate must name the MX host (Postfix matches the next-hop domain)",
        ),
        "dane" => ("dane", Status::Mapped, ""),
        "dane-only" => (
            "dane",
            Status::Approximated,
            "dane-only: where a domain has no secure TLSA records mail goes as `may`, not deferred",
        ),
        _ => return None,
    })
}

fn smtpd_override(key: &str, value: &str) -> (Status, &'static str) {
    match (key, value) {
        ("syslog_name", _) => (Status::Approximated, "mailroom's log lines name the listener instead"),
        ("smtpd_tls_security_level", "encrypt") => (Status::Mapped, "STARTTLS required before AUTH"),
        ("smtpd_tls_security_level", _) => {
            (Status::Approximated, "STARTTLS offered; on submission ports AUTH only after STARTTLS")
        }
        ("smtpd_tls_wrappermode", "yes") => (Status::Mapped, "implicit TLS"),
        ("smtpd_sasl_auth_enable", "yes") => (Status::Mapped, "AUTH offered"),
        ("smtpd_client_restrictions" | "smtpd_relay_restrictions" | "smtpd_recipient_restrictions", v)
            if v.replace(' ', "") == "permit_sasl_authenticated,reject" =>
        {
            (Status::Mapped, "AUTH required on submission")
        }
        ("smtpd_sender_restrictions", "reject_sender_login_mismatch") => {
            (Status::Mapped, "[mta] sender_login_check")
        }
        ("milter_macro_daemon_name", _) => (
            Status::Approximated,
            "milters get {daemon_name} = mailroom-mta on every listener (an OpenDKIM keyed on it signs by [mta.dkim])",
        ),
        _ => (Status::Unsupported, "listener override with no mailroom equivalent"),
    }
}

fn postfix_leftover(key: &str, value: &str) -> (Status, &'static str) {
    if value.is_empty() {
        return (Status::Mapped, "empty: mailroom's default applies");
    }
    match key {
        "biff"
        | "append_dot_mydomain"
        | "readme_directory"
        | "compatibility_level"
        | "smtpd_banner"
        | "mailbox_size_limit"
        | "mydestination"
        | "alias_maps"
        | "alias_database"
        | "myorigin" => (
            Status::Approximated,
            "only virtual domains are served; local(8) delivery and its settings are gone",
        ),
        "maillog_file" | "syslog_name" | "syslog_facility" => {
            (Status::Approximated, "the daemons log to the journal (stderr)")
        }
        "smtpd_tls_security_level" if value == "may" => (Status::Mapped, "STARTTLS offered inbound"),
        "content_filter" => (
            Status::Unsupported,
            "after-queue content filters (amavisd-new) are not run: run the filter as a milter \
             ([mta] smtpd_milters: rspamd, clamav-milter, spamass-milter, amavisd-milter)",
        ),
        "milter_protocol" => (Status::Approximated, "mailroom-mta speaks milter protocol version 6"),
        k if k.starts_with("milter_") && k.ends_with("_macros") => {
            (Status::Approximated, "milters get the macros of Postfix's default lists")
        }
        "smtpd_relay_restrictions" | "smtpd_recipient_restrictions" => (
            Status::Approximated,
            "built in: mynetworks and authenticated clients relay, others reach only our domains",
        ),
        "smtpd_sasl_auth_enable" => {
            (Status::Approximated, "AUTH is offered on submission ports and, after STARTTLS, on 25")
        }
        "smtpd_sasl_path" => (Status::Approximated, "mailroom-mta asks [mta] saslauthd_socket"),
        "smtpd_tls_cert_file" | "smtpd_tls_key_file" => (Status::Approximated, "see [tls]"),
        _ => (Status::Unsupported, "not carried over: no mailroom equivalent"),
    }
}

fn dovecot_leftover(key: &str, _value: &str) -> (Status, &'static str) {
    let last = key.rsplit(NEST).next().unwrap_or(key);
    let top = key.split(NEST).next().unwrap_or(key);
    if top.starts_with("namespace") {
        return (
            Status::Approximated,
            "mailroom-mra has one INBOX namespace with the standard special-use folders",
        );
    }
    if top.starts_with("service auth") || top == "passdb" || top == "userdb" {
        return (Status::Approximated, "mailroom-saslauthd replaces Dovecot's auth service and its sockets");
    }
    if top.starts_with("service lmtp") {
        return (Status::Approximated, "see [mda] lmtp_socket");
    }
    if top.starts_with("service imap") || top.starts_with("service pop3") {
        return (Status::Approximated, "see [mra] listeners");
    }
    match last {
        "log_path" | "info_log_path" | "debug_log_path" | "syslog_facility" => {
            (Status::Approximated, "the daemons log to the journal (stderr)")
        }
        "first_valid_uid" | "last_valid_uid" | "first_valid_gid" | "last_valid_gid" => {
            (Status::Approximated, "every mailbox belongs to [mra]/[mda] user")
        }
        "postmaster_address" => {
            (Status::Approximated, "mailroom-mda answers in LMTP; bounces come from mailroom-mta")
        }
        "quota" | "quota_rule" | "quota_rule2" => {
            (Status::Approximated, "quota from the mailbox table's quota column, counted in maildirsize")
        }
        _ => (Status::Unsupported, "not carried over: no mailroom equivalent"),
    }
}

/// `[database] url`s from Dovecot's `connect` (`host=... dbname=... user=... password=...`).
pub fn connect_urls(driver: &str, connect: &str) -> Result<Vec<String>, String> {
    if driver == "sqlite" {
        return Ok(vec![format!("sqlite://{}", connect.trim())]);
    }
    if driver != "mysql" {
        return Err(format!("driver `{driver}`: mailroom reads MariaDB/MySQL or SQLite"));
    }
    let mut hosts = Vec::new();
    let (mut db, mut user, mut pass, mut port) = (String::new(), String::new(), String::new(), None);
    for w in connect.split_whitespace() {
        let Some((k, v)) = w.split_once('=') else { continue };
        match k {
            "host" => hosts.push(v.to_string()),
            "dbname" => db = v.into(),
            "user" => user = v.into(),
            "password" => pass = v.into(),
            "port" => port = Some(v.to_string()),
            _ => {}
        }
    }
    if hosts.is_empty() {
        hosts.push("localhost".into());
    }
    Ok(hosts.iter().map(|h| mysql_url(h, port.as_deref(), &user, &pass, &db)).collect())
}

/// The URLs of a Postfix mysql map file (`hosts = a b`, `unix:/path`, `inet:h:p`).
pub fn map_urls(m: &Map) -> Vec<String> {
    let user = m.get("user").unwrap_or_default();
    let pass = m.get("password").unwrap_or_default();
    let db = m.get("dbname").unwrap_or_default();
    let hosts = m.get("hosts").unwrap_or("localhost");
    hosts
        .split([' ', ','])
        .filter(|h| !h.is_empty())
        .map(|h| {
            if let Some(sock) = h.strip_prefix("unix:") {
                mysql_url(sock, None, user, pass, db)
            } else {
                let h = h.strip_prefix("inet:").unwrap_or(h);
                match h.rsplit_once(':') {
                    Some((host, port)) if port.parse::<u16>().is_ok() => {
                        mysql_url(host, Some(port), user, pass, db)
                    }
                    _ => mysql_url(h, None, user, pass, db),
                }
            }
        })
        .collect()
}

fn mysql_url(host: &str, port: Option<&str>, user: &str, pass: &str, db: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let auth = match (user.is_empty(), pass.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!("{}@", enc(user)),
        (false, false) => format!("{}:{}@", enc(user), enc(pass)),
    };
    if host.starts_with('/') {
        return format!("mysql://{auth}localhost/{}?socket={}", enc(db), host);
    }
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    format!("mysql://{auth}{host}{port}/{}", enc(db))
}

/// A Postfix query in our template syntax: Postfix's `%u` is the local part (our `%n`).
pub fn postfix_query(q: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = q.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push_str("%s"),
            Some('u') => out.push_str("%n"),
            Some('d') => out.push_str("%d"),
            Some('%') => out.push_str("%%"),
            Some(o) => return Err(format!("query placeholder %{o} has no mailroom equivalent")),
            None => return Err("query ends with %".into()),
        }
    }
    Ok(out)
}

/// A Dovecot query in our template syntax, and a note when a modifier was dropped.
pub fn dovecot_query(q: &str) -> Result<(String, String), String> {
    let (t, note) = dovecot_vars(q);
    if let Some(bad) = t.split('%').skip(1).find(|r| !r.starts_with(['u', 'n', 'd', '%'])) {
        return Err(format!(
            "query variable %{} has no mailroom equivalent",
            bad.chars().take(12).collect::<String>()
        ));
    }
    Ok((t, note.unwrap_or_default()))
}

/// Dovecot's `%{user}`, `%Lu`, `%Ln`... as `%u`/`%n`/`%d`; a note when a case modifier was dropped.
fn dovecot_vars(s: &str) -> (String, Option<String>) {
    let mut out = s.replace("%{user}", "%u").replace("%{username}", "%n").replace("%{domain}", "%d");
    let mut note = None;
    for (from, to) in [("%Lu", "%u"), ("%Ln", "%n"), ("%Ld", "%d")] {
        if out.contains(from) {
            out = out.replace(from, to);
            note = Some("%L (lower case) dropped: mailroom's addresses are lower case already".to_string());
        }
    }
    (out, note)
}

/// The home template of a user_query `CONCAT('/var/vmail/', domain, '/', local_part) AS home`.
fn home_template(q: &str) -> Option<String> {
    let lower = q.to_ascii_lowercase();
    let start = lower.find("concat(")? + "concat(".len();
    let end = start + lower[start..].find(')')?;
    let mut out = String::new();
    for part in q[start..end].split(',') {
        let p = part.trim();
        if let Some(lit) = p.strip_prefix('\'').and_then(|p| p.strip_suffix('\'')) {
            out.push_str(lit);
        } else {
            out.push_str(match p {
                "domain" => "%d",
                "local_part" => "%n",
                "username" => "%u",
                _ => return None,
            });
        }
    }
    lower[end..]
        .trim_start_matches(')')
        .trim_start()
        .starts_with("as home")
        .then_some(out.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn data() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/migrate")
    }

    fn tutorial() -> Output {
        let d = data();
        translate(
            &Postfix::read(&d.join("postfix")),
            &Dovecot::read(&d.join("dovecot")),
            &Saslauthd::read(Some(&d.join("saslauthd")), Some(&d.join("sasl/smtpd.conf"))),
        )
    }

    #[test]
    fn tutorial_layout_gives_a_valid_config() {
        let out = tutorial();
        let cfg = config::parse(&out.toml, Path::new("mailroom.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
        assert_eq!(cfg.conflicts(), None);
        assert_eq!(cfg.database.url.0, ["mysql://mailpeer:mailpeer-db@127.0.0.1/mailpeer"]);
        assert_eq!(cfg.database.default_pass_scheme, "SHA512-CRYPT");
        assert_eq!(cfg.database.mail_root.to_string(), "/var/vmail");
        assert_eq!(cfg.database.maildir_template, "%d/%n/Maildir");
        assert_eq!(
            cfg.database.queries.domain.as_deref(),
            Some("SELECT domain FROM domain WHERE domain = '%s' AND active = '1'")
        );
        assert_eq!(
            cfg.database.queries.password.as_deref(),
            Some("SELECT username AS user, password FROM mailbox WHERE username = '%u' AND active = '1'")
        );
        assert_eq!(cfg.database.queries.mailbox, None);
        assert_eq!(cfg.mta.submission_listen.len(), 2);
        assert_eq!(cfg.mta.smtp_listen[0].to_string(), "127.0.0.1:25");
        assert!(cfg.mta.submissions_listen.is_empty());
        assert_eq!(cfg.mta.mynetworks, ["127.0.0.0/8", "::1/128"]);
        assert_eq!(cfg.mta.max_message_size, 20_480_000);
        assert_eq!(cfg.mta.transport_map["lists.b.test"], "smtp:[lists.example.net]:2525");
        assert_eq!(cfg.mda.lmtp_socket.to_string(), "/var/spool/postfix/private/dovecot-lmtp");
        assert_eq!(cfg.mda.lmtp_socket_owner, "postfix");
        assert_eq!(
            cfg.mra.imap_listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            ["127.0.0.1:143", "[::1]:143"]
        );
        assert_eq!(cfg.mra.imaps_listen.len(), 2);
        assert_eq!(cfg.mra.max_user_ip_connections.get(), 250);
        assert!(cfg.mra.plaintext_auth_anywhere);
        assert_eq!(cfg.saslauthd.run_dir.to_string(), "/run/saslauthd");
        assert_eq!(cfg.tls.cert.to_string(), "/etc/dovecot/private/dovecot.pem");
        // Each key names its source.
        assert!(out.toml.contains("main.cf:10 virtual_mailbox_domains\n"), "{}", out.toml);
        // Passwords are in the URL but never in a comment.
        assert_eq!(out.toml.matches("mailpeer-db").count(), 1, "{}", out.toml);
    }

    #[test]
    fn report_names_what_is_lost() {
        let out = tutorial();
        let text = out.report.to_text();
        let filter = out.report.entries.iter().find(|e| e.setting == "content_filter").unwrap();
        assert_eq!(filter.status, Status::Unsupported);
        assert!(filter.at.to_string().ends_with("main.cf:37"), "{}", filter.at);
        // Milters are carried over, the `$smtpd_milters` reference expanded, and Debian's
        // chrooted smtpd is not a concern for an inet: address.
        let milter = out.report.entries.iter().find(|e| e.setting == "smtpd_milters").unwrap();
        assert_eq!(milter.status, Status::Mapped);
        assert!(out.toml.contains("smtpd_milters = [\"inet:127.0.0.1:8891\"]"), "{}", out.toml);
        assert!(out.toml.contains("non_smtpd_milters = [\"inet:127.0.0.1:8891\"]"), "{}", out.toml);
        let uucp = out.report.entries.iter().find(|e| e.setting.ends_with("transport uucp.b.test")).unwrap();
        assert_eq!(uucp.status, Status::Unsupported);
        let sasldb = out.report.entries.iter().find(|e| e.setting == "MECHANISMS").unwrap();
        assert_eq!(sasldb.status, Status::Unsupported);
        assert_eq!(out.report.count(Status::Unreadable), 0, "{text}");
        assert!(text.contains("unsupported:"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&out.report.to_json()).unwrap();
        assert!(json["entries"].as_array().unwrap().len() > 40);
    }

    #[test]
    fn milter_lists() {
        let (a, d) = milter_addresses(
            "inet:localhost:11332, unix:/opendkim/opendkim.sock local:private/spamass { inet:[::1]:8892, default_action=accept }",
            Some("/var/spool/postfix/"),
        );
        assert_eq!(
            a,
            [
                "inet:localhost:11332",
                "unix:/var/spool/postfix/opendkim/opendkim.sock",
                "unix:/var/spool/postfix/private/spamass",
                "inet:[::1]:8892"
            ]
        );
        assert_eq!(d, ["`default_action=accept` of inet:[::1]:8892"]);
        let (a, d) = milter_addresses("unix:/run/clamav/clamav-milter.ctl bogus", None);
        assert_eq!(a, ["unix:/run/clamav/clamav-milter.ctl"]);
        assert_eq!(d, ["`bogus` (not inet: or unix:)"]);
        assert_eq!(postfix_seconds("30s"), Some(30));
        assert_eq!(postfix_seconds("5m"), Some(300));
        assert_eq!(postfix_seconds("300"), Some(300));
        assert_eq!(postfix_seconds("3x"), None);
    }

    #[test]
    fn outbound_tls_levels_and_policy_tables() {
        let main = "smtp_tls_security_level = dane\nsmtp_tls_policy_maps = hash:/etc/postfix/tls_policy\n\
                    milter_default_action = accept\nmilter_content_timeout = 2m\n";
        let mut pf = Postfix::parse(main, Path::new("main.cf"), "", Path::new("master.cf"));
        let file = Path::new("/etc/postfix/tls_policy");
        pf.maps.push(Map {
            reference: "hash:/etc/postfix/tls_policy".into(),
            kind: "hash".into(),
            path: file.to_path_buf(),
            settings: Vec::new(),
            entries: super::super::postfix::table_entries(
                "example.com encrypt\n[smtp.relay.test]:587 secure match=nexthop\n.sub.test verify\nx.test bogus\n",
                file,
                &mut Vec::new(),
            ),
        });
        let out = translate(&pf, &Dovecot::default(), &Saslauthd::default());
        let cfg = config::parse(&out.toml, Path::new("mailroom.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
        assert_eq!(cfg.mta.tls_policy, config::TlsPolicy::Dane);
        let map: Vec<(&str, config::TlsPolicy)> =
            cfg.mta.tls_policy_map.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            map,
            [("example.com", config::TlsPolicy::Encrypt), ("smtp.relay.test", config::TlsPolicy::Verify)]
        );
        assert_eq!(cfg.mta.milter_default_action, config::MilterAction::Accept);
        assert_eq!(cfg.mta.milter_content_timeout.get(), 120);
        let status =
            |name: &str| out.report.entries.iter().find(|e| e.setting.ends_with(name)).unwrap().status;
        assert_eq!(status("tls_policy example.com"), Status::Mapped);
        assert_eq!(status("tls_policy [smtp.relay.test]:587"), Status::Approximated);
        assert_eq!(status("tls_policy .sub.test"), Status::Unsupported);
        assert_eq!(status("tls_policy x.test"), Status::Unsupported);
    }

    /// The report's status and note for `setting`.
    fn fate(out: &Output, setting: &str) -> (Status, String) {
        let e = out.report.entries.iter().find(|e| e.setting == setting);
        let e = e.unwrap_or_else(|| panic!("{setting} not reported: {:#?}", out.report.entries));
        (e.status, e.note.clone())
    }

    fn translate_main(main: &str, master: &str) -> (Output, config::Config) {
        let pf = Postfix::parse(main, Path::new("main.cf"), master, Path::new("master.cf"));
        assert!(pf.problems.is_empty(), "{:?}", pf.problems);
        let out = translate(&pf, &Dovecot::default(), &Saslauthd::default());
        let cfg = config::parse(&out.toml, Path::new("mailroom.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
        assert_eq!(cfg.conflicts(), None);
        (out, cfg)
    }

    const SCREEN_MAIN: &str = "postscreen_dnsbl_sites = zen.example=127.0.0.[2..11]*3, bl.example*2\n\
        \x20 list.dnswl.example=127.0.[0..255].[1;2..3]*-2 $extra_lists\n\
        postscreen_dnsbl_threshold = 3\n\
        postscreen_dnsbl_whitelist_threshold = -1\n\
        postscreen_dnsbl_timeout = 5s\n\
        smtpd_client_connection_rate_limit = 30\n\
        smtpd_client_message_rate_limit = 100\n\
        smtpd_client_recipient_rate_limit = 200\n\
        smtpd_client_connection_count_limit = 10\n\
        anvil_rate_time_unit = 2m\n\
        mynetworks = 127.0.0.0/8 192.0.2.0/24\n\
        smtpd_client_event_limit_exceptions = $mynetworks, [2001:db8::7] cidr:/etc/postfix/trusted\n";

    #[test]
    fn postscreen_lists_when_master_cf_runs_it() {
        let master = "smtp inet n - y - 1 postscreen\n\
                      smtpd pass - - y - - smtpd -o smtpd_sasl_auth_enable=yes\n\
                      dnsblog unix - - y - 0 dnsblog\n\
                      tlsproxy unix - - y - 0 tlsproxy\n";
        let (out, cfg) = translate_main(SCREEN_MAIN, master);
        let m = &cfg.mta;
        assert_eq!(
            m.dnsbl_sites,
            [
                "zen.example=127.0.0.[2..11]*3",
                "bl.example*2",
                "list.dnswl.example=127.0.[0..255].[1;2..3]*-2"
            ]
        );
        assert_eq!((m.dnsbl_threshold, m.dnsbl_allowlist_threshold, m.dnsbl_timeout.get()), (3, -1, 5));
        // Postfix's default action, written because mailroom's differs.
        assert_eq!(m.dnsbl_action, config::DnsblAction::Ignore);
        assert!(out.toml.contains("# postscreen_dnsbl_action's default"), "{}", out.toml);
        // postscreen's port is mailroom-mta's port 25; the smtpd behind it is the same listener.
        assert_eq!(m.smtp_listen.iter().map(|a| a.port()).collect::<Vec<_>>(), [25]);
        assert_eq!(fate(&out, "master.cf smtp inet").0, Status::Mapped);
        assert_eq!(fate(&out, "master.cf smtpd pass").0, Status::Approximated);
        assert_eq!(fate(&out, "master.cf dnsblog unix").0, Status::Approximated);
        assert_eq!(fate(&out, "smtpd -o smtpd_sasl_auth_enable").0, Status::Mapped);
        let (status, note) = fate(&out, "postscreen_dnsbl_sites");
        assert_eq!((status, note.as_str()), (Status::Approximated, "not carried over: `$extra_lists`"));
        assert_eq!(fate(&out, "postscreen_dnsbl_whitelist_threshold").0, Status::Approximated);
        assert_eq!(fate(&out, "postscreen_dnsbl_threshold").0, Status::Mapped);
        assert_eq!(fate(&out, "postscreen_dnsbl_timeout").0, Status::Mapped);
        // anvil's limits.
        let limits = (
            m.smtpd_client_connection_rate_limit,
            m.smtpd_client_message_rate_limit,
            m.smtpd_client_recipient_rate_limit,
        );
        assert_eq!(limits, (30, 100, 200));
        assert_eq!((m.max_connections_per_client, m.anvil_rate_time_unit.get()), (10, 120));
        assert_eq!(m.smtpd_client_event_limit_exceptions, ["127.0.0.0/8", "192.0.2.0/24", "2001:db8::7"]);
        let (status, note) = fate(&out, "smtpd_client_event_limit_exceptions");
        assert_eq!(status, Status::Approximated);
        assert!(note.contains("cidr:/etc/postfix/trusted"), "{note}");
        assert_eq!(fate(&out, "smtpd_client_recipient_rate_limit").0, Status::Mapped);
        assert_eq!(fate(&out, "smtpd_client_connection_count_limit").0, Status::Approximated);
        assert_eq!(fate(&out, "anvil_rate_time_unit").0, Status::Mapped);
    }

    #[test]
    fn postscreen_lists_are_not_carried_when_master_cf_does_not_run_it() {
        // Debian's master.cf: postscreen's line commented out, smtpd on port 25.
        let master = "smtp inet n - y - - smtpd\n#smtp inet n - y - 1 postscreen\n";
        let (out, cfg) = translate_main(SCREEN_MAIN, master);
        assert!(cfg.mta.dnsbl_sites.is_empty(), "{}", out.toml);
        assert_eq!(cfg.mta.dnsbl_action, config::DnsblAction::Enforce);
        assert_eq!(cfg.mta.dnsbl_threshold, 1);
        for key in [
            "postscreen_dnsbl_sites",
            "postscreen_dnsbl_threshold",
            "postscreen_dnsbl_whitelist_threshold",
            "postscreen_dnsbl_timeout",
        ] {
            let (status, note) = fate(&out, key);
            assert_eq!(status, Status::Approximated, "{key}");
            assert!(note.contains("does not run postscreen"), "{key}: {note}");
        }
        // The rate limits are smtpd's: carried over all the same.
        assert_eq!(cfg.mta.smtpd_client_message_rate_limit, 100);
    }

    #[test]
    fn postscreen_names_and_defaults() {
        let main = "postscreen_dnsbl_sites = bl.example\n\
                    postscreen_dnsbl_action = drop\n\
                    postscreen_dnsbl_allowlist_threshold = -2\n\
                    postscreen_dnsbl_whitelist_threshold = -5\n\
                    postscreen_dnsbl_threshold = 0\n\
                    smtpd_client_event_limit_exceptions = ${smtpd_client_connection_limit_exceptions:$mynetworks}\n\
                    smtpd_client_message_rate_limit = lots\n";
        let (out, cfg) = translate_main(main, "[192.0.2.1]:smtp inet n - y - 1 postscreen\n");
        assert_eq!(cfg.mta.dnsbl_action, config::DnsblAction::Drop);
        // The newer name wins; a threshold under 1 is refused (mailroom-mta would not start).
        assert_eq!(cfg.mta.dnsbl_allowlist_threshold, -2);
        let (status, note) = fate(&out, "postscreen_dnsbl_whitelist_threshold");
        assert_eq!(status, Status::Approximated, "{note}");
        assert_eq!(cfg.mta.dnsbl_threshold, 1);
        assert_eq!(fate(&out, "postscreen_dnsbl_threshold").0, Status::Unsupported);
        assert_eq!(cfg.mta.smtp_listen[0].to_string(), "192.0.2.1:25");
        // Postfix's default exceptions are mynetworks, as mailroom's empty list.
        assert!(cfg.mta.smtpd_client_event_limit_exceptions.is_empty());
        assert_eq!(fate(&out, "smtpd_client_event_limit_exceptions").0, Status::Mapped);
        assert_eq!(fate(&out, "smtpd_client_message_rate_limit").0, Status::Unsupported);
    }

    #[test]
    fn queries_and_urls() {
        assert_eq!(
            postfix_query("SELECT x WHERE l='%u' AND d='%d'").unwrap(),
            "SELECT x WHERE l='%n' AND d='%d'"
        );
        assert!(postfix_query("SELECT %1").is_err());
        assert_eq!(dovecot_query("WHERE u = '%Lu'").unwrap().0, "WHERE u = '%u'");
        assert!(dovecot_query("WHERE s = '%s'").is_err());
        assert_eq!(
            connect_urls("mysql", "host=/run/mysqld/mysqld.sock dbname=mail user=m password=p@ss").unwrap(),
            ["mysql://m:p%40ss@localhost/mail?socket=/run/mysqld/mysqld.sock"]
        );
        assert_eq!(
            home_template("SELECT CONCAT('/var/vmail/', domain, '/', local_part) AS home, 5000 AS uid")
                .as_deref(),
            Some("/var/vmail/%d/%n")
        );
    }
}
