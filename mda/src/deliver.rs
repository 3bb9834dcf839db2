//! What LMTP and the command mode share: finding the mailbox for a recipient, and storing one
//! copy of a spooled message into it with quota, folder and duplicate handling.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use authlib::{Directory, Mailbox, Unavailable};
use mailstore::quota::{self, Quota, QuotaError};
use mailstore::{DeliverError, Flag, Flags, FolderName, Keywords, Maildir};
use proto::Address;

use mailstore::duplicates::Duplicates;

use crate::dedup;
use crate::filter::{self, Outgoing, Plan};
use crate::submit::{Submit, SubmitError};

/// Everything a delivery needs, shared by all sessions.
pub struct Context {
    /// The user directory.
    pub dir: Directory,
    /// `[mda]` settings.
    pub cfg: config::Mda,
    /// Where spools go.
    pub spool_dir: PathBuf,
    /// How redirects and replies reach the MTA.
    pub submit: Submit,
    /// Our name in the messages we write.
    pub hostname: String,
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
    /// Stored (or stored already, within the duplicate window); `path` is `None` when the
    /// script stored nothing (discard, redirect).
    Delivered { duplicate: bool, path: Option<PathBuf> },
    /// The user's script rejected it, with this reason (refused in LMTP).
    Rejected(String),
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
/// Delivered-To in front, as the user's Sieve script says. File work runs on the blocking
/// pool; what the script sends goes through the MTA: redirects and reject notices before the
/// outcome (they carry the message), vacation replies after. `protocol_reject`: a reject is
/// answered in the protocol (LMTP) rather than by a notice.
pub async fn deliver(
    ctx: &Arc<Context>,
    rcpt: &Recipient,
    sender: &str,
    spool: &File,
    digest: [u8; 32],
    protocol_reject: bool,
) -> Outcome {
    let outcome = deliver_filtered(ctx, rcpt, sender, spool, digest, protocol_reject).await;
    crate::metrics::delivered(&outcome);
    match &outcome {
        Outcome::Delivered { duplicate: true, .. } => {
            tracing::info!(rcpt = %rcpt.address, mailbox = %rcpt.mailbox.address, "duplicate of an earlier delivery, not stored again")
        }
        Outcome::Delivered { path: Some(p), .. } => {
            tracing::info!(rcpt = %rcpt.address, mailbox = %rcpt.mailbox.address, file = %p.display(), "delivered")
        }
        Outcome::Delivered { path: None, .. } => {
            tracing::info!(rcpt = %rcpt.address, mailbox = %rcpt.mailbox.address, "delivered: nothing stored, as the user's Sieve script says")
        }
        Outcome::Rejected(reason) => {
            tracing::info!(rcpt = %rcpt.address, mailbox = %rcpt.mailbox.address, reason = %reason, "rejected by the user's Sieve script")
        }
        _ => {
            tracing::warn!(rcpt = %rcpt.address, mailbox = %rcpt.mailbox.address, outcome = ?outcome, "not delivered")
        }
    }
    outcome
}

/// What the first blocking step found.
enum Step {
    Done(Outcome),
    Planned { plan: Plan, message: Vec<u8> },
}

async fn deliver_filtered(
    ctx: &Arc<Context>,
    rcpt: &Recipient,
    sender: &str,
    spool: &File,
    digest: [u8; 32],
    protocol_reject: bool,
) -> Outcome {
    let mut body = match spool.try_clone() {
        Ok(f) => f,
        Err(e) => return Outcome::Temporary(format!("spool: {e}")),
    };
    // Keyed by the recipient as the client gave it: a retry repeats it exactly, while two
    // addresses of one mailbox in one message are two deliveries, as in Dovecot.
    let key = dedup::key("lmtp", &[&digest, rcpt.address.to_lowercase().as_bytes()]);
    let now = dedup::now();
    let window = ctx.cfg.duplicate_window;
    let home = filter::home(&rcpt.mailbox.maildir);
    let prefix = format!("Return-Path: <{sender}>\r\nDelivered-To: {}\r\n", rcpt.address).into_bytes();
    let (ctx2, rcpt2, sender2, home2, prefix2) =
        (ctx.clone(), rcpt.clone(), sender.to_string(), home.clone(), prefix.clone());
    let step = blocking(move || {
        let dupes = Duplicates::new(&home2);
        if window > 0 && dupes.seen(&key, now).unwrap_or(false) {
            return Step::Done(Outcome::Delivered { duplicate: true, path: None });
        }
        if let Err(e) = body.seek(SeekFrom::Start(0)) {
            return Step::Done(Outcome::Temporary(format!("spool: {e}")));
        }
        let size = body.metadata().map(|m| m.len()).unwrap_or(0) + prefix2.len() as u64;
        // A folder asked for explicitly (deliver -m) bypasses the user's script.
        let scripts = if ctx2.cfg.sieve && rcpt2.folder.is_none() {
            filter::sources(&ctx2.cfg, &home2)
        } else {
            Vec::new()
        };
        if scripts.is_empty() {
            let outcome = store(&ctx2, &rcpt2, &prefix2, &mut body, size);
            if matches!(outcome, Outcome::Delivered { .. }) {
                record(&dupes, &[(key, now + window)], now);
            }
            return Step::Done(outcome);
        }
        let mut message = Vec::with_capacity(size as usize);
        if let Err(e) = body.read_to_end(&mut message) {
            return Step::Done(Outcome::Temporary(format!("spool: {e}")));
        }
        let envelope = sieve::Envelope { from: sender2, to: rcpt2.address.clone(), orig_to: None };
        let maildir = Maildir::new(&rcpt2.mailbox.maildir);
        let own = rcpt2.mailbox.address.to_string();
        let d = filter::Delivery {
            home: &home2,
            maildir: &maildir,
            autocreate: ctx2.cfg.mailbox_autocreate,
            global_dir: ctx2.cfg.sieve_global.get(),
            dupes: &dupes,
            addresses: [&rcpt2.address, &own],
            digest: &digest,
            hostname: &ctx2.hostname,
            protocol_reject,
            now,
        };
        let plan = filter::plan(&scripts, &d, &message, &envelope);
        Step::Planned { plan, message }
    })
    .await;
    let (mut plan, message) = match step {
        Step::Done(outcome) => return outcome,
        Step::Planned { plan, message } => (plan, message),
    };
    // What carries the message goes first: if the MTA cannot take it now, nothing is stored
    // and the client retries; what was sent is remembered so the retry does not resend it.
    let mut records = std::mem::take(&mut plan.records);
    let required: Vec<Outgoing> = std::mem::take(&mut plan.redirects)
        .into_iter()
        .chain(plan.replies.extract_if(.., |o| o.required))
        .collect();
    // What went out is remembered whatever happens next (the duplicate test's ids only once
    // the message is stored: a retry must see them unseen).
    let mut sent = Vec::new();
    for out in required {
        match send(ctx, &out).await {
            Ok(()) => sent.extend(out.record),
            Err(SubmitError::Temporary(e)) => {
                record_later(&home, sent, now).await;
                return Outcome::Temporary(format!("{} to <{}>: {e}", out.what, out.to));
            }
            // Refused for good (a bad address): keep the message rather than lose it.
            Err(SubmitError::Permanent(e)) => {
                filter::user_log(&home, &format!("{} to <{}> refused: {e}; kept in INBOX", out.what, out.to));
                if !plan.filings.iter().any(|f| f.folder.is_none()) {
                    plan.filings.push(filter::Filing::default());
                }
            }
        }
    }
    record_later(&home, sent, now).await;
    if let Some(reason) = plan.reject.take().filter(|_| protocol_reject && plan.filings.is_empty()) {
        return Outcome::Rejected(reason);
    }
    let replies = std::mem::take(&mut plan.replies);
    let (ctx2, rcpt2, home2) = (ctx.clone(), rcpt.clone(), home.clone());
    records.push((key, now + window));
    let outcome = blocking(move || {
        let outcome = store_filed(&ctx2, &rcpt2, &prefix, plan, &message);
        if matches!(outcome, Outcome::Delivered { .. }) {
            record(&Duplicates::new(&home2), &records, now);
        }
        outcome
    })
    .await;
    if matches!(outcome, Outcome::Delivered { .. }) {
        for out in replies {
            match send(ctx, &out).await {
                Ok(()) => {
                    tracing::info!(rcpt = %rcpt.address, to = %out.to, "{} sent", out.what);
                    record_later(&home, out.record.into_iter().collect(), now).await;
                }
                Err(e) => filter::user_log(&home, &format!("{} to <{}> not sent: {e}", out.what, out.to)),
            }
        }
    }
    outcome
}

/// Records `keys` in the duplicate store. A key that cannot be written costs only a possible
/// duplicate later, never the message: the delivery's outcome stands.
fn record(dupes: &Duplicates, keys: &[([u8; 32], u64)], now: u64) {
    for (key, expiry) in keys.iter().filter(|(_, e)| *e > now) {
        if let Err(e) = dupes.record(key, *expiry, now) {
            tracing::warn!(error = %e, "duplicate store not updated");
        }
    }
}

/// [`record`] from async code.
async fn record_later(home: &Path, keys: Vec<([u8; 32], u64)>, now: u64) {
    if keys.is_empty() {
        return;
    }
    let home = home.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || record(&Duplicates::new(&home), &keys, now)).await;
}

