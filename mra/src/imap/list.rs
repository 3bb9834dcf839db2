//! LIST and LSUB: the command, in its RFC 3501 form or with RFC 5258's LIST-EXTENDED selection
//! and return options (SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE of RFC 6154, CHILDREN,
//! STATUS of RFC 5819 LIST-STATUS, several patterns), and which names it answers with which
//! attributes, worked out from the folder names and subscriptions the session read.
//!
//! The attributes follow Dovecot's Maildir++ behaviour: a parent that exists only through its
//! children (`.A.B` without `.A`) is `\Noselect` in a basic LIST and `\NonExistent` in an
//! extended one (and under IMAP4rev2); a basic LIST always says `\HasChildren` or
//! `\HasNoChildren` and the special use, an extended one only when asked.

use std::collections::BTreeSet;

use mailstore::mutf7;

use super::args::Arg;
use super::names::{self, SEPARATOR};
use super::status::{self, StatusItem};

/// RFC 5258 selection options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only subscribed names (they need not exist).
    pub subscribed: bool,
    /// Remote mailboxes too (we have none).
    pub remote: bool,
    /// Parents of selected names, with CHILDINFO.
    pub recursive_match: bool,
    /// Only special-use mailboxes (RFC 6154).
    pub special_use: bool,
}

/// RFC 5258 return options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Returns {
    /// `\Subscribed`.
    pub subscribed: bool,
    /// `\HasChildren` / `\HasNoChildren`.
    pub children: bool,
    /// The special-use attributes.
    pub special_use: bool,
    /// A STATUS response after each selectable mailbox (RFC 5819).
    pub status: Option<Vec<StatusItem>>,
}

/// A LIST command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListCommand {
    /// Selection options.
    pub selection: Selection,
    /// The reference name, as sent.
    pub reference: Vec<u8>,
    /// The patterns, as sent.
    pub patterns: Vec<Vec<u8>>,
    /// Return options.
    pub returns: Returns,
    /// Some RFC 5258 syntax was used: its response rules apply.
    pub extended: bool,
}

impl ListCommand {
    /// The RFC 3501 form: one reference, one pattern.
    pub fn basic(reference: &[u8], pattern: &[u8]) -> ListCommand {
        ListCommand { reference: reference.to_vec(), patterns: vec![pattern.to_vec()], ..Default::default() }
    }

    /// Parses the arguments of `LIST [(sel)] ref (pat / (pats)) [RETURN (ret)]`.
    pub fn parse(args: &[Arg]) -> Result<ListCommand, &'static str> {
        let mut cmd = ListCommand::default();
        let mut rest = args;
        if let [Arg::List(opts), tail @ ..] = rest {
            cmd.selection = selection(opts)?;
            cmd.extended = true;
            rest = tail;
        }
        let [reference, pattern, tail @ ..] = rest else {
            return Err("LIST needs a reference and a pattern");
        };
        cmd.reference = reference.astring().ok_or("Invalid reference")?.to_vec();
        cmd.patterns = match pattern {
            Arg::List(pats) if !pats.is_empty() => {
                cmd.extended = true;
                pats.iter()
                    .map(|p| p.astring().map(<[u8]>::to_vec).ok_or("Invalid pattern"))
                    .collect::<Result<_, _>>()?
            }
            Arg::List(_) => return Err("Empty pattern list"),
            p => vec![p.astring().ok_or("Invalid pattern")?.to_vec()],
        };
        match tail {
            [] => {}
            [ret, Arg::List(opts)] if ret.keyword().as_deref() == Some("RETURN") => {
                cmd.returns = returns(opts)?;
                cmd.extended = true;
            }
            _ => return Err("Invalid LIST return options"),
        }
        // Selecting implies returning (RFC 5258 §3.1, RFC 6154 §5.2).
        cmd.returns.subscribed |= cmd.selection.subscribed;
        cmd.returns.special_use |= cmd.selection.special_use;
        Ok(cmd)
    }

    /// The reference joined with each pattern, decoded to UTF-8 (modified UTF-7 unless `utf8`,
    /// IMAP4rev2's names); patterns that do not decode match nothing and are left out.
    pub fn full_patterns(&self, utf8: bool) -> Vec<String> {
        self.patterns
            .iter()
            .filter_map(|p| {
                let full = [&self.reference[..], p].concat();
                let s = std::str::from_utf8(&full).ok()?;
                if utf8 { Some(s.to_string()) } else { mutf7::decode(s) }
            })
            .collect()
    }

    /// RFC 3501's `LIST "" ""`: only the hierarchy delimiter is asked for.
    pub fn asks_delimiter(&self) -> bool {
        !self.extended && self.patterns.len() == 1 && self.patterns[0].is_empty()
    }
}

