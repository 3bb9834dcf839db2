//! Delivery state of a queued message, beside its queue file in `state/<id>`: attempts, when
//! to try next, held or not, and each recipient's outcome so far. Absent means "new, never
//! tried". Rewritten whole through a temporary file and rename, so it is always one version
//! or the other; losing the latest version to a crash only means a recipient is tried again,
//! which the MDA's duplicate suppression absorbs.

use std::collections::BTreeMap;

/// First line of a state file.
pub const MAGIC: &str = "MAILROOM-STATE 1";

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered; the server's reply.
    Sent(String),
    /// Failed for good (bounced or expired); the reply or reason.
    Failed(String),
    /// Last attempt failed temporarily; the reply. Still pending.
    Deferred(String),
}

impl Outcome {
    /// Sent or failed: nothing more to do for this recipient.
    pub fn is_final(&self) -> bool {
        !matches!(self, Outcome::Deferred(_))
    }
}

/// A message's delivery state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Seconds since the epoch before which no attempt is made (0: now).
    pub next_attempt: u64,
    /// Held by the admin (`mailroomctl queue hold`): never tried until released.
    pub held: bool,
    /// Outcome per recipient index (the envelope's order); absent: not tried yet.
    pub outcomes: BTreeMap<usize, Outcome>,
}

impl State {
    /// Is recipient `i` finished?
    pub fn is_final(&self, i: usize) -> bool {
        self.outcomes.get(&i).is_some_and(Outcome::is_final)
    }

    /// Serialise.
    pub fn encode(&self) -> String {
        let mut s = format!("{MAGIC}\nattempts {}\nnext {}\n", self.attempts, self.next_attempt);
        if self.held {
            s.push_str("held\n");
        }
        for (i, o) in &self.outcomes {
            let (kind, text) = match o {
                Outcome::Sent(t) => ("sent", t),
                Outcome::Failed(t) => ("failed", t),
                Outcome::Deferred(t) => ("deferred", t),
            };
            s.push_str(&format!("{kind} {i} {}\n", text.replace(['\r', '\n'], " ")));
        }
        s
    }

    /// Parse; `None` if it is not a state file (a torn write cannot happen: see the module doc).
    pub fn decode(s: &str) -> Option<State> {
        let mut lines = s.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut st = State::default();
        for line in lines {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "attempts" => st.attempts = rest.parse().ok()?,
                "next" => st.next_attempt = rest.parse().ok()?,
                "held" => st.held = true,
                "sent" | "failed" | "deferred" => {
                    let (i, text) = rest.split_once(' ').unwrap_or((rest, ""));
                    let text = text.to_string();
                    let o = match key {
                        "sent" => Outcome::Sent(text),
                        "failed" => Outcome::Failed(text),
                        _ => Outcome::Deferred(text),
                    };
                    st.outcomes.insert(i.parse().ok()?, o);
                }
                _ => {}
            }
        }
        Some(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut st = State { attempts: 3, next_attempt: 1_790_000_300, held: true, ..State::default() };
        st.outcomes.insert(0, Outcome::Sent("250 2.0.0 <bob@b.test> Saved".into()));
        st.outcomes.insert(2, Outcome::Failed("550 5.1.1 unknown\r\nuser".into()));
        st.outcomes.insert(3, Outcome::Deferred("451 4.3.0 later".into()));
        let got = State::decode(&st.encode()).unwrap();
        assert_eq!(got.outcomes[&2], Outcome::Failed("550 5.1.1 unknown  user".into()));
        assert!(got.held && got.attempts == 3 && got.is_final(0) && !got.is_final(3) && !got.is_final(1));
        assert_eq!(State::decode("garbage"), None);
    }
}
