//! Sieve actions that leave the mailbox, on the whole stack as `mailroomctl up` runs it:
//! alice's Pigeonhole script redirects a copy to carol and answers with a vacation reply; both
//! go from mailroom-mda through mailroom-mta's submission socket and its queue back to local
//! mailboxes, read with imaplib. A second message from the same sender gets no second reply
//! within the vacation period, and a script's reject refuses in LMTP so the sender gets
//! mailroom-mta's bounce. An out-of-office reply set on mailroom-web's page answers too.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use mailroom_e2e::{IMAP_FETCH, Up, exclusive, python, run, submit, text};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

const SCRIPT: &str = r#"require ["vacation", "copy", "reject"];
if header :contains "subject" "refuse me" {
    reject "Alice does not take this.";
    stop;
}
redirect :copy "carol@example.test";
vacation :days 1 :subject "Away until Monday" "Alice is away; she reads mail on Monday.";
"#;

/// Installs `script` as the active script of the user whose home is `home`, as Pigeonhole's
/// managesieve leaves it.
fn install(home: &Path, script: &str) {
    fs::create_dir_all(home.join("sieve")).unwrap();
    fs::write(home.join("sieve/main.sieve"), script).unwrap();
    symlink("sieve/main.sieve", home.join(".dovecot.sieve")).unwrap();
}

/// The message with `subject` in `user`'s INBOX, over IMAPS.
fn fetch(up: &Up, user: &str, password: &str, subject: &str) -> String {
    let out = python(IMAP_FETCH, &[&up.cert().display().to_string(), user, password, subject]);
    assert!(out.status.success(), "imaplib: {}\n{}", text(&out), up.output());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for_log(up: &Up, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while up.output().matches(needle).count() < count {
        assert!(Instant::now() < deadline, "no {count}x {needle:?} in:\n{}", up.output());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn redirect_vacation_and_reject_go_through_the_mta() {
    let _one = exclusive();
    let mut up = Up::start();
    let carol = up.ctl(&["user", "add", "carol@example.test", "--password-stdin"], "carol-secret-1\n");
    assert!(carol.status.success(), "user add: {}", text(&carol));
    let (alice, bob) = (up.password(ALICE), up.password(BOB));
    install(&up.dir.join("vmail/example.test/alice"), SCRIPT);

    let sent = submit(BOB, &bob, ALICE, "Lunch on Friday?", "Shall we have lunch on Friday?");
    assert!(sent.status.success(), "swaks: {}", text(&sent));
    // Kept by alice (:copy), forwarded to carol from bob's envelope, answered to bob.
    let kept = fetch(&up, ALICE, &alice, "Lunch on Friday?");
    assert!(kept.contains("Shall we have lunch"), "{kept}");
    let copy = fetch(&up, "carol@example.test", "carol-secret-1", "Lunch on Friday?");
    assert!(copy.contains("Return-Path: <bob@example.test>"), "the envelope sender is kept:\n{copy}");
    assert!(copy.contains("Delivered-To: alice@example.test"), "the loop guard's line:\n{copy}");
    let reply = fetch(&up, BOB, &bob, "Away until Monday");
    assert!(reply.contains("Return-Path: <>"), "vacation replies come from the null sender:\n{reply}");
    assert!(reply.contains("Auto-Submitted: auto-replied"), "{reply}");
    assert!(
        reply.contains("From: alice@example.test") || reply.contains("From: <alice@example.test>"),
        "{reply}"
    );
    assert!(reply.contains("In-Reply-To: <"), "{reply}");
    assert!(reply.contains("Alice is away; she reads mail on Monday."), "{reply}");

    // The same sender again within :days: delivered and forwarded, not answered again.
    let sent = submit(BOB, &bob, ALICE, "Or Saturday?", "Saturday works too.");
    assert!(sent.status.success(), "swaks: {}", text(&sent));
    fetch(&up, "carol@example.test", "carol-secret-1", "Or Saturday?");
    wait_for_log(&up, "vacation: replied to this sender within the period", 1);
    let vmail = up.dir.join("vmail/example.test/bob/Maildir");
    let replies = ["new", "cur"]
        .iter()
        .flat_map(|d| fs::read_dir(vmail.join(d)).into_iter().flatten())
        .filter(|e| {
            fs::read_to_string(e.as_ref().unwrap().path())
                .unwrap_or_default()
                .contains("Subject: Away until Monday")
        })
        .count();
    let listing = run("find", &[&up.dir.join("vmail").display().to_string(), "-type", "f"]);
    assert_eq!(replies, 1, "one vacation reply per period:\n{}", text(&listing));

    // reject: refused in LMTP with the script's reason; the MTA bounces it to bob.
    let sent = submit(BOB, &bob, ALICE, "refuse me", "Please refuse.");
    assert!(sent.status.success(), "swaks: {}", text(&sent));
    let bounce = fetch(&up, BOB, &bob, "Undelivered Mail Returned to Sender");
    assert!(bounce.contains("Alice does not take this."), "{bounce}");
    assert!(bounce.contains("5.7.1"), "{bounce}");

    let status = up.terminate();
    assert!(status.success(), "up exited {status}:\n{}", up.output());
}

/// A user logs in to mailroom-web (urllib over HTTPS, the stack's certificate verified, its
/// cookies and form tokens kept as a browser keeps them) and sets an out-of-office reply.
const WEB_VACATION: &str = r#"
import http.cookiejar, re, ssl, sys, urllib.parse, urllib.request
cafile, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
base = "https://127.0.0.1:2443"
ctx = ssl.create_default_context(cafile=cafile)
web = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx),
                                  urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
def get(path):
    return web.open(base + path).read().decode()
def post(path, fields):
    r = web.open(base + path, urllib.parse.urlencode(fields).encode())
    return r.geturl(), r.read().decode()
def token(page):
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
url, page = post("/login", {"csrf": token(get("/login")), "username": user, "password": password})
if not url.endswith("/account"):
    sys.exit("login landed on %s:\n%s" % (url, page))
url, page = post("/account/vacation", {"csrf": token(get("/account/vacation")), "on": "1",
                 "subject": "On leave", "reason": "Alice is on leave until the 20th.", "days": "1"})
if "Your out-of-office reply was saved." not in page:
    sys.exit("vacation not saved (%s):\n%s" % (url, page))
print("saved")
"#;

#[test]
fn out_of_office_set_on_the_web_answers_through_the_mta() {
    let _one = exclusive();
    let mut up = Up::start();
    let (alice, bob) = (up.password(ALICE), up.password(BOB));
    let set = python(WEB_VACATION, &[&up.cert().display().to_string(), ALICE, &alice]);
    assert!(set.status.success(), "mailroom-web: {}\n{}", text(&set), up.output());
    let active = fs::read_link(up.dir.join("vmail/example.test/alice/.dovecot.sieve")).unwrap();
    assert_eq!(active, Path::new("sieve/mailroom-web.sieve"));

    let sent = submit(BOB, &bob, ALICE, "Meeting on Tuesday?", "Can we meet on Tuesday?");
    assert!(sent.status.success(), "swaks: {}", text(&sent));
    let kept = fetch(&up, ALICE, &alice, "Meeting on Tuesday?");
    assert!(kept.contains("Can we meet on Tuesday?"), "{kept}");
    let reply = fetch(&up, BOB, &bob, "On leave");
    assert!(reply.contains("Auto-Submitted: auto-replied"), "{reply}");
    assert!(reply.contains("Alice is on leave until the 20th."), "{reply}");

    let status = up.terminate();
    assert!(status.success(), "up exited {status}:\n{}", up.output());
}
