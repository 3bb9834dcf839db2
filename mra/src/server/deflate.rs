//! COMPRESS=DEFLATE (RFC 4978): a stream whose both directions are raw DEFLATE (RFC 1951, no
//! zlib header). Each flush ends in a sync flush, so the client can inflate every response as
//! soon as it arrives; what the client sends is inflated as it comes.
//!
//! One connection's state holds the compressor's window and tables (a few hundred KiB), so it
//! exists only on connections that asked for it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Compressed bytes read from the peer at a time.
const READ_CHUNK: usize = 16 * 1024;

/// `inner` with DEFLATE on both directions.
pub struct Deflate<S> {
    inner: S,
    deflate: Compress,
    inflate: Decompress,
    /// Compressed input not inflated yet: `input[at..]`.
    input: Vec<u8>,
    at: usize,
    /// Compressed output not written to `inner` yet: `output[sent..]`.
    output: Vec<u8>,
    sent: usize,
    /// Bytes were deflated since the last sync flush.
    unflushed: bool,
    eof: bool,
}

impl<S> Deflate<S> {
    /// Starts compressing on `inner` (after the tagged OK of COMPRESS went out uncompressed).
    pub fn new(inner: S) -> Deflate<S> {
        Deflate {
            inner,
            deflate: Compress::new(Compression::default(), false),
            inflate: Decompress::new(false),
            input: Vec::new(),
            at: 0,
            output: Vec::new(),
            sent: 0,
            unflushed: false,
            eof: false,
        }
    }

    /// Deflates `data` with `flush` into `output`.
    fn deflate(&mut self, mut data: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            if self.output.capacity() - self.output.len() < 64 {
                self.output.reserve(data.len() / 2 + 1024);
            }
            let before = self.deflate.total_in();
            self.deflate.compress_vec(data, &mut self.output, flush).map_err(io::Error::other)?;
            data = &data[(self.deflate.total_in() - before) as usize..];
            // Done when the input is taken and the flush had room to finish.
            if data.is_empty() && self.output.len() < self.output.capacity() {
                return Ok(());
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> Deflate<S> {
    /// Writes the pending compressed bytes to `inner`.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.output.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.output[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.output.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if this.at < this.input.len() {
                let (in_before, out_before) = (this.inflate.total_in(), this.inflate.total_out());
                let status = this
                    .inflate
                    .decompress(&this.input[this.at..], buf.initialize_unfilled(), FlushDecompress::None)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                let consumed = (this.inflate.total_in() - in_before) as usize;
                let produced = (this.inflate.total_out() - out_before) as usize;
                this.at += consumed;
                if produced > 0 {
                    buf.advance(produced);
                    return Poll::Ready(Ok(()));
                }
                if status == Status::StreamEnd {
                    // The client ended its DEFLATE stream: nothing more can come.
                    this.eof = true;
                }
                if consumed > 0 && this.at < this.input.len() && !this.eof {
                    continue;
                }
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            // More compressed bytes, after what is left of the last ones.
            this.input.drain(..this.at);
            this.at = 0;
            let kept = this.input.len();
            this.input.resize(kept + READ_CHUNK, 0);
            let mut raw = ReadBuf::new(&mut this.input[kept..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut raw);
            let n = raw.filled().len();
            this.input.truncate(kept + n);
            ready!(polled)?;
            if n == 0 {
                this.eof = true;
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Bounded: a slow reader pushes back instead of letting the buffer grow.
        if this.output.len() - this.sent > READ_CHUNK * 4 {
            ready!(this.poll_send(cx))?;
        }
        this.deflate(data, FlushCompress::None)?;
        this.unflushed |= !data.is_empty();
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A sync flush ends on a byte boundary with everything so far decodable.
        if this.unflushed {
            this.deflate(&[], FlushCompress::Sync)?;
            this.unflushed = false;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// What a client does: its own raw DEFLATE stream in, inflate what comes back.
    #[tokio::test]
    async fn both_directions_round_trip_with_a_flush_per_response() {
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        let mut z = Deflate::new(ours);
        let mut client = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        client.write_all(b"a1 NOOP\r\n").unwrap();
        client.flush().unwrap();
        theirs.write_all(client.get_ref()).await.unwrap();
        let mut got = vec![0; 9];
        z.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"a1 NOOP\r\n");

        let big: Vec<u8> = (0..200_000u32).flat_map(|i| format!("* {i} EXISTS\r\n").into_bytes()).collect();
        z.write_all(&big).await.unwrap();
        z.write_all(b"a1 OK done\r\n").await.unwrap();
        z.flush().await.unwrap();
        // Everything sent so far inflates without the stream's end.
        let mut wire = vec![0; 1 << 20];
        let n = theirs.read(&mut wire).await.unwrap();
        assert!(n < big.len() / 4, "compressed: {n} bytes");
        let mut inflated = Vec::new();
        let mut d = flate2::read::DeflateDecoder::new(&wire[..n]);
        let mut chunk = [0; 65536];
        while inflated.len() < big.len() + 12 {
            let k = d.read(&mut chunk).unwrap();
            assert!(k > 0, "ran dry at {}", inflated.len());
            inflated.extend_from_slice(&chunk[..k]);
        }
        assert!(inflated.ends_with(b"a1 OK done\r\n") && inflated.starts_with(b"* 0 EXISTS\r\n"));
    }

    #[tokio::test]
    async fn garbage_in_is_an_error_and_eof_is_eof() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut z = Deflate::new(ours);
        theirs.write_all(&[0xff; 32]).await.unwrap();
        let mut buf = [0; 16];
        assert_eq!(z.read(&mut buf).await.unwrap_err().kind(), io::ErrorKind::InvalidData);
        let (ours, theirs) = tokio::io::duplex(1024);
        drop(theirs);
        assert_eq!(Deflate::new(ours).read(&mut buf).await.unwrap(), 0);
    }
}
