//! A hostile HTTP/2 server: it answers the client's requests on the same
//! routes as s2-lite, but plays one [`Misbehaviour`] chosen at start, for
//! what a TCP proxy cannot fake (bad bodies, wrong acks, SETTINGS, PING,
//! GOAWAY and RST_STREAM).
//!
//! It speaks h2c with prior knowledge on `127.0.0.1:<random port>`, on a
//! thread with its own tokio runtime (like [`TestServer`](crate::TestServer)),
//! so tests on any runtime can use it. It counts the connections it accepts
//! and the requests it receives, so tests can check that a client evicts a
//! broken connection and does not reconnect in a tight loop.

mod play;
mod respond;
mod route;

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    task::Poll,
    thread,
    time::Duration,
};

use bytes::Bytes;
use s2_core::frame::Compression;

pub use route::Route;

/// What the server does wrong. Routes a misbehaviour does not concern are
/// answered sensibly (a tail, an empty page, acks in order), so a case
/// exercises exactly one fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// Unary calls get a 200 whose body is neither protobuf nor JSON; sessions
    /// get a 200 followed by bytes that are not frames.
    GarbageBody,
    /// Unary calls get a 200 streaming `bytes` bytes of body.
    OversizeBody {
        /// Length of the body.
        bytes: u64,
    },
    /// Unary reads get a 200 whose protobuf is `0a 00` (one empty record)
    /// repeated up to `bytes` bytes.
    EmptyRecords {
        /// Length of the body.
        bytes: u64,
    },
    /// Unary reads get a body with `content-encoding: coding` that inflates
    /// to `inflated` bytes, whatever the client asked for; read sessions get a
    /// frame compressed with `coding` that inflates far past the frame limit.
    CompressionBomb {
        /// `Zstd` or `Gzip`.
        coding: Compression,
        /// Size of the body once inflated.
        inflated: u64,
    },
    /// Append sessions get acks that contradict what was sent.
    BadAck(AckFault),
    /// Unary appends are acked at a position other than their
    /// `match_seq_num` (with the right record count).
    MisplacedUnaryAck,
    /// Reads (unary and sessions) return a record with sequence number
    /// `u64::MAX`.
    SeqNumMax,
    /// Reads (unary and sessions) return records going backwards within one
    /// response or connection.
    RecordsBackwards,
    /// `list_basins` answers the same page with `has_more: true` forever.
    EndlessPage,
    /// Requests are accepted and never answered; PINGs are answered.
    Unresponsive,
    /// The server's SETTINGS allow no concurrent streams at all.
    NoStreams,
    /// Sessions are served correctly at first, then cut by `Cut`: read
    /// sessions after their first batch, append sessions on their second
    /// input (which is not applied).
    SessionCut(Cut),
    /// Sessions are served correctly, but every frame advises reconnecting.
    ReconnectAdvice,
    /// Every call gets a 503 `unavailable` with `retry-after-ms: millis`.
    RetryAfter {
        /// The value of the header.
        millis: u64,
    },
    /// Requests presenting `Bearer <token>` get a 401 `authn` (sessions
    /// included, before any frame); others are answered sensibly.
    RefuseToken {
        /// The refused token.
        token: &'static str,
    },
    /// The first delete (of a basin or stream) is reset after it arrived, so
    /// its outcome is unknown; later deletes get a 404 `basin_not_found` or
    /// `stream_not_found`, as if the first had done it.
    DeleteAnswerLost,
    /// Every call gets an error whose body is a megabyte of text full of CR,
    /// LF and ANSI escapes; sessions get it in a terminal frame.
    HostileErrorBody(ErrorBody),
}

/// How acks contradict the inputs of an append session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckFault {
    /// The ack covers one record more than the input had.
    WrongCount,
    /// The second ack starts before the first one.
    Backwards,
    /// Two acks come back for the first input, the second for a batch never
    /// sent.
    NeverSent,
}

/// How a session or connection is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cut {
    /// GOAWAY on the connection, which then closes.
    GoAway,
    /// RST_STREAM (INTERNAL_ERROR) on the session's stream.
    Reset,
}

