//! The interpreter: runs a checked script against a message and returns the actions. It does
//! no I/O itself; mailbox existence, included scripts, the duplicate store and the environment
//! come through `Host`.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, Message, MimeHeaders, PartType};
use regex::Regex;

use crate::action::{Action, INBOX, Outcome, Vacation};
use crate::address;
use crate::check::{Call, Command, Script, Value, compile};
use crate::compare::{self, Comparator, Relation};
use crate::date::{self, Moment};
use crate::editheader::{self, Headers};
use crate::error::{Error, Pos};
use crate::spamtest::TestConfig;
use crate::variables::{self, Variables};

/// The SMTP envelope of the message.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// The sender; empty for the null sender `<>`.
    pub from: String,
    /// The recipient this delivery is for.
    pub to: String,
    /// The recipient as the client first gave it (RFC 3461 ORCPT), when known.
    pub orig_to: Option<String>,
}

/// What the interpreter asks of the delivery side.
pub trait Host {
    /// Whether the user's mailbox exists (`mailboxexists`).
    fn mailbox_exists(&mut self, _name: &str) -> bool {
        false
    }
    /// The source of an included script; `None` when there is none.
    fn include(&mut self, _global: bool, _name: &str) -> Option<String> {
        None
    }
    /// Whether `id` was recorded within the last `seconds`. Recording is the delivery
    /// side's, when it performs the outcome's `Action::Duplicate`.
    fn duplicate(&mut self, _id: &str, _seconds: u64) -> bool {
        false
    }
    /// An environment item (RFC 5183).
    fn environment(&mut self, _name: &str) -> Option<String> {
        None
    }
}

/// The environment items (RFC 5183) of mailroom's delivery: a host's
/// [`Host::environment`] for delivery, and `mailroomctl sieve test` showing the same.
pub fn delivery_environment(name: &str) -> Option<String> {
    match name {
        "location" => Some("MDA".into()),
        "phase" => Some("during".into()),
        "name" => Some("mailroom".into()),
        "version" => Some(env!("CARGO_PKG_VERSION").into()),
        _ => None,
    }
}

/// A host with nothing: no mailboxes, no includes, nothing seen before.
pub struct NoHost;
impl Host for NoHost {}

/// Hard limits: past any of them the run fails with a runtime error.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Pigeonhole's `sieve_max_actions`.
    pub max_actions: usize,
    /// Pigeonhole's `sieve_max_redirects`.
    pub max_redirects: usize,
    /// Commands and tests evaluated, included scripts counted too.
    pub max_steps: u64,
    /// Nested `include`s.
    pub max_include_depth: usize,
    /// Scripts included in one run.
    pub max_includes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_actions: 32,
            max_redirects: 4,
            max_steps: 100_000,
            max_include_depth: 10,
            max_includes: 255,
        }
    }
}

/// Per-run settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub limits: Limits,
    /// Now, for `currentdate`, in Unix seconds.
    pub now: i64,
    /// The local zone's offset east of UTC in minutes (dates without `:zone`).
    pub local_offset: i32,
    pub spamtest: Option<TestConfig>,
    pub virustest: Option<TestConfig>,
    /// Default period of `duplicate` (Pigeonhole's `sieve_duplicate_default_period`, 14 days).
    pub duplicate_period: Option<u64>,
    /// Default period of `vacation` (Pigeonhole's `sieve_vacation_default_period`, 7 days).
    pub vacation_period: Option<u64>,
    /// Shortest period (`sieve_vacation_min_period`, 1 day): shorter ones are raised to it.
    pub vacation_min_period: Option<u64>,
    /// Longest period, none by default.
    pub vacation_max_period: Option<u64>,
    /// The imap4flags internal variable a run starts with: in a sequence of scripts
    /// (sieve_before, the user's, sieve_after) the flags the previous one left.
    pub flags: Vec<String>,
}

