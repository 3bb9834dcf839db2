//! The message body: DATA (dot-stuffed, ends at CRLF.CRLF) and BDAT chunks (counted, RFC 3030),
//! the size limit, and the bare LF/CR policy. Content reaches the driver with CRLF line ends
//! only ([`crate::data`]).

use super::{Event, Mode, Pending, Phase, Session, bad_sequence, size_reply};
use crate::data::{Bare, BareLf, DataDecoder};
use crate::reply::Reply;

/// What the bytes after a DATA or BDAT command are.
pub(super) enum Body {
    Data(DataDecoder),
    /// A BDAT chunk with this many bytes still to read.
    Bdat {
        left: usize,
        last: bool,
    },
    /// Refused (too big): read to the end of the body, then send the reply.
    DiscardData(DataDecoder, Reply),
    /// A refused BDAT chunk: read it, then send `reply` (none: LMTP's silent BDAT LAST); with
    /// `abort` the transaction's spool is dropped when the LAST chunk is through.
    DiscardBdat {
        left: usize,
        last: bool,
        reply: Option<Reply>,
        abort: bool,
    },
}

impl Session {
    pub(super) fn data(&mut self, out: &mut Vec<Event>) {
        if self.bdat_open {
            return self.error(bad_sequence("DATA after BDAT"), out);
        }
        if self.phase != Phase::Rcpt {
            let why = if self.phase == Phase::Mail { "No valid recipients" } else { "Need RCPT before DATA" };
            return self.error(Reply::new(503, "5.5.1", why), out);
        }
        self.pending = Some(Pending::Data);
        out.push(Event::DataStart);
    }

    pub(super) fn bdat(&mut self, size: usize, last: bool, out: &mut Vec<Event>) {
        // The chunk's bytes follow the command whatever we answer: a refused chunk is read and dropped.
        let refusal = match self.phase {
            Phase::Connected | Phase::Ready => Some(Some(bad_sequence("Need MAIL and RCPT before BDAT"))),
            // RFC 2033 §4.2: BDAT LAST with no valid recipients gets no reply at all in LMTP.
            Phase::Mail if last && self.cfg.mode == Mode::Lmtp => Some(None),
            Phase::Mail => Some(Some(Reply::new(503, "5.5.1", "No valid recipients"))),
            Phase::Rcpt => self.bdat_refused.clone().map(Some),
        };
        if let Some(reply) = refusal {
            if reply.as_ref().is_some_and(|r| r.code >= 500 && self.bdat_refused.is_none()) {
                self.errors += 1;
            }
            let abort = self.bdat_refused.is_some();
            self.body = Some(Body::DiscardBdat { left: size, last, reply, abort });
        } else {
            self.body = Some(Body::Bdat { left: size, last });
            if !self.bdat_open {
                self.bdat_open = true;
                self.pending = Some(Pending::Data);
                out.push(Event::DataStart);
                return;
            }
        }
        if size == 0 {
            let body = self.body.take().expect("body just set");
            self.body_step(body, &[], out);
        }
    }

