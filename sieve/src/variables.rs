//! RFC 5229 variables: names, `${...}` expansion and the modifiers of `set`.

use std::collections::HashMap;

/// Values longer than this are truncated (Pigeonhole's `sieve_variables_max_variable_size`).
pub const MAX_VALUE: usize = 4096;
/// At most this many variables per script scope.
pub const MAX_VARIABLES: usize = 255;

/// A variable name `set` accepts.
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The variables of one run: named (lowercased) and the match variables `${0}`..`${9}`.
#[derive(Debug, Default, Clone)]
pub struct Variables {
    pub named: HashMap<String, String>,
    pub matched: Vec<String>,
}

impl Variables {
    pub fn set(&mut self, name: &str, value: String) -> bool {
        let key = name.to_ascii_lowercase();
        if !self.named.contains_key(&key) && self.named.len() >= MAX_VARIABLES {
            return false;
        }
        self.named.insert(key, truncate(value));
        true
    }

    pub fn get(&self, name: &str) -> &str {
        if name.bytes().all(|b| b.is_ascii_digit()) {
            return name
                .parse::<usize>()
                .ok()
                .and_then(|i| self.matched.get(i))
                .map(String::as_str)
                .unwrap_or("");
        }
        self.named.get(&name.to_ascii_lowercase()).map(String::as_str).unwrap_or("")
    }

    /// Replaces each `${name}` by its value; anything that is not a reference stays.
    pub fn expand(&self, s: &str) -> String {
        expand(s, |name| self.get(name))
    }
}

/// Replaces each `${name}` in `s` by `value(name)`; anything that is not a reference stays.
/// The result is cut to [`MAX_VALUE`] bytes, as every variable's value is.
pub fn expand<'v>(s: &str, value: impl Fn(&str) -> &'v str) -> String {
    if !s.contains("${") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(end) if reference(&after[..end]) => {
                out.push_str(value(&after[..end]));
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    truncate(out)
}

fn reference(name: &str) -> bool {
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())) || valid_name(name)
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Applies `set`'s modifiers in RFC 5229's precedence order.
pub fn modify(mut v: String, has: impl Fn(&str) -> bool) -> String {
    if has("lower") {
        v = v.to_lowercase();
    }
    if has("upper") {
        v = v.to_uppercase();
    }
    if has("lowerfirst") || has("upperfirst") {
        let mut c = v.chars();
        if let Some(f) = c.next() {
            let f: String =
                if has("lowerfirst") { f.to_lowercase().collect() } else { f.to_uppercase().collect() };
            v = f + c.as_str();
        }
    }
    if has("quotewildcard") {
        v = v.chars().fold(String::new(), |mut o, c| {
            if matches!(c, '*' | '?' | '\\') {
                o.push('\\');
            }
            o.push(c);
            o
        });
    }
    if has("length") {
        v = v.chars().count().to_string();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let mut v = Variables::default();
        v.set("Name", "World".into());
        v.matched = vec!["all".into(), "one".into()];
        assert_eq!(v.expand("Hello ${name}, ${1}${2} ${unknown}."), "Hello World, one .");
        assert_eq!(v.expand("${a-b} ${ ${name"), "${a-b} ${ ${name");
        assert!(valid_name("a_1") && !valid_name("1a") && !valid_name(""));
        assert_eq!(modify("hello World".into(), |m| m == "upperfirst"), "Hello World");
        assert_eq!(modify("a*b".into(), |m| m == "quotewildcard"), "a\\*b");
        assert_eq!(modify("ABC".into(), |m| m == "lower" || m == "length"), "3");
        v.set("big", "x".repeat(10000));
        assert_eq!(v.get("big").len(), MAX_VALUE);
    }
}
