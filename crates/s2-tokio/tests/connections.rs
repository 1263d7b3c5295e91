//! A connection the runtime opens (which keeps a duplicate of its socket
//! handle, for `TCP_QUICKACK`) is closed at the TCP level once the client
//! lets go of it: when dropped, when shut down, when its TLS handshake
//! fails, and when the client is closed.

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use s2_tokio::{
    ClientConfig, S2, TokioRuntime,
    runtime::Runtime,
    runtime::{BoxIo, ConnectTarget},
};

fn target(addr: SocketAddr, tls: Option<Arc<rustls::ClientConfig>>) -> ConnectTarget {
    ConnectTarget {
        host: addr.ip().to_string(),
        port: addr.port(),
        tls,
    }
}

/// Whether the peer of `server` closes its side within a second: a read
/// that ends (EOF or reset) rather than times out.
fn peer_closes(server: &mut TcpStream) -> bool {
    server
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("read timeout");
    let mut buf = [0u8; 64];
    loop {
        match server.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

async fn connect_plain(listener: &TcpListener) -> (BoxIo, TcpStream) {
    let io = TokioRuntime
        .connect(target(listener.local_addr().expect("address"), None))
        .await
        .expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (io, server)
}

#[tokio::test]
async fn a_dropped_connection_is_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (io, mut server) = connect_plain(&listener).await;
    // Held, it stays open: the check below can tell.
    assert!(!peer_closes(&mut server), "closed while held");
    drop(io);
    assert!(
        peer_closes(&mut server),
        "the socket's duplicate kept it open"
    );
}

#[tokio::test]
async fn a_shut_down_connection_sends_its_fin() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (mut io, mut server) = connect_plain(&listener).await;
    std::future::poll_fn(|cx| hyper::rt::Write::poll_shutdown(std::pin::Pin::new(&mut io), cx))
        .await
        .expect("shutdown");
    assert!(peer_closes(&mut server), "no FIN after shutdown");
    drop(io);
}

/// The process's open file descriptors.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

#[tokio::test]
async fn failed_tls_handshakes_leave_no_descriptor_open() {
    if !std::path::Path::new("/proc/self/fd").exists() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    // Answers the client hello with plain text, then closes.
    let server = thread::spawn(move || {
        for _ in 0..50 {
            let (mut s, _) = listener.accept().expect("accept");
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            let _ = s.shutdown(Shutdown::Both);
        }
    });
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    );
    // One attempt first, so lazily opened descriptors are counted.
    let failed = TokioRuntime.connect(target(addr, Some(tls.clone()))).await;
    assert!(failed.is_err());
    let before = open_fds();
    for _ in 1..50 {
        let failed = TokioRuntime.connect(target(addr, Some(tls.clone()))).await;
        assert!(failed.is_err(), "a handshake with a plain-text peer");
    }
    server.join().expect("server");
    let after = open_fds();
    assert!(
        after <= before + 2,
        "{before} descriptors open before 49 failed handshakes, {after} after"
    );
}

/// A TCP forwarder in front of `upstream` that counts the connections it
/// accepted and those the client closed (its side ended).
struct Forwarder {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    client_closed: Arc<AtomicUsize>,
}

impl Forwarder {
    fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let client_closed = Arc::new(AtomicUsize::new(0));
        let (a, c) = (accepted.clone(), client_closed.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                a.fetch_add(1, Ordering::SeqCst);
                let server = TcpStream::connect(upstream).expect("upstream");
                let (mut c_read, mut s_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (mut s_read, mut c_write) = (server, client);
                let closed = c.clone();
                thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                    closed.fetch_add(1, Ordering::SeqCst);
                    let _ = s_write.shutdown(Shutdown::Both);
                });
                let keep = Mutex::new(());
                thread::spawn(move || {
                    let _guard = keep.lock();
                    let _ = std::io::copy(&mut s_read, &mut c_write);
                    let _ = c_write.shutdown(Shutdown::Write);
                });
            }
        });
        Self {
            addr,
            accepted,
            client_closed,
        }
    }
}

async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_client_closes_its_connections() {
    let server = s2_test_server::TestServer::start().expect("s2-lite");
    let forwarder = Forwarder::start(server.addr());
    let config = ClientConfig::new("test-token").with_endpoints(
        s2_tokio::config::Endpoints::single(&format!("http://{}", forwarder.addr))
            .expect("endpoint"),
    );
    let s2 = S2::new(config).expect("client");
    s2.list_basins(&Default::default())
        .await
        .expect("list basins");
    assert_eq!(forwarder.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(forwarder.client_closed.load(Ordering::SeqCst), 0);
    s2.close().await.expect("close");
    assert!(
        eventually(|| forwarder.client_closed.load(Ordering::SeqCst) == 1).await,
        "the client's connection stayed open after close"
    );
}
