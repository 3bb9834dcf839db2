//! SRS end to end: a forwarding alias at b.test sends mail on to r.test (a second
//! mailroom-mta, the relayhost) with the sender rewritten as postsrsd would, and Debian's
//! postsrsd reverses that address to the original sender; a bounce to the SRS address comes
//! back to the original sender; a bad hash or an expired stamp is 550 5.1.1; our own senders
//! are not rewritten.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    Options, Smtp, Stack, TIMEOUT, database, free_port, header, messages_in, receiving_db, wait_until,
};
use mailroom_mta::srs::Srs;
use testsupport::Backend;

const SECRET: &str = "s3cret-of-the-test\nan-older-secret\n";

/// Debian's postsrsd on loopback (its reverse table only), killed when dropped.
struct Postsrsd {
    child: Child,
    reverse: u16,
}

impl Postsrsd {
    fn start(domain: &str, secret_file: &std::path::Path) -> Postsrsd {
        let (forward, reverse) = (free_port(), free_port());
        let child = Command::new("/usr/sbin/postsrsd")
            .args(["-d", domain, "-l", "127.0.0.1", "-f", &forward.to_string(), "-r", &reverse.to_string()])
            .arg("-s")
            .arg(secret_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postsrsd (Debian package postsrsd) must be installed");
        let up = wait_until(Duration::from_secs(10), || TcpStream::connect(("127.0.0.1", reverse)).is_ok());
        assert!(up, "postsrsd did not start");
        Postsrsd { child, reverse }
    }

    /// Its tcp_table answer for `get ADDRESS` on the reverse port.
    fn reverse(&self, addr: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.reverse)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.write_all(format!("get {addr}\n").as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }
}

impl Drop for Postsrsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Send one message from the test (a stranger: not in mynetworks) to `stack`'s port 25.
fn send(stack: &Stack, from: &str, to: &str, subject: &str) {
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO client.example", 250);
    let body = format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n");
    let r = c.message(from, &[to], &body).unwrap();
    assert_eq!(r.code, 250, "{from} -> {to}: {}\n{}", r.text, stack.logs());
    c.expect("QUIT", 221);
}

/// The message in `maildir` whose subject is `subject`, once it is there.
fn wait_message(maildir: &std::path::Path, subject: &str, logs: impl Fn() -> String) -> String {
    let find = || messages_in(maildir).into_iter().find(|m| m.contains(&format!("Subject: {subject}")));
    assert!(wait_until(TIMEOUT, || find().is_some()), "no {subject:?} in {}\n{}", maildir.display(), logs());
    find().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn forwarded_mail_gets_an_srs_sender_and_bounces_come_back() {
    // The far side: r.test (rob) and r2.test (ann), another mailroom-mta with its MDA.
    let rdb = receiving_db(&[("r.test", "rob"), ("r2.test", "ann")]).await;
    let receiver = Stack::start(&rdb, Options::default());

    // Our side: b.test with fwd@b.test forwarding to rob@r.test, SRS at b.test.
    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("srs.secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let db = database(Backend::Sqlite).await;
    db.sql("INSERT INTO alias (address, goto, domain) VALUES ('fwd@b.test', 'rob@r.test', 'b.test')").await;
    let stack = Stack::start(
        &db,
        Options::default()
            .mta("relayhost", &format!("\"[127.0.0.1]:{}\"", receiver.smtp))
            .mta("srs_domain", "\"b.test\"")
            .mta("srs_secret_file", &format!("{:?}", secret_file.display().to_string())),
    );
    let logs = || format!("{}\n--- receiver ---\n{}", stack.logs(), receiver.logs());
    let rob = rdb.mail_root().join("r.test/rob/Maildir");
    let ann = rdb.mail_root().join("r2.test/ann/Maildir");

    // ann@r2.test writes to the alias: rob gets it from an SRS0 address at b.test.
    let before = now();
    send(&stack, "ann@r2.test", "fwd@b.test", "forwarded");
    let msg = wait_message(&rob, "forwarded", logs);
    let srs_sender = header(&msg, "Return-Path").unwrap().trim_matches(['<', '>']).to_string();
    let after = now();
    let srs = Srs::new("b.test", SECRET, &[]).unwrap();
    let expected = [before, after].map(|t| srs.forward("ann@r2.test", t).unwrap());
    assert!(expected.contains(&srs_sender), "sender {srs_sender}, want one of {expected:?}");
    assert!(srs_sender.starts_with("SRS0=") && srs_sender.ends_with("=r2.test=ann@b.test"), "{srs_sender}");
    // postsrsd with the same secret reads it back.
    let postsrsd = Postsrsd::start("b.test", &secret_file);
    assert_eq!(postsrsd.reverse(&srs_sender), "200 ann@r2.test");

    // A bounce to that address goes back to ann.
    let mut c = Smtp::connect(stack.smtp);
    c.expect("EHLO mx.r.test", 250);
    let bounce = "From: MAILER-DAEMON@r.test\r\nSubject: bounced\r\n\r\nyour mail could not be delivered\r\n";
    let r = c.message("", &[&srs_sender], bounce).unwrap();
    assert_eq!(r.code, 250, "{}\n{}", r.text, logs());
    let back = wait_message(&ann, "bounced", logs);
    assert_eq!(header(&back, "Return-Path").as_deref(), Some("<>"), "{back}");

    // A bad hash, an expired stamp, junk: 550 5.1.1, nothing queued.
    let tampered = format!("SRS0=AAAA{}", &srs_sender[9..]);
    let old = srs.forward("ann@r2.test", now() - 30 * 24 * 3600).unwrap();
    for bad in [tampered.as_str(), old.as_str(), "SRS0=junk@b.test"] {
        c.expect("MAIL FROM:<>", 250);
        let r = c.cmd(&format!("RCPT TO:<{bad}>")).unwrap();
        assert!(
            r.text.starts_with(&format!("550 5.1.1 <{bad}>: Recipient address rejected: ")),
            "{bad}: {}",
            r.text
        );
        c.expect("RSET", 250);
    }
    assert!(postsrsd.reverse(&tampered).starts_with("500 "), "postsrsd accepts {tampered}");
    c.expect("QUIT", 221);

    // Our own sender is not rewritten on the way out.
    send(&stack, "carol@b.test", "fwd@b.test", "from a local sender");
    let msg = wait_message(&rob, "from a local sender", logs);
    assert_eq!(header(&msg, "Return-Path").as_deref(), Some("<carol@b.test>"), "{msg}");
}
