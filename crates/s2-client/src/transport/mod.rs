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
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures_channel::oneshot;
use futures_util::future::{FutureExt, Shared};
use http_body_util::{BodyExt, Limited};
use s2_core::{
    Error,
    api::{HttpRequest, HttpResponse, MAX_RESPONSE_BODY_BYTES},
    error::ProtocolError,
};

mod connection;

pub(crate) use connection::{Checkout, ConnectionHandle, Lease};
use connection::{Connection, ConnectionState};

use crate::{
    body::RequestBody,
    config::ClientConfig,
    runtime::{Runtime, timeout},
    sync::Mutex,
};

/// How long a connection may go without a request before it is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Scheme and authority of an endpoint host.
type HostKey = (bool, String);

/// The pools of one client, shared with connection tasks so a closed
/// connection can remove itself.
type Hosts = Mutex<HashMap<HostKey, HostPool>>;

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

impl<R: Runtime> Transport<R> {
    pub(crate) fn new(runtime: R, config: Arc<ClientConfig>) -> Result<Self, Error> {
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
        let hosts = std::mem::take(&mut *self.hosts.lock());
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
            // Refused before a connection is chosen: nothing was sent.
            return Err(Error::Closed {
                sent: false,
                reason: "the client is closed".into(),
            });
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
                let mut hosts = transport.hosts.lock();
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
        let mut hosts = self.hosts.lock();
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
        let deadline = self.config.request_timeout().saturating_add(allowance);
        let used: Mutex<Option<ConnectionHandle>> = Mutex::new(None);
        let exchange = async {
            let checkout = self.checkout(&request.uri).await?;
            *used.lock() = Some(checkout.connection());
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
            None => match used.lock().take() {
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
        self.hosts.lock().len()
    }

    /// Connections in the pool of every host (for tests).
    #[cfg(test)]
    fn connection_count(&self) -> usize {
        let hosts = self.hosts.lock();
        hosts.values().map(|pool| pool.connections.len()).sum()
    }
}

/// Removes `closed` from the pool of `key` (or nothing, after a failed
/// connect), then the pool itself if no connection is left and nobody is
/// connecting.
fn forget(hosts: &Hosts, key: &HostKey, closed: Option<&Arc<ConnectionState>>) {
    let mut hosts = hosts.lock();
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
