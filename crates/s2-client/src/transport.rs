//! Connection management: one multiplexed HTTP/2 connection per endpoint
//! host, opened on first use and replaced when it fails, goes away, times
//! out or sits idle.
//!
//! A connection stops taking new requests when hyper reports it closed
//! (errors, a GOAWAY from the server) or when it is *evicted*: a unary call
//! on it timed out, or a session driver found it dead
//! ([`Transport::evict`]). Its requests in flight finish on it; the next
//! request opens a fresh one. A connection with no request for
//! [`IDLE_TIMEOUT`] is closed even though keepalive pings still succeed, and
//! the host's entry is dropped once its connection is gone.

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
use futures_util::future::{Either, select};
use http_body_util::{BodyExt, Limited};
use hyper::client::conn::http2::{self, SendRequest};
use s2_core::{
    Error,
    api::{HttpRequest, HttpResponse, MAX_RESPONSE_BODY_BYTES},
    error::ProtocolError,
};

use crate::{
    body::RequestBody,
    config::ClientConfig,
    runtime::{ConnectTarget, HyperExecutor, HyperTimer, Runtime, timeout},
};

/// How long a connection may go without a request before it is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Scheme and authority of an endpoint host.
type HostKey = (bool, String);

/// The host slots of one client, shared with connection tasks so a closed
/// connection can remove its entry.
type Hosts = Mutex<HashMap<HostKey, Arc<HostSlot>>>;

/// The HTTP/2 connections of one client.
pub(crate) struct Transport<R: Runtime> {
    runtime: R,
    config: Arc<ClientConfig>,
    tls: Arc<rustls::ClientConfig>,
    hosts: Arc<Hosts>,
    idle_timeout: Duration,
    next_connection: AtomicU64,
}

/// The connection to one host; the async lock makes concurrent callers share
/// one connection attempt.
#[derive(Default)]
struct HostSlot {
    current: futures_util::lock::Mutex<Option<Connection>>,
}

/// An open connection: a handle to send on and what is known about it.
#[derive(Clone)]
struct Connection {
    sender: SendRequest<RequestBody>,
    state: Arc<ConnectionState>,
}

impl Connection {
    /// Whether new requests may go out on it.
    fn usable(&self) -> bool {
        !self.sender.is_closed() && !self.state.evicted.load(Ordering::Acquire)
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
    /// Unary requests in flight (a busy connection is not idle).
    in_flight: AtomicUsize,
    /// When the last request went out.
    last_used: Mutex<Instant>,
}

impl ConnectionState {
    fn touch(&self, now: Instant) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    fn idle_since(&self) -> Option<Instant> {
        (self.in_flight.load(Ordering::Acquire) == 0)
            .then(|| *self.last_used.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Marks the connection unusable and asks its task to close it. Requests
    /// already sent on it keep their streams; queued ones fail unsent.
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        let close = self.close.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(close) = close {
            tracing::debug!(connection = self.id, "evicting HTTP/2 connection");
            let _ = close.send(());
        }
    }
}

/// The connection a request went out on: hand it to [`Transport::evict`]
/// when that connection proved bad (a session's heartbeat or ack deadline
/// passed), so the next attempt does not reuse it.
#[derive(Clone)]
pub(crate) struct ConnectionHandle(Arc<ConnectionState>);

impl std::fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ConnectionHandle").field(&self.0.id).finish()
    }
}

/// Counts a unary request in flight for as long as it lives.
struct InFlight(Arc<ConnectionState>);

