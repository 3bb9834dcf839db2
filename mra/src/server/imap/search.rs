//! SEARCH and UID SEARCH with every RFC 3501 criterion, answered with `* SEARCH` or, for RETURN
//! options and under IMAP4rev2, `* ESEARCH` (RFC 4731), saving the result for `$` when asked
//! (RFC 5182), and RFC 7162's MODSEQ key, which adds the highest mod-sequence of the matches
//! to the answer (`(MODSEQ n)`, or ` MODSEQ n` in ESEARCH). Strings in US-ASCII or UTF-8, matched
//! case-insensitively as substrings. Header criteria match the raw field and its decoded
//! form (encoded words, address names); BODY and TEXT match the decoded text parts and the raw
//! body. The message file is read only for criteria that need it.

use std::io::Read;
use std::time::UNIX_EPOCH;

use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::datetime::NaiveDate;
use imap_codec::imap_types::search::SearchKey;
use mail_parser::{Address, HeaderName, Message, MessageParser};
use mailstore::{Flag, MailboxError};

use super::session::{Selected, Session, line};
use crate::imap::condstore::MODSEQ_KEY;
use crate::imap::esearch::Return;
use crate::imap::sequence::resolve;

/// What one message offers to the criteria, read lazily.
struct Candidate<'s> {
    sel: &'s mut Selected,
    index: usize,
    uid: u32,
    uids: &'s [u32],
    text: Option<Vec<u8>>,
    mtime_days: Option<i64>,
    /// `HEADER X-Mailroom-Modseq n` is the MODSEQ key (the command was rewritten so).
    modseq_key: bool,
}

impl Session {
    /// SEARCH and UID SEARCH; `ret`: answer with ESEARCH; `modseq_key`: the key holds MODSEQ.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn search(
        &mut self,
        tag: &str,
        charset: Option<&Charset<'_>>,
        key: &SearchKey<'_>,
        by_uid: bool,
        ret: Option<Return>,
        modseq_key: bool,
        out: &mut Vec<u8>,
    ) {
        if modseq_key {
            if self.selected.as_ref().is_some_and(|s| s.mb.highest_modseq() == 0) {
                return line(out, &format!("{tag} BAD The mailbox has no mod-sequences (NOMODSEQ)."));
            }
            self.enable_condstore(out);
        }
        if !charset_ok(charset) {
            // A SEARCH that fails saves an empty result (RFC 5182 §2.1).
            if let (Some(sel), Some(true)) = (self.selected.as_mut(), ret.map(|r| r.save)) {
                sel.saved = Box::default();
            }
            return line(out, &format!("{tag} NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset."));
        }
        let indexes = self.matching(key, modseq_key);
        let Some(sel) = self.selected.as_mut() else { return };
        let msgs = sel.mb.messages();
        let found_uids: Vec<u32> = indexes.iter().map(|&i| msgs[i].uid()).collect();
        let modseqs: Vec<u64> = indexes.iter().map(|&i| msgs[i].modseq()).collect();
        let found: Vec<u32> =
            if by_uid { found_uids.clone() } else { indexes.iter().map(|&i| i as u32 + 1).collect() };
        match ret {
            None => {
                let list: String = found.iter().map(|n| format!(" {n}")).collect();
                let highest = modseqs.iter().max().filter(|_| modseq_key);
                let modseq = highest.map(|m| format!(" (MODSEQ {m})")).unwrap_or_default();
                line(out, &format!("* SEARCH{list}{modseq}"));
            }
            Some(r) => {
                if r.save {
                    sel.saved = r.saved(&found_uids).into_boxed_slice();
                }
                if let Some(resp) = r.response(tag, by_uid, &found) {
                    // Of the messages returned: MIN and MAX alone return only those (RFC 7162 §3.1.5).
                    let returned = if (r.min || r.max) && !r.all && !r.count {
                        [r.min.then(|| modseqs.first()), r.max.then(|| modseqs.last())]
                            .into_iter()
                            .flatten()
                            .flatten()
                            .max()
                    } else {
                        modseqs.iter().max()
                    };
                    let modseq =
                        returned.filter(|_| modseq_key).map(|m| format!(" MODSEQ {m}")).unwrap_or_default();
                    line(out, &format!("{resp}{modseq}"));
                }
            }
        }
        line(out, &format!("{tag} OK Search completed."));
    }
}

impl Session {
    /// The indexes of the selected mailbox's messages that match `key` (the cache saved after).
    pub(super) fn matching(&mut self, key: &SearchKey<'_>, modseq_key: bool) -> Vec<usize> {
        let Some(sel) = self.selected.as_mut() else { return Vec::new() };
        let uids: Vec<u32> = sel.mb.messages().iter().map(|m| m.uid()).collect();
        let mut found = Vec::new();
        for (index, &uid) in uids.iter().enumerate() {
            let mut c = Candidate { sel, index, uid, uids: &uids, text: None, mtime_days: None, modseq_key };
            match c.matches(key) {
                Ok(true) => found.push(index),
                Ok(false) | Err(MailboxError::Expunged(_)) => {}
                Err(e) => tracing::warn!("imap user={} search UID {uid}: {e}", self.user),
            }
        }
        if let Err(e) = sel.mb.save_cache() {
            tracing::debug!("imap user={} cache: {e}", self.user);
        }
        found
    }
}

