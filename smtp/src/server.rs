//! The async driver: reads from the socket, feeds the [`Session`], asks the [`Handler`] for
//! the decisions, and writes replies. Replies to pipelined commands are written together,
//! whenever the session needs more input.

use std::future::Future;
use std::time::Duration;

use smtp_proto::{MailFrom, RcptTo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::reply::Reply;
use crate::session::{Config, Event, Mode, Session};

/// What a daemon decides in a session: its policy and its storage.
pub trait Handler: Send {
    /// The client greeted with `name`.
    fn hello(&mut self, _name: &str) {}
    /// Accept or refuse a sender.
    fn mail(&mut self, from: &MailFrom<String>) -> impl Future<Output = Reply> + Send;
    /// Accept or refuse a recipient.
    fn rcpt(&mut self, to: &RcptTo<String>) -> impl Future<Output = Reply> + Send;
    /// Open a spool for the body.
    fn data_start(&mut self) -> impl Future<Output = Result<(), Reply>> + Send;
    /// Append body bytes (CRLF line ends, dot-unstuffed) to the spool.
    fn data_chunk(&mut self, chunk: &[u8]) -> impl Future<Output = Result<(), Reply>> + Send;
    /// The body is complete: deliver. SMTP wants one reply; LMTP one per accepted recipient,
    /// each sent only once that copy is safe.
    fn data_end(&mut self) -> impl Future<Output = Vec<Reply>> + Send;
    /// Forget the transaction (RSET, QUIT, refused body, connection lost).
    fn reset(&mut self);
}

/// Limits of the connection itself.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Close an idle connection after this long (RFC 5321 §4.5.3.2 suggests 5 minutes).
    pub idle_timeout: Duration,
}

/// Run one session on `stream` until QUIT, an error limit, a timeout or the client leaving.
pub async fn run<S, H>(mut stream: S, cfg: Config, limits: &Limits, handler: &mut H) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    H: Handler,
{
    let mut session = Session::new(cfg);
    let mut out: Vec<u8> = session.greeting().to_wire();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut start, mut end) = (0usize, 0usize);
    // A spool write that failed: keep reading the body, answer this at its end.
    let mut chunk_error: Option<Reply> = None;
    loop {
        let (used, events) = session.step(&buf[start..end]);
        start += used;
        if events.is_empty() && used == 0 {
            // Need more input: flush what we owe first (pipelining: one write per batch).
            if !out.is_empty() {
                stream.write_all(&out).await?;
                stream.flush().await?;
                out.clear();
            }
            if start == end {
                start = 0;
                end = 0;
            } else if end == buf.len() {
                buf.copy_within(start..end, 0);
                end -= start;
                start = 0;
            }
            let n = match tokio::time::timeout(limits.idle_timeout, stream.read(&mut buf[end..])).await {
                Ok(r) => r?,
                Err(_) => {
                    let r = Reply::new(421, "4.4.2", "Idle timeout, closing connection");
                    let _ = stream.write_all(&r.to_wire()).await;
                    handler.reset();
                    return Ok(());
                }
            };
            if n == 0 {
                handler.reset();
                return Ok(());
            }
            end += n;
            continue;
        }
        for event in events {
            match event {
                Event::Reply(r) => out.extend(r.to_wire()),
                Event::Hello(name) => handler.hello(&name),
                Event::Mail(from) => {
                    let r = handler.mail(&from).await;
                    session.mail_result(&r);
                    out.extend(r.to_wire());
                }
                Event::Rcpt(to) => {
                    let r = handler.rcpt(&to).await;
                    session.rcpt_result(&r);
                    out.extend(r.to_wire());
                }
                Event::DataStart => {
                    chunk_error = None;
                    let r = handler.data_start().await;
                    if let Some(reply) = session.data_result(r) {
                        out.extend(reply.to_wire());
                    }
                }
                Event::DataChunk(bytes) => {
                    if chunk_error.is_none()
                        && let Err(r) = handler.data_chunk(&bytes).await
                    {
                        chunk_error = Some(r);
                    }
                }
                Event::DataEnd => {
                    let replies = match chunk_error.take() {
                        Some(r) => {
                            handler.reset();
                            let n =
                                if session.config().mode == Mode::Lmtp { session.recipients() } else { 1 };
                            vec![r; n]
                        }
                        None => handler.data_end().await,
                    };
                    for r in replies {
                        // LMTP: one reply per recipient, each written out once the handler has
                        // stored every copy (RFC 2033 allows waiting; none is sent early).
                        out.extend(r.to_wire());
                        stream.write_all(&out).await?;
                        out.clear();
                    }
                    stream.flush().await?;
                    session.transaction_done();
                }
                Event::DataAbort(r) => {
                    handler.reset();
                    out.extend(r.to_wire());
                }
                Event::Reset => handler.reset(),
                Event::Close(r) => {
                    handler.reset();
                    out.extend(r.to_wire());
                    stream.write_all(&out).await?;
                    stream.flush().await?;
                    let _ = stream.shutdown().await;
                    return Ok(());
                }
            }
        }
    }
}
