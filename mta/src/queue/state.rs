//! Delivery state of a queued message, beside its queue file in `state/<id>`: attempts, when
//! to try next, held or not, and each recipient's outcome so far. Absent means "new, never
//! tried". Rewritten whole through a temporary file, fsync and rename (then the directory is
//! fsynced), so it is always one version or the other; losing the latest version to a crash
//! only means a recipient is tried again, which the MDA's duplicate suppression absorbs.
//!
//! Format 2 (written): `MAILROOM-STATE 2`, then `attempts N`, `next SECONDS`, `held` when
//! held, and one line per recipient tried:
//! `rcpt INDEX sent|bounced|expired|deferred CODE ENHANCED|- RELAY|- TEXT` (relay in xtext,
//! text to the end of the line). Format 1 (read, and rewritten as format 2 at the next
//! change) kept only the reply as text per recipient: `sent|failed|deferred INDEX REPLY`, an
//! expiry marked by the suffix ` (delivery time expired)`.

use std::collections::BTreeMap;

use proto::xtext;

use super::{Envelope, Rcpt, Reply, Status};

/// First line of a state file in the format written.
pub const MAGIC: &str = "MAILROOM-STATE 2";
/// First line of a format 1 state file.
const MAGIC_1: &str = "MAILROOM-STATE 1";
/// How format 1 marked an expired recipient.
const EXPIRED_1: &str = " (delivery time expired)";

/// One recipient's last delivery attempt: what was answered, and who answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The reply (ours when no server gave one).
    pub reply: Reply,
    /// The server: `host[address]:port`, an LMTP target, `none` when none was reached;
    /// `None` when not recorded (format 1).
    pub relay: Option<String>,
}

/// Where one recipient stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Sent(Attempt),
    /// Refused for good (5xx).
    Bounced(Attempt),
    /// Still failing temporarily when the message reached `max_queue_lifetime`: given up.
    Expired(Attempt),
    /// Failed temporarily; tried again later.
    Deferred(Attempt),
}

impl Outcome {
    /// What `attempt` makes of a recipient: its reply decides, and a temporary failure of a
    /// message that has been queued too long (`expired`) is final.
    pub fn of(attempt: Attempt, expired: bool) -> Outcome {
        if attempt.reply.is_positive() {
            Outcome::Sent(attempt)
        } else if attempt.reply.is_permanent() {
            Outcome::Bounced(attempt)
        } else if expired {
            Outcome::Expired(attempt)
        } else {
            Outcome::Deferred(attempt)
        }
    }

    /// Sent or failed: nothing more to do for this recipient.
    pub fn is_final(&self) -> bool {
        !matches!(self, Outcome::Deferred(_))
    }

    /// Failed for good (bounced or expired): the sender gets a failure report.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Bounced(_) | Outcome::Expired(_))
    }

    /// The attempt that decided it.
    pub fn attempt(&self) -> &Attempt {
        match self {
            Outcome::Sent(a) | Outcome::Bounced(a) | Outcome::Expired(a) | Outcome::Deferred(a) => a,
        }
    }

    /// The word for it in logs (`status=`), the state file and `mailroomctl queue`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Sent(_) => "sent",
            Outcome::Bounced(_) => "bounced",
            Outcome::Expired(_) => "expired",
            Outcome::Deferred(_) => "deferred",
        }
    }

    /// The RFC 3464 Status of a DSN about it: the reply's, or 4.4.7 for an expiry.
    pub fn status(&self) -> Status {
        match self {
            Outcome::Expired(_) => Status::EXPIRED,
            o => o.attempt().reply.status(),
        }
    }

    /// The same outcome made pending again (a failure whose report could not be queued).
    pub fn deferred(self) -> Outcome {
        match self {
            Outcome::Sent(a) | Outcome::Bounced(a) | Outcome::Expired(a) | Outcome::Deferred(a) => {
                Outcome::Deferred(a)
            }
        }
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
    /// Outcome per recipient; absent: not tried yet.
    pub outcomes: BTreeMap<Rcpt, Outcome>,
}

impl State {
    /// Is recipient `r` finished?
    pub fn is_final(&self, r: Rcpt) -> bool {
        self.outcomes.get(&r).is_some_and(Outcome::is_final)
    }

    /// Forget outcomes of recipients `env` does not have (a state file edited by hand or
    /// paired with the wrong queue file), so every [`Rcpt`] left is valid for `env`.
    pub fn fit(&mut self, env: &Envelope) {
        let n = env.recipients.len();
        self.outcomes.retain(|r, _| r.index() < n);
    }

