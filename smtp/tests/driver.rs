//! The driver over in-memory sockets: STARTTLS with a real rustls client (and what it must not
//! carry over from before the handshake), implicit TLS, AUTH through the handler, the greeting
//! pause, the session time limit.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use smtp::{Config, Credentials, Handler, Limits, MailFrom, RcptTo, Reply, TlsInfo};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

#[derive(Default)]
struct Recorder {
    senders: Vec<String>,
    delivered: Vec<Vec<u8>>,
    body: Vec<u8>,
    logins: Vec<String>,
    tls: Option<TlsInfo>,
    resets: usize,
}

impl Handler for Recorder {
    async fn mail(&mut self, from: &MailFrom<String>) -> Reply {
        self.senders.push(from.address.clone());
        Reply::new(250, "2.1.0", "Ok")
    }

    async fn rcpt(&mut self, _to: &RcptTo<String>) -> Reply {
        Reply::new(250, "2.1.5", "Ok")
    }

    async fn data_start(&mut self) -> Result<(), Reply> {
        Ok(())
    }

    async fn data_chunk(&mut self, chunk: &[u8]) -> Result<(), Reply> {
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    async fn data_end(&mut self) -> Vec<Reply> {
        self.delivered.push(std::mem::take(&mut self.body));
        vec![Reply::new(250, "2.0.0", "Ok: queued")]
    }

    fn reset(&mut self) {
        self.body.clear();
        self.resets += 1;
    }

    async fn auth(&mut self, creds: Credentials) -> Reply {
        self.logins.push(creds.login.clone());
        if creds.password == proto::Secret::from("secret") {
            Reply::new(235, "2.7.0", "Authentication successful")
        } else {
            Reply::new(535, "5.7.8", "Error: authentication failed")
        }
    }

    fn tls_established(&mut self, info: &TlsInfo) {
        self.tls = Some(info.clone());
    }
}

/// A server acceptor with a fresh self-signed certificate, and a client that trusts it.
fn tls_pair() -> (TlsAcceptor, TlsConnector) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (TlsAcceptor::from(Arc::new(server)), TlsConnector::from(Arc::new(client)))
}

fn smtp_config() -> Config {
    Config { starttls: true, auth: true, forbid_unauth_pipelining: false, ..Config::smtp("mx.test") }
}

fn limits() -> Limits {
    Limits { idle_timeout: Duration::from_secs(10), ..Limits::default() }
}

/// Send `line` (if any) and read one whole reply; its lines.
async fn chat<S: AsyncRead + AsyncWrite + Unpin>(c: &mut BufReader<S>, line: &str) -> Vec<String> {
    if !line.is_empty() {
        c.get_mut().write_all(line.as_bytes()).await.unwrap();
        c.get_mut().flush().await.unwrap();
    }
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        assert!(c.read_line(&mut l).await.unwrap() > 0, "connection closed after {lines:?}");
        let done = l.as_bytes().get(3) == Some(&b' ');
        lines.push(l.trim_end().to_string());
        if done {
            return lines;
        }
    }
}

/// One authenticated message inside TLS.
async fn submit<S: AsyncRead + AsyncWrite + Unpin>(c: &mut BufReader<S>) {
    let ehlo = chat(c, "EHLO client.test\r\n").await;
    assert_eq!(ehlo.last().unwrap(), "250 AUTH PLAIN LOGIN");
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    assert_eq!(chat(c, "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n").await, ["235 2.7.0 Authentication successful"]);
    assert_eq!(chat(c, "MAIL FROM:<bob@x.test>\r\n").await, ["250 2.1.0 Ok"]);
    assert_eq!(chat(c, "RCPT TO:<c@y.test>\r\n").await, ["250 2.1.5 Ok"]);
    assert_eq!(chat(c, "DATA\r\n").await[0], "354 End data with <CR><LF>.<CR><LF>");
    assert_eq!(chat(c, "hi\r\n.\r\n").await, ["250 2.0.0 Ok: queued"]);
    assert_eq!(chat(c, "QUIT\r\n").await, ["221 2.0.0 Bye"]);
}

#[tokio::test]
async fn starttls_then_auth_and_nothing_from_before_the_handshake() {
    let (acceptor, connector) = tls_pair();
    let (client, server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        let mut h = Recorder::default();
        smtp::run(server, smtp_config(), &limits(), Some(&acceptor), &mut h).await.unwrap();
        h
    });
    let mut c = BufReader::new(client);
    assert_eq!(chat(&mut c, "").await, ["220 mx.test ESMTP mailroom"]);
    let ehlo = chat(&mut c, "EHLO client.test\r\n").await;
    assert_eq!(ehlo.last().unwrap(), "250 STARTTLS");
    assert!(!ehlo.iter().any(|l| l.contains("AUTH")), "AUTH only under TLS: {ehlo:?}");
    // CVE-2011-0411: a command injected right after STARTTLS, in the clear.
    let ready = chat(&mut c, "STARTTLS\r\nMAIL FROM:<injected@x.test>\r\n").await;
    assert_eq!(ready, ["220 2.0.0 Ready to start TLS"]);
    assert!(c.buffer().is_empty());
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, c.into_inner()).await.unwrap();
    let mut c = BufReader::new(tls);
    submit(&mut c).await;
    let h = task.await.unwrap();
    assert_eq!(h.senders, ["bob@x.test"], "the injected MAIL never ran");
    assert_eq!(h.logins, ["bob"]);
    assert_eq!(h.delivered, [b"hi\r\n"]);
    let info = h.tls.expect("tls_established was called");
    assert_eq!(info.protocol, "TLSv1.3");
    assert!(info.cipher.starts_with("TLS13_"), "{info:?}");
}

