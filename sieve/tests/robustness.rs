//! Hostile scripts: every prefix of every corpus script, and byte-flipped variants, compile or
//! fail with a position inside the script, never panic; those that compile run against every
//! corpus message and end (within the step limit).

use std::fs;
use std::path::Path;

use mail_parser::MessageParser;
use sieve::{Envelope, NoHost, Settings, compile, run};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

#[test]
fn prefixes_and_mutations_never_panic() {
    let mut scripts: Vec<String> = fs::read_dir(Path::new(CORPUS).join("cases"))
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    scripts.sort();
    let raws: Vec<Vec<u8>> = fs::read_dir(Path::new(CORPUS).join("messages"))
        .unwrap()
        .map(|e| fs::read(e.unwrap().path()).unwrap())
        .collect();
    let messages: Vec<_> = raws.iter().map(|r| MessageParser::default().parse(r).unwrap()).collect();
    let env = Envelope { from: "a@example.com".into(), to: "b@example.net".into(), orig_to: None };
    let settings = Settings::default();
    let mut compiled = 0;
    let mut failed = 0;
    for src in &scripts {
        let mut variants: Vec<String> =
            (0..src.len()).filter(|&i| src.is_char_boundary(i)).map(|i| src[..i].to_string()).collect();
        // Each structural character swapped for another one.
        for (i, _) in src.char_indices().filter(|(_, c)| "{}[]();,\":*\\".contains(*c)) {
            for repl in ["{", "}", "\"", ";", "", ":", "\\"] {
                variants.push(format!("{}{repl}{}", &src[..i], &src[i + 1..]));
            }
        }
        for v in variants {
            match compile(&v) {
                Ok(script) => {
                    compiled += 1;
                    for m in &messages {
                        let _ = run(&script, m, &env, &settings, &mut NoHost);
                    }
                }
                Err(e) => {
                    failed += 1;
                    let lines = v.lines().count().max(1) as u32;
                    assert!(e.pos.line >= 1 && e.pos.line <= lines + 1, "{e} for {v:?}");
                }
            }
        }
    }
    assert!(compiled > 1000 && failed > 1000, "compiled {compiled}, failed {failed}");
}
