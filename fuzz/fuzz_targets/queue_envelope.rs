//! Any bytes as a queue file's envelope header; see `mailroom_fuzz::envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailroom_fuzz::envelope::run(data));
