//! Connection management: a pool of multiplexed HTTP/2 connections per
//! endpoint host, opened on demand and replaced when they fail, go away,
//! time out or sit idle.
//!
//! Every request in flight holds a [`Lease`] on its connection, unary calls
//! and sessions alike; a session keeps its lease for as long as its stream
//! lives. A connection takes requests up to its limit: the peer's
//! `SETTINGS_MAX_CONCURRENT_STREAMS`, capped by
//! [`ClientConfig::max_concurrent_requests_per_connection`]. When every
//! connection to a host is at its limit, the pool opens a sibling rather
//! than let the request queue behind long-lived sessions: unary calls are
//! never starved by sessions.
//!
//! A connection stops taking new requests when hyper reports it closed
//! (errors, a GOAWAY from the server) or when it is *evicted*: a unary call
//! on it timed out, or a session driver found it dead or was advised to
//! leave it ([`ConnectionHandle::evict`]). Its requests in flight finish on
//! it; later requests go to another connection. A connection with no
//! request for [`IDLE_TIMEOUT`] is closed even though keepalive pings still
//! succeed, and the host's entry is dropped once its last connection is
//! gone.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_channel::oneshot;
use futures_util::future::{Either, FutureExt, Shared, select};
use http_body_util::{BodyExt, Limited};
use hyper::client::conn::http2::{self, SendRequest};
use s2_core::{
    Error,
    api::{HttpRequest, HttpResponse, MAX_RESPONSE_BODY_BYTES},
    error::{ProtocolError, ValidationError},
};

use crate::{
    body::RequestBody,
    config::ClientConfig,
    runtime::{ConnectTarget, HyperExecutor, HyperTimer, Runtime, timeout},
    sync::lock,
};

/// How long a connection may go without a request before it is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Scheme and authority of an endpoint host.
type HostKey = (bool, String);

/// The pools of one client, shared with connection tasks so a closed
/// connection can remove itself.
type Hosts = Mutex<HashMap<HostKey, HostPool>>;

/// Reads the peer's current `SETTINGS_MAX_CONCURRENT_STREAMS` from a
/// connection driven by its task (it may change at any time).
type PeerMaxStreams = Box<dyn Fn() -> Option<usize> + Send + Sync>;

/// The HTTP/2 connections of one client.
///
/// Cheap to clone: a connection attempt runs in a task of its own with a
/// clone, so that it makes progress whether or not the caller that started
/// it is still polled (a caller parked in a `select!` must not hold up every
/// other request to the host).
#[derive(Clone)]
pub(crate) struct Transport<R: Runtime> {
    runtime: R,
    config: Arc<ClientConfig>,
    tls: Arc<rustls::ClientConfig>,
    hosts: Arc<Hosts>,
    idle_timeout: Duration,
    next_connection: Arc<AtomicU64>,
    /// Set by [`close`](Self::close): no request goes out any more.
    closed: Arc<AtomicBool>,
}

/// The connections to one host.
#[derive(Default)]
struct HostPool {
    /// Open connections, oldest first; new requests go to the first one
    /// with room, so the newest ones empty out and close when idle.
    connections: Vec<Connection>,
    /// The connection attempt under way: callers that find no room wait
    /// for it instead of each opening a connection.
    connecting: Option<Attempt>,
}

/// The outcome of one connection attempt, shared by every caller waiting
/// for it; the connection itself is in the pool by then.
type Attempt = Shared<oneshot::Receiver<Result<(), Error>>>;

/// Where a connection goes.
#[derive(Clone)]
struct Dial {
    host: String,
    port: u16,
    tls: bool,
}

/// What [`Transport::try_checkout`] found.
enum Room {
    /// A place on a connection with room.
    Taken(Checkout),
    /// No room: wait for the attempt under way.
    Wait(Attempt),
    /// No room and no attempt: start one, reporting to the sender.
    Dial(oneshot::Sender<Result<(), Error>>, Attempt),
}

/// Connection attempts one checkout waits through before giving up: each
/// one that succeeds adds a connection, so running out means connections
/// close (or fill up) as fast as they open.
const MAX_ATTEMPTS_PER_CHECKOUT: usize = 8;

/// An open connection: a handle to send on and what is known about it.
#[derive(Clone)]
struct Connection {
    sender: SendRequest<RequestBody>,
    state: Arc<ConnectionState>,
}

