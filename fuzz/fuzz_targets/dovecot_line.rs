//! Any bytes, split on LF, into one Dovecot auth protocol session: never panics, and no line
//! the server sends contains a LF (the daemon appends one: an embedded LF would let a client
//! inject reply lines).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::dovecot::{Event, Server};

fuzz_target!(|data: &[u8]| {
    let mut server = Server::default();
    // Keep feeding after a Close (the daemon would hang up): later states get exercised too.
    for line in data.split(|&b| b == b'\n') {
        for event in server.line(line) {
            if let Event::Send(l) = event {
                assert!(!l.contains('\n'), "reply line with an embedded LF: {l:?}");
            }
        }
    }
});