/// The shape of a hostile error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorBody {
    /// A JSON error whose `code` and `message` carry the hostile text.
    Json,
    /// The hostile text alone, not JSON.
    Raw,
}

/// Counters and state shared by every connection of one server.
struct Shared {
    misbehaviour: Misbehaviour,
    connections: AtomicU64,
    requests: AtomicU64,
    /// Requests per route, indexed by [`Route::index`].
    by_route: [AtomicU64; Route::COUNT],
    /// The tail of the (single, synthetic) stream appends go to.
    tail: AtomicU64,
    /// The compressed body of a compression bomb, built once.
    bomb: Option<Bytes>,
    /// Headers of the last request received.
    last_headers: std::sync::Mutex<Option<http::HeaderMap>>,
}

/// A running hostile server. Dropping it stops the server.
pub struct HostileServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HostileServer {
    /// Starts a server on `127.0.0.1:0` that plays `misbehaviour`.
    pub fn start(misbehaviour: Misbehaviour) -> io::Result<Self> {
        let bomb = match misbehaviour {
            Misbehaviour::CompressionBomb { coding, inflated } => {
                Some(respond::bomb(coding, inflated)?)
            }
            _ => None,
        };
        let shared = Arc::new(Shared {
            misbehaviour,
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            by_route: Default::default(),
            tail: AtomicU64::new(0),
            bomb,
            last_headers: Default::default(),
        });
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = thread::Builder::new()
            .name("s2-hostile".into())
            .spawn(move || {
                let runtime = match crate::server_runtime(1) {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        _ = accept_loop(listener, serving) => {}
                        _ = shutdown_rx => {}
                    }
                });
                // Handlers parked forever (`Unresponsive`) must not keep the
                // thread alive.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| io::Error::other("hostile server did not start within 30 s"))??;
        Ok(Self {
            addr,
            shared,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The misbehaviour this server plays.
    pub fn misbehaviour(&self) -> Misbehaviour {
        self.shared.misbehaviour
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// HTTP/2 requests received so far, on every route.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Headers of the last request received.
    pub fn last_request_headers(&self) -> Option<http::HeaderMap> {
        self.shared
            .last_headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// HTTP/2 requests received so far on `route`.
    pub fn requests_on(&self, route: Route) -> u64 {
        self.shared.by_route[route.index()].load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            // Out of descriptors, say: let some close.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(serve_connection(socket, shared.clone()));
    }
}

/// What a handler may ask of its connection.
#[derive(Clone)]
struct ConnectionHandle {
    goaway: tokio::sync::mpsc::UnboundedSender<()>,
}

impl ConnectionHandle {
    /// Sends GOAWAY and closes the connection, whatever streams are open.
    fn go_away(&self) {
        let _ = self.goaway.send(());
    }
}

async fn serve_connection(socket: tokio::net::TcpStream, shared: Arc<Shared>) {
    let _ = socket.set_nodelay(true);
    let mut builder = h2::server::Builder::new();
    if shared.misbehaviour == Misbehaviour::NoStreams {
        builder.max_concurrent_streams(0);
    }
    let Ok(mut connection) = builder.handshake::<_, Bytes>(socket).await else {
        return;
    };
    let (goaway_tx, mut goaway_rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = ConnectionHandle { goaway: goaway_tx };
    loop {
        // Polling the connection also answers PINGs and SETTINGS.
        let accepted = std::future::poll_fn(|cx| {
            while let Poll::Ready(Some(())) = goaway_rx.poll_recv(cx) {
                connection.abrupt_shutdown(h2::Reason::NO_ERROR);
            }
            connection.poll_accept(cx)
        })
        .await;
        let Some(Ok((request, respond))) = accepted else {
            return;
        };
        let route = Route::of(&request);
        *shared
            .last_headers
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(request.headers().clone());
        shared.requests.fetch_add(1, Ordering::SeqCst);
        shared.by_route[route.index()].fetch_add(1, Ordering::SeqCst);
        tokio::spawn(play::handle(
            shared.clone(),
            handle.clone(),
            route,
            request,
            respond,
        ));
    }
}