impl Connection {
    /// Whether new requests may go out on it at all.
    fn usable(&self) -> bool {
        !self.sender.is_closed() && !self.state.evicted.load(Ordering::Acquire)
    }

    /// Whether one more request fits under its stream limit.
    fn has_room(&self) -> bool {
        let in_flight = self.state.in_flight.load(Ordering::Acquire);
        // A peer advertising no streams at all still gets one request: it
        // times out and evicts the connection, rather than every request
        // opening a connection of its own.
        in_flight < self.state.max_requests
            && in_flight < (self.state.peer_max_streams)().unwrap_or(0).max(1)
    }
}

/// What the transport tracks about one connection.
struct ConnectionState {
    /// Distinguishes connections in logs.
    id: u64,
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
    peer_max_streams: PeerMaxStreams,
    /// When the last request went out or ended.
    last_used: Mutex<Instant>,
    /// The runtime's clock.
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
}

impl ConnectionState {
    fn touch(&self, now: Instant) {
        *lock(&self.last_used) = now;
    }

    fn idle_since(&self) -> Option<Instant> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| *lock(&self.last_used))
    }

    /// Marks the connection unusable and asks its task to close it. Requests
    /// already sent on it keep their streams; queued ones fail unsent.
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        let close = lock(&self.close).take();
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
pub(crate) struct Lease(Arc<ConnectionState>);

