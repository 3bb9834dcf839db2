//! Replays the committed seeds, and the corpus when a fuzzing run left one, through the targets
//! whose bodies live in the library: `cargo test` checks them without libFuzzer or nightly.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = 0;
    for dir in ["seeds", "corpus"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            run(&std::fs::read(&path).unwrap());
            inputs += 1;
        }
    }
    assert!(inputs > 0, "no seeds for {target}");
}

#[test]
fn smtp_reply() {
    replay("smtp_reply", mailroom_fuzz::reply::run);
}

#[test]
fn queue_envelope() {
    replay("queue_envelope", mailroom_fuzz::envelope::run);
}

#[test]
fn sieve_script() {
    replay("sieve_script", mailroom_fuzz::sieve::run);
}

#[test]
fn milter_reply() {
    replay("milter_reply", mailroom_fuzz::milter::run);
}