impl InFlight {
    fn new(state: Arc<ConnectionState>) -> Self {
        state.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<R: Runtime> Transport<R> {
    pub(crate) fn new(runtime: R, config: Arc<ClientConfig>) -> Result<Self, Error> {
        let tls = crate::tls::client_config(&config)?;
        Ok(Self {
            runtime,
            config,
            tls,
            hosts: Arc::new(Mutex::new(HashMap::new())),
            idle_timeout: IDLE_TIMEOUT,
            next_connection: AtomicU64::new(0),
        })
    }

    pub(crate) fn runtime(&self) -> &R {
        &self.runtime
    }

    /// Stops `connection` from taking new requests and closes it once the
    /// requests on it are done. Harmless if it is already closed or
    /// replaced.
    pub(crate) fn evict(&self, connection: &ConnectionHandle) {
        connection.0.evict();
    }

    /// A usable connection to the host of `uri`, connecting if needed.
    async fn connection(&self, uri: &http::Uri) -> Result<Connection, Error> {
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let authority = uri
            .authority()
            .ok_or_else(|| Error::transport(false, "request URI has no host"))?;
        let key = (tls, authority.to_string());
        let slot = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts.entry(key.clone()).or_default().clone()
        };
        let mut current = slot.current.lock().await;
        if let Some(existing) = current.as_ref().filter(|c| c.usable()) {
            existing.state.touch(self.runtime.now());
            return Ok(existing.clone());
        }
        // An unusable connection closes on its own once its streams end.
        *current = None;
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        match self.connect(authority.host(), port, tls, key.clone()).await {
            Ok(fresh) => {
                *current = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) => {
                drop(current);
                forget_host(&self.hosts, &key, None);
                Err(e)
            }
        }
    }

    async fn connect(
        &self,
        host: &str,
        port: u16,
        tls: bool,
        key: HostKey,
    ) -> Result<Connection, Error> {
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
        let handshake = async {
            let io = self
                .runtime
                .connect(target)
                .await
                .map_err(|e| Error::transport(false, e))?;
            let mut builder = http2::Builder::new(HyperExecutor(self.runtime.clone()));
            builder
                .timer(HyperTimer(self.runtime.clone()))
                .adaptive_window(true)
                .max_frame_size(Some(256 * 1024))
                .initial_max_send_streams(Some(100));
            if let Some(interval) = self.config.keepalive_interval {
                builder
                    .keep_alive_interval(Some(interval))
                    .keep_alive_timeout(Duration::from_secs(10))
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
        let state = Arc::new(ConnectionState {
            id: self.next_connection.fetch_add(1, Ordering::Relaxed),
            evicted: AtomicBool::new(false),
            close: Mutex::new(Some(close_tx)),
            in_flight: AtomicUsize::new(0),
            last_used: Mutex::new(self.runtime.now()),
        });
        let task_state = state.clone();
        let runtime = self.runtime.clone();
        let idle_timeout = self.idle_timeout;
        let hosts = Arc::downgrade(&self.hosts);
        self.runtime.spawn(Box::pin(async move {
            let idle = std::pin::pin!(idle(&runtime, &task_state, idle_timeout));
            let closing = select(close_rx, idle);
            // Dropping the connection future ends its dispatch task: hyper
            // then shuts the connection down once its streams are done.
            match select(connection, closing).await {
                Either::Left((Err(e), _)) => tracing::debug!(error = %e, "HTTP/2 connection ended"),
                Either::Left((Ok(()), _)) => tracing::debug!("HTTP/2 connection closed"),
                Either::Right(_) => tracing::debug!("closing an evicted or idle HTTP/2 connection"),
            }
            task_state.evicted.store(true, Ordering::Release);
            if let Some(hosts) = hosts.upgrade() {
                forget_host(&hosts, &key, Some(&task_state));
            }
        }));
        Ok(Connection { sender, state })
    }

    /// Sends `request` with `body` and returns the response head and body
    /// stream.
    pub(crate) async fn send_streaming(
        &self,
        request: &HttpRequest,
        body: RequestBody,
    ) -> Result<http::Response<hyper::body::Incoming>, Error> {
        self.send_streaming_tracked(request, body)
            .await
            .map(|(response, _)| response)
    }

    /// [`send_streaming`](Self::send_streaming), also returning the
    /// connection the request went out on, for [`evict`](Self::evict).
    pub(crate) async fn send_streaming_tracked(
        &self,
        request: &HttpRequest,
        body: RequestBody,
    ) -> Result<(http::Response<hyper::body::Incoming>, ConnectionHandle), Error> {
        let connection = self.connection(&request.uri).await?;
        let handle = ConnectionHandle(connection.state.clone());
        let response = send_on(connection.sender, request, body).await?;
        Ok((response, handle))
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
            let connection = self.connection(&request.uri).await?;
            let _in_flight = InFlight::new(connection.state.clone());
            *used.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(ConnectionHandle(connection.state.clone()));
            let body = RequestBody::full(request.body.clone());
            let response = send_on(connection.sender, request, body).await?;
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
            None => {
                if let Some(connection) = used.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    self.evict(&connection);
                }
                Err(Error::Timeout(deadline))
            }
        }
    }

    /// Hosts with an entry in the connection map (for tests).
    #[cfg(test)]
    fn host_count(&self) -> usize {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).len()
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

/// Completes once the connection has had no request for `idle_timeout`.
async fn idle<R: Runtime>(runtime: &R, state: &ConnectionState, idle_timeout: Duration) {
    let mut wait = idle_timeout;
    loop {
        runtime.sleep(wait).await;
        let now = runtime.now();
        wait = match state.idle_since() {
            Some(since) => match (since + idle_timeout).checked_duration_since(now) {
                None => return,
                Some(left) if left.is_zero() => return,
                Some(left) => left,
            },
            // Busy: look again a full period later.
            None => idle_timeout,
        };
    }
}

/// Removes the entry of `key` when its slot holds no usable connection
/// (only `closed`'s, or none). A slot that is busy connecting is left
/// alone: whoever holds it will fill it.
fn forget_host(hosts: &Hosts, key: &HostKey, closed: Option<&Arc<ConnectionState>>) {
    let mut hosts = hosts.lock().unwrap_or_else(|p| p.into_inner());
    let Some(slot) = hosts.get(key) else {
        return;
    };
    let Some(current) = slot.current.try_lock() else {
        return;
    };
    let stale = match (current.as_ref(), closed) {
        (None, _) => true,
        (Some(conn), Some(closed)) => Arc::ptr_eq(&conn.state, closed),
        (Some(_), None) => false,
    };
    drop(current);
    if stale {
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
