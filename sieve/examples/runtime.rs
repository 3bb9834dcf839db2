//! How long a realistic 30-rule user script (`rules30.sieve`) with a spam rule takes per
//! message: compiled once, run over the corpus messages again and again; prints p50 and p99.
//!
//!     cargo run --release -p sieve --example runtime

use std::time::Instant;

use mail_parser::MessageParser;
use sieve::spamtest::{StatusType, TestConfig};
use sieve::{Envelope, NoHost, Settings};

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/messages");
    let script = sieve::compile(include_str!("rules30.sieve")).expect("rules30.sieve compiles");
    let raws: Vec<Vec<u8>> =
        std::fs::read_dir(dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
    let settings = Settings {
        spamtest: Some(TestConfig {
            status_type: StatusType::Score,
            status_header: "X-Spam-Score".into(),
            status_regex: None,
            max_header: None,
            max_value: 10.0,
        }),
        ..Settings::default()
    };
    let env = Envelope { from: "alice@example.com".into(), to: "bob+tag@example.net".into(), orig_to: None };
    let mut times = Vec::new();
    for round in 0..2000 {
        for raw in &raws {
            let start = Instant::now();
            // Parsing the message is part of what delivery pays for the script.
            let msg = MessageParser::default().parse(raw).unwrap();
            let out = sieve::run(&script, &msg, &env, &settings, &mut NoHost);
            let t = start.elapsed();
            assert!(out.error.is_none(), "{out}");
            if round >= 100 {
                times.push(t.as_nanos() as u64);
            }
        }
    }
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!("{} runs: p50 {:.1} us, p99 {:.1} us, max {:.1} us", times.len(), pct(0.5), pct(0.99), pct(1.0));
}
