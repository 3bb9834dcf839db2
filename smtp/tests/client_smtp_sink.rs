//! The SMTP client against Postfix's `smtp-sink` (Debian package `postfix`) over TCP: what a
//! real server saw (its dump files record the MAIL and RCPT arguments and the message as
//! received), with pipelining and DSN offered or not, ESMTP refused, commands refused, and
//! the connection dropped after the data.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use smtp::client::{Client, ClientError, Envelope, Outcome, Protocol, Recipient, Timeouts, connect_tcp};

const SMTP_SINK: &str = "/usr/sbin/smtp-sink";
/// How long smtp-sink may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running smtp-sink on a free port of 127.0.0.1, dumping each transaction into its own
/// directory; killed on drop.
struct Sink {
    child: Child,
    addr: SocketAddr,
    dumps: tempfile::TempDir,
}

impl Sink {
    /// Start with extra smtp-sink `flags`; a port taken between our probe and its bind is
    /// retried on another.
    fn start(flags: &[&str]) -> Sink {
        assert!(Path::new(SMTP_SINK).exists(), "{SMTP_SINK} missing: apt-get install postfix");
        let dumps = tempfile::tempdir().unwrap();
        // smtp-sink drops to nobody when started as root: the dumps must be writable by it.
        std::fs::set_permissions(dumps.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        for _ in 0..5 {
            let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
            let mut cmd = Command::new(SMTP_SINK);
            if is_root() {
                cmd.args(["-u", "nobody"]);
            }
            let template = format!("{}/%H%M%S.", dumps.path().display());
            let mut child = cmd
                .args(flags)
                .args(["-h", "sink.test", "-d", &template, &addr.to_string(), "10"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("run smtp-sink");
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if std::net::TcpStream::connect(addr).is_ok() {
                    // That probe was a session of its own; smtp-sink dumps nothing for it.
                    return Sink { child, addr, dumps };
                }
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("smtp-sink did not start");
    }

    /// The dumped transactions (waiting for `n` of them: smtp-sink writes after its reply).
    fn dumps(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let mut files: Vec<PathBuf> =
                std::fs::read_dir(self.dumps.path()).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            let texts: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
            // A dump is complete with its trailing empty line.
            if (texts.len() >= n && texts.iter().all(|t| t.ends_with("\n\n"))) || Instant::now() > deadline {
                return texts;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    async fn client(&self) -> Client<tokio::net::TcpStream> {
        let t = Timeouts::default();
        let stream = connect_tcp(self.addr, t.connect).await.unwrap();
        Client::greet(stream, Protocol::Smtp, "client.test", t).await.unwrap()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false)
}

/// The smtp-sink header lines of a dump, e.g. "X-Mail-Args".
fn args(dump: &str, name: &str) -> Vec<String> {
    dump.lines().filter_map(|l| l.strip_prefix(&format!("{name}: ")).map(String::from)).collect()
}

fn dsn_envelope() -> Envelope {
    Envelope {
        sender: "a@x.test".into(),
        ret: Some("HDRS".into()),
        envid: Some("id 1".into()),
        body_8bit: true,
        smtputf8: false,
        requiretls: false,
        size: Some(60),
        recipients: vec![
            Recipient { address: "b@y.test".into(), notify: Some("FAILURE,DELAY".into()), orcpt: None },
            Recipient {
                address: "c@y.test".into(),
                notify: Some("NEVER".into()),
                orcpt: Some("rfc822;C@Y.test".into()),
            },
        ],
    }
}

const MESSAGE: &[u8] = b"Subject: sink\r\n\r\n.dot line\r\nbare lf\nm\xc3\xa9\r\n.\r\nno final line end";

fn replies(o: &Outcome) -> Vec<String> {
    o.recipients.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn pipelining_and_dsn_parameters_when_offered() {
    let sink = Sink::start(&[]);
    let mut c = sink.client().await;
    let caps = c.capabilities().clone();
    assert!(caps.pipelining && caps.dsn && caps.eightbitmime && caps.enhanced_status_codes, "{caps:?}");
    assert_eq!(caps.auth, ["PLAIN", "LOGIN"]);
    let outcome = c.send(&dsn_envelope(), MESSAGE).await.unwrap();
    assert_eq!(outcome.mail, None);
    assert_eq!(replies(&outcome), ["250 2.0.0 Ok", "250 2.0.0 Ok"]);
    // The session goes on: a second message with the null sender.
    let bounce = Envelope {
        sender: String::new(),
        recipients: vec![Recipient::new("d@y.test")],
        ..Default::default()
    };
    assert_eq!(replies(&c.send(&bounce, &b"x\r\n"[..]).await.unwrap()), ["250 2.0.0 Ok"]);
    c.quit().await.unwrap();

    let dumps = sink.dumps(2);
    assert_eq!(dumps.len(), 2, "{dumps:?}");
    let (first, second) =
        if dumps[0].contains("<a@x.test>") { (&dumps[0], &dumps[1]) } else { (&dumps[1], &dumps[0]) };
    // smtp-sink offers no SIZE: no SIZE= then.
    assert_eq!(args(first, "X-Mail-Args"), ["<a@x.test> BODY=8BITMIME RET=HDRS ENVID=id+201"]);
    assert_eq!(
        args(first, "X-Rcpt-Args"),
        ["<b@y.test> NOTIFY=FAILURE,DELAY", "<c@y.test> NOTIFY=NEVER ORCPT=rfc822;C@Y.test"]
    );
    assert_eq!(args(first, "X-Client-Proto"), ["ESMTP"]);
    assert!(
        first.ends_with("\nSubject: sink\n\n.dot line\nbare lf\nmé\n.\nno final line end\n\n"),
        "{first:?}"
    );
    assert_eq!(args(second, "X-Mail-Args"), ["<>"]);
}

#[tokio::test]
async fn no_parameters_without_dsn_and_pipelining() {
    let sink = Sink::start(&["-N", "-p", "-8"]);
    let mut c = sink.client().await;
    assert!(!c.capabilities().pipelining && !c.capabilities().dsn && !c.capabilities().eightbitmime);
    // 8-bit content to a host without 8BITMIME is refused before sending (RFC 6152 §3).
    let refused = c.send(&dsn_envelope(), MESSAGE).await.unwrap();
    assert_eq!(refused.mail.and_then(|r| r.enhanced).as_deref(), Some("5.6.3"));
    let seven_bit = Envelope { body_8bit: false, ..dsn_envelope() };
    let outcome = c.send(&seven_bit, MESSAGE).await.unwrap();
    assert_eq!(replies(&outcome), ["250 2.0.0 Ok", "250 2.0.0 Ok"]);
    c.quit().await.unwrap();
    let dumps = sink.dumps(1);
    assert_eq!(args(&dumps[0], "X-Mail-Args"), ["<a@x.test>"]);
    assert_eq!(args(&dumps[0], "X-Rcpt-Args"), ["<b@y.test>", "<c@y.test>"]);
}

#[tokio::test]
async fn helo_when_ehlo_is_refused() {
    let sink = Sink::start(&["-e"]);
    let mut c = sink.client().await;
    assert_eq!(c.capabilities(), &Default::default());
    let outcome = c.send(&Envelope { body_8bit: false, ..dsn_envelope() }, MESSAGE).await.unwrap();
    assert!(outcome.recipients.iter().all(|r| r.is_positive()), "{outcome:?}");
    c.quit().await.unwrap();
    let dumps = sink.dumps(1);
    assert_eq!(args(&dumps[0], "X-Client-Proto"), ["SMTP"]);
    assert_eq!(args(&dumps[0], "X-Helo-Args"), ["client.test"]);
    assert_eq!(args(&dumps[0], "X-Mail-Args"), ["<a@x.test>"]);
}

#[tokio::test]
async fn refused_commands_and_a_dropped_connection() {
    // Every RCPT refused (4xx, then 5xx): no data is sent, nothing is dumped.
    for (flag, want) in [("-r", "450 4.3.0 Error: command failed"), ("-f", "500 5.3.0 Error: command failed")]
    {
        let sink = Sink::start(&[flag, "RCPT"]);
        let mut c = sink.client().await;
        let outcome = c.send(&dsn_envelope(), MESSAGE).await.unwrap();
        assert_eq!(replies(&outcome), [want, want]);
        c.quit().await.unwrap();
        assert!(sink.dumps(0).is_empty());
    }
    // MAIL refused: every recipient gets its reply.
    let sink = Sink::start(&["-f", "MAIL"]);
    let mut c = sink.client().await;
    let outcome = c.send(&dsn_envelope(), MESSAGE).await.unwrap();
    assert_eq!(outcome.mail.as_ref().map(|r| r.code), Some(500));
    assert_eq!(replies(&outcome).len(), 2);
    // Disconnected without a reply to the final dot: an error, to be retried.
    let sink = Sink::start(&["-q", "."]);
    let mut c = sink.client().await;
    let got = c.send(&dsn_envelope(), MESSAGE).await;
    assert!(matches!(got, Err(ClientError::Io(_))), "{got:?}");
}
