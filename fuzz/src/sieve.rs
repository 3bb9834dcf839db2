//! The `sieve_script` target: a user's Sieve script and a message, both hostile, through the
//! `sieve` crate as mailroom-mda runs them.
//!
//! Input: the script, a NUL byte, then the message (no NUL: the script alone, against a small
//! fixed message). Must hold: compiling never panics; a compiled script runs to an outcome
//! within the limits (the run's step limit ends every loop of includes or rules), never panics;
//! an outcome without an error has at most `max_actions` actions, and with an error keeps the
//! message and has none.

use mail_parser::MessageParser;
use sieve::{Envelope, Host, Settings};

const DEFAULT_MESSAGE: &[u8] = b"From: a@x.test\r\nTo: b@y.test\r\nSubject: hi\r\n\r\nbody\r\n";

/// A host where every mailbox exists, includes name fixed scripts (one including itself) and
/// every duplicate id was seen: the paths delivery takes, without a file system.
struct FuzzHost;

impl Host for FuzzHost {
    fn mailbox_exists(&mut self, _name: &str) -> bool {
        true
    }
    fn include(&mut self, _global: bool, name: &str) -> Option<String> {
        match name {
            "self" => Some("require \"include\"; include \"self\";".into()),
            "keep" => Some("keep;".into()),
            _ => None,
        }
    }
    fn duplicate(&mut self, _id: &str, _seconds: u64) -> bool {
        true
    }
    fn environment(&mut self, name: &str) -> Option<String> {
        sieve::delivery_environment(name)
    }
}

/// The target's body.
pub fn run(data: &[u8]) {
    let (script, message) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, DEFAULT_MESSAGE),
    };
    let Ok(script) = std::str::from_utf8(script) else { return };
    let Ok(compiled) = sieve::compile(script) else { return };
    let Some(message) = MessageParser::default().parse(message) else { return };
    let envelope = Envelope { from: "a@x.test".into(), to: "b+tag@y.test".into(), orig_to: None };
    let settings = Settings::default();
    let outcome = sieve::run(&compiled, &message, &envelope, &settings, &mut FuzzHost);
    if outcome.error.is_some() {
        assert!(outcome.actions.is_empty(), "a failed run keeps only: {:?}", outcome.actions);
        assert!(outcome.implicit_keep.is_some(), "a failed run keeps the message");
    } else {
        assert!(outcome.actions.len() <= settings.limits.max_actions, "{} actions", outcome.actions.len());
    }
}
