//! Every case in `tests/corpus/cases/` run through this crate and through Pigeonhole's
//! `sieve-test` (Debian `dovecot-sieve`), the two action lists compared after normalising.
//!
//! A case is a Sieve script whose leading comments name its input:
//! `# message: plain.eml` (from `corpus/messages/`), `# from: a@b` and `# to: c@d` (the
//! envelope), and `# expect: compile error` or `# expect: runtime error` for cases meant to
//! fail, so that a case failing by accident in both engines is noticed. Personal scripts for
//! `include` are in `corpus/include/`, global ones in `corpus/global/`; the mailbox `Existing`
//! exists, for `mailboxexists`.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mail_parser::MessageParser;
use sieve::spamtest::{StatusType, TestConfig};
use sieve::{Envelope, Host, Outcome, Settings};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// The extensions both engines are configured with (Pigeonhole 0.5 has no `ereject`).
const EXTENSIONS: &str = "fileinto reject envelope encoded-character vacation vacation-seconds subaddress \
    comparator-i;ascii-numeric relational regex imap4flags copy include variables body environment \
    mailbox date index duplicate editheader spamtest spamtestplus virustest";

struct Case {
    name: String,
    script: String,
    message: String,
    from: String,
    to: String,
    expect: Option<String>,
}

fn cases() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = fs::read_dir(Path::new(CORPUS).join("cases"))
        .expect("corpus/cases")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sieve"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let script = fs::read_to_string(&p).unwrap();
            let mut case = Case {
                name: p.file_stem().unwrap().to_string_lossy().into_owned(),
                message: "plain.eml".into(),
                from: "alice@example.com".into(),
                to: "bob@example.net".into(),
                expect: None,
                script: script.clone(),
            };
            for line in script.lines().take_while(|l| l.starts_with('#')) {
                let Some((k, v)) = line[1..].split_once(':') else { continue };
                let v = v.trim().to_string();
                match k.trim() {
                    "message" => case.message = v,
                    "from" => case.from = v,
                    "to" => case.to = v,
                    "expect" => case.expect = Some(v),
                    _ => {}
                }
            }
            case
        })
        .collect()
}

