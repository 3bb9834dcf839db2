//! The `smtp_reply` target: bytes from a remote SMTP server into `smtp::client::reply`.
//!
//! Input: byte 0 holds two nibbles, each choosing the size of every other read; the rest is
//! what the server sent. Must hold: never panics; each `feed` uses no more than it was given,
//! and `Ok(None)` only after using all of it; every reply has a code 200-599, an enhanced code
//! only of the reply's class, text with no control character, at most `MAX_REPLY_LINES` lines
//! and `MAX_REPLY_BYTES` bytes, and its raw bytes are exactly the input it came from; the
//! replies and whether an error ends them are the same for any cutting of the input into
//! reads (checked against one single read); `Capabilities::from_ehlo` takes any reply's bytes.

use smtp::client::{Capabilities, MAX_REPLY_BYTES, MAX_REPLY_LINES, RawReply, ReplyParser};

/// Read sizes a nibble selects (15 = everything left).
const READ_SIZES: [usize; 16] = [1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100, 256, 1024, 4096, usize::MAX];

/// Every reply and whether an error ended the input, reading `input` in the sizes `sizes`
/// gives in turn.
fn parse(input: &[u8], sizes: [usize; 2]) -> (Vec<RawReply>, bool) {
    let mut parser = ReplyParser::default();
    let mut replies = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let (mut fed, mut reads) = (0, 0);
    while fed < input.len() {
        let n = sizes[reads % 2].min(input.len() - fed);
        reads += 1;
        pending.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            let (used, result) = parser.feed(&pending);
            assert!(used <= pending.len(), "feed used {used} of {}", pending.len());
            pending.drain(..used);
            match result {
                Ok(Some(r)) => replies.push(r),
                Ok(None) => {
                    assert!(pending.is_empty(), "need more with {} bytes unread", pending.len());
                    break;
                }
                Err(_) => return (replies, true),
            }
        }
    }
    (replies, false)
}

/// The target's body.
pub fn run(data: &[u8]) {
    let Some((&nibbles, input)) = data.split_first() else { return };
    let sizes = [READ_SIZES[usize::from(nibbles >> 4)], READ_SIZES[usize::from(nibbles & 15)]];
    let (replies, failed) = parse(input, sizes);
    let mut at = 0;
    for RawReply { reply, raw } in &replies {
        assert!((200..600).contains(&reply.code), "code {}", reply.code);
        if let Some(e) = &reply.enhanced {
            assert!(e.starts_with(&(reply.code / 100).to_string()), "enhanced {e} for {}", reply.code);
        }
        assert!(!reply.text.chars().any(char::is_control), "control character in {:?}", reply.text);
        assert!(raw.len() <= MAX_REPLY_BYTES, "reply of {} bytes", raw.len());
        assert!(raw.iter().filter(|&&b| b == b'\n').count() <= MAX_REPLY_LINES, "too many lines");
        assert_eq!(&input[at..at + raw.len()], &raw[..], "raw bytes are not the input's");
        at += raw.len();
        assert!(!reply.to_string().contains(['\r', '\n']), "a reply's display spans lines");
        let _ = Capabilities::from_ehlo(raw);
    }
    assert_eq!(parse(input, [usize::MAX, usize::MAX]), (replies, failed), "reads changed the replies");
}
