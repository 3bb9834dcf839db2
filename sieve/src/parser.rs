//! RFC 5228 section 8.2: the grammar, giving commands with their arguments, tests and blocks.
//! What the names mean is the checker's business.

use crate::error::{Error, Pos};
use crate::lexer::{Token, tokenize};

/// One command or test as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Lowercased identifier.
    pub name: String,
    pub pos: Pos,
    pub args: Vec<Arg>,
    pub tests: Vec<Node>,
    /// `Some` for a command with a block.
    pub block: Option<Vec<Node>>,
}

/// An argument as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Tag(String, Pos),
    Number(u64, Pos),
    String(String, Pos),
    List(Vec<String>, Pos),
}

impl Arg {
    pub fn pos(&self) -> Pos {
        match self {
            Arg::Tag(_, p) | Arg::Number(_, p) | Arg::String(_, p) | Arg::List(_, p) => *p,
        }
    }
}

/// Nesting of blocks and tests beyond this is refused, so the recursive parser and
/// interpreter stay within their stack.
pub const MAX_NESTING: usize = 32;

/// The commands of a whole script.
pub fn parse(src: &str) -> Result<Vec<Node>, Error> {
    let tokens = tokenize(src)?;
    let mut p = Parser { tokens, at: 0, depth: 0 };
    let cmds = p.commands()?;
    if let Some((_, pos)) = p.tokens.get(p.at) {
        return Err(Error::at(*pos, "unexpected '}'"));
    }
    Ok(cmds)
}

struct Parser {
    tokens: Vec<(Token, Pos)>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn pos(&self) -> Pos {
        match self.tokens.get(self.at) {
            Some((_, p)) => *p,
            None => self.tokens.last().map(|(_, p)| *p).unwrap_or(Pos { line: 1, col: 1 }),
        }
    }

    fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn nest(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Error::at(self.pos(), format!("nesting deeper than {MAX_NESTING}")));
        }
        Ok(())
    }

    fn commands(&mut self) -> Result<Vec<Node>, Error> {
        let mut out = Vec::new();
        while let Some(Token::Identifier(_)) = self.peek() {
            out.push(self.command()?);
        }
        match self.peek() {
            None | Some(Token::RightBrace) => Ok(out),
            Some(t) => Err(Error::at(self.pos(), format!("expected a command, found {}", describe(t)))),
        }
    }

    fn command(&mut self) -> Result<Node, Error> {
        let mut node = self.test_like()?;
        if self.eat(&Token::Semicolon) {
            return Ok(node);
        }
        if self.eat(&Token::LeftBrace) {
            self.nest()?;
            let block = self.commands()?;
            if !self.eat(&Token::RightBrace) {
                return Err(Error::at(self.pos(), "expected '}'"));
            }
            self.depth -= 1;
            node.block = Some(block);
            return Ok(node);
        }
        let found = self.peek().map(describe).unwrap_or("end of script");
        Err(Error::at(self.pos(), format!("expected ';' or '{{' after {}, found {found}", node.name)))
    }

    /// identifier, arguments, then an optional test or test list.
    fn test_like(&mut self) -> Result<Node, Error> {
        let pos = self.pos();
        let Some(Token::Identifier(name)) = self.peek().cloned() else {
            let found = self.peek().map(describe).unwrap_or("end of script");
            return Err(Error::at(pos, format!("expected an identifier, found {found}")));
        };
        self.at += 1;
        let mut node = Node { name, pos, args: Vec::new(), tests: Vec::new(), block: None };
        loop {
            let apos = self.pos();
            match self.peek().cloned() {
                Some(Token::Tag(t)) => {
                    self.at += 1;
                    node.args.push(Arg::Tag(t, apos));
                }
                Some(Token::Number(n)) => {
                    self.at += 1;
                    node.args.push(Arg::Number(n, apos));
                }
                Some(Token::String(s)) => {
                    self.at += 1;
                    node.args.push(Arg::String(s, apos));
                }
                Some(Token::LeftBracket) => {
                    self.at += 1;
                    node.args.push(Arg::List(self.string_list()?, apos));
                }
                _ => break,
            }
        }
        match self.peek() {
            Some(Token::Identifier(_)) => {
                self.nest()?;
                node.tests.push(self.test_like()?);
                self.depth -= 1;
            }
            Some(Token::LeftParen) => {
                self.at += 1;
                self.nest()?;
                loop {
                    node.tests.push(self.test_like()?);
                    if self.eat(&Token::Comma) {
                        continue;
                    }
                    if self.eat(&Token::RightParen) {
                        break;
                    }
                    return Err(Error::at(self.pos(), "expected ',' or ')' in test list"));
                }
                self.depth -= 1;
            }
            _ => {}
        }
        Ok(node)
    }

    fn string_list(&mut self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        loop {
            match self.peek().cloned() {
                Some(Token::String(s)) => {
                    self.at += 1;
                    out.push(s);
                }
                _ => return Err(Error::at(self.pos(), "expected a string in string list")),
            }
            if self.eat(&Token::Comma) {
                continue;
            }
            if self.eat(&Token::RightBracket) {
                return Ok(out);
            }
            return Err(Error::at(self.pos(), "expected ',' or ']' in string list"));
        }
    }
}

fn describe(t: &Token) -> &'static str {
    match t {
        Token::Identifier(_) => "an identifier",
        Token::Tag(_) => "a tag",
        Token::Number(_) => "a number",
        Token::String(_) => "a string",
        Token::Semicolon => "';'",
        Token::Comma => "','",
        Token::LeftBracket => "'['",
        Token::RightBracket => "']'",
        Token::LeftBrace => "'{'",
        Token::RightBrace => "'}'",
        Token::LeftParen => "'('",
        Token::RightParen => "')'",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure() {
        let cmds = parse(
            "require [\"fileinto\"];\nif anyof (header :is \"a\" \"b\", not exists \"c\") { fileinto \"x\"; } else { stop; }",
        )
        .unwrap();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[1].name, "if");
        assert_eq!(cmds[1].tests[0].name, "anyof");
        assert_eq!(cmds[1].tests[0].tests.len(), 2);
        assert_eq!(cmds[1].tests[0].tests[1].tests[0].name, "exists");
        assert_eq!(
            cmds[1].block.as_ref().unwrap()[0].args,
            vec![Arg::String("x".into(), Pos { line: 2, col: 58 })]
        );
        assert_eq!(cmds[2].name, "else");
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("keep;\n  stop }").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 8 });
        assert!(parse("if true { keep;").is_err());
        assert!(parse("}").is_err());
        assert!(parse("x [\"a\" \"b\"];").is_err());
        assert!(parse("if allof (true, ) { }").is_err());
        let deep = format!("{}{}", "if true {".repeat(40), "}".repeat(40));
        assert!(parse(&deep).unwrap_err().message.contains("nesting"));
    }
}
