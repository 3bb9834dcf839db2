//! The migration report: every classic setting read, and whether it was mapped onto a
//! mailroom key, approximated (and how), or is unsupported (and what the admin loses), with
//! the file and line it came from. Printed as text or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::source::{Origin, Problem, Setting};

/// How a classic setting made it into mailroom.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Carried over with the same meaning.
    Mapped,
    /// Carried over with a difference the note explains.
    Approximated,
    /// Not carried over; the note says what is lost.
    Unsupported,
    /// The input could not be read or understood.
    Unreadable,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Mapped => "mapped",
            Status::Approximated => "approximated",
            Status::Unsupported => "unsupported",
            Status::Unreadable => "unreadable",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Mapped, approximated, unsupported or unreadable.
    pub status: Status,
    /// The classic setting's name (`main.cf virtual_alias_maps`).
    pub setting: String,
    /// Where it was read.
    pub at: Origin,
    /// The mailroom key it became (`[database] queries.alias`), if any.
    pub target: Option<String>,
    /// How it was approximated or what is lost.
    pub note: String,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Entries in the order the settings were considered.
    pub entries: Vec<Entry>,
}

impl Report {
    /// Record a setting's fate.
    pub fn add(&mut self, status: Status, s: &Setting, target: Option<&str>, note: impl Into<String>) {
        self.entries.push(Entry {
            status,
            setting: s.key.clone(),
            at: s.at.clone(),
            target: target.map(str::to_string),
            note: note.into(),
        });
    }

    /// Record something that is not a single setting (a master.cf service, a table entry).
    pub fn add_named(
        &mut self,
        status: Status,
        name: &str,
        at: &Origin,
        target: Option<&str>,
        note: impl Into<String>,
    ) {
        self.entries.push(Entry {
            status,
            setting: name.to_string(),
            at: at.clone(),
            target: target.map(str::to_string),
            note: note.into(),
        });
    }

    /// Record input that could not be read.
    pub fn problems(&mut self, problems: &[Problem]) {
        for p in problems {
            self.add_named(Status::Unreadable, "(input)", &p.at, None, p.message.clone());
        }
    }

    /// Entries with this status.
    pub fn count(&self, status: Status) -> usize {
        self.entries.iter().filter(|e| e.status == status).count()
    }

    /// The report as text: a summary line, then the entries grouped by status.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "migration report: {} mapped, {} approximated, {} unsupported, {} unreadable",
            self.count(Status::Mapped),
            self.count(Status::Approximated),
            self.count(Status::Unsupported),
            self.count(Status::Unreadable)
        );
        for status in [Status::Unreadable, Status::Unsupported, Status::Approximated, Status::Mapped] {
            let entries: Vec<&Entry> = self.entries.iter().filter(|e| e.status == status).collect();
            if entries.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{}:", status.label());
            for e in entries {
                let target = e.target.as_deref().map(|t| format!(" -> {t}")).unwrap_or_default();
                let note = if e.note.is_empty() { String::new() } else { format!(": {}", e.note) };
                let _ = writeln!(out, "  {} {}{target}{note}", e.at, e.setting);
            }
        }
        out
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report always serialises")
    }
}
