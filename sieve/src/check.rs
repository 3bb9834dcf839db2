//! The checker: turns parsed nodes into a `Script` the interpreter can run without further
//! checks. Every command and test is known, its extension required, its tags allowed and its
//! positional arguments of the right type; constant arguments (comparators, relational
//! operators, date parts, regexes, addresses) are validated here, as Pigeonhole does.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use regex::Regex;

use crate::encoded;
use crate::error::{Error, Pos};
use crate::parser::{Arg, MAX_NESTING, Node, parse};
use crate::spec::{self, ArgKind, Kind};

/// Scripts above this size are refused before parsing (Pigeonhole's `sieve_max_script_size`
/// defaults to 1 MiB).
pub const MAX_SCRIPT_SIZE: usize = 1 << 20;

/// Every extension this implementation knows, as named in `require`.
pub const EXTENSIONS: &[&str] = &[
    "fileinto",
    "reject",
    "ereject",
    "envelope",
    "encoded-character",
    "comparator-i;octet",
    "comparator-i;ascii-casemap",
    "comparator-i;ascii-numeric",
    "imap4flags",
    "variables",
    "body",
    "relational",
    "subaddress",
    "copy",
    "mailbox",
    "vacation",
    "vacation-seconds",
    "include",
    "date",
    "index",
    "duplicate",
    "vnd.dovecot.duplicate",
    "editheader",
    "environment",
    "spamtest",
    "spamtestplus",
    "virustest",
    "regex",
];

/// The header fields the address test may read: those Pigeonhole knows to carry addresses.
const ADDRESS_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "sender",
    "resent-from",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-sender",
    "reply-to",
    "resent-reply-to",
    "return-receipt-to",
    "errors-to",
    "delivered-to",
    "x-original-to",
    "apparently-to",
    "mail-followup-to",
    "mail-reply-to",
    "x-beenthere",
];

/// A checked script.
#[derive(Debug, Clone)]
pub struct Script {
    pub commands: Vec<Command>,
    /// The extensions it requires.
    pub extensions: BTreeSet<String>,
    /// `:regex` keys without variables, compiled once (pattern, case-insensitive).
    pub regexes: HashMap<(String, bool), Regex>,
}

impl Script {
    pub fn has(&self, ext: &str) -> bool {
        self.extensions.contains(ext)
    }
}

/// A statement.
#[derive(Debug, Clone)]
pub enum Command {
    /// `if`/`elsif` branches in order, then `else`.
    If { branches: Vec<(Call, Vec<Command>)>, otherwise: Option<Vec<Command>> },
    /// Any other command (actions, `stop`, `set`, ...).
    Call(Call),
}

/// A command or test with its arguments sorted out.
#[derive(Debug, Clone)]
pub struct Call {
    pub name: &'static str,
    pub pos: Pos,
    pub tags: Vec<(&'static str, Option<Value>)>,
    pub args: Vec<Value>,
    /// Sub-tests of `not`, `allof`, `anyof`.
    pub tests: Vec<Call>,
}

/// An argument value. Strings are as written (encoded characters decoded); variables are
/// expanded when the command runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    List(Vec<String>),
    Num(u64),
}

impl Value {
    pub fn as_str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            Value::List(l) => l.first().map(String::as_str).unwrap_or(""),
            Value::Num(_) => "",
        }
    }

    pub fn as_list(&self) -> Vec<&str> {
        match self {
            Value::Str(s) => vec![s.as_str()],
            Value::List(l) => l.iter().map(String::as_str).collect(),
            Value::Num(_) => Vec::new(),
        }
    }

    pub fn as_num(&self) -> u64 {
        match self {
            Value::Num(n) => *n,
            _ => 0,
        }
    }
}

impl Call {
    /// Whether the tag was given.
    pub fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|(t, _)| *t == tag)
    }

    /// The argument of a tag.
    pub fn tag(&self, tag: &str) -> Option<&Value> {
        self.tags.iter().find(|(t, _)| *t == tag).and_then(|(_, v)| v.as_ref())
    }

    /// The tag given from a group of alternatives (match type, address part, ...).
    pub fn choice(&self, options: &[&str]) -> Option<(&'static str, Option<&Value>)> {
        self.tags.iter().find(|(t, _)| options.contains(t)).map(|(t, v)| (*t, v.as_ref()))
    }
}