/// A world both engines share: a writable tree for sieve-test (it drops to `nobody`).
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::Builder::new().prefix("sieve-corpus").tempdir().unwrap();
        let root = dir.path();
        fs::set_permissions(root, fs::Permissions::from_mode(0o777)).unwrap();
        for sub in ["include", "global", "messages"] {
            fs::create_dir(root.join(sub)).unwrap();
            for e in fs::read_dir(Path::new(CORPUS).join(sub)).unwrap() {
                let e = e.unwrap();
                fs::copy(e.path(), root.join(sub).join(e.file_name())).unwrap();
            }
        }
        for d in [
            "mail/cur",
            "mail/new",
            "mail/tmp",
            "mail/.Existing/cur",
            "mail/.Existing/new",
            "mail/.Existing/tmp",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let status = Command::new("chmod").arg("-R").arg("a+rwX").arg(root).status().unwrap();
        assert!(status.success());
        let conf = format!(
            "mail_uid = nobody\nmail_gid = nogroup\nfirst_valid_uid = 0\nprotocols =\n\
             mail_location = maildir:{root}/mail\n\
             plugin {{\n  sieve_extensions = {EXTENSIONS}\n  sieve = file:{root}/include\n\
             sieve_global = {root}/global\n  sieve_max_redirects = 4\n  sieve_max_actions = 32\n\
             sieve_spamtest_status_type = score\n  sieve_spamtest_status_header = X-Spam-Score\n\
             sieve_spamtest_max_value = 10\n  sieve_virustest_status_type = score\n\
             sieve_virustest_status_header = X-Virus-Score\n  sieve_virustest_max_value = 5\n}}\n",
            root = root.display()
        );
        fs::write(root.join("dovecot.conf"), conf).unwrap();
        World { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn pigeonhole(&self, case: &Case) -> Vec<String> {
        let script = self.root().join(format!("{}.sieve", case.name));
        fs::write(&script, &case.script).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
        let out = Command::new("sieve-test")
            .arg("-C")
            .arg("-c")
            .arg(self.root().join("dovecot.conf"))
            .args(["-f", &case.from, "-a", &case.to])
            .arg(&script)
            .arg(self.root().join("messages").join(&case.message))
            .env("TZ", "UTC")
            .output()
            .expect("sieve-test from Debian's dovecot-sieve must be installed (.ci/run installs it)");
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        normalise_pigeonhole(&text)
    }

    fn ours(&self, case: &Case) -> Vec<String> {
        let script = match sieve::compile(&case.script) {
            Ok(s) => s,
            Err(_) => return vec!["compile error".into()],
        };
        let raw = fs::read(self.root().join("messages").join(&case.message)).unwrap();
        let message = MessageParser::default().parse(&raw).unwrap();
        let envelope = Envelope { from: case.from.clone(), to: case.to.clone(), orig_to: None };
        let settings = Settings {
            now: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64,
            local_offset: 0,
            spamtest: Some(TestConfig {
                status_type: StatusType::Score,
                status_header: "X-Spam-Score".into(),
                status_regex: None,
                max_header: None,
                max_value: 10.0,
            }),
            virustest: Some(TestConfig {
                status_type: StatusType::Score,
                status_header: "X-Virus-Score".into(),
                status_regex: None,
                max_header: None,
                max_value: 5.0,
            }),
            ..Settings::default()
        };
        let mut host = CorpusHost { root: self.root().to_path_buf(), env: HashMap::new() };
        host.env.insert("location".into(), "MDA".into());
        let outcome = sieve::run(&script, &message, &envelope, &settings, &mut host);
        normalise_ours(&outcome)
    }
}

struct CorpusHost {
    root: PathBuf,
    env: HashMap<String, String>,
}

impl Host for CorpusHost {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        name.eq_ignore_ascii_case("INBOX") || self.root.join("mail").join(format!(".{name}")).is_dir()
    }

    fn include(&mut self, global: bool, name: &str) -> Option<String> {
        let dir = if global { "global" } else { "include" };
        fs::read_to_string(self.root.join(dir).join(format!("{name}.sieve"))).ok()
    }

    fn environment(&mut self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

fn flag_list(s: &str) -> String {
    let mut f: Vec<String> = s
        .split_whitespace()
        .map(|f| if f.starts_with('\\') { f.to_ascii_lowercase() } else { f.to_string() })
        .collect();
    f.sort();
    f.join(" ")
}

/// Our outcome in the normal form.
fn normalise_ours(o: &Outcome) -> Vec<String> {
    if o.error.is_some() {
        return vec!["runtime error".into()];
    }
    let mut out: Vec<String> = o
        .actions
        .iter()
        .map(|a| match a {
            sieve::Action::Store { mailbox, flags, create, copy } => {
                let mut s = format!("store {mailbox}");
                if !flags.is_empty() {
                    s += &format!(" flags={}", flag_list(&flags.join(" ")));
                }
                if *create {
                    s += " create";
                }
                if *copy {
                    s += " copy";
                }
                s
            }
            sieve::Action::Vacation(v) => {
                let mut s = format!("vacation seconds={}", v.seconds);
                if let Some(x) = &v.subject {
                    s += &format!(" subject={x}");
                }
                if let Some(x) = &v.from {
                    s += &format!(" from={x}");
                }
                s + &format!(" reason={}", v.reason.replace("\r\n", "\n").trim_end())
            }
            // sieve-test prints control characters as '?'.
            sieve::Action::Reject { reason, .. } => {
                format!("reject {}", reason.replace(['\r', '\n'], "?")).trim_end().to_string()
            }
            other => other.to_string(),
        })
        // sieve-test's lines are trimmed.
        .map(|l| l.trim_end().to_string())
        .collect();
    match &o.implicit_keep {
        Some(f) if f.is_empty() => out.push("implicit keep".into()),
        Some(f) => out.push(format!("implicit keep flags={}", flag_list(&f.join(" ")))),
        None => {}
    }
    out
}

/// sieve-test's "Performed actions" and "Implicit keep" sections in the normal form.
fn normalise_pigeonhole(text: &str) -> Vec<String> {
    if text.contains("failed to compile sieve script") {
        return vec!["compile error".into()];
    }
    if text.contains("final result: failed; resolved with successful implicit keep") {
        return vec!["runtime error".into()];
    }
    if !text.contains("final result: success") {
        return vec![format!("sieve-test failed: {text}")];
    }
    // Each action: its line, then its flags, create and copy marks, put together at the end
    // in the order our side prints them.
    let mut out: Vec<(String, Option<String>, bool, bool)> = Vec::new();
    let mut section = "";
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t == "Performed actions:" || t == "Implicit keep:" {
            section = if t == "Implicit keep:" { "keep" } else { "actions" };
            continue;
        }
        if section.is_empty() {
            continue;
        }
        if let Some(a) = t.strip_prefix("* ") {
            let s = if let Some(m) = a.strip_prefix("store message in folder: ") {
                if section == "keep" { "implicit keep".to_string() } else { format!("store {m}") }
            } else if let Some(m) = a.strip_prefix("redirect message to: ") {
                format!("redirect {}", m.trim_start_matches('<').trim_end_matches('>'))
            } else if let Some(m) = a.strip_prefix("reject message with reason: ") {
                format!("reject {m}")
            } else if a == "discard" || a.starts_with("track ") {
                a.to_string()
            } else if a == "send vacation message:" {
                let mut fields = HashMap::new();
                let mut reason = Vec::new();
                let mut in_msg = false;
                for l in lines.by_ref() {
                    if in_msg {
                        if l == "END MESSAGE" {
                            break;
                        }
                        reason.push(l);
                    } else if l == "START MESSAGE" {
                        in_msg = true;
                    } else if let Some((k, v)) =
                        l.trim().strip_prefix("=> ").and_then(|kv| kv.split_once(':'))
                    {
                        fields.insert(k.trim().to_string(), v.trim().to_string());
                    }
                }
                let mut s =
                    format!("vacation seconds={}", fields.get("seconds").map(String::as_str).unwrap_or(""));
                if let Some(x) = fields.get("subject") {
                    s += &format!(" subject={x}");
                }
                if let Some(x) = fields.get("from") {
                    s += &format!(" from={x}");
                }
                s + &format!(" reason={}", reason.join("\n").trim_end())
            } else {
                format!("unknown: {a}")
            };
            out.push((s, None, false, false));
        } else if let Some(m) = t.strip_prefix("+ ") {
            let Some(last) = out.last_mut() else { continue };
            if let Some(f) = m.strip_prefix("add IMAP flags: ") {
                last.1 = Some(flag_list(f));
            } else if m == "create mailbox if it does not exist" {
                last.2 = true;
            } else if m == "preserve implicit keep" {
                last.3 = true;
            } else {
                last.0 += &format!(" +{m}");
            }
        }
    }
    out.into_iter()
        .map(|(mut s, flags, create, copy)| {
            if let Some(f) = flags {
                s += &format!(" flags={f}");
            }
            if create {
                s += " create";
            }
            if copy {
                s += " copy";
            }
            s
        })
        .collect()
}

#[test]
fn corpus_matches_pigeonhole() {
    let world = World::new();
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let theirs = world.pigeonhole(case);
        let ours = world.ours(case);
        let failed_as_expected = match case.expect.as_deref() {
            Some(e) => theirs == vec![e.to_string()],
            None => !theirs.iter().any(|l| l.ends_with("error")),
        };
        if theirs != ours || !failed_as_expected {
            failures.push(format!(
                "{} (expect {:?}):\n  pigeonhole: {theirs:?}\n  ours:       {ours:?}",
                case.name, case.expect
            ));
        }
    }
    println!("{} corpus cases, {} differ", cases.len(), failures.len());
    assert!(cases.len() >= 150, "the corpus has {} cases, fewer than 150", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