async fn send(ctx: &Context, out: &Outgoing) -> Result<(), SubmitError> {
    ctx.submit.send(&ctx.hostname, &out.sender, &out.to, &out.message).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T
where
    Outcome: Into<T>,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(t) => t,
        Err(e) => Outcome::Temporary(format!("delivery task failed: {e}")).into(),
    }
}

impl From<Outcome> for Step {
    fn from(o: Outcome) -> Step {
        Step::Done(o)
    }
}

fn store(ctx: &Context, rcpt: &Recipient, prefix: &[u8], body: &mut File, size: u64) -> Outcome {
    let maildir = Maildir::new(&rcpt.mailbox.maildir);
    let limit = Quota { bytes: rcpt.mailbox.quota, messages: 0 };
    if let Err(o) = check_quota(ctx, rcpt, &maildir, limit, size) {
        return o;
    }
    let folder = match &rcpt.folder {
        Some(name) => match FolderName::new(name) {
            Ok(f) => Some(f),
            Err(e) => return Outcome::CannotCreate(format!("folder {name:?}: {e}")),
        },
        None => detail_folder(ctx, &maildir, rcpt),
    };
    match store_one(rcpt, &maildir, limit, folder.as_ref(), &[], prefix, body) {
        Ok(path) => Outcome::Delivered { duplicate: false, path: Some(path) },
        Err(o) => o,
    }
}

