//! Connection replacement, against a scripted HTTP/2 peer: a blocking
//! listener that completes the handshake and answers pings, then answers
//! requests, ignores them, or forbids them.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::atomic::AtomicUsize,
    thread,
    time::Instant,
};

use hyper_util::rt::TokioIo;
use s2_core::api::Endpoints;

use super::*;
use crate::runtime::{BoxIo, ConnectFuture, ConnectTarget, SleepFuture, Task};

mod dials;
mod sessions;

/// The client's runtime for these tests: tokio.
#[derive(Clone)]
struct Tokio;

impl Runtime for Tokio {
    fn spawn(&self, task: Task) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn connect(&self, target: ConnectTarget) -> ConnectFuture {
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            // As the shipped runtimes: the connection keeps a duplicate of
            // its socket, which must not keep it open once dropped.
            let acks = crate::runtime::PromptAcks::of(&tcp)?;
            Ok(Box::new(acks.wrap(TokioIo::new(tcp))) as BoxIo)
        })
    }
}

/// What the scripted peer does with requests.
#[derive(Clone, Copy, PartialEq)]
enum Peer {
    /// Never answers (but answers pings).
    Stall,
    /// Advertises `MAX_CONCURRENT_STREAMS = 0`: no request can start.
    ZeroStreams,
    /// Advertises `MAX_CONCURRENT_STREAMS = 1`, then never answers.
    OneStream,
    /// Answers every request with an empty 200.
    Answer,
    /// Answers the first request, then sends GOAWAY.
    AnswerThenGoAway,
    /// Refuses every stream with `RST_STREAM(REFUSED_STREAM)`.
    RefuseStreams,
    /// Answers a request with GOAWAY naming the stream before it as the
    /// last one processed (a graceful restart).
    GoAwayBeforeEachStream,
    /// Opens the first session it is asked for and ends it at once with an
    /// error frame (`server_draining`); never answers a later request.
    DrainFirstSession,
    /// Opens every append session, and acknowledges each batch of one
    /// record (every DATA frame) 200 ms after it comes.
    AckLate,
}

/// A scripted HTTP/2 peer on a loopback port.
struct Server {
    port: u16,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    /// Requests received (HEADERS frames), on every connection.
    requests: Arc<AtomicUsize>,
}

const FRAME_DATA: u8 = 0;
const FRAME_HEADERS: u8 = 1;
const FRAME_RST_STREAM: u8 = 3;
const FRAME_SETTINGS: u8 = 4;
const FRAME_PING: u8 = 6;
const FRAME_GOAWAY: u8 = 7;
const FLAG_ACK: u8 = 0x1;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;

