//! mailroom.toml(5), from the configuration model itself: each key's text is its `///`
//! comment in `config/src/*.rs` (read from the source, so the page and the code cannot say
//! different things), each default is what `config::Config::default()` serialises to.

use roff::{Roff, bold, roman};

use super::doc;

/// The configuration sections in page order: heading, the struct that models it, its source.
const SECTIONS: &[(&str, &str, &str)] = &[
    ("[database]", "Database", include_str!("../../../config/src/database.rs")),
    ("[database.queries]", "Queries", include_str!("../../../config/src/database.rs")),
    ("[tls]", "Tls", include_str!("../../../config/src/tls.rs")),
    ("[saslauthd]", "Saslauthd", include_str!("../../../config/src/saslauthd.rs")),
    ("[mta]", "Mta", include_str!("../../../config/src/mta.rs")),
    ("[mta.dkim.\"DOMAIN\"]", "DkimKey", include_str!("../../../config/src/mta.rs")),
    ("[mda]", "Mda", include_str!("../../../config/src/mda.rs")),
    ("[mra]", "Mra", include_str!("../../../config/src/mra.rs")),
];

/// One key of a section, as the model documents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub name: String,
    pub doc: String,
}

/// The documented public fields of `pub struct NAME` in `source`, in order.
pub(super) fn keys(source: &str, name: &str) -> Vec<Key> {
    let header = format!("pub struct {name} {{");
    let mut lines = source.lines().skip_while(|l| l.trim() != header).skip(1);
    let mut doc: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for line in lines.by_ref() {
        let line = line.trim();
        if line == "}" {
            break;
        }
        if let Some(d) = line.strip_prefix("///") {
            doc.push(d.trim());
        } else if let Some((field, _)) = line.strip_prefix("pub ").and_then(|f| f.split_once(':')) {
            out.push(Key { name: field.trim().to_string(), doc: doc.join(" ") });
            doc.clear();
        } else if !line.starts_with("#[") {
            doc.clear();
        }
    }
    out
}

/// The `//!` opening of a source file, as one paragraph (up to the first blank comment line).
fn opening(source: &str) -> String {
    source
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `///` line right above `pub struct NAME`.
fn struct_doc(source: &str, name: &str) -> String {
    let header = format!("pub struct {name} {{");
    let before: Vec<&str> = source.lines().take_while(|l| l.trim() != header).collect();
    let doc: Vec<&str> = before
        .iter()
        .rev()
        .map(|l| l.trim())
        .skip_while(|l| l.starts_with("#["))
        .take_while(|l| l.starts_with("///"))
        .map(|l| l.trim_start_matches('/').trim())
        .collect();
    doc.into_iter().rev().collect::<Vec<_>>().join(" ")
}

/// The default of `key` in `section` (`[mta]` → table `mta`), as TOML.
fn default_of(defaults: &toml::Table, section: &str, key: &str) -> Option<String> {
    let path = section.trim_matches(['[', ']']);
    let mut table = defaults;
    for part in path.split('.') {
        match table.get(part) {
            Some(toml::Value::Table(t)) => table = t,
            // `[mta.dkim."DOMAIN"]`: per-domain tables have no defaults, every key is required.
            _ => return None,
        }
    }
    table.get(key).map(|v| match v {
        toml::Value::Table(t) if t.is_empty() => "{}".to_string(),
        v => v.to_string(),
    })
}

/// `Config::default()` as a TOML table.
pub(super) fn defaults() -> toml::Table {
    toml::Table::try_from(config::Config::default()).expect("the config model serialises to a table")
}

/// The whole page.
pub(super) fn page(version: &str) -> String {
    let mut roff = Roff::new();
    roff.control("SH", ["NAME"]);
    roff.text([roman("mailroom.toml - configuration of the mailroom daemons and mailroomctl")]);
    roff.control("SH", ["SYNOPSIS"]);
    roff.text([bold(config::DEFAULT_PATH)]);
    roff.control("SH", ["DESCRIPTION"]);
    roff.text(doc::inlines(&format!(
        "The one configuration file of mailroom-saslauthd, mailroom-mta, mailroom-mda, mailroom-mra \
         and `mailroomctl`, in TOML: a section per daemon plus the shared `[database]` and `[tls]`. \
         Every key has a default that works, so an empty file is a valid configuration. An unknown \
         key or a bad value is an error naming the file, the line and the key. `--config FILE` or \
         the environment variable `{}` name another file; `mailroomctl check` validates it and prints \
         the effective configuration.",
        config::ENV_CONFIG
    )));
    roff.control("PP", []);
    roff.text([roman("Each key below is shown with its default.")]);
    let defaults = defaults();
    for (heading, name, source) in SECTIONS {
        section(&mut roff, &defaults, heading, name, source);
    }
    roff.control("SH", ["FILES"]);
    roff.text([roman(config::DEFAULT_PATH)]);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "mailroomctl(8), mailroom-saslauthd(8), mailroom-mta(8), mailroom-mda(8), mailroom-mra(8)",
    )]);
    super::title("MAILROOM.TOML", "5", Some(version), "File Formats Manual") + &roff.to_roff()
}

