//! The same Sieve scripts at LMTP delivery in mailroom-mda and in Dovecot's LMTP with
//! Pigeonhole (Debian `dovecot-lmtpd` and `dovecot-sieve`): each server on its own mail root,
//! the same user script (`~/.dovecot.sieve` -> `sieve/main.sieve`) and the same global
//! `sieve_before` spam rule, the same ~30 messages over each LMTP socket; then the two Maildirs
//! must match folder by folder: the same folders, the same messages in each (by Message-ID),
//! the same flags and keywords, the same content once the trace headers each server adds
//! (Return-Path, Delivered-To, Received) are set aside. Any difference fails with a diff.
//!
//! Dovecot's master starts as root and delivers as `nobody` (static userdb, uid 65534), and
//! mailroom-mda runs as `nobody` too, so both write Maildirs owned by 65534. Dovecot's namespace
//! uses '/' as its hierarchy separator, as mailroom does (`fileinto "Lists/dev"` is
//! `.Lists.dev` on disk in both), and editheader is enabled (`sieve_extensions = +editheader`),
//! as it has to be in Pigeonhole.
//!
//! Two messages guard differences this test found and mailroom now shares with Pigeonhole:
//! <m21> an 8-bit address in From: is invalid (only `address :all` sees the raw field), and
//! <m25> an edit after a `fileinto` does not reach that copy (RFC 5293 §2).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Mda, MdaOptions, is_root, lmtp_message, wait_until};
use testsupport::Backend;

const FIXTURES: [&str; 2] = [
    "INSERT INTO domain (domain) VALUES ('b.test')",
    "INSERT INTO mailbox (username, password, maildir, quota, local_part, domain) VALUES \
     ('bob@b.test', '{PLAIN}x', 'b.test/bob/', 0, 'bob', 'b.test')",
];

/// The mail user of both servers.
const MAIL_UID: u32 = 65534;

/// The admin's rule, run before the user's script (Pigeonhole's sieve_before): spam into Junk,
/// and a flag for scanned mail that the user's implicit keep carries.
const BEFORE: &str = r#"require ["fileinto", "mailbox", "imap4flags"];
if header :is "X-Spam-Flag" "YES" { fileinto :create "Junk"; stop; }
if header :matches "X-Spam-Level" "\\*\\*\\*\\*\\*\\**" { fileinto :create "Junk"; stop; }
if exists "X-Virus-Scanned" { addflag "$scanned"; }
"#;

/// bob's script: one rule or more for each message below.
const USER: &str = r#"require ["fileinto", "mailbox", "imap4flags", "envelope", "subaddress", "body",
  "variables", "regex", "relational", "comparator-i;ascii-numeric", "editheader", "copy"];
# Mailing lists, by List-Id; the list's name becomes the folder.
if header :contains "List-Id" "<dev.lists.example>" { fileinto :create "Lists/dev"; stop; }
if header :matches "List-Id" "*<*.lists.example>*" { fileinto :create "Lists/${2}"; stop; }
# Subaddress: bob+shop@ and any other detail.
if envelope :detail "to" "shop" { fileinto :create "Shopping"; stop; }
if envelope :detail :matches "to" "*" { set "detail" "${1}"; }
if envelope :user "to" "bob" { if not string :is "${detail}" "" { fileinto :create "Tags/${detail}"; } }
# Senders.
if envelope :is "from" "alerts@monitor.example" { addflag "\\Seen"; fileinto :create "Alerts"; stop; }
if address :domain :is "from" "boss.example" { addflag ["\\Flagged", "work"]; }
if address :localpart :is "from" ["noreply", "no-reply"] {
  setflag ["\\Seen", "auto"]; fileinto :create "Auto"; stop;
}
if header :is "Auto-Submitted" "auto-replied" { discard; stop; }
if header :contains "Subject" "unsubscribe me" { discard; }
# Bodies.
if body :contains "lottery" { fileinto :create "Junk/suspect"; stop; }
if body :text :regex "invoice +#[0-9]+" { addflag "$invoice"; fileinto :create "Invoices"; }
# A copy elsewhere, the keep stays.
if header :contains "Subject" "archive" { fileinto :copy :create "Archive"; }
# No subject at all.
if not exists "Subject" { addflag "nosubject"; fileinto :create "NoSubject"; stop; }
# 8-bit and encoded words.
if header :contains "Subject" "Grüße" { fileinto :create "Grüße"; stop; }
if address :is "from" "jörg@umlaut.example" { addflag "umlaut"; }
# Relational.
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3" { fileinto :create "Crowd"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "X-Priority" "4" { addflag "low"; }
# Header edits.
if header :contains "Subject" "[tag]" {
  deleteheader "X-Remove-Me";
  addheader "X-Tagged" "yes";
  addheader :last "X-Tagged-Last" "detail=${detail}";
}
# stop ends the script, keep with the flags so far.
if header :is "X-Stop" "1" { stop; }
if header :is "X-End" "1" { addflag "reached-end"; }
# Flags removed again.
if header :is "X-Unflag" "1" { addflag ["a1", "a2", "\\Answered"]; removeflag ["a1", "\\Answered"]; }
# Explicit keep with flags, and a keep plus a fileinto.
if header :is "X-Keep-Flags" "1" { keep :flags ["\\Draft", "kept"]; stop; }
if header :is "X-Both" "1" { keep; fileinto :create "Both"; stop; }
# An edit, then a fileinto: the stored copy has the edit.
if header :is "X-Edit-Then-File" "1" { addheader "X-Filed" "yes"; fileinto :create "Edited"; }
# A '.' in a folder name (rules30.sieve's "Lists.list0"): with '/' as the separator it is not
# a hierarchy level.
if header :is "X-Dotted" "1" { fileinto :create "Lists.dotted"; }
"#;

