//! FETCH and UID FETCH: every data item of RFC 3501 §6.4.5, and RFC 3516's BINARY[...],
//! BINARY.PEEK[...] and BINARY.SIZE[...] (a part's content with its base64 or quoted-printable
//! encoding undone by mail-parser's decoders; a multipart or the whole message is sent as it
//! is, its parts keeping their encoding). Flags, UID and sizes come from the mailbox; ENVELOPE
//! from the cached header fields; anything that needs the body reads the message file once and
//! parses it ([`crate::imap::mime`]). Fetching a body section that is not PEEK sets `\Seen` in
//! a read-write mailbox (for all those messages at once, one mod-sequence) and reports the new
//! FLAGS, with MODSEQ under CONDSTORE. RFC 7162: the MODSEQ item, the CHANGEDSINCE modifier
//! (only messages changed since, MODSEQ implied) and, for UID FETCH under QRESYNC, VANISHED
//! (the UIDs of the set expunged since, first).

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section};
use imap_codec::imap_types::sequence::SequenceSet;
use mail_parser::MimeHeaders;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mailstore::{Flag, FlagChange, MailboxError};

use super::condstore::modseq_item;
use super::session::{Selected, Session, line};
use crate::imap::extended::{Binary, FetchMods};
use crate::imap::mime::{self, Parsed, PartRef};
use crate::imap::response::{flag_list, literal};
use crate::imap::sequence::resolve;
use crate::imap::{envelope, structure};

/// Why one message's FETCH response could not be written.
enum Failed {
    Mailbox(MailboxError),
    /// A BINARY item met a transfer encoding we cannot undo (RFC 3516 §4.3).
    UnknownCte,
}

impl From<MailboxError> for Failed {
    fn from(e: MailboxError) -> Failed {
        Failed::Mailbox(e)
    }
}

impl Session {
    /// FETCH and UID FETCH.
    pub(super) fn fetch(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        by_uid: bool,
        out: &mut Vec<u8>,
    ) {
        self.fetch_with(tag, set, items, by_uid, &[], &FetchMods::default(), out)
    }

    /// FETCH where the items at the indexes in `binary` are BINARY items (written by
    /// [`crate::imap::extended`] as BODY.PEEK items), and what `mods` says of MODSEQ items
    /// (written as UID) and modifiers.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fetch_with(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'_>,
        by_uid: bool,
        binary: &[(usize, Binary)],
        mods: &FetchMods,
        out: &mut Vec<u8>,
    ) {
        let (changed_since, vanished) = (mods.modifiers.changed_since, mods.modifiers.vanished);
        let wants_modseq = !mods.modseq_at.is_empty() || changed_since.is_some();
        if let Some(why) = self.fetch_refusal(wants_modseq, vanished, by_uid) {
            return line(out, &format!("{tag} BAD {why}"));
        }
        if wants_modseq {
            self.enable_condstore(out);
        }
        if let (true, Some(since)) = (vanished, changed_since) {
            self.fetch_vanished(set, since, out);
        }
        let rev2 = self.rev2;
        let Some(sel) = self.selected.as_mut() else { return };
        let condstore = self.condstore && sel.mb.highest_modseq() != 0;
        let macro_name;
        let mut items = match items {
            MacroOrMessageDataItemNames::Macro(m) => {
                macro_name = m;
                macro_name.expand()
            }
            MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
        };
        let mut kinds: Vec<Kind> = vec![Kind::Plain; items.len()];
        for &(i, b) in binary {
            if let Some(k) = kinds.get_mut(i) {
                *k = Kind::Binary(b);
            }
        }
        for &i in &mods.modseq_at {
            if let Some(k) = kinds.get_mut(i) {
                *k = Kind::Modseq;
            }
        }
        let asks_uid =
            items.iter().zip(&kinds).any(|(n, k)| *n == MessageDataItemName::Uid && *k == Kind::Plain);
        if by_uid && !asks_uid {
            items.insert(0, MessageDataItemName::Uid);
            kinds.insert(0, Kind::Plain);
        }
        if changed_since.is_some() && mods.modseq_at.is_empty() {
            // CHANGEDSINCE implies MODSEQ (RFC 7162 §3.1.4.1).
            items.push(MessageDataItemName::Uid);
            kinds.push(Kind::Modseq);
        }
        let items: Vec<Item<'_, '_>> =
            items.iter().zip(kinds).map(|(name, kind)| Item { name, kind }).collect();
        let uids: Vec<u32> = sel.mb.messages().iter().map(|m| m.uid()).collect();
        let picked: Vec<usize> = resolve(set, &uids, by_uid)
            .into_iter()
            .filter(|&i| changed_since.is_none_or(|n| sel.mb.messages()[i].modseq() > n))
            .collect();
        sel.announce_keywords(out);
        let seen_now = set_seen(sel, &picked, &items, &self.user);
        let (mut failed, mut unknown_cte) = (false, false);
        for i in picked {
            let ctx = MessageContext { rev2, condstore, seen_now: seen_now.binary_search(&uids[i]).is_ok() };
            match message(sel, i, uids[i], &items, &ctx, out) {
                Ok(()) => {}
                // Gone under us: nothing to send for it (RFC 3501 §7.4.1 allows us to omit it).
                Err(Failed::Mailbox(MailboxError::Expunged(_))) => {}
                Err(Failed::UnknownCte) => unknown_cte = true,
                Err(Failed::Mailbox(e)) => {
                    tracing::warn!("imap user={} fetch UID {}: {e}", self.user, uids[i]);
                    failed = true;
                }
            }
            if !super::output::spill(&self.spill, out) {
                break;
            }
        }
        if let Err(e) = sel.mb.save_cache() {
            tracing::debug!("imap user={} cache: {e}", self.user);
        }
        match (failed, unknown_cte) {
            (true, _) => line(out, &format!("{tag} NO [SERVERBUG] Some messages could not be read.")),
            (_, true) => line(out, &format!("{tag} NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding.")),
            _ => line(out, &format!("{tag} OK Fetch completed.")),
        }
    }
}