/// Whether a SEARCH charset is one we match in (US-ASCII or UTF-8, or none given).
pub(super) fn charset_ok(charset: Option<&Charset<'_>>) -> bool {
    let Some(cs) = charset else { return true };
    let name = match cs {
        Charset::Atom(a) => a.inner().to_string(),
        Charset::Quoted(q) => q.inner().to_string(),
    };
    ["UTF-8", "US-ASCII"].iter().any(|c| c.eq_ignore_ascii_case(&name))
}

impl Candidate<'_> {
    fn flag(&self, f: Flag) -> bool {
        self.sel.mb.message(self.uid).is_some_and(|m| m.flags().has(f))
    }

    fn keyword(&self, name: &str) -> bool {
        let Some(m) = self.sel.mb.message(self.uid) else { return false };
        let kw = self.sel.mb.keywords();
        if name.eq_ignore_ascii_case("$Forwarded") {
            return m.flags().has(Flag::Passed);
        }
        m.flags().keyword_indexes().any(|i| kw.name(i).is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    fn text(&mut self) -> Result<&[u8], MailboxError> {
        if self.text.is_none() {
            let (mut f, path) = self.sel.mb.open_message(self.uid)?;
            let mut raw = Vec::new();
            f.read_to_end(&mut raw).map_err(|source| MailboxError::Io { path, source })?;
            self.text = Some(raw);
        }
        Ok(self.text.as_deref().unwrap_or_default())
    }

    fn internal_days(&mut self) -> Result<i64, MailboxError> {
        if let Some(d) = self.mtime_days {
            return Ok(d);
        }
        let (f, path) = self.sel.mb.open_message(self.uid)?;
        let t =
            f.metadata().and_then(|m| m.modified()).map_err(|source| MailboxError::Io { path, source })?;
        let days = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64) / 86_400;
        self.mtime_days = Some(days);
        Ok(days)
    }

    fn size(&mut self) -> Result<u64, MailboxError> {
        match self.sel.mb.message(self.uid).and_then(|m| m.vsize()) {
            Some(s) => Ok(s),
            None => Ok(self.sel.mb.cached_entry(self.uid)?.vsize.unwrap_or(0)),
        }
    }

    fn matches(&mut self, key: &SearchKey<'_>) -> Result<bool, MailboxError> {
        use SearchKey::*;
        let recent = self.sel.recent.contains(&self.uid);
        Ok(match key {
            And(keys) => {
                for k in keys.as_ref() {
                    if !self.matches(k)? {
                        return Ok(false);
                    }
                }
                true
            }
            Or(a, b) => self.matches(a)? || self.matches(b)?,
            Not(k) => !self.matches(k)?,
            All => true,
            SequenceSet(set) => resolve(set, self.uids, false).binary_search(&self.index).is_ok(),
            Uid(set) => resolve(set, self.uids, true).binary_search(&self.index).is_ok(),
            Answered => self.flag(Flag::Replied),
            Unanswered => !self.flag(Flag::Replied),
            Deleted => self.flag(Flag::Deleted),
            Undeleted => !self.flag(Flag::Deleted),
            Draft => self.flag(Flag::Draft),
            Undraft => !self.flag(Flag::Draft),
            Flagged => self.flag(Flag::Flagged),
            Unflagged => !self.flag(Flag::Flagged),
            Seen => self.flag(Flag::Seen),
            Unseen => !self.flag(Flag::Seen),
            Recent => recent,
            Old => !recent,
            New => recent && !self.flag(Flag::Seen),
            Keyword(k) => self.keyword(k.inner()),
            Unkeyword(k) => !self.keyword(k.inner()),
            Larger(n) => self.size()? > u64::from(*n),
            Smaller(n) => self.size()? < u64::from(*n),
            Before(d) => self.internal_days()? < days(d),
            On(d) => self.internal_days()? == days(d),
            Since(d) => self.internal_days()? >= days(d),
            SentBefore(d) => self.sent_days()?.is_some_and(|s| s < days(d)),
            SentOn(d) => self.sent_days()?.is_some_and(|s| s == days(d)),
            SentSince(d) => self.sent_days()?.is_some_and(|s| s >= days(d)),
            From(s) => self.header(HeaderName::From, s.as_ref())?,
            To(s) => self.header(HeaderName::To, s.as_ref())?,
            Cc(s) => self.header(HeaderName::Cc, s.as_ref())?,
            Bcc(s) => self.header(HeaderName::Bcc, s.as_ref())?,
            Subject(s) => self.header(HeaderName::Subject, s.as_ref())?,
            Header(name, s)
                if self.modseq_key && name.as_ref().eq_ignore_ascii_case(MODSEQ_KEY.as_bytes()) =>
            {
                // MODSEQ n: changed at or after n (RFC 7162 §3.1.5).
                let n: u64 = String::from_utf8_lossy(s.as_ref()).parse().unwrap_or(u64::MAX);
                self.sel.mb.message(self.uid).is_some_and(|m| m.modseq() >= n)
            }
            Header(name, s) => {
                let name = String::from_utf8_lossy(name.as_ref()).into_owned();
                self.header(HeaderName::parse(name).unwrap_or(HeaderName::Other("".into())), s.as_ref())?
            }
            Body(s) => self.body(s.as_ref(), false)?,
            Text(s) => self.body(s.as_ref(), true)?,
        })
    }

    fn sent_days(&mut self) -> Result<Option<i64>, MailboxError> {
        let text = self.text()?;
        let Some(m) = MessageParser::new().parse_headers(text) else { return Ok(None) };
        Ok(m.date().map(|d| days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day))))
    }

    fn header(&mut self, name: HeaderName<'_>, needle: &[u8]) -> Result<bool, MailboxError> {
        let needle = lower(needle);
        // The envelope fields are in mailroom.cache: no need to open the message.
        let cached;
        let text = if mailstore::cache::ENVELOPE_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name.as_str()))
        {
            cached = self.sel.mb.envelope_headers(self.uid)?;
            &cached[..]
        } else {
            self.text()?
        };
        let Some(m) = MessageParser::new().parse_headers(text) else { return Ok(false) };
        let mut hay = String::new();
        for h in m.headers().iter().filter(|h| h.name.as_str().eq_ignore_ascii_case(name.as_str())) {
            let raw = text.get(h.offset_start as usize..h.offset_end as usize).unwrap_or_default();
            hay.push_str(&String::from_utf8_lossy(raw));
            hay.push(' ');
            match &h.value {
                mail_parser::HeaderValue::Text(t) => hay.push_str(t),
                mail_parser::HeaderValue::Address(a) => hay.push_str(&address_text(a)),
                _ => {}
            }
            hay.push(' ');
        }
        // HEADER name "" matches every message that has the field (RFC 3501 §6.4.4).
        Ok(if needle.is_empty() { !hay.is_empty() } else { hay.to_lowercase().contains(&needle) })
    }

    fn body(&mut self, needle: &[u8], with_header: bool) -> Result<bool, MailboxError> {
        let needle = lower(needle);
        let text = self.text()?;
        let Some(m) = MessageParser::new().parse(text) else {
            return Ok(String::from_utf8_lossy(text).to_lowercase().contains(&needle));
        };
        if with_header {
            let header = &text[..(m.root_part().offset_body as usize).min(text.len())];
            if String::from_utf8_lossy(header).to_lowercase().contains(&needle)
                || decoded_headers(&m).contains(&needle)
            {
                return Ok(true);
            }
        }
        let body = &text[(m.root_part().offset_body as usize).min(text.len())..];
        if String::from_utf8_lossy(body).to_lowercase().contains(&needle) {
            return Ok(true);
        }
        Ok(m.parts
            .iter()
            .filter(|p| p.is_text())
            .any(|p| p.text_contents().is_some_and(|t| t.to_lowercase().contains(&needle))))
    }
}

