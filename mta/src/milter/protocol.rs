//! The Sendmail milter protocol, version 6 as Postfix speaks it, with no I/O.
//!
//! Every packet is a 4-byte big-endian length (counting the command byte), a command byte and
//! its data; strings are NUL-terminated. The MTA writes [`Command`]s and reads [`Response`]s
//! with [`decode`]. The first exchange is the option negotiation: the MTA offers the
//! [`actions`] a filter may take and the [`flags`] steps it may skip or not answer, the filter
//! replies with the subset it wants (and, optionally, the macros it wants at each [`Stage`]),
//! and [`Negotiation::agree`] turns that into a [`Negotiated`] the client asks before each
//! step: send it at all ([`Negotiated::sends`]), wait for a reply ([`Negotiated::replies`]),
//! accept a modification ([`Negotiated::allows`]).

use std::fmt;

/// The protocol version we speak (Sendmail 8.14 / Postfix 2.6 and later).
pub const VERSION: u32 = 6;
/// Oldest filter version accepted (Postfix accepts 2 onwards).
pub const MIN_VERSION: u32 = 2;
/// Largest body chunk we send (MILTER_CHUNK_SIZE).
pub const MAX_BODY_CHUNK: usize = 65535;
/// Largest packet we read: a replaced body chunk of up to 1 MiB (SMFIP_MDS_1M) and change.
pub const MAX_PACKET: usize = (1 << 20) + 1024;

/// What a filter may do to a message (SMFIF_*), offered by the MTA, chosen by the filter.
pub mod actions {
    /// Add headers (SMFIF_ADDHDRS).
    pub const ADD_HEADERS: u32 = 0x01;
    /// Replace the body (SMFIF_CHGBODY).
    pub const CHANGE_BODY: u32 = 0x02;
    /// Add recipients (SMFIF_ADDRCPT).
    pub const ADD_RCPT: u32 = 0x04;
    /// Delete recipients (SMFIF_DELRCPT).
    pub const DEL_RCPT: u32 = 0x08;
    /// Change, insert or delete headers (SMFIF_CHGHDRS).
    pub const CHANGE_HEADERS: u32 = 0x10;
    /// Quarantine the message (SMFIF_QUARANTINE).
    pub const QUARANTINE: u32 = 0x20;
    /// Change the envelope sender (SMFIF_CHGFROM).
    pub const CHANGE_FROM: u32 = 0x40;
    /// Add recipients with ESMTP parameters (SMFIF_ADDRCPT_PAR).
    pub const ADD_RCPT_PAR: u32 = 0x80;
    /// Choose the macros sent at each stage (SMFIF_SETSYMLIST).
    pub const SET_SYMLIST: u32 = 0x100;
    /// Everything above: what we offer.
    pub const ALL: u32 = 0x1ff;
}

/// Protocol steps a filter may skip (SMFIP_NO*) or not answer (SMFIP_NR_*), and the rest of
/// the SMFIP_* bits.
pub mod flags {
    /// No CONNECT.
    pub const NO_CONNECT: u32 = 0x01;
    /// No HELO.
    pub const NO_HELO: u32 = 0x02;
    /// No MAIL.
    pub const NO_MAIL: u32 = 0x04;
    /// No RCPT.
    pub const NO_RCPT: u32 = 0x08;
    /// No body chunks.
    pub const NO_BODY: u32 = 0x10;
    /// No headers.
    pub const NO_HEADERS: u32 = 0x20;
    /// No end of headers.
    pub const NO_EOH: u32 = 0x40;
    /// No reply to a header (SMFIP_NR_HDR, also known as SMFIP_NOHREPL).
    pub const NR_HEADER: u32 = 0x80;
    /// No unknown commands.
    pub const NO_UNKNOWN: u32 = 0x100;
    /// No DATA.
    pub const NO_DATA: u32 = 0x200;
    /// The MTA understands SMFIR_SKIP.
    pub const SKIP: u32 = 0x400;
    /// The filter wants rejected recipients too.
    pub const RCPT_REJ: u32 = 0x800;
    /// No reply to CONNECT.
    pub const NR_CONNECT: u32 = 0x1000;
    /// No reply to HELO.
    pub const NR_HELO: u32 = 0x2000;
    /// No reply to MAIL.
    pub const NR_MAIL: u32 = 0x4000;
    /// No reply to RCPT.
    pub const NR_RCPT: u32 = 0x8000;
    /// No reply to DATA.
    pub const NR_DATA: u32 = 0x10000;
    /// No reply to unknown commands.
    pub const NR_UNKNOWN: u32 = 0x20000;
    /// No reply to end of headers.
    pub const NR_EOH: u32 = 0x40000;
    /// No reply to body chunks.
    pub const NR_BODY: u32 = 0x80000;
    /// Header values keep their leading space, both ways.
    pub const HEADER_LEADING_SPACE: u32 = 0x100000;
    /// The filter takes body chunks of up to 256 KiB (we send at most 64 KiB anyway).
    pub const MDS_256K: u32 = 0x10000000;
    /// The filter takes body chunks of up to 1 MiB.
    pub const MDS_1M: u32 = 0x20000000;
    /// What we offer: every step may be skipped or left unanswered, SKIP, leading spaces.
    pub const OFFERED: u32 = 0x1fffff;
}

