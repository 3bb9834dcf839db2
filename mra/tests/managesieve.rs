//! mailroom-mra's ManageSieve server as a real binary, driven by real clients: Debian's
//! sieve-connect (STARTTLS, AUTHENTICATE PLAIN) uploading and activating a script, Python's
//! `managesieve` from PyPI (installed when missing) for LISTSCRIPTS, GETSCRIPT, SETACTIVE,
//! DELETESCRIPT and HAVESPACE with their error codes, and a raw socket for what no library
//! sends (RENAMESCRIPT, CHECKSCRIPT, oversized literals, the per-user limits, bad syntax).
//! The files on disk are Pigeonhole's: `sieve/NAME.sieve` and the `.dovecot.sieve` symlink.

mod common;

use std::fs;
use std::process::Command;

use common::{Client, Mra, PASSWORD, REPLY_TIMEOUT, database, maildir, output_within, python, require};

/// The home of `user`: the parent of `<home>/Maildir`, where Pigeonhole keeps scripts.
fn home(db: &testsupport::TestDb, user: &str) -> std::path::PathBuf {
    maildir(db, user).parent().unwrap().to_path_buf()
}

/// Reads one response: lines up to the one starting with OK, NO or BYE (literals included).
fn response(c: &mut Client) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = c.line();
        let done = l.starts_with("OK") || l.starts_with("NO") || l.starts_with("BYE") || l == "<closed>";
        lines.push(l);
        if done {
            return lines;
        }
    }
}

/// A raw connection past the greeting, logged in as bob with AUTHENTICATE PLAIN (loopback:
/// no TLS needed).
fn raw_login(port: u16) -> Client {
    let (mut c, first) = Client::connect(port);
    assert_eq!(first, "\"IMPLEMENTATION\" \"mailroom\"");
    let greeting = response(&mut c);
    assert!(greeting.last().unwrap().starts_with("OK"), "{greeting:?}");
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0bob@b.test\0{PASSWORD}"));
    c.send(format!("AUTHENTICATE \"PLAIN\" \"{plain}\"\r\n").as_bytes());
    assert_eq!(response(&mut c), ["OK \"Logged in.\""]);
    c
}

fn cmd(c: &mut Client, bytes: &str) -> Vec<String> {
    c.send(bytes.as_bytes());
    response(c)
}

const SORT: &str = "require [\"fileinto\"];\r\nif header :contains \"subject\" \"sort me\" {\r\n  fileinto \"Sorted\";\r\n}\r\n";