impl Server {
    fn start(peer: Peer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("bound address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (counter, closer, asked) = (accepted.clone(), closed.clone(), requests.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let (closer, asked) = (closer.clone(), asked.clone());
                thread::spawn(move || {
                    // Any I/O error ends the connection, like an EOF.
                    let _ = serve(stream, peer, &asked);
                    closer.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port,
            accepted,
            closed,
            requests,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    fn request(&self) -> HttpRequest {
        HttpRequest {
            method: http::Method::GET,
            uri: format!("http://127.0.0.1:{}/v1/x", self.port)
                .parse()
                .expect("valid URI"),
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
        }
    }
}

fn write_frame(
    stream: &mut TcpStream,
    kind: u8,
    flags: u8,
    id: u32,
    payload: &[u8],
) -> std::io::Result<()> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}

/// Speaks just enough HTTP/2 for `peer`, until the client goes away.
fn serve(mut stream: TcpStream, peer: Peer, requests: &AtomicUsize) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    stream.read_exact(&mut preface)?;
    let settings: &[u8] = match peer {
        // SETTINGS_MAX_CONCURRENT_STREAMS (3) = 0.
        Peer::ZeroStreams => &[0, 3, 0, 0, 0, 0],
        Peer::OneStream => &[0, 3, 0, 0, 0, 1],
        _ => &[],
    };
    write_frame(&mut stream, FRAME_SETTINGS, 0, 0, settings)?;
    let mut answered = 0;
    let mut acked = 0;
    loop {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload)?;
        let request = match kind {
            FRAME_HEADERS => requests.fetch_add(1, Ordering::SeqCst) + 1,
            _ => 0,
        };
        match kind {
            FRAME_HEADERS if peer == Peer::AckLate => {
                write_frame(&mut stream, FRAME_HEADERS, FLAG_END_HEADERS, id, &[0x88])?;
            }
            FRAME_DATA if peer == Peer::AckLate && !payload.is_empty() => {
                thread::sleep(Duration::from_millis(200));
                let position = |seq_num| s2_core::types::StreamPosition::new(seq_num, 0);
                let ack = s2_core::types::AppendAck {
                    start: position(acked),
                    end: position(acked + 1),
                    tail: position(acked + 1),
                };
                acked += 1;
                let mut frame = bytes::BytesMut::new();
                let plain = s2_core::frame::Compression::None;
                s2_core::frame::encode_message(&mut frame, &ack, plain).expect("a small frame");
                write_frame(&mut stream, FRAME_DATA, 0, id, &frame)?;
            }
            FRAME_SETTINGS if flags & FLAG_ACK == 0 => {
                write_frame(&mut stream, FRAME_SETTINGS, FLAG_ACK, 0, &[])?;
            }
            FRAME_PING if flags & FLAG_ACK == 0 => {
                write_frame(&mut stream, FRAME_PING, FLAG_ACK, 0, &payload)?;
            }
            FRAME_HEADERS if matches!(peer, Peer::Answer | Peer::AnswerThenGoAway) => {
                // HPACK static index 8: `:status: 200`.
                write_frame(&mut stream, FRAME_HEADERS, FLAG_END_HEADERS, id, &[0x88])?;
                write_frame(&mut stream, FRAME_DATA, FLAG_END_STREAM, id, b"ok")?;
                answered += 1;
                if peer == Peer::AnswerThenGoAway && answered == 1 {
                    let mut goaway = id.to_be_bytes().to_vec();
                    goaway.extend_from_slice(&0u32.to_be_bytes());
                    write_frame(&mut stream, FRAME_GOAWAY, 0, 0, &goaway)?;
                }
            }
            FRAME_HEADERS if peer == Peer::RefuseStreams => {
                // REFUSED_STREAM (7).
                write_frame(&mut stream, FRAME_RST_STREAM, 0, id, &7u32.to_be_bytes())?;
            }
            FRAME_HEADERS if peer == Peer::GoAwayBeforeEachStream => {
                // Last stream id, then NO_ERROR (0).
                let mut goaway = id.saturating_sub(2).to_be_bytes().to_vec();
                goaway.extend_from_slice(&0u32.to_be_bytes());
                write_frame(&mut stream, FRAME_GOAWAY, 0, 0, &goaway)?;
            }
            FRAME_HEADERS if peer == Peer::DrainFirstSession && request == 1 => {
                write_frame(&mut stream, FRAME_HEADERS, FLAG_END_HEADERS, id, &[0x88])?;
                let mut frame = bytes::BytesMut::new();
                let error = br#"{"code":"server_draining","message":"draining"}"#;
                s2_core::frame::encode_terminal(&mut frame, 503, error).expect("a small frame");
                write_frame(&mut stream, FRAME_DATA, FLAG_END_STREAM, id, &frame)?;
            }
            _ => {}
        }
    }
}

fn transport(server: &Server, idle_timeout: Duration) -> Transport<Tokio> {
    transport_with(server, idle_timeout, |config| config)
}

fn transport_with(
    server: &Server,
    idle_timeout: Duration,
    configure: impl FnOnce(ClientConfig) -> ClientConfig,
) -> Transport<Tokio> {
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let config = ClientConfig::new("token")
        .with_endpoints(Endpoints::single(&endpoint).expect("valid endpoint"))
        .with_request_timeout(Duration::from_millis(300));
    // Frequent pings: they must not keep an idle connection open.
    let config = configure(config).with_keepalive_interval(Some(Duration::from_millis(50)));
    let mut transport = Transport::new(Tokio, Arc::new(config)).expect("transport");
    transport.idle_timeout = idle_timeout;
    transport
}

/// Waits up to two seconds for `condition`.
async fn eventually(condition: impl Fn() -> bool) -> bool {
    for _ in 0..200 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

#[tokio::test]
async fn a_timed_out_call_evicts_a_connection_that_never_answers() {
    let server = Server::start(Peer::Stall);
    let transport = transport(&server, IDLE_TIMEOUT);
    for attempt in 1..=3 {
        let result = transport.send(&server.request(), Duration::ZERO).await;
        assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
        // Each attempt went out on a connection of its own.
        assert_eq!(server.accepted(), attempt);
    }
    // The evicted connections are closed, not left pinging forever.
    assert!(
        eventually(|| server.closed() >= 2).await,
        "closed {}",
        server.closed()
    );
}

#[tokio::test]
async fn a_timed_out_call_evicts_a_connection_without_streams() {
    let server = Server::start(Peer::ZeroStreams);
    let transport = transport(&server, IDLE_TIMEOUT);
    for attempt in 1..=2 {
        let result = transport.send(&server.request(), Duration::ZERO).await;
        assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
        assert_eq!(server.accepted(), attempt);
    }
}

#[tokio::test]
async fn the_allowance_extends_the_deadline() {
    let server = Server::start(Peer::Stall);
    let transport = transport(&server, IDLE_TIMEOUT);
    let started = Instant::now();
    let result = transport
        .send(&server.request(), Duration::from_millis(400))
        .await;
    assert!(matches!(result, Err(Error::Timeout(d)) if d == Duration::from_millis(700)));
    assert!(started.elapsed() >= Duration::from_millis(700));
}

/// A request the peer says it did not process, refused with
/// `REFUSED_STREAM` or above the last stream id of a GOAWAY, was not sent
/// as far as its effects go: safe to retry, whatever the retry policy.
#[tokio::test]
async fn a_stream_the_peer_did_not_process_was_not_sent() {
    for peer in [Peer::RefuseStreams, Peer::GoAwayBeforeEachStream] {
        let server = Server::start(peer);
        let transport = transport(&server, IDLE_TIMEOUT);
        let result = transport.send(&server.request(), Duration::ZERO).await;
        assert!(
            matches!(result, Err(Error::Transport { sent: false, .. })),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_that_sent_goaway_takes_no_new_requests() {
    let server = Server::start(Peer::AnswerThenGoAway);
    let transport = transport(&server, IDLE_TIMEOUT);
    let first = transport.send(&server.request(), Duration::ZERO).await;
    assert_eq!(first.expect("first answer").status, 200);
    assert!(eventually(|| server.closed() == 1).await);
    let second = transport.send(&server.request(), Duration::ZERO).await;
    assert_eq!(second.expect("second answer").status, 200);
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_forgotten() {
    let server = Server::start(Peer::Answer);
    let transport = transport(&server, Duration::from_millis(300));
    for _ in 0..3 {
        // Requests closer together than the idle period share a connection.
        let answer = transport.send(&server.request(), Duration::ZERO).await;
        assert_eq!(answer.expect("an answer").status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.accepted(), 1);
    assert_eq!(transport.host_count(), 1);
    // Keepalive pings every 50 ms do not keep it open.
    assert!(
        eventually(|| server.closed() == 1).await,
        "idle connection left open"
    );
    assert!(eventually(|| transport.host_count() == 0).await);
    let answer = transport.send(&server.request(), Duration::ZERO).await;
    assert_eq!(answer.expect("an answer").status, 200);
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_failed_connect_leaves_no_entry() {
    // A port nobody listens on: bind one, then free it.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port();
    let server = Server {
        port,
        accepted: Arc::default(),
        closed: Arc::default(),
        requests: Arc::default(),
    };
    let transport = transport(&server, IDLE_TIMEOUT);
    let result = transport.send(&server.request(), Duration::ZERO).await;
    assert!(
        matches!(result, Err(Error::Transport { sent: false, .. })),
        "{result:?}"
    );
    assert_eq!(transport.host_count(), 0);
}

#[tokio::test]
async fn a_full_connection_gets_a_sibling() {
    let server = Server::start(Peer::Stall);
    let transport = transport_with(&server, IDLE_TIMEOUT, |c| {
        c.with_max_concurrent_requests_per_connection(2)
    });
    let uri = server.request().uri;
    let mut leases = Vec::new();
    for _ in 0..5 {
        leases.push(transport.checkout(&uri).await.expect("checkout"));
    }
    // Two places per connection: 5 requests need 3 connections.
    assert_eq!(transport.connection_count(), 3);
    assert!(eventually(|| server.accepted() == 3).await);
    let per_connection = |leases: &[Checkout]| {
        let mut ids: Vec<u64> = leases.iter().map(|l| l.lease.0.id).collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(per_connection(&leases), [0, 0, 1, 1, 2]);
    // Places freed are taken again before any new connection is opened.
    leases.truncate(1);
    for _ in 0..3 {
        leases.push(transport.checkout(&uri).await.expect("checkout"));
    }
    assert_eq!(server.accepted(), 3);
    assert_eq!(per_connection(&leases), [0, 0, 1, 1]);
}

#[tokio::test]
async fn the_peer_stream_limit_caps_a_connection() {
    let server = Server::start(Peer::OneStream);
    let transport = transport(&server, IDLE_TIMEOUT);
    let uri = server.request().uri;
    let first = transport.checkout(&uri).await.expect("checkout");
    // Once the peer's SETTINGS are in, its limit (1) applies, well below the
    // configured one (100).
    let peer_limit = || (first.lease.0.peer_max_streams)();
    assert!(
        eventually(|| peer_limit() == Some(1)).await,
        "{:?}",
        peer_limit()
    );
    let second = transport.checkout(&uri).await.expect("checkout");
    assert_ne!(first.lease.0.id, second.lease.0.id);
    assert!(eventually(|| server.accepted() == 2).await);
}

#[tokio::test]
async fn a_session_keeps_its_connection_from_idling() {
    let server = Server::start(Peer::Stall);
    let transport = transport(&server, Duration::from_millis(200));
    let checkout = transport
        .checkout(&server.request().uri)
        .await
        .expect("checkout");
    // A long-lived request (a session) holds its lease: not idle.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(server.closed(), 0, "closed under a request in flight");
    drop(checkout);
    assert!(
        eventually(|| server.closed() == 1).await,
        "idle connection left open"
    );
}

#[tokio::test]
async fn an_evicted_connection_takes_no_new_requests() {
    let server = Server::start(Peer::Answer);
    let transport = transport(&server, IDLE_TIMEOUT);
    let uri = server.request().uri;
    let first = transport.checkout(&uri).await.expect("checkout");
    first.connection().evict();
    let second = transport.checkout(&uri).await.expect("checkout");
    assert_ne!(first.lease.0.id, second.lease.0.id);
    // A request not yet sent on the evicted connection fails unsent (and
    // can be retried safely); the new connection answers.
    let unsent = first
        .send(&server.request(), RequestBody::full(Bytes::new()))
        .await;
    assert!(
        matches!(unsent, Err(Error::Transport { sent: false, .. })),
        "{unsent:?}"
    );
    let (response, _lease) = second
        .send(&server.request(), RequestBody::full(Bytes::new()))
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    assert!(eventually(|| server.accepted() == 2).await);
}

/// Tokio, but every connection attempt fails after a while.
#[derive(Clone, Default)]
struct Unreachable {
    attempts: Arc<AtomicUsize>,
}

impl Runtime for Unreachable {
    fn spawn(&self, task: Task) {
        Tokio.spawn(task);
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        Tokio.sleep(duration)
    }

    fn now(&self) -> Instant {
        Tokio.now()
    }

    fn connect(&self, _: ConnectTarget) -> ConnectFuture {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err(std::io::Error::other("unreachable"))
        })
    }
}

#[tokio::test]
async fn callers_waiting_on_a_failed_connect_fail_with_it() {
    let runtime = Unreachable::default();
    let config = ClientConfig::new("token")
        .with_endpoints(Endpoints::single("http://127.0.0.1:9").expect("valid endpoint"));
    let transport = Transport::new(runtime.clone(), Arc::new(config)).expect("transport");
    let uri: http::Uri = "http://127.0.0.1:9/v1/x".parse().expect("valid URI");
    let started = Instant::now();
    let results = futures_util::future::join_all((0..5).map(|_| transport.checkout(&uri))).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Error::Transport { sent: false, .. })))
    );
    // One attempt for all five, not one after another.
    assert_eq!(runtime.attempts.load(Ordering::SeqCst), 1);
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(transport.host_count(), 0);
    // A later caller tries again.
    assert!(transport.checkout(&uri).await.is_err());
    assert_eq!(runtime.attempts.load(Ordering::SeqCst), 2);
}

/// A caller parked in the middle of connecting (its future not polled,
/// as a `select!` arm is while another arm runs) holds up nobody: the
/// attempt runs in its own task, and other callers share it.
#[tokio::test]
async fn a_parked_connect_does_not_hold_up_other_callers() {
    let server = Server::start(Peer::Answer);
    let transport = transport(&server, IDLE_TIMEOUT);
    let uri = server.request().uri;
    let mut parked = Box::pin(transport.checkout(&uri));
    assert!(futures_util::poll!(parked.as_mut()).is_pending());
    let result = transport.send(&server.request(), Duration::ZERO).await;
    assert!(
        result.is_ok(),
        "a call held up by a parked connect: {result:?}"
    );
    assert_eq!(transport.connection_count(), 1);
}

/// Callers that give up while a connection attempt hangs (their request
/// timeout fires) leave no entry behind once the attempt ends, and their
/// calls fail as never sent.
#[tokio::test]
async fn callers_that_give_up_while_connecting_leave_nothing_behind() {
    let config = ClientConfig::new("token")
        .with_endpoints(Endpoints::single("http://127.0.0.1:9").expect("valid endpoint"))
        .with_request_timeout(Duration::from_millis(50));
    let transport = Transport::new(Unreachable::default(), Arc::new(config)).expect("transport");
    for basin in 0..20 {
        let request = HttpRequest {
            method: http::Method::GET,
            uri: format!("http://b{basin}.example:9/v1/x")
                .parse()
                .expect("valid URI"),
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
        };
        let result = transport.send(&request, Duration::ZERO).await;
        assert!(
            matches!(result, Err(Error::Transport { sent: false, .. })),
            "{result:?}"
        );
    }
    assert!(eventually(|| transport.host_count() == 0).await);
}

/// Runs `setup` on a runtime that is then shut down (dropping the
/// client's tasks, the session drivers among them) while a peer stalls
/// every request, and `check` on another runtime with what `setup` gave.
fn across_a_shutdown_with_a_stalled_peer<T, S, C>(
    setup: impl FnOnce(crate::S2Stream<Tokio>) -> S,
    check: impl FnOnce(T) -> C,
) where
    S: Future<Output = T>,
    C: Future<Output = ()>,
{
    let server = Server::start(Peer::Stall);
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let config = ClientConfig::new("token")
        .with_endpoints(Endpoints::single(&endpoint).expect("valid endpoint"));
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let kept = first.block_on(async {
        let client = crate::S2::with_runtime(config, Tokio).expect("client");
        let stream = client
            .basin(s2_core::BasinName::new("shutdown-basin").expect("name"))
            .stream(s2_core::StreamName::new("s").expect("name"));
        let kept = setup(stream).await;
        // Let the driver open the session and send what it holds.
        tokio::time::sleep(Duration::from_millis(300)).await;
        kept
    });
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    second.block_on(check(kept));
}

/// A session whose driver vanished with a batch handed over cannot know
/// whether it landed: its close says so, as the batch's ack does, rather
/// than claim nothing was sent (a caller would resend and duplicate).
#[test]
fn a_session_close_after_its_driver_vanished_may_have_had_an_effect() {
    use s2_core::types::{AppendInput, AppendRecord};
    across_a_shutdown_with_a_stalled_peer(
        |stream| async move {
            let session = stream.append_session().expect("session");
            let input = AppendInput::new(vec![AppendRecord::new("x")]).expect("input");
            let ack = session.submit(input).await.expect("handed over");
            (session, ack)
        },
        |(session, ack)| async move {
            let ack = ack.await.expect_err("never acked");
            let close = session.close().await.expect_err("the driver is gone");
            assert!(ack.may_have_side_effect(), "{ack:?}");
            assert!(close.may_have_side_effect(), "{close:?}");
        },
    );
}

/// The same for a producer's close and flush.
#[test]
fn a_producer_close_after_its_driver_vanished_may_have_had_an_effect() {
    use s2_core::{batcher::BatcherConfig, types::AppendRecord};
    across_a_shutdown_with_a_stalled_peer(
        |stream| async move {
            let config = BatcherConfig::default().with_linger(Some(Duration::from_millis(1)));
            let producer = stream.producer(config).expect("producer");
            let ack = producer
                .submit(AppendRecord::new("x"))
                .await
                .expect("taken");
            (producer, ack)
        },
        |(producer, ack)| async move {
            let ack = ack.await.expect_err("never acked");
            assert!(ack.may_have_side_effect(), "{ack:?}");
            let flush = producer.flush().await.expect_err("the driver is gone");
            assert!(flush.may_have_side_effect(), "{flush:?}");
            let close = producer.close().await.expect_err("the driver is gone");
            assert!(close.may_have_side_effect(), "{close:?}");
        },
    );
}
