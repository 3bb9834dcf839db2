//! The step loop of the `smtp_session` and `lmtp_session` targets: client bytes cut into reads
//! of sizes the input chooses, fed to one `smtp::Session` the way `smtp::server::run` feeds it.
//! The targets answer the events; this loop checks what holds for every session.

use smtp::{Event, Reply, Session};

/// Read sizes a nibble selects (15 = everything left).
const READ_SIZES: [usize; 16] = [1, 1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100, 256, 1024, usize::MAX];

/// What the driver does after a target handled an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Go on.
    Continue,
    /// The TLS handshake happened: drop the bytes buffered behind STARTTLS (CVE-2011-0411).
    DropBuffered,
    /// The connection is closed.
    Close,
}

/// Drive `session` with `input`, read sizes chosen in turn by the four nibbles of `sizes`;
/// `on_event(session, event, last_of_its_batch)` answers each event. Returns true when the
/// connection was closed, false when the input ran out.
///
/// Checks: each `step` uses no more than it was given, and either uses bytes or returns events
/// ("neither" means "read more"; the loop is bounded by len * 4 + 116 iterations); nothing
/// follows a Close in its batch, and a closed session takes no more bytes.
pub fn drive(
    session: &mut Session,
    sizes: [u8; 2],
    input: &[u8],
    mut on_event: impl FnMut(&mut Session, Event, bool) -> After,
) -> bool {
    let nibbles = [sizes[0] >> 4, sizes[0] & 15, sizes[1] >> 4, sizes[1] & 15];
    // The driver's receive buffer: buf[start..] is unread.
    let mut buf: Vec<u8> = Vec::new();
    let (mut start, mut fed, mut reads) = (0usize, 0usize, 0usize);
    let budget = input.len() * 4 + 116;
    for _ in 0..budget {
        let avail = buf.len() - start;
        let (used, events) = session.step(&buf[start..]);
        assert!(used <= avail, "step used {used} of {avail} bytes");
        start += used;
        if events.is_empty() && used == 0 {
            if fed == input.len() {
                return false;
            }
            let n = READ_SIZES[usize::from(nibbles[reads % 4])].min(input.len() - fed);
            reads += 1;
            buf.drain(..start);
            start = 0;
            buf.extend_from_slice(&input[fed..fed + n]);
            fed += n;
            continue;
        }
        let count = events.len();
        for (i, event) in events.into_iter().enumerate() {
            match on_event(session, event, i + 1 == count) {
                After::Continue => {}
                After::DropBuffered => {
                    buf.clear();
                    start = 0;
                }
                After::Close => {
                    assert!(i + 1 == count, "events after Close in the same batch");
                    assert_eq!(session.step(b"NOOP\r\n"), (0, Vec::new()), "a closed session still talks");
                    return true;
                }
            }
        }
    }
    panic!("step loop exceeded {budget} iterations: no progress");
}

/// The fuzzed server's answer to `MAIL FROM:<address>`, decided by the address's length so
/// the input steers it: sometimes a 4xx, sometimes a 5xx, mostly 250.
pub fn mail_reply(address: &str) -> Reply {
    match address.len() % 5 {
        3 => Reply::new(451, "4.3.0", "Try again later"),
        4 => Reply::new(550, "5.1.0", "Sender refused"),
        _ => Reply::new(250, "2.1.0", "Ok"),
    }
}

/// A reply's wire form: CRLF-terminated `ddd[ -]text` lines, one per text line, and no other
/// CR or LF.
pub fn check_wire(reply: &Reply) {
    let wire = reply.to_wire();
    assert!(wire.ends_with(b"\r\n"), "reply not CRLF-terminated: {wire:?}");
    assert_eq!(crlf_only(&wire), Ok(()), "bare CR/LF in reply {wire:?}");
    let lines = wire.split_inclusive(|&b| b == b'\n').count();
    assert_eq!(lines, reply.lines.len().max(1), "wire lines for text lines: {wire:?}");
    for line in wire.split_inclusive(|&b| b == b'\n') {
        assert!(
            line.len() >= 6 && line[..3].iter().all(u8::is_ascii_digit) && matches!(line[3], b' ' | b'-'),
            "malformed reply line {line:?}"
        );
    }
}

/// Every CR is followed by LF and every LF preceded by CR; else the offending index.
pub fn crlf_only(b: &[u8]) -> Result<(), usize> {
    for (i, &c) in b.iter().enumerate() {
        let ok = match c {
            b'\r' => b.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && b[i - 1] == b'\r',
            _ => true,
        };
        if !ok {
            return Err(i);
        }
    }
    Ok(())
}
