//! Bytes from a mail filter into `mailroom_mta::milter::protocol::decode`; see `mailroom_fuzz::milter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailroom_fuzz::milter::run(data));
