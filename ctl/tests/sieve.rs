//! `mailroomctl sieve check` and `sieve test`, run as the real binary on files.

use std::fs;
use std::process::{Command, Output};

fn ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailroomctl")).args(args).env_remove("MAILROOM_CONFIG").output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn check_reports_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.sieve");
    fs::write(&good, "require \"fileinto\";\nif header :contains \"subject\" \"x\" { fileinto \"X\"; }\n")
        .unwrap();
    let o = ctl(&["sieve", "check", good.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(text(&o).0, format!("{}: ok\n", good.display()));

    let bad = dir.path().join("bad.sieve");
    fs::write(&bad, "keep;\nif true {\n    fileinto \"X\";\n}\n").unwrap();
    let o = ctl(&["sieve", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let (out, err) = text(&o);
    assert!(out.is_empty());
    assert!(err.starts_with(&format!("{}:3:5: unknown command 'fileinto'", bad.display())), "{err}");
}

#[test]
fn test_prints_the_actions() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("main.sieve");
    fs::write(
        &script,
        "require [\"fileinto\", \"envelope\", \"imap4flags\", \"include\", \"mailbox\", \"variables\"];\n\
         include \"lists\";\n\
         if envelope :is \"from\" \"alice@example.com\" { addflag \"\\\\Flagged\"; }\n\
         if mailboxexists \"Work\" { if header :matches \"subject\" \"[*]*\" { fileinto :create \"Work.${1}\"; } }\n",
    )
    .unwrap();
    fs::write(dir.path().join("lists.sieve"), "require \"copy\";\nredirect :copy \"archive@example.org\";\n")
        .unwrap();
    let msg = dir.path().join("msg.eml");
    fs::write(&msg, "From: alice@example.com\r\nTo: bob@example.net\r\nSubject: [proj] status\r\n\r\nhi\r\n")
        .unwrap();
    let args =
        ["sieve", "test", script.to_str().unwrap(), msg.to_str().unwrap(), "--from", "alice@example.com"];
    let o = ctl(&[&args[..], &["--to", "bob@example.net", "--mailbox", "Work"]].concat());
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(text(&o).0, "redirect archive@example.org copy\nstore Work.proj flags=\\Flagged create\n");
    // A failing run: the error, then the keep Pigeonhole falls back to; exit 1.
    fs::write(&script, "require \"reject\";\nreject \"no\";\nkeep;\n").unwrap();
    let o = ctl(&["sieve", "test", script.to_str().unwrap(), msg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o).0, "error: 3:1: reject/ereject action conflicts with other action\nimplicit keep\n");
}
