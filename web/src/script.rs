//! The one Sieve script mailroom-web writes for a mailbox user, named `mailroom-web`: the filter
//! rules, then the out-of-office reply, then (when the user had another active script) that
//! script, included. The pages read it back only from its own structured comments, one
//! `# mailroom-web <kind> <form-encoded fields>` line per item, never from the Sieve itself, so
//! no user-written Sieve is ever parsed here.

use std::fmt::Write as _;

use proto::Address;
use serde::{Deserialize, Serialize};
use sieve::quote;

/// The script's name in the user's script store.
pub const NAME: &str = "mailroom-web";
const MARK: &str = "# mailroom-web ";
/// Most filter rules one user may have (Pigeonhole's `sieve_max_actions` is 32 by default).
pub const MAX_FILTERS: usize = 30;
/// Longest out-of-office text, in bytes.
const MAX_BODY: usize = 16 * 1024;
/// Longest subject, rule value or folder name, in characters.
const MAX_LINE: usize = 200;

/// The out-of-office reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vacation {
    pub on: bool,
    pub subject: String,
    pub body: String,
    /// The same sender gets the reply once in this many days.
    pub days: u32,
    /// First and last day (`YYYY-MM-DD`, the server's local date), if limited.
    pub start: Option<String>,
    pub end: Option<String>,
}

impl Default for Vacation {
    fn default() -> Self {
        Vacation {
            on: false,
            subject: "Out of office".into(),
            body: String::new(),
            days: 7,
            start: None,
            end: None,
        }
    }
}

/// The header field a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    From,
    To,
    Subject,
}

/// How a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    Contains,
    Is,
}

/// What a rule does with a matching message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Act {
    /// Into the folder `arg` (created when missing).
    Fileinto,
    /// Throw away; no later rule or reply sees it.
    Discard,
    /// Forward to the address `arg`.
    Redirect,
    /// Keep, marked as read.
    Seen,
}

/// One filter rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub field: Field,
    pub op: Match,
    pub value: String,
    pub action: Act,
    #[serde(default)]
    pub arg: String,
}

#[derive(Serialize, Deserialize)]
struct Include {
    name: String,
}

/// Everything the script holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub filters: Vec<Filter>,
    pub vacation: Vacation,
    /// The user's own script, run after ours.
    pub include: Option<String>,
}

fn no_controls(s: &str, what: &str) -> Result<(), String> {
    if s.chars().any(char::is_control) {
        return Err(format!("The {what} cannot hold line breaks or control characters."));
    }
    if s.chars().count() > MAX_LINE {
        return Err(format!("The {what} is too long."));
    }
    Ok(())
}

/// A `YYYY-MM-DD` date (the format of an HTML date input).
fn check_date(d: &str) -> Result<(), String> {
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && (1..=12).contains(&d[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&d[8..10].parse::<u8>().unwrap_or(0));
    if ok { Ok(()) } else { Err(format!("{d:?} is not a date (YYYY-MM-DD).")) }
}

impl Vacation {
    /// Validate and normalise what the form sent: line breaks become LF, empty dates none.
    pub fn check(mut self) -> Result<Vacation, String> {
        no_controls(&self.subject, "subject")?;
        self.subject = self.subject.trim().to_string();
        self.body = self.body.replace("\r\n", "\n").replace('\r', "\n");
        if self.body.len() > MAX_BODY {
            return Err("The reply text is too long.".into());
        }
        if self.body.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err("The reply text cannot hold control characters.".into());
        }
        if self.on && self.body.trim().is_empty() {
            return Err("An out-of-office reply needs a text.".into());
        }
        if !(1..=365).contains(&self.days) {
            return Err("The days between replies must be 1 to 365.".into());
        }
        for d in [&mut self.start, &mut self.end] {
            *d = d.take().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            if let Some(s) = d {
                check_date(s)?;
            }
        }
        if let (Some(s), Some(e)) = (&self.start, &self.end)
            && e < s
        {
            return Err("The last day is before the first.".into());
        }
        Ok(self)
    }
}

impl Filter {
    /// Validate a rule from the form.
    pub fn check(mut self) -> Result<Filter, String> {
        self.value = self.value.trim().to_string();
        self.arg = self.arg.trim().to_string();
        if self.value.is_empty() {
            return Err("A rule needs a text to look for.".into());
        }
        no_controls(&self.value, "text to look for")?;
        match self.action {
            Act::Fileinto => {
                if mailstore::FolderName::new(&self.arg).is_err() || self.arg.eq_ignore_ascii_case("INBOX") {
                    return Err("Give a folder name such as Lists/Rust.".into());
                }
                no_controls(&self.arg, "folder name")?;
            }
            Act::Redirect => match Address::parse(&self.arg) {
                Ok(a) => self.arg = a.to_string(),
                Err(_) => return Err("Give the address to forward to.".into()),
            },
            Act::Discard | Act::Seen => self.arg.clear(),
        }
        Ok(self)
    }
}

