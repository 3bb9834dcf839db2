//! The message content decoders, `smtp::data::DataDecoder` (DATA) and `ChunkDecoder` (BDAT).
//! They are the same in both bare-LF modes: they always normalise and report the first bare
//! CR/LF, and the session refuses the message in `BareLf::Reject` mode (`smtp_session` covers
//! that side).
//!
//! Input layout: byte 0: two nibbles, the sizes of the reads for the chunked runs; the rest:
//! the bytes after the DATA line (or the BDAT content).
//!
//! Must hold: never panics; the output has CRLF line ends only, whatever the input; decoding in
//! chunks gives the same output, end position and bare report as in one piece; DATA ends only
//! right after `<CR><LF>.<CR><LF>` (or `.<CR><LF>` at the very start); with no bare CR/LF
//! reported the output is the input unstuffed; and for CRLF content made from the input,
//! decoding its dot-stuffed form with the end marker gives it back exactly, ending at the last
//! byte, with nothing bare.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtp::data::{Bare, ChunkDecoder, DataDecoder};

const READ_SIZES: [usize; 16] = [1, 1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 100, 256, 1024, usize::MAX];

/// Every CR is followed by LF and every LF preceded by CR.
fn assert_crlf_only(b: &[u8]) {
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\r' => assert_eq!(b.get(i + 1), Some(&b'\n'), "bare CR at {i} in {b:?}"),
            b'\n' => assert!(i > 0 && b[i - 1] == b'\r', "bare LF at {i} in {b:?}"),
            _ => {}
        }
    }
}

/// DATA in reads of `n` bytes: output, bytes consumed when the end marker was reached, bare.
fn data(input: &[u8], n: usize) -> (Vec<u8>, Option<usize>, Option<Bare>) {
    let mut d = DataDecoder::default();
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let end = at.saturating_add(n).min(input.len());
        let (used, done) = d.decode(&input[at..end], &mut out);
        assert!(used <= end - at);
        at += used;
        if done {
            return (out, Some(at), d.bare());
        }
        assert_eq!(at, end, "the decoder stopped early without the end marker");
    }
    (out, None, d.bare())
}

/// BDAT content in chunks of `n` bytes, the last one LAST.
fn chunks(input: &[u8], n: usize) -> (Vec<u8>, Option<Bare>) {
    let mut d = ChunkDecoder::default();
    let mut out = Vec::new();
    for c in input.chunks(n.clamp(1, input.len().max(1))) {
        d.decode(c, &mut out);
    }
    d.finish(&mut out);
    (out, d.bare())
}

/// Reference unstuffing for input with CRLF line ends only: drop one leading dot per line.
fn unstuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

/// CRLF content from arbitrary bytes: lines split at LF, CRs dropped, CRLF after each.
fn crlf_content(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in input.split(|&b| b == b'\n') {
        out.extend(line.iter().filter(|&&b| b != b'\r'));
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Dot-stuffing plus the end marker, as a client sends it.
fn stuffed(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in content.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

fuzz_target!(|raw: &[u8]| {
    let Some((&sizes, input)) = raw.split_first() else { return };
    let (n1, n2) = (READ_SIZES[usize::from(sizes >> 4)], READ_SIZES[usize::from(sizes & 15)]);

    let whole = data(input, usize::MAX);
    assert_crlf_only(&whole.0);
    assert_eq!(data(input, n1), whole, "DATA differs in reads of {n1}");
    assert_eq!(data(input, n2), whole, "DATA differs in reads of {n2}");
    let (out, end, bare) = &whole;
    if let Some(end) = *end {
        let seen = &input[..end];
        assert!(seen == b".\r\n" || seen.ends_with(b"\r\n.\r\n"), "ended after {seen:?}");
        if bare.is_none() {
            assert_eq!(*out, unstuff(&seen[..seen.len() - 3]), "clean DATA was changed");
        }
    }

    let bdat = chunks(input, usize::MAX);
    assert_crlf_only(&bdat.0);
    assert_eq!(chunks(input, n1), bdat, "BDAT differs in chunks of {n1}");
    if bdat.1.is_none() {
        assert_eq!(bdat.0, input, "clean BDAT content was changed");
    }

    let content = crlf_content(input);
    let sent = stuffed(&content);
    let back = data(&sent, n2);
    assert_eq!(back, (content, Some(sent.len()), None), "stuffed CRLF content did not round-trip");
});
