//! ManageSieve end to end on `mailroomctl up`: sieve-connect uploads and activates a script on
//! 127.0.0.1:2419 (STARTTLS, the certificate verified), a message submitted with swaks then
//! goes through mailroom-mta and LMTP to mailroom-mda, which files it as the script says, read
//! back with imaplib; `mailroomctl sieve` lists, shows, refuses a broken script with its line
//! and column, and deactivates, after which mail stays in INBOX again.

use std::process::Command;

use mailroom_e2e::{CLIENT_TIMEOUT, Up, exclusive, python, submit, text};
use testsupport::process::output_within;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

const SCRIPT: &str = "require [\"fileinto\", \"mailbox\"];\r\n\
if header :contains \"subject\" \"[sorted]\" {\r\n  fileinto :create \"Sorted\";\r\n}\r\n";

/// imaplib over IMAPS: wait until folder argv 5 holds a message whose Subject contains argv 4;
/// print the names of the folders holding it.
const IMAP_FIND: &str = r#"
import imaplib, ssl, sys, time
cafile, user, password, subject, folder = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
imap = imaplib.IMAP4_SSL("127.0.0.1", 2993, ssl_context=ctx)
imap.login(user, password)
deadline = time.monotonic() + 60
while True:
    typ, _ = imap.select(folder)
    if typ == "OK":
        typ, data = imap.search(None, "SUBJECT", '"%s"' % subject)
        if data[0].split():
            break
    if time.monotonic() > deadline:
        sys.exit("no message with subject %r in %s's %s" % (subject, user, folder))
    time.sleep(0.1)
found = []
for f in ["INBOX", "Sorted"]:
    if imap.select(f)[0] == "OK" and imap.search(None, "SUBJECT", '"%s"' % subject)[1][0].split():
        found.append(f)
print(" ".join(found))
imap.logout()
"#;

#[test]
fn sieve_connect_script_sorts_the_next_delivery() {
    let _one = exclusive();
    let up = Up::start();
    let out = up.output();
    assert!(out.contains("ManageSieve 127.0.0.1:2419 (STARTTLS)"), "{out}");
    let (alice, bob) = (up.password(ALICE), up.password(BOB));
    let cert = up.cert().display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("sort.sieve");
    std::fs::write(&file, SCRIPT).unwrap();
    let connect = |args: &[&str]| {
        let mut c = Command::new("sieve-connect");
        c.args(["--server", "127.0.0.1", "--port", "2419", "--user", BOB, "--passwordfd", "0"]);
        c.args(["--tlscafile", &cert]).args(args);
        let out = output_within(&mut c, format!("{bob}\n").as_bytes(), CLIENT_TIMEOUT);
        assert!(out.status.success(), "sieve-connect {args:?}: {}\n{}", text(&out), up.output());
        text(&out)
    };
    let local = file.to_str().unwrap();
    connect(&["--upload", "--localsieve", local, "--remotesieve", "sort"]);
    connect(&["--activate", "--remotesieve", "sort"]);

    let sent = submit(ALICE, &alice, BOB, "[sorted] e2e", "Filed by Sieve.");
    assert!(sent.status.success(), "swaks: {}", text(&sent));
    let found = python(IMAP_FIND, &[&cert, BOB, &bob, "[sorted] e2e", "Sorted"]);
    assert!(found.status.success(), "imaplib: {}\n{}", text(&found), up.output());
    assert_eq!(String::from_utf8_lossy(&found.stdout).trim(), "Sorted", "{}", up.output());

    // The admin's view of the same store.
    let list = up.ctl(&["sieve", "list", BOB], "");
    assert!(list.status.success(), "{}", text(&list));
    assert_eq!(String::from_utf8_lossy(&list.stdout), "sort (active)\n");
    let get = up.ctl(&["sieve", "get", BOB, "sort"], "");
    assert_eq!(String::from_utf8_lossy(&get.stdout), SCRIPT);
    let bad = up.ctl(&["sieve", "put", BOB, "broken"], "keep;\nfrobnicate;\n");
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("<stdin>:2:1: unknown command 'frobnicate'"), "{}", text(&bad));
    let put = up.ctl(&["sieve", "put", BOB, "spare"], "keep;\n");
    assert!(put.status.success(), "{}", text(&put));
    let listed = connect(&["--list"]);
    assert!(listed.contains("spare") && !listed.contains("broken"), "{listed}");
    let off = up.ctl(&["sieve", "deactivate", BOB], "");
    assert!(off.status.success(), "{}", text(&off));

    let sent = submit(ALICE, &alice, BOB, "[sorted] again", "No script now.");
    assert!(sent.status.success(), "swaks: {}", text(&sent));
    let found = python(IMAP_FIND, &[&cert, BOB, &bob, "[sorted] again", "INBOX"]);
    assert!(found.status.success(), "imaplib: {}\n{}", text(&found), up.output());
    assert_eq!(String::from_utf8_lossy(&found.stdout).trim(), "INBOX");
}