/// One message: envelope sender, recipient, and the header and body (LF line ends) after the
/// Message-ID the test puts first.
struct Msg {
    from: &'static str,
    rcpt: &'static str,
    text: &'static str,
}

const fn m(from: &'static str, rcpt: &'static str, text: &'static str) -> Msg {
    Msg { from, rcpt, text }
}

const BOB: &str = "bob@b.test";

fn messages() -> Vec<Msg> {
    vec![
        m("a@x.test", BOB, "From: a@x.test\nTo: bob@b.test\nSubject: plain\n\nhello\n"),
        m("s@x.test", BOB, "From: s@x.test\nTo: bob@b.test\nSubject: buy now\nX-Spam-Flag: YES\n\nspam\n"),
        m("s@x.test", BOB, "From: s@x.test\nSubject: meds\nX-Spam-Level: *******\n\nspam\n"),
        m("s@x.test", BOB, "From: s@x.test\nSubject: almost\nX-Spam-Level: ****\n\nnot quite spam\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: scanned\nX-Virus-Scanned: clean\n\nok\n"),
        m(
            "l@x.test",
            BOB,
            "From: l@x.test\nSubject: patch\nList-Id: Developers <dev.lists.example>\n\ndiff\n",
        ),
        m(
            "l@x.test",
            BOB,
            "From: l@x.test\nSubject: cake\nList-Id: \"Bakers\" <bakers.lists.example>\n\nflour\n",
        ),
        m("shop@x.test", "bob+shop@b.test", "From: shop@x.test\nSubject: your order\n\nshipped\n"),
        m("a@x.test", "bob+travel@b.test", "From: a@x.test\nSubject: trip\n\nbooked\n"),
        m("alerts@monitor.example", BOB, "From: Monitor <alerts@monitor.example>\nSubject: disk\n\nfull\n"),
        m("b@boss.example", BOB, "From: The Boss <b@boss.example>\nSubject: report\n\nby friday\n"),
        m("n@x.test", BOB, "From: noreply@x.test\nSubject: receipt\n\nthanks\n"),
        m("n@x.test", BOB, "From: No Reply <no-reply@y.test>\nSubject: notice\n\nnotice\n"),
        m("v@x.test", BOB, "From: v@x.test\nSubject: away\nAuto-Submitted: auto-replied\n\nout of office\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: please unsubscribe me\n\nstop\n"),
        m("w@x.test", BOB, "From: w@x.test\nSubject: congrats\n\nyou won the lottery\n"),
        m("i@x.test", BOB, "From: i@x.test\nSubject: bill\n\nplease pay invoice  #4711 today\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: archive this\n\nfor later\n"),
        m("a@x.test", BOB, "From: a@x.test\nTo: bob@b.test\n\nno subject here\n"),
        m("g@x.test", BOB, "From: g@x.test\nSubject: Grüße aus Köln\n\n8-bit header\n"),
        m("g@x.test", BOB, "From: g@x.test\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= encoded\n\nencoded word\n"),
        m("j@x.test", BOB, "From: =?UTF-8?Q?J=C3=B6rg?= <jörg@umlaut.example>\nSubject: hallo\n\nä ö ü\n"),
        m(
            "a@x.test",
            BOB,
            "From: a@x.test\nTo: bob@b.test, c@b.test\nCc: d@b.test, e@b.test\nSubject: all\n\nmany\n",
        ),
        m("a@x.test", BOB, "From: a@x.test\nSubject: later\nX-Priority: 5\n\nlow\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: urgent\nX-Priority: 1\n\nhigh\n"),
        m(
            "a@x.test",
            "bob+t@b.test",
            "From: a@x.test\nSubject: [tag] edited\nX-Remove-Me: 1\nX-Keep-Me: 1\nX-Remove-Me: 2\n\nedit\n",
        ),
        m("b@boss.example", BOB, "From: b@boss.example\nSubject: stop here\nX-Stop: 1\nX-End: 1\n\ns\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: the end\nX-End: 1\n\ne\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: unflag\nX-Unflag: 1\n\nu\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: keep flags\nX-Keep-Flags: 1\n\nk\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: both\nX-Both: 1\n\nb\n"),
        m(
            "b@boss.example",
            BOB,
            "From: b@boss.example\nSubject: folded\n header and invoice #1\nX-Virus-Scanned: yes\n\n\
             invoice #12 attached\n.leading dot\n",
        ),
        // Edits, then the implicit keep.
        m("a@x.test", BOB, "From: a@x.test\nSubject: [tag] kept\nX-Remove-Me: 1\n\nk\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: edit then file\nX-Edit-Then-File: 1\n\nf\n"),
        m("a@x.test", BOB, "From: a@x.test\nSubject: dotted\nX-Dotted: 1\n\nd\n"),
    ]
}

