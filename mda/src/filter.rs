//! Sieve at delivery, where Pigeonhole keeps it: the active script is `.dovecot.sieve` in the
//! mailbox's home (the Maildir's parent when the Maildir is `<home>/Maildir`, else the Maildir
//! itself, as postfixadmin's Dovecot setup has it), personal includes in `<home>/sieve/`.
//! A script that fails to compile or run keeps the message in INBOX and says why in
//! `<home>/.dovecot.sieve.log`; the message is never lost.
//!
//! Actions that leave the mailbox become messages for the MTA ([`Outgoing`]): `redirect` the
//! message itself, with a `Delivered-To:` line that stops a loop back here, `vacation` a reply
//! when RFC 5230's rules and the user's duplicate store allow one, `reject` a refusal in LMTP
//! or, in command mode, a notice (MDN) to the sender. The store ([`Duplicates`]) also answers
//! the `duplicate` test and remembers redirects already sent, so a retried delivery sends none
//! twice.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use mail_parser::MessageParser;
use mailstore::duplicates::Duplicates;
use mailstore::{FolderName, Maildir};
use sieve::editheader::Headers;
use sieve::interp::decode_header;
use sieve::{Action, Envelope, Host, Settings};

use crate::autoreply::{self, Original};
use crate::dedup;

use mailstore::sieve_scripts::ACTIVE as SCRIPT;
pub use mailstore::sieve_scripts::home;
/// Where errors are logged for the user.
pub const LOG: &str = ".dovecot.sieve.log";

/// One copy to store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filing {
    /// `None` for INBOX.
    pub folder: Option<FolderName>,
    pub flags: Vec<String>,
    /// The message as editheader had changed it when the copy was filed; `None`: as received.
    pub edited: Option<Vec<u8>>,
}

/// A message to send through the MTA once the delivery is decided.
#[derive(Debug)]
pub struct Outgoing {
    /// The envelope recipient.
    pub to: String,
    /// The envelope sender: the original one for a redirect, empty (null) for replies.
    pub sender: String,
    /// The whole message, CRLF line ends.
    pub message: Vec<u8>,
    /// Key and expiry to record in the duplicate store once the MTA took it.
    pub record: Option<([u8; 32], u64)>,
    /// The delivery fails (temporarily) when this cannot be sent: a redirect or a reject
    /// notice carries the message, a vacation reply does not.
    pub required: bool,
    /// For the log: "redirect", "vacation", "reject notice".
    pub what: &'static str,
}

/// What the script decided for the message.
#[derive(Debug, Default)]
pub struct Plan {
    /// Empty when the message is discarded, redirected or rejected.
    pub filings: Vec<Filing>,
    /// Redirects to send before storing (they carry the message); replies after.
    pub redirects: Vec<Outgoing>,
    pub replies: Vec<Outgoing>,
    /// `reject`/`ereject`'s reason: refused in LMTP, or a notice in `replies` otherwise.
    pub reject: Option<String>,
    /// Duplicate-test ids to record once the message is stored.
    pub records: Vec<([u8; 32], u64)>,
}

/// Who the message is delivered to, and what the script's actions may use.
pub struct Delivery<'a> {
    pub home: &'a Path,
    pub maildir: &'a Maildir,
    /// `fileinto` creates missing folders (lda_mailbox_autocreate).
    pub autocreate: bool,
    /// `sieve_global`, where `include :global` looks.
    pub global_dir: Option<&'a Path>,
    pub dupes: &'a Duplicates,
    /// The recipient as the client gave it, then the mailbox's own address.
    pub addresses: [&'a str; 2],
    /// The message's digest (body and sender), for the redirect keys.
    pub digest: &'a [u8; 32],
    /// Our host name, for the messages we write.
    pub hostname: &'a str,
    /// A reject can be answered in the protocol (LMTP); else it sends a notice.
    pub protocol_reject: bool,
    pub now: u64,
}

/// A script to run, and where errors about it go.
#[derive(Debug, Clone)]
pub struct Source {
    /// For the logs: `.dovecot.sieve` or the global script's path.
    pub name: String,
    pub text: String,
    /// The user's own: its errors go to the user's `.dovecot.sieve.log`.
    pub personal: bool,
}

