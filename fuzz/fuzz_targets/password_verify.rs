//! A stored hash and a password into `password::verify`: never panics. Input layout:
//! stored value (lossy UTF-8) up to the first NUL, the password after it. The library caps
//! every cost parameter (rounds, bcrypt cost, argon2 memory and passes) before doing work, so
//! one run stays bounded; a libFuzzer timeout here means a cap does not hold.
#![no_main]

use password::{Scheme, verify};
use libfuzzer_sys::fuzz_target;
use proto::Secret;

fuzz_target!(|data: &[u8]| {
    let (stored, password) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"password"[..]),
    };
    let stored = String::from_utf8_lossy(stored);
    let _ = verify(&stored, &Secret::new(password), Scheme::Crypt);
});