/// Runs `script` for a message.
pub fn run(
    script: &Script,
    message: &Message<'_>,
    envelope: &Envelope,
    settings: &Settings,
    host: &mut dyn Host,
) -> Outcome {
    let headers = Headers::of(message);
    let mut r = Run {
        msg: message,
        env: envelope,
        settings,
        host,
        headers,
        globals: Variables::default(),
        flags: settings.flags.clone(),
        actions: Vec::new(),
        action_headers: Vec::new(),
        implicit_keep: true,
        steps: 0,
        regexes: HashMap::new(),
        included: HashMap::new(),
        once: HashSet::new(),
        depth: 0,
    };
    let mut scope = Scope { script, vars: Variables::default(), globals: HashSet::new() };
    match r.block(&mut scope, &script.commands) {
        Err(e) => Outcome::failed(e),
        Ok(_) => Outcome {
            implicit_keep: r.implicit_keep.then(|| r.flags.clone()),
            edited_header: r.headers.changed.then(|| r.headers.fields.clone()),
            actions: r.actions,
            action_headers: r.action_headers,
            error: None,
        },
    }
}

enum Flow {
    Next,
    Stop,
    Return,
}

struct Scope<'s> {
    script: &'s Script,
    vars: Variables,
    /// Names this script declared `global`.
    globals: HashSet<String>,
}

struct Run<'a, 'm> {
    msg: &'a Message<'m>,
    env: &'a Envelope,
    settings: &'a Settings,
    host: &'a mut dyn Host,
    headers: Headers,
    globals: Variables,
    /// The internal flag variable of imap4flags.
    flags: Vec<String>,
    actions: Vec<Action>,
    /// For each action, the header as edited when it was taken (`None`: unedited).
    action_headers: Vec<Option<Vec<(String, String)>>>,
    implicit_keep: bool,
    steps: u64,
    regexes: HashMap<(String, bool), Rc<Regex>>,
    included: HashMap<(bool, String), Rc<Script>>,
    once: HashSet<(bool, String)>,
    depth: usize,
}

impl Run<'_, '_> {
    fn step(&mut self, pos: Pos) -> Result<(), Error> {
        self.steps += 1;
        if self.steps > self.settings.limits.max_steps {
            return Err(Error::at(pos, "execution step limit exceeded"));
        }
        Ok(())
    }

    fn block(&mut self, scope: &mut Scope<'_>, cmds: &[Command]) -> Result<Flow, Error> {
        for cmd in cmds {
            let flow = match cmd {
                Command::If { branches, otherwise } => {
                    let mut taken = None;
                    for (test, body) in branches {
                        if self.test(scope, test)? {
                            taken = Some(body);
                            break;
                        }
                    }
                    match taken.or(otherwise.as_ref()) {
                        Some(body) => self.block(scope, body)?,
                        None => Flow::Next,
                    }
                }
                Command::Call(call) => self.command(scope, call)?,
            };
            if !matches!(flow, Flow::Next) {
                return Ok(flow);
            }
        }
        Ok(Flow::Next)
    }

    // --- strings and variables ---

    fn expand(&self, scope: &Scope<'_>, s: &str) -> String {
        if !scope.script.has("variables") {
            return s.to_string();
        }
        // Names declared global resolve in the shared set; everything else is local.
        variables::expand(s, |name| self.var(scope, name))
    }

