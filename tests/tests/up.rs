//! The README's run command as a new user runs it: `mailroomctl up`, a message submitted with
//! swaks (AUTH PLAIN after STARTTLS) read back with Python's imaplib (IMAPS) and poplib
//! (STLS), a user added with `mailroomctl --config` receiving mail on the running stack, and
//! SIGTERM stopping every daemon.

use mailroom_e2e::{
    DAEMONS, IMAP_FETCH, POP3_FETCH, Up, exclusive, processes, processes_using, python, submit, text,
};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const CAROL: &str = "carol@example.test";

/// The message `to` finds over IMAP and over POP3, with `subject` and `body`.
fn read_back(up: &Up, to: &str, password: &str, subject: &str, body: &str) {
    let cert = up.cert().display().to_string();
    let imap = python(IMAP_FETCH, &[&cert, to, password, subject]);
    assert!(imap.status.success(), "imaplib: {}\n{}", text(&imap), up.output());
    let msg = String::from_utf8_lossy(&imap.stdout);
    assert!(msg.contains(&format!("Subject: {subject}")) && msg.contains(body), "imaplib got:\n{msg}");
    let pop = python(POP3_FETCH, &[&cert, to, password, subject]);
    assert!(pop.status.success(), "poplib: {}\n{}", text(&pop), up.output());
    assert!(String::from_utf8_lossy(&pop.stdout).contains(body), "poplib got:\n{}", text(&pop));
}

#[test]
fn a_new_user_sends_and_reads_mail_then_stops_it() {
    let _one = exclusive();
    let mut up = Up::start();
    let out = up.output();
    assert!(out.contains(&format!("created {}", up.config().display())), "{out}");
    assert!(out.contains("swaks --server 127.0.0.1 --port 2587 --tls"), "{out}");
    let (alice, bob) = (up.password(ALICE), up.password(BOB));
    // Password hashes and the demo passwords are for our eyes only.
    let dir = up.config().parent().unwrap().to_path_buf();
    for secret in ["mailroom.db", "demo-users.txt"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join(secret)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0, "{secret} is {mode:o}");
    }

    let sent = submit(ALICE, &alice, BOB, "e2e hello", "Hello Bob, from the end-to-end test.");
    assert!(sent.status.success() && text(&sent).contains("250 2.0.0 Ok: queued"), "swaks: {}", text(&sent));
    read_back(&up, BOB, &bob, "e2e hello", "Hello Bob, from the end-to-end test.");

    // An admin adds a user to the running stack; saslauthd, the MTA and the MRA see it at once.
    let added = up.ctl(&["user", "add", CAROL, "--password-stdin"], "carol-secret-1\n");
    assert!(added.status.success(), "user add: {}", text(&added));
    assert!(String::from_utf8_lossy(&added.stdout).contains("user carol@example.test added"));
    let sent = submit(ALICE, &alice, CAROL, "e2e welcome", "Welcome aboard, Carol.");
    assert!(sent.status.success(), "swaks to carol: {}", text(&sent));
    read_back(&up, CAROL, "carol-secret-1", "e2e welcome", "Welcome aboard, Carol.");

    // The stack is up's children, one per daemon, each on this stack's config.
    let config = up.config();
    let children: Vec<_> = processes().into_iter().filter(|p| p.ppid == up.pid()).collect();
    let mut names: Vec<String> = children
        .iter()
        .map(|p| std::path::Path::new(&p.argv[0]).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = DAEMONS.iter().map(|d| d.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected, "{children:?}");
    assert_eq!(processes_using(&config).len(), DAEMONS.len());

    // mailroom-web answers with the demo superadmin's login, printed and kept with the users'.
    let admin = up.password("admin@example.test");
    assert!(out.contains(&format!("login admin@example.test password {admin}")), "{out}");
    assert!(out.contains("Web admin:    https://127.0.0.1:2443/"), "{out}");
    let page = std::process::Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:2443/login"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&page.stdout), "200");

    let status = up.terminate();
    assert!(status.success(), "up exited {status}:\n{}", up.output());
    let out = up.output();
    assert!(out.contains("mailroomctl up: SIGTERM: stopped"), "{out}");
    for d in ["web", "mta", "mra", "mda", "saslauthd"] {
        assert!(out.contains(&format!("{d:<9} | ")) && out.contains("SIGTERM: shutting down"), "{d}:\n{out}");
    }
    let left: Vec<_> =
        children.iter().filter_map(|c| processes().into_iter().find(|p| p.pid == c.pid)).collect();
    assert!(left.is_empty(), "still running after up stopped: {left:?}");
    assert!(processes_using(&config).is_empty(), "{:?}", processes_using(&config));
}

#[test]
fn a_second_run_reuses_the_directory_and_passwords() {
    let _one = exclusive();
    let mut up = Up::start();
    let (config, alice) = (up.config(), up.password(ALICE));
    assert!(up.terminate().success());
    let again = Up::restart(up);
    assert!(again.output().contains(&format!("using {}", config.display())), "{}", again.output());
    assert_eq!(again.password(ALICE), alice);
    let sent = submit(ALICE, &alice, BOB, "e2e again", "Still here.");
    assert!(sent.status.success(), "swaks after restart: {}", text(&sent));
}
