//! Manual pages and shell completions, generated from what each binary already holds: its clap
//! definition (options, subcommands) and the man-page comment that opens its `main.rs`
//! (NAME, SYNOPSIS, DESCRIPTION, ... as DESIGN §9 asks), so the manual cannot drift from the
//! program. Every binary makes one call first thing in `main`:
//!
//! ```text
//! daemon::manual::exit_if_asked::<Cli>(include_str!("main.rs"));
//! ```
//!
//! which does nothing unless `MAILROOM_GENERATE` is set; then it prints what was asked and
//! exits. `dist/man.sh` runs each binary so:
//!
//! - `MAILROOM_GENERATE=man`: the binary's page for section 8, in roff;
//! - `MAILROOM_GENERATE=config-man`: mailroom.toml(5), from the config model (any binary);
//! - `MAILROOM_GENERATE=bash` (`zsh`, `fish`, `elvish`, `powershell`): a completion script.
//!
//! An environment variable rather than a hidden flag, because it must work before argument
//! parsing: `mailroomctl` requires a subcommand and answers to the names `sendmail` and `mailq`.

mod config;
mod doc;

use std::io::{self, Write};

use clap::CommandFactory;
use roff::{Roff, bold, roman};

/// The variable that asks a binary for its manual or completions instead of running.
pub const ENV: &str = "MAILROOM_GENERATE";

/// What `MAILROOM_GENERATE` may ask for, for error messages.
const CHOICES: &str = "man, config-man, bash, zsh, fish, elvish, powershell";

/// If `MAILROOM_GENERATE` is set, print what it names for the binary whose clap definition is
/// `C` and whose `main.rs` is `main_source`, and exit: 0, or 2 for an unknown value.
pub fn exit_if_asked<C: CommandFactory>(main_source: &str) {
    let Some(what) = std::env::var_os(ENV) else { return };
    let what = what.to_string_lossy();
    let mut out = io::stdout().lock();
    let code = match generate(C::command(), main_source, &what, &mut out).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{ENV}={what}: {e}");
            2
        }
    };
    std::process::exit(code);
}

/// Write what `what` names (see the module documentation) for `cmd` to `out`.
pub fn generate(
    mut cmd: clap::Command,
    main_source: &str,
    what: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    match what {
        "man" => out.write_all(page(cmd, main_source)?.as_bytes()),
        "config-man" => out.write_all(config::page(cmd.get_version().unwrap_or_default()).as_bytes()),
        shell => {
            let shell: clap_complete::Shell = shell.parse().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("unknown; one of {CHOICES}"))
            })?;
            let name = cmd.get_name().to_string();
            clap_complete::generate(shell, &mut cmd, name, out);
            Ok(())
        }
    }
}

/// The section-8 page: the doc comment's sections, with OPTIONS (and COMMANDS, for a binary
/// with subcommands) from clap after DESCRIPTION, where man-pages(7) puts them, and after the
/// CONFIGURATION text every key of the section it names first (`[mta] in mailroom.toml`), from
/// the configuration model. A CONFIGURATION that names no known section is an error.
pub fn page(cmd: clap::Command, main_source: &str) -> io::Result<String> {
    let cmd = cmd.disable_help_subcommand(true);
    let mut out = title(&cmd.get_name().to_uppercase(), "8", cmd.get_version(), "System Manager's Manual");
    let sections = doc::sections(main_source);
    let anchor = ["DESCRIPTION", "SYNOPSIS", "NAME"]
        .iter()
        .find_map(|title| sections.iter().position(|s| s.title == *title));
    if anchor.is_none() {
        out.push_str(&options(&cmd));
        out.push_str(&commands(&cmd));
    }
    for (i, section) in sections.iter().enumerate() {
        let mut roff = Roff::new();
        doc::render(section, &mut roff);
        if section.title == "CONFIGURATION" {
            let text = section.blocks.first().map(doc::Block::text).unwrap_or_default();
            let Some(heading) = config::named_in(&text) else {
                let e = format!("CONFIGURATION names no section of mailroom.toml: {text:?}");
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            };
            config::keys(&mut roff, &config::defaults(), heading);
        }
        out.push_str(&roff.to_roff());
        if anchor == Some(i) {
            out.push_str(&options(&cmd));
            out.push_str(&commands(&cmd));
        }
    }
    Ok(out)
}

