//! mailroom.toml(5), and the CONFIGURATION keys of each daemon's page, from the configuration
//! model itself: each key's text is its `///` comment in `config/src` (through
//! [`config::Section::KEYS`]), each default is what `config::Config::default()` serialises to,
//! so the pages and the code cannot say different things.

use config::{Key, Section};
use roff::{Roff, bold, roman};

use super::doc;

/// The configuration sections in page order: heading, the section's doc and its keys.
const SECTIONS: &[(&str, &str, &[Key])] = &[
    ("[database]", config::Database::DOC, config::Database::KEYS),
    ("[database.queries]", config::Queries::DOC, config::Queries::KEYS),
    ("[database.ldap]", config::Ldap::DOC, config::Ldap::KEYS),
    ("[tls]", config::Tls::DOC, config::Tls::KEYS),
    ("[saslauthd]", config::Saslauthd::DOC, config::Saslauthd::KEYS),
    ("[mta]", config::Mta::DOC, config::Mta::KEYS),
    ("[mta.dkim.\"DOMAIN\"]", config::DkimKey::DOC, config::DkimKey::KEYS),
    ("[mda]", config::Mda::DOC, config::Mda::KEYS),
    ("[mra]", config::Mra::DOC, config::Mra::KEYS),
    ("[web]", config::Web::DOC, config::Web::KEYS),
];

/// The section a daemon's CONFIGURATION text names first (`[mta] in mailroom.toml, ...`).
pub(super) fn named_in(text: &str) -> Option<&'static str> {
    let start = text.find('[')?;
    let name = &text[start..=start + text[start..].find(']')?];
    SECTIONS.iter().map(|(h, _, _)| *h).find(|h| *h == name)
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
    for (heading, doc, _) in SECTIONS {
        roff.control("SH", [*heading]);
        roff.text(doc::inlines(doc.trim()));
        keys(&mut roff, &defaults, heading);
    }
    roff.control("SH", ["FILES"]);
    roff.text([roman(config::DEFAULT_PATH)]);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "mailroomctl(8), mailroom-saslauthd(8), mailroom-mta(8), mailroom-mda(8), mailroom-mra(8)",
    )]);
    super::title("MAILROOM.TOML", "5", Some(version), "File Formats Manual") + &roff.to_roff()
}

/// Each key of the section `heading` as a tagged paragraph: name, default, its doc.
pub(super) fn keys(roff: &mut Roff, defaults: &toml::Table, heading: &str) {
    let Some((_, _, keys)) = SECTIONS.iter().find(|(h, _, _)| *h == heading) else { return };
    for key in *keys {
        roff.control("TP", []);
        let value = default_of(defaults, heading, key.name);
        let mut line = vec![bold(key.name)];
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
        roff.text(doc::inlines(key.doc.trim()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the model serialises is documented on the page and every documented key is a
    /// real one: a new field without `///`, or a renamed one, fails here.
    #[test]
    fn the_page_covers_exactly_the_model() {
        let defaults = defaults();
        for (heading, _, documented) in SECTIONS {
            assert!(!documented.is_empty(), "{heading}: no keys");
            for k in *documented {
                assert!(!k.doc.trim().is_empty(), "{heading} {}: no doc comment", k.name);
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
            let names: Vec<&str> = documented.iter().map(|k| k.name).collect();
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
