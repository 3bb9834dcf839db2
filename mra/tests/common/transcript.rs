//! Byte transcripts against the session layer itself, without a socket: each `C:` line goes
//! through `mra::imap::command::parse` and the logged-in `Session`, and the bytes it writes
//! must be exactly the `S:` lines that follow (CRLF after each). `C!` runs a command whose
//! output is not compared.
//!
//! Values that differ from run to run (UIDVALIDITY, time-based mod-sequences) are written
//! `<name>` in `S:` lines: the first occurrence matches any number and binds it, later ones
//! (in `S:` and `C:` lines, across transcripts sharing the [`Vars`]) must be that number.

use std::collections::HashMap;
use std::path::Path;

use mra::imap::command::{self, Parsed};
use mra::server::imap::Session;
use mra::server::login::User;

/// Numbers bound by `<name>` in transcripts.
pub type Vars = HashMap<String, u64>;

/// A session for a Maildir at `root` with `quota` bytes.
pub fn session(root: &Path, quota: u64) -> Session {
    let user = User {
        name: "bob@b.test".into(),
        maildir: root.to_path_buf(),
        quota: mailstore::Quota { bytes: quota, messages: 0 },
    };
    Session::open(user).unwrap()
}

/// What the session writes for one command line.
pub fn answer(s: &mut Session, line: &str) -> String {
    let buf = format!("{line}\r\n");
    let mut out = Vec::new();
    match command::parse(buf.as_bytes()) {
        Parsed::Codec(cmd) => {
            let tag = cmd.tag.inner().to_string();
            s.execute(&tag, cmd.body, &mut out)
        }
        Parsed::Ext(tag, e) => s.execute_ext(&tag, *e, &mut out),
        Parsed::Bad(tag, why) => out.extend_from_slice(format!("{tag} BAD {why}\r\n").as_bytes()),
        Parsed::UidExpunge(tag, set) => s.uid_expunge(&tag, &set, &mut out),
        other => panic!("{line}: {other:?}"),
    }
    String::from_utf8(out).unwrap()
}

/// Plays a transcript without variables.
pub fn play(s: &mut Session, transcript: &str) {
    play_with(s, transcript, &mut Vars::new());
}

/// Plays a transcript, binding and checking `<name>` numbers in `vars`.
pub fn play_with(s: &mut Session, transcript: &str, vars: &mut Vars) {
    let mut lines = transcript.lines().map(str::trim).filter(|l| !l.is_empty()).peekable();
    while let Some(l) = lines.next() {
        let (compare, cmd) = match (l.strip_prefix("C: "), l.strip_prefix("C! ")) {
            (Some(c), _) => (true, c),
            (_, Some(c)) => (false, c),
            _ => panic!("expected a C: line, got {l}"),
        };
        let mut want = Vec::new();
        while let Some(s) = lines.peek().and_then(|l| l.strip_prefix("S: ")) {
            want.push(s.to_string());
            lines.next();
        }
        let cmd = substitute(cmd, vars);
        let got = answer(s, &cmd);
        if compare {
            let got_lines: Vec<&str> = got.strip_suffix("\r\n").unwrap_or(&got).split("\r\n").collect();
            let ok = got.ends_with("\r\n")
                && got_lines.len() == want.len()
                && got_lines.iter().zip(&want).all(|(g, w)| matches(w, g, vars));
            assert!(
                ok,
                "after C: {cmd}\n--- got:\n{got}--- want:\n{}\n--- vars: {vars:?}",
                want.join("\r\n")
            );
        }
    }
}

/// The first `<name>` in `text` (a letter, then letters, digits or `_`): where `<` and `>` are.
fn variable(text: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(open) = text[from..].find('<').map(|o| from + o) {
        let name: String =
            text[open + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let close = open + 1 + name.len();
        if name.starts_with(|c: char| c.is_ascii_alphabetic()) && text[close..].starts_with('>') {
            return Some((open, close));
        }
        from = open + 1;
    }
    None
}

/// `text` with every `<name>` replaced by its bound number.
fn substitute(text: &str, vars: &Vars) -> String {
    let mut out = text.to_string();
    while let Some((open, close)) = variable(&out) {
        let name = &out[open + 1..close];
        let v = vars.get(name).unwrap_or_else(|| panic!("unbound <{name}> in {text}"));
        out = format!("{}{v}{}", &out[..open], &out[close + 1..]);
    }
    out
}

/// Whether `got` is `want` with its `<name>`s as numbers (binding new names in `vars`).
fn matches(want: &str, got: &str, vars: &mut Vars) -> bool {
    let mut bound = Vec::new();
    let (mut w, mut g) = (want, got);
    while let Some((open, close)) = variable(w) {
        if !g.starts_with(&w[..open]) {
            return false;
        }
        g = &g[open..];
        let digits = g.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(n) = g[..digits].parse::<u64>() else { return false };
        bound.push((w[open + 1..close].to_string(), n));
        g = &g[digits..];
        w = &w[close + 1..];
    }
    if w != g {
        return false;
    }
    for (k, n) in bound {
        if *vars.entry(k).or_insert(n) != n {
            return false;
        }
    }
    true
}

/// Delivers a message with `subject` into `root` (INBOX), as mailroom-mda would.
pub fn deliver(root: &Path, subject: &str) -> String {
    let msg = format!("From: a@x.test\nSubject: {subject}\n\nbody\n");
    let d = mailstore::Maildir::new(root).deliver(None, b"", &mut msg.as_bytes()).unwrap();
    d.path.file_name().unwrap().to_str().unwrap().to_string()
}
