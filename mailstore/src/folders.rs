//! The folders of a Maildir++ as a whole: listing, renaming (INBOX too), deleting, and the `subscriptions`
//! file, in Dovecot's formats (`../shared/reference/protocols.md` §3).
//!
//! Every folder is a `.`-prefixed directory directly under the root whose name decodes to a
//! valid [`FolderName`]; anything else there (Dovecot's own files, stray directories, names we
//! could not have written) is not a folder and is never touched.
//!
//! `subscriptions` is read in both versions (v1: one name a line; v2: a `V\t2` header, then
//! names with TAB between hierarchy levels) and written as v2, as Dovecot 2.3 does.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::folder::{FolderName, SEPARATOR};
use crate::keywords::Keywords;
use crate::maildir::Maildir;
use crate::mutf7;

/// The subscriptions file's name in the Maildir root.
pub const SUBSCRIPTIONS: &str = "subscriptions";

/// The folders under `root`, sorted by name.
pub fn list(root: &Path) -> io::Result<Vec<FolderName>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(dir) = entry.file_name().into_string() else { continue };
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if let Some(f) = from_dir_name(&dir) {
            out.push(f);
        }
    }
    out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Ok(out)
}

/// The folder a directory name stands for (`.Lists.Rust` is "Lists/Rust").
pub fn from_dir_name(dir: &str) -> Option<FolderName> {
    let rest = dir.strip_prefix('.')?;
    let levels: Option<Vec<String>> = rest.split('.').map(mutf7::decode).collect();
    let name = levels?.join(&SEPARATOR.to_string());
    FolderName::new(&name).ok().filter(|f| f.dir_name() == dir)
}

