//! Responses that leave while their command still runs. A command runs on the blocking pool
//! with the connection's output buffer; FETCH 1:* BODY[] on a big mailbox would otherwise build
//! its whole answer in memory before the first byte goes out. Past [`SPILL_AT`] bytes the
//! buffer is handed to the connection's writer through a small bounded channel, so a session
//! holds a few chunks at most and waits when the client reads slowly; the client starts
//! reading while the server still works. A client that stops reading for [`WRITE_TIMEOUT`]
//! (or `idle_timeout`, if shorter) is dropped: the writer closes the channel, the command's next send fails at once, and FETCH
//! stops, so a stalled client holds a blocking-pool thread for that long at most.

use std::mem;
use std::time::Duration;

use tokio::sync::mpsc;

/// Buffered response bytes past which they are sent.
pub const SPILL_AT: usize = 64 * 1024;

/// Chunks in flight between a command and the socket.
pub const CHANNEL: usize = 2;

/// How long one chunk may take to leave before the client counts as gone.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a running command's full buffers go.
pub type Spill = Option<mpsc::Sender<Vec<u8>>>;

/// Sends what `out` holds when it has grown past [`SPILL_AT`]. Called between whole
/// responses, with the session's [`Spill`] (a free function, so that the caller may hold the
/// selected mailbox meanwhile). False when the connection is gone: a read-only command (FETCH)
/// may stop, one that changes the mailbox finishes its work.
pub fn spill(to: &Spill, out: &mut Vec<u8>) -> bool {
    let Some(tx) = to else { return true };
    if out.len() >= SPILL_AT {
        let chunk = mem::replace(out, Vec::with_capacity(SPILL_AT + SPILL_AT / 4));
        // A closed channel means the connection is gone: the bytes have nowhere to go.
        if tx.blocking_send(chunk).is_err() {
            out.clear();
        }
    }
    !tx.is_closed()
}
