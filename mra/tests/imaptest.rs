//! Dovecot's compliance tester, imaptest, against the real mailroom-mra: its scripted tests
//! (every script whose capabilities we offer; any failed command fails this test), then its
//! stress modes with state tracking, one user each, at the same time, for 60 seconds (any
//! error it reports fails this test).
//!
//! imaptest is built from the pinned source by the harness's `build.sh` (HARNESS, default
//! `<repo>/../shared/harness`, else `/work/shared/harness`); it needs dovecot-dev, autoconf,
//! automake, libtool, build-essential and pkg-config.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Mra, PASSWORD, database};

/// How long each stress mode runs.
const STRESS_SECS: u32 = 60;

/// The stress modes (imaptest arguments) and the user each runs as.
const STRESS: &[(&str, &[&str])] = &[
    ("own_flags", &["own_flags", "expunge=5", "logout=1"]),
    ("own_msgs", &["own_msgs", "expunge=5", "logout=1"]),
    ("recent", &["clients=20"]),
];

/// The imaptest binary, built by the harness (reused once built).
fn imaptest() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    // Beside the checkout, as in the session's tree; else where this machine keeps it (CI
    // clones elsewhere).
    let harness = std::env::var_os("HARNESS").map(PathBuf::from).unwrap_or_else(|| {
        [repo.join("../shared/harness"), PathBuf::from("/work/shared/harness")]
            .into_iter()
            .find(|h| h.join("imaptest/build.sh").is_file())
            .unwrap_or_else(|| repo.join("../shared/harness"))
    });
    let build = harness.join("imaptest/build.sh");
    assert!(build.is_file(), "{} missing: set HARNESS to the shared harness", build.display());
    let out = Command::new("bash").arg(&build).output().expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{}",
        build.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(stdout.lines().last().expect("the binary's path").trim())
}

fn run(bin: &Path, port: u16, args: &[String]) -> Output {
    Command::new(bin)
        .env("LD_LIBRARY_PATH", "/usr/lib/dovecot")
        .args(["host=127.0.0.1".to_string(), format!("port={port}"), format!("pass={PASSWORD}")])
        .args(args)
        .output()
        .expect("imaptest runs")
}

/// An mbox of varied messages for the stress modes' APPENDs (CRLF, as imaptest wants).
fn mbox(path: &Path) {
    let mut text = String::new();
    for i in 0..30 {
        text.push_str(&format!(
            "From sender@example.org Mon Jan  1 00:00:00 2024\nFrom: Sender {i} <s{i}@example.org>\n\
             To: r@b.test\nSubject: message {i}\nDate: Mon, 1 Jan 2024 00:{:02}:00 +0000\n\
             Message-ID: <m{i}@example.org>\n",
            i % 60
        ));
        if i % 3 == 0 {
            text.push_str(
                "Mime-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\n\
                 Content-Type: text/plain\n\nplain\n--b\nContent-Type: text/html\n\n<p>html</p>\n--b--\n\n",
            );
        } else {
            text.push('\n');
            (0..i * 3).for_each(|l| text.push_str(&format!("line {l} of message {i}\n")));
            text.push('\n');
        }
    }
    std::fs::write(path, text.replace('\n', "\r\n")).unwrap();
}

#[tokio::test]
async fn imaptest_scripts_and_stress_modes_pass() {
    let bin = imaptest();
    let db = database().await;
    for (user, _) in STRESS {
        db.sql(&format!(
            "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
             ('{user}@b.test', '{{PLAIN}}{PASSWORD}', 'b.test/{user}/', 0, '{user}', 'b.test')"
        ))
        .await;
    }
    // imaptest gives a keyword an owner (the one client that may change it) when it first
    // sees it, at random; a client that set it before that, while no client owned it, may not
    // be the owner, and the owner, whose view came from a SELECT just before that STORE, then
    // reports its keyword "changed" (seen here in the rawlogs: client 5 sets $Label5 while
    // client 6's SELECT is answered, client 6 becomes the owner, its next FETCH shows the
    // change). That is imaptest's race, not a lost change: known from the first FLAGS every
    // client sees, the keywords are owned before anyone sets them.
    let keywords: String = (1..=5).map(|i| format!("{} $Label{i}\n", i - 1)).collect();
    let own_flags = db.mail_root().join("b.test/own_flags");
    mailstore::Maildir::new(&own_flags).create().unwrap();
    std::fs::write(own_flags.join(mailstore::keywords::FILE), keywords).unwrap();
    // clients=20 logs one user in 20 times from one address.
    let mra = Mra::start(&db, "max_user_ip_connections = 50");
    let tmp = tempfile::tempdir().unwrap();
    let messages = tmp.path().join("messages.mbox");
    mbox(&messages);

    let stress: Vec<_> = STRESS
        .iter()
        .map(|(user, mode)| {
            let (bin, port) = (bin.clone(), mra.imap);
            let mut args = vec![
                format!("user={user}@b.test"),
                format!("mbox={}", messages.display()),
                format!("secs={STRESS_SECS}"),
            ];
            args.extend(mode.iter().map(|a| a.to_string()));
            std::thread::spawn(move || (mode.join(" "), run(&bin, port, &args)))
        })
        .collect();

    let tests = bin.parent().expect("src/").join("tests");
    let scripts = run(
        &bin,
        mra.imap,
        &["user=bob@b.test".into(), "user2=carol@b.test".into(), format!("test={}", tests.display())],
    );
    let log =
        String::from_utf8_lossy(&scripts.stdout).into_owned() + &String::from_utf8_lossy(&scripts.stderr);
    let summary: Vec<&str> =
        log.lines().filter(|l| l.starts_with("base protocol: ") || l.starts_with("extensions: ")).collect();
    eprintln!("imaptest scripts: {}", summary.join("; "));
    assert_eq!(summary.len(), 2, "no summary (did imaptest log in?):\n{log}");
    for line in &summary {
        assert!(line.contains(": 0/"), "failed commands:\n{log}\nmailroom-mra:\n{}", mra.log());
    }
    assert!(!log.contains("Error: "), "errors:\n{log}");
    assert!(scripts.status.success(), "imaptest exited with {}:\n{log}", scripts.status);

    for run in stress {
        let (mode, out) = run.join().unwrap();
        let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let errors: Vec<&str> =
            log.lines().filter(|l| l.starts_with("Error: ") || l.starts_with("Panic: ")).collect();
        eprintln!("imaptest {mode}: {} errors; totals:\n{}", errors.len(), tail(&log));
        assert!(errors.is_empty(), "imaptest {mode}:\n{}", errors.join("\n"));
        assert!(out.status.success(), "imaptest {mode} exited with {}:\n{log}", out.status);
        assert!(log.contains("Totals:"), "imaptest {mode} did not finish:\n{log}");
    }
}

/// The last lines that say something: the totals per command.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}