fn decoded_headers(m: &Message<'_>) -> String {
    let mut s = m.subject().unwrap_or_default().to_string();
    for a in [m.from(), m.to(), m.cc(), m.bcc()].into_iter().flatten() {
        s.push(' ');
        s.push_str(&address_text(a));
    }
    s.to_lowercase()
}

fn address_text(a: &Address<'_>) -> String {
    a.iter()
        .map(|x| format!("{} <{}>", x.name.as_deref().unwrap_or(""), x.address.as_deref().unwrap_or("")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn lower(s: &[u8]) -> String {
    String::from_utf8_lossy(s).to_lowercase()
}

/// Days since 1970-01-01 of a SEARCH date.
fn days(d: &NaiveDate) -> i64 {
    let s = d.as_ref().to_string();
    let mut it = s.split('-').map(|p| p.parse::<i64>().unwrap_or(0));
    let (y, m, dd) = (it.next().unwrap_or(1970), it.next().unwrap_or(1), it.next().unwrap_or(1));
    days_from_civil(y, m, dd)
}

/// (year, month, day) to days since 1970-01-01 (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_days_round_trip() {
        assert_eq!(super::days_from_civil(1970, 1, 1), 0);
        assert_eq!(super::days_from_civil(1996, 7, 17), 9694);
        assert_eq!(super::super::fetch::civil(9694), (1996, 7, 17));
    }
}