/// A unit variant's name as the script's comments (and the pages' option values) write it.
pub fn name_of<T: Serialize>(v: &T) -> String {
    #[derive(Serialize)]
    struct W<'a, T> {
        v: &'a T,
    }
    serde_urlencoded::to_string(W { v }).unwrap_or_default().trim_start_matches("v=").to_string()
}

/// The unit variant named `name` (see [`name_of`]), if there is one.
pub fn variant<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    #[derive(Deserialize)]
    struct W<T> {
        v: T,
    }
    let form = serde_urlencoded::to_string([("v", name)]).ok()?;
    serde_urlencoded::from_str::<W<T>>(&form).ok().map(|w| w.v)
}

fn encoded<T: Serialize>(v: &T) -> String {
    serde_urlencoded::to_string(v).expect("flat structs encode")
}

impl Rules {
    /// Read back what [`Rules::render`] wrote; lines that are not ours are ignored.
    pub fn parse(src: &str) -> Rules {
        let mut r = Rules::default();
        for line in src.lines() {
            let Some(rest) = line.strip_prefix(MARK) else { continue };
            let (kind, fields) = rest.split_once(' ').unwrap_or((rest, ""));
            match kind {
                "filter" => {
                    if let Ok(f) = serde_urlencoded::from_str::<Filter>(fields) {
                        r.filters.push(f);
                    }
                }
                "vacation" => {
                    if let Ok(v) = serde_urlencoded::from_str::<Vacation>(fields) {
                        r.vacation = v;
                    }
                }
                "include" => {
                    r.include = serde_urlencoded::from_str::<Include>(fields).ok().map(|i| i.name);
                }
                _ => {}
            }
        }
        r
    }