/// Stores what the user's Sieve script decided: one copy per folder, with its flags; none
/// when it discarded the message. The first failure is the outcome.
fn store_filed(
    ctx: &Context,
    rcpt: &Recipient,
    prefix: &[u8],
    plan: filter::Plan,
    original: &[u8],
) -> Outcome {
    let maildir = Maildir::new(&rcpt.mailbox.maildir);
    let limit = Quota { bytes: rcpt.mailbox.quota, messages: 0 };
    if plan.filings.is_empty() {
        return Outcome::Delivered { duplicate: false, path: None };
    }
    let size: u64 = plan.filings.iter().map(|f| (prefix.len() + copy(f, original).len()) as u64).sum();
    if let Err(o) = check_quota(ctx, rcpt, &maildir, limit, size) {
        return o;
    }
    let mut first = None;
    for filing in &plan.filings {
        let message = copy(filing, original);
        match store_one(
            rcpt,
            &maildir,
            limit,
            filing.folder.as_ref(),
            &filing.flags,
            prefix,
            &mut &message[..],
        ) {
            Ok(path) => {
                first.get_or_insert(path);
            }
            Err(o) => return o,
        }
    }
    Outcome::Delivered { duplicate: false, path: first }
}

/// The bytes a filing stores: its edited message, else the message as received.
fn copy<'a>(f: &'a filter::Filing, original: &'a [u8]) -> &'a [u8] {
    f.edited.as_deref().unwrap_or(original)
}

