//! The manual pages and completions the Debian package ships, as `dist/man.sh` makes them: each
//! installed binary run with `MAILROOM_GENERATE`. Every page must render with groff without a
//! warning, carry the sections of its main.rs comment and every option `--help` lists; the
//! bash completions must load and register the command.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Each binary and the crate whose `src/main.rs` opens with its manual.
const BINARIES: &[(&str, &str)] = &[
    ("mailroom-saslauthd", "saslauthd"),
    ("mailroom-mta", "mta"),
    ("mailroom-mda", "mda"),
    ("mailroom-mra", "mra"),
    ("mailroom-web", "web"),
    ("mailroomctl", "ctl"),
];

fn generate(exe: &Path, what: &str) -> String {
    let out = Command::new(exe).env("MAILROOM_GENERATE", what).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{} {what}: {}", exe.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The page rendered for a terminal by groff (-ww: every warning); panics on any warning.
fn render(page: &str, what: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("page");
    std::fs::write(&file, page).unwrap();
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=100n"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("groff: {e} (apt-get install groff-base)"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{what}: groff says: {stderr}");
    // Bold and underline as overstrikes: compare the plain letters.
    let text = String::from_utf8(out.stdout).unwrap();
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{8}') {
            chars.next();
            continue;
        }
        plain.push(c);
    }
    plain
}

/// The section headings of a main.rs comment, as `daemon::manual` reads them.
fn headings(main_rs: &Path) -> Vec<String> {
    std::fs::read_to_string(main_rs)
        .unwrap()
        .lines()
        .map_while(|l| l.strip_prefix("//! ").or_else(|| l.strip_prefix("//!")))
        .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_uppercase() || c == ' '))
        .map(str::to_string)
        .collect()
}

/// `-x` and `--long` options of a `--help` text (the lines that describe options).
fn options(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in help.lines().map(str::trim_start).filter(|l| l.starts_with('-')) {
        for word in line.split([' ', ',']).take_while(|w| w.starts_with('-') || w.is_empty()) {
            if word.len() > 1 {
                out.push(word.to_string());
            }
        }
    }
    out
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[test]
fn every_binary_has_a_page_with_its_sections_and_options() {
    for (bin, krate) in BINARIES {
        let exe = testsupport::bin::path(bin);
        let page = generate(&exe, "man");
        assert!(page.contains(&format!(".TH \"{}\" \"8\"", bin.to_uppercase())), "{bin}: {page}");
        let text = render(&page, bin);
        let want = headings(&workspace().join(krate).join("src/main.rs"));
        assert!(want.len() >= 6, "{bin}: main.rs has only {want:?}");
        for h in want.iter().map(String::as_str).chain(["OPTIONS"]) {
            assert!(text.lines().any(|l| l == h), "{bin}: no section {h} in\n{text}");
        }
        assert!(text.contains(&format!("{bin} - ")), "{bin}: NAME line missing:\n{text}");
        let help = Command::new(&exe).arg("--help").output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        let opts = options(&help);
        assert!(opts.contains(&"--help".to_string()), "{bin}: no options parsed from\n{help}");
        for o in opts {
            assert!(page.contains(&o.replace('-', "\\-")), "{bin}: option {o} not in the page");
        }
    }
}

/// A daemon's CONFIGURATION lists every key of its section with its default, from the model.
#[test]
fn each_daemon_page_lists_every_key_of_its_section() {
    use config::Section;
    let sections: [(&str, &[config::Key]); 4] = [
        ("mailroom-saslauthd", config::Saslauthd::KEYS),
        ("mailroom-mta", config::Mta::KEYS),
        ("mailroom-mda", config::Mda::KEYS),
        ("mailroom-mra", config::Mra::KEYS),
    ];
    for (bin, keys) in sections {
        let text = render(&generate(&testsupport::bin::path(bin), "man"), bin);
        let configuration = text.split("\nCONFIGURATION\n").nth(1).unwrap_or_else(|| panic!("{bin}: {text}"));
        for key in keys {
            assert!(configuration.contains(key.name), "{bin}: {} missing:\n{configuration}", key.name);
        }
    }
    let mta = render(&generate(&testsupport::bin::path("mailroom-mta"), "man"), "mta");
    assert!(mta.contains("submit_socket_mode = \"0666\""), "{mta}");
}

#[test]
fn mailroomctl_documents_every_command() {
    let exe = testsupport::bin::path("mailroomctl");
    let text = render(&generate(&exe, "man"), "mailroomctl");
    let help = String::from_utf8(Command::new(&exe).arg("--help").output().unwrap().stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 8, "{help}");
    for c in commands {
        assert!(text.contains(&format!("mailroomctl {c}")), "command {c} not in COMMANDS:\n{text}");
    }
}

#[test]
fn mailroom_toml_5_renders_every_section() {
    let page = generate(&testsupport::bin::path("mailroomctl"), "config-man");
    let text = render(&page, "mailroom.toml(5)");
    for s in ["[database]", "[database.queries]", "[tls]", "[saslauthd]", "[mta]", "[mda]", "[mra]"] {
        assert!(text.lines().any(|l| l == s), "no section {s} in\n{text}");
    }
    assert!(text.contains("spool_dir = \"/var/spool/mailroom\""), "{text}");
}

#[test]
fn bash_completions_load_and_register() {
    for (bin, _) in BINARIES {
        let script = generate(&testsupport::bin::path(bin), "bash");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(bin);
        std::fs::write(&file, &script).unwrap();
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("set -e; source {}; complete -p {bin}", file.display()))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{bin}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!(" {bin}")), "{bin}: {stdout}");
    }
    for shell in ["zsh", "fish"] {
        let script = generate(&testsupport::bin::path("mailroom-mta"), shell);
        // zsh spells the option --config, fish `-l config`.
        assert!(script.contains("mailroom-mta") && script.contains("config"), "{shell}: {script}");
    }
}

#[test]
fn an_unknown_request_is_an_error() {
    let out = Command::new(testsupport::bin::path("mailroom-mda"))
        .env("MAILROOM_GENERATE", "pdf")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MAILROOM_GENERATE=pdf"));
}