    /// The script.
    pub fn render(&self) -> String {
        let mut head = String::from(
            "# Written by mailroom-web from the user's settings; the lines below are how it reads\n\
             # them back. Changes made here by hand are lost when the settings are saved again.\n",
        );
        let mut body = String::new();
        let mut require: Vec<&str> = Vec::new();
        let mut need = |ext| {
            if !require.contains(&ext) {
                require.push(ext);
            }
        };
        for f in &self.filters {
            let _ = writeln!(head, "{MARK}filter {}", encoded(f));
            let op = match f.op {
                Match::Contains => ":contains",
                Match::Is => ":is",
            };
            // `:is` on From/To compares the address alone; `:contains` the whole field, so
            // that a display name is found too.
            let test = match (f.field, f.op) {
                (Field::From, Match::Is) => format!("address :is \"from\" {}", quote(&f.value)),
                (Field::To, Match::Is) => format!("address :is [\"to\", \"cc\"] {}", quote(&f.value)),
                (Field::From, _) => format!("header {op} \"from\" {}", quote(&f.value)),
                (Field::To, _) => format!("header {op} [\"to\", \"cc\"] {}", quote(&f.value)),
                (Field::Subject, _) => format!("header {op} \"subject\" {}", quote(&f.value)),
            };
            let action = match f.action {
                Act::Fileinto => {
                    need("fileinto");
                    need("mailbox");
                    format!("fileinto :create {};", quote(&f.arg))
                }
                // Nothing after a discard: no reply to what was thrown away.
                Act::Discard => "discard;\n    stop;".to_string(),
                Act::Redirect => format!("redirect {};", quote(&f.arg)),
                Act::Seen => {
                    need("imap4flags");
                    "addflag \"\\\\Seen\";".to_string()
                }
            };
            let _ = write!(body, "if {test} {{\n    {action}\n}}\n");
        }
        let v = &self.vacation;
        let _ = writeln!(head, "{MARK}vacation {}", encoded(v));
        if v.on {
            need("vacation");
            let reply =
                format!("vacation :days {} :subject {} {};", v.days, quote(&v.subject), quote(&v.body));
            let mut dates = Vec::new();
            if let Some(s) = &v.start {
                dates.push(format!("currentdate :value \"ge\" \"date\" {}", quote(s)));
            }
            if let Some(e) = &v.end {
                dates.push(format!("currentdate :value \"le\" \"date\" {}", quote(e)));
            }
            if dates.is_empty() {
                let _ = writeln!(body, "{reply}");
            } else {
                need("date");
                need("relational");
                let _ = write!(body, "if allof ({}) {{\n    {reply}\n}}\n", dates.join(", "));
            }
        }
        if let Some(name) = &self.include {
            let _ = writeln!(head, "{MARK}include {}", encoded(&Include { name: name.clone() }));
            need("include");
            // :optional: a script deleted since does not make every delivery fail.
            let _ = writeln!(body, "include :personal :optional {};", quote(name));
        }
        if !require.is_empty() {
            let list: Vec<String> = require.iter().map(|r| quote(r)).collect();
            let _ = writeln!(head, "require [{}];", list.join(", "));
        }
        head + &body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            filters: vec![
                Filter {
                    field: Field::Subject,
                    op: Match::Contains,
                    value: "[list] \"quoted\" \\ back".into(),
                    action: Act::Fileinto,
                    arg: "Lists/Rust".into(),
                },
                Filter {
                    field: Field::From,
                    op: Match::Is,
                    value: "spam@x.test".into(),
                    action: Act::Discard,
                    arg: "".into(),
                },
                Filter {
                    field: Field::To,
                    op: Match::Contains,
                    value: "boss".into(),
                    action: Act::Seen,
                    arg: "".into(),
                },
                Filter {
                    field: Field::From,
                    op: Match::Contains,
                    value: "alerts".into(),
                    action: Act::Redirect,
                    arg: "ops@x.test".into(),
                },
            ],
            vacation: Vacation {
                on: true,
                subject: "Away \"now\"".into(),
                body: "Back on Monday.\n\"Quoted\" \\ and ${variables}\n.\n".into(),
                days: 3,
                start: Some("2026-12-01".into()),
                end: Some("2026-12-24".into()),
            },
            include: Some("my \"own\"".into()),
        }
    }

    #[test]
    fn round_trip_and_compiles() {
        let r = rules();
        let src = r.render();
        assert_eq!(Rules::parse(&src), r, "{src}");
        let script = sieve::compile(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        for ext in ["fileinto", "mailbox", "imap4flags", "vacation", "date", "relational", "include"] {
            assert!(script.has(ext), "{ext} not required:\n{src}");
        }
        let off = Rules::default().render();
        assert_eq!(Rules::parse(&off), Rules::default());
        sieve::compile(&off).unwrap();
        assert!(!off.contains("require"), "{off}");
    }

    #[test]
    fn the_reply_is_what_delivery_runs() {
        let mut r = rules();
        r.filters.clear();
        r.include = None;
        let script = sieve::compile(&r.render()).unwrap();
        let raw = b"From: alice@x.test\r\nTo: bob@a.test\r\nSubject: hi\r\n\r\nhello\r\n";
        let msg = mail_parser::MessageParser::default().parse(&raw[..]).unwrap();
        let env = sieve::Envelope { from: "alice@x.test".into(), to: "bob@a.test".into(), orig_to: None };
        let at = |now| sieve::Settings { now, ..Default::default() };
        // 2026-12-11 12:00 UTC is within the dates, 2027-01-10 is not.
        let inside = sieve::run(&script, &msg, &env, &at(1_796_990_400), &mut sieve::NoHost);
        let reply = inside.actions.iter().find_map(|a| match a {
            sieve::Action::Vacation(v) => Some(v),
            _ => None,
        });
        let v = reply.unwrap_or_else(|| panic!("{inside:?}"));
        // Sieve strings hold CRLF line ends (RFC 5228 §2.4.2), as the reply's body needs.
        assert_eq!(v.reason, r.vacation.body.replace('\n', "\r\n"));
        assert_eq!(v.subject.as_deref(), Some("Away \"now\""));
        assert_eq!(v.seconds, 3 * 86400);
        let outside = sieve::run(&script, &msg, &env, &at(1_799_582_400), &mut sieve::NoHost);
        assert!(!outside.actions.iter().any(|a| matches!(a, sieve::Action::Vacation(_))), "{outside:?}");
    }

    #[test]
    fn checks() {
        let v = Vacation { on: true, body: "x\r\ny".into(), ..Default::default() }.check().unwrap();
        assert_eq!(v.body, "x\ny");
        assert!(Vacation { on: true, ..Default::default() }.check().is_err());
        assert!(Vacation { subject: "a\nBcc: x".into(), ..Default::default() }.check().is_err());
        assert!(Vacation { days: 0, ..Default::default() }.check().is_err());
        assert!(Vacation { start: Some("2026-13-01".into()), ..Default::default() }.check().is_err());
        let bad_order = Vacation {
            start: Some("2026-12-02".into()),
            end: Some("2026-12-01".into()),
            ..Default::default()
        };
        assert!(bad_order.check().is_err());
        let f = |action, arg: &str| Filter {
            field: Field::Subject,
            op: Match::Is,
            value: "x".into(),
            action,
            arg: arg.into(),
        };
        assert!(f(Act::Fileinto, "").check().is_err());
        assert!(f(Act::Fileinto, "a.b").check().is_err());
        assert!(f(Act::Fileinto, "INBOX").check().is_err());
        assert!(f(Act::Redirect, "not an address").check().is_err());
        assert_eq!(f(Act::Discard, "dropped").check().unwrap().arg, "");
        assert!(Filter { value: " ".into(), ..f(Act::Seen, "") }.check().is_err());
    }

    #[test]
    fn variant_names() {
        assert_eq!(name_of(&Act::Fileinto), "fileinto");
        assert_eq!(variant::<Field>("subject"), Some(Field::Subject));
        assert_eq!(variant::<Match>("is"), Some(Match::Is));
        assert_eq!(variant::<Act>("body"), None);
        assert_eq!(variant::<Act>(""), None);
    }
}
