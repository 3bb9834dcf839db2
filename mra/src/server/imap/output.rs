//! Responses that leave while their command still runs. A command runs on the blocking pool
//! with the connection's output buffer; FETCH 1:* BODY[] on a big mailbox would otherwise build
//! its whole answer in memory before the first byte goes out. Past [`SPILL_AT`] bytes the
//! buffer is handed to the connection's writer through a small bounded channel, so a session
//! holds a few chunks at most and waits when the client reads slowly; the client starts
//! reading while the server still works.

use std::mem;

use tokio::sync::mpsc;

/// Buffered response bytes past which they are sent.
pub const SPILL_AT: usize = 64 * 1024;

/// Chunks in flight between a command and the socket.
pub const CHANNEL: usize = 2;

/// Where a running command's full buffers go.
pub type Spill = Option<mpsc::Sender<Vec<u8>>>;

/// Sends what `out` holds when it has grown past [`SPILL_AT`]. Called between whole
/// responses, with the session's [`Spill`] (a free function, so that the caller may hold the
/// selected mailbox meanwhile).
pub fn spill(to: &Spill, out: &mut Vec<u8>) {
    if out.len() < SPILL_AT {
        return;
    }
    if let Some(tx) = to {
        let chunk = mem::replace(out, Vec::with_capacity(SPILL_AT + SPILL_AT / 4));
        // A closed channel means the connection is gone: the bytes have nowhere to go.
        let _ = tx.blocking_send(chunk);
    }
}