/// Parses and checks a script.
pub fn compile(src: &str) -> Result<Script, Error> {
    if src.len() > MAX_SCRIPT_SIZE {
        return Err(Error::at(
            Pos { line: 1, col: 1 },
            format!("script larger than {MAX_SCRIPT_SIZE} bytes"),
        ));
    }
    let nodes = parse(src)?;
    let mut ck = Checker { extensions: BTreeSet::new(), regexes: RefCell::default() };
    let mut commands = Vec::new();
    let mut i = 0;
    while i < nodes.len() && nodes[i].name == "require" {
        ck.require(&nodes[i])?;
        i += 1;
    }
    ck.block(&nodes[i..], &mut commands, 0)?;
    Ok(Script { commands, extensions: ck.extensions, regexes: ck.regexes.into_inner() })
}

struct Checker {
    extensions: BTreeSet<String>,
    regexes: RefCell<HashMap<(String, bool), Regex>>,
}

impl Checker {
    fn require(&mut self, node: &Node) -> Result<(), Error> {
        if !node.tests.is_empty() || node.block.is_some() || node.args.len() != 1 {
            return Err(Error::at(node.pos, "require takes one string list"));
        }
        let names = match &node.args[0] {
            Arg::String(s, _) => vec![s.clone()],
            Arg::List(l, _) => l.clone(),
            other => return Err(Error::at(other.pos(), "require takes one string list")),
        };
        for name in names {
            if !EXTENSIONS.contains(&name.as_str()) {
                return Err(Error::at(node.pos, format!("require: unknown Sieve capability '{name}'")));
            }
            if name == "spamtestplus" {
                self.extensions.insert("spamtest".into());
            }
            self.extensions.insert(name);
        }
        Ok(())
    }

    fn has(&self, ext: &str) -> bool {
        self.extensions.contains(ext)
    }

    fn block(&self, nodes: &[Node], out: &mut Vec<Command>, depth: usize) -> Result<(), Error> {
        if depth > MAX_NESTING {
            return Err(Error::at(nodes.first().map(|n| n.pos).unwrap_or_default(), "nesting too deep"));
        }
        let mut i = 0;
        while i < nodes.len() {
            let node = &nodes[i];
            match node.name.as_str() {
                "require" => {
                    return Err(Error::at(node.pos, "require is only allowed at the start of the script"));
                }
                "if" => {
                    let mut branches = vec![self.branch(node, depth)?];
                    let mut otherwise = None;
                    while let Some(next) = nodes.get(i + 1) {
                        match next.name.as_str() {
                            "elsif" => branches.push(self.branch(next, depth)?),
                            "else" => {
                                let block = self.plain_block(next, depth)?;
                                otherwise = Some(block);
                                i += 1;
                                break;
                            }
                            _ => break,
                        }
                        i += 1;
                    }
                    out.push(Command::If { branches, otherwise });
                }
                "elsif" | "else" => {
                    return Err(Error::at(node.pos, format!("{} without a preceding if", node.name)));
                }
                _ => {
                    let call = self.call(node, Kind::Command, depth)?;
                    if node.block.is_some() {
                        return Err(Error::at(node.pos, format!("{} takes no block", node.name)));
                    }
                    out.push(Command::Call(call));
                }
            }
            i += 1;
        }
        Ok(())
    }

    fn branch(&self, node: &Node, depth: usize) -> Result<(Call, Vec<Command>), Error> {
        if node.tests.len() != 1 || !node.args.is_empty() {
            return Err(Error::at(node.pos, format!("{} takes exactly one test", node.name)));
        }
        let test = self.call(&node.tests[0], Kind::Test, depth + 1)?;
        Ok((test, self.plain_block(node, depth)?))
    }

