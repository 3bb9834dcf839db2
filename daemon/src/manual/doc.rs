//! The man-page doc comment at the top of a `main.rs` (DESIGN §9), read back from the source
//! text: `//! NAME` at column 0 starts a section, its body is indented four spaces. A paragraph
//! whose lines line up in columns (two spaces inside a line, or an indented continuation) is
//! a table or a list and stays as written; any other paragraph is prose that roff refills.

use roff::{Inline, Roff, bold, roman};

/// One section of the manual: `NAME`, `SYNOPSIS`, `DESCRIPTION`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading as written (`EXIT STATUS`).
    pub title: String,
    /// Its paragraphs, in order.
    pub blocks: Vec<Block>,
}

/// A paragraph of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Running text, to be filled to the reader's width (the lines as written).
    Prose(Vec<String>),
    /// Lines whose layout matters (tables, command lists, configuration keys).
    Verbatim(Vec<String>),
}

impl Block {
    /// The paragraph's lines joined with spaces.
    pub fn text(&self) -> String {
        match self {
            Block::Prose(lines) | Block::Verbatim(lines) => lines.join(" "),
        }
    }
}

/// The sections of the `//!` comment that opens `source` (a whole `main.rs`). Text before the
/// first heading, and everything after the comment, is ignored.
pub fn sections(source: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut paragraph: Vec<String> = Vec::new();
    let flush = |out: &mut Vec<Section>, paragraph: &mut Vec<String>| {
        if let Some(section) = out.last_mut()
            && !paragraph.is_empty()
        {
            section.blocks.push(block(std::mem::take(paragraph)));
        }
        paragraph.clear();
    };
    for line in source.lines() {
        let Some(text) = line.strip_prefix("//!") else { break };
        let text = text.strip_prefix(' ').unwrap_or(text).trim_end();
        if is_heading(text) {
            flush(&mut out, &mut paragraph);
            out.push(Section { title: text.to_string(), blocks: Vec::new() });
        } else if text.is_empty() {
            flush(&mut out, &mut paragraph);
        } else {
            paragraph.push(text.strip_prefix("    ").unwrap_or(text).to_string());
        }
    }
    flush(&mut out, &mut paragraph);
    out
}

/// `NAME`, `SEE ALSO`: capitals and spaces at column 0.
fn is_heading(text: &str) -> bool {
    !text.starts_with(' ')
        && text.chars().any(|c| c.is_ascii_uppercase())
        && text.chars().all(|c| c.is_ascii_uppercase() || c == ' ')
}

/// Prose, unless the lines are laid out in columns.
fn block(lines: Vec<String>) -> Block {
    let laid_out = lines.iter().any(|l| l.starts_with(' ') || l.trim_start().contains("  "));
    if laid_out { Block::Verbatim(lines) } else { Block::Prose(lines) }
}

/// The section's text as roff: prose paragraphs filled, the others in no-fill mode. SYNOPSIS
/// keeps each usage on its own line whatever it looks like.
pub fn render(section: &Section, roff: &mut Roff) {
    roff.control("SH", [section.title.as_str()]);
    for (i, b) in section.blocks.iter().enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        match b {
            Block::Prose(lines) if section.title == "SYNOPSIS" => verbatim(roff, lines),
            Block::Prose(lines) => {
                roff.text(inlines(&lines.join(" ")));
            }
            Block::Verbatim(lines) => verbatim(roff, lines),
        }
    }
}

fn verbatim(roff: &mut Roff, lines: &[String]) {
    roff.control("nf", []);
    for l in lines {
        roff.text(inlines(l));
    }
    roff.control("fi", []);
}

/// Text with `code` spans in bold (the backticks dropped).
pub fn inlines(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    for (i, part) in text.split('`').enumerate() {
        if part.is_empty() {
            continue;
        }
        // An unmatched backtick leaves the rest plain rather than bold to the end.
        let odd = i % 2 == 1 && text.split('`').count() > i + 1;
        out.push(if odd { bold(part) } else { roman(part) });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "//! NAME\n//!     demo - shows things\n//!\n//! SYNOPSIS\n\
        //!     demo [--x]\n//!     demo run FILE\n//!\n//! DESCRIPTION\n//!     One `thing`\n\
        //!     and another.\n//!\n//!     key = 1        what it means\n//!     other = 2      \
        more\n//!                    continued\n//!\n//! EXIT STATUS\n//!     0 ok\n\nuse x;\n\
        //! NOT A HEADING\n";

    #[test]
    fn headings_paragraphs_and_layout() {
        let s = sections(SAMPLE);
        let titles: Vec<&str> = s.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS"]);
        let prose = |l: &[&str]| Block::Prose(l.iter().map(|s| s.to_string()).collect());
        assert_eq!(s[0].blocks, [prose(&["demo - shows things"])]);
        assert_eq!(s[1].blocks, [prose(&["demo [--x]", "demo run FILE"])]);
        assert_eq!(s[2].blocks[0], prose(&["One `thing`", "and another."]));
        let Block::Verbatim(lines) = &s[2].blocks[1] else { panic!("{:?}", s[2].blocks) };
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], "               continued");
    }

    #[test]
    fn synopsis_lines_stay_apart_and_text_is_escaped() {
        let mut roff = Roff::new();
        for s in sections(SAMPLE) {
            render(&s, &mut roff);
        }
        let out = roff.to_roff();
        assert!(out.contains(".SH SYNOPSIS\n.nf\ndemo [\\-\\-x]\ndemo run FILE\n.fi\n"), "{out}");
        assert!(out.contains("One \\fBthing\\fR and another."), "{out}");
        assert!(out.contains(".SH \"EXIT STATUS\""), "{out}");
        assert!(!out.contains("NOT A HEADING"));
    }

    #[test]
    fn backticks() {
        assert_eq!(inlines("a `b` c"), [roman("a "), bold("b"), roman(" c")]);
        assert_eq!(inlines("`b`"), [bold("b")]);
        assert_eq!(inlines("don`t stop"), [roman("don"), roman("t stop")]);
    }
}
