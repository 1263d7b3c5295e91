//! One HTTP/2 connection of the pool: opened and driven by a task of its
//! own, the leases of the requests on it, and its eviction.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures_channel::oneshot;
use futures_util::future::{Either, select};
use hyper::client::conn::http2::{self, SendRequest};
use s2_core::{
    Error,
    api::HttpRequest,
    error::{ProtocolError, Sent},
    frame,
};

use super::{Dial, HostKey, Hosts, Scheme, Transport, forget};
use crate::{
    body::RequestBody,
    runtime::{BoxIo, ConnectTarget, HyperExecutor, HyperTimer, Runtime, timeout},
    sync::Mutex,
};

/// Largest HTTP/2 DATA frame the server may send: a whole session frame
/// (prefix and body), which the decoder then hands out without copying.
const MAX_DATA_FRAME: u32 = (frame::PREFIX_LEN + frame::MAX_FRAME_LEN) as u32;

/// Bytes of a stream's request body h2 buffers before hyper stops asking
/// the body for more (hyper's default is 1 MiB). A whole frame is taken
/// even past it, and hyper holds one more while it waits for room, so a
/// session's frames wait this, two frames and the body's own budget at most.
const SEND_BUFFER: usize = 64 * 1024;

/// Reads the peer's current `SETTINGS_MAX_CONCURRENT_STREAMS` from a
/// connection driven by its task (it may change at any time).
type PeerMaxStreams = Box<dyn Fn() -> Option<usize> + Send + Sync>;

/// An open connection: a handle to send on and what is known about it.
#[derive(Clone)]
pub(super) struct Connection {
    pub(super) sender: SendRequest<RequestBody>,
    pub(super) state: Arc<ConnectionState>,
}

impl Connection {
    /// Whether new requests may go out on it at all.
    pub(super) fn usable(&self) -> bool {
        !self.sender.is_closed() && !self.state.evicted.load(Ordering::Acquire)
    }

    /// Requests it takes at once: the configured cap, or the peer's lower
    /// limit once known. A peer advertising no streams at all still gets
    /// one request: it times out and evicts the connection, rather than
    /// every request opening a connection of its own.
    pub(super) fn capacity(&self) -> usize {
        let peer = (self.state.peer_max_streams)().unwrap_or(0).max(1);
        self.state.max_requests.min(peer)
    }

    /// Whether one more request fits under its stream limit.
    pub(super) fn has_room(&self) -> bool {
        self.state.in_flight.load(Ordering::Acquire) < self.capacity()
    }

    /// Takes a place on it for one request. Callers check for room first,
    /// under the hosts lock, so that two callers cannot take the last place.
    pub(super) fn checkout(&self, now: Instant) -> Checkout {
        self.state.touch(now);
        Checkout {
            sender: self.sender.clone(),
            lease: Lease::new(self.state.clone()),
        }
    }
}

/// What the transport tracks about one connection.
pub(super) struct ConnectionState {
    /// Distinguishes connections in logs.
    pub(super) id: u64,
    /// Set once the connection must take no new requests.
    evicted: AtomicBool,
    /// Tells the connection's task to close it (taken by the first
    /// eviction).
    close: Mutex<Option<oneshot::Sender<()>>>,
    /// Requests in flight: leases held, unary and session.
    in_flight: AtomicUsize,
    /// Most requests in flight at once, from the configuration.
    max_requests: usize,
    /// The peer's current `SETTINGS_MAX_CONCURRENT_STREAMS` (`None` once
    /// the connection's task is over).
    pub(super) peer_max_streams: PeerMaxStreams,
    /// When the last request went out or ended.
    last_used: Mutex<Instant>,
    /// The runtime's clock.
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
}

impl ConnectionState {
    pub(super) fn touch(&self, now: Instant) {
        *self.last_used.lock() = now;
    }

    fn idle_since(&self) -> Option<Instant> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| *self.last_used.lock())
    }

    /// Marks the connection unusable and asks its task to close it. Requests
    /// already sent on it keep their streams; queued ones fail unsent.
    pub(super) fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        let close = self.close.lock().take();
        if let Some(close) = close {
            tracing::debug!(connection = self.id, "evicting HTTP/2 connection");
            let _ = close.send(());
        }
    }
}

