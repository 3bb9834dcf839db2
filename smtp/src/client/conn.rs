//! The socket side of the client: writes, and replies read through [`ReplyParser`], each under
//! its own deadline.
//!
//! A write also reads whatever replies arrive meanwhile (RFC 2920 §3.1: a pipelining client
//! must not block writing while the server blocks writing replies it does not read). What is
//! read early waits in a bounded buffer for [`Conn::read_reply`].

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::ClientError;
use super::reply::{RawReply, ReplyParser};

/// Most bytes read ahead while writing; past it the write just waits. Replies to a pipelined
/// group of a thousand recipients take about 50 KiB.
const MAX_READ_AHEAD: usize = 256 * 1024;

/// A stream with its read buffer and reply parser.
pub(crate) struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
    parser: ReplyParser,
    eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Wrap a fresh stream.
    pub fn new(stream: S) -> Conn<S> {
        Conn { stream, buf: Vec::new(), parser: ReplyParser::default(), eof: false }
    }

    /// The stream, for the TLS handshake; fails if the server sent anything we have not read
    /// yet (RFC 3207 §6: data after the 220 to STARTTLS would be taken as coming over TLS,
    /// the response injection attack).
    pub fn into_stream(self) -> Result<S, ClientError> {
        if !self.buf.is_empty() {
            return Err(ClientError::Protocol("server sent data after its reply to STARTTLS".into()));
        }
        Ok(self.stream)
    }

    /// Write all of `bytes` within `limit`, reading replies that arrive meanwhile.
    pub async fn write(
        &mut self,
        bytes: &[u8],
        limit: Duration,
        stage: &'static str,
    ) -> Result<(), ClientError> {
        let mut written = 0;
        let fut = poll_fn(|cx| self.poll_write_reading(cx, bytes, &mut written));
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r.map_err(ClientError::Io),
            Err(_) => Err(ClientError::Timeout(stage)),
        }
    }

    /// Read one reply within `limit`, whole: a server that trickles bytes cannot stretch it.
    pub async fn read_reply(
        &mut self,
        limit: Duration,
        stage: &'static str,
    ) -> Result<RawReply, ClientError> {
        match tokio::time::timeout(limit, self.next_reply()).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout(stage)),
        }
    }

    /// Shut down our side; errors are of no interest to anyone then.
    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    async fn next_reply(&mut self) -> Result<RawReply, ClientError> {
        loop {
            let (used, result) = self.parser.feed(&self.buf);
            self.buf.drain(..used);
            match result {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol(e.0)),
            }
            if self.eof {
                return Err(ClientError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                )));
            }
            poll_fn(|cx| self.poll_fill(cx)).await.map_err(ClientError::Io)?;
        }
    }

    /// Read what is there into the buffer; end of stream is remembered.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; 8192];
        let mut rb = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut self.stream).poll_read(cx, &mut rb))?;
        self.eof = rb.filled().is_empty();
        self.buf.extend_from_slice(rb.filled());
        Poll::Ready(Ok(()))
    }

    fn poll_write_reading(
        &mut self,
        cx: &mut Context<'_>,
        bytes: &[u8],
        written: &mut usize,
    ) -> Poll<io::Result<()>> {
        loop {
            // Read first, so that the waker is registered for both directions when both wait.
            while !self.eof && self.buf.len() < MAX_READ_AHEAD {
                match self.poll_fill(cx) {
                    Poll::Ready(r) => r?,
                    Poll::Pending => break,
                }
            }
            if *written == bytes.len() {
                return Pin::new(&mut self.stream).poll_flush(cx);
            }
            match ready!(Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
