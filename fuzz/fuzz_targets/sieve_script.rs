//! A Sieve script and a message into the `sieve` crate; see `mailroom_fuzz::sieve`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailroom_fuzz::sieve::run(data));