#[tokio::test]
async fn implicit_tls_offers_auth_and_no_starttls() {
    let (acceptor, connector) = tls_pair();
    let (client, server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        // What a port 465 listener does before the session.
        let stream = acceptor.accept(server).await.unwrap();
        let mut h = Recorder::default();
        h.tls_established(&TlsInfo::from_connection(stream.get_ref().1));
        let cfg = Config { tls_active: true, ..smtp_config() };
        smtp::run(stream, cfg, &limits(), None, &mut h).await.unwrap();
        h
    });
    let tls = connector.connect(ServerName::try_from("localhost").unwrap(), client).await.unwrap();
    let mut c = BufReader::new(tls);
    assert_eq!(chat(&mut c, "").await, ["220 mx.test ESMTP mailroom"]);
    submit(&mut c).await;
    let h = task.await.unwrap();
    assert_eq!(h.tls.unwrap().protocol, "TLSv1.3");
}

#[tokio::test]
async fn a_failed_handshake_closes_quietly() {
    let (acceptor, _) = tls_pair();
    let (client, server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        let mut h = Recorder::default();
        smtp::run(server, smtp_config(), &limits(), Some(&acceptor), &mut h).await.unwrap();
        h
    });
    let mut c = BufReader::new(client);
    chat(&mut c, "").await;
    chat(&mut c, "EHLO c\r\n").await;
    assert_eq!(chat(&mut c, "STARTTLS\r\n").await, ["220 2.0.0 Ready to start TLS"]);
    c.get_mut().write_all(b"this is not a TLS ClientHello\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).await.unwrap();
    assert!(!String::from_utf8_lossy(&rest).contains("250"), "{rest:?}");
    let h = task.await.unwrap();
    assert!(h.tls.is_none() && h.resets >= 1);
}

#[tokio::test]
async fn without_an_acceptor_starttls_is_not_offered() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        let mut h = Recorder::default();
        smtp::run(server, smtp_config(), &limits(), None, &mut h).await.unwrap();
    });
    let mut c = BufReader::new(client);
    chat(&mut c, "").await;
    let ehlo = chat(&mut c, "EHLO c\r\n").await;
    assert!(!ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    assert_eq!(chat(&mut c, "STARTTLS\r\n").await, ["502 5.5.1 Error: command not implemented"]);
    chat(&mut c, "QUIT\r\n").await;
    task.await.unwrap();
}

/// Everything the server sends on a connection where the client writes `input` first.
async fn everything(limits: Limits, input: &'static [u8]) -> String {
    let (mut client, server): (DuplexStream, DuplexStream) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        let mut h = Recorder::default();
        smtp::run(server, smtp_config(), &limits, None, &mut h).await.unwrap();
    });
    client.write_all(input).await.unwrap();
    let mut out = Vec::new();
    client.read_to_end(&mut out).await.unwrap();
    task.await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn a_client_that_speaks_before_the_greeting_is_refused() {
    let pause = Limits { greet_pause: Duration::from_secs(30), ..limits() };
    let out = everything(pause, b"EHLO eager.test\r\n").await;
    assert_eq!(out, "554 5.5.0 Protocol error: client spoke before the greeting\r\n");
}

#[tokio::test]
async fn a_patient_client_is_greeted_after_the_pause() {
    let pause = Limits { greet_pause: Duration::from_millis(20), ..limits() };
    let (client, server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        let mut h = Recorder::default();
        smtp::run(server, smtp_config(), &pause, None, &mut h).await.unwrap();
    });
    let mut c = BufReader::new(client);
    assert_eq!(chat(&mut c, "").await, ["220 mx.test ESMTP mailroom"]);
    assert_eq!(chat(&mut c, "QUIT\r\n").await, ["221 2.0.0 Bye"]);
    task.await.unwrap();
}

#[tokio::test]
async fn the_session_time_limit_closes_the_connection() {
    let short = Limits { max_session_time: Duration::from_millis(1), ..limits() };
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        let mut h = Recorder::default();
        smtp::run(server, smtp_config(), &short, None, &mut h).await.unwrap();
    });
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap();
    task.await.unwrap();
    assert_eq!(
        out,
        "220 mx.test ESMTP mailroom\r\n421 4.4.2 Session time limit exceeded, closing connection\r\n"
    );
}
