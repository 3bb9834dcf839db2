//! The private Postfix: it greets, answers EHLO, takes its options, and leaves nothing behind.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testsupport::postfix::{PostfixInstance, PostfixOptions, processes_of};

/// Reads one SMTP reply (all its lines).
fn reply(r: &mut impl BufRead) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("read reply");
        assert!(!line.is_empty(), "connection closed after {lines:?}");
        let done = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line.trim_end().to_string());
        if done {
            return lines;
        }
    }
}

/// What `postconf -c DIR -h NAME` says.
fn postconf(dir: &Path, name: &str) -> String {
    let out = Command::new("postconf").arg("-c").arg(dir).args(["-h", name]).output().expect("postconf");
    assert!(out.status.success(), "postconf {name}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn greets_answers_ehlo_and_stops_cleanly() {
    let pf = PostfixInstance::start(PostfixOptions::default());
    let root = pf.config_dir().parent().unwrap().to_path_buf();
    let config_dir = pf.config_dir().to_path_buf();

    let stream = TcpStream::connect(("127.0.0.1", pf.port())).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let greeting = reply(&mut r);
    assert!(greeting[0].starts_with("220 mx.mailroom.test ESMTP"), "{greeting:?}\n{}", pf.log());
    (&stream).write_all(b"EHLO client.test\r\n").unwrap();
    let ehlo = reply(&mut r);
    assert!(ehlo[0].starts_with("250-mx.mailroom.test"), "{ehlo:?}\n{}", pf.log());
    assert!(ehlo.iter().any(|l| l.contains("ENHANCEDSTATUSCODES")), "{ehlo:?}");
    (&stream).write_all(b"QUIT\r\n").unwrap();
    assert!(reply(&mut r)[0].starts_with("221"));

    assert!(!pf.processes().is_empty(), "no Postfix process found for {}", config_dir.display());
    assert!(pf.wait_for_log("daemon started", Duration::from_secs(10)), "{}", pf.log());
    assert!(pf.dir().is_dir());
    drop(pf);

    assert_eq!(processes_of(&config_dir), Vec::<u32>::new(), "Postfix processes left behind");
    let pgrep = Command::new("pgrep").arg("-f").arg(&root).output().expect("pgrep");
    assert!(
        pgrep.stdout.is_empty(),
        "processes naming {} left behind: {}",
        root.display(),
        String::from_utf8_lossy(&pgrep.stdout)
    );
    assert!(!root.exists(), "{} not removed", root.display());
}

#[test]
fn options_reach_the_configuration() {
    let opts = PostfixOptions::default()
        .main("myhostname", "other.mailroom.test")
        .main("smtpd_banner", "$myhostname ESMTP test {port}")
        .main("cyrus_sasl_config_path", "{config_dir}/sasl")
        .file("sasl/smtpd.conf", "saslauthd_path: {dir}/mux\n")
        .master("extra     unix  - - n - - discard")
        .master("  -o syslog_name=postfix/extra-{port}");
    let pf = PostfixInstance::start(opts);

    let config_dir = pf.config_dir();
    assert_eq!(postconf(config_dir, "myhostname"), "other.mailroom.test");
    assert_eq!(postconf(config_dir, "cyrus_sasl_config_path"), format!("{}/sasl", config_dir.display()));
    let conf = std::fs::read_to_string(config_dir.join("sasl/smtpd.conf")).unwrap();
    assert_eq!(conf, format!("saslauthd_path: {}/mux\n", pf.dir().display()));
    let main = std::fs::read_to_string(config_dir.join("main.cf")).unwrap();
    assert_eq!(main.matches("myhostname =").count(), 1, "a default is replaced, not repeated:\n{main}");
    let out = Command::new("postconf").arg("-c").arg(config_dir).args(["-M", "extra/unix"]).output().unwrap();
    let extra = String::from_utf8_lossy(&out.stdout);
    assert!(extra.contains(&format!("syslog_name=postfix/extra-{}", pf.port())), "{extra}");

    let stream = TcpStream::connect(("127.0.0.1", pf.port())).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let greeting = reply(&mut BufReader::new(stream));
    assert_eq!(greeting, [format!("220 other.mailroom.test ESMTP test {}", pf.port())]);
}

#[test]
fn instances_run_side_by_side() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| PostfixInstance::start(PostfixOptions::default()));
        let b = s.spawn(|| PostfixInstance::start(PostfixOptions::default()));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.queue_dir(), b.queue_dir());
    for pf in [&a, &b] {
        let stream = TcpStream::connect(("127.0.0.1", pf.port())).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert!(reply(&mut BufReader::new(stream))[0].starts_with("220 "));
    }
    let config_b = b.config_dir().to_path_buf();
    drop(a);
    assert!(!processes_of(&config_b).is_empty(), "stopping one instance stopped the other");
}