/// The stages at which macros are sent (SMFIM_*), numbered as in the negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Before CONNECT.
    Connect = 0,
    /// Before HELO.
    Helo = 1,
    /// Before MAIL.
    Mail = 2,
    /// Before RCPT.
    Rcpt = 3,
    /// Before DATA.
    Data = 4,
    /// Before the end of the message.
    Eom = 5,
    /// Before the end of headers.
    Eoh = 6,
}

impl Stage {
    /// Every stage, by number.
    pub const ALL: [Stage; 7] =
        [Stage::Connect, Stage::Helo, Stage::Mail, Stage::Rcpt, Stage::Data, Stage::Eom, Stage::Eoh];

    /// The stage numbered `n`.
    pub fn from_index(n: u32) -> Option<Stage> {
        Stage::ALL.get(usize::try_from(n).ok()?).copied()
    }

    /// The command byte the macros go with.
    pub fn command(self) -> u8 {
        match self {
            Stage::Connect => b'C',
            Stage::Helo => b'H',
            Stage::Mail => b'M',
            Stage::Rcpt => b'R',
            Stage::Data => b'T',
            Stage::Eom => b'E',
            Stage::Eoh => b'N',
        }
    }
}

/// The steps of a conversation a filter may skip or leave unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// CONNECT.
    Connect,
    /// HELO.
    Helo,
    /// MAIL.
    Mail,
    /// RCPT.
    Rcpt,
    /// DATA.
    Data,
    /// One header.
    Header,
    /// End of headers.
    Eoh,
    /// One body chunk.
    Body,
    /// An unknown SMTP command.
    Unknown,
}

impl Step {
    /// (SMFIP_NO*, SMFIP_NR_*).
    fn bits(self) -> (u32, u32) {
        use flags::*;
        match self {
            Step::Connect => (NO_CONNECT, NR_CONNECT),
            Step::Helo => (NO_HELO, NR_HELO),
            Step::Mail => (NO_MAIL, NR_MAIL),
            Step::Rcpt => (NO_RCPT, NR_RCPT),
            Step::Data => (NO_DATA, NR_DATA),
            Step::Header => (NO_HEADERS, NR_HEADER),
            Step::Eoh => (NO_EOH, NR_EOH),
            Step::Body => (NO_BODY, NR_BODY),
            Step::Unknown => (NO_UNKNOWN, NR_UNKNOWN),
        }
    }
}

/// The client's address in CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Family {
    /// Unknown: no address, no port (SMFIA_UNKNOWN).
    Unknown,
    /// IPv4 or IPv6 address and port (SMFIA_INET, SMFIA_INET6).
    Inet(std::net::SocketAddr),
    /// A Unix socket path (SMFIA_UNIX).
    Unix(String),
}

