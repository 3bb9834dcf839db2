//! Where a mailbox's Maildir is: from the template or postfixadmin's `maildir` column, and
//! never outside the mail root whatever the database holds (DESIGN §6).

use std::path::{Path, PathBuf};

use config::MaildirSource;

use crate::Unavailable;
use proto::Address;

/// The Maildir of `addr`, given the `maildir` column's value when there is one.
/// An unsafe path is "unavailable" (4xx) rather than "unknown user": the admin must fix the row.
pub(crate) fn path(
    cfg: &config::Database,
    addr: &Address,
    column: Option<&str>,
) -> Result<PathBuf, Unavailable> {
    let root = Path::new(&cfg.mail_root);
    let rel = match cfg.maildir_source {
        MaildirSource::Template => expand(&cfg.maildir_template, addr)?,
        MaildirSource::Column => {
            let v = column.unwrap_or_default();
            if v.is_empty() || v.starts_with('/') {
                return Err(unsafe_path(addr, v));
            }
            v.to_string()
        }
    };
    let p = root.join(&rel);
    // Checked on the text: Path::components() silently drops `.` segments.
    let clean =
        !rel.contains('\0') && rel.split('/').all(|seg| seg != ".." && seg != ".") && p.starts_with(root);
    if clean { Ok(p) } else { Err(unsafe_path(addr, &rel)) }
}

/// `%d`, `%n`, `%u` and `%%`; each value must be one path component.
fn expand(template: &str, addr: &Address) -> Result<String, Unavailable> {
    let mut out = String::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let v = match chars.next() {
            Some('d') => addr.domain().to_string(),
            Some('n') => addr.local().to_string(),
            Some('u') => addr.to_string(),
            Some('%') => "%".to_string(),
            other => {
                return Err(Unavailable(format!(
                    "maildir_template: unknown placeholder %{}",
                    other.map(String::from).unwrap_or_default()
                )));
            }
        };
        if v.contains('/') || v == "." || v == ".." {
            return Err(unsafe_path(addr, &v));
        }
        out.push_str(&v);
    }
    Ok(out)
}

fn unsafe_path(addr: &Address, p: &str) -> Unavailable {
    tracing::error!(user = %addr, path = ?p, "refusing maildir path outside the mail root");
    Unavailable(format!("unsafe maildir path for {addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(source: MaildirSource, template: &str) -> config::Database {
        config::Database {
            maildir_source: source,
            maildir_template: template.into(),
            mail_root: config::AbsPath::new("/var/vmail").unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn template_and_column() {
        let a = Address::parse("bob@b.test").unwrap();
        let t = cfg(MaildirSource::Template, "%d/%n/Maildir");
        assert_eq!(path(&t, &a, None).unwrap(), Path::new("/var/vmail/b.test/bob/Maildir"));
        let t = cfg(MaildirSource::Template, "/var/vmail/%d/%n/Maildir");
        assert_eq!(path(&t, &a, None).unwrap(), Path::new("/var/vmail/b.test/bob/Maildir"));
        let c = cfg(MaildirSource::Column, "");
        assert_eq!(path(&c, &a, Some("b.test/bob/")).unwrap(), Path::new("/var/vmail/b.test/bob"));
    }

    #[test]
    fn refuses_escapes() {
        let a = Address::parse("bob@b.test").unwrap();
        let c = cfg(MaildirSource::Column, "");
        for bad in ["../etc", "/etc/passwd", "b.test/../../etc", "", "a\0b", "./x"] {
            assert!(path(&c, &a, Some(bad)).is_err(), "{bad:?} accepted");
        }
        let t = cfg(MaildirSource::Template, "/srv/other/%n");
        assert!(path(&t, &a, None).is_err());
        let dots = Address::parse("..@b.test").unwrap();
        let t = cfg(MaildirSource::Template, "%d/%n");
        assert!(path(&t, &dots, None).is_err());
        let slash = Address::parse("a/b@b.test").unwrap();
        assert!(path(&t, &slash, None).is_err());
        assert!(path(&cfg(MaildirSource::Template, "%x"), &a, None).is_err());
    }
}
