//! The envelope at the head of every queue file: who sent the message, to whom, with which
//! DSN requests, from where. Text lines `key value`, values in xtext, ended by an empty line;
//! the message follows unchanged. Written once, when the message is accepted, never rewritten.

use std::io::{self, BufRead, Read};

use proto::xtext;

use super::QueueId;

/// First line of a queue file: format name and version.
pub const MAGIC: &str = "MAILROOM-QUEUE 1";

/// Longest envelope line read: far above any we write (an xtext address is at most a few
/// KiB), so a damaged file is an error instead of a message read whole into memory.
const MAX_LINE: u64 = 64 * 1024;

/// How a recipient is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A mailbox of ours: LMTP to the MDA.
    Local,
    /// Elsewhere: SMTP to the domain's MX.
    Remote,
}

/// RFC 3461 NOTIFY: when the sender wants a DSN for this recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    /// NOTIFY=SUCCESS.
    pub success: bool,
    /// NOTIFY=FAILURE (also the default when NOTIFY is absent).
    pub failure: bool,
    /// NOTIFY=DELAY.
    pub delay: bool,
    /// NOTIFY was given at all; without it only failures are reported.
    pub explicit: bool,
}

impl Notify {
    /// No NOTIFY parameter: report failures (RFC 3461 §4.1).
    pub const DEFAULT: Notify = Notify { success: false, failure: true, delay: false, explicit: false };

    /// The parameter's value (`NEVER`, or a comma list); `None` when absent.
    pub fn to_param(self) -> Option<String> {
        if !self.explicit {
            return None;
        }
        let mut v = Vec::new();
        if self.success {
            v.push("SUCCESS");
        }
        if self.failure {
            v.push("FAILURE");
        }
        if self.delay {
            v.push("DELAY");
        }
        Some(if v.is_empty() { "NEVER".into() } else { v.join(",") })
    }

    /// Parse a parameter value as written by [`Notify::to_param`].
    pub fn from_param(s: &str) -> Option<Notify> {
        let mut n = Notify { explicit: true, ..Notify::default() };
        for word in s.split(',') {
            match word.to_ascii_uppercase().as_str() {
                "NEVER" => {}
                "SUCCESS" => n.success = true,
                "FAILURE" => n.failure = true,
                "DELAY" => n.delay = true,
                _ => return None,
            }
        }
        Some(n)
    }
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Where to deliver: a mailbox address (with `+detail` kept) or a remote address.
    pub address: String,
    /// How.
    pub transport: Transport,
    /// What the client gave in RCPT TO (before alias expansion): RFC 3461 ORCPT, `rfc822;addr`.
    pub orcpt: Option<String>,
    /// DSN requests.
    pub notify: Notify,
}

/// A recipient's place in its envelope (RCPT order, from 0): how the delivery state and the
/// queue manager refer to it, since the envelope is never rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rcpt(pub(super) usize);

impl Rcpt {
    /// Its position, as written in the state file.
    pub fn index(self) -> usize {
        self.0
    }
}

/// RFC 3461 RET: how much of the message a failure DSN returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// RET=FULL.
    Full,
    /// RET=HDRS.
    Headers,
}

/// A queued message's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Queue id.
    pub id: QueueId,
    /// Seconds since the epoch when the message was accepted.
    pub arrival: u64,
    /// Envelope sender; empty for the null sender `<>` (bounces), which never gets a DSN.
    pub sender: String,
    /// RET.
    pub ret: Option<Ret>,
    /// ENVID.
    pub envid: Option<String>,
    /// BODY=8BITMIME.
    pub body_8bit: bool,
    /// SMTPUTF8.
    pub smtputf8: bool,
    /// REQUIRETLS (RFC 8689): only over verified TLS to a next hop that offers it. Written as
    /// a line of its own only when set, so files from before it read as `false`.
    pub requiretls: bool,
    /// The client, as `[address]` or `local` (logs and DSN Received-From-MTA).
    pub client: String,
    /// Its HELO name.
    pub helo: String,
    /// The SASL login it authenticated as, if any.
    pub auth: Option<String>,
    /// Recipients in RCPT order, aliases already expanded.
    pub recipients: Vec<Recipient>,
}