/// What the MTA sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// SMFIC_OPTNEG: our version, the actions and protocol flags we offer.
    OptNeg {
        /// Protocol version.
        version: u32,
        /// SMFIF_* offered.
        actions: u32,
        /// SMFIP_* offered.
        protocol: u32,
    },
    /// SMFIC_MACRO: name/value pairs for a stage (`j`, `{client_addr}`, ...).
    Macro {
        /// The stage they belong to.
        stage: Stage,
        /// Name and value pairs.
        macros: &'a [(&'a str, String)],
    },
    /// SMFIC_CONNECT: client host name and address.
    Connect {
        /// The client's name (or `[address]` when it has none).
        hostname: &'a str,
        /// Its address.
        family: &'a Family,
    },
    /// SMFIC_HELO.
    Helo(&'a str),
    /// SMFIC_MAIL: `<sender>` then the ESMTP parameters.
    Mail(&'a [String]),
    /// SMFIC_RCPT: `<recipient>` then the ESMTP parameters.
    Rcpt(&'a [String]),
    /// SMFIC_DATA.
    Data,
    /// SMFIC_HEADER: name and value (folded lines joined by LF, no CR).
    Header {
        /// Field name.
        name: &'a str,
        /// Field value.
        value: &'a str,
    },
    /// SMFIC_EOH.
    Eoh,
    /// SMFIC_BODY: at most [`MAX_BODY_CHUNK`] bytes of CRLF body.
    Body(&'a [u8]),
    /// SMFIC_BODYEOB.
    Eob,
    /// SMFIC_ABORT: forget the message, keep the connection.
    Abort,
    /// SMFIC_QUIT.
    Quit,
    /// SMFIC_QUIT_NC: end of this connection's session, the filter connection stays for the next.
    QuitNc,
    /// SMFIC_UNKNOWN: an SMTP command the MTA did not recognise.
    Unknown(&'a str),
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // A NUL would end the string early on the other side: it cannot be sent.
    out.extend(s.bytes().filter(|&b| b != 0));
    out.push(0);
}

impl Command<'_> {
    /// The command byte.
    pub fn code(&self) -> u8 {
        match self {
            Command::OptNeg { .. } => b'O',
            Command::Macro { .. } => b'D',
            Command::Connect { .. } => b'C',
            Command::Helo(_) => b'H',
            Command::Mail(_) => b'M',
            Command::Rcpt(_) => b'R',
            Command::Data => b'T',
            Command::Header { .. } => b'L',
            Command::Eoh => b'N',
            Command::Body(_) => b'B',
            Command::Eob => b'E',
            Command::Abort => b'A',
            Command::Quit => b'Q',
            Command::QuitNc => b'K',
            Command::Unknown(_) => b'U',
        }
    }

    /// Appends the packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, self.code()]);
        match self {
            Command::OptNeg { version, actions, protocol } => {
                for n in [version, actions, protocol] {
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
            Command::Macro { stage, macros } => {
                out.push(stage.command());
                for (name, value) in macros.iter() {
                    put_str(out, name);
                    put_str(out, value);
                }
            }
            Command::Connect { hostname, family } => {
                put_str(out, hostname);
                match family {
                    Family::Unknown => out.push(b'U'),
                    Family::Inet(addr) => {
                        out.push(if addr.is_ipv4() { b'4' } else { b'6' });
                        out.extend_from_slice(&addr.port().to_be_bytes());
                        put_str(out, &addr.ip().to_string());
                    }
                    Family::Unix(path) => {
                        out.push(b'L');
                        out.extend_from_slice(&0u16.to_be_bytes());
                        put_str(out, path);
                    }
                }
            }
            Command::Helo(name) | Command::Unknown(name) => put_str(out, name),
            Command::Mail(args) | Command::Rcpt(args) => {
                for a in args.iter() {
                    put_str(out, a);
                }
            }
            Command::Header { name, value } => {
                put_str(out, name);
                put_str(out, value);
            }
            Command::Body(chunk) => {
                debug_assert!(chunk.len() <= MAX_BODY_CHUNK);
                out.extend_from_slice(chunk);
            }
            Command::Data
            | Command::Eoh
            | Command::Eob
            | Command::Abort
            | Command::Quit
            | Command::QuitNc => {}
        }
        let len = u32::try_from(out.len() - start - 4).expect("packet fits");
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The packet alone.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// A filter's answer to the option negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    /// The filter's protocol version.
    pub version: u32,
    /// SMFIF_* it wants.
    pub actions: u32,
    /// SMFIP_* it wants.
    pub protocol: u32,
    /// Macros it wants per stage (SMFIF_SETSYMLIST), names as they are sent.
    pub macros: Vec<(Stage, Vec<String>)>,
}

/// The outcome of the negotiation: what to send, what to wait for, what to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The filter's version.
    pub version: u32,
    /// The SMFIF_* actions both agreed on.
    pub actions: u32,
    /// The SMFIP_* flags both agreed on.
    pub protocol: u32,
    macros: [Option<Vec<String>>; 7],
}

impl Negotiation {
    /// Checks the filter's answer against what we offered. Actions we did not offer are
    /// dropped (the filter will be refused them); protocol bits we did not offer, other than
    /// body chunk sizes, are an error (a step it would skip or not answer that we would send
    /// and wait for).
    pub fn agree(&self, offered_actions: u32, offered_protocol: u32) -> Result<Negotiated, Error> {
        if !(MIN_VERSION..=VERSION).contains(&self.version) {
            return Err(Error::Version(self.version));
        }
        let sizes = flags::MDS_256K | flags::MDS_1M;
        let extra = self.protocol & !offered_protocol & !sizes;
        if extra != 0 {
            return Err(Error::Protocol(extra));
        }
        let actions = self.actions & offered_actions;
        let mut macros: [Option<Vec<String>>; 7] = Default::default();
        if actions & actions::SET_SYMLIST != 0 {
            for (stage, names) in &self.macros {
                macros[*stage as usize] = Some(names.clone());
            }
        }
        Ok(Negotiated { version: self.version, actions, protocol: self.protocol & !sizes, macros })
    }
}

impl Negotiated {
    /// Whether `step` is sent at all.
    pub fn sends(&self, step: Step) -> bool {
        self.protocol & step.bits().0 == 0
    }

    /// Whether `step`, once sent, is answered (SMFIP_NR_* exist from version 6).
    pub fn replies(&self, step: Step) -> bool {
        self.protocol & step.bits().1 == 0
    }

    /// Whether the filter agreed to take `action` (an [`actions`] bit).
    pub fn allows(&self, action: u32) -> bool {
        self.actions & action == action
    }

    /// Whether header values keep their leading space.
    pub fn leading_space(&self) -> bool {
        self.protocol & flags::HEADER_LEADING_SPACE != 0
    }

    /// Whether SMFIR_SKIP may answer a body chunk.
    pub fn skip(&self) -> bool {
        self.protocol & flags::SKIP != 0
    }

    /// The macros the filter chose for `stage`; `None`: whatever the MTA sends by default.
    pub fn macros(&self, stage: Stage) -> Option<&[String]> {
        self.macros[stage as usize].as_deref()
    }
}

/// An SMTP reply a filter chose (SMFIR_REPLYCODE): code 4xx or 5xx and its text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyCode {
    /// 400 to 599.
    pub code: u16,
    /// The lines after `ddd[ -]`, usually starting with an enhanced code.
    pub lines: Vec<String>,
}

/// A change to the message or its envelope, applied at the end of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modification {
    /// SMFIR_ADDHEADER: append a header.
    AddHeader {
        /// Field name.
        name: String,
        /// Value, folded lines joined by LF.
        value: String,
    },
    /// SMFIR_INSHEADER: insert a header before the `index`th (0: first).
    InsertHeader {
        /// Position among all headers.
        index: u32,
        /// Field name.
        name: String,
        /// Value.
        value: String,
    },
    /// SMFIR_CHGHEADER: change the `index`th (from 1) header called `name`; an empty value
    /// deletes it (smfi_chgheader with NULL, the only way to delete a header).
    ChangeHeader {
        /// Occurrence of `name`, from 1.
        index: u32,
        /// Field name.
        name: String,
        /// New value; empty: delete.
        value: String,
    },
    /// SMFIR_REPLBODY: one chunk of the new body; consecutive chunks concatenate.
    ReplaceBody(Vec<u8>),
    /// SMFIR_CHGFROM: new envelope sender and its ESMTP parameters.
    ChangeFrom {
        /// The address, maybe in angle brackets.
        address: String,
        /// ESMTP parameters, if any.
        args: Option<String>,
    },
    /// SMFIR_ADDRCPT or SMFIR_ADDRCPT_PAR: one more recipient.
    AddRcpt {
        /// The address, maybe in angle brackets.
        address: String,
        /// ESMTP parameters (ADDRCPT_PAR only).
        args: Option<String>,
    },
    /// SMFIR_DELRCPT: remove a recipient, as given in RCPT.
    DelRcpt(String),
}

impl Modification {
    /// The action the filter must have negotiated for it.
    pub fn action(&self) -> u32 {
        match self {
            Modification::AddHeader { .. } => actions::ADD_HEADERS,
            Modification::InsertHeader { .. } | Modification::ChangeHeader { .. } => actions::CHANGE_HEADERS,
            Modification::ReplaceBody(_) => actions::CHANGE_BODY,
            Modification::ChangeFrom { .. } => actions::CHANGE_FROM,
            Modification::AddRcpt { args: None, .. } => actions::ADD_RCPT,
            Modification::AddRcpt { args: Some(_), .. } => actions::ADD_RCPT_PAR,
            Modification::DelRcpt(_) => actions::DEL_RCPT,
        }
    }
}

/// What a filter sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The answer to SMFIC_OPTNEG.
    OptNeg(Negotiation),
    /// SMFIR_ACCEPT: accept the message (or connection), ask this filter nothing more about it.
    Accept,
    /// SMFIR_CONTINUE: go on.
    Continue,
    /// SMFIR_REJECT: 5xx.
    Reject,
    /// SMFIR_TEMPFAIL: 4xx.
    Tempfail,
    /// SMFIR_DISCARD: accept and drop silently.
    Discard,
    /// SMFIR_REPLYCODE: reject or tempfail with this reply.
    ReplyCode(ReplyCode),
    /// SMFIR_QUARANTINE: hold the message, with a reason (not a final answer).
    Quarantine(String),
    /// SMFIR_SKIP: send no more body chunks.
    Skip,
    /// SMFIR_PROGRESS: still working, restart the timeout.
    Progress,
    /// SMFIR_SHUTDOWN: 421, close.
    Shutdown,
    /// SMFIR_CONN_FAIL: the connection failed (treated like tempfail).
    ConnFail,
    /// SMFIR_SETSYMLIST outside the negotiation (stage and macro names).
    SetSymList(Stage, Vec<String>),
    /// A modification (only as part of the answer to the end of the message).
    Modify(Modification),
}

/// A packet we cannot use: the filter is broken or not a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Length 0 (no command byte).
    Empty,
    /// Longer than [`MAX_PACKET`].
    TooLong(u32),
    /// A command byte no filter sends.
    UnknownCommand(u8),
    /// The data does not fit the command.
    Malformed(u8, &'static str),
    /// A version outside [`MIN_VERSION`]..=[`VERSION`].
    Version(u32),
    /// Protocol flags we did not offer.
    Protocol(u32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => write!(f, "empty packet"),
            Error::TooLong(n) => write!(f, "packet of {n} bytes is too long"),
            Error::UnknownCommand(c) => write!(f, "unknown reply {:?}", char::from(*c)),
            Error::Malformed(c, why) => write!(f, "malformed reply {:?}: {why}", char::from(*c)),
            Error::Version(v) => write!(f, "unsupported protocol version {v}"),
            Error::Protocol(p) => write!(f, "unsupported protocol flags {p:#x}"),
        }
    }
}

