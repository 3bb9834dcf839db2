//! Bytes from a remote SMTP server into `smtp::client::reply`; see `mailroom_fuzz::reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailroom_fuzz::reply::run(data));
