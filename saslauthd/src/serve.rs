//! The socket side of both protocols: read with limits and timeouts, hand complete requests to
//! the [`Checker`], write the answers. A bad frame closes its own connection and nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::time::timeout;

use daemon::shutdown::Shutdown;
use proto::cyrus;

use crate::check::{Answer, Ask, Checker};
use proto::dovecot;

/// Serve one cyrus-protocol connection: one request, one reply, close.
pub async fn cyrus<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    checker: Arc<Checker>,
    read_timeout: Duration,
) {
    let mut buf = Vec::with_capacity(1100);
    let reply = loop {
        match cyrus::decode(&buf) {
            cyrus::Decoded::Request(r) => break answer(&checker, r).await,
            cyrus::Decoded::Reject(text) => {
                tracing::warn!(reply = text, "cyrus protocol: request refused");
                break text.to_string();
            }
            cyrus::Decoded::Incomplete => {
                buf.reserve(1024);
                match timeout(read_timeout, s.read_buf(&mut buf)).await {
                    Ok(Ok(0)) => {
                        if !buf.is_empty() {
                            tracing::warn!(bytes = buf.len(), "cyrus protocol: truncated request, closed");
                        }
                        return;
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "cyrus protocol: read error");
                        return;
                    }
                    Err(_) => {
                        tracing::warn!(bytes = buf.len(), "cyrus protocol: read timeout, closed");
                        return;
                    }
                }
            }
        }
    };
    // One request per connection: reply and close. cyrus half-closes and drains to EOF first;
    // on a Unix socket closing with unread bytes loses nothing the client needs, and skipping
    // the drain saves a wakeup per request.
    let _ = s.write_all(&cyrus::reply(&reply)).await;
    let _ = s.shutdown().await;
}

async fn answer(checker: &Checker, r: cyrus::Request) -> String {
    let login = String::from_utf8_lossy(&r.login);
    let realm = String::from_utf8_lossy(&r.realm);
    let service = String::from_utf8_lossy(&r.service);
    let client = r.client_addr.as_ref().map(|c| String::from_utf8_lossy(c).into_owned());
    let ask = Ask {
        login: &login,
        realm: &realm,
        service: &service,
        client: client.as_deref(),
        password: &r.password,
    };
    let (answer, delay) = checker.check(ask).await;
    crate::metrics::answered("cyrus", &answer);
    match answer {
        Answer::Ok(_) => "OK".into(),
        Answer::No => {
            tokio::time::sleep(delay).await;
            "NO authentication failed".into()
        }
        Answer::TempFail => cyrus::TEMPFAIL.into(),
    }
}

/// Identity of this server on the Dovecot protocol (SPID, CUID, COOKIE).
pub struct DovecotIdentity {
    cookie: String,
    next_cuid: AtomicU64,
}

impl Default for DovecotIdentity {
    fn default() -> Self {
        let cookie: [u8; 16] = rand::random();
        DovecotIdentity {
            cookie: cookie.iter().map(|b| format!("{b:02x}")).collect(),
            next_cuid: AtomicU64::new(1),
        }
    }
}

/// Serve one Dovecot-protocol connection: handshake, then any number of authentications, each
/// answered as soon as it is checked (failures after `failure_delay` or the throttle's delay).
/// Clients keep these connections open while idle (Postfix does): at shutdown the connection
/// stops reading, answers what is in flight, and closes.
pub async fn dovecot<S: AsyncRead + AsyncWrite + Send + 'static>(
    s: S,
    checker: Arc<Checker>,
    id: Arc<DovecotIdentity>,
    failure_delay: Duration,
    shutdown: Shutdown,
) {
    let (r, mut w) = tokio::io::split(s);
    let (tx, mut rx) = mpsc::channel::<String>(64);
    let cuid = id.next_cuid.fetch_add(1, Ordering::Relaxed);
    let hello = dovecot::handshake(std::process::id(), cuid, &id.cookie);
    let writer = tokio::spawn(async move {
        if w.write_all(hello.as_bytes()).await.is_err() {
            return;
        }
        while let Some(line) = rx.recv().await {
            if w.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let mut reader = BufReader::new(r);
    let mut session = dovecot::Server::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let limit = (dovecot::MAX_LINE + 1) as u64;
        let mut limited = (&mut reader).take(limit);
        let read = tokio::select! {
            r = limited.read_until(b'\n', &mut line) => r,
            () = shutdown.triggered() => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') && line.len() <= dovecot::MAX_LINE {
            break; // EOF in the middle of a line
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let mut close = false;
        for event in session.line(text) {
            match event {
                dovecot::Event::Send(l) => {
                    let _ = tx.send(l).await;
                }
                dovecot::Event::Check(a) => {
                    let (checker, tx) = (checker.clone(), tx.clone());
                    tokio::spawn(async move { respond(&checker, a, failure_delay, &tx).await });
                }
                dovecot::Event::Close(why) => {
                    tracing::warn!(reason = why, "dovecot protocol: closing connection");
                    close = true;
                }
            }
        }
        if close {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

async fn respond(checker: &Checker, a: dovecot::Attempt, failure_delay: Duration, tx: &mpsc::Sender<String>) {
    let ask = Ask {
        login: &a.login,
        realm: "",
        service: &a.service,
        client: a.rip.as_deref(),
        password: &a.password,
    };
    let (answer, delay) = checker.check(ask).await;
    let line = match answer {
        Answer::Ok(user) => dovecot::ok(a.id, &user),
        Answer::No => {
            tokio::time::sleep(delay.max(failure_delay)).await;
            dovecot::fail(a.id, Some(&a.login), false, "Authentication failed")
        }
        Answer::TempFail => dovecot::fail(a.id, Some(&a.login), true, "Temporary authentication failure"),
    };
    let _ = tx.send(line).await;
}
