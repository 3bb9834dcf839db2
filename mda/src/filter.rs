//! Sieve at delivery, where Pigeonhole keeps it: the active script is `.dovecot.sieve` in the
//! mailbox's home (the Maildir's parent when the Maildir is `<home>/Maildir`, else the Maildir
//! itself, as postfixadmin's Dovecot setup has it), personal includes in `<home>/sieve/`.
//! A script that fails to compile or run keeps the message in INBOX and says why in
//! `<home>/.dovecot.sieve.log`; the message is never lost.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use mail_parser::MessageParser;
use mailstore::{FolderName, Maildir};
use sieve::{Action, Envelope, Host, Settings};

use mailstore::sieve_scripts::ACTIVE as SCRIPT;
pub use mailstore::sieve_scripts::home;
/// Where errors are logged for the user.
pub const LOG: &str = ".dovecot.sieve.log";

/// One copy to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing {
    /// `None` for INBOX.
    pub folder: Option<FolderName>,
    pub flags: Vec<String>,
}

/// What the script decided for the message.
#[derive(Debug)]
pub struct Plan {
    /// Empty when the message is discarded.
    pub filings: Vec<Filing>,
    /// The message with the header the script edited, when it did.
    pub message: Option<Vec<u8>>,
}

/// The user's active script's source, when there is one.
pub fn script(home: &Path) -> Option<String> {
    mailstore::SieveScripts::new(home).active_source()
}

/// Runs `src` for `message` (wire format, CRLF) and turns the outcome into filings. Actions
/// that leave the mailbox (redirect, reject, vacation) are not performed yet: the message is
/// then kept in INBOX and the log says so.
pub fn plan(
    src: &str,
    home: &Path,
    maildir: &Maildir,
    autocreate: bool,
    message: &[u8],
    envelope: &Envelope,
) -> Plan {
    let keep = || Plan { filings: vec![Filing { folder: None, flags: Vec::new() }], message: None };
    let script = match sieve::compile(src) {
        Ok(s) => s,
        Err(e) => {
            user_log(home, &format!("{SCRIPT}: line {}, column {}: {}", e.pos.line, e.pos.col, e.message));
            return keep();
        }
    };
    let Some(parsed) = MessageParser::default().parse(message) else { return keep() };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let settings = Settings { now, ..Settings::default() };
    let mut host = DeliveryHost { home: home.to_path_buf(), maildir };
    let outcome = sieve::run(&script, &parsed, envelope, &settings, &mut host);
    if let Some(e) = &outcome.error {
        user_log(
            home,
            &format!(
                "{SCRIPT}: line {}, column {}: {}; message kept in INBOX",
                e.pos.line, e.pos.col, e.message
            ),
        );
        return keep();
    }
    let mut filings: Vec<Filing> = Vec::new();
    let mut kept = false;
    for action in &outcome.actions {
        match action {
            Action::Store { mailbox, flags, create, .. } => {
                let folder = if mailbox.eq_ignore_ascii_case(sieve::action::INBOX) {
                    None
                } else {
                    match FolderName::new(mailbox) {
                        Ok(f) => match maildir.folder_exists(&f) {
                            Ok(true) => Some(f),
                            _ if *create || autocreate => Some(f),
                            _ => {
                                user_log(
                                    home,
                                    &format!("fileinto \"{mailbox}\": no such folder; kept in INBOX"),
                                );
                                None
                            }
                        },
                        Err(e) => {
                            user_log(home, &format!("fileinto \"{mailbox}\": {e}; kept in INBOX"));
                            None
                        }
                    }
                };
                add(&mut filings, Filing { folder, flags: flags.clone() });
            }
            Action::Discard | Action::Duplicate { .. } => {}
            other => {
                kept = true;
                user_log(home, &format!("{other}: not performed by mailroom-mda yet; message kept in INBOX"));
            }
        }
    }
    if let Some(flags) = &outcome.implicit_keep {
        add(&mut filings, Filing { folder: None, flags: flags.clone() });
    } else if kept {
        add(&mut filings, Filing { folder: None, flags: Vec::new() });
    }
    let message = outcome.edited_header.map(|fields| {
        let body = parsed.parts.first().map(|p| p.offset_body as usize).unwrap_or(message.len());
        let mut out = Vec::with_capacity(message.len());
        for (name, value) in fields {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(value.trim_end().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(message.get(body..).unwrap_or_default());
        out
    });
    Plan { filings, message }
}

/// Adds a filing unless the folder already has one; the later one's flags win, as in Pigeonhole.
fn add(filings: &mut Vec<Filing>, f: Filing) {
    match filings.iter_mut().find(|x| x.folder == f.folder) {
        Some(x) => x.flags = f.flags,
        None => filings.push(f),
    }
}

/// Appends a line to the user's `.dovecot.sieve.log`, and logs it for the admin too.
fn user_log(home: &Path, line: &str) {
    tracing::info!(home = %home.display(), "sieve: {line}");
    let file = OpenOptions::new().create(true).append(true).open(home.join(LOG));
    if let Ok(mut f) = file {
        let _ = writeln!(f, "{line}");
    }
}

struct DeliveryHost<'a> {
    home: PathBuf,
    maildir: &'a Maildir,
}

impl Host for DeliveryHost<'_> {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        if name.eq_ignore_ascii_case(sieve::action::INBOX) {
            return true;
        }
        FolderName::new(name).ok().and_then(|f| self.maildir.folder_exists(&f).ok()).unwrap_or(false)
    }

    fn include(&mut self, global: bool, name: &str) -> Option<String> {
        if global || name.contains('/') {
            return None;
        }
        fs::read_to_string(self.home.join("sieve").join(format!("{name}.sieve"))).ok()
    }

    fn environment(&mut self, name: &str) -> Option<String> {
        sieve::delivery_environment(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let msg = b"From: a@x.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let env = Envelope { from: "a@x.test".into(), to: "bob@b.test".into(), orig_to: None };
        let p = plan(
            "require [\"fileinto\", \"imap4flags\", \"editheader\"]; addheader \"X-Seen\" \"1\"; \
             fileinto :flags \"\\\\Seen\" \"Work\"; fileinto \"Missing\";",
            dir.path(),
            &md,
            false,
            msg,
            &env,
        );
        assert_eq!(
            p.filings,
            vec![
                Filing { folder: Some(FolderName::new("Work").unwrap()), flags: vec!["\\Seen".into()] },
                Filing { folder: None, flags: vec![] },
            ]
        );
        assert_eq!(p.message.unwrap(), b"X-Seen: 1\r\nFrom: a@x.test\r\nSubject: hi\r\n\r\nbody\r\n");
        let log = fs::read_to_string(dir.path().join(LOG)).unwrap();
        assert!(log.contains("fileinto \"Missing\": no such folder"), "{log}");
        let p = plan("discard;", dir.path(), &md, false, msg, &env);
        assert!(p.filings.is_empty());
        let p = plan("bogus;", dir.path(), &md, false, msg, &env);
        assert_eq!(p.filings, vec![Filing { folder: None, flags: vec![] }]);
        let log = fs::read_to_string(dir.path().join(LOG)).unwrap();
        assert!(log.contains("line 1, column 1: unknown command 'bogus'"), "{log}");
    }
}
