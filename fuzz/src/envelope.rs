//! The `queue_envelope` target: any bytes as the head of a queue file, into
//! `mailroom_mta::queue::Envelope::decode` (a file an admin edited or a crash left half
//! written).
//!
//! Must hold: never panics; a decoded envelope's offset lies within the input, the bytes
//! before it end with the empty line, and it has an id and recipients; encoded again it
//! decodes to the same envelope, with the offset at the end of its encoding.

use std::io::Cursor;

use mailroom_mta::queue::Envelope;

/// The target's body.
pub fn run(data: &[u8]) {
    let Ok((env, offset)) = Envelope::decode(&mut Cursor::new(data)) else { return };
    let offset = usize::try_from(offset).expect("offset fits");
    assert!(offset <= data.len(), "offset {offset} past {} bytes", data.len());
    assert!(data[..offset].ends_with(b"\n\n"), "header does not end with an empty line");
    assert!(!env.recipients.is_empty(), "decoded without recipients");
    let encoded = env.encode();
    let (again, offset) = Envelope::decode(&mut Cursor::new(&encoded)).expect("own encoding decodes");
    assert_eq!(again, env, "encode then decode changed the envelope");
    assert_eq!(offset, encoded.len() as u64, "offset of the own encoding");
}