impl Session {
    /// Why a FETCH with CONDSTORE parts cannot run (RFC 7162: BAD), if it cannot.
    fn fetch_refusal(&self, wants_modseq: bool, vanished: bool, by_uid: bool) -> Option<&'static str> {
        let no_modseqs = self.selected.as_ref().is_some_and(|s| s.mb.highest_modseq() == 0);
        if wants_modseq && no_modseqs {
            Some("The mailbox has no mod-sequences (NOMODSEQ).")
        } else if vanished && !by_uid {
            Some("VANISHED needs UID FETCH.")
        } else if vanished && !self.qresync {
            Some("VANISHED needs QRESYNC enabled.")
        } else {
            None
        }
    }
}

/// What a FETCH item is: as imap-codec parsed it, a BINARY one written as BODY.PEEK, or MODSEQ
/// written as UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Binary(Binary),
    Modseq,
}

/// One FETCH item: as imap-codec parsed it, and what it asks.
struct Item<'n, 'a> {
    name: &'n MessageDataItemName<'a>,
    kind: Kind,
}

/// Whether an item needs the message text.
fn needs_text(item: &Item<'_, '_>) -> bool {
    use MessageDataItemName::*;
    matches!(item.name, Body | BodyExt { .. } | BodyStructure | Rfc822 | Rfc822Header | Rfc822Text)
}

/// Whether an item sets `\Seen`.
fn sets_seen(item: &Item<'_, '_>) -> bool {
    use MessageDataItemName::*;
    match item.kind {
        Kind::Binary(b) => b == Binary::Content { peek: false },
        Kind::Modseq => false,
        Kind::Plain => matches!(item.name, BodyExt { peek: false, .. } | Rfc822 | Rfc822Text),
    }
}

/// Sets `\Seen` on the `picked` messages that lack it when the items read a body without PEEK
/// (in one store: one mod-sequence); the UIDs it changed.
fn set_seen(sel: &mut Selected, picked: &[usize], items: &[Item<'_, '_>], user: &str) -> Vec<u32> {
    if sel.read_only || !items.iter().any(sets_seen) {
        return Vec::new();
    }
    let mut seen = mailstore::Flags::empty();
    seen.set(Flag::Seen, true);
    let changes: Vec<(u32, FlagChange)> = picked
        .iter()
        .map(|&i| &sel.mb.messages()[i])
        .filter(|m| !m.flags().has(Flag::Seen))
        .map(|m| (m.uid(), FlagChange::Add(seen.clone())))
        .collect();
    if changes.is_empty() {
        return Vec::new();
    }
    match sel.mb.store(&changes, None) {
        Ok(s) => {
            let mut changed = s.changed;
            changed.sort_unstable();
            changed
        }
        Err(e) => {
            tracing::warn!("imap user={user} fetch: setting \\Seen: {e}");
            Vec::new()
        }
    }
}