fn section(roff: &mut Roff, defaults: &toml::Table, heading: &str, name: &str, source: &str) {
    roff.control("SH", [heading]);
    // A file's first section is introduced by the file's opening, a nested one by its struct.
    let intro = if SECTIONS.iter().find(|(_, _, s)| *s == source).map(|(h, _, _)| *h) == Some(heading) {
        opening(source)
    } else {
        struct_doc(source, name)
    };
    roff.text(doc::inlines(&intro));
    for key in keys(source, name) {
        roff.control("TP", []);
        let value = default_of(defaults, heading, &key.name);
        let mut line = vec![bold(key.name.as_str())];
        let own_section = SECTIONS.iter().map(|(h, _, _)| *h).find(|h| {
            h.strip_prefix(heading.trim_end_matches(']'))
                .is_some_and(|rest| rest.starts_with(&format!(".{}", key.name)))
        });
        line.push(roman(match (&value, own_section) {
            (_, Some(sub)) => format!(": the tables of section {sub} below"),
            (Some(v), None) => format!(" = {v}"),
            (None, None) if heading.contains("DOMAIN") => " (required)".to_string(),
            (None, None) => " (unset by default)".to_string(),
        }));
        roff.text(line);
        roff.text(doc::inlines(&key.doc));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_their_docs() {
        let src = "/// The thing.\n#[derive(Debug)]\npub struct Thing {\n    /// First,\n    /// \
                   two lines.\n    pub a: u32,\n    #[serde(default)]\n    /// Second.\n    pub b: \
                   Vec<String>,\n    c: bool,\n}\npub struct Other {\n    pub z: u8,\n}\n";
        let k = keys(src, "Thing");
        assert_eq!(k.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(k[0].doc, "First, two lines.");
        assert_eq!(k[1].doc, "Second.");
        assert_eq!(struct_doc(src, "Thing"), "The thing.");
    }

    /// Every key the model serialises is documented on the page and every documented key is a
    /// real one: a new field without `///`, or a renamed one, fails here.
    #[test]
    fn the_page_covers_exactly_the_model() {
        let defaults = defaults();
        for (heading, name, source) in SECTIONS {
            let documented = keys(source, name);
            assert!(!documented.is_empty(), "{heading}: no fields found for {name}");
            for k in &documented {
                assert!(!k.doc.is_empty(), "{heading} {}: no doc comment", k.name);
            }
            let path = heading.trim_matches(['[', ']']);
            let Some(toml::Value::Table(table)) =
                path.split('.').try_fold(toml::Value::Table(defaults.clone()), |v, part| {
                    v.as_table().and_then(|t| t.get(part)).cloned()
                })
            else {
                assert!(heading.contains("DOMAIN"), "{heading}: not in the defaults");
                continue;
            };
            let names: Vec<&str> = documented.iter().map(|k| k.name.as_str()).collect();
            for key in table.keys() {
                assert!(names.contains(&key.as_str()), "{heading} {key}: serialised but not documented");
            }
            for k in &names {
                // Optional keys (the query overrides) are absent from the defaults.
                assert!(table.contains_key(*k) || *heading == "[database.queries]", "{heading} {k}");
            }
        }
        // The sections themselves: every top-level table is on the page.
        for top in defaults.keys() {
            assert!(SECTIONS.iter().any(|(h, _, _)| *h == format!("[{top}]")), "[{top}] missing");
        }
    }

    #[test]
    fn page_has_keys_and_defaults() {
        let page = page("0.0.0");
        assert!(page.contains(".TH \"MAILROOM.TOML\" \"5\" \"\" \"mailroom 0.0.0\""), "{page}");
        assert!(page.contains(".SH [mta]"), "{page}");
        assert!(page.contains("\\fBmax_message_size\\fR = 52428800"), "{page}");
        assert!(page.contains("\\fBsocket_mode\\fR = \"0777\""), "{page}");
        assert!(page.contains("\\fBselector\\fR (required)"), "{page}");
        assert!(page.contains("\\fBmailbox\\fR (unset by default)"), "{page}");
        assert!(page.contains("\\fBqueries\\fR: the tables of section [database.queries] below"), "{page}");
        assert!(page.contains("\\fBdkim\\fR: the tables of section [mta.dkim.\"DOMAIN\"] below"), "{page}");
    }
}
