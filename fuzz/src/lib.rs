//! What the fuzz targets share: the driver loop of the SMTP/LMTP session targets
//! ([`session`]), and the bodies of the targets that a plain `cargo test` replays from
//! `seeds/` and `corpus/` (`tests/replay.rs`), so they run without libFuzzer too.

pub mod envelope;
pub mod milter;
pub mod reply;
pub mod session;
pub mod sieve;