fn selection(opts: &[Arg]) -> Result<Selection, &'static str> {
    let mut s = Selection::default();
    for o in opts {
        match o.keyword().as_deref() {
            Some("SUBSCRIBED") => s.subscribed = true,
            Some("REMOTE") => s.remote = true,
            Some("RECURSIVEMATCH") => s.recursive_match = true,
            Some("SPECIAL-USE") => s.special_use = true,
            _ => return Err("Unknown LIST selection option"),
        }
    }
    // RECURSIVEMATCH qualifies another option; alone (or with REMOTE) it means nothing (§3).
    if s.recursive_match && !s.subscribed && !s.special_use {
        return Err("RECURSIVEMATCH needs another selection option");
    }
    Ok(s)
}

fn returns(opts: &[Arg]) -> Result<Returns, &'static str> {
    let mut r = Returns::default();
    let mut i = 0;
    while i < opts.len() {
        match opts[i].keyword().as_deref() {
            Some("SUBSCRIBED") => r.subscribed = true,
            Some("CHILDREN") => r.children = true,
            Some("SPECIAL-USE") => r.special_use = true,
            Some("STATUS") if r.status.is_none() => {
                i += 1;
                r.status = Some(status::parse_items(opts.get(i).ok_or("STATUS needs items")?)?);
            }
            _ => return Err("Unknown LIST return option"),
        }
        i += 1;
    }
    Ok(r)
}

/// What the session knows about the user's names.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Every mailbox that exists, INBOX included, in UTF-8.
    pub existing: BTreeSet<String>,
    /// The subscribed names (they need not exist).
    pub subscribed: BTreeSet<String>,
}

/// One name to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name in UTF-8.
    pub name: String,
    /// Its attributes, in order.
    pub attrs: Vec<&'static str>,
    /// CHILDINFO ("SUBSCRIBED"): a descendant is subscribed (RECURSIVEMATCH).
    pub child_subscribed: bool,
    /// Whether it exists and can be selected (LIST-STATUS answers for these).
    pub selectable: bool,
}

impl View {
    /// The names and attributes a LIST answers (`rev2`: IMAP4rev2 rules).
    pub fn list(&self, cmd: &ListCommand, patterns: &[String], rev2: bool) -> Vec<Entry> {
        let tree = with_parents(self.existing.iter());
        let matches = |n: &str| patterns.iter().any(|p| names::matches(p, n));
        let candidates: BTreeSet<String> = if cmd.selection.subscribed {
            let mut c: BTreeSet<String> = self.subscribed.iter().filter(|n| matches(n)).cloned().collect();
            if cmd.selection.recursive_match {
                let parents = with_parents(self.subscribed.iter());
                c.extend(
                    parents
                        .into_iter()
                        .filter(|n| matches(n) && self.has_unlisted_subscribed_child(n, patterns)),
                );
            }
            c
        } else {
            tree.iter().filter(|n| matches(n)).cloned().collect()
        };
        // Under SUBSCRIBED, subscribed names count as children too, as in Dovecot.
        let family = match cmd.selection.subscribed {
            true => tree.iter().cloned().chain(with_parents(self.subscribed.iter())).collect(),
            false => tree,
        };
        self.entries(cmd, rev2, &family, candidates.iter(), patterns)
    }