/// The scripts for a user, in the order they run: `sieve_before`, the user's active script (or
/// `sieve_default` when there is none), `sieve_after`. Empty when there are none.
pub fn sources(cfg: &config::Mda, home: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let global = |out: &mut Vec<Source>, paths: &[config::AbsPath]| {
        for path in paths {
            for file in script_files(path.as_ref()) {
                match fs::read_to_string(&file) {
                    Ok(text) => out.push(Source { name: file.display().to_string(), text, personal: false }),
                    Err(e) => {
                        tracing::error!(script = %file.display(), error = %e, "sieve: global script unreadable; skipped")
                    }
                }
            }
        }
    };
    global(&mut out, &cfg.sieve_before);
    match mailstore::SieveScripts::new(home).active_source() {
        Some(text) => out.push(Source { name: SCRIPT.into(), text, personal: true }),
        None => {
            if let Some(p) = cfg.sieve_default.get() {
                match fs::read_to_string(p) {
                    Ok(text) => out.push(Source { name: p.display().to_string(), text, personal: false }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::error!(script = %p.display(), error = %e, "sieve: sieve_default unreadable")
                    }
                }
            }
        }
    }
    global(&mut out, &cfg.sieve_after);
    out
}

/// A script file, or a directory's `*.sieve` files in name order (Pigeonhole's rule).
fn script_files(path: &Path) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = fs::read_dir(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sieve") && p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `scripts` in order for `message` (wire format, CRLF), as Pigeonhole runs a sequence:
/// each sees the message as the one before edited it and starts with the flags it left; the
/// next runs only while the implicit keep stands; actions add up. The outcome becomes filings
/// and messages to send. A script that fails ends the sequence with the message kept in INBOX
/// (what earlier scripts did stands), and its error is logged: to the user's
/// `.dovecot.sieve.log` for their own script.
pub fn plan(scripts: &[Source], d: &Delivery<'_>, message: &[u8], envelope: &Envelope) -> Plan {
    let home = d.home;
    // Each action with the message as it was when the action was taken (`None`: as received).
    let mut actions: Vec<(Action, Option<Vec<u8>>)> = Vec::new();
    let mut keep: Option<Vec<String>> = Some(Vec::new());
    let mut edited: Option<Vec<u8>> = None;
    let mut host = DeliveryHost {
        home: home.to_path_buf(),
        global: d.global_dir.map(Path::to_path_buf),
        maildir: d.maildir,
        dupes: d.dupes,
        now: d.now,
    };
    for src in scripts {
        let report = |what: String| {
            let line = format!("{}: {what}; message kept in INBOX", src.name);
            if src.personal {
                user_log(home, &line);
            } else {
                tracing::error!("sieve: {line}");
            }
        };
        let script = match sieve::compile(&src.text) {
            Ok(s) => s,
            Err(e) => {
                report(format!("line {}, column {}: {}", e.pos.line, e.pos.col, e.message));
                keep = Some(Vec::new());
                break;
            }
        };
        let outcome = {
            let current = edited.as_deref().unwrap_or(message);
            let Some(parsed) = MessageParser::default().parse(current) else { break };
            let flags = keep.clone().unwrap_or_default();
            let settings = Settings { now: d.now as i64, flags, ..Settings::default() };
            let mut outcome = sieve::run(&script, &parsed, envelope, &settings, &mut host);
            if let Some(e) = &outcome.error {
                report(format!("line {}, column {}: {}", e.pos.line, e.pos.col, e.message));
                keep = Some(Vec::new());
                break;
            }
            let mut seen = std::mem::take(&mut outcome.action_headers).into_iter();
            for action in std::mem::take(&mut outcome.actions) {
                let version = match seen.next().flatten() {
                    Some(fields) => Some(with_header(current, &parsed, fields)),
                    None => edited.clone(),
                };
                actions.push((action, version));
            }
            let next = outcome.edited_header.take().map(|fields| with_header(current, &parsed, fields));
            (outcome, next)
        };
        let (outcome, next) = outcome;
        if next.is_some() {
            edited = next;
        }
        keep = outcome.implicit_keep;
        if keep.is_none() {
            break;
        }
    }
    let Some(parsed) = MessageParser::default().parse(message) else {
        return Plan { filings: vec![Filing::default()], ..Plan::default() };
    };
    let headers = Headers::of(&parsed);
    let mut p = Plan::default();
    let mut kept = false;
    let original = Original {
        headers: &headers,
        recipient: d.addresses[0],
        sender: &envelope.from,
        hostname: d.hostname,
        now: d.now as i64,
    };
    for (action, version) in &actions {
        match action {
            Action::Store { mailbox, flags, create, .. } => {
                let folder = folder(d, mailbox, *create);
                add(&mut p.filings, Filing { folder, flags: flags.clone(), edited: version.clone() });
            }
            Action::Discard => {}
            Action::Duplicate { id, seconds, last, .. } => {
                let key = dedup::key("duplicate", &[id.as_bytes()]);
                // Without :last the first occurrence's period stands (RFC 7352 §3.1).
                if *last || !d.dupes.seen(&key, d.now).unwrap_or(false) {
                    p.records.push((key, d.now + seconds));
                }
            }
            Action::Redirect { address, .. } => {
                let mine = |a: &str| d.addresses.iter().any(|m| m.eq_ignore_ascii_case(a));
                // Postfix's and Pigeonhole's loop guard: this mailbox already had the message.
                if headers.raw("delivered-to").any(|v| mine(decode_header(v).trim())) {
                    user_log(
                        home,
                        &format!("redirect to <{address}>: mail loop (Delivered-To: us); kept in INBOX"),
                    );
                    kept = true;
                    continue;
                }
                let key = dedup::key("redirect", &[d.digest, d.addresses[0].as_bytes(), address.as_bytes()]);
                if d.dupes.seen(&key, d.now).unwrap_or(false) {
                    tracing::info!(to = %address, "redirect: sent already by an earlier attempt");
                    continue;
                }
                let mut copy = format!("Delivered-To: {}\r\n", d.addresses[0]).into_bytes();
                copy.extend_from_slice(version.as_deref().unwrap_or(message));
                p.redirects.push(Outgoing {
                    to: address.clone(),
                    sender: envelope.from.clone(),
                    message: copy,
                    record: Some((key, d.now + REDIRECT_MEMORY)),
                    required: true,
                    what: "redirect",
                });
            }
            Action::Reject { reason, .. } => {
                p.reject = Some(reason.clone());
                if d.protocol_reject {
                    continue;
                }
                if envelope.from.is_empty() {
                    user_log(home, "reject: the sender is null; message discarded without a notice");
                    continue;
                }
                match autoreply::reject_notice(reason, message, &original) {
                    Ok(m) => p.replies.push(Outgoing {
                        to: envelope.from.clone(),
                        sender: String::new(),
                        message: m,
                        record: None,
                        required: true,
                        what: "reject notice",
                    }),
                    Err(e) => {
                        user_log(home, &format!("reject: cannot write the notice ({e}); kept in INBOX"));
                        p.reject = None;
                        kept = true;
                    }
                }
            }
            Action::Vacation(v) => {
                let mut user: Vec<String> = d.addresses.iter().map(|a| a.to_string()).collect();
                user.extend(v.addresses.iter().cloned());
                if let Some(why) = sieve::vacation::should_reply(&headers, envelope, &user) {
                    tracing::info!(reason = ?why, "vacation: no reply");
                    continue;
                }
                let sender = envelope.from.to_ascii_lowercase();
                let key = dedup::key("vacation", &[v.handle.as_bytes(), sender.as_bytes()]);
                if d.dupes.seen(&key, d.now).unwrap_or(false) {
                    tracing::info!("vacation: replied to this sender within the period");
                    continue;
                }
                match autoreply::vacation(v, &original) {
                    Ok(m) => p.replies.push(Outgoing {
                        to: envelope.from.clone(),
                        sender: String::new(),
                        message: m,
                        record: Some((key, d.now + v.seconds)),
                        required: false,
                        what: "vacation",
                    }),
                    Err(e) => user_log(home, &format!("vacation: cannot write the reply: {e}")),
                }
            }
        }
    }
    // The implicit keep comes last: it stores the message with every edit.
    if let Some(flags) = keep {
        add(&mut p.filings, Filing { folder: None, flags, edited });
    } else if kept {
        add(&mut p.filings, Filing { folder: None, flags: Vec::new(), edited });
    }
    p
}

/// `message` with its header replaced by `fields` (editheader's result).
fn with_header(message: &[u8], parsed: &mail_parser::Message<'_>, fields: Vec<(String, String)>) -> Vec<u8> {
    let body = parsed.parts.first().map(|p| p.offset_body as usize).unwrap_or(message.len());
    let mut out = Vec::with_capacity(message.len() + 64);
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value.trim_end().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(message.get(body..).unwrap_or_default());
    out
}

/// How long a sent redirect is remembered: longer than any queue keeps retrying (Postfix's
/// maximal_queue_lifetime is 5 days).
const REDIRECT_MEMORY: u64 = 6 * 86_400;

/// Where `fileinto`/`keep` stores: the folder when it exists or may be created, else INBOX.
fn folder(d: &Delivery<'_>, mailbox: &str, create: bool) -> Option<FolderName> {
    if mailbox.eq_ignore_ascii_case(sieve::action::INBOX) {
        return None;
    }
    match FolderName::new(mailbox) {
        Ok(f) => match d.maildir.folder_exists(&f) {
            Ok(true) => Some(f),
            _ if create || d.autocreate => Some(f),
            _ => {
                user_log(d.home, &format!("fileinto \"{mailbox}\": no such folder; kept in INBOX"));
                None
            }
        },
        Err(e) => {
            user_log(d.home, &format!("fileinto \"{mailbox}\": {e}; kept in INBOX"));
            None
        }
    }
}

/// Adds a filing unless the folder already has one; the later one's flags win, as in Pigeonhole.
fn add(filings: &mut Vec<Filing>, f: Filing) {
    match filings.iter_mut().find(|x| x.folder == f.folder) {
        Some(x) => x.flags = f.flags,
        None => filings.push(f),
    }
}

/// Appends a line to the user's `.dovecot.sieve.log`, and logs it for the admin too.
pub(crate) fn user_log(home: &Path, line: &str) {
    tracing::info!(home = %home.display(), "sieve: {line}");
    let file = OpenOptions::new().create(true).append(true).open(home.join(LOG));
    if let Ok(mut f) = file {
        let _ = writeln!(f, "{line}");
    }
}

struct DeliveryHost<'a> {
    home: PathBuf,
    /// `sieve_global`, for `include :global`.
    global: Option<PathBuf>,
    maildir: &'a Maildir,
    dupes: &'a Duplicates,
    now: u64,
}