/// The connection a request went out on: evict it when it proved bad (a
/// session's heartbeat or ack deadline passed, or the server advised
/// leaving it), so that no new request goes out on it.
#[derive(Clone)]
pub(crate) struct ConnectionHandle(Arc<ConnectionState>);

impl ConnectionHandle {
    /// Stops the connection from taking new requests and closes it once
    /// the requests on it are done. Harmless if it is already closed or
    /// evicted.
    pub(crate) fn evict(&self) {
        self.0.evict();
    }
}

impl std::fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ConnectionHandle").field(&self.0.id).finish()
    }
}

/// One request's place on a connection, counted against its limit for as
/// long as the lease lives: hold it until the response (body or session
/// stream) is done with.
pub(crate) struct Lease(pub(super) Arc<ConnectionState>);

impl Lease {
    /// Takes a place on `state`'s connection. Callers check for room first,
    /// under the hosts lock, so that two callers cannot take the last place.
    pub(super) fn new(state: Arc<ConnectionState>) -> Self {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(state)
    }

    /// The connection the lease is on.
    pub(crate) fn connection(&self) -> ConnectionHandle {
        ConnectionHandle(self.0.clone())
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Lease").field(&self.0.id).finish()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        // The idle period starts when the last request ends, not when it
        // began: a connection that carried a long session is not idle.
        self.0.touch((self.0.clock)());
    }
}

/// A connection chosen for one request, its place already taken.
pub(crate) struct Checkout {
    pub(super) sender: SendRequest<RequestBody>,
    pub(super) lease: Lease,
}

impl Checkout {
    /// The connection the request will go out on.
    pub(crate) fn connection(&self) -> ConnectionHandle {
        self.lease.connection()
    }

    /// Sends `request` with `body`; returns the response head and body
    /// stream, with the lease to hold while the body is read.
    pub(crate) async fn send(
        self,
        request: &HttpRequest,
        body: RequestBody,
    ) -> Result<(http::Response<hyper::body::Incoming>, Lease), Error> {
        let response = send_on(self.sender, request, body).await?;
        Ok((response, self.lease))
    }
}

/// The future that drives one HTTP/2 connection.
type H2Connection<R> = http2::Connection<BoxIo, RequestBody, HyperExecutor<R>>;

/// An HTTP/2 connection's future, owned by its task (which polls it) and
/// only peeked at by the pool (for the peer's stream limit).
type Driven<R> = Arc<Mutex<Pin<Box<H2Connection<R>>>>>;

impl<R: Runtime> Transport<R> {
    /// Opens a connection to `dial` and spawns the task that drives it
    /// until it fails, is evicted or sits idle, then forgets it from the
    /// pool of `key`.
    pub(super) async fn connect(&self, dial: &Dial, key: HostKey) -> Result<Connection, Error> {
        let connect_timeout = self.config.connect_timeout();
        let (sender, connection) = timeout(&self.runtime, connect_timeout, self.handshake(dial))
            .await
            .ok_or_else(|| {
                let Dial { host, port, .. } = dial;
                Error::transport(Sent::No, format!("connecting to {host}:{port} timed out"))
            })??;
        // The task drives the connection; the pool only peeks at it, and
        // must not keep it alive: dropping it is how it gets closed.
        let driven: Driven<R> = Arc::new(Mutex::new(Box::pin(connection)));
        let (close_tx, close_rx) = oneshot::channel();
        let state = Arc::new(self.connection_state(&driven, close_tx));
        tracing::debug!(
            connection = state.id,
            host = dial.host,
            port = dial.port,
            "opened HTTP/2 connection"
        );
        crate::metrics::connection_opened();
        self.spawn_driver(driven, state.clone(), close_rx, key);
        Ok(Connection { sender, state })
    }

    /// Dials `dial` (TCP, then TLS with ALPN `h2` when it is https: the
    /// runtime's part) and makes the HTTP/2 handshake on it; the caller
    /// bounds it with the connect timeout.
    async fn handshake(
        &self,
        dial: &Dial,
    ) -> Result<(SendRequest<RequestBody>, H2Connection<R>), Error> {
        let io = self
            .runtime
            .connect(self.connect_target(dial))
            .await
            .map_err(connect_error)?;
        self.http2_builder()
            .handshake::<_, RequestBody>(io)
            .await
            .map_err(|e| Error::transport(Sent::No, e))
    }

