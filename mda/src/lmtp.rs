//! The LMTP side (RFC 2033): recipients checked through authlib, the body spooled to an
//! unnamed temporary file while it arrives, then one reply per recipient, each sent only once
//! that copy is in the Maildir and fsynced.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use smtp::{Handler, MailFrom, RcptTo, Reply};

use crate::deliver::{self, Context, Outcome, Recipient};

/// One LMTP session's transaction.
pub struct Session {
    ctx: Arc<Context>,
    sender: String,
    rcpts: Vec<Recipient>,
    spool: Option<File>,
    hash: Sha256,
    /// A spool write failed; the body is refused at its end.
    failed: bool,
}

impl Session {
    /// A session sharing `ctx`.
    pub fn new(ctx: Arc<Context>) -> Session {
        Session {
            ctx,
            sender: String::new(),
            rcpts: Vec::new(),
            spool: None,
            hash: Sha256::new(),
            failed: false,
        }
    }
}

/// The LMTP reply for one recipient's outcome.
pub fn reply(rcpt: &str, outcome: &Outcome) -> Reply {
    match outcome {
        Outcome::Delivered { duplicate: false, .. } => Reply::new(250, "2.0.0", format!("<{rcpt}> Saved")),
        Outcome::Delivered { duplicate: true, .. } => {
            Reply::new(250, "2.0.0", format!("<{rcpt}> Already saved"))
        }
        Outcome::OverQuota { temporary: true } => {
            Reply::new(452, "4.2.2", format!("<{rcpt}> Mailbox is full"))
        }
        Outcome::OverQuota { temporary: false } => {
            Reply::new(552, "5.2.2", format!("<{rcpt}> Mailbox is full"))
        }
        // RFC 5429 §2.1: ereject and reject refuse in the protocol when they can.
        Outcome::Rejected(reason) => Reply::new(550, "5.7.1", format!("<{rcpt}> {}", one_line(reason))),
        Outcome::DiskFull => Reply::new(452, "4.3.1", format!("<{rcpt}> Mail system full, try again later")),
        // A mail root the admin can fix is never a reason to bounce: answer temporarily.
        Outcome::Temporary(_) | Outcome::Permission(_) | Outcome::CannotCreate(_) => {
            Reply::new(451, "4.3.0", format!("<{rcpt}> Temporary failure, try again later"))
        }
    }
}

/// A script's reason as one reply line: printable, bounded.
fn one_line(reason: &str) -> String {
    let line: String = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    let line: String = line.chars().filter(|c| !c.is_control()).take(400).collect();
    if line.is_empty() { "Rejected".into() } else { line }
}

impl Handler for Session {
    async fn mail(&mut self, from: &MailFrom<String>) -> Reply {
        self.sender = from.address.clone();
        Reply::new(250, "2.1.0", "Ok")
    }

    async fn rcpt(&mut self, to: &RcptTo<String>) -> Reply {
        match deliver::lookup(&self.ctx.dir, &to.address).await {
            Ok(Some(r)) => {
                self.rcpts.push(r);
                Reply::new(250, "2.1.5", "Ok")
            }
            Ok(None) => {
                tracing::info!(rcpt = %to.address, "unknown user");
                Reply::new(550, "5.1.1", format!("<{}> User unknown", to.address))
            }
            Err(e) => {
                tracing::error!(rcpt = %to.address, error = %e, "user lookup failed");
                Reply::new(451, "4.3.0", "User lookup temporarily unavailable")
            }
        }
    }

    async fn data_start(&mut self) -> Result<(), Reply> {
        self.hash = Sha256::new();
        self.failed = false;
        match tempfile::tempfile_in(&self.ctx.spool_dir) {
            Ok(f) => {
                self.spool = Some(f);
                Ok(())
            }
            Err(e) => {
                tracing::error!(dir = %self.ctx.spool_dir.display(), error = %e, "cannot create spool");
                Err(Reply::new(451, "4.3.0", "Temporary failure, try again later"))
            }
        }
    }

    async fn data_chunk(&mut self, chunk: &[u8]) -> Result<(), Reply> {
        self.hash.update(chunk);
        // A write of a chunk we just read: small and local; the spool lives on the temp dir.
        let res = match self.spool.as_mut() {
            Some(f) => f.write_all(chunk),
            None => Ok(()),
        };
        res.map_err(|e| {
            tracing::error!(error = %e, "spool write failed");
            self.failed = true;
            Reply::new(452, "4.3.1", "Temporary failure writing the message")
        })
    }

    async fn data_end(&mut self) -> Vec<Reply> {
        let Some(spool) = self.spool.take() else { return Vec::new() };
        let mut hash = std::mem::replace(&mut self.hash, Sha256::new());
        hash.update(self.sender.as_bytes());
        let digest: [u8; 32] = hash.finalize().into();
        let mut replies = Vec::with_capacity(self.rcpts.len());
        for rcpt in std::mem::take(&mut self.rcpts) {
            let outcome = deliver::deliver(&self.ctx, &rcpt, &self.sender, &spool, digest, true).await;
            replies.push(reply(&rcpt.address, &outcome));
        }
        replies
    }

    fn reset(&mut self) {
        self.sender.clear();
        self.rcpts.clear();
        self.spool = None;
        self.failed = false;
    }
}
