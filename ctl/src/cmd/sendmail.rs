//! `mailroomctl sendmail` (also run as `sendmail`): sendmail(1) for cron, mail(1) and scripts.
//! The message goes over the MTA's local submission socket as SMTP, so it passes through the
//! same queue and policy as everything else; the MTA knows the socket's clients are local.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use smtp::client::{self, Envelope, Recipient};

use crate::context;

/// sysexits(3), which sendmail's callers (cron, mail) understand.
mod exit {
    pub const USAGE: u8 = 64;
    pub const DATAERR: u8 = 65;
    pub const NOUSER: u8 = 67;
    pub const TEMPFAIL: u8 = 75;
}

/// The options sendmail(1) callers use.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// -t: recipients from To:, Cc:, Bcc: (Bcc: removed).
    pub from_headers: bool,
    /// -f / -r: envelope sender.
    pub sender: Option<String>,
    /// -F: full name for a From: we add.
    pub full_name: Option<String>,
    /// -i / -oi: a line with a single dot does not end the message.
    pub ignore_dots: bool,
    /// -N: DSN NOTIFY for every recipient.
    pub notify: Option<String>,
    /// -R: DSN RET.
    pub ret: Option<String>,
    /// -V: DSN ENVID.
    pub envid: Option<String>,
    /// Recipients given as arguments.
    pub recipients: Vec<String>,
}

/// Parse sendmail's command line (without the program name). Unknown `-o`/`-B` options are
/// accepted and ignored, as Postfix's sendmail does.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter().peekable();
    let value = |flag: &str, rest: &str, it: &mut std::iter::Peekable<std::slice::Iter<'_, String>>| {
        if rest.is_empty() {
            it.next().cloned().ok_or(format!("option {flag} needs a value"))
        } else {
            Ok(rest.to_string())
        }
    };
    while let Some(a) = it.next() {
        if a == "--" {
            o.recipients.extend(it.by_ref().cloned());
            break;
        }
        let Some(opt) = a.strip_prefix('-').filter(|s| !s.is_empty()) else {
            o.recipients.push(a.clone());
            continue;
        };
        let (flag, rest) = opt.split_at(1);
        match flag {
            "t" => o.from_headers = true,
            "i" => o.ignore_dots = true,
            "f" | "r" => o.sender = Some(value(flag, rest, &mut it)?),
            "F" => o.full_name = Some(value(flag, rest, &mut it)?),
            "N" => o.notify = Some(value(flag, rest, &mut it)?.to_uppercase()),
            "R" => o.ret = Some(value(flag, rest, &mut it)?.to_uppercase()),
            "V" => o.envid = Some(value(flag, rest, &mut it)?),
            "o" if rest == "i" => o.ignore_dots = true,
            // -oem, -odb, -oQ..., -B8BITMIME, -v, -bm: accepted, no effect here.
            "o" | "v" => {}
            "B" | "C" | "h" | "L" | "X" => {
                value(flag, rest, &mut it)?;
            }
            "b" if rest == "m" || rest.is_empty() => {}
            _ => return Err(format!("unsupported option -{opt}")),
        }
    }
    Ok(o)
}

/// Read the message from `input`: LF or CRLF lines; without -i a lone `.` ends it.
pub fn read_message(input: &mut impl BufRead, ignore_dots: bool) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if !ignore_dots && line == b"." {
            break;
        }
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

/// Split a message into its header section and body at the first empty line.
fn split(msg: &[u8]) -> (&[u8], &[u8]) {
    if msg.starts_with(b"\r\n") {
        return (b"", &msg[2..]);
    }
    match msg.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&msg[..i + 2], &msg[i + 4..]),
        None => (msg, b""),
    }
}

/// Header fields as (name, unfolded value, raw bytes).
fn fields(head: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let mut out: Vec<(String, String, Vec<u8>)> = Vec::new();
    for line in head.split_inclusive(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        if (line.starts_with(b" ") || line.starts_with(b"\t")) && !out.is_empty() {
            let last = out.last_mut().expect("not empty");
            last.1.push(' ');
            last.1.push_str(text.trim());
            last.2.extend_from_slice(line);
        } else if let Some((name, value)) = text.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string(), line.to_vec()));
        }
    }
    out
}

/// Addresses in an address-list header value: `<a@b>` forms, or bare words with `@`.
fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        let addr = match (part.rfind('<'), part.rfind('>')) {
            (Some(a), Some(b)) if a < b => &part[a + 1..b],
            _ => part.split_whitespace().find(|w| w.contains('@')).unwrap_or(""),
        };
        if addr.contains('@') {
            out.push(addr.to_string());
        }
    }
    out
}

/// Apply -t and add the headers a local submission lacks (From:, Date:, Message-ID:), as
/// Postfix's cleanup does for sendmail. Returns the message and its recipients.
pub fn prepare(msg: &[u8], o: &Options, sender: &str, host: &str, now: i64) -> (Vec<u8>, Vec<String>) {
    let (head, body) = split(msg);
    let fields = fields(head);
    let mut recipients = o.recipients.clone();
    if o.from_headers {
        for (name, value, _) in &fields {
            if ["to", "cc", "bcc"].contains(&name.to_ascii_lowercase().as_str()) {
                recipients.extend(addresses(value));
            }
        }
    }
    let has = |n: &str| fields.iter().any(|(name, _, _)| name.eq_ignore_ascii_case(n));
    let mut out = Vec::with_capacity(msg.len() + 256);
    if !has("from") {
        match &o.full_name {
            Some(name) => {
                out.extend(format!("From: {} <{sender}>\r\n", name.replace(['"', '\r', '\n'], "")).bytes())
            }
            None => out.extend(format!("From: {sender}\r\n").bytes()),
        }
    }
    if !has("date") {
        out.extend(format!("Date: {}\r\n", mail_builder::headers::date::Date::new(now).to_rfc822()).bytes());
    }
    if !has("message-id") {
        out.extend(format!("Message-ID: <{now}.{}@{host}>\r\n", std::process::id()).bytes());
    }
    for (name, _, raw) in &fields {
        // -t takes Bcc: recipients and removes the header, so they stay blind.
        if !(o.from_headers && name.eq_ignore_ascii_case("bcc")) {
            out.extend_from_slice(raw);
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    recipients.dedup();
    (out, recipients)
}

/// The invoking user's login name.
fn login_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "nobody".into())
}

