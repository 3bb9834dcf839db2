//! One mail transaction: MAIL, RCPT for each recipient, DATA, the body, the final reply (SMTP)
//! or replies (LMTP). With PIPELINING the commands up to DATA go in one write and their replies
//! are read after it (RFC 2920 §3.1); without it, each waits for its reply. Every recipient
//! comes out with exactly one reply.
//!
//! A transaction that ends without a body (MAIL refused, no recipient accepted, DATA refused)
//! leaves RSET owed: it goes first in the next transaction's group, or not at all before QUIT.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::body::BodyEncoder;
use super::envelope::{self, Envelope};
use super::{Client, ClientError, Outcome, Protocol, ServerReply};

/// Size of the blocks the body is read and written in.
const BLOCK: usize = 64 * 1024;

/// The replies before the body: MAIL's, each sent RCPT's, and DATA's when DATA was sent.
struct Replies {
    mail: ServerReply,
    rcpts: Vec<ServerReply>,
    data: Option<ServerReply>,
}

/// Run one transaction on `c` (see the module doc).
pub(super) async fn run<S, R>(c: &mut Client<S>, env: &Envelope, message: R) -> Result<Outcome, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    R: AsyncRead + Unpin,
{
    let plan = envelope::plan(env, &c.capabilities);
    if let Some(refusal) = plan.mail {
        return Ok(Outcome { recipients: vec![refusal.clone(); env.recipients.len()], mail: Some(refusal) });
    }
    let mut results = plan.recipients;
    let sent: Vec<usize> = (0..results.len()).filter(|&i| results[i].is_none()).collect();
    if sent.is_empty() {
        return Ok(outcome(results));
    }
    let mail = envelope::mail_from(env, &c.capabilities, plan.smtputf8);
    let rcpts: Vec<String> =
        sent.iter().map(|&i| envelope::rcpt_to(&env.recipients[i], &c.capabilities)).collect();
    let replies = if c.capabilities.pipelining {
        pipelined(c, &mail, &rcpts).await?
    } else {
        lockstep(c, &mail, &rcpts).await?
    };
    // From here until a final reply, the server holds a transaction (or thinks it might).
    c.needs_reset = true;
    if !replies.mail.is_positive() {
        expect_final(&replies.mail, "MAIL")?;
        if replies.data.as_ref().is_some_and(|d| d.code == 354) {
            empty_data(c).await?;
        }
        let refusal = replies.mail;
        return Ok(Outcome { recipients: vec![refusal.clone(); env.recipients.len()], mail: Some(refusal) });
    }
    let mut accepted = Vec::new();
    for (&i, reply) in sent.iter().zip(replies.rcpts) {
        expect_final(&reply, "RCPT")?;
        if reply.is_positive() {
            accepted.push(i);
        }
        results[i] = Some(reply);
    }
    match replies.data {
        None => {}
        Some(d) if d.code == 354 && accepted.is_empty() => empty_data(c).await?,
        Some(d) if d.code == 354 => {
            body(c, message).await?;
            final_replies(c, &accepted, &mut results).await?;
            c.needs_reset = false;
        }
        Some(d) if d.is_transient() || d.is_permanent() => {
            for &i in &accepted {
                results[i] = Some(d.clone());
            }
        }
        Some(d) => return Err(ClientError::Protocol(format!("unexpected reply to DATA: {d}"))),
    }
    Ok(outcome(results))
}

/// Everything up to DATA in one write, then the replies in order.
async fn pipelined<S>(c: &mut Client<S>, mail: &str, rcpts: &[String]) -> Result<Replies, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let t = c.timeouts;
    let mut group = String::new();
    if c.needs_reset {
        group.push_str("RSET\r\n");
    }
    group.push_str(mail);
    rcpts.iter().for_each(|r| group.push_str(r));
    group.push_str("DATA\r\n");
    c.conn.write(group.as_bytes(), t.command, "MAIL").await?;
    if c.needs_reset {
        check_reset(&c.conn.read_reply(t.command, "RSET").await?.reply)?;
    }
    let mail = c.conn.read_reply(t.command, "MAIL").await?.reply;
    let mut replies = Vec::with_capacity(rcpts.len());
    for _ in rcpts {
        replies.push(c.conn.read_reply(t.command, "RCPT").await?.reply);
    }
    let data = c.conn.read_reply(t.command, "DATA").await?.reply;
    Ok(Replies { mail, rcpts: replies, data: Some(data) })
}

