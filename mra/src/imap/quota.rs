//! QUOTA (RFC 9208) responses. Every mailbox of a user shares one quota root, named
//! "User quota" as Dovecot's default `quota = maildir:User quota` names it, so clients moved
//! from Dovecot see the same root. STORAGE is in KiB, rounded up as Dovecot does; MESSAGE is
//! a count. A resource without a limit is not listed; a user with no limit at all has no root.

use mailstore::{Quota, Usage};

use super::response::string;

/// The name of the user's quota root.
pub const ROOT: &str = "User quota";

/// Bytes in KiB, rounded up.
pub fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

/// Whether the limits make a quota root at all.
pub fn has_root(limit: Quota) -> bool {
    limit != Quota::default()
}

/// `* QUOTAROOT mailbox [root]` (without CRLF); `wire` is the mailbox name as sent back.
pub fn quotaroot(wire: &str, limit: Quota, out: &mut Vec<u8>) {
    out.extend_from_slice(b"* QUOTAROOT ");
    string(out, wire.as_bytes());
    if has_root(limit) {
        out.push(b' ');
        string(out, ROOT.as_bytes());
    }
}

/// `* QUOTA "User quota" (STORAGE used limit MESSAGE used limit)` (without CRLF).
pub fn quota(limit: Quota, usage: Usage, out: &mut Vec<u8>) {
    let mut res = Vec::new();
    if limit.bytes != 0 {
        res.push(format!("STORAGE {} {}", kib(usage.bytes), kib(limit.bytes)));
    }
    if limit.messages != 0 {
        res.push(format!("MESSAGE {} {}", usage.messages, limit.messages));
    }
    out.extend_from_slice(b"* QUOTA ");
    string(out, ROOT.as_bytes());
    out.extend_from_slice(format!(" ({})", res.join(" ")).as_bytes());
}

/// Whether `root` (as sent) names the user's root.
pub fn is_root(root: &[u8]) -> bool {
    root == ROOT.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn responses_like_dovecot() {
        let limit = Quota { bytes: 100 * 1024, messages: 0 };
        assert_eq!(text(|o| quotaroot("INBOX", limit, o)), "* QUOTAROOT \"INBOX\" \"User quota\"");
        let usage = Usage { bytes: 52, messages: 2 };
        assert_eq!(text(|o| quota(limit, usage, o)), "* QUOTA \"User quota\" (STORAGE 1 100)");
        let both = Quota { bytes: 2048, messages: 10 };
        assert_eq!(text(|o| quota(both, usage, o)), "* QUOTA \"User quota\" (STORAGE 1 2 MESSAGE 2 10)");
        assert_eq!(text(|o| quotaroot("Sent", Quota::default(), o)), "* QUOTAROOT \"Sent\"");
        assert_eq!((kib(0), kib(1), kib(1024), kib(1025)), (0, 1, 1, 2));
        assert!(is_root(b"User quota") && !is_root(b"") && !is_root(b"user quota"));
    }
}