/// The preamble and `.TH` line. Written by hand: roff's `control` drops an empty argument (the
/// date, which we leave out so that builds are reproducible), shifting the others.
pub(crate) fn title(title: &str, section: &str, version: Option<&str>, manual: &str) -> String {
    let preamble = Roff::new().render();
    let version = version.unwrap_or_default();
    format!("{preamble}.TH \"{title}\" \"{section}\" \"\" \"mailroom {version}\" \"{manual}\"\n")
}

/// clap_mangen's OPTIONS section for `cmd`, without the preamble roff puts in front of every
/// rendering (the page has it once, at the top).
fn options(cmd: &clap::Command) -> String {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render_options_section(&mut buf).expect("writing to a Vec");
    let text = String::from_utf8(buf).expect("roff output of UTF-8 input is UTF-8");
    text.lines()
        .filter(|l| !l.starts_with(".ie \\n(.g .ds Aq") && !l.starts_with(".el .ds Aq"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// COMMANDS: every subcommand down to the leaves, each with its usage, its one-line help and
/// its options, so that one page documents the whole tool.
fn commands(cmd: &clap::Command) -> String {
    let subs: Vec<&clap::Command> = visible_subcommands(cmd).collect();
    if subs.is_empty() {
        return String::new();
    }
    let mut out = String::from(".SH COMMANDS\n");
    for sub in subs {
        command(cmd.get_name(), sub, &mut out);
    }
    out
}

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// One subcommand: a leaf is an entry; a group (`user add|del|...`) recurses into its members.
fn command(prefix: &str, sub: &clap::Command, out: &mut String) {
    let path = format!("{prefix} {}", sub.get_name());
    let children: Vec<&clap::Command> = visible_subcommands(sub).collect();
    if !children.is_empty() {
        for child in children {
            command(&path, child, out);
        }
        return;
    }
    // Without the -h of every command: one mention, in OPTIONS, is enough.
    let mut sub = sub.clone().disable_help_flag(true);
    sub.build();
    let mut roff = Roff::new();
    roff.control("TP", []);
    let mut usage = vec![bold(path.as_str())];
    for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
        usage.push(roman(format!(" {}", arg_usage(arg))));
    }
    roff.text(usage);
    if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
        roff.text([roman(about.to_string())]);
    }
    out.push_str(&roff.to_roff());
    let opts = options(&sub);
    if opts.contains(".TP") {
        out.push_str(".RS\n");
        // The options of one command are a list inside its entry, not sections of their own.
        for line in opts.lines().filter(|l| !l.starts_with(".SH")) {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(".RE\n");
    }
}

/// `ADDRESS`, `[--quota BYTES]`, `[-t]`, `[ARGS]...` as in a usage line.
fn arg_usage(arg: &clap::Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
    let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let flag = match (arg.get_long(), arg.get_short()) {
        (Some(l), _) => Some(format!("--{l}")),
        (None, Some(s)) => Some(format!("-{s}")),
        (None, None) => None,
    };
    let text = match flag {
        Some(f) if takes_value => format!("{f} {value}"),
        Some(f) => f,
        None if many => format!("{value}..."),
        None => value,
    };
    if arg.is_required_set() { text } else { format!("[{text}]") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::config::Section;
    use clap::{Parser, Subcommand};

    /// Demo tool.
    #[derive(Parser)]
    #[command(name = "demo", version = "1.2.3", about)]
    struct Cli {
        #[command(flatten)]
        common: crate::cli::CommonArgs,
        #[command(subcommand)]
        command: Option<Cmd>,
    }

    #[derive(Subcommand)]
    enum Cmd {
        /// Users
        #[command(subcommand)]
        User(UserCmd),
    }

    #[derive(Subcommand)]
    enum UserCmd {
        /// Add a mailbox
        Add {
            /// Its address
            address: String,
            /// Quota in bytes
            #[arg(long, value_name = "BYTES")]
            quota: Option<u64>,
        },
    }

    const MAIN: &str = "//! NAME\n//!     demo - shows things\n//!\n//! SYNOPSIS\n//!     demo [--config \
                        FILE]\n//!\n//! DESCRIPTION\n//!     It demonstrates.\n//!\n//! SEE ALSO\n//!     \
                        other(8)\n";

    #[test]
    fn page_has_the_comment_sections_and_clap_options_in_order() {
        let p = page(Cli::command(), MAIN).unwrap();
        assert!(p.starts_with(".ie \\n(.g .ds Aq"), "one preamble, first: {p}");
        assert_eq!(p.matches(".ds Aq").count(), 2, "{p}");
        assert!(p.contains(".TH \"DEMO\" \"8\" \"\" \"mailroom 1.2.3\" \"System Manager's Manual\""), "{p}");
        let at = |s: &str| p.find(s).unwrap_or_else(|| panic!("{s} missing: {p}"));
        assert!(at(".SH NAME") < at(".SH SYNOPSIS"));
        assert!(at(".SH DESCRIPTION") < at(".SH OPTIONS"));
        assert!(at(".SH OPTIONS") < at(".SH COMMANDS"));
        assert!(at(".SH COMMANDS") < at(".SH \"SEE ALSO\""));
        assert!(p.contains("demo \\- shows things"), "{p}");
        assert!(p.contains("\\-\\-config"), "{p}");
        assert!(p.contains("\\fBdemo user add\\fR ADDRESS [\\-\\-quota BYTES]"), "{p}");
        assert!(p.contains("Quota in bytes"), "{p}");
        assert_eq!(p.matches("Print help").count(), 1, "-h only in OPTIONS: {p}");
    }

    #[test]
    fn configuration_lists_the_named_sections_keys_from_the_model() {
        let main = MAIN.replace(
            "//! SEE ALSO",
            "//! CONFIGURATION\n//!     [mda] in mailroom.toml, plus [database].\n//!\n//! SEE ALSO",
        );
        let p = page(Cli::command(), &main).unwrap();
        let at = |s: &str| p.find(s).unwrap_or_else(|| panic!("{s} missing: {p}"));
        assert!(at(".SH CONFIGURATION") < at("\\fBlmtp_socket\\fR = \"/run/mailroom/mda/lmtp\""));
        assert!(at("\\fBlog_level\\fR = \"info\"") < at(".SH \"SEE ALSO\""));
        for key in ::config::Mda::KEYS {
            assert!(p.contains(&format!("\\fB{}\\fR", key.name)), "{}: {p}", key.name);
        }
        let unknown =
            MAIN.replace("//! SEE ALSO", "//! CONFIGURATION\n//!     [mdx] keys.\n//!\n//! SEE ALSO");
        let e = page(Cli::command(), &unknown).unwrap_err();
        assert!(e.to_string().contains("names no section"), "{e}");
    }

    #[test]
    fn completions_and_unknown_requests() {
        let mut out = Vec::new();
        generate(Cli::command(), MAIN, "bash", &mut out).unwrap();
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains("_demo()") && script.contains("--config"), "{script}");
        let e = generate(Cli::command(), MAIN, "troff", &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("one of man"), "{e}");
        let mut out = Vec::new();
        generate(Cli::command(), MAIN, "config-man", &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains(".TH \"MAILROOM.TOML\" \"5\""));
    }
}
