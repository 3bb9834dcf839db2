//! What delivery remembers in the user's duplicate store ([`mailstore::duplicates`]), each
//! kind of key hashed apart so that no two uses collide:
//!
//! - `lmtp`: this message (digest of body and sender) for this recipient, within
//!   `duplicate_window`: a client that lost our reply, or an MTA killed after our 250 but
//!   before it recorded the delivery, hands the message over again and it is stored once, even
//!   when mailroom-mda restarted in between;
//! - `redirect`: this message already forwarded to this address, so a retried delivery does
//!   not forward it twice;
//! - `duplicate`: the Sieve duplicate test's ids (RFC 7352);
//! - `vacation`: a reply sent to this sender for this vacation handle (RFC 5230 §4.2).

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// A key of `kind` over `parts`, each length-prefixed so that no two lists hash alike.
pub fn key(kind: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_parts_do_not_collide() {
        assert_ne!(key("lmtp", &[b"ab", b"c"]), key("lmtp", &[b"a", b"bc"]));
        assert_ne!(key("lmtp", &[b"a"]), key("redirect", &[b"a"]));
        assert_eq!(key("vacation", &[b"h", b"x@y"]), key("vacation", &[b"h", b"x@y"]));
    }
}