/// What one message's FETCH line depends on besides its items.
struct MessageContext {
    rev2: bool,
    condstore: bool,
    /// This FETCH set its `\Seen`: FLAGS (and MODSEQ under CONDSTORE) are sent.
    seen_now: bool,
}

/// One `* n FETCH (...)` line.
fn message(
    sel: &mut Selected,
    i: usize,
    uid: u32,
    items: &[Item<'_, '_>],
    mc: &MessageContext,
    out: &mut Vec<u8>,
) -> Result<(), Failed> {
    let rev2 = mc.rev2;
    let mut text = None;
    let mut mtime = None;
    let wants_date = items.iter().any(|it| *it.name == MessageDataItemName::InternalDate);
    if items.iter().any(needs_text) || wants_date {
        let (mut f, path) = sel.mb.open_message(uid)?;
        let io = |source| MailboxError::Io { path: path.clone(), source };
        mtime = Some(f.metadata().and_then(|m| m.modified()).map_err(io)?);
        if items.iter().any(needs_text) {
            let mut raw = Vec::new();
            f.read_to_end(&mut raw).map_err(io)?;
            text = Some(mime::to_crlf(&raw));
        }
    }
    let flags_changed = mc.seen_now;
    let parsed = text.as_deref().map(Parsed::new);
    let ctx = ItemContext { parsed: parsed.as_ref(), mtime, rev2 };
    let mut buf = format!("* {} FETCH (", i + 1).into_bytes();
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            buf.push(b' ');
        }
        match (item.kind, item.name) {
            (Kind::Binary(b), MessageDataItemName::BodyExt { section, partial, .. }) => {
                binary_data(ctx.parsed.expect("text read"), b, section.as_ref(), *partial, &mut buf)?
            }
            (Kind::Modseq, _) => {
                let m = sel.mb.message(uid).ok_or(MailboxError::Expunged(uid))?;
                buf.extend_from_slice(modseq_item(m.modseq()).trim_start().as_bytes());
            }
            _ => item_data(sel, uid, item.name, &ctx, &mut buf)?,
        }
    }
    let asked = |want: &MessageDataItemName<'_>, kind: Kind| {
        items.iter().any(|it| it.name == want && it.kind == kind)
    };
    if flags_changed && !asked(&MessageDataItemName::Flags, Kind::Plain) {
        buf.push(b' ');
        let ctx = ItemContext { parsed: None, mtime: None, rev2 };
        item_data(sel, uid, &MessageDataItemName::Flags, &ctx, &mut buf)?;
    }
    if flags_changed && mc.condstore && !items.iter().any(|it| it.kind == Kind::Modseq) {
        let m = sel.mb.message(uid).ok_or(MailboxError::Expunged(uid))?;
        buf.extend_from_slice(modseq_item(m.modseq()).as_bytes());
    }
    buf.extend_from_slice(b")\r\n");
    out.extend_from_slice(&buf);
    Ok(())
}

/// What the items of one message share.
struct ItemContext<'p, 'a> {
    parsed: Option<&'p Parsed<'a>>,
    mtime: Option<SystemTime>,
    /// IMAP4rev2: no `\Recent`.
    rev2: bool,
}