impl std::error::Error for Error {}

/// Reads the data of one packet.
struct Reader<'a> {
    code: u8,
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, Error> {
        let Some((head, rest)) = self.data.split_first_chunk::<4>() else {
            return Err(Error::Malformed(self.code, "short integer"));
        };
        self.data = rest;
        Ok(u32::from_be_bytes(*head))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let Some(end) = self.data.iter().position(|&b| b == 0) else {
            return Err(Error::Malformed(self.code, "string without NUL"));
        };
        let s = &self.data[..end];
        self.data = &self.data[end + 1..];
        Ok(s)
    }

    fn string(&mut self) -> Result<String, Error> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::Malformed(self.code, "not UTF-8"))
    }

    /// A string with no control characters at all (addresses, names, reasons).
    fn line(&mut self) -> Result<String, Error> {
        let s = self.string()?;
        if s.chars().any(char::is_control) {
            return Err(Error::Malformed(self.code, "control character"));
        }
        Ok(s)
    }

    fn end(&self) -> Result<(), Error> {
        if self.data.is_empty() { Ok(()) } else { Err(Error::Malformed(self.code, "trailing data")) }
    }

    /// A header name and value; the value may be folded (LF or CRLF followed by a space or
    /// tab) but may not start a new header line.
    fn header(&mut self) -> Result<(String, String), Error> {
        let name = self.string()?;
        if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
            return Err(Error::Malformed(self.code, "bad header name"));
        }
        let value = self.string()?.replace("\r\n", "\n");
        let bytes = value.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let folded = b == b'\n' && matches!(bytes.get(i + 1), Some(b' ' | b'\t'));
            if (b.is_ascii_control() && b != b'\t' && !folded) || b == 0x7f {
                return Err(Error::Malformed(self.code, "bad header value"));
            }
        }
        Ok((name, value))
    }
}

