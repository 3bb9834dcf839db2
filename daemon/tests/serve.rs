//! Serving and graceful shutdown through `daemon::run`, over real sockets: bound sockets, the
//! privilege drop, the accept loops, draining, and the background tasks stopped after the
//! connections.

use std::sync::Arc;
use std::time::Duration;

use daemon::listen::UnixSocketSpec;
use daemon::run::Sockets;
use daemon::shutdown::Shutdown;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

const LONG: Duration = Duration::from_secs(10);

/// The receiving end of "a handler started", the permits that let handlers finish, the
/// shutdown state and the server.
struct Server {
    started: mpsc::UnboundedReceiver<()>,
    release: Arc<Semaphore>,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// An echo-once server on `sockets`: reads a line, reports that it started, waits for a
/// `release` permit, replies; at shutdown it gives connections `drain`.
fn start(sockets: Sockets<&'static str>, drain: Duration) -> Server {
    let (started_tx, started) = mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let r = release.clone();
    let service = sockets.start("", "", None).unwrap();
    let shutdown = service.shutdown();
    let task = tokio::spawn(service.serve(drain, move |role, stream, peer| {
        let started_tx = started_tx.clone();
        let release = r.clone();
        async move {
            let mut stream = BufReader::new(stream);
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            started_tx.send(()).unwrap();
            release.acquire().await.unwrap().forget();
            let reply = format!("{} from {peer} on {role}", line.trim());
            stream.get_mut().write_all(reply.as_bytes()).await.unwrap();
        }
    }));
    Server { started, release, shutdown, task }
}

async fn tcp() -> Sockets<&'static str> {
    let mut sockets = Sockets::new("test");
    sockets.tcp("smtp", "smtp", &["127.0.0.1:0".parse().unwrap()]).await.unwrap();
    sockets
}

#[tokio::test]
async fn in_flight_connections_finish_and_new_ones_are_refused() {
    let sockets = tcp().await;
    let addr = sockets.tcp_addrs()[0];
    let mut server = start(sockets, LONG);

    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"hello\n").await.unwrap();
    tokio::time::timeout(LONG, server.started.recv()).await.unwrap().unwrap();

    server.shutdown.trigger();
    // The accept loop stops at once; the connection in flight keeps the service draining.
    // (A connect racing the listener's close may be reset instead; the next one is refused.)
    let refused = async {
        while TcpStream::connect(addr).await.err().map(|e| e.kind())
            != Some(std::io::ErrorKind::ConnectionRefused)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(LONG, refused).await.expect("still accepting after shutdown");
    assert_eq!(server.shutdown.in_flight(), 1);
    assert!(!server.task.is_finished());

    server.release.add_permits(1);
    tokio::time::timeout(LONG, server.task).await.unwrap().unwrap().unwrap();
    let mut reply = String::new();
    client.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, format!("hello from {} on smtp", client.local_addr().unwrap()));
}

#[tokio::test]
async fn a_handler_that_never_ends_is_given_up_after_the_timeout() {
    let sockets = tcp().await;
    let addr = sockets.tcp_addrs()[0];
    let mut server = start(sockets, Duration::from_millis(100));
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"stuck\n").await.unwrap();
    tokio::time::timeout(LONG, server.started.recv()).await.unwrap().unwrap();

    server.shutdown.trigger();
    tokio::time::timeout(LONG, server.task).await.unwrap().unwrap().unwrap();
    assert_eq!(server.shutdown.in_flight(), 1, "still running, abandoned");
}

#[tokio::test]
async fn each_connection_is_its_own_task_on_unix_sockets_too() {
    let dir = tempfile::tempdir().unwrap();
    // The socket's directory is created when missing.
    let path = dir.path().join("mda/lmtp.sock");
    let spec = UnixSocketSpec { path: path.clone(), mode: 0o600, owner: None, group: None };
    let mut sockets = Sockets::new("test");
    sockets.unix("lmtp", None, &spec).unwrap();
    let mut server = start(sockets, LONG);

    // Both are served at once: neither waits for the other to finish.
    let mut clients = Vec::new();
    for word in ["one", "two"] {
        let mut c = tokio::net::UnixStream::connect(&path).await.unwrap();
        c.write_all(format!("{word}\n").as_bytes()).await.unwrap();
        tokio::time::timeout(LONG, server.started.recv()).await.unwrap().unwrap();
        clients.push((word, c));
    }
    assert_eq!(server.shutdown.in_flight(), 2);
    server.release.add_permits(2);
    for (word, mut c) in clients {
        let mut reply = String::new();
        c.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, format!("{word} from unix on lmtp"));
    }
    server.shutdown.trigger();
    tokio::time::timeout(LONG, server.task).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn background_tasks_stop_after_the_connections_drain() {
    let sockets = tcp().await;
    let addr = sockets.tcp_addrs()[0];
    let mut service = sockets.start("", "", None).unwrap();
    let shutdown = service.shutdown();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let tx = events_tx.clone();
    service.background(move |stop| async move {
        stop.cancelled().await;
        tx.send("background stopped").unwrap();
    });
    let task = tokio::spawn(service.serve(LONG, move |_, stream, _| {
        let tx = events_tx.clone();
        async move {
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line).await.unwrap();
            tx.send("connection ended").unwrap();
        }
    }));
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"x").await.unwrap();
    // Wait until the connection is being served, then stop with it still open.
    while shutdown.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.trigger();
    client.write_all(b"\n").await.unwrap();
    tokio::time::timeout(LONG, task).await.unwrap().unwrap().unwrap();
    assert_eq!(events.recv().await, Some("connection ended"));
    assert_eq!(events.recv().await, Some("background stopped"));
}

#[tokio::test]
async fn nothing_to_serve_is_an_error() {
    let service = Sockets::<&str>::new("test").start("", "", None).unwrap();
    let e = service.serve(LONG, |_, _, _| async {}).await.unwrap_err();
    assert!(e.to_string().contains("nothing to listen on"), "{e}");
}