    /// Serialise, in the current format.
    pub fn encode(&self) -> String {
        let mut s = format!("{MAGIC}\nattempts {}\nnext {}\n", self.attempts, self.next_attempt);
        if self.held {
            s.push_str("held\n");
        }
        for (r, o) in &self.outcomes {
            let Attempt { reply, relay } = o.attempt();
            let enhanced = reply.enhanced.map_or("-".to_string(), |st| st.to_string());
            let relay = relay.as_deref().map_or("-".to_string(), xtext::encode);
            let text = reply.text.replace(['\r', '\n'], " ");
            s.push_str(&format!(
                "rcpt {} {} {} {enhanced} {relay} {text}\n",
                r.index(),
                o.name(),
                reply.code
            ));
        }
        s
    }

    /// Parse either format; `None` if it is not a state file (a torn write cannot happen: see
    /// the module doc). Unknown keys are skipped: they come from a newer version.
    pub fn decode(s: &str) -> Option<State> {
        let mut lines = s.lines();
        let version = match lines.next()? {
            MAGIC => 2,
            MAGIC_1 => 1,
            _ => return None,
        };
        let mut st = State::default();
        for line in lines {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match (version, key) {
                (_, "attempts") => st.attempts = rest.parse().ok()?,
                (_, "next") => st.next_attempt = rest.parse().ok()?,
                (_, "held") => st.held = true,
                (2, "rcpt") => {
                    let (r, o) = decode_rcpt(rest)?;
                    st.outcomes.insert(r, o);
                }
                (1, "sent" | "failed" | "deferred") => {
                    let (r, o) = decode_rcpt_1(key, rest)?;
                    st.outcomes.insert(r, o);
                }
                _ => {}
            }
        }
        Some(st)
    }
}

/// `INDEX OUTCOME CODE ENHANCED|- RELAY|- TEXT`.
fn decode_rcpt(line: &str) -> Option<(Rcpt, Outcome)> {
    let mut words = line.splitn(6, ' ');
    let index = words.next()?.parse().ok()?;
    let kind = words.next()?;
    let code = words.next()?.parse().ok().filter(|c| (200..600).contains(c))?;
    let enhanced = match words.next()? {
        "-" => None,
        e => Some(Status::parse(e)?),
    };
    let relay = match words.next()? {
        "-" => None,
        r => Some(xtext::decode(r)?),
    };
    let reply = Reply::new(code, enhanced, words.next().unwrap_or(""));
    let a = Attempt { reply, relay };
    let outcome = match kind {
        "sent" => Outcome::Sent(a),
        "bounced" => Outcome::Bounced(a),
        "expired" => Outcome::Expired(a),
        "deferred" => Outcome::Deferred(a),
        _ => return None,
    };
    Some((Rcpt(index), outcome))
}