fn item_data(
    sel: &mut Selected,
    uid: u32,
    item: &MessageDataItemName<'_>,
    ctx: &ItemContext<'_, '_>,
    out: &mut Vec<u8>,
) -> Result<(), MailboxError> {
    use MessageDataItemName::*;
    let (parsed, mtime) = (ctx.parsed, ctx.mtime);
    let raw = parsed.map(|p| p.raw).unwrap_or(b"");
    match item {
        Uid => out.extend_from_slice(format!("UID {uid}").as_bytes()),
        Flags => {
            let m = sel.mb.message(uid).ok_or(MailboxError::Expunged(uid))?;
            let recent = !ctx.rev2 && sel.recent.contains(&uid);
            let list = flag_list(m.flags(), sel.mb.keywords(), recent);
            out.extend_from_slice(format!("FLAGS {list}").as_bytes());
        }
        Rfc822Size => {
            let size = match sel.mb.message(uid).and_then(|m| m.vsize()) {
                Some(s) => s,
                None => sel.mb.cached_entry(uid)?.vsize.unwrap_or(0),
            };
            out.extend_from_slice(format!("RFC822.SIZE {size}").as_bytes());
        }
        InternalDate => out.extend_from_slice(
            format!("INTERNALDATE \"{}\"", internal_date(mtime.unwrap_or(UNIX_EPOCH))).as_bytes(),
        ),
        Envelope => {
            let header = sel.mb.envelope_headers(uid)?;
            out.extend_from_slice(b"ENVELOPE ");
            envelope::write(out, &header);
        }
        Body | BodyStructure => {
            out.extend_from_slice(if *item == Body { b"BODY " } else { b"BODYSTRUCTURE " });
            structure::write(out, parsed.expect("text read"), *item == BodyStructure);
        }
        Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            literal(out, raw);
        }
        Rfc822Header => {
            out.extend_from_slice(b"RFC822.HEADER ");
            literal(
                out,
                section(parsed.expect("text read"), Some(&Section::Header(None))).as_deref().unwrap_or(b""),
            );
        }
        Rfc822Text => {
            out.extend_from_slice(b"RFC822.TEXT ");
            literal(
                out,
                section(parsed.expect("text read"), Some(&Section::Text(None))).as_deref().unwrap_or(b""),
            );
        }
        BodyExt { section: sec, partial, .. } => {
            let data = section(parsed.expect("text read"), sec.as_ref());
            out.extend_from_slice(b"BODY[");
            section_name(sec.as_ref(), out);
            out.push(b']');
            let data = data.unwrap_or_default();
            match partial {
                None => {
                    out.push(b' ');
                    literal(out, &data);
                }
                Some((start, len)) => {
                    out.extend_from_slice(format!("<{start}> ").as_bytes());
                    let s = (*start as usize).min(data.len());
                    let e = s.saturating_add(len.get() as usize).min(data.len());
                    literal(out, &data[s..e]);
                }
            }
        }
    }
    Ok(())
}

/// `BINARY[part]<partial> data` or `BINARY.SIZE[part] n`: a missing part is empty.
fn binary_data(
    parsed: &Parsed<'_>,
    kind: Binary,
    sec: Option<&Section<'_>>,
    partial: Option<(u32, std::num::NonZeroU32)>,
    out: &mut Vec<u8>,
) -> Result<(), Failed> {
    let data = decoded(parsed, sec)?.unwrap_or_default();
    let mut name = Vec::new();
    section_name(sec, &mut name);
    let name = String::from_utf8_lossy(&name);
    if kind == Binary::Size {
        out.extend_from_slice(format!("BINARY.SIZE[{name}] {}", data.len()).as_bytes());
        return Ok(());
    }
    out.extend_from_slice(format!("BINARY[{name}]").as_bytes());
    let data = match partial {
        None => &data[..],
        Some((start, len)) => {
            out.extend_from_slice(format!("<{start}>").as_bytes());
            let s = (start as usize).min(data.len());
            &data[s..s.saturating_add(len.get() as usize).min(data.len())]
        }
    };
    out.push(b' ');
    // A NUL can only travel in a literal8 (RFC 3516 §4.2).
    if data.contains(&0) {
        out.push(b'~');
    }
    literal(out, data);
    Ok(())
}

/// A section with its Content-Transfer-Encoding undone; `None` when the part does not exist.
/// Only a leaf part has an encoding to undo: the whole message and multiparts go as they are.
fn decoded(p: &Parsed<'_>, sec: Option<&Section<'_>>) -> Result<Option<Vec<u8>>, Failed> {
    let Some(raw) = section(p, sec) else { return Ok(None) };
    let (Some(msg), Some(Section::Part(part))) = (p.msg.as_ref(), sec) else { return Ok(Some(raw)) };
    let Some(pr) = mime::find(msg, part.0.as_ref()) else { return Ok(None) };
    let mime_part = pr.part();
    if matches!(mime_part.body, mail_parser::PartType::Multipart(_) | mail_parser::PartType::Message(_)) {
        return Ok(Some(raw));
    }
    let cte = mime_part.content_transfer_encoding().unwrap_or("7bit").trim().to_ascii_lowercase();
    match cte.as_str() {
        "7bit" | "8bit" | "binary" => Ok(Some(raw)),
        "base64" => base64_decode(&raw).map(Some).ok_or(Failed::UnknownCte),
        "quoted-printable" => quoted_printable_decode(&raw).map(Some).ok_or(Failed::UnknownCte),
        _ => Err(Failed::UnknownCte),
    }
}

