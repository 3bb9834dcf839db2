//! Any bytes into the cyrus saslauthd frame decoder: never panics, and a decoded request
//! re-encodes to bytes that decode to the same login, password, service and realm.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::cyrus::encode_request;
use proto::cyrus::{Decoded, MAX_REQ_LEN, decode};

fuzz_target!(|data: &[u8]| {
    let Decoded::Request(r) = decode(data) else { return };
    for f in [&r.login[..], r.password.expose(), &r.service[..], &r.realm[..]] {
        assert!(f.len() <= MAX_REQ_LEN, "field over MAX_REQ_LEN accepted");
    }
    let again = encode_request(&[&r.login, r.password.expose(), &r.service, &r.realm]);
    let Decoded::Request(r2) = decode(&again) else { panic!("re-encoded request did not decode: {again:?}") };
    assert_eq!(r2.login, r.login);
    assert_eq!(r2.password, r.password);
    assert_eq!(r2.service, r.service);
    assert_eq!(r2.realm, r.realm);
    // Exactly four fields were re-encoded, so no client address can appear.
    assert_eq!(r2.client_addr, None);
});