    fn plain_block(&self, node: &Node, depth: usize) -> Result<Vec<Command>, Error> {
        let Some(block) = &node.block else {
            return Err(Error::at(node.pos, format!("{} needs a block", node.name)));
        };
        if node.name == "else" && (!node.tests.is_empty() || !node.args.is_empty()) {
            return Err(Error::at(node.pos, "else takes no arguments"));
        }
        let mut out = Vec::new();
        self.block(block, &mut out, depth + 1)?;
        Ok(out)
    }

    fn call(&self, node: &Node, kind: Kind, depth: usize) -> Result<Call, Error> {
        if depth > MAX_NESTING {
            return Err(Error::at(node.pos, "nesting too deep"));
        }
        let what = if kind == Kind::Test { "test" } else { "command" };
        let Some(spec) = spec::find(&node.name, kind) else {
            return Err(Error::at(node.pos, format!("unknown {what} '{}'", node.name)));
        };
        if !spec.ext.is_empty() && !spec.ext.iter().any(|e| self.has(e)) {
            return Err(Error::at(
                node.pos,
                format!("unknown {what} '{}' (require \"{}\")", node.name, spec.ext[0]),
            ));
        }
        let mut call =
            Call { name: spec.name, pos: node.pos, tags: Vec::new(), args: Vec::new(), tests: Vec::new() };
        let mut args = node.args.iter().peekable();
        // Tags may come anywhere before the positional arguments.
        while let Some(Arg::Tag(tag, tpos)) = args.peek() {
            let (tag, tpos) = (tag.clone(), *tpos);
            args.next();
            let Some(ts) = spec.tags.iter().flat_map(|s| s.iter()).find(|t| t.name == tag) else {
                return Err(Error::at(tpos, format!("{} has no tag :{tag}", node.name)));
            };
            if let Some(ext) = ts.ext
                && !self.has(ext)
            {
                return Err(Error::at(tpos, format!("tag :{tag} needs require \"{ext}\"")));
            }
            if call.has(ts.name) {
                return Err(Error::at(tpos, format!("tag :{tag} given twice")));
            }
            if let Some(group) = ts.group
                && let Some((other, _)) =
                    call.tags.iter().find(|(t, _)| spec::group_of(spec, t) == Some(group))
            {
                return Err(Error::at(tpos, format!(":{tag} conflicts with :{other}")));
            }
            let value = match ts.arg {
                None => None,
                Some(kind) => {
                    let Some(a) = args.next() else {
                        return Err(Error::at(tpos, format!("tag :{tag} needs an argument")));
                    };
                    Some(self.value(a, kind, &format!(":{tag}"))?)
                }
            };
            call.tags.push((ts.name, value));
        }
        for (n, kind) in spec.args.iter().enumerate() {
            let Some(a) = args.next() else {
                // `setflag` and friends take an optional leading variable name.
                return Err(Error::at(
                    node.pos,
                    format!("{} needs {} positional argument(s), found {n}", node.name, spec.args.len()),
                ));
            };
            if let Arg::Tag(t, p) = a {
                return Err(Error::at(*p, format!("tag :{t} not allowed here")));
            }
            call.args.push(self.value(a, *kind, &format!("argument {}", n + 1))?);
        }
        if let Some(extra) = args.next() {
            // hasflag, setflag, addflag and removeflag take an optional first argument.
            if spec.optional_first && call.args.len() == spec.args.len() {
                let v = self.value(extra, ArgKind::List, "argument")?;
                call.args.push(v);
                if let Some(more) = args.next() {
                    return Err(Error::at(more.pos(), format!("too many arguments for {}", node.name)));
                }
            } else {
                return Err(Error::at(extra.pos(), format!("too many arguments for {}", node.name)));
            }
        }
        match spec.tests {
            spec::Tests::None if !node.tests.is_empty() => {
                return Err(Error::at(node.tests[0].pos, format!("{} takes no test", node.name)));
            }
            spec::Tests::One if node.tests.len() != 1 => {
                return Err(Error::at(node.pos, format!("{} takes exactly one test", node.name)));
            }
            spec::Tests::List if node.tests.is_empty() => {
                return Err(Error::at(node.pos, format!("{} takes a test list", node.name)));
            }
            _ => {}
        }
        for t in &node.tests {
            call.tests.push(self.call(t, Kind::Test, depth + 1)?);
        }
        self.validate(&mut call)?;
        Ok(call)
    }