/// One command at a time; stops at a refused MAIL, and sends no DATA without a recipient.
async fn lockstep<S>(c: &mut Client<S>, mail: &str, rcpts: &[String]) -> Result<Replies, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if c.needs_reset {
        let reset = command(c, "RSET\r\n", "RSET").await?;
        check_reset(&reset)?;
    }
    let mail = command(c, mail, "MAIL").await?;
    let mut replies = Replies { mail, rcpts: Vec::with_capacity(rcpts.len()), data: None };
    if !replies.mail.is_positive() {
        return Ok(replies);
    }
    for r in rcpts {
        replies.rcpts.push(command(c, r, "RCPT").await?);
    }
    if replies.rcpts.iter().any(ServerReply::is_positive) {
        replies.data = Some(command(c, "DATA\r\n", "DATA").await?);
    }
    Ok(replies)
}

/// Write one command and read its reply.
async fn command<S>(c: &mut Client<S>, line: &str, stage: &'static str) -> Result<ServerReply, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    c.conn.write(line.as_bytes(), c.timeouts.command, stage).await?;
    Ok(c.conn.read_reply(c.timeouts.command, stage).await?.reply)
}

/// RSET cannot sensibly fail; if it does, the session is not in a state we know.
fn check_reset(reply: &ServerReply) -> Result<(), ClientError> {
    match reply.is_positive() {
        true => Ok(()),
        false => Err(ClientError::Protocol(format!("RSET refused: {reply}"))),
    }
}

/// MAIL, RCPT and the end of data are answered 2xx, 4xx or 5xx; a 3xx means we are out of step.
fn expect_final(reply: &ServerReply, stage: &str) -> Result<(), ClientError> {
    match reply.is_intermediate() {
        true => Err(ClientError::Protocol(format!("unexpected reply to {stage}: {reply}"))),
        false => Ok(()),
    }
}

/// The server took DATA with no recipient (it should have refused it; RFC 2920 §3.1 says to
/// send a lone dot then). SMTP gets the dot and its reply is read and dropped; an LMTP server
/// would owe zero replies to it, so there is no telling where its replies end.
async fn empty_data<S>(c: &mut Client<S>) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if c.protocol == Protocol::Lmtp {
        return Err(ClientError::Protocol("LMTP server accepted DATA without a recipient".into()));
    }
    c.conn.write(b".\r\n", c.timeouts.data_block, "data block").await?;
    c.conn.read_reply(c.timeouts.data_done, "end of data").await?;
    Ok(())
}

/// Stream the message: read a block, encode it, write it under the block timeout.
async fn body<S, R>(c: &mut Client<S>, mut message: R) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    R: AsyncRead + Unpin,
{
    let mut encoder = BodyEncoder::default();
    let mut input = vec![0u8; BLOCK];
    let mut out = Vec::with_capacity(BLOCK + BLOCK / 8);
    loop {
        let n = message.read(&mut input).await?;
        if n == 0 {
            encoder.finish(&mut out);
            return c.conn.write(&out, c.timeouts.data_block, "data block").await;
        }
        encoder.encode(&input[..n], &mut out);
        if out.len() >= BLOCK {
            c.conn.write(&out, c.timeouts.data_block, "data block").await?;
            out.clear();
        }
    }
}

/// The reply to the final dot: SMTP's one for all accepted recipients, or LMTP's one each.
async fn final_replies<S>(
    c: &mut Client<S>,
    accepted: &[usize],
    results: &mut [Option<ServerReply>],
) -> Result<(), ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let t = c.timeouts.data_done;
    match c.protocol {
        Protocol::Smtp => {
            let reply = c.conn.read_reply(t, "end of data").await?.reply;
            expect_final(&reply, "end of data")?;
            for &i in accepted {
                results[i] = Some(reply.clone());
            }
        }
        Protocol::Lmtp => {
            for &i in accepted {
                let reply = c.conn.read_reply(t, "end of data").await?.reply;
                expect_final(&reply, "end of data")?;
                results[i] = Some(reply);
            }
        }
    }
    Ok(())
}

/// The outcome once every recipient has its reply. Each has one by now (refused here, its RCPT
/// reply, or its final reply); should one be missing all the same, it is retried, not lost.
fn outcome(results: Vec<Option<ServerReply>>) -> Outcome {
    let recipients = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| ServerReply::new(451, Some("4.3.0"), "no reply for this recipient")))
        .collect();
    Outcome { mail: None, recipients }
}