/// The user's script in Pigeonhole's place under `home`, all of it owned by the mail user.
fn install(home: &Path) {
    fs::create_dir_all(home.join("sieve")).unwrap();
    fs::write(home.join("sieve/main.sieve"), USER).unwrap();
    std::os::unix::fs::symlink("sieve/main.sieve", home.join(".dovecot.sieve")).unwrap();
    let status = Command::new("chown").args(["-R", "-h", "65534:65534"]).arg(home).status().unwrap();
    assert!(status.success());
}

/// A private Dovecot with LMTP and Pigeonhole: static userdb (home ROOT/%d/%n, Maildir
/// ~/Maildir), stopped by its pid on drop.
struct Dovecot {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Dovecot {
    fn start(dir: &Path, root: &Path, before: &Path) -> Dovecot {
        common::require("/usr/sbin/dovecot", &["--version"], "dovecot-core");
        for (p, pkg) in [
            ("/usr/lib/dovecot/lmtp", "dovecot-lmtpd"),
            ("/usr/lib/dovecot/modules/lib90_sieve_plugin.so", "dovecot-sieve"),
        ] {
            assert!(Path::new(p).exists(), "{p} missing: apt-get install {pkg}");
        }
        let (d, r, b) = (dir.display(), root.display(), before.display());
        let conf = dir.join("dovecot.conf");
        fs::write(
            &conf,
            format!(
                "instance_name = mailroom-sieve-{pid}\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
                 log_path = {d}/dovecot.log\nprotocols = lmtp\nssl = no\n\
                 passdb {{\n  driver = static\n  args = nopassword=y\n}}\n\
                 userdb {{\n  driver = static\n  args = uid={MAIL_UID} gid={MAIL_UID} home={r}/%d/%n\n}}\n\
                 mail_location = maildir:~/Maildir\n\
                 namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
                 recipient_delimiter = +\nlmtp_save_to_detail_mailbox = no\n\
                 protocol lmtp {{\n  mail_plugins = $mail_plugins sieve\n}}\n\
                 plugin {{\n  sieve = file:~/sieve;active=~/.dovecot.sieve\n  sieve_before = {b}\n  \
                 sieve_extensions = +editheader\n}}\n\
                 service lmtp {{\n  unix_listener lmtp {{\n    mode = 0666\n  }}\n}}\n",
                pid = std::process::id(),
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let d = Dovecot { child, socket: dir.join("run/lmtp"), log: dir.join("dovecot.log") };
        let up = wait_until(Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&d.socket).is_ok()
        });
        assert!(up, "Dovecot's LMTP socket did not appear: {}", d.log());
        d
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        if !wait_until(Duration::from_secs(10), || matches!(self.child.try_wait(), Ok(Some(_)))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// One stored message as compared: its flags (system flags by letter, keywords by name) and
/// its text without the trace headers.
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    flags: BTreeSet<String>,
    text: String,
}

/// A Maildir as compared: folder name (on disk, "" for INBOX) -> Message-ID -> copies.
type Tree = BTreeMap<String, BTreeMap<String, Vec<Stored>>>;

/// The header fields the servers themselves add on delivery.
const TRACE: [&str; 3] = ["return-path", "delivered-to", "received"];

/// `text` without the trace header fields (with their continuation lines), and its Message-ID.
fn untraced(text: &str) -> (String, String) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut fields: Vec<String> = Vec::new();
    for line in head.split('\n') {
        match (line.starts_with([' ', '\t']), fields.last_mut()) {
            (true, Some(last)) => {
                last.push('\n');
                last.push_str(line);
            }
            _ => fields.push(line.to_string()),
        }
    }
    fields.retain(|f| {
        let name = f.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        !TRACE.contains(&name.as_str())
    });
    let id = fields
        .iter()
        .find_map(|f| f.strip_prefix("Message-ID: "))
        .unwrap_or_else(|| panic!("no Message-ID in {text:?}"))
        .to_string();
    (format!("{}\n\n{body}", fields.join("\n")), id)
}

/// Everything in the Maildir at `root`, folder by folder.
fn tree(root: &Path) -> Tree {
    let mut folders = vec![(String::new(), root.to_path_buf())];
    if let Ok(rd) = fs::read_dir(root) {
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && e.path().is_dir() {
                folders.push((name, e.path()));
            }
        }
    }
    let mut out = Tree::new();
    for (name, dir) in folders {
        let keywords: BTreeMap<char, String> = fs::read_to_string(dir.join("dovecot-keywords"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (n, k) = l.split_once(' ')?;
                let n: u8 = n.parse().ok()?;
                Some(((b'a' + n) as char, k.to_string()))
            })
            .collect();
        let msgs = out.entry(name.clone()).or_default();
        for sub in ["new", "cur"] {
            for f in common::files(&dir.join(sub)) {
                let file = f.file_name().unwrap().to_string_lossy().into_owned();
                let info = file.split_once(":2,").map(|(_, i)| i).unwrap_or("");
                let flags = info
                    .chars()
                    .map(|c| match c {
                        'a'..='z' => keywords.get(&c).cloned().unwrap_or_else(|| {
                            panic!("keyword {c} of {file} not in {name}/dovecot-keywords")
                        }),
                        _ => format!("\\{c}"),
                    })
                    .collect();
                let (text, id) = untraced(&String::from_utf8_lossy(&fs::read(&f).unwrap()));
                msgs.entry(id).or_default().push(Stored { flags, text });
            }
        }
    }
    out
}

/// Every difference between the two trees, one readable paragraph each.
fn differences(dovecot: &Tree, mailroom: &Tree) -> Vec<String> {
    let mut diffs = Vec::new();
    let folders: BTreeSet<&String> = dovecot.keys().chain(mailroom.keys()).collect();
    let empty = BTreeMap::new();
    for folder in folders {
        let shown = if folder.is_empty() { "INBOX" } else { folder.as_str() };
        let (d, m) = (dovecot.get(folder), mailroom.get(folder));
        if d.is_none() || m.is_none() {
            diffs.push(format!(
                "folder {shown}: only in {} (holding {:?})",
                if d.is_some() { "Dovecot" } else { "mailroom" },
                d.or(m).unwrap().keys().collect::<Vec<_>>()
            ));
        }
        let (d, m) = (d.unwrap_or(&empty), m.unwrap_or(&empty));
        let ids: BTreeSet<&String> = d.keys().chain(m.keys()).collect();
        for id in ids {
            let (dc, mc) =
                (d.get(id).map(Vec::as_slice).unwrap_or(&[]), m.get(id).map(Vec::as_slice).unwrap_or(&[]));
            if dc.len() != mc.len() {
                diffs.push(format!(
                    "{shown} {id}: {} copies from Dovecot, {} from mailroom\n  Dovecot:  {:?}\n  mailroom: {:?}",
                    dc.len(),
                    mc.len(),
                    dc.iter().map(|s| &s.flags).collect::<Vec<_>>(),
                    mc.iter().map(|s| &s.flags).collect::<Vec<_>>()
                ));
                continue;
            }
            for (a, b) in dc.iter().zip(mc) {
                if a.flags != b.flags {
                    diffs.push(format!("{shown} {id}: flags Dovecot {:?}, mailroom {:?}", a.flags, b.flags));
                }
                if a.text != b.text {
                    diffs.push(format!(
                        "{shown} {id}: content differs\n--- Dovecot\n{}\n--- mailroom\n{}",
                        a.text, b.text
                    ));
                }
            }
        }
    }
    diffs
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_script_sorts_the_same_as_pigeonhole() {
    assert!(is_root(), "Dovecot's master must start as root to deliver as the mail user");
    let db = common::database(Backend::Sqlite, &FIXTURES).await;
    // The daemon (as nobody) reads the SQLite file and writes under its mail root.
    fs::set_permissions(db.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mr_root = db.mail_root();
    fs::create_dir_all(&mr_root).unwrap();
    chown(&mr_root, Some(MAIL_UID), Some(MAIL_UID)).unwrap();

    let tmp = testsupport::postfix::reachable_tempdir();
    let etc = tmp.path().join("etc");
    fs::create_dir(&etc).unwrap();
    let before = etc.join("before.sieve");
    fs::write(&before, BEFORE).unwrap();
    // Pigeonhole writes the compiled binary next to the script: let the mail user do that.
    chown(&etc, Some(MAIL_UID), Some(MAIL_UID)).unwrap();
    chown(&before, Some(MAIL_UID), Some(MAIL_UID)).unwrap();
    let dv_root = tmp.path().join("vmail");
    fs::create_dir(&dv_root).unwrap();
    chown(&dv_root, Some(MAIL_UID), Some(MAIL_UID)).unwrap();
    let dv_dir = tmp.path().join("dovecot");
    fs::create_dir(&dv_dir).unwrap();
    fs::set_permissions(&dv_dir, fs::Permissions::from_mode(0o755)).unwrap();

    for home in [mr_root.join("b.test/bob"), dv_root.join("b.test/bob")] {
        fs::create_dir_all(&home).unwrap();
        chown(home.parent().unwrap(), Some(MAIL_UID), Some(MAIL_UID)).unwrap();
        install(&home);
    }
    let dovecot = Dovecot::start(&dv_dir, &dv_root, &before);
    let mda = Mda::start_with(
        &db,
        MdaOptions {
            user: "nobody".into(),
            extra: format!("sieve_before = [\"{}\"]", before.display()),
            ..Default::default()
        },
    );

    let mut replies = Vec::new();
    for (i, msg) in messages().iter().enumerate() {
        let text = format!("Message-ID: <m{i}@sieve.test>\n{}", msg.text);
        let d = lmtp_message(&dovecot.socket, msg.from, &[msg.rcpt], 1, &text);
        let r = lmtp_message(&mda.socket, msg.from, &[msg.rcpt], 1, &text);
        replies.push((i, d, r));
    }
    for (i, d, r) in &replies {
        assert!(d[0].starts_with("250 "), "message {i}: Dovecot answered {d:?}\n{}", dovecot.log());
        assert!(r[0].starts_with("250 "), "message {i}: mailroom answered {r:?}\n{}", mda.log());
    }

    let dv = tree(&dv_root.join("b.test/bob/Maildir"));
    let mr = tree(&mr_root.join("b.test/bob/Maildir"));
    let mut diffs = differences(&dv, &mr);
    // Both tell the user about a failed action in the script's log, or neither does.
    let user_log = |root: &Path| fs::read_to_string(root.join("b.test/bob/.dovecot.sieve.log")).ok();
    let (dv_log, mr_log) = (user_log(&dv_root), user_log(&mr_root));
    if dv_log.is_some() != mr_log.is_some() {
        diffs.push(format!(".dovecot.sieve.log: Dovecot {dv_log:?}, mailroom {mr_log:?}"));
    }
    assert!(
        diffs.is_empty(),
        "{} differences between Dovecot+Pigeonhole and mailroom-mda:\n\n{}\n\nDovecot's log:\n{}\nmailroom's log:\n{}",
        diffs.len(),
        diffs.join("\n\n"),
        dovecot.log(),
        mda.log()
    );
    // The comparison saw what the script does: folders made, messages discarded.
    let stored: usize = mr.values().flat_map(|f| f.values()).map(Vec::len).sum();
    assert!(mr.len() >= 14 && stored >= 28, "{mr:#?}");
    for gone in ["<m13@sieve.test>", "<m14@sieve.test>"] {
        assert!(mr.values().all(|f| !f.contains_key(gone)), "{gone} was discarded");
    }
}