    /// Body bytes from `input`; returns how many were used.
    pub(super) fn body_step(&mut self, body: Body, input: &[u8], out: &mut Vec<Event>) -> usize {
        match body {
            Body::Data(mut rx) => {
                let mut chunk = Vec::new();
                let (used, done) = rx.decode(input, &mut chunk);
                self.size += chunk.len() as u64;
                if self.too_big() {
                    let reply = size_reply();
                    if done {
                        self.abort(reply, out);
                    } else {
                        self.body = Some(Body::DiscardData(rx, reply));
                    }
                    return used;
                }
                if !chunk.is_empty() {
                    out.push(Event::DataChunk(chunk));
                }
                if done {
                    self.body_end(rx.bare(), out);
                } else {
                    self.body = Some(Body::Data(rx));
                }
                used
            }
            Body::Bdat { left, last } => {
                let n = input.len().min(left);
                self.size += n as u64;
                let left = left - n;
                if self.too_big() {
                    self.bdat_refused = Some(size_reply());
                    let body = Body::DiscardBdat { left, last, reply: Some(size_reply()), abort: true };
                    if left == 0 {
                        return n + self.body_step(body, &[], out);
                    }
                    self.body = Some(body);
                    return n;
                }
                let mut chunk = Vec::with_capacity(n);
                self.chunks.decode(&input[..n], &mut chunk);
                if left == 0 && last {
                    self.chunks.finish(&mut chunk);
                }
                if !chunk.is_empty() {
                    out.push(Event::DataChunk(chunk));
                }
                if left > 0 {
                    self.body = Some(Body::Bdat { left, last });
                } else if last {
                    self.body_end(self.chunks.bare(), out);
                } else {
                    let text = format!("{} octets received", self.size);
                    out.push(Event::Reply(Reply::new(250, "2.0.0", text)));
                }
                n
            }
            Body::DiscardData(mut rx, reply) => {
                let (used, done) = rx.decode(input, &mut Vec::new());
                if done {
                    self.abort(reply, out);
                } else {
                    self.body = Some(Body::DiscardData(rx, reply));
                }
                used
            }
            Body::DiscardBdat { left, last, reply, abort } => {
                let n = input.len().min(left);
                if left > n {
                    self.body = Some(Body::DiscardBdat { left: left - n, last, reply, abort });
                } else if abort && last {
                    // The transaction's body was refused: one final reply, then it is over.
                    self.abort(reply.unwrap_or_else(size_reply), out);
                } else {
                    if last {
                        self.end_transaction();
                    }
                    if let Some(r) = reply {
                        out.push(Event::Reply(r));
                    }
                }
                n
            }
        }
    }

    /// The whole body is in: deliver it, unless it held a bare CR/LF and policy refuses that.
    fn body_end(&mut self, bare: Option<Bare>, out: &mut Vec<Event>) {
        match (self.cfg.bare_lf, bare) {
            (BareLf::Reject, Some(bare)) => {
                self.errors += 1;
                self.abort(bare.reply(), out);
            }
            _ => out.push(Event::DataEnd),
        }
    }

    /// Refuse the body at its end. LMTP owes one reply per accepted recipient (RFC 2033 §4.2).
    fn abort(&mut self, reply: Reply, out: &mut Vec<Event>) {
        let copies = if self.cfg.mode == Mode::Lmtp { self.recipients.saturating_sub(1) } else { 0 };
        out.push(Event::DataAbort(reply.clone()));
        out.extend(std::iter::repeat_n(reply, copies).map(Event::Reply));
        self.end_transaction();
    }

    fn too_big(&self) -> bool {
        self.cfg.max_message_size > 0 && self.size > self.cfg.max_message_size
    }

    /// The driver opened a spool (`Ok`) or could not (`Err(reply)`). Returns the reply to send
    /// now: 354 for DATA, nothing for BDAT (its reply comes when the chunk is read), or the
    /// refusal.
    pub fn data_result(&mut self, spool: Result<(), Reply>) -> Option<Reply> {
        debug_assert_eq!(self.pending, Some(Pending::Data));
        self.pending = None;
        match (spool, self.body.take()) {
            (Ok(()), None) => {
                self.body = Some(Body::Data(DataDecoder::default()));
                Some(Reply::new(354, "", "End data with <CR><LF>.<CR><LF>"))
            }
            (Ok(()), Some(body)) => {
                self.body = Some(body);
                None
            }
            (Err(reply), None) => Some(reply),
            (Err(reply), Some(Body::Bdat { left, last })) => {
                self.bdat_refused = Some(reply.clone());
                self.body = Some(Body::DiscardBdat { left, last, reply: Some(reply), abort: true });
                None
            }
            (Err(reply), Some(other)) => {
                self.body = Some(other);
                Some(reply)
            }
        }
    }
}