    /// Where the runtime connects for `dial`, with the client's TLS
    /// configuration when it is https.
    fn connect_target(&self, dial: &Dial) -> ConnectTarget {
        ConnectTarget {
            // An IPv6 literal comes bracketed in a URI authority.
            host: dial
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: dial.port,
            tls: (dial.scheme == Scheme::Https).then(|| self.tls.clone()),
        }
    }

    /// The HTTP/2 settings of a new connection, from the configuration.
    fn http2_builder(&self) -> http2::Builder<HyperExecutor<R>> {
        let mut builder = http2::Builder::new(HyperExecutor(self.runtime.clone()));
        builder
            .timer(HyperTimer(self.runtime.clone()))
            // Fixed windows: an adaptive connection window equals the
            // stream window, so one unread session would stall them all.
            .adaptive_window(false)
            .initial_stream_window_size(self.config.stream_receive_window())
            .initial_connection_window_size(self.config.connection_receive_window())
            .max_frame_size(Some(MAX_DATA_FRAME))
            // A session's later frames wait in the session as inputs,
            // encoded only once HTTP/2 has room for them.
            .max_send_buf_size(SEND_BUFFER)
            // Until the peer's SETTINGS say otherwise.
            .initial_max_send_streams(Some(self.config.max_concurrent_requests_per_connection()));
        if let Some(interval) = self.config.keepalive_interval() {
            builder
                .keep_alive_interval(Some(interval))
                .keep_alive_timeout(self.config.keepalive_timeout())
                .keep_alive_while_idle(true);
        }
        builder
    }

    /// What the pool tracks about the connection `driven`, which `close`
    /// asks its task to close.
    fn connection_state(&self, driven: &Driven<R>, close: oneshot::Sender<()>) -> ConnectionState {
        let peek = Arc::downgrade(driven);
        let peer_max_streams: PeerMaxStreams = Box::new(move || {
            let connection = peek.upgrade()?;
            let connection = connection.lock();
            Some(connection.as_ref().get_ref().current_max_send_streams())
        });
        let runtime = self.runtime.clone();
        ConnectionState {
            id: self.next_connection.fetch_add(1, Ordering::Relaxed),
            evicted: AtomicBool::new(false),
            close: Mutex::new(Some(close)),
            in_flight: AtomicUsize::new(0),
            max_requests: self.config.max_concurrent_requests_per_connection(),
            peer_max_streams,
            last_used: Mutex::new(self.runtime.now()),
            clock: Box::new(move || runtime.now()),
        }
    }

    /// Spawns the task that drives `driven` until it ends, `close_rx`
    /// fires (an eviction) or it sits idle; then marks it evicted and
    /// forgets it from the pool of `key`.
    fn spawn_driver(
        &self,
        driven: Driven<R>,
        state: Arc<ConnectionState>,
        close_rx: oneshot::Receiver<()>,
        key: HostKey,
    ) {
        let runtime = self.runtime.clone();
        let idle_timeout = self.idle_timeout;
        let hosts = Arc::downgrade(&self.hosts);
        self.runtime.spawn(Box::pin(async move {
            let connection = futures_util::future::poll_fn(|cx| driven.lock().as_mut().poll(cx));
            let idle = std::pin::pin!(idle(&runtime, &state, &hosts, idle_timeout));
            let closing = select(close_rx, idle);
            // Dropping the connection future ends its dispatch task: hyper
            // then shuts the connection down once its streams are done.
            let id = state.id;
            match select(connection, closing).await {
                Either::Left((Err(e), _)) => {
                    tracing::debug!(
                        connection = id,
                        error = %crate::trace::Chain(&e),
                        "HTTP/2 connection ended"
                    )
                }
                Either::Left((Ok(()), _)) => {
                    tracing::debug!(connection = id, "HTTP/2 connection closed")
                }
                Either::Right(_) => tracing::debug!(
                    connection = id,
                    "closing an evicted or idle HTTP/2 connection"
                ),
            }
            crate::metrics::connection_closed();
            drop(driven);
            state.evicted.store(true, Ordering::Release);
            if let Some(hosts) = hosts.upgrade() {
                forget(&hosts, &key, &state);
            }
        }));
    }
}