    fn entries<'n>(
        &self,
        cmd: &ListCommand,
        rev2: bool,
        family: &BTreeSet<String>,
        names: impl Iterator<Item = &'n String>,
        patterns: &[String],
    ) -> Vec<Entry> {
        let extended = cmd.extended || rev2;
        names
            .filter_map(|name| {
                let special = names::special_use(name);
                if cmd.selection.special_use && special.is_none() {
                    return None;
                }
                let exists = self.exists(name);
                let mut attrs = Vec::new();
                if cmd.returns.subscribed && self.subscribed.contains(name) {
                    attrs.push("\\Subscribed");
                }
                if !exists {
                    attrs.push(if extended { "\\NonExistent" } else { "\\Noselect" });
                }
                if !cmd.extended || cmd.returns.children {
                    attrs.push(if has_child(family, name) { "\\HasChildren" } else { "\\HasNoChildren" });
                }
                if let Some(a) = special.filter(|_| !cmd.extended || cmd.returns.special_use) {
                    attrs.push(a);
                }
                let child_subscribed =
                    cmd.selection.recursive_match && self.has_unlisted_subscribed_child(name, patterns);
                Some(Entry { name: name.clone(), attrs, child_subscribed, selectable: exists })
            })
            .collect()
    }

    /// The names LSUB answers: subscribed names that match, and (`\Noselect`) the unsubscribed
    /// parents a `%` stops at (RFC 3501 §6.3.9).
    pub fn lsub(&self, patterns: &[String]) -> Vec<Entry> {
        let matches = |n: &str| patterns.iter().any(|p| names::matches(p, n));
        with_parents(self.subscribed.iter())
            .into_iter()
            .filter(|n| matches(n))
            .filter(|n| self.subscribed.contains(n) || patterns.iter().any(|p| p.contains('%')))
            .map(|name| {
                let subscribed = self.subscribed.contains(&name);
                let attrs = if subscribed { Vec::new() } else { vec!["\\Noselect"] };
                let selectable = subscribed && self.exists(&name);
                Entry { name, attrs, child_subscribed: false, selectable }
            })
            .collect()
    }

    fn exists(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case("INBOX") || self.existing.contains(name)
    }

    /// Whether a subscribed name below `name` is not answered itself (matches none of
    /// `patterns`): only then does RECURSIVEMATCH add `name` with CHILDINFO (RFC 5258 §3.5).
    fn has_unlisted_subscribed_child(&self, name: &str, patterns: &[String]) -> bool {
        let prefix = format!("{name}{SEPARATOR}");
        self.subscribed
            .range(prefix.clone()..)
            .take_while(|n| n.starts_with(&prefix))
            .any(|n| !patterns.iter().any(|p| names::matches(p, n)))
    }
}

/// Whether some name in `set` lies below `name`.
fn has_child(set: &BTreeSet<String>, name: &str) -> bool {
    let prefix = format!("{name}{SEPARATOR}");
    set.range(prefix.clone()..).next().is_some_and(|n| n.starts_with(&prefix))
}

/// The names and every parent level of each (`A/B/C` gives `A`, `A/B`, `A/B/C`).
fn with_parents<'n>(names: impl Iterator<Item = &'n String>) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for n in names {
        for (i, c) in n.char_indices() {
            if c == SEPARATOR {
                all.insert(n[..i].to_string());
            }
        }
        all.insert(n.clone());
    }
    all
}

/// `* LIST (attrs) "/" name [(CHILDINFO ("SUBSCRIBED"))]` (or LSUB) without CRLF; `utf8` for
/// IMAP4rev2, whose names are UTF-8 rather than modified UTF-7.
pub fn response(cmd: &str, e: &Entry, utf8: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("* {cmd} ({}) \"{SEPARATOR}\" ", e.attrs.join(" ")).as_bytes());
    let name = if utf8 { e.name.clone() } else { names::wire_name(&e.name) };
    super::response::string(out, name.as_bytes());
    if e.child_subscribed {
        out.extend_from_slice(b" (CHILDINFO (\"SUBSCRIBED\"))");
    }
}

#[cfg(test)]
mod tests;