    fn var<'s>(&'s self, scope: &'s Scope<'_>, name: &str) -> &'s str {
        if scope.globals.contains(&name.to_ascii_lowercase()) {
            self.globals.get(name)
        } else {
            scope.vars.get(name)
        }
    }

    fn set_var(&mut self, scope: &mut Scope<'_>, name: &str, value: String, pos: Pos) -> Result<(), Error> {
        let ok = if scope.globals.contains(&name.to_ascii_lowercase()) {
            self.globals.set(name, value)
        } else {
            scope.vars.set(name, value)
        };
        if ok { Ok(()) } else { Err(Error::at(pos, "too many variables")) }
    }

    fn string(&self, scope: &Scope<'_>, v: &Value) -> String {
        self.expand(scope, v.as_str())
    }

    fn list(&self, scope: &Scope<'_>, v: &Value) -> Vec<String> {
        v.as_list().into_iter().map(|s| self.expand(scope, s)).collect()
    }

    // --- commands ---

    fn command(&mut self, scope: &mut Scope<'_>, c: &Call) -> Result<Flow, Error> {
        self.step(c.pos)?;
        match c.name {
            "stop" => return Ok(Flow::Stop),
            "return" => return Ok(Flow::Return),
            "keep" => {
                let flags = self.action_flags(scope, c);
                self.add(c.pos, Action::Store { mailbox: INBOX.into(), flags, create: false, copy: false })?;
                self.implicit_keep = false;
            }
            "discard" => {
                self.add(c.pos, Action::Discard)?;
                self.implicit_keep = false;
            }
            "fileinto" => {
                let mailbox = self.string(scope, &c.args[0]);
                if mailbox.is_empty() || mailbox.contains('\0') {
                    return Err(Error::at(c.pos, format!("invalid mailbox name '{mailbox}'")));
                }
                let flags = self.action_flags(scope, c);
                let copy = c.has("copy");
                self.add(c.pos, Action::Store { mailbox, flags, create: c.has("create"), copy })?;
                if !copy {
                    self.implicit_keep = false;
                }
            }
            "redirect" => {
                let address = self.string(scope, &c.args[0]);
                if !address::valid(&address) {
                    return Err(Error::at(
                        c.pos,
                        format!("specified redirect address '{address}' is invalid"),
                    ));
                }
                let copy = c.has("copy");
                self.add(c.pos, Action::Redirect { address, copy })?;
                if !copy {
                    self.implicit_keep = false;
                }
            }
            "reject" | "ereject" => {
                let reason = self.string(scope, &c.args[0]);
                self.add(c.pos, Action::Reject { reason, extended: c.name == "ereject" })?;
                self.implicit_keep = false;
            }
            "setflag" | "addflag" | "removeflag" => {
                let (target, flags) = match c.args.len() {
                    2 => (Some(self.list(scope, &c.args[0])), self.list(scope, &c.args[1])),
                    _ => (None, self.list(scope, &c.args[0])),
                };
                let flags = split_flags(&flags);
                match target {
                    None => {
                        let cur = std::mem::take(&mut self.flags);
                        self.flags = apply_flags(c.name, cur, flags);
                    }
                    Some(names) => {
                        for name in names {
                            let cur = split_flags(&[self.var(scope, &name).to_string()]);
                            let new = apply_flags(c.name, cur, flags.clone()).join(" ");
                            self.set_var(scope, &name, new, c.pos)?;
                        }
                    }
                }
            }
            "set" => {
                let name = c.args[0].as_str().to_string();
                let value = variables::modify(self.string(scope, &c.args[1]), |m| c.has(m));
                self.set_var(scope, &name, value, c.pos)?;
            }
            "global" => {
                for name in c.args[0].as_list() {
                    scope.globals.insert(name.to_ascii_lowercase());
                }
            }
            "vacation" => self.vacation(scope, c)?,
            "include" => return self.include(scope, c),
            "addheader" => {
                let name = self.string(scope, &c.args[0]);
                let value = self.string(scope, &c.args[1]);
                if !editheader::valid_field_name(&name) {
                    return Err(Error::at(c.pos, format!("invalid header field name '{name}'")));
                }
                if value.len() > editheader::MAX_HEADER {
                    return Err(Error::at(c.pos, "header value too long"));
                }
                if !editheader::protected(&name) {
                    self.headers.add(&name, &value, c.has("last"));
                }
            }
            "deleteheader" => {
                let name = self.string(scope, &c.args[0]);
                if editheader::protected(&name) {
                    return Ok(Flow::Next);
                }
                let index = c.tag("index").map(|v| (v.as_num() as usize, c.has("last")));
                let patterns = c.args.get(1).map(|v| self.list(scope, v));
                let mut headers = std::mem::take(&mut self.headers);
                let mut failed = None;
                headers.delete(&name, index, |raw| match &patterns {
                    None => true,
                    Some(keys) => match self.matches(scope.script, c, &[decode_header(raw)], keys) {
                        Ok(m) => m,
                        Err(e) => {
                            failed = Some(e);
                            false
                        }
                    },
                });
                self.headers = headers;
                if let Some(e) = failed {
                    return Err(e);
                }
            }
            other => return Err(Error::at(c.pos, format!("command '{other}' cannot run here"))),
        }
        Ok(Flow::Next)
    }

    /// Flags for `keep`/`fileinto`: `:flags` if given, else the internal variable.
    fn action_flags(&self, scope: &Scope<'_>, c: &Call) -> Vec<String> {
        match c.tag("flags") {
            Some(v) => split_flags(&self.list(scope, v)),
            None => self.flags.clone(),
        }
    }

    /// Adds an action: duplicates collapse, conflicts and limits are runtime errors.
    fn add(&mut self, pos: Pos, action: Action) -> Result<(), Error> {
        let same_mailbox =
            |a: &str, b: &str| a == b || (a.eq_ignore_ascii_case(INBOX) && b.eq_ignore_ascii_case(INBOX));
        match &action {
            Action::Store { mailbox, flags, create, .. } => {
                if let Some(Action::Store { flags: old, create: c, .. }) = self
                    .actions
                    .iter_mut()
                    .find(|a| matches!(a, Action::Store { mailbox: m, .. } if same_mailbox(m, mailbox)))
                {
                    // As in Pigeonhole, the later store's flags replace the earlier ones.
                    *old = flags.clone();
                    *c |= *create;
                    return Ok(());
                }
            }
            Action::Redirect { address, .. } => {
                if self.actions.iter().any(
                    |a| matches!(a, Action::Redirect { address: x, .. } if x.eq_ignore_ascii_case(address)),
                ) {
                    return Ok(());
                }
                let n = self.actions.iter().filter(|a| matches!(a, Action::Redirect { .. })).count();
                if n >= self.settings.limits.max_redirects {
                    return Err(Error::at(
                        pos,
                        format!(
                            "number of redirect actions exceeds policy limit ({} > {})",
                            n + 1,
                            self.settings.limits.max_redirects
                        ),
                    ));
                }
            }
            Action::Discard => {
                if self.actions.contains(&Action::Discard) {
                    return Ok(());
                }
            }
            Action::Vacation(_) => {
                if self.actions.iter().any(|a| matches!(a, Action::Vacation(_))) {
                    return Err(Error::at(pos, "duplicate vacation action not allowed"));
                }
            }
            Action::Duplicate { .. } => {}
            Action::Reject { .. } => {
                if self.actions.iter().any(|a| matches!(a, Action::Reject { .. })) {
                    return Err(Error::at(pos, "duplicate reject/ereject action not allowed"));
                }
            }
        }
        // RFC 5429: reject neither delivers the message nor answers twice.
        let conflicts =
            |a: &Action| matches!(a, Action::Store { .. } | Action::Redirect { .. } | Action::Vacation(_));
        let rejects = |a: &Action| matches!(a, Action::Reject { .. });
        if (rejects(&action) && self.actions.iter().any(conflicts))
            || (conflicts(&action) && self.actions.iter().any(rejects))
        {
            return Err(Error::at(pos, "reject/ereject action conflicts with other action"));
        }
        if self.actions.len() >= self.settings.limits.max_actions {
            return Err(Error::at(
                pos,
                format!(
                    "total number of actions exceeds policy limit ({})",
                    self.settings.limits.max_actions
                ),
            ));
        }
        self.actions.push(action);
        // RFC 5293 §2: an edit affects the actions taken after it, not those before.
        self.action_headers.push(self.headers.changed.then(|| self.headers.fields.clone()));
        Ok(())
    }

    fn vacation(&mut self, scope: &Scope<'_>, c: &Call) -> Result<(), Error> {
        let reason = self.string(scope, &c.args[0]);
        let default = self.settings.vacation_period.unwrap_or(7 * 86_400);
        let seconds = match (c.tag("days"), c.tag("seconds")) {
            (Some(d), _) => d.as_num().saturating_mul(86_400),
            (_, Some(s)) => s.as_num(),
            _ => default,
        };
        let min = self.settings.vacation_min_period.unwrap_or(86_400);
        let seconds = match self.settings.vacation_max_period {
            Some(max) => seconds.clamp(min, max.max(min)),
            None => seconds.max(min),
        };
        let subject = c.tag("subject").map(|v| self.string(scope, v));
        let from = c.tag("from").map(|v| self.string(scope, v));
        let addresses = c.tag("addresses").map(|v| self.list(scope, v)).unwrap_or_default();
        let mime = c.has("mime");
        // RFC 5230 4.2: without :handle, the reason and the arguments make the handle.
        let handle = match c.tag("handle") {
            Some(h) => self.string(scope, h),
            None => format!(
                "{reason}{}{}{}",
                subject.as_deref().unwrap_or("<default-subject>"),
                from.as_deref().unwrap_or("<default-from>"),
                if mime { "<MIME>" } else { "<NO-MIME>" }
            ),
        };
        self.add(
            c.pos,
            Action::Vacation(Vacation { reason, subject, from, addresses, mime, handle, seconds }),
        )
    }

    fn include(&mut self, scope: &Scope<'_>, c: &Call) -> Result<Flow, Error> {
        let name = self.string(scope, &c.args[0]);
        let global = c.has("global");
        let key = (global, name.clone());
        if c.has("once") && self.once.contains(&key) {
            return Ok(Flow::Next);
        }
        if self.depth >= self.settings.limits.max_include_depth {
            return Err(Error::at(c.pos, "include nesting too deep"));
        }
        let script = match self.included.get(&key) {
            Some(s) => s.clone(),
            None => {
                if self.included.len() >= self.settings.limits.max_includes {
                    return Err(Error::at(c.pos, "too many included scripts"));
                }
                let Some(src) = self.host.include(global, &name) else {
                    if c.has("optional") {
                        return Ok(Flow::Next);
                    }
                    return Err(Error::at(c.pos, format!("included script '{name}' does not exist")));
                };
                let s = Rc::new(compile(&src).map_err(|e| {
                    Error::at(c.pos, format!("failed to compile included script '{name}': {e}"))
                })?);
                self.included.insert(key.clone(), s.clone());
                s
            }
        };
        self.once.insert(key);
        let mut inner = Scope { script: &script, vars: Variables::default(), globals: HashSet::new() };
        self.depth += 1;
        let flow = self.block(&mut inner, &script.commands);
        self.depth -= 1;
        match flow? {
            Flow::Stop => Ok(Flow::Stop),
            _ => Ok(Flow::Next),
        }
    }

    // --- tests ---

    fn test(&mut self, scope: &mut Scope<'_>, t: &Call) -> Result<bool, Error> {
        self.step(t.pos)?;
        Ok(match t.name {
            "true" => true,
            "false" => false,
            "not" => !self.test(scope, &t.tests[0])?,
            "allof" => {
                for sub in &t.tests {
                    if !self.test(scope, sub)? {
                        return Ok(false);
                    }
                }
                true
            }
            "anyof" => {
                for sub in &t.tests {
                    if self.test(scope, sub)? {
                        return Ok(true);
                    }
                }
                false
            }
            "size" => {
                let size = self.msg.raw_message.len() as u64;
                let limit = t.args[0].as_num();
                if t.has("over") { size > limit } else { size < limit }
            }
            "exists" => self.list(scope, &t.args[0]).iter().all(|n| self.headers.raw(n).next().is_some()),
            "header" => {
                let names = self.list(scope, &t.args[0]);
                let mut values = Vec::new();
                for n in &names {
                    values.extend(self.indexed(t, n).into_iter().map(|raw| decode_header(&raw)));
                }
                self.key_test(scope, t, &values, &t.args[1])?
            }
            "address" => {
                let names = self.list(scope, &t.args[0]);
                let part = address_part(t);
                let mut values = Vec::new();
                for n in &names {
                    for raw in self.indexed(t, n) {
                        let list = address::parse_list(&raw);
                        // Pigeonhole takes no 8-bit address in a header (no RFC 6532): such an
                        // address is dropped, and a field with nothing else is an invalid
                        // address that only :all sees, as its raw text.
                        if !list.is_empty() && list.iter().all(|a| !a.is_ascii()) {
                            if part == "all" {
                                values.push(raw.replace(['\r', '\n'], "").trim().to_string());
                            }
                            continue;
                        }
                        for a in list.iter().filter(|a| a.is_ascii()) {
                            if let Some(p) = address::part(a, part) {
                                values.push(p.to_string());
                            }
                        }
                    }
                }
                self.key_test(scope, t, &values, &t.args[1])?
            }
            "envelope" => {
                let part = address_part(t);
                let mut values = Vec::new();
                for p in self.list(scope, &t.args[0]) {
                    let addr = match p.to_ascii_lowercase().as_str() {
                        "from" => self.env.from.clone(),
                        "to" => self.env.to.clone(),
                        _ => continue,
                    };
                    if addr.is_empty() {
                        // The null sender: only :all sees it, as "".
                        if part == "all" {
                            values.push(String::new());
                        }
                    } else if let Some(v) = address::part(&addr, part) {
                        values.push(v.to_string());
                    }
                }
                self.key_test(scope, t, &values, &t.args[1])?
            }
            "body" => {
                let values = self.body_values(scope, t);
                self.key_test(scope, t, &values, &t.args[0])?
            }
            "string" => {
                let mut values = self.list(scope, &t.args[0]);
                if t.has("count") {
                    values.retain(|v| !v.is_empty());
                }
                self.key_test(scope, t, &values, &t.args[1])?
            }
            "hasflag" => {
                let values = match t.args.len() {
                    2 => {
                        let names = self.list(scope, &t.args[0]);
                        split_flags(&names.iter().map(|n| self.var(scope, n).to_string()).collect::<Vec<_>>())
                    }
                    _ => self.flags.clone(),
                };
                let keys = t.args.last().expect("checked");
                let keys = Value::List(split_flags(&self.list(scope, keys)));
                self.key_test(scope, t, &values, &keys)?
            }
            "date" => {
                let name = self.string(scope, &t.args[0]);
                let part = self.string(scope, &t.args[1]).to_ascii_lowercase();
                let zone = self.zone(scope, t);
                let mut values = Vec::new();
                for raw in self.indexed(t, &name) {
                    if let Some(mut m) = date::from_header(&name, decode_header(&raw).as_str()) {
                        if let Some(z) = zone {
                            m.offset = z;
                        }
                        values.extend(date::part(m, &part));
                    }
                }
                self.key_test(scope, t, &values, &t.args[2])?
            }
            "currentdate" => {
                let part = self.string(scope, &t.args[0]).to_ascii_lowercase();
                let offset = self.zone(scope, t).unwrap_or(self.settings.local_offset);
                let values: Vec<String> =
                    date::part(Moment { unix: self.settings.now, offset }, &part).into_iter().collect();
                self.key_test(scope, t, &values, &t.args[1])?
            }
            "mailboxexists" => {
                let names = self.list(scope, &t.args[0]);
                names.iter().all(|n| self.host.mailbox_exists(n))
            }
            "environment" => {
                let name = self.string(scope, &t.args[0]).to_ascii_lowercase();
                match self.host.environment(&name) {
                    Some(v) => self.key_test(scope, t, &[v], &t.args[1])?,
                    None => false,
                }
            }
            "duplicate" => {
                let id = match (t.tag("uniqueid"), t.tag("header")) {
                    (Some(u), _) => Some(self.string(scope, u)),
                    (_, Some(h)) => self.headers.raw(&self.string(scope, h)).next().map(decode_header),
                    _ => self.headers.raw("message-id").next().map(decode_header),
                };
                let Some(id) = id else { return Ok(false) };
                let handle = t.tag("handle").map(|h| self.string(scope, h));
                let seconds = t
                    .tag("seconds")
                    .map(Value::as_num)
                    .unwrap_or(self.settings.duplicate_period.unwrap_or(14 * 86_400));
                let key = format!("{}\0{id}", handle.as_deref().unwrap_or(""));
                let seen = self.host.duplicate(&key, seconds);
                self.add(t.pos, Action::Duplicate { id: key, handle, seconds, last: t.has("last") })?;
                seen
            }
            "spamtest" | "virustest" => {
                let config =
                    if t.name == "spamtest" { &self.settings.spamtest } else { &self.settings.virustest };
                let value = match config {
                    Some(cfg) => cfg.value(&self.headers, t.name == "virustest", t.has("percent")),
                    None => "0".to_string(),
                };
                let keys = Value::List(vec![t.args[0].as_str().to_string()]);
                self.key_test(scope, t, &[value], &keys)?
            }
            other => return Err(Error::at(t.pos, format!("test '{other}' cannot run here"))),
        })
    }

    /// The raw values of header `name`, all of them or the one `:index` picks.
    fn indexed(&self, t: &Call, name: &str) -> Vec<String> {
        let all: Vec<String> = self.headers.raw(name).map(str::to_string).collect();
        match t.tag("index") {
            None => all,
            Some(v) => {
                let i = v.as_num() as usize;
                let pick = if t.has("last") { all.len().checked_sub(i) } else { i.checked_sub(1) };
                pick.and_then(|p| all.get(p).cloned()).into_iter().collect()
            }
        }
    }

    /// The zone a date test shows dates in, `None` for the original zone.
    fn zone(&self, scope: &Scope<'_>, t: &Call) -> Option<i32> {
        if t.has("originalzone") {
            return None;
        }
        match t.tag("zone") {
            // Pigeonhole warns about an invalid zone and uses the local one.
            Some(z) => Some(date::parse_zone(&self.string(scope, z)).unwrap_or(self.settings.local_offset)),
            None => Some(self.settings.local_offset),
        }
    }

    fn body_values(&self, scope: &Scope<'_>, t: &Call) -> Vec<String> {
        let msg = self.msg;
        if t.has("raw") {
            let start = msg.parts.first().map(|p| p.offset_body as usize).unwrap_or(0);
            return vec![
                String::from_utf8_lossy(msg.raw_message.get(start..).unwrap_or_default()).into_owned(),
            ];
        }
        let types: Vec<String> = match t.tag("content") {
            Some(v) => self.list(scope, v),
            None => vec!["text".to_string()],
        };
        let mut out = Vec::new();
        for part in &msg.parts {
            let (ctype, sub) = match part.content_type() {
                Some(ct) => {
                    (ct.ctype().to_ascii_lowercase(), ct.subtype().unwrap_or("").to_ascii_lowercase())
                }
                None => ("text".to_string(), "plain".to_string()),
            };
            let wanted = types.iter().any(|w| {
                let w = w.to_ascii_lowercase();
                w.is_empty() || w == ctype || w == format!("{ctype}/{sub}")
            });
            if !wanted {
                continue;
            }
            match &part.body {
                // :text reads HTML as text, as Pigeonhole does; :content "text/html" reads it raw.
                PartType::Html(s) if !t.has("content") => {
                    out.push(mail_parser::decoders::html::html_to_text(s))
                }
                PartType::Text(s) | PartType::Html(s) => out.push(s.to_string()),
                PartType::Binary(b) | PartType::InlineBinary(b) if t.has("content") => {
                    out.push(String::from_utf8_lossy(b).into_owned())
                }
                _ => {}
            }
        }
        out
    }

    /// The match type, comparator and keys of `t` applied to `values`; sets the match
    /// variables when a `:matches` or `:regex` test succeeds.
    fn key_test(
        &mut self,
        scope: &mut Scope<'_>,
        t: &Call,
        values: &[String],
        keys: &Value,
    ) -> Result<bool, Error> {
        let keys = self.list(scope, keys);
        let captures = scope.script.has("variables");
        match self.match_captures(scope.script, t, values, &keys)? {
            Some(caps) => {
                if captures && let Some(c) = caps {
                    scope.vars.matched = c;
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn matches(
        &mut self,
        script: &Script,
        t: &Call,
        values: &[String],
        keys: &[String],
    ) -> Result<bool, Error> {
        Ok(self.match_captures(script, t, values, keys)?.is_some())
    }

    /// `None` for no match; `Some(captures)` for a match.
    #[allow(clippy::type_complexity)]
    fn match_captures(
        &mut self,
        script: &Script,
        t: &Call,
        values: &[String],
        keys: &[String],
    ) -> Result<Option<Option<Vec<String>>>, Error> {
        let cmp = Comparator::from_name(t.tag("comparator").map(Value::as_str));
        let mt =
            t.choice(&["is", "contains", "matches", "regex", "value", "count"]).map(|(n, v)| (n, v.cloned()));
        match mt {
            Some(("count", Some(op))) => {
                let rel = Relation::parse(op.as_str());
                let n = values.len().to_string();
                Ok(keys.iter().any(|k| rel.holds(cmp.cmp(&n, k))).then_some(None))
            }
            Some(("value", Some(op))) => {
                let rel = Relation::parse(op.as_str());
                Ok(values.iter().any(|v| keys.iter().any(|k| rel.holds(cmp.cmp(v, k)))).then_some(None))
            }
            Some(("contains", _)) => {
                Ok(values.iter().any(|v| keys.iter().any(|k| compare::contains(cmp, v, k))).then_some(None))
            }
            Some(("matches", _)) => {
                for v in values {
                    for k in keys {
                        self.step(t.pos)?;
                        if let Some(c) = compare::matches(cmp, v, k) {
                            return Ok(Some(Some(c)));
                        }
                    }
                }
                Ok(None)
            }
            Some(("regex", _)) => {
                let icase = cmp == Comparator::AsciiCasemap;
                for k in keys {
                    let key = (k.clone(), icase);
                    let re = match script.regexes.get(&key) {
                        Some(r) => Rc::new(r.clone()),
                        None => match self.regexes.get(&key) {
                            Some(r) => r.clone(),
                            None => {
                                let r = Rc::new(compare::build_regex(k, icase).map_err(|e| {
                                    Error::at(t.pos, format!("invalid regular expression '{k}': {e}"))
                                })?);
                                self.regexes.insert(key, r.clone());
                                r
                            }
                        },
                    };
                    for v in values {
                        self.step(t.pos)?;
                        if let Some(c) = compare::regex_captures(&re, v) {
                            return Ok(Some(Some(c)));
                        }
                    }
                }
                Ok(None)
            }
            _ => Ok(values
                .iter()
                .any(|v| keys.iter().any(|k| cmp.cmp(v, k) == std::cmp::Ordering::Equal))
                .then_some(None)),
        }
    }
}

fn address_part(t: &Call) -> &'static str {
    t.choice(&["all", "localpart", "domain", "user", "detail"]).map(|(n, _)| n).unwrap_or("all")
}

/// A raw header value unfolded, RFC 2047 decoded and trimmed.
pub fn decode_header(raw: &str) -> String {
    let mut bytes = raw.as_bytes().to_vec();
    if !bytes.ends_with(b"\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    match MessageStream::new(&bytes).parse_unstructured() {
        HeaderValue::Text(t) => t.trim().to_string(),
        HeaderValue::TextList(l) => l.join(" ").trim().to_string(),
        _ => String::new(),
    }
}

/// Flags from flag lists: each string may hold several, space-separated; duplicates dropped
/// case-insensitively.
fn split_flags(lists: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in lists.iter().flat_map(|s| s.split_ascii_whitespace()) {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
            out.push(f.to_string());
        }
    }
    out
}

fn apply_flags(cmd: &str, mut cur: Vec<String>, flags: Vec<String>) -> Vec<String> {
    match cmd {
        "setflag" => flags,
        "addflag" => {
            for f in flags {
                if !cur.iter().any(|o| o.eq_ignore_ascii_case(&f)) {
                    cur.push(f);
                }
            }
            cur
        }
        _ => {
            cur.retain(|o| !flags.iter().any(|f| f.eq_ignore_ascii_case(o)));
            cur
        }
    }
}