#[tokio::test]
async fn sieve_connect_uploads_and_activates_over_starttls() {
    require("sieve-connect", &["--help"], "sieve-connect");
    let db = database().await;
    let mra = Mra::start(&db, "");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("sort.sieve");
    fs::write(&file, SORT).unwrap();
    let port = mra.managesieve.to_string();
    let connect = |args: &[&str]| {
        let mut c = Command::new("sieve-connect");
        c.args(["--server", "127.0.0.1", "--port", &port, "--user", "bob@b.test", "--authmech", "PLAIN"]);
        c.args(["--passwordfd", "0", "--tlscafile"]).arg(&mra.cert).args(["--tlshostname", "localhost"]);
        c.args(args);
        let out = output_within(&mut c, format!("{PASSWORD}\n").as_bytes(), REPLY_TIMEOUT);
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let local = file.to_str().unwrap();
    let (ok, out) = connect(&["--upload", "--localsieve", local, "--remotesieve", "sort"]);
    assert!(ok, "upload: {out}\n{}", mra.log());
    let (ok, out) = connect(&["--activate", "--remotesieve", "sort"]);
    assert!(ok, "activate: {out}\n{}", mra.log());
    let (ok, out) = connect(&["--list"]);
    assert!(ok && out.contains("\"sort\" ACTIVE"), "list: {out}");
    let (ok, out) = connect(&["--checkscript", "--localsieve", local]);
    assert!(ok, "checkscript: {out}");

    // Pigeonhole's layout, what mailroom-mda and Dovecot run at the next delivery.
    let home = home(&db, "bob");
    assert_eq!(fs::read_to_string(home.join("sieve/sort.sieve")).unwrap(), SORT);
    assert_eq!(fs::read_link(home.join(".dovecot.sieve")).unwrap(), std::path::Path::new("sieve/sort.sieve"));
    // The session came through STARTTLS (sieve-connect insists on TLS for PLAIN unless told
    // otherwise) and was logged like IMAP's.
    assert!(mra.log().contains("managesieve login user=bob@b.test client=127.0.0.1"), "{}", mra.log());

    // A wrong password: NO, the daemon goes on serving.
    let mut c = Command::new("sieve-connect");
    c.args(["--server", "127.0.0.1", "--port", &port, "--user", "bob@b.test", "--authmech", "PLAIN"]);
    c.args(["--passwordfd", "0", "--notlsverify", "--list"]);
    let out = output_within(&mut c, b"wrong\n", REPLY_TIMEOUT);
    assert!(!out.status.success());
    assert!(mra.log().contains("authentication failed user=bob@b.test service=sieve client=127.0.0.1"));
    let (ok, out) = connect(&["--list"]);
    assert!(ok && out.contains("sort"), "{out}");
}

/// Python's managesieve client (PyPI): list, put, get, activate, delete, HAVESPACE, with the
/// response codes of the refusals.
const PYTHON_MANAGESIEVE: &str = r#"
import sys, managesieve
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
m = managesieve.MANAGESIEVE("127.0.0.1", port)
print("caps", m.implementation, sorted(m.loginmechs), "fileinto" in m.capabilities and "vacation" in m.capabilities)
print("login", m.login("", user, pw))
def show(name, r):
    print(name, r, m.response_code or "")
print("list0", m.listscripts())
show("put-a", m.putscript("a", 'require "fileinto";\nfileinto "A";\n'))
show("put-b", m.putscript("b", "keep;\n"))
show("put-bad", m.putscript("b", "keep;\nif true { frobnicate; }\n"))
print("bad-text", m.response_text)
show("put-third", m.putscript("c", "keep;\n"))
show("space-third", m.havespace("c", 10))
show("space-big", m.havespace("a", 2000))
show("space-ok", m.havespace("a", 100))
show("active-missing", m.setactive("nope"))
show("active-a", m.setactive("a"))
print("list", m.listscripts())
print("get", m.getscript("a"))
show("get-missing", m.getscript("nope")[0])
show("delete-active", m.deletescript("a"))
show("delete-missing", m.deletescript("nope"))
show("delete-b", m.deletescript("b"))
show("deactivate", m.setactive(""))
print("list2", m.listscripts())
print("logout", m.logout())
"#;

fn python_managesieve() {
    let have = Command::new("python3").args(["-c", "import managesieve"]).status().unwrap().success();
    if !have {
        let out = output_within(
            Command::new("python3").args(["-m", "pip", "install", "--quiet", "managesieve"]),
            b"",
            REPLY_TIMEOUT * 4,
        );
        assert!(out.status.success(), "pip install managesieve: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[tokio::test]
async fn python_managesieve_client_and_error_codes() {
    python_managesieve();
    let db = database().await;
    let mra = Mra::start(&db, "managesieve_max_scripts = 2\nmanagesieve_max_script_size = 1000");
    let out = python(PYTHON_MANAGESIEVE, &[&mra.managesieve.to_string(), "bob@b.test", PASSWORD]);
    let expected = "\
caps mailroom ['LOGIN', 'PLAIN'] True
login OK
list0 ('OK', [])
put-a OK 
put-b OK 
put-bad NO 
bad-text 2:11: unknown command 'frobnicate'
put-third NO QUOTA/MAXSCRIPTS
space-third NO QUOTA/MAXSCRIPTS
space-big NO QUOTA/MAXSIZE
space-ok OK 
active-missing NO NONEXISTENT
active-a OK 
list ('OK', [('a', True), ('b', False)])
get ('OK', 'require \"fileinto\";\\nfileinto \"A\";\\n')
get-missing NO NONEXISTENT
delete-active NO ACTIVE
delete-missing NO NONEXISTENT
delete-b OK 
deactivate OK 
list2 ('OK', [('a', False)])
logout OK
";
    assert_eq!(out, expected, "{}", mra.log());
    let home = home(&db, "bob");
    assert!(home.join("sieve/a.sieve").is_file() && !home.join("sieve/b.sieve").exists());
    assert!(fs::symlink_metadata(home.join(".dovecot.sieve")).is_err());
}

#[tokio::test]
async fn raw_commands_limits_and_bad_input() {
    let db = database().await;
    let mra = Mra::start(&db, "managesieve_max_scripts = 2\nmanagesieve_max_script_size = 100");
    let mut c = raw_login(mra.managesieve);
    assert_eq!(cmd(&mut c, "PUTSCRIPT \"one\" {6+}\r\nkeep;\n\r\n"), ["OK \"Putscript completed.\""]);
    assert_eq!(cmd(&mut c, "SETACTIVE \"one\"\r\n"), ["OK \"Setactive completed.\""]);
    // A synchronising literal from an older client is taken too, without a continuation.
    assert_eq!(cmd(&mut c, "PUTSCRIPT \"two\" {8}\r\ndiscard;\r\n"), ["OK \"Putscript completed.\""]);
    assert_eq!(
        cmd(&mut c, "PUTSCRIPT \"three\" \"keep;\"\r\n"),
        ["NO (QUOTA/MAXSCRIPTS) \"Too many scripts, at most 2.\""]
    );
    // Refused from the announced size; the bytes are skipped and the session stays in step.
    let big = format!("PUTSCRIPT \"two\" {{101+}}\r\n{}\r\n", "#".repeat(101));
    assert_eq!(cmd(&mut c, &big), ["NO (QUOTA/MAXSIZE) \"Script is too large.\""]);
    assert_eq!(cmd(&mut c, "CHECKSCRIPT \"keep;\"\r\n"), ["OK \"Script is valid.\""]);
    assert_eq!(
        cmd(&mut c, "CHECKSCRIPT {34+}\r\nrequire \"vacation\";\r\nfileinto 1;\r\n\r\n"),
        ["NO \"2:1: unknown command 'fileinto' (require \\\"fileinto\\\")\""]
    );
    assert_eq!(
        cmd(&mut c, "RENAMESCRIPT \"one\" \"two\"\r\n"),
        ["NO (ALREADYEXISTS) \"A script with that name already exists.\""]
    );
    assert_eq!(cmd(&mut c, "RENAMESCRIPT \"one\" \"uno\"\r\n"), ["OK \"Renamescript completed.\""]);
    assert_eq!(
        cmd(&mut c, "RENAMESCRIPT \"one\" \"x\"\r\n"),
        ["NO (NONEXISTENT) \"There is no script by that name.\""]
    );
    assert_eq!(
        cmd(&mut c, "LISTSCRIPTS\r\n"),
        ["\"two\"", "\"uno\" ACTIVE", "OK \"Listscripts completed.\""]
    );
    let home = home(&db, "bob");
    assert_eq!(fs::read_link(home.join(".dovecot.sieve")).unwrap(), std::path::Path::new("sieve/uno.sieve"));
    assert_eq!(cmd(&mut c, "GETSCRIPT \"uno\"\r\n"), ["{6}", "keep;", "", "OK \"Getscript completed.\""]);
    assert_eq!(cmd(&mut c, "NOOP \"t1\"\r\n"), ["OK (TAG \"t1\") \"Done\""]);
    // Bad input: NO, and the session goes on.
    assert_eq!(cmd(&mut c, "FROBNICATE\r\n"), ["NO \"Unknown command.\""]);
    assert_eq!(cmd(&mut c, "GETSCRIPT \"unterminated\r\n"), ["NO \"Syntax: GETSCRIPT \\\"name\\\"\""]);
    assert_eq!(cmd(&mut c, "GETSCRIPT \"../../etc\"\r\n"), ["NO \"Invalid script name.\""]);
    let long = format!("NOOP \"{}\"\r\n", "x".repeat(20_000));
    assert_eq!(cmd(&mut c, &long), ["NO \"Command line or literal too long.\""]);
    assert_eq!(cmd(&mut c, "UNAUTHENTICATE\r\n"), ["OK \"Unauthenticate completed.\""]);
    assert_eq!(cmd(&mut c, "LISTSCRIPTS\r\n"), ["NO \"Authenticate first.\""]);
    assert_eq!(cmd(&mut c, "LOGOUT\r\n"), ["OK \"Logout completed.\""]);
    assert_eq!(c.line(), "<closed>");
    // Another client is served as before.
    let mut d = raw_login(mra.managesieve);
    assert_eq!(cmd(&mut d, "HAVESPACE \"uno\" 100\r\n"), ["OK \"Putscript would succeed.\""]);
}

#[tokio::test]
async fn tls_required_off_loopback_rules_and_idle_bye() {
    let db = database().await;
    let mra = Mra::start(&db, "plaintext_auth_on_loopback = false\nidle_timeout = 1");
    let (mut c, _) = Client::connect(mra.managesieve);
    let greeting = response(&mut c);
    assert!(greeting.contains(&"\"SASL\" \"\"".to_string()), "{greeting:?}");
    assert!(greeting.contains(&"\"STARTTLS\"".to_string()), "{greeting:?}");
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0bob@b.test\0{PASSWORD}"));
    assert_eq!(
        cmd(&mut c, &format!("AUTHENTICATE \"PLAIN\" \"{plain}\"\r\n")),
        ["NO (ENCRYPT-NEEDED) \"Plaintext authentication disallowed on non-secure connections.\""]
    );
    // Silent past idle_timeout: BYE, then the connection closes.
    assert_eq!(c.line(), "BYE \"Disconnected for inactivity.\"");
    assert_eq!(c.line(), "<closed>");
}