impl Envelope {
    /// Every recipient's [`Rcpt`], in order.
    pub fn rcpts(&self) -> impl Iterator<Item = Rcpt> + use<> {
        (0..self.recipients.len()).map(Rcpt)
    }

    /// The recipient at `r`.
    ///
    /// # Panics
    /// When `r` is not one of [`Envelope::rcpts`] (the state file's indexes are checked
    /// against the envelope when it is read).
    pub fn recipient(&self, r: Rcpt) -> &Recipient {
        &self.recipients[r.0]
    }

    /// The header block, ending with its empty line.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!(
            "{MAGIC}\nid {}\narrival {}\nsender {}\n",
            self.id,
            self.arrival,
            xtext::encode(&self.sender)
        );
        if let Some(r) = self.ret {
            s.push_str(if r == Ret::Full { "ret FULL\n" } else { "ret HDRS\n" });
        }
        if let Some(e) = &self.envid {
            s.push_str(&format!("envid {}\n", xtext::encode(e)));
        }
        if self.body_8bit {
            s.push_str("body 8BITMIME\n");
        }
        if self.smtputf8 {
            s.push_str("smtputf8\n");
        }
        if self.requiretls {
            s.push_str("requiretls\n");
        }
        s.push_str(&format!("client {}\nhelo {}\n", xtext::encode(&self.client), xtext::encode(&self.helo)));
        if let Some(a) = &self.auth {
            s.push_str(&format!("auth {}\n", xtext::encode(a)));
        }
        for r in &self.recipients {
            let t = if r.transport == Transport::Local { "local" } else { "remote" };
            s.push_str(&format!("rcpt {t} {}", xtext::encode(&r.address)));
            if let Some(n) = r.notify.to_param() {
                s.push_str(&format!(" notify={n}"));
            }
            if let Some(o) = &r.orcpt {
                s.push_str(&format!(" orcpt={}", xtext::encode(o)));
            }
            s.push('\n');
        }
        s.push('\n');
        s.into_bytes()
    }

    /// Read the header block from `r`, leaving it at the first byte of the message. Returns the
    /// envelope and the header's length in bytes (the message's offset in the file).
    pub fn decode(r: &mut impl BufRead) -> io::Result<(Envelope, u64)> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("queue file: {what}"));
        let mut line = String::new();
        let mut offset = 0u64;
        let mut next = |line: &mut String| -> io::Result<bool> {
            line.clear();
            let n = (&mut *r).take(MAX_LINE).read_line(line)?;
            offset += n as u64;
            if n as u64 == MAX_LINE && !line.ends_with('\n') {
                return Err(bad("envelope line too long"));
            }
            if n == 0 || !line.ends_with('\n') {
                return Err(bad("truncated envelope"));
            }
            line.pop();
            Ok(!line.is_empty())
        };
        next(&mut line)?;
        if line != MAGIC {
            return Err(bad("not a mailroom queue file"));
        }
        let mut env = Envelope {
            id: QueueId::generate(),
            arrival: 0,
            sender: String::new(),
            ret: None,
            envid: None,
            body_8bit: false,
            smtputf8: false,
            requiretls: false,
            client: String::new(),
            helo: String::new(),
            auth: None,
            recipients: Vec::new(),
        };
        let mut have_id = false;
        while next(&mut line)? {
            let (key, value) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let text = || xtext::decode(value).ok_or_else(|| bad(&format!("bad xtext in {key}")));
            match key {
                "id" => {
                    env.id = QueueId::parse(value).ok_or_else(|| bad("bad id"))?;
                    have_id = true;
                }
                "arrival" => env.arrival = value.parse().map_err(|_| bad("bad arrival"))?,
                "sender" => env.sender = text()?,
                "ret" => env.ret = Some(if value == "FULL" { Ret::Full } else { Ret::Headers }),
                "envid" => env.envid = Some(text()?),
                "body" => env.body_8bit = value == "8BITMIME",
                "smtputf8" => env.smtputf8 = true,
                "requiretls" => env.requiretls = true,
                "client" => env.client = text()?,
                "helo" => env.helo = text()?,
                "auth" => env.auth = Some(text()?),
                "rcpt" => env.recipients.push(decode_rcpt(value).ok_or_else(|| bad("bad rcpt line"))?),
                // Unknown keys are from a newer version: keep going, they are advisory.
                _ => {}
            }
        }
        if !have_id || env.recipients.is_empty() {
            return Err(bad("envelope without id or recipients"));
        }
        Ok((env, offset))
    }
}