impl Lease {
    /// Takes a place on `state`'s connection. Callers check for room first,
    /// under the hosts lock, so that two callers cannot take the last place.
    fn new(state: Arc<ConnectionState>) -> Self {
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
    sender: SendRequest<RequestBody>,
    lease: Lease,
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

impl<R: Runtime> Transport<R> {
    pub(crate) fn new(runtime: R, config: Arc<ClientConfig>) -> Result<Self, Error> {
        if config.max_concurrent_requests_per_connection == 0 {
            return Err(ValidationError::InvalidConfig {
                reason: "max_concurrent_requests_per_connection must be at least 1".into(),
            }
            .into());
        }
        let tls = crate::tls::client_config(&config)?;
        Ok(Self {
            runtime,
            config,
            tls,
            hosts: Arc::new(Mutex::new(HashMap::new())),
            idle_timeout: IDLE_TIMEOUT,
            next_connection: Arc::new(AtomicU64::new(0)),
            closed: Arc::new(AtomicBool::new(false)),
        })
    }

    pub(crate) fn runtime(&self) -> &R {
        &self.runtime
    }

    /// Refuses every later request with [`Error::Closed`] and closes the
    /// pooled connections once the requests on them are done.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let hosts = std::mem::take(&mut *lock(&self.hosts));
        for connection in hosts.values().flat_map(|pool| &pool.connections) {
            connection.state.evict();
        }
    }

    /// A place for one request on a connection to the host of `uri` with
    /// room for it, connecting if every connection is full (or there is
    /// none). Callers that find no room share one connection attempt, which
    /// runs in its own task.
    pub(crate) async fn checkout(&self, uri: &http::Uri) -> Result<Checkout, Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed("the client is closed".into()));
        }
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let authority = uri
            .authority()
            .ok_or_else(|| Error::transport(false, "request URI has no host"))?;
        let key = (tls, authority.to_string());
        let dial = Dial {
            host: authority.host().to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            tls,
        };
        for _ in 0..MAX_ATTEMPTS_PER_CHECKOUT {
            let attempt = match self.try_checkout(&key) {
                Room::Taken(checkout) => return Ok(checkout),
                Room::Wait(attempt) => attempt,
                Room::Dial(done, attempt) => {
                    self.spawn_dial(key.clone(), dial.clone(), done);
                    attempt
                }
            };
            match attempt.await {
                // A connection came up: look again (others may have filled
                // it first; then the next attempt adds another).
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(oneshot::Canceled) => {
                    return Err(Error::transport(
                        false,
                        "the connection attempt was dropped",
                    ));
                }
            }
        }
        Err(Error::transport(
            false,
            format!("connections to {authority} closed or filled up as fast as they opened"),
        ))
    }

    /// Opens a connection to `dial` in a task of its own, adds it to the
    /// pool of `key` and reports to `done`.
    fn spawn_dial(&self, key: HostKey, dial: Dial, done: oneshot::Sender<Result<(), Error>>) {
        let transport = self.clone();
        self.runtime.spawn(Box::pin(async move {
            let result = transport.connect(&dial, key.clone()).await;
            let outcome = {
                let mut hosts = lock(&transport.hosts);
                let pool = hosts.entry(key.clone()).or_default();
                pool.connecting = None;
                match result {
                    Ok(fresh) => {
                        pool.connections.push(fresh);
                        Ok(())
                    }
                    Err(e) => {
                        if pool.connections.is_empty() {
                            hosts.remove(&key);
                        }
                        Err(e)
                    }
                }
            };
            // Nobody may be waiting any more: fine.
            let _ = done.send(outcome);
        }));
    }

    /// A place on a connection of `key` that has room, or the connection
    /// attempt to wait for (started by the caller if there is none). Drops
    /// connections that take no new requests: they close on their own once
    /// their streams end. A host gets an entry only with a connection or an
    /// attempt, so no caller leaves an empty one behind.
    fn try_checkout(&self, key: &HostKey) -> Room {
        let mut hosts = lock(&self.hosts);
        if let Some(pool) = hosts.get_mut(key) {
            pool.connections.retain(Connection::usable);
            if let Some(connection) = pool.connections.iter().find(|c| c.has_room()) {
                connection.state.touch(self.runtime.now());
                return Room::Taken(Checkout {
                    sender: connection.sender.clone(),
                    lease: Lease::new(connection.state.clone()),
                });
            }
            if let Some(attempt) = &pool.connecting {
                return Room::Wait(attempt.clone());
            }
        }
        let (done, attempt) = oneshot::channel();
        let attempt = attempt.shared();
        hosts.entry(key.clone()).or_default().connecting = Some(attempt.clone());
        Room::Dial(done, attempt)
    }

    async fn connect(&self, dial: &Dial, key: HostKey) -> Result<Connection, Error> {
        let Dial { host, port, tls } = dial;
        let (port, tls) = (*port, *tls);
        let target = ConnectTarget {
            // An IPv6 literal comes bracketed in a URI authority.
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            tls: tls.then(|| self.tls.clone()),
        };
        let connect_timeout = self.config.connect_timeout;
        let max_requests = self.config.max_concurrent_requests_per_connection;
        let handshake = async {
            let io = self
                .runtime
                .connect(target)
                .await
                .map_err(|e| Error::transport(false, e))?;
            let mut builder = http2::Builder::new(HyperExecutor(self.runtime.clone()));
            let (stream_window, connection_window) = self.config.receive_windows();
            builder
                .timer(HyperTimer(self.runtime.clone()))
                // Fixed windows: an adaptive connection window equals the
                // stream window, so one unread session would stall them all.
                .adaptive_window(false)
                .initial_stream_window_size(stream_window)
                .initial_connection_window_size(connection_window)
                .max_frame_size(Some(256 * 1024))
                // Until the peer's SETTINGS say otherwise.
                .initial_max_send_streams(Some(max_requests));
            if let Some(interval) = self.config.keepalive_interval {
                builder
                    .keep_alive_interval(Some(interval))
                    .keep_alive_timeout(self.config.keepalive_timeout)
                    .keep_alive_while_idle(true);
            }
            builder
                .handshake::<_, RequestBody>(io)
                .await
                .map_err(|e| Error::transport(false, e))
        };
        let (sender, connection) = timeout(&self.runtime, connect_timeout, handshake)
            .await
            .ok_or_else(|| {
                Error::transport(false, format!("connecting to {host}:{port} timed out"))
            })??;
        let (close_tx, close_rx) = oneshot::channel();
        // The task drives the connection; the pool only peeks at it, and
        // must not keep it alive: dropping it is how it gets closed.
        let driven = Arc::new(Mutex::new(Box::pin(connection)));
        let peek = Arc::downgrade(&driven);
        let peer_max_streams: PeerMaxStreams = Box::new(move || {
            let connection = peek.upgrade()?;
            let connection = lock(&connection);
            Some(connection.as_ref().get_ref().current_max_send_streams())
        });
        let state = Arc::new(ConnectionState {
            id: self.next_connection.fetch_add(1, Ordering::Relaxed),
            evicted: AtomicBool::new(false),
            close: Mutex::new(Some(close_tx)),
            in_flight: AtomicUsize::new(0),
            max_requests,
            peer_max_streams,
            last_used: Mutex::new(self.runtime.now()),
            clock: {
                let runtime = self.runtime.clone();
                Box::new(move || runtime.now())
            },
        });
        tracing::debug!(
            connection = state.id,
            host,
            port,
            "opened HTTP/2 connection"
        );
        crate::metrics::connection_opened();
        let task_state = state.clone();
        let runtime = self.runtime.clone();
        let idle_timeout = self.idle_timeout;
        let hosts = Arc::downgrade(&self.hosts);
        self.runtime.spawn(Box::pin(async move {
            let connection = futures_util::future::poll_fn(|cx| lock(&driven).as_mut().poll(cx));
            let idle = std::pin::pin!(idle(&runtime, &task_state, &hosts, idle_timeout));
            let closing = select(close_rx, idle);
            // Dropping the connection future ends its dispatch task: hyper
            // then shuts the connection down once its streams are done.
            let id = task_state.id;
            match select(connection, closing).await {
                Either::Left((Err(e), _)) => {
                    tracing::debug!(connection = id, error = %e, "HTTP/2 connection ended")
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
            task_state.evicted.store(true, Ordering::Release);
            if let Some(hosts) = hosts.upgrade() {
                forget(&hosts, &key, Some(&task_state));
            }
        }));
        Ok(Connection { sender, state })
    }

    /// Sends a unary request and collects its response within the request
    /// timeout plus `allowance` (the time the service may hold the request
    /// on purpose, such as a read's long-poll `wait`). A timed-out call
    /// evicts its connection: a peer that keeps a connection alive but
    /// never answers must not stall every later call.
    pub(crate) async fn send(
        &self,
        request: &HttpRequest,
        allowance: Duration,
    ) -> Result<HttpResponse, Error> {
        let deadline = self.config.request_timeout.saturating_add(allowance);
        let used: Mutex<Option<ConnectionHandle>> = Mutex::new(None);
        let exchange = async {
            let checkout = self.checkout(&request.uri).await?;
            *lock(&used) = Some(checkout.connection());
            let body = RequestBody::full(request.body.clone());
            let (response, _lease) = checkout.send(request, body).await?;
            let (parts, body) = response.into_parts();
            let body = collect_limited(body).await?;
            Ok(HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match timeout(&self.runtime, deadline, exchange).await {
            Some(result) => result,
            None => match lock(&used).take() {
                Some(connection) => {
                    connection.evict();
                    Err(Error::Timeout(deadline))
                }
                // It never reached a connection: provably not sent.
                None => Err(Error::transport(
                    false,
                    format!("no connection to {} within {deadline:?}", request.uri),
                )),
            },
        }
    }

    /// Hosts with an entry in the connection map (for tests).
    #[cfg(test)]
    fn host_count(&self) -> usize {
        lock(&self.hosts).len()
    }

    /// Connections in the pool of every host (for tests).
    #[cfg(test)]
    fn connection_count(&self) -> usize {
        let hosts = lock(&self.hosts);
        hosts.values().map(|pool| pool.connections.len()).sum()
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
        .map_err(|e| Error::transport(false, e))?;
    let mut http = http::Request::new(body);
    *http.method_mut() = request.method.clone();
    *http.uri_mut() = request.uri.clone();
    *http.headers_mut() = request.headers.clone();
    sender.try_send_request(http).await.map_err(|mut e| {
        // hyper hands the request back when it was never sent.
        let sent = e.take_message().is_none();
        Error::transport(sent, e.into_error())
    })
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
                    let _checkouts = lock(&hosts);
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

/// Removes `closed` from the pool of `key` (or nothing, after a failed
/// connect), then the pool itself if no connection is left and nobody is
/// connecting.
fn forget(hosts: &Hosts, key: &HostKey, closed: Option<&Arc<ConnectionState>>) {
    let mut hosts = lock(hosts);
    let Some(pool) = hosts.get_mut(key) else {
        return;
    };
    if let Some(closed) = closed {
        pool.connections.retain(|c| !Arc::ptr_eq(&c.state, closed));
    }
    // An attempt under way adds its connection to this entry.
    if pool.connections.is_empty() && pool.connecting.is_none() {
        hosts.remove(key);
    }
}

/// Reads a whole response body, refusing more than the response limit.
pub(crate) async fn collect_limited(body: hyper::body::Incoming) -> Result<Bytes, Error> {
    match Limited::new(body, MAX_RESPONSE_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ProtocolError::BodyTooLarge {
            limit: MAX_RESPONSE_BODY_BYTES,
        }
        .into()),
        Err(e) => Err(Error::transport(true, e)),
    }
}

#[cfg(test)]
mod tests;