fn reply_code(r: &mut Reader) -> Result<ReplyCode, Error> {
    let text = r.string()?;
    let bad = || Error::Malformed(b'y', "bad reply code");
    let mut code = None;
    let mut lines = Vec::new();
    let parts: Vec<&str> = text.trim_end_matches("\r\n").split("\r\n").collect();
    for (i, part) in parts.iter().enumerate() {
        let b = part.as_bytes();
        if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let c: u16 = part[..3].parse().map_err(|_| bad())?;
        if !(400..600).contains(&c) || code.is_some_and(|k| k != c) {
            return Err(bad());
        }
        code = Some(c);
        let last = i + 1 == parts.len();
        let rest = match b.get(3) {
            None if last => "",
            Some(b' ') if last => &part[4..],
            Some(b'-') if !last => &part[4..],
            _ => return Err(bad()),
        };
        if rest.chars().any(char::is_control) {
            return Err(bad());
        }
        lines.push(rest.to_string());
    }
    Ok(ReplyCode { code: code.ok_or_else(bad)?, lines })
}

/// Decodes the packet at the start of `buf`: `Ok(None)` until it is complete, then the
/// response and the number of bytes it took.
pub fn decode(buf: &[u8]) -> Result<Option<(Response, usize)>, Error> {
    let Some((len, rest)) = buf.split_first_chunk::<4>() else { return Ok(None) };
    let len = u32::from_be_bytes(*len);
    if len == 0 {
        return Err(Error::Empty);
    }
    if len as usize > MAX_PACKET {
        return Err(Error::TooLong(len));
    }
    let len = len as usize;
    if rest.len() < len {
        return Ok(None);
    }
    let code = rest[0];
    let mut r = Reader { code, data: &rest[1..len] };
    let none = |r: &Reader, resp| r.end().map(|()| resp);
    let response = match code {
        b'O' => {
            let version = r.u32()?;
            let actions = r.u32()?;
            let protocol = r.u32()?;
            let mut macros = Vec::new();
            while !r.data.is_empty() {
                let n = r.u32()?;
                let stage = Stage::from_index(n).ok_or(Error::Malformed(code, "unknown macro stage"))?;
                macros.push((stage, macro_names(&r.line()?)));
            }
            Response::OptNeg(Negotiation { version, actions, protocol, macros })
        }
        b'a' => none(&r, Response::Accept)?,
        b'c' => none(&r, Response::Continue)?,
        b'r' => none(&r, Response::Reject)?,
        b't' => none(&r, Response::Tempfail)?,
        b'd' => none(&r, Response::Discard)?,
        b's' => none(&r, Response::Skip)?,
        b'p' => none(&r, Response::Progress)?,
        b'4' => none(&r, Response::Shutdown)?,
        b'f' => none(&r, Response::ConnFail)?,
        b'y' => {
            let rc = reply_code(&mut r)?;
            none(&r, Response::ReplyCode(rc))?
        }
        b'q' => {
            let reason = r.line()?;
            none(&r, Response::Quarantine(reason))?
        }
        b'l' => {
            let n = r.u32()?;
            let stage = Stage::from_index(n).ok_or(Error::Malformed(code, "unknown macro stage"))?;
            let names = macro_names(&r.line()?);
            none(&r, Response::SetSymList(stage, names))?
        }
        b'h' => {
            let (name, value) = r.header()?;
            none(&r, Response::Modify(Modification::AddHeader { name, value }))?
        }
        b'i' | b'm' => {
            let index = r.u32()?;
            let (name, value) = r.header()?;
            let m = if code == b'i' {
                Modification::InsertHeader { index, name, value }
            } else {
                Modification::ChangeHeader { index, name, value }
            };
            none(&r, Response::Modify(m))?
        }
        b'b' => Response::Modify(Modification::ReplaceBody(r.data.to_vec())),
        b'e' | b'+' | b'2' => {
            let address = r.line()?;
            if address.is_empty() && code != b'e' {
                return Err(Error::Malformed(code, "empty address"));
            }
            let args = if r.data.is_empty() { None } else { Some(r.line()?) };
            r.end()?;
            if code == b'+' && args.is_some() {
                return Err(Error::Malformed(code, "parameters without ADDRCPT_PAR"));
            }
            Response::Modify(match code {
                b'e' => Modification::ChangeFrom { address, args },
                b'2' => Modification::AddRcpt { address, args: Some(args.unwrap_or_default()) },
                _ => Modification::AddRcpt { address, args: None },
            })
        }
        b'-' => {
            let address = r.line()?;
            none(&r, Response::Modify(Modification::DelRcpt(address)))?
        }
        other => return Err(Error::UnknownCommand(other)),
    };
    Ok(Some((response, 4 + len)))
}

fn macro_names(list: &str) -> Vec<String> {
    list.split_ascii_whitespace().map(str::to_string).collect()
}