fn check_quota(
    ctx: &Context,
    rcpt: &Recipient,
    maildir: &Maildir,
    limit: Quota,
    size: u64,
) -> Result<(), Outcome> {
    match quota::check(maildir, limit, size) {
        Ok(()) => Ok(()),
        Err(QuotaError::Over(o)) => {
            tracing::info!(mailbox = %rcpt.mailbox.address, "{o}");
            Err(Outcome::OverQuota { temporary: ctx.cfg.quota_full_tempfail })
        }
        Err(QuotaError::Io(e)) => Err(Outcome::Temporary(format!("quota: {e}"))),
    }
}

/// One copy into `folder` (created when missing), then its flags: a flagged message is moved
/// from new/ to cur/ with them in its name, as Dovecot's LDA stores it.
fn store_one(
    rcpt: &Recipient,
    maildir: &Maildir,
    limit: Quota,
    folder: Option<&FolderName>,
    flags: &[String],
    prefix: &[u8],
    body: &mut dyn Read,
) -> Result<PathBuf, Outcome> {
    let start = std::time::Instant::now();
    let written = maildir.deliver(folder, prefix, body);
    crate::metrics::maildir_written(start);
    let d = match written {
        Ok(d) => d,
        Err(e) if e.is_storage_full() => return Err(Outcome::DiskFull),
        Err(e @ DeliverError::Temporary(_)) => return Err(Outcome::Temporary(e.to_string())),
        Err(e @ DeliverError::Permission(_)) => return Err(Outcome::Permission(e.to_string())),
        Err(e @ DeliverError::CannotCreate { .. }) => return Err(Outcome::CannotCreate(e.to_string())),
    };
    if let Err(e) = quota::add(maildir, limit, d.size as i64, 1) {
        // The message is safe; only the quota bookkeeping lags until the next rebuild.
        tracing::warn!(mailbox = %rcpt.mailbox.address, error = %e, "maildirsize not updated");
    }
    if flags.is_empty() {
        return Ok(d.path);
    }
    let dir = maildir.folder_path(folder);
    match with_flags(&dir, &d.path, flags) {
        Ok(p) => Ok(p),
        Err(e) => {
            // Stored without its flags: better than not at all.
            tracing::warn!(mailbox = %rcpt.mailbox.address, error = %e, "flags not set");
            Ok(d.path)
        }
    }
}

/// Moves a new message to cur/ with `flags` (system flags as letters, keywords through
/// `dovecot-keywords`).
fn with_flags(dir: &Path, path: &Path, flags: &[String]) -> std::io::Result<PathBuf> {
    let mut f = Flags::empty();
    let mut keywords = Keywords::load(dir)?;
    for name in flags {
        let system = match name.to_ascii_lowercase().as_str() {
            "\\seen" => Some(Flag::Seen),
            "\\answered" => Some(Flag::Replied),
            "\\flagged" => Some(Flag::Flagged),
            "\\deleted" => Some(Flag::Deleted),
            "\\draft" => Some(Flag::Draft),
            _ => None,
        };
        match system {
            Some(fl) => f.set(fl, true),
            None => match keywords.intern(dir, name, 0o600) {
                Ok(i) => f.set_keyword(i, true),
                Err(e) => tracing::warn!(keyword = %name, error = ?e, "keyword not stored"),
            },
        }
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let target = dir.join("cur").join(format!("{name}:{}", f.to_info()));
    std::fs::rename(path, &target)?;
    File::open(dir.join("cur"))?.sync_all()?;
    Ok(target)
}

/// The detail's folder, when configured and it exists (Dovecot's lmtp_save_to_detail_mailbox).
fn detail_folder(ctx: &Context, maildir: &Maildir, rcpt: &Recipient) -> Option<FolderName> {
    if !ctx.cfg.save_to_detail_mailbox {
        return None;
    }
    let folder = FolderName::new(rcpt.detail.as_deref().filter(|d| !d.is_empty())?).ok()?;
    maildir.folder_exists(&folder).ok()?.then_some(folder)
}