/// Renames `from` and every folder below it to `to`; `to` (and its children) must not exist.
pub fn rename(root: &Path, from: &FolderName, to: &FolderName) -> io::Result<()> {
    let target = root.join(to.dir_name());
    if target.exists() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, to.as_str().to_string()));
    }
    let prefix = format!("{}{SEPARATOR}", from.as_str());
    let mut moves = vec![(from.clone(), to.clone())];
    for f in list(root)? {
        if let Some(rest) = f.as_str().strip_prefix(&prefix) {
            let new = FolderName::new(&format!("{}{SEPARATOR}{rest}", to.as_str()))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            moves.push((f, new));
        }
    }
    for (a, b) in &moves {
        let (src, dst) = (root.join(a.dir_name()), root.join(b.dir_name()));
        if dst.exists() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, b.as_str().to_string()));
        }
        match fs::rename(&src, &dst) {
            Ok(()) => {}
            // The parent itself need not exist in Maildir++ (only `.A.B`, no `.A`).
            Err(e) if e.kind() == io::ErrorKind::NotFound && a != from => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && !src.exists() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Renames INBOX as RFC 3501 §6.3.5 does: creates the folder `to` and moves every message of
/// INBOX (the root's `new/` and `cur/`) into it, leaving INBOX there and empty. The folder
/// numbers the messages afresh when it is next opened (they are new to it), and the keyword
/// letters in their names are mapped by name into the folder's own `dovecot-keywords`. A
/// message expunged meanwhile is skipped. Returns how many moved.
pub fn rename_inbox(maildir: &Maildir, to: &FolderName) -> io::Result<usize> {
    let root = maildir.root();
    if maildir.folder_exists(to)? {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, to.as_str().to_string()));
    }
    maildir.create_folder(to)?;
    let dest = maildir.folder_path(Some(to));
    let from_kw = Keywords::load(root)?;
    let mut to_kw = Keywords::load(&dest)?;
    let mut moved = 0;
    for sub in ["new", "cur"] {
        for entry in fs::read_dir(root.join(sub))? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            if name.starts_with('.') || entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let new_name = remap_keywords(&name, &from_kw, &mut to_kw, &dest)?;
            match fs::rename(entry.path(), dest.join(sub).join(new_name)) {
                Ok(()) => moved += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(moved)
}

/// `name` with its keyword letters (`a`..`z` after `:2,`) renumbered from `from` to `to`,
/// adding names `to` lacks; letters `from` has no name for are dropped, others stay.
fn remap_keywords(name: &str, from: &Keywords, to: &mut Keywords, to_dir: &Path) -> io::Result<String> {
    let Some((base, letters)) = name.split_once(":2,") else { return Ok(name.to_string()) };
    let mut out: Vec<char> = Vec::new();
    for c in letters.chars() {
        if !c.is_ascii_lowercase() {
            out.push(c);
            continue;
        }
        let Some(kw) = from.name((c as u8 - b'a') as usize) else { continue };
        let i = to.intern(to_dir, kw, 0o600).map_err(io::Error::other)?;
        if i < crate::flags::MAX_KEYWORDS {
            out.push((b'a' + i as u8) as char);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(format!("{base}:2,{}", out.into_iter().collect::<String>()))
}

/// Deletes a folder's directory with its messages; its children stay (they are directories of
/// their own in Maildir++). Dovecot renames it out of the way first so that no reader sees a
/// half-deleted folder; so do we.
pub fn delete(root: &Path, folder: &FolderName) -> io::Result<()> {
    let dir = root.join(folder.dir_name());
    let trash = root.join(format!("..DOVECOT-TRASH.{}", std::process::id()));
    fs::rename(&dir, &trash)?;
    fs::remove_dir_all(&trash)
}

/// The subscribed names ('/' between levels), as stored.
pub fn subscriptions(root: &Path) -> io::Result<Vec<String>> {
    let text = match fs::read_to_string(root.join(SUBSCRIPTIONS)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let (v2, body) = match text.strip_prefix("V\t2\n") {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let mut names: Vec<String> = body
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| if v2 { l.replace('\t', &SEPARATOR.to_string()) } else { l.to_string() })
        .collect();
    names.dedup();
    Ok(names)
}

/// Replaces the subscriptions with `names` (written to a temporary file, then renamed).
pub fn save_subscriptions(root: &Path, names: &[String]) -> io::Result<()> {
    let mut text = String::from("V\t2\n\n");
    for n in names {
        text.push_str(&n.replace(SEPARATOR, "\t"));
        text.push('\n');
    }
    // Unique per writer: sessions of one process may save at once (the last rename wins).
    static WRITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = root.join(format!("{SUBSCRIPTIONS}.tmp.{}.{n}", std::process::id()));
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()?;
    fs::rename(&tmp, root.join(SUBSCRIPTIONS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Maildir;

    #[test]
    fn list_rename_delete() {
        let tmp = tempfile::tempdir().unwrap();
        let md = Maildir::new(tmp.path().join("Maildir"));
        for n in ["Lists/Rust", "Lists", "Entwürfe"] {
            md.create_folder(&FolderName::new(n).unwrap()).unwrap();
        }
        fs::create_dir(md.root().join(".bad..name")).unwrap();
        let names =
            |root: &Path| list(root).unwrap().iter().map(|f| f.as_str().to_string()).collect::<Vec<_>>();
        assert_eq!(names(md.root()), ["Entwürfe", "Lists", "Lists/Rust"]);
        let f = |s: &str| FolderName::new(s).unwrap();
        rename(md.root(), &f("Lists"), &f("Old")).unwrap();
        assert_eq!(names(md.root()), ["Entwürfe", "Old", "Old/Rust"]);
        assert!(rename(md.root(), &f("Old"), &f("Entwürfe")).is_err());
        delete(md.root(), &f("Old")).unwrap();
        assert_eq!(names(md.root()), ["Entwürfe", "Old/Rust"]);
    }

    #[test]
    fn rename_inbox_moves_the_messages_and_maps_keywords() {
        let tmp = tempfile::tempdir().unwrap();
        let md = Maildir::new(tmp.path().join("Maildir"));
        md.create().unwrap();
        let root = md.root();
        fs::write(root.join("dovecot-keywords"), "0 $Junk\n1 Work\n").unwrap();
        fs::write(root.join("new/1.M1P1.h,S=3"), "abc").unwrap();
        fs::write(root.join("cur/2.M1P1.h,S=3:2,Sb"), "def").unwrap();
        fs::write(root.join("cur/3.M1P1.h,S=3:2,FXz"), "ghi").unwrap();
        let old = FolderName::new("Old").unwrap();
        assert_eq!(rename_inbox(&md, &old).unwrap(), 3);
        let dir = md.folder_path(Some(&old));
        let names = |d: &Path| {
            let mut v: Vec<String> =
                fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            v.sort();
            v
        };
        assert!(names(&root.join("new")).is_empty() && names(&root.join("cur")).is_empty());
        assert_eq!(names(&dir.join("new")), ["1.M1P1.h,S=3"]);
        // "Work" was b in INBOX and is a in Old; z had no name and is dropped; X stays.
        assert_eq!(names(&dir.join("cur")), ["2.M1P1.h,S=3:2,Sa", "3.M1P1.h,S=3:2,FX"]);
        assert_eq!(fs::read_to_string(dir.join("dovecot-keywords")).unwrap(), "0 Work\n");
        assert!(dir.join("maildirfolder").exists());
        assert_eq!(rename_inbox(&md, &old).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn subscriptions_v1_and_v2() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(SUBSCRIPTIONS), "INBOX\nLists/Rust\n").unwrap();
        assert_eq!(subscriptions(tmp.path()).unwrap(), ["INBOX", "Lists/Rust"]);
        save_subscriptions(tmp.path(), &["Sent".into(), "A/B".into()]).unwrap();
        assert_eq!(fs::read_to_string(tmp.path().join(SUBSCRIPTIONS)).unwrap(), "V\t2\n\nSent\nA\tB\n");
        assert_eq!(subscriptions(tmp.path()).unwrap(), ["Sent", "A/B"]);
    }
}
