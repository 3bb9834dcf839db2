//! The `milter_reply` target: bytes from a mail filter into
//! `mailroom_mta::milter::protocol::decode`.
//!
//! Input: byte 0 holds two nibbles, each choosing the size of every other read; the rest is
//! what the filter sent. Must hold: never panics; a decoded packet took exactly its 4-byte
//! length plus that many bytes, at most `MAX_PACKET`; `Ok(None)` only while the packet is
//! incomplete; the responses and whether an error ends them are the same for any cutting of
//! the input into reads (checked against one single read); every response encodes to a
//! packet that decodes to the same response, and a negotiation agrees with what we offer or
//! refuses it, never panics.

use mailroom_mta::milter::protocol::{MAX_PACKET, Response, actions, decode, flags};

/// Read sizes a nibble selects (15 = everything left).
const READ_SIZES: [usize; 16] = [1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100, 256, 1024, 4096, usize::MAX];

/// Every response and whether an error ended the input, reading `input` in the sizes `sizes`
/// gives in turn, as the client does: append each read to a buffer, decode from its start.
fn parse(input: &[u8], sizes: [usize; 2]) -> (Vec<Response>, bool) {
    let mut responses = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let (mut fed, mut reads) = (0, 0);
    while fed < input.len() {
        let n = sizes[reads % 2].min(input.len() - fed);
        reads += 1;
        pending.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            match decode(&pending) {
                Ok(Some((r, used))) => {
                    assert!(used <= pending.len() && used <= 4 + MAX_PACKET, "used {used} of {}", pending.len());
                    let len = u32::from_be_bytes(pending[..4].try_into().unwrap()) as usize;
                    assert_eq!(used, 4 + len, "used is not the packet's length");
                    pending.drain(..used);
                    responses.push(r);
                }
                Ok(None) => {
                    if pending.len() >= 4 {
                        let len = u32::from_be_bytes(pending[..4].try_into().unwrap()) as usize;
                        assert!(pending.len() < 4 + len, "need more with a whole packet buffered");
                    }
                    break;
                }
                Err(_) => return (responses, true),
            }
        }
    }
    (responses, false)
}

/// The target's body.
pub fn run(data: &[u8]) {
    let Some((&nibbles, input)) = data.split_first() else { return };
    let sizes = [READ_SIZES[usize::from(nibbles >> 4)], READ_SIZES[usize::from(nibbles & 15)]];
    let (responses, failed) = parse(input, sizes);
    let whole = parse(input, [usize::MAX, usize::MAX]);
    assert_eq!((&responses, failed), (&whole.0, whole.1), "reads changed the outcome");
    for r in &responses {
        let bytes = r.to_bytes();
        assert_eq!(decode(&bytes), Ok(Some((r.clone(), bytes.len()))), "encoding does not decode back");
        if let Response::OptNeg(n) = r {
            if let Ok(agreed) = n.agree(actions::ALL, flags::OFFERED) {
                assert_eq!(agreed.actions & !actions::ALL, 0, "actions we did not offer");
                assert_eq!(agreed.protocol & !flags::OFFERED, 0, "flags we did not offer");
            }
        }
    }
}
