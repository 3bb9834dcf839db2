//! What LMTP and the command mode share: finding the mailbox for a recipient, and storing one
//! copy of a spooled message into it with quota, folder and duplicate handling.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use authlib::{Directory, Mailbox, Unavailable};
use mailstore::quota::{self, Quota, QuotaError};
use mailstore::{DeliverError, FolderName, Maildir};
use proto::Address;

use crate::dedup::Dedup;

/// Everything a delivery needs, shared by all sessions.
pub struct Context {
    /// The user directory.
    pub dir: Directory,
    /// `[mda]` settings.
    pub cfg: config::Mda,
    /// Recent deliveries.
    pub dedup: Dedup,
    /// Where spools go.
    pub spool_dir: PathBuf,
}

/// A recipient we accepted.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The address as the client gave it (for Delivered-To and replies).
    pub address: String,
    /// Its mailbox.
    pub mailbox: Mailbox,
    /// Subaddress detail (`lists` for `bob+lists@`).
    pub detail: Option<String>,
    /// A folder asked for explicitly (command mode `-m`), created when missing.
    pub folder: Option<String>,
}

/// The mailbox for `address`: the domain may be an alias domain, the local part may carry a
/// detail. Like dovecot-lmtp, no alias expansion: that is the MTA's job.
pub async fn lookup(dir: &Directory, address: &str) -> Result<Option<Recipient>, Unavailable> {
    let Ok(addr) = Address::parse(address) else { return Ok(None) };
    let Some(domain) = dir.local_domain(addr.domain()).await? else { return Ok(None) };
    let (base, detail) = addr.with_domain(&domain).split_detail(&dir.config().recipient_delimiter);
    Ok(dir.mailbox(&base).await?.map(|mailbox| Recipient {
        address: address.to_string(),
        mailbox,
        detail,
        folder: None,
    }))
}

/// How one copy went.
#[derive(Debug)]
pub enum Outcome {
    /// Stored (or stored already, within the duplicate window).
    Delivered { duplicate: bool, path: Option<PathBuf> },
    /// Over quota; `temporary` when quota_full_tempfail is set.
    OverQuota { temporary: bool },
    /// The filesystem is full.
    DiskFull,
    /// Anything else that may pass: I/O, quota file unreadable.
    Temporary(String),
    /// The Maildir exists but may not be written.
    Permission(String),
    /// The Maildir or folder cannot be created.
    CannotCreate(String),
}

/// Store the spooled message (`spool`, wire format) for `rcpt`, with Return-Path and
/// Delivered-To in front. Runs the file work on the blocking pool.
pub async fn deliver(
    ctx: &Arc<Context>,
    rcpt: &Recipient,
    sender: &str,
    spool: &File,
    digest: [u8; 32],
) -> Outcome {
    // Keyed by the recipient as the client gave it: a retry repeats it exactly, while two
    // addresses of one mailbox in one message are two deliveries, as in Dovecot.
    let key = rcpt.address.to_lowercase();
    if ctx.dedup.is_duplicate(&digest, &key) {
        tracing::info!(rcpt = %rcpt.address, mailbox = %rcpt.mailbox.address, "duplicate within the window, not stored again");
        return Outcome::Delivered { duplicate: true, path: None };
    }
    let mut body = match spool.try_clone() {
        Ok(f) => f,
        Err(e) => return Outcome::Temporary(format!("spool: {e}")),
    };
    let prefix = format!("Return-Path: <{sender}>\r\nDelivered-To: {}\r\n", rcpt.address).into_bytes();
    let (ctx2, rcpt2) = (ctx.clone(), rcpt.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        if let Err(e) = body.seek(SeekFrom::Start(0)) {
            return Outcome::Temporary(format!("spool: {e}"));
        }
        let size = body.metadata().map(|m| m.len()).unwrap_or(0) + prefix.len() as u64;
        store(&ctx2, &rcpt2, &prefix, &mut body, size)
    })
    .await
    .unwrap_or_else(|e| Outcome::Temporary(format!("delivery task failed: {e}")));
    if let Outcome::Delivered { path: Some(p), .. } = &outcome {
        ctx.dedup.record(digest, &key);
        tracing::info!(rcpt = %rcpt.address, mailbox = %rcpt.mailbox.address, file = %p.display(), "delivered");
    } else {
        tracing::warn!(rcpt = %rcpt.address, mailbox = %rcpt.mailbox.address, outcome = ?outcome, "not delivered");
    }
    outcome
}

fn store(ctx: &Context, rcpt: &Recipient, prefix: &[u8], body: &mut File, size: u64) -> Outcome {
    let maildir = Maildir::new(&rcpt.mailbox.maildir);
    let limit = Quota { bytes: rcpt.mailbox.quota, messages: 0 };
    match quota::check(&maildir, limit, size) {
        Ok(()) => {}
        Err(QuotaError::Over(o)) => {
            tracing::info!(mailbox = %rcpt.mailbox.address, "{o}");
            return Outcome::OverQuota { temporary: ctx.cfg.quota_full_tempfail };
        }
        Err(QuotaError::Io(e)) => return Outcome::Temporary(format!("quota: {e}")),
    }
    let folder = match &rcpt.folder {
        Some(name) => match FolderName::new(name) {
            Ok(f) => Some(f),
            Err(e) => return Outcome::CannotCreate(format!("folder {name:?}: {e}")),
        },
        None => detail_folder(ctx, &maildir, rcpt),
    };
    match maildir.deliver(folder.as_ref(), prefix, body) {
        Ok(d) => {
            if let Err(e) = quota::add(&maildir, limit, d.size as i64, 1) {
                // The message is safe; only the quota bookkeeping lags until the next rebuild.
                tracing::warn!(mailbox = %rcpt.mailbox.address, error = %e, "maildirsize not updated");
            }
            Outcome::Delivered { duplicate: false, path: Some(d.path) }
        }
        Err(e) if e.is_storage_full() => Outcome::DiskFull,
        Err(e @ DeliverError::Temporary(_)) => Outcome::Temporary(e.to_string()),
        Err(e @ DeliverError::Permission(_)) => Outcome::Permission(e.to_string()),
        Err(e @ DeliverError::CannotCreate { .. }) => Outcome::CannotCreate(e.to_string()),
    }
}

/// The detail's folder, when configured and it exists (Dovecot's lmtp_save_to_detail_mailbox).
fn detail_folder(ctx: &Context, maildir: &Maildir, rcpt: &Recipient) -> Option<FolderName> {
    if !ctx.cfg.save_to_detail_mailbox {
        return None;
    }
    let folder = FolderName::new(rcpt.detail.as_deref().filter(|d| !d.is_empty())?).ok()?;
    maildir.folder_exists(&folder).ok()?.then_some(folder)
}