impl Response {
    /// The packet a filter would send for this response (for tests and the fuzz target).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let code = match self {
            Response::OptNeg(n) => {
                for v in [n.version, n.actions, n.protocol] {
                    data.extend_from_slice(&v.to_be_bytes());
                }
                for (stage, names) in &n.macros {
                    data.extend_from_slice(&(*stage as u32).to_be_bytes());
                    put_str(&mut data, &names.join(" "));
                }
                b'O'
            }
            Response::Accept => b'a',
            Response::Continue => b'c',
            Response::Reject => b'r',
            Response::Tempfail => b't',
            Response::Discard => b'd',
            Response::Skip => b's',
            Response::Progress => b'p',
            Response::Shutdown => b'4',
            Response::ConnFail => b'f',
            Response::ReplyCode(rc) => {
                let n = rc.lines.len();
                let text: Vec<String> = rc
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("{}{}{l}", rc.code, if i + 1 == n { ' ' } else { '-' }))
                    .collect();
                put_str(&mut data, &text.join("\r\n"));
                b'y'
            }
            Response::Quarantine(reason) => {
                put_str(&mut data, reason);
                b'q'
            }
            Response::SetSymList(stage, names) => {
                data.extend_from_slice(&(*stage as u32).to_be_bytes());
                put_str(&mut data, &names.join(" "));
                b'l'
            }
            Response::Modify(m) => match m {
                Modification::AddHeader { name, value } => {
                    put_str(&mut data, name);
                    put_str(&mut data, value);
                    b'h'
                }
                Modification::InsertHeader { index, name, value }
                | Modification::ChangeHeader { index, name, value } => {
                    data.extend_from_slice(&index.to_be_bytes());
                    put_str(&mut data, name);
                    put_str(&mut data, value);
                    if matches!(m, Modification::InsertHeader { .. }) { b'i' } else { b'm' }
                }
                Modification::ReplaceBody(body) => {
                    data.extend_from_slice(body);
                    b'b'
                }
                Modification::ChangeFrom { address, args } => {
                    put_str(&mut data, address);
                    if let Some(a) = args {
                        put_str(&mut data, a);
                    }
                    b'e'
                }
                Modification::AddRcpt { address, args } => {
                    put_str(&mut data, address);
                    match args {
                        Some(a) => {
                            put_str(&mut data, a);
                            b'2'
                        }
                        None => b'+',
                    }
                }
                Modification::DelRcpt(address) => {
                    put_str(&mut data, address);
                    b'-'
                }
            },
        };
        let mut out = Vec::with_capacity(5 + data.len());
        out.extend_from_slice(&(u32::try_from(data.len() + 1).expect("fits")).to_be_bytes());
        out.push(code);
        out.extend_from_slice(&data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(code: u8, data: &[u8]) -> Vec<u8> {
        let mut p = ((data.len() + 1) as u32).to_be_bytes().to_vec();
        p.push(code);
        p.extend_from_slice(data);
        p
    }

    fn one(bytes: &[u8]) -> Response {
        let (r, n) = decode(bytes).unwrap().unwrap();
        assert_eq!(n, bytes.len());
        r
    }

    #[test]
    fn commands_on_the_wire() {
        let neg = Command::OptNeg { version: 6, actions: actions::ALL, protocol: flags::OFFERED };
        assert_eq!(neg.to_bytes(), b"\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff");
        let macros = [("j", "mx.test".to_string()), ("{daemon_name}", "mailroom-mta".to_string())];
        let m = Command::Macro { stage: Stage::Connect, macros: &macros };
        assert_eq!(m.to_bytes(), packet(b'D', b"Cj\0mx.test\0{daemon_name}\0mailroom-mta\0"));
        let fam = Family::Inet("192.0.2.7:4321".parse().unwrap());
        let c = Command::Connect { hostname: "client.test", family: &fam };
        assert_eq!(c.to_bytes(), packet(b'C', b"client.test\0\x34\x10\xe1192.0.2.7\0"));
        let fam6 = Family::Inet("[2001:db8::1]:25".parse().unwrap());
        let c = Command::Connect { hostname: "[2001:db8::1]", family: &fam6 };
        assert_eq!(c.to_bytes(), packet(b'C', b"[2001:db8::1]\0\x36\0\x192001:db8::1\0"));
        let unknown = Command::Connect { hostname: "localhost", family: &Family::Unknown };
        assert_eq!(unknown.to_bytes(), packet(b'C', b"localhost\0U"));
        let unix = Command::Connect { hostname: "localhost", family: &Family::Unix("/run/x".into()) };
        assert_eq!(unix.to_bytes(), packet(b'C', b"localhost\0L\0\0/run/x\0"));
        assert_eq!(Command::Helo("client.test").to_bytes(), packet(b'H', b"client.test\0"));
        let args = ["<a@b.test>".to_string(), "SIZE=10".to_string()];
        assert_eq!(Command::Mail(&args).to_bytes(), packet(b'M', b"<a@b.test>\0SIZE=10\0"));
        assert_eq!(Command::Rcpt(&args[..1]).to_bytes(), packet(b'R', b"<a@b.test>\0"));
        let h = Command::Header { name: "Subject", value: "hi\n there" };
        assert_eq!(h.to_bytes(), packet(b'L', b"Subject\0hi\n there\0"));
        assert_eq!(Command::Body(b"line\r\n").to_bytes(), packet(b'B', b"line\r\n"));
        for (c, b) in [
            (Command::Data, b'T'),
            (Command::Eoh, b'N'),
            (Command::Eob, b'E'),
            (Command::Abort, b'A'),
            (Command::Quit, b'Q'),
            (Command::QuitNc, b'K'),
        ] {
            assert_eq!(c.to_bytes(), vec![0, 0, 0, 1, b]);
        }
        assert_eq!(Command::Unknown("XFOO").to_bytes(), packet(b'U', b"XFOO\0"));
        // A NUL inside a value cannot cut it short.
        assert_eq!(Command::Helo("a\0b").to_bytes(), packet(b'H', b"ab\0"));
    }

    #[test]
    fn simple_replies() {
        for (b, r) in [
            (b'a', Response::Accept),
            (b'c', Response::Continue),
            (b'r', Response::Reject),
            (b't', Response::Tempfail),
            (b'd', Response::Discard),
            (b's', Response::Skip),
            (b'p', Response::Progress),
            (b'4', Response::Shutdown),
            (b'f', Response::ConnFail),
        ] {
            assert_eq!(one(&[0, 0, 0, 1, b]), r);
            assert_eq!(r.to_bytes(), vec![0, 0, 0, 1, b]);
            assert_eq!(decode(&[0, 0, 0, 2, b, 0]), Err(Error::Malformed(b, "trailing data")));
        }
    }

    #[test]
    fn negotiation() {
        // What rspamd answers: version 6, a set of actions, its steps, and macros for two stages.
        let mut data = Vec::new();
        for n in [6u32, 0x1ff, flags::NO_UNKNOWN | flags::SKIP | flags::NR_HEADER] {
            data.extend_from_slice(&n.to_be_bytes());
        }
        data.extend_from_slice(&2u32.to_be_bytes());
        data.extend_from_slice(b"i {mail_addr}  {auth_authen}\0");
        data.extend_from_slice(&3u32.to_be_bytes());
        data.extend_from_slice(b"{rcpt_addr}\0");
        let Response::OptNeg(n) = one(&packet(b'O', &data)) else { panic!() };
        assert_eq!(
            n.macros[0],
            (Stage::Mail, vec!["i".into(), "{mail_addr}".into(), "{auth_authen}".into()])
        );
        assert_eq!(one(&Response::OptNeg(n.clone()).to_bytes()), Response::OptNeg(n.clone()));
        let agreed = n.agree(actions::ALL, flags::OFFERED).unwrap();
        assert!(agreed.sends(Step::Connect) && !agreed.sends(Step::Unknown));
        assert!(agreed.replies(Step::Body) && !agreed.replies(Step::Header));
        assert!(agreed.skip() && !agreed.leading_space());
        assert!(agreed.allows(actions::CHANGE_BODY | actions::QUARANTINE));
        assert_eq!(agreed.macros(Stage::Rcpt), Some(&["{rcpt_addr}".to_string()][..]));
        assert_eq!(agreed.macros(Stage::Connect), None);
        // Without SETSYMLIST the list is ignored; actions we did not offer are dropped.
        let agreed = n.agree(actions::ADD_HEADERS, flags::OFFERED).unwrap();
        assert_eq!((agreed.actions, agreed.macros(Stage::Mail)), (actions::ADD_HEADERS, None));
        assert!(!agreed.allows(actions::CHANGE_BODY));
        // Steps left unanswered that we did not offer would hang us.
        assert_eq!(
            n.agree(actions::ALL, flags::SKIP | flags::NO_UNKNOWN),
            Err(Error::Protocol(flags::NR_HEADER))
        );
        let old = Negotiation { version: 1, ..n.clone() };
        assert_eq!(old.agree(actions::ALL, flags::OFFERED), Err(Error::Version(1)));
        // Body chunk sizes are fine: we send 64 KiB chunks anyway.
        let big = Negotiation { protocol: flags::MDS_1M, ..n };
        assert_eq!(big.agree(actions::ALL, flags::OFFERED).unwrap().protocol, 0);
        // Truncated or unknown stages.
        assert!(matches!(decode(&packet(b'O', &[0, 0, 0, 6])), Err(Error::Malformed(b'O', _))));
        let mut bad = data[..12].to_vec();
        bad.extend_from_slice(&9u32.to_be_bytes());
        bad.extend_from_slice(b"i\0");
        assert!(matches!(decode(&packet(b'O', &bad)), Err(Error::Malformed(b'O', _))));
    }

    #[test]
    fn reply_codes() {
        let r = one(&packet(b'y', b"550 5.7.1 Spam message rejected\0"));
        assert_eq!(
            r,
            Response::ReplyCode(ReplyCode { code: 550, lines: vec!["5.7.1 Spam message rejected".into()] })
        );
        assert_eq!(r.to_bytes(), packet(b'y', b"550 5.7.1 Spam message rejected\0"));
        let multi = one(&packet(b'y', b"451-4.7.1 one\r\n451 4.7.1 two\0"));
        assert_eq!(
            multi,
            Response::ReplyCode(ReplyCode { code: 451, lines: vec!["4.7.1 one".into(), "4.7.1 two".into()] })
        );
        assert_eq!(multi.to_bytes(), packet(b'y', b"451-4.7.1 one\r\n451 4.7.1 two\0"));
        assert_eq!(
            one(&packet(b'y', b"554\0")),
            Response::ReplyCode(ReplyCode { code: 554, lines: vec![String::new()] })
        );
        for bad in [
            &b"250 2.0.0 ok\0"[..],
            b"650 x\0",
            b"55 x\0",
            b"550-x\0",
            b"550 a\r\n550 b\0",
            b"550-a\r\n451 b\0",
            b"550 a\nb\0",
            b"5x0 a\0",
            b"550 a",
            b"\0",
        ] {
            assert!(matches!(decode(&packet(b'y', bad)), Err(Error::Malformed(b'y', _))), "{bad:?}");
        }
    }

    #[test]
    fn modifications() {
        let cases: Vec<(Vec<u8>, Modification)> = vec![
            (
                packet(b'h', b"X-Spam\0Yes\0"),
                Modification::AddHeader { name: "X-Spam".into(), value: "Yes".into() },
            ),
            (
                packet(b'h', b"X-Spam-Status\0Yes, score=1000\n\ttests=GTUBE\0"),
                Modification::AddHeader {
                    name: "X-Spam-Status".into(),
                    value: "Yes, score=1000\n\ttests=GTUBE".into(),
                },
            ),
            (
                packet(b'i', b"\0\0\0\0Authentication-Results\0mx; none\0"),
                Modification::InsertHeader {
                    index: 0,
                    name: "Authentication-Results".into(),
                    value: "mx; none".into(),
                },
            ),
            (
                packet(b'm', b"\0\0\0\x02Subject\0[SPAM] hi\0"),
                Modification::ChangeHeader { index: 2, name: "Subject".into(), value: "[SPAM] hi".into() },
            ),
            (
                packet(b'm', b"\0\0\0\x01X-Spam\0\0"),
                Modification::ChangeHeader { index: 1, name: "X-Spam".into(), value: String::new() },
            ),
            (packet(b'b', b"new body\r\n"), Modification::ReplaceBody(b"new body\r\n".to_vec())),
            (
                packet(b'e', b"<bounce@x.test>\0"),
                Modification::ChangeFrom { address: "<bounce@x.test>".into(), args: None },
            ),
            (
                packet(b'e', b"<>\0SIZE=1\0"),
                Modification::ChangeFrom { address: "<>".into(), args: Some("SIZE=1".into()) },
            ),
            (
                packet(b'+', b"<archive@x.test>\0"),
                Modification::AddRcpt { address: "<archive@x.test>".into(), args: None },
            ),
            (
                packet(b'2', b"<a@x.test>\0NOTIFY=NEVER\0"),
                Modification::AddRcpt { address: "<a@x.test>".into(), args: Some("NOTIFY=NEVER".into()) },
            ),
            (
                packet(b'2', b"<a@x.test>\0"),
                Modification::AddRcpt { address: "<a@x.test>".into(), args: Some(String::new()) },
            ),
            (packet(b'-', b"<bob@x.test>\0"), Modification::DelRcpt("<bob@x.test>".into())),
        ];
        for (bytes, m) in cases {
            let r = one(&bytes);
            assert_eq!(r, Response::Modify(m.clone()), "{bytes:?}");
            let again = r.to_bytes();
            assert_eq!(one(&again), r);
        }
        // CRLF folding is taken as LF folding.
        assert_eq!(
            one(&packet(b'h', b"X-A\0a\r\n b\0")),
            Response::Modify(Modification::AddHeader { name: "X-A".into(), value: "a\n b".into() })
        );
        assert_eq!(Modification::DelRcpt("x".into()).action(), actions::DEL_RCPT);
        for (code, bad) in [
            (b'h', &b"X-A\0a\nBcc: x@y\0"[..]),
            (b'h', b"X-A\0a\rb\0"),
            (b'h', b"X A\0v\0"),
            (b'h', b"X:A\0v\0"),
            (b'h', b"\0v\0"),
            (b'h', b"X-A\0v"),
            (b'h', b"X-A\0v\0extra"),
            (b'h', b"X-A\0\xff\0"),
            (b'm', b"\0\0\0"),
            (b'+', b"\0"),
            (b'+', b"<a@b>\0X=1\0"),
            (b'+', b"<a\r\nRCPT@b>\0"),
            (b'-', b"a\0b\0"),
            (b'q', b"why\nnot\0"),
            (b'l', b"\0\0\0\x07i\0"),
        ] {
            assert!(
                matches!(decode(&packet(code, bad)), Err(Error::Malformed(c, _)) if c == code),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn quarantine_and_symlist() {
        assert_eq!(one(&packet(b'q', b"virus found\0")), Response::Quarantine("virus found".into()));
        assert_eq!(
            one(&packet(b'l', b"\0\0\0\x05i {msg_id}\0")),
            Response::SetSymList(Stage::Eom, vec!["i".into(), "{msg_id}".into()])
        );
    }

    #[test]
    fn framing() {
        assert_eq!(decode(b""), Ok(None));
        assert_eq!(decode(b"\0\0\0"), Ok(None));
        assert_eq!(decode(b"\0\0\0\x02h"), Ok(None));
        assert_eq!(decode(b"\0\0\0\0"), Err(Error::Empty));
        assert_eq!(decode(b"\x7f\0\0\0"), Err(Error::TooLong(0x7f00_0000)));
        assert_eq!(decode(b"\0\0\0\x01Z"), Err(Error::UnknownCommand(b'Z')));
        // Two pipelined packets: the first, then the second from where it ended.
        let mut two = packet(b'h', b"X-A\0b\0");
        two.extend_from_slice(&[0, 0, 0, 1, b'c']);
        let (r, n) = decode(&two).unwrap().unwrap();
        assert!(matches!(r, Response::Modify(_)));
        assert_eq!(decode(&two[n..]), Ok(Some((Response::Continue, 5))));
        // A whole MAX_PACKET body replacement is fine, one byte more is not.
        let mut max = ((MAX_PACKET) as u32).to_be_bytes().to_vec();
        max.push(b'b');
        max.resize(4 + MAX_PACKET, b'x');
        assert!(
            matches!(one(&max), Response::Modify(Modification::ReplaceBody(b)) if b.len() == MAX_PACKET - 1)
        );
        assert_eq!(
            decode(&((MAX_PACKET + 1) as u32).to_be_bytes()),
            Err(Error::TooLong(MAX_PACKET as u32 + 1))
        );
    }
}