    fn value(&self, a: &Arg, kind: ArgKind, what: &str) -> Result<Value, Error> {
        let decode = |s: &str| {
            if self.has("encoded-character") { encoded::decode(s) } else { s.to_string() }
        };
        match (a, kind) {
            (Arg::Number(n, _), ArgKind::Num) => Ok(Value::Num(*n)),
            (Arg::String(s, _), ArgKind::Str | ArgKind::List) => Ok(Value::Str(decode(s))),
            (Arg::List(l, _), ArgKind::List) => Ok(Value::List(l.iter().map(|s| decode(s)).collect())),
            (a, _) => {
                let want = match kind {
                    ArgKind::Num => "a number",
                    ArgKind::Str => "a string",
                    ArgKind::List => "a string list",
                };
                Err(Error::at(a.pos(), format!("{what} must be {want}")))
            }
        }
    }

    /// Checks on constant values that Pigeonhole also does at compile time.
    fn validate(&self, call: &mut Call) -> Result<(), Error> {
        let pos = call.pos;
        let vars = self.has("variables");
        let constant = |s: &str| !vars || !s.contains("${");
        if let Some(Value::Str(c)) = call.tag("comparator") {
            let c = c.to_ascii_lowercase();
            match c.as_str() {
                "i;octet" | "i;ascii-casemap" => {}
                "i;ascii-numeric" if self.has("comparator-i;ascii-numeric") => {}
                _ => return Err(Error::at(pos, format!("unknown comparator '{c}'"))),
            }
            for t in call.tags.iter_mut() {
                if t.0 == "comparator" {
                    t.1 = Some(Value::Str(c.clone()));
                }
            }
        }
        if matches!(call.tag("comparator"), Some(Value::Str(c)) if c == "i;ascii-numeric")
            && let Some((mt, _)) = call.choice(&["contains", "matches", "regex"])
        {
            return Err(Error::at(pos, format!("comparator i;ascii-numeric does not support :{mt}")));
        }
        for rel in ["value", "count"] {
            if let Some(Value::Str(op)) = call.tag(rel) {
                let op = op.to_ascii_lowercase();
                if !["gt", "ge", "lt", "le", "eq", "ne"].contains(&op.as_str()) {
                    return Err(Error::at(pos, format!("invalid relational match '{op}'")));
                }
                for t in call.tags.iter_mut() {
                    if t.0 == rel {
                        t.1 = Some(Value::Str(op.clone()));
                    }
                }
            }
        }
        if call.has("regex") {
            let keys = call.args.last().map(Value::as_list).unwrap_or_default();
            for k in keys {
                if constant(k) {
                    let icase = call_casemap(call);
                    let re = crate::compare::build_regex(k, icase)
                        .map_err(|e| Error::at(pos, format!("invalid regular expression '{k}': {e}")))?;
                    self.regexes.borrow_mut().insert((k.to_string(), icase), re);
                }
            }
        }
        match call.name {
            "address" => {
                for h in call.args[0].as_list() {
                    if constant(h) && !ADDRESS_HEADERS.contains(&h.to_ascii_lowercase().as_str()) {
                        return Err(Error::at(
                            pos,
                            format!("specified header '{h}' is not allowed for the address test"),
                        ));
                    }
                }
            }
            "envelope" => {
                for p in call.args[0].as_list() {
                    if constant(p) && !["from", "to"].contains(&p.to_ascii_lowercase().as_str()) {
                        return Err(Error::at(pos, format!("unknown envelope part '{p}'")));
                    }
                }
            }
            "redirect" => {
                let a = call.args[0].as_str();
                if constant(a) && !crate::address::valid(a) {
                    return Err(Error::at(pos, format!("specified redirect address '{a}' is invalid")));
                }
            }
            "set" => {
                let name = call.args[0].as_str();
                if !crate::variables::valid_name(name) {
                    return Err(Error::at(pos, format!("invalid variable name '{name}'")));
                }
            }
            "global" => {
                for name in call.args[0].as_list() {
                    if !crate::variables::valid_name(name) {
                        return Err(Error::at(pos, format!("invalid variable name '{name}'")));
                    }
                }
            }
            "hasflag" | "setflag" | "addflag" | "removeflag" if call.args.len() == 2 => {
                for name in call.args[0].as_list() {
                    if !crate::variables::valid_name(name) {
                        return Err(Error::at(pos, format!("invalid variable name '{name}'")));
                    }
                }
            }
            "size" if !call.has("over") && !call.has("under") => {
                return Err(Error::at(pos, "size needs :over or :under"));
            }
            "include" => {
                let n = call.args[0].as_str();
                if n.is_empty() || n.contains('/') {
                    return Err(Error::at(pos, format!("invalid script name '{n}'")));
                }
            }
            "vacation" => {
                if call.has("days") && call.has("seconds") {
                    return Err(Error::at(pos, ":days conflicts with :seconds"));
                }
                if let Some(Value::Str(f)) = call.tag("from")
                    && constant(f)
                    && !crate::address::valid_header(f)
                {
                    return Err(Error::at(pos, format!("specified :from address '{f}' is invalid")));
                }
            }
            "addheader" | "deleteheader" => {
                let field = call.args[0].as_str();
                if constant(field) && !crate::editheader::valid_field_name(field) {
                    return Err(Error::at(pos, format!("invalid header field name '{field}'")));
                }
            }
            _ => {}
        }
        if call.has("last") && !call.has("index") && call.name != "duplicate" && call.name != "addheader" {
            return Err(Error::at(pos, ":last needs :index"));
        }
        Ok(())
    }
}

