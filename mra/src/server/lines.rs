//! Command lines from a socket: up to LF (a CR before it is dropped), at most `max` bytes. A
//! longer line is discarded up to its LF and reported once as [`Input::TooLong`], so a client
//! cannot make us buffer without bound and the session stays in step with it.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// One unit of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A line without its line end.
    Line(Vec<u8>),
    /// A line over the limit was skipped.
    TooLong,
}

/// Buffered line reader; keeps what was read past the current line.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    start: usize,
    discarding: bool,
}

const READ_SIZE: usize = 4096;

impl LineReader {
    /// An empty reader.
    pub fn new() -> LineReader {
        LineReader::default()
    }

    /// Whether a complete line is already buffered (the client pipelined): replies can wait.
    pub fn has_line(&self) -> bool {
        self.buf[self.start..].contains(&b'\n')
    }

    /// Drops everything buffered (after STLS, RFC 2595 §4: input sent before the handshake
    /// must not be used).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.discarding = false;
    }

    /// Reads `n` raw bytes (an IMAP literal), appended to `out` when `keep`, else dropped; false
    /// at end of input.
    pub async fn bytes<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        mut n: usize,
        keep: bool,
        out: &mut Vec<u8>,
    ) -> io::Result<bool> {
        loop {
            let take = n.min(self.buf.len() - self.start);
            if keep {
                out.extend_from_slice(&self.buf[self.start..self.start + take]);
            }
            self.start += take;
            n -= take;
            if n == 0 {
                return Ok(true);
            }
            self.buf.clear();
            self.start = 0;
            self.buf.resize(READ_SIZE.max(n.min(64 * 1024)), 0);
            let got = r.read(&mut self.buf).await;
            self.buf.truncate(*got.as_ref().unwrap_or(&0));
            if got? == 0 {
                return Ok(false);
            }
        }
    }

    /// The next line; `None` at end of input (a partial last line is dropped).
    pub async fn next<R: AsyncRead + Unpin>(&mut self, r: &mut R, max: usize) -> io::Result<Option<Input>> {
        loop {
            if let Some(pos) = self.buf[self.start..].iter().position(|&b| b == b'\n') {
                let end = self.start + pos;
                let mut line = &self.buf[self.start..end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let input = if self.discarding || line.len() > max {
                    Input::TooLong
                } else {
                    Input::Line(line.to_vec())
                };
                self.discarding = false;
                self.start = end + 1;
                return Ok(Some(input));
            }
            if self.buf.len() - self.start > max + 1 {
                // Keep nothing of an overlong line; remember to report it at its end.
                self.discarding = true;
                self.buf.clear();
                self.start = 0;
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            // Read into a separate buffer: IDLE drops this future when its timer fires, and a
            // read that is cancelled must leave the buffer as it was.
            let mut chunk = [0u8; READ_SIZE];
            let n = r.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_limits_and_pipelining() {
        let long = "x".repeat(10_000);
        let input = format!("USER bob\r\nPASS pw\n{long}\r\nNOOP\r\n{}\nQUIT\r\npartial", "y".repeat(20));
        let mut r = input.as_bytes();
        let mut l = LineReader::new();
        assert_eq!(l.next(&mut r, 100).await.unwrap(), Some(Input::Line(b"USER bob".to_vec())));
        assert!(l.has_line());
        assert_eq!(l.next(&mut r, 100).await.unwrap(), Some(Input::Line(b"PASS pw".to_vec())));
        assert_eq!(l.next(&mut r, 100).await.unwrap(), Some(Input::TooLong));
        assert_eq!(l.next(&mut r, 100).await.unwrap(), Some(Input::Line(b"NOOP".to_vec())));
        assert_eq!(l.next(&mut r, 10).await.unwrap(), Some(Input::TooLong));
        assert_eq!(l.next(&mut r, 10).await.unwrap(), Some(Input::Line(b"QUIT".to_vec())));
        assert_eq!(l.next(&mut r, 10).await.unwrap(), None);
    }
}