/// Format 1: `sent|failed|deferred INDEX REPLY`, where REPLY is the reply as text, an expiry
/// marked by a suffix. A reply that does not parse is kept as text under a code of its kind.
fn decode_rcpt_1(kind: &str, line: &str) -> Option<(Rcpt, Outcome)> {
    let (index, text) = line.split_once(' ').unwrap_or((line, ""));
    let index = index.parse().ok()?;
    let expired = kind == "failed" && text.ends_with(EXPIRED_1);
    let text = if expired { &text[..text.len() - EXPIRED_1.len()] } else { text };
    let fallback = match kind {
        "sent" => 250,
        "failed" if !expired => 550,
        _ => 451,
    };
    let reply = Reply::parse(text).unwrap_or_else(|| Reply::new(fallback, None, text));
    let a = Attempt { reply, relay: None };
    let outcome = match kind {
        "sent" => Outcome::Sent(a),
        "failed" if expired => Outcome::Expired(a),
        "failed" => Outcome::Bounced(a),
        _ => Outcome::Deferred(a),
    };
    Some((Rcpt(index), outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(reply: &str, relay: Option<&str>) -> Attempt {
        Attempt { reply: Reply::parse(reply).unwrap(), relay: relay.map(String::from) }
    }

    #[test]
    fn round_trip() {
        let mut st = State { attempts: 3, next_attempt: 1_790_000_300, held: true, ..State::default() };
        st.outcomes
            .insert(Rcpt(0), Outcome::Sent(attempt("250 2.0.0 <bob@b.test> Saved", Some("unix:/run/l mtp"))));
        let unknown =
            Attempt { reply: Reply::new(550, Status::parse("5.1.1"), "unknown\r\nuser"), relay: None };
        st.outcomes.insert(Rcpt(2), Outcome::Bounced(unknown));
        st.outcomes.insert(Rcpt(3), Outcome::Deferred(attempt("451 later", Some("mx.c.test[192.0.2.1]:25"))));
        st.outcomes.insert(Rcpt(4), Outcome::Expired(attempt("421 4.4.2 timeout", Some("none"))));
        let text = st.encode();
        assert!(text.starts_with("MAILROOM-STATE 2\n"), "{text}");
        assert!(text.contains("\nrcpt 0 sent 250 2.0.0 unix:/run/l+20mtp <bob@b.test> Saved\n"), "{text}");
        assert!(text.contains("\nrcpt 3 deferred 451 - mx.c.test[192.0.2.1]:25 later\n"), "{text}");
        let got = State::decode(&text).unwrap();
        assert_eq!(got, st);
        assert_eq!(got.outcomes[&Rcpt(2)].attempt().reply.text, "unknown  user");
        assert!(got.held && got.attempts == 3 && got.is_final(Rcpt(0)) && got.is_final(Rcpt(4)));
        assert!(!got.is_final(Rcpt(3)) && !got.is_final(Rcpt(1)));
        assert_eq!(got.outcomes[&Rcpt(4)].status(), Status::EXPIRED);
        assert_eq!(got.outcomes[&Rcpt(3)].status().to_string(), "4.0.0");
        assert_eq!(State::decode("garbage"), None);
        assert_eq!(State::decode("MAILROOM-STATE 3\nattempts 1\n"), None);
        for bad in [
            "rcpt x sent 250 - - ok",
            "rcpt 0 lost 250 - - ok",
            "rcpt 0 sent 99 - - ok",
            "rcpt 0 sent 250 2.0 - ok",
        ] {
            assert_eq!(State::decode(&format!("{MAGIC}\n{bad}\n")), None, "{bad}");
        }
    }

    /// A damaged state file (every byte of both formats replaced by bytes that matter to the
    /// syntax) is refused or read; never a panic, and what is read is written back the same.
    #[test]
    fn damaged_state_files_are_errors_or_states() {
        let mut st = State { attempts: 1, next_attempt: 5, ..State::default() };
        st.outcomes.insert(Rcpt(1), Outcome::Deferred(attempt("451 4.4.1 x y", Some("h[1.2.3.4]:25"))));
        let v1 =
            "MAILROOM-STATE 1\nattempts 2\nnext 9\nsent 0 250 ok\nfailed 1 451 x (delivery time expired)\n";
        for text in [st.encode(), v1.to_string()] {
            for i in 0..text.len() {
                for b in [0, b'\n', b'\r', b' ', b'-', b'+', b'.', b'9', 0xc3] {
                    let mut bytes = text.clone().into_bytes();
                    bytes[i] = b;
                    if let Some(got) = State::decode(&String::from_utf8_lossy(&bytes)) {
                        assert_eq!(State::decode(&got.encode()), Some(got));
                    }
                }
            }
        }
    }

    /// Exactly what format 1 wrote (`encode` before format 2): every outcome comes back typed.
    #[test]
    fn format_1_is_read() {
        let v1 = "MAILROOM-STATE 1\nattempts 2\nnext 1790003600\nheld\n\
                  sent 0 250 2.0.0 <bob@b.test> Saved\n\
                  failed 1 552 5.2.2 <full@b.test> Quota exceeded\n\
                  failed 2 451 4.4.1 connect to 192.0.2.1:25: refused (delivery time expired)\n\
                  deferred 3 451 4.4.2 delivery to unix:/run/lmtp failed: gone\n\
                  failed 4 no code at all\n";
        let st = State::decode(v1).unwrap();
        assert!(st.held && st.attempts == 2 && st.next_attempt == 1_790_003_600);
        assert_eq!(st.outcomes[&Rcpt(0)], Outcome::Sent(attempt("250 2.0.0 <bob@b.test> Saved", None)));
        assert_eq!(
            st.outcomes[&Rcpt(1)],
            Outcome::Bounced(attempt("552 5.2.2 <full@b.test> Quota exceeded", None))
        );
        assert_eq!(
            st.outcomes[&Rcpt(2)],
            Outcome::Expired(attempt("451 4.4.1 connect to 192.0.2.1:25: refused", None))
        );
        assert_eq!(
            st.outcomes[&Rcpt(3)],
            Outcome::Deferred(attempt("451 4.4.2 delivery to unix:/run/lmtp failed: gone", None))
        );
        assert_eq!(
            st.outcomes[&Rcpt(4)],
            Outcome::Bounced(Attempt { reply: Reply::new(550, None, "no code at all"), relay: None })
        );
        // Rewritten in format 2, nothing is lost.
        assert_eq!(State::decode(&st.encode()).unwrap(), st);
    }
}