/// Sends one request on `sender`.
async fn send_on(
    mut sender: SendRequest<RequestBody>,
    request: &HttpRequest,
    body: RequestBody,
) -> Result<http::Response<hyper::body::Incoming>, Error> {
    sender
        .ready()
        .await
        .map_err(|e| Error::transport(Sent::No, e))?;
    let mut http = http::Request::new(body);
    *http.method_mut() = request.method.clone();
    *http.uri_mut() = request.uri.clone();
    *http.headers_mut() = request.headers.clone();
    sender.try_send_request(http).await.map_err(|mut e| {
        // hyper hands the request back when it was never sent.
        let sent = if e.take_message().is_none() && !not_processed(e.error()) {
            Sent::Maybe
        } else {
            Sent::No
        };
        Error::transport(sent, e.into_error())
    })
}

/// Whether the peer said it did not process the request (RFC 9113): it
/// refused the stream (`REFUSED_STREAM`, section 8.7), or sent a GOAWAY
/// whose last stream id is below it (section 6.8). h2 reports the latter,
/// and a request it could not start once a GOAWAY came, as the GOAWAY
/// itself, from the remote; a graceful restart is such a GOAWAY.
fn not_processed(error: &hyper::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return h2.is_remote()
                && (h2.is_go_away() || h2.reason() == Some(h2::Reason::REFUSED_STREAM));
        }
        source = error.source();
    }
    false
}

/// Completes once the connection has had no request for `idle_timeout`,
/// with the connection marked evicted: decided under the hosts lock, which
/// every checkout takes, so no request can take a place on it meanwhile.
async fn idle<R: Runtime>(
    runtime: &R,
    state: &ConnectionState,
    hosts: &std::sync::Weak<Hosts>,
    idle_timeout: Duration,
) {
    let mut wait = idle_timeout;
    loop {
        runtime.sleep(wait).await;
        let now = runtime.now();
        wait = match state.idle_since() {
            Some(since) => match since
                .checked_add(idle_timeout)
                .and_then(|end| end.checked_duration_since(now))
            {
                Some(left) if !left.is_zero() => left,
                _ => {
                    let Some(hosts) = hosts.upgrade() else {
                        return;
                    };
                    let _checkouts = hosts.lock();
                    if state.in_flight.load(Ordering::Acquire) == 0 {
                        state.evicted.store(true, Ordering::Release);
                        return;
                    }
                    // A request took a place since: busy after all.
                    idle_timeout
                }
            },
            // Busy: look again a full period later.
            None => idle_timeout,
        };
    }
}

/// The error of a failed connect: a TLS failure that retrying cannot fix
/// (a certificate refused, a server that shares no protocol version or
/// cipher with the client) fails at once, as a handshake error; anything
/// else (refused, reset, unreachable, a name not resolved yet) is a
/// transport error, retried within the retry budget.
fn connect_error(error: std::io::Error) -> Error {
    match lasting_tls_failure(&error) {
        Some(tls) => ProtocolError::Handshake(format!("TLS: {tls}")).into(),
        None => Error::transport(Sent::No, error),
    }
}

/// The TLS failure in `error`'s chain that a retry would meet again.
fn lasting_tls_failure<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut cause: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &'a (dyn std::error::Error + 'static));
        if let Some(tls) = error
            .downcast_ref::<rustls::Error>()
            .or_else(|| inner.and_then(|i| i.downcast_ref::<rustls::Error>()))
        {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::InvalidCertRevocationList(_)
                    | rustls::Error::PeerIncompatible(_)
            )
            .then_some(tls);
        }
        cause = inner.or_else(|| error.source());
    }
    None
}

#[cfg(test)]
mod connect_error_tests {
    use super::*;

    #[test]
    fn a_refused_certificate_fails_at_once_and_a_refused_connection_is_retried() {
        let certificate =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let error = connect_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            certificate,
        ));
        assert!(!error.is_retryable(), "{error:?}");
        assert!(!error.may_have_side_effect());
        assert!(error.to_string().contains("TLS"), "{error}");
        let refused = connect_error(std::io::ErrorKind::ConnectionRefused.into());
        assert!(refused.is_retryable());
        let transient = connect_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::DecryptError,
        ));
        assert!(transient.is_retryable(), "{transient:?}");
    }
}