fn decode_rcpt(value: &str) -> Option<Recipient> {
    let mut words = value.split(' ');
    let transport = match words.next()? {
        "local" => Transport::Local,
        "remote" => Transport::Remote,
        _ => return None,
    };
    let mut r =
        Recipient { address: xtext::decode(words.next()?)?, transport, orcpt: None, notify: Notify::DEFAULT };
    for w in words {
        match w.split_once('=')? {
            ("notify", v) => r.notify = Notify::from_param(v)?,
            ("orcpt", v) => r.orcpt = Some(xtext::decode(v)?),
            _ => {}
        }
    }
    Some(r)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Envelope {
        Envelope {
            id: QueueId::parse("0123456789ABCDEF").unwrap(),
            arrival: 1_790_000_000,
            sender: "alice@a.test".into(),
            ret: Some(Ret::Headers),
            envid: Some("QQ 314159".into()),
            body_8bit: true,
            smtputf8: false,
            requiretls: true,
            client: "[192.0.2.7]".into(),
            helo: "mx.a.test".into(),
            auth: Some("alice@a.test".into()),
            recipients: vec![
                Recipient {
                    address: "bob+lists@b.test".into(),
                    transport: Transport::Local,
                    orcpt: Some("rfc822;team@b.test".into()),
                    notify: Notify { success: true, failure: true, delay: false, explicit: true },
                },
                Recipient {
                    address: "carol@c.test".into(),
                    transport: Transport::Remote,
                    orcpt: None,
                    notify: Notify { explicit: true, ..Notify::default() },
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_offset() {
        let env = sample();
        let mut file = env.encode();
        let header_len = file.len() as u64;
        file.extend_from_slice(b"Subject: x\r\n\r\nbody\r\n");
        let mut r = io::Cursor::new(&file);
        let (got, offset) = Envelope::decode(&mut r).unwrap();
        assert_eq!(got, env);
        assert_eq!(offset, header_len);
        assert_eq!(got.recipients[1].notify.to_param().as_deref(), Some("NEVER"));
    }

    #[test]
    fn truncated_or_foreign_files_are_errors() {
        let full = sample().encode();
        for cut in [0, 5, full.len() / 2, full.len() - 1] {
            assert!(Envelope::decode(&mut io::Cursor::new(&full[..cut])).is_err(), "cut at {cut}");
        }
        assert!(Envelope::decode(&mut io::Cursor::new(b"From x\n\n")).is_err());
        let mut long = format!("{MAGIC}\nhelo ").into_bytes();
        long.resize(MAX_LINE as usize * 2, b'a');
        let e = Envelope::decode(&mut io::Cursor::new(&long)).unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
    }

    /// What a crash or an admin may leave: every byte of a valid header replaced by bytes that
    /// matter to the syntax, and every prefix; decoding never panics, and what decodes
    /// re-encodes to an envelope that decodes the same.
    #[test]
    fn damaged_envelopes_are_errors_or_envelopes() {
        let full = sample().encode();
        for i in 0..full.len() {
            for b in [0, b'\n', b' ', b'=', b'+', b',', b'0', b'F', 0xc3, 0xff] {
                let mut bytes = full.clone();
                bytes[i] = b;
                if let Ok((env, _)) = Envelope::decode(&mut io::Cursor::new(&bytes)) {
                    let again = env.encode();
                    assert_eq!(Envelope::decode(&mut io::Cursor::new(&again)).unwrap().0, env);
                }
            }
            let _ = Envelope::decode(&mut io::Cursor::new(&full[..i]));
        }
    }
}
