//! The accept loop and graceful shutdown, over real sockets.

use std::sync::Arc;
use std::time::Duration;

use daemon::listen::{Listener, UnixSocketSpec};
use daemon::shutdown::{Shutdown, serve};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

const LONG: Duration = Duration::from_secs(10);

/// The receiving end of "a handler started", the permits that let handlers finish, the server.
type Server = (mpsc::UnboundedReceiver<()>, Arc<Semaphore>, tokio::task::JoinHandle<()>);

/// An echo-once server: reads a line, reports that it started, waits for a `release` permit,
/// replies.
fn start(listener: Listener, shutdown: Shutdown) -> Server {
    let (started_tx, started) = mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let r = release.clone();
    let server = tokio::spawn(serve(listener, shutdown, move |stream, peer| {
        let started_tx = started_tx.clone();
        let release = r.clone();
        async move {
            let mut stream = BufReader::new(stream);
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            started_tx.send(()).unwrap();
            release.acquire().await.unwrap().forget();
            let reply = format!("{} from {peer}", line.trim());
            stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
        }
    }));
    (started, release, server)
}

#[tokio::test]
async fn in_flight_connections_finish_and_new_ones_are_refused() {
    let listener = Listener::bind_tcp("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let (mut started, release, server) = start(listener, shutdown.clone());

    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"hello\n").await.unwrap();
    tokio::time::timeout(LONG, started.recv()).await.unwrap().unwrap();

    shutdown.trigger();
    tokio::time::timeout(LONG, server).await.unwrap().unwrap();
    let refused = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(shutdown.in_flight(), 1);

    release.add_permits(1);
    assert!(shutdown.wait(LONG).await);
    let mut reply = String::new();
    client.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, format!("hello from {}", client.local_addr().unwrap()));
}

#[tokio::test]
async fn a_handler_that_never_ends_makes_wait_time_out() {
    let listener = Listener::bind_tcp("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let (mut started, _release, server) = start(listener, shutdown.clone());
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"stuck\n").await.unwrap();
    tokio::time::timeout(LONG, started.recv()).await.unwrap().unwrap();

    shutdown.trigger();
    server.await.unwrap();
    assert!(!shutdown.wait(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn each_connection_is_its_own_task_on_unix_sockets_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lmtp.sock");
    let spec = UnixSocketSpec { path: path.clone(), mode: 0o600, owner: None, group: None };
    let shutdown = Shutdown::new();
    let (mut started, release, server) = start(Listener::bind_unix(&spec).unwrap(), shutdown.clone());

    // Both are served at once: neither waits for the other to finish.
    let mut clients = Vec::new();
    for word in ["one", "two"] {
        let mut c = tokio::net::UnixStream::connect(&path).await.unwrap();
        c.write_all(format!("{word}\n").as_bytes()).await.unwrap();
        tokio::time::timeout(LONG, started.recv()).await.unwrap().unwrap();
        clients.push((word, c));
    }
    assert_eq!(shutdown.in_flight(), 2);
    release.add_permits(2);
    for (word, mut c) in clients {
        let mut reply = String::new();
        c.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, format!("{word} from unix"));
    }
    shutdown.trigger();
    server.await.unwrap();
    assert!(shutdown.wait(LONG).await);
}

#[tokio::test]
async fn serve_returns_at_once_when_already_shut_down() {
    let listener = Listener::bind_tcp("127.0.0.1:0").await.unwrap();
    let shutdown = Shutdown::new();
    shutdown.trigger();
    tokio::time::timeout(LONG, serve(listener, shutdown, |_, _| async {})).await.unwrap();
}
