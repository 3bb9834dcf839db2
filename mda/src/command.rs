//! `mailroom-mda deliver`: one message on standard input for one recipient, like dovecot-lda,
//! procmail or maildrop under Postfix's `mailbox_command` or a pipe(8) transport. The exit
//! status is a sysexits(3) code so that Postfix and fetchmail retry or bounce correctly.

use std::io::{Read, Write};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::deliver::{self, Context, Outcome};

/// sysexits(3).
pub mod exit {
    /// Delivered.
    pub const OK: u8 = 0;
    /// Bad command line.
    pub const USAGE: u8 = 64;
    /// No such user.
    pub const NOUSER: u8 = 67;
    /// Try again later.
    pub const TEMPFAIL: u8 = 75;
    /// Cannot create the Maildir or folder.
    pub const CANTCREAT: u8 = 73;
    /// No permission (also: permanently over quota).
    pub const NOPERM: u8 = 77;
}

/// Deliver standard input; returns the exit status.
pub async fn run(ctx: Arc<Context>, sender: &str, recipient: &str, folder: Option<&str>) -> u8 {
    let rcpt = match deliver::lookup(&ctx.dir, recipient).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!("mailroom-mda: {recipient}: unknown user");
            return exit::NOUSER;
        }
        Err(e) => {
            eprintln!("mailroom-mda: {recipient}: {e}");
            return exit::TEMPFAIL;
        }
    };
    let spool = match tempfile::tempfile_in(&ctx.spool_dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mailroom-mda: spool: {e}");
            return exit::TEMPFAIL;
        }
    };
    let (spool, digest) = match tokio::task::spawn_blocking(move || copy_stdin(spool)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            eprintln!("mailroom-mda: reading the message: {e}");
            return exit::TEMPFAIL;
        }
        Err(e) => {
            eprintln!("mailroom-mda: {e}");
            return exit::TEMPFAIL;
        }
    };
    let mut rcpt = rcpt;
    // -m FOLDER: deliver there, created when missing, like dovecot-lda -m.
    rcpt.folder = folder.map(str::to_string);
    match deliver::deliver(&ctx, &rcpt, sender, &spool, digest, false).await {
        Outcome::Delivered { .. } => exit::OK,
        Outcome::OverQuota { temporary: true } | Outcome::DiskFull => exit::TEMPFAIL,
        Outcome::Temporary(e) => {
            eprintln!("mailroom-mda: {recipient}: {e}");
            exit::TEMPFAIL
        }
        Outcome::OverQuota { temporary: false } => {
            eprintln!("mailroom-mda: {recipient}: mailbox is full");
            exit::NOPERM
        }
        Outcome::Permission(e) => {
            eprintln!("mailroom-mda: {e}");
            exit::NOPERM
        }
        Outcome::CannotCreate(e) => {
            eprintln!("mailroom-mda: {e}");
            exit::CANTCREAT
        }
        // Only LMTP refuses in the protocol; here a reject sends a notice and succeeds.
        Outcome::Rejected(reason) => {
            eprintln!("mailroom-mda: {recipient}: rejected: {reason}");
            exit::NOPERM
        }
    }
}

/// Copy standard input into the spool, hashing it; LF line ends are kept as they come.
fn copy_stdin(mut spool: std::fs::File) -> std::io::Result<(std::fs::File, [u8; 32])> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut stdin = std::io::stdin().lock();
    loop {
        let n = stdin.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        spool.write_all(&buf[..n])?;
    }
    Ok((spool, hash.finalize().into()))
}