impl Host for DeliveryHost<'_> {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        if name.eq_ignore_ascii_case(sieve::action::INBOX) {
            return true;
        }
        FolderName::new(name).ok().and_then(|f| self.maildir.folder_exists(&f).ok()).unwrap_or(false)
    }

    fn include(&mut self, global: bool, name: &str) -> Option<String> {
        if name.contains('/') || name.starts_with('.') {
            return None;
        }
        let dir = if global { self.global.clone()? } else { self.home.join("sieve") };
        fs::read_to_string(dir.join(format!("{name}.sieve"))).ok()
    }

    fn duplicate(&mut self, id: &str, _seconds: u64) -> bool {
        // A store that cannot be read counts as "not seen": the message is delivered.
        self.dupes.seen(&dedup::key("duplicate", &[id.as_bytes()]), self.now).unwrap_or(false)
    }

    fn environment(&mut self, name: &str) -> Option<String> {
        sieve::delivery_environment(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bob@b.test's delivery at a fixed time, rejects answered in LMTP.
    fn delivery<'a>(home: &'a Path, md: &'a Maildir, dupes: &'a Duplicates) -> Delivery<'a> {
        Delivery {
            home,
            maildir: md,
            autocreate: false,
            global_dir: None,
            dupes,
            addresses: ["bob@b.test", "bob@b.test"],
            digest: &[7; 32],
            hostname: "mx.b.test",
            protocol_reject: true,
            now: 1_700_000_000,
        }
    }

    fn one(text: &str) -> Vec<Source> {
        vec![Source { name: SCRIPT.into(), text: text.into(), personal: true }]
    }

    #[test]
    fn homes() {
        assert_eq!(home(Path::new("/v/b.test/bob/Maildir")), Path::new("/v/b.test/bob"));
        assert_eq!(home(Path::new("/v/b.test/bob")), Path::new("/v/b.test/bob"));
    }

    #[test]
    fn plans() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::new(dir.path().join("Maildir"));
        md.create().unwrap();
        md.create_folder(&FolderName::new("Work").unwrap()).unwrap();
        let dupes = Duplicates::new(dir.path());
        let d = delivery(dir.path(), &md, &dupes);
        let msg = b"From: a@x.test\r\nTo: bob@b.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let env = Envelope { from: "a@x.test".into(), to: "bob@b.test".into(), orig_to: None };
        let p = plan(
            &one("require [\"fileinto\", \"imap4flags\", \"editheader\"]; addheader \"X-Seen\" \"1\"; \
                 fileinto :flags \"\\\\Seen\" \"Work\"; fileinto \"Missing\";"),
            &d,
            msg,
            &env,
        );
        let edited = b"X-Seen: 1\r\nFrom: a@x.test\r\nTo: bob@b.test\r\nSubject: hi\r\n\r\nbody\r\n".to_vec();
        let work = Some(FolderName::new("Work").unwrap());
        assert_eq!(
            p.filings,
            vec![
                Filing { folder: work, flags: vec!["\\Seen".into()], edited: Some(edited.clone()) },
                Filing { folder: None, flags: vec![], edited: Some(edited) },
            ]
        );
        // RFC 5293 §2: an edit after a fileinto does not reach that copy; the keep has it.
        let p = plan(
            &one(
                "require [\"fileinto\", \"editheader\"]; fileinto \"Work\"; addheader \"X-Late\" \"1\"; keep;",
            ),
            &d,
            msg,
            &env,
        );
        assert_eq!(p.filings[0].edited, None);
        assert!(p.filings[1].edited.as_ref().unwrap().starts_with(b"X-Late: 1\r\n"));
        let log = fs::read_to_string(dir.path().join(LOG)).unwrap();
        assert!(log.contains("fileinto \"Missing\": no such folder"), "{log}");
        let p = plan(&one("discard;"), &d, msg, &env);
        assert!(p.filings.is_empty());
        let p = plan(&one("bogus;"), &d, msg, &env);
        assert_eq!(p.filings, vec![Filing::default()]);
        let log = fs::read_to_string(dir.path().join(LOG)).unwrap();
        assert!(log.contains("line 1, column 1: unknown command 'bogus'"), "{log}");
    }

    #[test]
    fn leaving_actions() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::new(dir.path().join("Maildir"));
        md.create().unwrap();
        let dupes = Duplicates::new(dir.path());
        let mut d = delivery(dir.path(), &md, &dupes);
        let msg = b"From: a@x.test\r\nTo: bob@b.test\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n";
        let env = Envelope { from: "a@x.test".into(), to: "bob@b.test".into(), orig_to: None };
        // redirect: the message with our Delivered-To, from the original sender; no keep.
        let p = plan(&one("redirect \"carol@c.test\";"), &d, msg, &env);
        assert!(p.filings.is_empty());
        assert_eq!(p.redirects.len(), 1);
        assert_eq!(p.redirects[0].to, "carol@c.test");
        assert_eq!(p.redirects[0].sender, "a@x.test");
        assert!(p.redirects[0].message.starts_with(b"Delivered-To: bob@b.test\r\nFrom: a@x.test"));
        // Once recorded, a retried delivery does not redirect again.
        let (key, exp) = p.redirects[0].record.unwrap();
        dupes.record(&key, exp, d.now).unwrap();
        assert!(plan(&one("redirect \"carol@c.test\";"), &d, msg, &env).redirects.is_empty());
        // A message that already went through this mailbox is kept, not sent round again.
        let looped = [b"Delivered-To: bob@b.test\r\n".as_slice(), msg].concat();
        let p = plan(&one("redirect \"dave@d.test\";"), &d, &looped, &env);
        assert!(p.redirects.is_empty());
        assert_eq!(p.filings, vec![Filing::default()]);
        // vacation: one reply per sender and period.
        let script = "require \"vacation\"; vacation :days 1 \"Away\";";
        let p = plan(&one(script), &d, msg, &env);
        assert_eq!(p.replies.len(), 1);
        assert_eq!(p.replies[0].sender, "");
        assert_eq!(p.filings.len(), 1, "vacation keeps the message");
        let (key, exp) = p.replies[0].record.unwrap();
        assert_eq!(exp, d.now + 86_400);
        dupes.record(&key, exp, d.now).unwrap();
        assert!(plan(&one(script), &d, msg, &env).replies.is_empty());
        let list = [b"List-Id: <l.x>\r\n".as_slice(), msg].concat();
        let other = Envelope { from: "z@x.test".into(), ..env.clone() };
        assert!(plan(&one(script), &d, &list, &other).replies.is_empty(), "no reply to a list");
        assert_eq!(plan(&one(script), &d, msg, &other).replies.len(), 1);
        // duplicate: remembered ids.
        let dup = "require \"duplicate\"; if duplicate { discard; stop; }";
        let p = plan(&one(dup), &d, msg, &env);
        assert_eq!(p.filings.len(), 1);
        for (k, e) in &p.records {
            dupes.record(k, *e, d.now).unwrap();
        }
        assert!(plan(&one(dup), &d, msg, &env).filings.is_empty(), "seen: discarded");
        // reject: refused in LMTP; elsewhere a notice to the sender.
        let p = plan(&one("require \"reject\"; reject \"no\";"), &d, msg, &env);
        assert_eq!(p.reject.as_deref(), Some("no"));
        assert!(p.filings.is_empty() && p.replies.is_empty());
        d.protocol_reject = false;
        let p = plan(&one("require \"reject\"; reject \"no\";"), &d, msg, &env);
        assert_eq!(p.replies.len(), 1);
        assert!(p.replies[0].required);
    }

    #[test]
    fn sequences_run_as_pigeonhole_runs_them() {
        let dir = tempfile::tempdir().unwrap();
        let md = Maildir::new(dir.path().join("Maildir"));
        md.create().unwrap();
        for f in ["Spam", "Work", "After"] {
            md.create_folder(&FolderName::new(f).unwrap()).unwrap();
        }
        let dupes = Duplicates::new(dir.path());
        let d = delivery(dir.path(), &md, &dupes);
        let global =
            |text: &str| Source { name: "/etc/before.sieve".into(), text: text.into(), personal: false };
        let before = global(
            "require [\"fileinto\", \"imap4flags\", \"editheader\"]; addflag \"$seen-by-admin\"; \
             addheader \"X-Before\" \"1\"; if header :contains \"subject\" \"viagra\" { fileinto \"Spam\"; }",
        );
        let user = one(
            "require [\"fileinto\", \"copy\"]; if header :is \"x-before\" \"1\" { fileinto :copy \"Work\"; }",
        );
        let after =
            Source { name: "/etc/after.sieve".into(), ..global("require \"fileinto\"; fileinto \"After\";") };
        let env = Envelope { from: "a@x.test".into(), to: "bob@b.test".into(), orig_to: None };
        let f = |name: &str, flags: &[&str]| Filing {
            folder: (name != "INBOX").then(|| FolderName::new(name).unwrap()),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            edited: None,
        };
        let all = [before.clone(), user[0].clone(), after.clone()];
        // The keep stands through before and user (fileinto :copy), so after runs; the user's
        // script saw before's header, and the flags carried over.
        let p = plan(&all, &d, b"Subject: hi\r\n\r\nx\r\n", &env);
        let folders: Vec<_> = p.filings.iter().map(|x| Filing { edited: None, ..x.clone() }).collect();
        assert_eq!(folders, vec![f("Work", &["$seen-by-admin"]), f("After", &["$seen-by-admin"])]);
        assert!(p.filings.iter().all(|x| x.edited.as_ref().unwrap().starts_with(b"X-Before: 1\r\n")));
        // before's fileinto cancels the keep: nothing after it runs.
        let p = plan(&all, &d, b"Subject: viagra\r\n\r\nx\r\n", &env);
        assert_eq!(p.filings.len(), 1);
        assert_eq!(Filing { edited: None, ..p.filings[0].clone() }, f("Spam", &["$seen-by-admin"]));
        // A broken user script keeps the message; before's actions stand.
        let broken = [before, one("bogus;")[0].clone(), after];
        let p = plan(&broken, &d, b"Subject: hi\r\n\r\nx\r\n", &env);
        assert_eq!(p.filings.len(), 1);
        assert_eq!(Filing { edited: None, ..p.filings[0].clone() }, f("INBOX", &[]));
        let p = plan(&broken, &d, b"Subject: viagra\r\n\r\nx\r\n", &env);
        assert_eq!(p.filings.len(), 1);
        assert_eq!(Filing { edited: None, ..p.filings[0].clone() }, f("Spam", &["$seen-by-admin"]));
    }
}