/// Run sendmail with `args` (without the program name).
pub async fn run(config: Option<&Path>, args: &[String]) -> Result<ExitCode> {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sendmail: {e}");
            return Ok(ExitCode::from(exit::USAGE));
        }
    };
    let (cfg, _) = context::load_config(config)?;
    let host = daemon::host::name(&cfg.mta.hostname);
    let sender = o.sender.clone().unwrap_or_else(|| format!("{}@{host}", login_name()));
    let mut raw = Vec::new();
    std::io::stdin().lock().read_to_end(&mut raw)?;
    let msg = read_message(&mut &raw[..], o.ignore_dots)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (msg, recipients) = prepare(&msg, &o, &sender, &host, now);
    if recipients.is_empty() {
        eprintln!("sendmail: no recipients");
        return Ok(ExitCode::from(exit::USAGE));
    }
    let socket = PathBuf::from(&cfg.mta.submit_socket);
    match submit(&socket, &host, &o, &sender, &recipients, &msg).await {
        Ok(code) => Ok(ExitCode::from(code)),
        Err(e) => {
            eprintln!("sendmail: cannot submit through {}: {e}", socket.display());
            Ok(ExitCode::from(exit::TEMPFAIL))
        }
    }
}

async fn submit(
    socket: &Path,
    host: &str,
    o: &Options,
    sender: &str,
    rcpts: &[String],
    msg: &[u8],
) -> Result<u8> {
    let envelope = Envelope {
        sender: sender.to_string(),
        ret: o.ret.clone(),
        envid: o.envid.clone(),
        body_8bit: msg.iter().any(|&b| b >= 0x80),
        smtputf8: !sender.is_ascii() || rcpts.iter().any(|r| !r.is_ascii()),
        requiretls: false,
        size: Some(msg.len() as u64),
        recipients: rcpts
            .iter()
            .map(|r| Recipient { address: r.clone(), notify: o.notify.clone(), orcpt: None })
            .collect(),
    };
    let outcome = client::submit_unix(socket, host, &envelope, msg).await?;
    let mut code = 0;
    for (rcpt, reply) in rcpts.iter().zip(&outcome.recipients) {
        if !reply.is_positive() {
            eprintln!("sendmail: <{rcpt}>: {reply}");
            let this = if reply.is_transient() {
                exit::TEMPFAIL
            } else if reply.code == 550 {
                exit::NOUSER
            } else {
                exit::DATAERR
            };
            code = code.max(this);
        }
    }
    if code == 0 && outcome.recipients.len() != rcpts.len() {
        bail!("the MTA answered {} of {} recipients", outcome.recipients.len(), rcpts.len());
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_what_callers_send() {
        let o = parse(&args("-t -oi -f root@h.test -F Cron -odb bob@b.test")).unwrap();
        assert!(o.from_headers && o.ignore_dots);
        assert_eq!(o.sender.as_deref(), Some("root@h.test"));
        assert_eq!(o.full_name.as_deref(), Some("Cron"));
        assert_eq!(o.recipients, vec!["bob@b.test"]);
        let o = parse(&args("-froot@h.test -i -N success,failure -- -weird@b.test")).unwrap();
        assert_eq!(o.sender.as_deref(), Some("root@h.test"));
        assert_eq!(o.notify.as_deref(), Some("SUCCESS,FAILURE"));
        assert_eq!(o.recipients, vec!["-weird@b.test"]);
        assert!(parse(&args("-f")).is_err());
        assert!(parse(&args("-bs")).is_err());
    }

    #[test]
    fn dots_and_line_ends() {
        let input = b"Subject: x\n\nline\n.\nafter\n";
        assert_eq!(read_message(&mut &input[..], false).unwrap(), b"Subject: x\r\n\r\nline\r\n");
        assert_eq!(read_message(&mut &input[..], true).unwrap(), b"Subject: x\r\n\r\nline\r\n.\r\nafter\r\n");
    }

    #[test]
    fn recipients_from_headers_and_added_fields() {
        let msg = b"To: Bob <bob@b.test>, carol@c.test\r\nBcc: dave@d.test\r\nSubject: s\r\n\r\nbody\r\n";
        let o = Options { from_headers: true, full_name: Some("Cron Daemon".into()), ..Options::default() };
        let (out, rcpts) = prepare(msg, &o, "root@h.test", "h.test", 1_790_000_000);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(rcpts, vec!["bob@b.test", "carol@c.test", "dave@d.test"]);
        assert!(out.starts_with("From: Cron Daemon <root@h.test>\r\nDate: "), "{out}");
        assert!(out.contains("Message-ID: <") && !out.contains("Bcc") && out.ends_with("\r\n\r\nbody\r\n"));
        let (kept, _) = prepare(
            b"From: me@h.test\r\nDate: x\r\nMessage-ID: <a@b>\r\n\r\nb\r\n",
            &Options::default(),
            "s@h",
            "h",
            0,
        );
        assert_eq!(kept, b"From: me@h.test\r\nDate: x\r\nMessage-ID: <a@b>\r\n\r\nb\r\n");
    }
}
