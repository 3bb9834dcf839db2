//! The control socket: `mailroomctl queue` tells the running queue manager to rescan the queue
//! after it changed a message, or to flush it; `mailroomctl tls report --send` asks for the TLS
//! reports. One line per connection (`rescan`, `flush`, `tlsreport`), answered `ok` or
//! `error ...` (Postfix's qmgr fifo, with an answer).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::qmgr::Request;

/// Serve one control connection.
pub async fn serve<S>(stream: S, requests: mpsc::UnboundedSender<Request>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_line(&mut line)).await;
    let answer = match (read, line.trim()) {
        (Ok(Ok(_)), "rescan") => send(&requests, Request::Rescan),
        (Ok(Ok(_)), "flush") => send(&requests, Request::Flush),
        (Ok(Ok(_)), "tlsreport") => send(&requests, Request::TlsReport),
        (Ok(Ok(_)), other) => format!("error unknown request {other:?}\n"),
        _ => return,
    };
    let _ = stream.get_mut().write_all(answer.as_bytes()).await;
}

fn send(requests: &mpsc::UnboundedSender<Request>, r: Request) -> String {
    match requests.send(r) {
        Ok(()) => "ok\n".into(),
        Err(_) => "error queue manager stopped\n".into(),
    }
}

/// Client side, for mailroomctl: send `request`, return the answer line.
pub async fn request(socket: &Path, request: &str) -> std::io::Result<String> {
    let mut conn = tokio::net::UnixStream::connect(socket).await?;
    conn.write_all(format!("{request}\n").as_bytes()).await?;
    let mut answer = String::new();
    BufReader::new(conn).read_line(&mut answer).await?;
    Ok(answer.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_reach_the_queue_manager() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for (line, want, req) in [
            ("flush\n", "ok\n", Some(Request::Flush)),
            ("rescan\n", "ok\n", Some(Request::Rescan)),
            ("tlsreport\n", "ok\n", Some(Request::TlsReport)),
        ] {
            let (a, mut b) = tokio::io::duplex(256);
            let t = tokio::spawn(serve(a, tx.clone()));
            b.write_all(line.as_bytes()).await.unwrap();
            let mut got = String::new();
            BufReader::new(&mut b).read_line(&mut got).await.unwrap();
            t.await.unwrap();
            assert_eq!(got, want);
            assert_eq!(rx.try_recv().ok(), req);
        }
        let (a, mut b) = tokio::io::duplex(256);
        let t = tokio::spawn(serve(a, tx));
        b.write_all(b"delete everything\n").await.unwrap();
        let mut got = String::new();
        BufReader::new(&mut b).read_line(&mut got).await.unwrap();
        t.await.unwrap();
        assert!(got.starts_with("error"));
    }
}
