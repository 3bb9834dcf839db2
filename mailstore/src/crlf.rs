//! SMTP's CRLF line ends to the LF that Dovecot stores (`mail_save_crlf = no`), while counting
//! the two sizes that go into the file name.
//!
//! Input arrives in chunks of any size, so a CR that ends one chunk is held back until the next
//! chunk shows whether an LF follows. A CR not followed by LF is kept as it is: it is message
//! content, and dropping it would change what the sender wrote. The virtual size (`,W=`) is the
//! size of what a reader sends with CRLF line ends, computed on the stored bytes as Dovecot does
//! when it has no `,W=`: every LF not preceded by CR adds one. So a bare LF counts as CRLF and a
//! kept bare CR counts once; the one oddity is input `CR CR LF`, stored as `CR LF`, which every
//! reader takes for one line end (2 bytes virtual), so it counts 2, not 3.

use std::io::{self, Write};

/// Wraps a writer, converting CRLF to LF and counting the on-disk and virtual sizes.
pub(crate) struct LfWriter<W: Write> {
    inner: W,
    pending_cr: bool,
    last_was_cr: bool,
    size: u64,
    vsize: u64,
}

impl<W: Write> LfWriter<W> {
    /// Starts a message written to `inner`.
    pub(crate) fn new(inner: W) -> Self {
        LfWriter { inner, pending_cr: false, last_was_cr: false, size: 0, vsize: 0 }
    }

    /// Converts and writes one chunk of input.
    pub(crate) fn write_chunk(&mut self, mut chunk: &[u8]) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        if std::mem::take(&mut self.pending_cr) && chunk[0] != b'\n' {
            self.emit(b"\r")?;
        }
        while let Some(cr) = chunk.iter().position(|&b| b == b'\r') {
            match chunk.get(cr + 1) {
                // CRLF: write up to the CR, let the LF start the next run.
                Some(b'\n') => self.emit(&chunk[..cr])?,
                // A bare CR stays.
                Some(_) => self.emit(&chunk[..=cr])?,
                None => {
                    self.emit(&chunk[..cr])?;
                    self.pending_cr = true;
                    return Ok(());
                }
            }
            chunk = &chunk[cr + 1..];
        }
        self.emit(chunk)
    }

    /// Writes a CR still held back at the end, and returns the writer, the size and the vsize.
    pub(crate) fn finish(mut self) -> io::Result<(W, u64, u64)> {
        if std::mem::take(&mut self.pending_cr) {
            self.emit(b"\r")?;
        }
        Ok((self.inner, self.size, self.vsize))
    }

    /// Writes converted bytes and counts them.
    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(&last) = bytes.last() else { return Ok(()) };
        self.inner.write_all(bytes)?;
        let mut prev_cr = self.last_was_cr;
        let mut bare_lfs = 0;
        for &b in bytes {
            bare_lfs += u64::from(b == b'\n' && !prev_cr);
            prev_cr = b == b'\r';
        }
        self.last_was_cr = last == b'\r';
        self.size += bytes.len() as u64;
        self.vsize += bytes.len() as u64 + bare_lfs;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Converts `chunks` one by one and returns the output, size and vsize.
    fn convert(chunks: &[&[u8]]) -> (Vec<u8>, u64, u64) {
        let mut w = LfWriter::new(Vec::new());
        for c in chunks {
            w.write_chunk(c).unwrap();
        }
        let (out, size, vsize) = w.finish().unwrap();
        assert_eq!(size, out.len() as u64);
        (out, size, vsize)
    }

    #[test]
    fn hand_counted() {
        for (input, output, size, vsize) in [
            // "Subject: x" (10) + LF, "" + LF, "body" (4) + LF: 17 bytes, 20 with CRLFs.
            (&b"Subject: x\r\n\r\nbody\r\n"[..], &b"Subject: x\n\nbody\n"[..], 17, 20),
            (b"a\nb\n", b"a\nb\n", 4, 6),   // bare LF kept, counted as CRLF
            (b"a\rb\r\n", b"a\rb\n", 4, 5), // bare CR kept, counted once
            (b"a\r\r\nb", b"a\r\nb", 4, 4), // CR then CRLF: stored CR LF is one line end
            (b"\r\n", b"\n", 1, 2),
            (b"\r", b"\r", 1, 1), // CR at the very end
            (b"x\r\r", b"x\r\r", 3, 3),
            (b"", b"", 0, 0),
            (b"no line end", b"no line end", 11, 11),
        ] {
            assert_eq!(
                convert(&[input]),
                (output.to_vec(), size, vsize),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn every_split_point_gives_the_same_result() {
        let input: &[u8] = b"From: a\r\nTo: b\r\n\r\nline\rwith bare CR\nand bare LF\r\n\r\r\n.\r\n\r";
        let whole = convert(&[input]);
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let parts = [&input[..i], &input[i..j], &input[j..]];
                assert_eq!(convert(&parts), whole, "split at {i},{j}");
            }
        }
        let bytewise: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(convert(&bytewise), whole);
    }

    #[test]
    fn cr_at_chunk_end_then_lf() {
        assert_eq!(convert(&[b"a\r", b"\nb"]), (b"a\nb".to_vec(), 3, 4));
        assert_eq!(convert(&[b"a\r", b"b"]), (b"a\rb".to_vec(), 3, 3));
        assert_eq!(convert(&[b"a\r", b"", b"\n"]), (b"a\n".to_vec(), 2, 3));
        assert_eq!(convert(&[b"a\r", b"\r", b"\n"]), (b"a\r\n".to_vec(), 3, 3));
    }
}
