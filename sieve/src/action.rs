//! What a script decided: the actions in the order they were taken, and whether the implicit
//! keep still applies.

use std::fmt;

use crate::error::Error;

/// The mailbox `keep` stores into.
pub const INBOX: &str = "INBOX";

/// One action. `keep` is a `Store` into INBOX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `keep` or `fileinto`.
    Store {
        mailbox: String,
        flags: Vec<String>,
        create: bool,
        copy: bool,
    },
    Redirect {
        address: String,
        copy: bool,
    },
    Discard,
    /// `reject` (an MDN, RFC 5429) or `ereject` (refused in the protocol when possible).
    Reject {
        reason: String,
        extended: bool,
    },
    Vacation(Vacation),
    /// Record a `duplicate` test's id once the delivery succeeded (RFC 7352).
    Duplicate {
        id: String,
        handle: Option<String>,
        seconds: u64,
        last: bool,
    },
}

/// A vacation reply the delivery side sends when `vacation::should_reply` agrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacation {
    pub reason: String,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub addresses: Vec<String>,
    pub mime: bool,
    /// Replies with the same handle to the same sender are sent once per period.
    pub handle: String,
    /// The period, in seconds.
    pub seconds: u64,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub actions: Vec<Action>,
    /// `Some(flags)` when the implicit keep applies: the message goes to INBOX with them.
    pub implicit_keep: Option<Vec<String>>,
    /// The header fields when `addheader`/`deleteheader` changed them; stored and forwarded
    /// copies carry these instead of the original header.
    pub edited_header: Option<Vec<(String, String)>>,
    /// Per action (same index), the header as edited when it was taken, `None` when it was
    /// not edited then: a `fileinto` before an `addheader` stores the message unedited
    /// (RFC 5293 §2), while the implicit keep takes `edited_header`.
    pub action_headers: Vec<Option<Vec<(String, String)>>>,
    /// A runtime error: the actions were dropped and the implicit keep applies, as
    /// Pigeonhole does; the error goes to the user's log.
    pub error: Option<Error>,
}

impl Outcome {
    /// The failed run's outcome: keep in INBOX, nothing else.
    pub fn failed(error: Error) -> Outcome {
        Outcome {
            actions: Vec::new(),
            implicit_keep: Some(Vec::new()),
            edited_header: None,
            action_headers: Vec::new(),
            error: Some(error),
        }
    }
}

fn flags(f: &mut fmt::Formatter<'_>, flags: &[String]) -> fmt::Result {
    if !flags.is_empty() {
        write!(f, " flags={}", flags.join(" "))?;
    }
    Ok(())
}

/// One line per action, the form `mailroomctl sieve test` prints and the corpus compares.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Store { mailbox, flags: fl, create, copy } => {
                write!(f, "store {mailbox}")?;
                flags(f, fl)?;
                if *create {
                    write!(f, " create")?;
                }
                if *copy {
                    write!(f, " copy")?;
                }
                Ok(())
            }
            Action::Redirect { address, copy } => {
                write!(f, "redirect {address}")?;
                if *copy {
                    write!(f, " copy")?;
                }
                Ok(())
            }
            Action::Discard => write!(f, "discard"),
            Action::Reject { reason, .. } => write!(f, "reject {}", reason.trim_end()),
            Action::Duplicate { handle, last, .. } => {
                write!(f, "track {}duplicate", if *last { "last " } else { "" })?;
                if let Some(h) = handle {
                    write!(f, " with handle: {h}")?;
                }
                Ok(())
            }
            Action::Vacation(v) => {
                write!(f, "vacation seconds={}", v.seconds)?;
                if let Some(s) = &v.subject {
                    write!(f, " subject={s}")?;
                }
                if let Some(s) = &v.from {
                    write!(f, " from={s}")?;
                }
                write!(f, " reason={}", v.reason.trim_end())
            }
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.error {
            writeln!(f, "error: {e}")?;
        }
        for a in &self.actions {
            writeln!(f, "{a}")?;
        }
        if let Some(fl) = &self.implicit_keep {
            write!(f, "implicit keep")?;
            flags(f, fl)?;
            writeln!(f)?;
        }
        Ok(())
    }
}