/// The bytes of a section (`None`: the whole message); `None` when the part does not exist.
fn section(p: &Parsed<'_>, sec: Option<&Section<'_>>) -> Option<Vec<u8>> {
    let raw = p.raw;
    let Some(sec) = sec else { return Some(raw.to_vec()) };
    let Some(msg) = p.msg.as_ref() else {
        // No header at all: the whole text is the body.
        return match sec {
            Section::Header(None) | Section::HeaderFields(None, _) | Section::HeaderFieldsNot(None, _) => {
                Some(b"\r\n".to_vec())
            }
            _ => Some(raw.to_vec()),
        };
    };
    let root = PartRef { msg, index: 0 };
    // The message a HEADER/TEXT section with part numbers refers to: a message/rfc822 part.
    let enclosed = |part: &imap_codec::imap_types::fetch::Part| {
        let pr = mime::find(msg, part.0.as_ref())?;
        match &pr.part().body {
            mail_parser::PartType::Message(inner) => Some(PartRef { msg: inner, index: 0 }),
            _ => None,
        }
    };
    let range = |r: Option<std::ops::Range<usize>>| r.map(|r| raw[r].to_vec());
    match sec {
        Section::Part(part) => {
            range(mime::find(msg, part.0.as_ref()).and_then(|pr| mime::body_range(raw, pr)))
        }
        Section::Mime(part) => {
            range(mime::find(msg, part.0.as_ref()).and_then(|pr| mime::header_range(raw, pr)))
        }
        Section::Header(None) => range(mime::header_range(raw, root)),
        Section::Header(Some(part)) => range(enclosed(part).and_then(|pr| mime::header_range(raw, pr))),
        Section::Text(None) => range(mime::body_range(raw, root)),
        // The enclosed message's body runs to the end of the part (a multipart's epilogue too).
        Section::Text(Some(part)) => {
            let start = mime::body_range(raw, enclosed(part)?)?.start;
            let end = mime::body_range(raw, mime::find(msg, part.0.as_ref())?)?.end;
            (start <= end).then(|| raw[start..end].to_vec())
        }
        Section::HeaderFields(part, names) | Section::HeaderFieldsNot(part, names) => {
            let pr = match part {
                None => Some(root),
                Some(part) => enclosed(part),
            };
            let header = range(pr.and_then(|pr| mime::header_range(raw, pr)))?;
            let names: Vec<Vec<u8>> = names.as_ref().iter().map(|n| n.as_ref().to_vec()).collect();
            Some(mime::header_fields(&header, &names, matches!(sec, Section::HeaderFieldsNot(..))))
        }
    }
}

/// Writes a section specification back as the client sent it (`1.2.HEADER.FIELDS (A B)`).
fn section_name(sec: Option<&Section<'_>>, out: &mut Vec<u8>) {
    let Some(sec) = sec else { return };
    let part = |p: Option<&imap_codec::imap_types::fetch::Part>, out: &mut Vec<u8>, dot: bool| {
        if let Some(p) = p {
            let nums: Vec<String> = p.0.as_ref().iter().map(|n| n.to_string()).collect();
            out.extend_from_slice(nums.join(".").as_bytes());
            if dot {
                out.push(b'.');
            }
        }
    };
    match sec {
        Section::Part(p) => part(Some(p), out, false),
        Section::Mime(p) => {
            part(Some(p), out, true);
            out.extend_from_slice(b"MIME");
        }
        Section::Header(p) => {
            part(p.as_ref(), out, true);
            out.extend_from_slice(b"HEADER");
        }
        Section::Text(p) => {
            part(p.as_ref(), out, true);
            out.extend_from_slice(b"TEXT");
        }
        Section::HeaderFields(p, names) | Section::HeaderFieldsNot(p, names) => {
            part(p.as_ref(), out, true);
            let not = if matches!(sec, Section::HeaderFieldsNot(..)) { ".NOT" } else { "" };
            out.extend_from_slice(format!("HEADER.FIELDS{not} (").as_bytes());
            for (i, n) in names.as_ref().iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                let n: &[u8] = n.as_ref();
                // As the client most likely sent it: an atom when it can be one.
                if !n.is_empty() && n.iter().all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(b)) {
                    out.extend_from_slice(n);
                } else {
                    crate::imap::response::string(out, n);
                }
            }
            out.push(b')');
        }
    }
}

/// `17-Jul-1996 02:44:25 +0000` (RFC 3501 date-time), in UTC.
pub(super) fn internal_date(t: SystemTime) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    format!(
        "{d:02}-{}-{y} {:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub(super) fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn internal_dates() {
        assert_eq!(super::internal_date(super::UNIX_EPOCH), "01-Jan-1970 00:00:00 +0000");
        let t = super::UNIX_EPOCH + Duration::from_secs(837_571_465);
        assert_eq!(super::internal_date(t), "17-Jul-1996 02:44:25 +0000");
    }
}
