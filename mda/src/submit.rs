//! Mail the delivery agent sends itself (Sieve's redirect, vacation replies, reject notices)
//! goes out through the MTA like any local mail: over mailroom-mta's local submission socket,
//! or through a sendmail program when another MTA runs the site (Pigeonhole's
//! `sendmail_path`). Either way the MTA has the message in its queue before this returns Ok.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use smtp::client::{self, Envelope, Recipient};
use tokio::io::AsyncWriteExt;

/// How to hand mail to the MTA.
#[derive(Debug, Clone)]
pub enum Submit {
    /// SMTP over mailroom-mta's `submit_socket`.
    Socket(PathBuf),
    /// `sendmail -i -f SENDER -- RCPT...`, the message on standard input.
    Sendmail(PathBuf),
}

/// Why the MTA did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Worth retrying: the MTA is down, busy or answered 4xx.
    #[error("temporary: {0}")]
    Temporary(String),
    /// The MTA refused it for good (5xx, sendmail's data/user errors).
    #[error("refused: {0}")]
    Permanent(String),
}

impl Submit {
    /// From `[mda] sendmail_path` (empty: the socket) and `[mta] submit_socket`.
    pub fn from_config(sendmail_path: Option<&Path>, submit_socket: PathBuf) -> Submit {
        match sendmail_path {
            Some(p) => Submit::Sendmail(p.to_path_buf()),
            None => Submit::Socket(submit_socket),
        }
    }

    /// Queues `message` (CRLF line ends) from `sender` (empty: the null sender) to `rcpt`.
    pub async fn send(
        &self,
        hostname: &str,
        sender: &str,
        rcpt: &str,
        message: &[u8],
    ) -> Result<(), SubmitError> {
        match self {
            Submit::Socket(path) => {
                let envelope = Envelope {
                    sender: sender.to_string(),
                    ret: None,
                    envid: None,
                    body_8bit: message.iter().any(|&b| b >= 0x80),
                    smtputf8: !sender.is_ascii() || !rcpt.is_ascii(),
                    requiretls: false,
                    size: Some(message.len() as u64),
                    recipients: vec![Recipient::new(rcpt)],
                };
                let outcome = client::submit_unix(path, hostname, &envelope, message)
                    .await
                    .map_err(|e| SubmitError::Temporary(format!("{}: {e}", path.display())))?;
                match outcome.recipients.first() {
                    Some(r) if r.is_positive() => Ok(()),
                    Some(r) if r.is_permanent() => Err(SubmitError::Permanent(r.to_string())),
                    Some(r) => Err(SubmitError::Temporary(r.to_string())),
                    None => Err(SubmitError::Temporary("no reply for the recipient".into())),
                }
            }
            Submit::Sendmail(program) => sendmail(program, sender, rcpt, message).await,
        }
    }
}

async fn sendmail(program: &PathBuf, sender: &str, rcpt: &str, message: &[u8]) -> Result<(), SubmitError> {
    let temp = |e: std::io::Error| SubmitError::Temporary(format!("{}: {e}", program.display()));
    // sendmail(1) reads local text: LF line ends.
    let text: Vec<u8> = message.iter().copied().filter(|&b| b != b'\r').collect();
    let sender = if sender.is_empty() { "<>" } else { sender };
    let mut child = tokio::process::Command::new(program)
        .args(["-i", "-f", sender, "--", rcpt])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(temp)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&text).await.map_err(temp)?;
    }
    let out = child.wait_with_output().await.map_err(temp)?;
    let why = || {
        format!(
            "{} exited with {}: {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    };
    match out.status.code() {
        Some(0) => Ok(()),
        // sysexits(3): EX_TEMPFAIL, and a signal, are worth another try.
        Some(75) | None => Err(SubmitError::Temporary(why())),
        Some(_) => Err(SubmitError::Permanent(why())),
    }
}