fn call_casemap(call: &Call) -> bool {
    !matches!(call.tag("comparator"), Some(Value::Str(c)) if c == "i;octet")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        compile(src).unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_typical_script() {
        let s = compile(
            r#"require ["fileinto", "imap4flags", "variables", "relational", "comparator-i;ascii-numeric"];
            if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto :flags "\\Seen" "Junk"; stop; }
            elsif address :domain :is ["from", "sender"] "example.com" { setflag "f" "a"; }
            else { keep; }"#,
        )
        .unwrap();
        assert_eq!(s.commands.len(), 1);
        assert!(s.has("imap4flags"));
    }

    #[test]
    fn errors() {
        assert_eq!(err("frobnicate;"), "1:1: unknown command 'frobnicate'");
        assert!(err("fileinto \"x\";").contains("require \"fileinto\""));
        assert!(err("require \"nope\";").contains("unknown Sieve capability"));
        assert!(err("keep;\nrequire \"fileinto\";").starts_with("2:1"));
        assert!(err("if header :is \"a\" { keep; }").contains("positional"));
        assert!(err("if header :is 1 \"a\" { keep; }").contains("must be a string list"));
        assert!(err("if header :is :contains \"a\" \"b\" { keep; }").contains("conflicts"));
        assert!(
            err("if header :comparator \"i;ascii-numeric\" \"a\" \"b\" { keep; }").contains("comparator")
        );
        assert!(err("else { keep; }").contains("without"));
        assert!(err("redirect \"not an address\";").contains("invalid"));
        assert!(err("if size :over \"1\" { keep; }").contains("number"));
        assert!(err("require \"regex\"; if header :regex \"a\" \"(\" { keep; }").contains("regular"));
        assert!(err("keep { stop; }").contains("block"));
        assert!(err("if true keep;").starts_with("1:9"));
        assert!(err("require \"variables\"; set \"a-b\" \"c\";").contains("variable name"));
        assert!(err("if not (true, false) { keep; }").contains("exactly one"));
        assert!(err("if envelope \"from\" \"x\" { keep; }").contains("envelope"));
    }
}
